"""Where a model folder's inputs come from: the README step that makes each, and whether the weights are stand-ins.

The README's commands run from their model folder (the driver runs them there too). The folder's facts module
(`<model>_facts.py`) states, once, the official files a person downloads (DOWNLOADS, README 5.1) and the step
that makes each other input (MADE_BY: a path in the folder, a glob, with the command and its README section).
From them:

- hint(path) is what an error about a missing input adds: the folder it was looked for in and the step that
  makes it, e.g. `(looked for in /x/DCGAN; made by dcgan_preprocess.py, README 5.2 Prepare the data)`;
  common.fileio's "no such file/folder" errors carry it.
- Stand-in weights carry a record beside them, `.<file>.standin.json` ({"weights": "random stand-in", "sha256":
  ...}), written by whatever writes them (common/make_standin.py, the driver) through mark_standin. The file
  itself stays in the official format, so upstream's own code still loads it strictly. weights() is what a
  run's reports say first: the stand-in kind when one of the folder's downloads is a stand-in that still
  matches its record (a copied-over official file does not), else None.

Only the facts of this project's own model folders are read (beside this common/, holding a chain.py): nothing
found elsewhere is run.
"""
import functools
import importlib.util
import json
import os
from fnmatch import fnmatch
from pathlib import Path

from common import staging
from common.records import file_sha256

ROOT = Path(__file__).resolve().parents[1]
# The model README's sections a step is found in (the skeleton every model README follows).
SECTIONS = {"5.1": "5.1 Get the source and weights", "5.2": "5.2 Prepare the data", "5.3": "5.3 Convert the model",
            "5.4": "5.4 Offline inference", "5.5": "5.5 Postprocess", "6": "6 Accuracy", "7": "7 Performance",
            "8": "8 Precision on the NPU (predicted)"}
STANDIN_COMMAND = "python3 ../common/make_standin.py"
RECORD_SUFFIX = ".standin.json"
RECORD_MADE_BY = "common/origins.py"  # a record is ours only if it says so
KINDS = ("trained stand-in", "random stand-in")


def banner(weights):
    """The words a report starts with on stand-in weights: 'RANDOM STAND-IN WEIGHTS'."""
    return f"{weights.upper()} WEIGHTS"


def log_lines(weights):
    """The first line of a result log on stand-in weights; none on the official ones."""
    return [f"{banner(weights)}: not the official weights"] if weights else []


def json_fields(weights):
    """The first field of a result's JSON on stand-in weights, {"weights": "random stand-in"}; none otherwise."""
    return {"weights": weights} if weights else {}


# ------------------------------------------------------------------------------------------ the folder's facts

def facts_here(folder=None):
    """The facts module of the model folder `folder` (default: the working folder) when it is one of this
    project's model folders, else None."""
    return _facts_of(Path(folder or os.getcwd()).resolve())


@functools.lru_cache(maxsize=None)
def _facts_of(folder):
    if folder.parent != ROOT or not (folder / "chain.py").is_file():
        return None
    for path in sorted(folder.glob("*_facts.py")):
        spec = importlib.util.spec_from_file_location(f"_origins_{folder.name}_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if hasattr(module, "MADE_BY") and hasattr(module, "DOWNLOADS"):
            return module
    return None


def _relative(path, folder):
    """`path` (relative to the working folder) as a POSIX path relative to `folder`, or None outside it."""
    try:
        return Path(os.path.abspath(path)).relative_to(folder).as_posix()
    except ValueError:
        return None


def hint(path):
    """' (looked for in <folder>; made by <command>, README <section>)' for an input of the model folder a step
    runs in, '' for a path its facts do not name."""
    folder = Path(os.getcwd()).resolve()
    facts = facts_here(folder)
    name = _relative(path, folder) if facts is not None else None
    if name is None:
        return ""
    where = Path(os.path.abspath(path)).parent
    if any(fnmatch(name, pattern) or pattern.startswith(name + "/") for pattern in facts.DOWNLOADS):
        return (f" (looked for in {where}; download it, README {SECTIONS['5.1']}, or make a stand-in: "
                f"{STANDIN_COMMAND})")
    for pattern, command, section in facts.MADE_BY:
        if fnmatch(name.rstrip("/"), pattern):
            return f" (looked for in {where}; made by {command}, README {SECTIONS[section]})"
    return ""


# ------------------------------------------------------------------------------------------ stand-in records

def record_path(path):
    """The record beside a stand-in, hidden (`.<name>.standin.json`) as the run records are: no tool lists it."""
    path = Path(path)
    return path.with_name(f".{path.name}{RECORD_SUFFIX}")


def mark_standin(path, weights):
    """Record beside the file `path` that it is a stand-in (`weights`: one of KINDS), with its digest, so that a
    file later put in its place is not taken for it. Written atomically after the file."""
    if weights not in KINDS:
        raise ValueError(f"weights {weights!r}: one of {', '.join(KINDS)}")
    record = {"made_by": RECORD_MADE_BY, "weights": weights, "file": Path(path).name, "size": os.path.getsize(path),
              "sha256": file_sha256(path)}
    staging.write_text(record_path(path), json.dumps(record, indent=1) + "\n")


def standin(path):
    """The stand-in kind of the file `path` when its record says so and still matches it, else None."""
    beside = record_path(path)
    try:
        if not beside.is_file() or beside.stat().st_size > 4096:  # a FIFO would block; ours is a few lines
            return None
        record = json.loads(beside.read_text(encoding="utf-8"))
        if not (isinstance(record, dict) and record.get("made_by") == RECORD_MADE_BY
                and record.get("weights") in KINDS):
            return None
        if os.path.getsize(path) != record.get("size") or file_sha256(path) != record.get("sha256"):
            return None  # another file in its place (the official one copied over it)
        return record["weights"]
    except (OSError, ValueError):
        return None


def standins(folder=None):
    """{download: stand-in kind} of the model folder's DOWNLOADS that are stand-ins (folder: the working one)."""
    folder = Path(folder or os.getcwd()).resolve()
    facts = facts_here(folder)
    found = {}
    for name in (facts.DOWNLOADS if facts is not None else ()):
        kind = standin(folder / name)
        if kind:
            found[name] = kind
    return found


def weights(folder=None):
    """What the run's weights are when they are stand-ins ('random stand-in' before 'trained stand-in' when the
    folder holds both), else None: what a report says first."""
    kinds = set(standins(folder).values())
    return next((kind for kind in reversed(KINDS) if kind in kinds), None)


def mark_folder(folder, weights_kind, facts_from=None):
    """Mark every download the model folder `folder` holds as `weights_kind` (the driver, after placing
    stand-ins in its copy of the model folder `facts_from`, whose facts name them)."""
    facts = facts_here(facts_from or folder)
    for name in (facts.DOWNLOADS if facts is not None else ()):
        if (Path(folder) / name).is_file():
            mark_standin(Path(folder) / name, weights_kind)
