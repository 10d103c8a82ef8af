"""Run records: what lets a step that reads a multi-part output refuse parts of different runs.

Each part of a multi-part step's output has a record beside it, `.<name>.ganzoo-run` (JSON: a format field, the
run, the step, its partner parts, and each file's stat data and sha-256), written by common.staging.OutputSet at
its commit. check_same_run answers "is this still what that run wrote, with its partners?" as git's index does:
from stat data (type, size, mtime_ns, ctime_ns, inode) first, reading a file only where those changed (a copied
or edited file) or are as new as the record (a racily clean entry), so reading a 50,000-file result costs what
listing it costs (benchmarks/records_benchmark.py). A file is a record only if its content says so: a person's
file of that name is never replaced nor removed. Inputs compares a step's inputs' stat data at its end with its
start."""
import contextlib
import hashlib
import json
import os
import stat
from pathlib import Path

from common.errors import UserError
from common.room import check_memory

RECORD_SUFFIX = ".ganzoo-run"
RECORD_FORMAT = "ganzoo-run/2"  # what makes a file a run record: its content, never its name alone


def record_path(part):
    """The record beside an output part (JSON: run, step, the set's parts, digest). It sits beside the part, not
    inside it, so the tools that list a folder never see it."""
    part = Path(part)
    return part.with_name(f".{part.name}{RECORD_SUFFIX}")


def forget_run(path):
    """Remove the record beside `path`, if it is one by its content (a person's file of that name stays)."""
    if load_record(record_path(path)) is not None:
        with contextlib.suppress(FileNotFoundError):
            record_path(path).unlink()


def check_record_slot(part):
    """Refuse a part whose record would replace something that is not a record: a person's file of that name."""
    record = record_path(part)
    if os.path.lexists(record) and load_record(record) is None:
        raise UserError(f"{record}: not a run record, yet where this step keeps the record of {Path(part).name}; "
                        f"move that file, or give the output another name")


