"""Run a model folder's README chain end to end in a work folder, step by step.

    python3 common/driver.py DCGAN                      # stand-in weights in the official format
    python3 common/driver.py DCGAN --checkpoint ./checkpoint-amp-epoch_200.pth

The driver copies `<Model>/` and `common/` side by side into the work folder, exactly as a user copies them
into the ModelZoo tree, puts the weights where the README expects them (or, with no --checkpoint, a stand-in in
the official container, and says so loudly: trained on real digits where the chain has such a stand-in, else
seeded random weights; --standin random asks for those), then runs the README's commands as
written, from the model folder, printing each command, its time, its peak memory and its result, and ends with
a summary (accuracy, images written, throughput) also saved as driver_summary.json.

The work folder (default work/<Model> beside common/) is the driver's (common/work_folder.py): it records there
every entry it made and removes only those on a rerun. A file saved into the work folder while a step runs is
recorded with that step's outputs: keep notes outside it.

A model registers its chain in `<Model>/chain.py`:
    CHECKPOINT        where the README expects the weights, relative to the model folder
    README_PARAMS     the values the README's commands are written with
    DRIVER_PARAMS     the values the driver uses by default (cheaper where the README's are slow)
    STEPS             [(name, command template)], templates formatted with the params
    prepare(folder, params, checkpoint)  -> notes: weights (random if checkpoint is None, as narrow as
                                            DRIVER_PARAMS' standin_width where the chain has one), data
    summarize(folder, params)            -> {figure: value} read from the files the steps wrote; the paths
                                            of the accuracy reports under keys ending in "report"
    trained_standin(params)  (optional)  -> path of a trained stand-in checkpoint (cached), the default weights
Every STEPS command formatted with README_PARAMS must appear verbatim in `<Model>/README.md`
(readme_drift checks it, and the tests run it for every model).
"""
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli, fileio, origins, staging, work_folder
from common.errors import CheckFailed, UserError
from common.report import default_path as readable_report_path

ROOT = Path(__file__).resolve().parents[1]
_PROGRESS = re.compile(r"\d+%\|")  # tqdm bar lines, left out of the step's printed tail


def model_folders():
    """The registered model folders: those beside common/ holding a chain.py."""
    return sorted(p.parent for p in ROOT.glob("*/chain.py"))


def put_model_folders_on_path():
    """Make every model folder's modules importable in one process (the tests and the benchmarks use several
    folders; a script needs only its own, which Python puts first on sys.path)."""
    for folder in model_folders():
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def find_model_folder(name):
    """A registered model folder by name (e.g. DCGAN: the one beside common/, never a folder of that name where
    the driver is run, which may be a work folder's copy) or a path to a folder holding a chain.py."""
    candidate = Path(name) if "/" in name or os.sep in name else ROOT / name
    if not (candidate / "chain.py").is_file():
        known = ", ".join(p.name for p in model_folders())
        raise UserError(f"{name}: not a model folder with a chain.py (known: {known or 'none'})")
    return candidate.resolve()


