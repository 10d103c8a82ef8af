"""The driver's work folder: the model folder and common/ copied side by side into it, as a person copies them
into the ModelZoo tree, and a record (.driver-workdir) of every entry the driver made there (type, device, inode,
size, mtime), written after the copy and after each step. A rerun removes only recorded entries that are
unchanged, deepest first, each re-checked at the moment it goes; a person's file at any depth, or a copy they
edited, is refused before anything is removed."""
import os
import shutil
import stat
from pathlib import Path

from common import fileio
from common.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
# The driver's record in its work folder: every entry it made there (its copies, the weights, what the steps
# wrote), each with the identity it had when recorded. A rerun removes only those, and only unchanged.
MARKER = ".driver-workdir"
MADE_BY = "common/driver.py"
# What a model folder ships (scripts, READMEs, patches, requirements): generated files are not copied.
_SHIPPED = (".py", ".md", ".patch", ".diff", ".txt", ".cfg", ".config", ".sh")


def _copy_ignore(directory, names):
    return [n for n in names if n == "__pycache__"
            or ((Path(directory) / n).is_file() and Path(n).suffix.lower() not in _SHIPPED)]


def _identity(info):
    """What an entry of the work folder was when recorded: its type, device and inode, and for anything but a
    folder (whose content is recorded entry by entry) its size and modification time."""
    kind = stat.S_IFMT(info.st_mode)
    if kind == stat.S_IFDIR:
        return [kind, info.st_dev, info.st_ino]
    return [kind, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns]


def _entries(workdir):
    """{path relative to `workdir`: identity} of every entry below it (the record left out), at any depth. Links
    are not followed, nor folders of another file system (a mount point is an entry; its content is not)."""
    found = {}
    device = os.lstat(workdir).st_dev
    for folder, dirs, files in os.walk(workdir):
        below = os.path.relpath(folder, workdir)
        for name in dirs + files:
            try:
                found[os.path.normpath(os.path.join(below, name))] = _identity(os.lstat(os.path.join(folder, name)))
            except FileNotFoundError:  # gone since it was listed
                continue
        dirs[:] = [d for d in dirs if found.get(os.path.normpath(os.path.join(below, d)), [0, device])[1] == device]
    found.pop(MARKER, None)
    return found


def record_workdir(workdir):
    """Record everything below `workdir` as made by the driver (after it copies, and after each step)."""
    fileio.write_json(Path(workdir) / MARKER, {"made_by": MADE_BY, "entries": _entries(workdir)})


def _recorded(workdir):
    """The driver's record in `workdir` ({relative path: identity}), or None where the marker is not one."""
    try:
        record = fileio.read_json(Path(workdir) / MARKER, "driver record")
    except UserError:
        return None
    entries = record.get("entries") if isinstance(record, dict) and record.get("made_by") == MADE_BY else None
    if not isinstance(entries, dict) or not all(isinstance(v, list) for v in entries.values()):
        return None
    return entries


def check_workdir(workdir):
    """Refuse (UserError) a --workdir the driver may not use: not a folder, or a folder holding anything the driver
    did not record making or that changed since. Removes nothing: the driver checks before any work (a stand-in's
    training takes minutes), and prepare_workdir checks again as it clears."""
    workdir = Path(workdir)
    if workdir.is_symlink() or (workdir.exists() and not workdir.is_dir()):
        raise UserError(f"{workdir}: exists and is not a folder; --workdir names a folder for the driver")
    if workdir.exists() and any(workdir.iterdir()):
        _check_recorded(workdir)


def _check_recorded(workdir):
    """({relative path: identity} recorded, found) of a work folder of an earlier run whose every entry the driver
    recorded making, unchanged; UserError otherwise."""
    marker = workdir / MARKER
    if marker.is_symlink() or not marker.is_file():
        raise UserError(f"{workdir}: exists and was not made by the driver; choose a new --workdir")
    recorded = _recorded(workdir)
    found = _entries(workdir)
    for rel in sorted(found):
        if recorded is None or rel not in recorded:
            raise UserError(f"{workdir}: holds {rel!r}, which the driver did not make (or a run stopped before "
                            f"recording it); move it out or choose a new --workdir")
        if found[rel] != recorded[rel]:
            raise UserError(f"{workdir}: {rel!r} changed since the driver made it; move it out or choose a new "
                            f"--workdir")
    if recorded is None:
        raise UserError(f"{workdir}: {MARKER} is not the driver's record; choose a new --workdir")
    return recorded, found


def clear_workdir(workdir):
    """Empty a work folder of an earlier run, removing only what the driver recorded making, and only where it is
    unchanged. Anything else (a person's notes or weights at any depth, a file of the copy they edited) is
    refused before anything is removed; what appears while the folder is cleared stays, and is named."""
    recorded, found = _check_recorded(workdir)
    kept = []
    for rel in sorted(found, key=lambda r: r.count(os.sep), reverse=True):  # a folder after its content
        path = workdir / rel
        try:
            info = os.lstat(path)
            if _identity(info) != recorded[rel]:  # re-checked at the moment of removing
                kept.append(rel)
            elif stat.S_ISDIR(info.st_mode):
                os.rmdir(path)  # refused when something appeared inside: it stays
            else:
                os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError:
            kept.append(rel)
    left = sorted(set(os.listdir(workdir)) - {MARKER})
    if kept or left:
        raise UserError(f"{workdir}: {(kept or left)[0]!r} appeared while the driver cleared its earlier run, and "
                        f"was kept; move it out or choose a new --workdir")


def prepare_workdir(workdir, model_folder):
    """Fresh copies of the model folder and common/ under `workdir` (a folder the driver made before, or new),
    recorded as the driver's. A work folder of an earlier run is cleared first (clear_workdir)."""
    workdir = Path(workdir)
    check_workdir(workdir)
    if workdir.exists() and any(workdir.iterdir()):
        clear_workdir(workdir)
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        record_workdir(workdir)  # a run stopped while copying leaves unrecorded copies: the next run refuses them
        shutil.copytree(model_folder, workdir / model_folder.name, ignore=_copy_ignore)
        shutil.copytree(ROOT / "common", workdir / "common", ignore=_copy_ignore)
    except OSError as err:
        raise UserError(f"{workdir}: cannot prepare the work folder ({err.strerror or err})") from None
    record_workdir(workdir)
    return workdir / model_folder.name