def load_record(record_path):
    """The record at `record_path` if its content says it is one (a dict with its format field; a record of
    the previous format, recognised by its exact fields, is {"format": None, ...}); None for anything else: no
    file, not a regular file, not JSON, nested past Python's stack, or another format. Its size is checked
    against memory first."""
    try:
        info = os.lstat(record_path)
        if not stat.S_ISREG(info.st_mode):
            return None
        check_memory(8 * info.st_size, f"{record_path} (a run record of {info.st_size} bytes)")
        record = json.loads(Path(record_path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not (isinstance(record, dict) and all(isinstance(record.get(k), str) for k in ("run", "step"))
            and isinstance(record.get("parts"), list) and all(isinstance(p, str) for p in record["parts"])):
        return None
    if record.get("format") == RECORD_FORMAT and isinstance(record.get("entries"), dict):
        # Stat data as new as the record itself may hide a change made in the same tick of a coarse clock
        # (git's "racily clean" entries): those files are read (entries_of).
        return {**record, "written_ns": info.st_mtime_ns}
    if "format" not in record and set(record) == {"run", "step", "written", "parts", "digest"}:
        return {**record, "format": None}
    return None


def entries_of(path, known=None, racy_ns=0):
    """{relative name: [type, size, mtime_ns, ctime_ns, inode, sha-256 of the bytes]} of an output part, every
    entry of a folder (hidden ones left out, as every reader leaves them out: a .DS_Store is not data). As git's
    index: a regular file whose stat data are those in `known` (a record's entries) takes its recorded digest
    without being read; any other is read whole. Only regular files are opened: a FIFO or a device is named by
    its type, never read. Files modified at or after `racy_ns` are read whatever their stat data."""
    known = known or {}
    found = {}

    def add(file, relative):
        info = os.lstat(file)
        row = [stat.S_IFMT(info.st_mode), info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, None]
        if stat.S_ISREG(info.st_mode):
            old = known.get(relative)
            trusted = isinstance(old, list) and old[:5] == row[:5] and info.st_mtime_ns < racy_ns
            row[5] = old[5] if trusted else file_sha256(file)
        found[relative] = row

    def walk(folder, prefix):
        with os.scandir(folder) as listing:
            entries = [(e.name, e.path, e.is_dir(follow_symlinks=False)) for e in listing if e.name[0] != "."]
        for name, file, is_folder in entries:
            if is_folder:
                walk(file, f"{prefix}{name}{os.sep}")
            else:  # files, and links (to folders too) by their type
                add(file, prefix + name)

    if os.path.isdir(path) and not os.path.islink(path):
        walk(path, "")
    else:
        add(path, ".")
    return found


def file_sha256(file):
    """The sha-256 of a file's bytes (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_record(path):
    """The record beside an output part (a dict), None if there is none (or the file there is not a record by
    its content); a record of the previous format is a UserError asking for the step again."""
    record = load_record(record_path(path))
    if record is not None and record["format"] is None:
        raise UserError(f"{record_path(path)}: a run record of an earlier version of {record['step']}; run that "
                        f"step again")
    return record


def check_same_run(*paths):
    """Refuse outputs of a multi-part step whose parts are not from one run: a part whose content is no longer
    what its run wrote (replaced by hand, or a commit cut short), or a partner from another run. Each given
    path's record names its set; every partner that still exists must carry the same run. Paths without a
    record (made by another tool or a one-output step) are not checked. Only reads, and only regular files; a
    file whose stat data match its record is not read, so checking a 50,000-file folder costs little more than
    listing it (benchmarks/records_benchmark.py)."""
    verdicts = {}

    def described(part, record):
        """Whether `part` holds what its record describes: names, types, sizes and bytes. Files whose stat data
        are unchanged since the record are not read; the others are."""
        key = Path(part).resolve()
        if key not in verdicts:
            recorded = record["entries"]
            found = entries_of(part, recorded, record["written_ns"])

            def same(row, old):  # type, size and digest; the stat data only decided what was read
                return isinstance(old, list) and len(old) == 6 and (row[0], row[1], row[5]) == (old[0], old[1], old[5])
            verdicts[key] = found.keys() == recorded.keys() and all(same(row, recorded[n]) for n, row in found.items())
        return verdicts[key]

    for path in paths:
        record = _read_record(path) if os.path.lexists(path) else None  # a missing path: its reader says so
        if record is None:
            continue
        again = f"run {record['step']} again to write them together"
        if not described(path, record):
            raise UserError(f"{path}: changed after {record['step']} wrote it (its record {record_path(path).name} "
                            f"describes other content); {again}")
        for relative in record["parts"]:
            part = Path(path).parent / relative
            if not os.path.lexists(part) or part.resolve() == Path(path).resolve():
                continue
            theirs = _read_record(part)
            if theirs is None or theirs["run"] != record["run"] or not described(part, theirs):
                raise UserError(f"{path}: written by {record['step']} together with {part}, which now holds "
                                f"the output of another run; {again}")


def written_by(path, step):
    """Whether `path` is an output of `step` that nobody changed since: its record (by content) names that step,
    and it and its partners still hold what their records describe. What a step may replace of what it finds."""
    record = load_record(record_path(path)) if os.path.lexists(path) else None
    if record is None or record["format"] != RECORD_FORMAT or record["step"] != step:
        return False
    try:
        check_same_run(path)
    except UserError:
        return False
    return True


# --- Inputs the same at the end as at the start ---------------------------------------------------------------

class Inputs:
    """The stat data of a step's inputs when it starts (each file's type, size, mtime_ns, ctime_ns and inode, and
    every folder's listing), compared again at the commit: a set another run rewrote meanwhile (a folder renamed
    over, a file rewritten, added or removed) makes the step refuse, nothing committed, without reading any byte
    twice. `reads`: (what, path) pairs, as check_apart takes them."""

    def __init__(self, reads):
        self.reads = [(what, path) for what, path in reads if path]
        self.state = [_stat_tree(path) for _, path in self.reads]

    def check(self):
        for (what, path), before in zip(self.reads, self.state):
            if _stat_tree(path) != before:
                raise UserError(f"{path}: {what} changed while this step read it (another run rewrote it?); "
                                f"nothing was written: run the step again once it is settled")


def _stat_tree(path):
    """[(name, type, inode, device[, size, mtime_ns, ctime_ns for a file])] of `path` (through a link) and of
    every entry under a folder, with each folder's listing (hidden entries left out; links not followed below
    the top)."""
    rows = []

    def add(file, relative, follow):
        try:
            info = os.stat(file, follow_symlinks=follow)
        except OSError:
            rows.append((relative, None))
            return
        is_folder = stat.S_ISDIR(info.st_mode)
        # a folder's own times change with its hidden entries (a staging folder): its listing speaks for it
        rows.append((relative, stat.S_IFMT(info.st_mode), info.st_ino, info.st_dev,
                     *(() if is_folder else (info.st_size, info.st_mtime_ns, info.st_ctime_ns))))
        if is_folder:
            try:
                names = sorted(n for n in os.listdir(file) if not n.startswith("."))
            except OSError:
                names = None
            rows.append((relative, names))
            for name in names or ():
                add(os.path.join(file, name), os.path.join(relative, name), False)

    add(path, ".", True)
    return rows