def load_chain(folder):
    spec = importlib.util.spec_from_file_location(f"chain_{folder.name}", folder / "chain.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))  # chain.py imports its model module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def place_weights(target, checkpoint, make_random):
    """Put weights where the README expects them, for a chain's prepare(): a copy of `checkpoint`, or, when it
    is None, whatever `make_random(target)` writes (a seeded random file in the official format).
    Returns the note the driver prints."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if checkpoint is None:
        make_random(target)
        return f"random checkpoint: {target}"
    shutil.copyfile(checkpoint, target)
    return f"weights: {checkpoint} -> {target}"


def standin_width(params, multiple=1):
    """The random stand-in's width that a chain's prepare() writes (its DRIVER_PARAMS' standin_width: BigGAN's G_ch,
    the others' ngf; --param standin_width, make_standin.py --width), checked before anything is written."""
    width = params["standin_width"]
    if width < multiple or width % multiple:
        raise UserError(f"stand-in width {width} (--param standin_width, make_standin.py --width): expected a "
                        f"multiple of {multiple}, at least {multiple}")
    return width


def stand_in(chain, params, choice=None):
    """(checkpoint, what the weights are) when no --checkpoint is given: the chain's trained stand-in (a cached
    file its trained_standin(params) returns) unless `choice` is 'random' or the chain has none; then None, and
    its prepare() writes a seeded random checkpoint."""
    trained = getattr(chain, "trained_standin", None)
    if choice == "trained" and trained is None:
        raise UserError("--standin trained: this chain has no trained stand-in; use --standin random or --checkpoint")
    if choice == "random" or trained is None:
        return None, "random stand-in"
    return Path(trained(params)), "trained stand-in"


def fp16_figures(report_path):
    """The predicted fp16 build figures of a common/precision.py --report, for a chain's summarize()."""
    report = fileio.read_json(report_path, "precision report")
    figures = {"fp16_cosine": report["cosine"], "fp16_mode": report["mode"], "fp16_finite": report["finite"]}
    if report["keep"]:
        figures.update(fp16_keep=len(report["keep"]), fp16_cosine_with_keep=report["cosine_with_keep"])
    readable = readable_report_path(report_path)
    if readable.is_file():  # the summary's reports list names it (report_paths)
        figures["fp16_report"] = str(readable)
    return figures


def _result_lines(results):
    """The summary's result lines; the fp32 cosine and the predicted fp16 one share a line."""
    lines = []
    for key, value in results.items():
        if key in ("fp16_cosine", "fp16_mode") and "cosine" in results:
            continue
        text = json.dumps(value) if isinstance(value, (dict, list)) else value
        if key == "cosine" and "fp16_cosine" in results:
            text = (f"{value} (fp32 ONNX Runtime)   predicted fp16 build: {results['fp16_cosine']} "
                    f"({results.get('fp16_mode', 'force_fp16')}, common/precision.py)")
        lines.append(f"  {key}: {text}")
    return lines


def render(chain, params):
    return [(name, template.format(**params)) for name, template in chain.STEPS]


def readme_drift(folder, chain=None):
    """The chain commands (with README_PARAMS) that do not appear verbatim in the folder's README.md."""
    chain = chain or load_chain(folder)
    readme = (folder / "README.md").read_text(encoding="utf-8")
    return [command for _, command in render(chain, chain.README_PARAMS) if command not in readme]


def parse_params(items, defaults):
    params = dict(defaults)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in defaults:
            raise UserError(f"--param {item!r}: expected key=value with key one of {', '.join(defaults)}")
        kind = type(defaults[key])
        try:
            params[key] = kind(value)
        except ValueError:
            raise UserError(f"--param {item!r}: {key} takes {kind.__name__} values such as "
                            f"{defaults[key]!r}") from None
        if isinstance(params[key], (int, float)) and not 0 <= params[key] <= cli.MAX_COUNT:
            raise UserError(f"--param {item!r}: {key} must be from 0 to {cli.MAX_COUNT}")
    return params


# Runs a step as its child and writes the step's peak memory (wait4's ru_maxrss, KB on Linux) to a pipe. A step
# forked from the driver itself would report the driver's peak as its own (Linux carries the larger over the
# exec); forked from this small process it reports its own. A step killed by a signal ends it the same way.
_MEASURED = """import os, sys
os.set_inheritable(int(sys.argv[1]), False)  # the step does not hold the pipe
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    except OSError as err:
        print(f"error: {sys.argv[2]}: {err.strerror}", file=sys.stderr, flush=True)
    os._exit(127)
_, status, usage = os.wait4(pid, 0)
os.write(int(sys.argv[1]), str(usage.ru_maxrss).encode())
if os.WIFSIGNALED(status):
    os.kill(os.getpid(), os.WTERMSIG(status))
sys.exit(os.WEXITSTATUS(status))
"""


def run_step(index, total, name, command, cwd, log):
    """Run one README command from `cwd` with this interpreter standing in for `python3`."""
    argv = shlex.split(command)
    if argv and argv[0] in ("python3", "python"):
        argv[0] = sys.executable
    print(f"[{index}/{total}] {name}: {command}", flush=True)
    start = time.perf_counter()
    report, into = os.pipe()
    with os.fdopen(report) as measured:
        with os.fdopen(into) as _:  # the parent's copy of the writing end, closed once the launcher has its own
            proc = subprocess.Popen([sys.executable, "-c", _MEASURED, str(into), *argv], cwd=cwd, pass_fds=(into,),
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with proc:
            output = proc.stdout.read()
        peak_mb = round(int(measured.read() or 0) / 1024, 1)
    seconds = time.perf_counter() - start
    log.write(f"$ {command}\n{output}\n[exit {proc.returncode}, {seconds:.1f} s, peak {peak_mb:.0f} MB]\n\n")
    lines = [line for line in output.splitlines() if line.strip() and not _PROGRESS.search(line)]
    tail = lines[-3:] if proc.returncode == 0 else lines[-12:]
    for line in tail:
        print(f"      {line}")
    print(f"      -> {'ok' if proc.returncode == 0 else 'FAILED (exit %d)' % proc.returncode} in {seconds:.1f} s, "
          f"peak memory {peak_mb:.0f} MB", flush=True)
    return proc.returncode, seconds, peak_mb


def report_paths(results):
    """The accuracy reports a chain's summary names (keys ending in 'report', nested dicts included)."""
    found = []
    for key, value in results.items():
        if isinstance(value, dict):
            found += report_paths(value)
        elif key.endswith("report") and value:
            found.append(str(value))
    return found


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0], prog="driver.py")
    p.add_argument("model", nargs="?", default="DCGAN", help="model folder name (or path to a folder with chain.py)")
    p.add_argument("--workdir", type=cli.writes, default=None,
                   help="work folder (default: work/<model> in the folder holding common/, wherever the driver is "
                        "run from)")
    p.add_argument("--checkpoint", type=cli.reads, default=None,
                   help="official weights to use; without it a stand-in (--standin) is made")
    p.add_argument("--standin", choices=("trained", "random"), default=None,
                   help="without --checkpoint: 'trained' (learned from real digits, cached) or 'random' (seeded "
                        "random weights); by default trained where the chain has it (DCGAN, GAN), random elsewhere")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override one of the chain's parameters (see --list)")
    p.add_argument("--list", action="store_true", help="print the chain's steps and parameters, run nothing")
    p.add_argument("--check-readme", action="store_true",
                   help="only check that the chain's commands appear verbatim in the README")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    folder = find_model_folder(args.model)
    chain = load_chain(folder)
    params = parse_params(args.param, chain.DRIVER_PARAMS)
    if args.check_readme:
        drift = readme_drift(folder, chain)
        for command in drift:
            print(f"not in {folder.name}/README.md: {command}")
        if drift:
            raise CheckFailed(f"{folder / 'README.md'}: {len(drift)} chain command(s) missing")
        print(f"{folder.name}/README.md holds all {len(chain.STEPS)} chain commands")
        return 0
    steps = render(chain, params)
    if args.list:
        print(f"{folder.name} chain, parameters {params} (README uses {chain.README_PARAMS}):")
        for i, (name, command) in enumerate(steps, 1):
            print(f"  {i}. {name}: {command}")
        return 0

    workdir = Path(args.workdir) if args.workdir else ROOT / "work" / folder.name  # beside common/, from anywhere
    # the work folder is cleared and rebuilt: what the driver reads (the weights, the model folder and common/ it
    # copies) must lie elsewhere, or clearing it would remove them; all checked before any work (a stand-in's
    # training takes minutes)
    sources = [("the model folder", folder), ("common/", ROOT / "common")]
    staging.check_apart(reads=sources, writes=[("--workdir", workdir)])
    work_folder.check_workdir(workdir)
    checkpoint = Path(args.checkpoint).resolve() if args.checkpoint else None
    weights = "given"
    if checkpoint is not None:
        fileio.require_file(checkpoint, "checkpoint file")
        if args.standin:
            raise UserError("--standin: the stand-in replaces missing weights; it cannot go with --checkpoint")
    else:
        checkpoint, weights = stand_in(chain, params, args.standin)
    staging.check_apart(reads=[("--checkpoint", checkpoint), *sources], writes=[("--workdir", workdir)])
    model_dir = work_folder.prepare_workdir(workdir, folder)
    try:
        return _run_chain(chain, folder, params, steps, (checkpoint, weights), workdir, model_dir)
    finally:  # whatever the chain wrote before it ended is the driver's, for the next run to clear
        work_folder.record_workdir(workdir)


def _run_chain(chain, folder, params, steps, given, workdir, model_dir):
    """The chain's steps in the prepared work folder; `given` is (checkpoint, what the weights are)."""
    checkpoint, weights = given
    print(f"{folder.name}: work folder {model_dir}")
    if weights == "random stand-in":
        print("=" * 78)
        print(f"  NO WEIGHTS GIVEN: {chain.CHECKPOINT} is a SEEDED RANDOM checkpoint in the official format.")
        print("  Pictures will be noise; accuracy compares PyTorch with the offline run on the same weights.")
        print("=" * 78)
    elif weights == "trained stand-in":
        print("=" * 78)
        print(f"  NO WEIGHTS GIVEN: {chain.CHECKPOINT} is a STAND-IN TRAINED on real digit scans (scikit-learn's),")
        print(f"  not the official weights: {checkpoint}")
        print("=" * 78)
    for note in chain.prepare(model_dir, params, checkpoint) or []:
        print(f"  {note}")
    if weights != "given":  # the steps' reports say so first (common/origins.py)
        origins.mark_folder(model_dir, weights, facts_from=folder)

    records = []
    with open(workdir / "driver.log", "w", encoding="utf-8") as log:
        for i, (name, command) in enumerate(steps, 1):
            status, seconds, peak_mb = run_step(i, len(steps), name, command, model_dir, log)
            work_folder.record_workdir(workdir)
            records.append({"step": name, "command": command, "seconds": round(seconds, 3), "exit": status,
                            "peak_memory_mb": peak_mb})
            if status != 0:
                fileio.write_json(workdir / "driver_summary.json", {"model": folder.name, "steps": records,
                                                                   "failed": name})
                raise CheckFailed(f"step {name!r} failed with exit status {status}; full output in "
                                  f"{workdir / 'driver.log'}")
    results = chain.summarize(model_dir, params)
    summary = {"weights": weights, "model": folder.name, "random_weights": weights == "random stand-in",
               "params": params,
               "steps": records, "results": results}
    fileio.write_json(workdir / "driver_summary.json", summary)
    print(f"\n{folder.name} summary ({weights} weights):")
    for record in records:
        print(f"  {record['step']:<14} {record['seconds']:8.1f} s  {record['peak_memory_mb']:8.0f} MB peak")
    for line in _result_lines(results):
        print(line)
    reports = report_paths(results)
    if reports:
        print("  reports (open in a browser; the .png beside each is the same sheet):")
        for path in reports:
            print(f"    {path}")
    print(f"  written to {workdir / 'driver_summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
