"""How a step writes its outputs: nothing half-written, no mixed set accepted, nothing of anyone else touched.

The rules (README "Conventions"), and the one mechanism that keeps them:
- Every output is written in a staging folder of this run's own beside it, `.ganzoo-staging-<random token>/`,
  and renamed into place when complete. OutputSet does it for a step's outputs together (the renames are one
  short series that Ctrl-C cannot split); atomic_path (one file) and AtomicDir (one folder) are its one-part
  forms.
- A step removes or replaces only what it can prove it made: its own staging folders, the outputs it was asked
  to write, and the staging folders of finished runs in the folders it writes. A live run holds a lock on its
  staging folder, which the next run must be able to take (a process id would say nothing of another host's
  run on a shared disk). Nothing found on disk is carried out as instructions.
- A step that only reads never changes what it reads. Where a later step reads a step's outputs together, each
  part has a record beside it, `.<name>.ganzoo-run` (run, step, partners, a digest of every byte): the reader
  calls check_same_run and refuses parts of different runs (a run killed in the middle of its renames, a part
  replaced by hand); the step's next run writes them together again.
- No step writes over its own inputs: check_apart compares every output with every input before any work
  (common.cli does it for the options a script declares with cli.reads / cli.writes / cli.writes_into).
check_room and check_memory refuse, before anything is allocated or written, what the disk or the memory cannot
hold.
"""
import contextlib
import datetime
import errno
import fcntl
import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import stat
import threading
from pathlib import Path

from common.cli import UserError

# The tensor files the steps write (fileio lists them): what a folder a step rewrites may hold by default.
DATA_EXTS = (".bin", ".npy")

STAGING_PREFIX = ".ganzoo-staging-"
_STAGING_NAME = re.compile(rf"^{re.escape(STAGING_PREFIX)}[0-9a-f]{{32}}$")
RECORD_SUFFIX = ".ganzoo-run"


# --- Staging folders: this run's own, and those of finished runs ---------------------------------------------

class _Staging:
    """`<folder>/.ganzoo-staging-<token>/` with `new/` (outputs being written), `old/` (outputs being replaced)
    and `lock`, which this run holds (flock) until it removes the folder."""

    def __init__(self, folder):
        remove_finished_staging(folder)
        while True:
            self.path = Path(folder) / f"{STAGING_PREFIX}{secrets.token_hex(16)}"
            os.mkdir(self.path, 0o700)
            self.lock = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(self.lock, fcntl.LOCK_EX)
            if os.path.exists(self.path / "lock"):
                break
            # Another run took the lock in the instant between its creation and ours, and removed the folder as
            # a finished run's: take another name.
            os.close(self.lock)
        os.mkdir(self.path / "new")
        os.mkdir(self.path / "old")

    def new(self, name):
        return self.path / "new" / name

    def old(self, name):
        return self.path / "old" / name

    def remove(self):
        """Remove the folder (with any replaced outputs in it), then let go of the lock."""
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self.lock)


def remove_finished_staging(folder):
    """Remove the staging folders that finished runs left in `folder` (runs killed before they could clean up):
    entries with the exact staging name that are real folders of this user and whose lock can be taken now (no
    live run, on this host or another, holds it). Links are never followed, nothing else is touched."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not _STAGING_NAME.match(entry.name) or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.geteuid():
                continue
            lock = os.open(os.path.join(entry.path, "lock"), os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            continue  # no lock yet (a run creating it this instant), a link, or not ours: leave it
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock)  # held: a run under way
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        os.close(lock)


# --- Writing outputs -----------------------------------------------------------------------------------------

class OutputSet:
    """The outputs of one step (folders and files), written in staging folders beside them and renamed into
    place together: a failure or Ctrl-C before the end leaves every old output as it was, and the renames are a
    short series that Ctrl-C cannot split (signals wait until it is over). Two runs committing into the same
    folders on one host take turns. A folder output replaces an existing folder only if that holds nothing but
    files with the `replaceable` extensions (what such a step writes; anything else is the user's).

        with OutputSet("biggan_preprocess.py") as outputs:
            noise = outputs.folder("prep_noise", replaceable=(".bin",))
            gen_y = outputs.file("gen_y.npz")
            ...write into noise/ and to gen_y...

    `step`: the step's name, given where a later step reads the parts together; each part then gets a record of
    the run (check_same_run), so that a process killed in the middle of the renames, which leaves some parts new
    and some old, leaves a set its readers refuse. None: no records.
    """

    def __init__(self, step=None):
        self.step = step
        self.run = f"{datetime.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
        self.parts = []  # (final, staging, is_folder)
        self.made = []  # folders created above the parts, removed again if the step fails
        self.stagings = {}  # resolved folder -> _Staging

    def __enter__(self):
        return self

    def _add(self, final):
        final = Path(final)
        resolved = final.resolve()
        for other, _, _ in self.parts:
            theirs = other.resolve()
            if resolved == theirs or theirs in resolved.parents or resolved in theirs.parents:
                raise UserError(f"{final}: given for two outputs (also {other}); each output needs a path of its own")
        folder = final.parent.resolve()
        if folder not in self.stagings:
            made = _make_parents(final)
            self.made += made
            try:
                self.stagings[folder] = _Staging(folder)
            except OSError as err:
                raise _os_error(err, final, "create its staging folder") from None
        return final, self.stagings[folder]

    def folder(self, final, replaceable=DATA_EXTS):
        """Stage a folder output; returns the temporary folder to fill."""
        _check_folder_target(final, tuple(ext.lower() for ext in replaceable))
        final, staging = self._add(final)
        self.parts.append((final, staging, True))
        staged = staging.new(final.name)
        staged.mkdir()
        return staged

    def file(self, final):
        """Stage a file output; returns the temporary path to write."""
        if Path(final).is_dir():
            raise UserError(f"{final}: is a folder, a file was expected")
        _check_writable(final)
        final, staging = self._add(final)
        self.parts.append((final, staging, False))
        return staging.new(final.name)

    def __exit__(self, exc_type, exc, tb):
        done = False
        try:
            if exc_type is None:
                try:
                    self._commit()
                except OSError as err:
                    raise self._write_error(err) or err
                done = True
        finally:
            for staging in self.stagings.values():
                staging.remove()
            if not done:
                for folder in sorted(set(self.made), key=lambda p: -len(p.parts)):
                    with contextlib.suppress(OSError):  # not empty: someone else wrote there
                        folder.rmdir()
        if isinstance(exc, OSError) and self._write_error(exc):  # the block failed writing a part
            raise self._write_error(exc) from None
        return False

    def _write_error(self, err):
        """An OSError met while writing the parts (a full disk, say, which names no file) as one line naming the
        output; None for an error about any other file (an input), which is not ours to explain."""
        where = str(err.filename or "")
        for final, staging, _ in self.parts:
            if err.filename is None or where.startswith(str(staging.path)):
                return _os_error(err, final)
        return None

    def _commit(self):
        moves = []  # (source, target, is a folder part)
        written = datetime.datetime.now().isoformat(timespec="seconds")
        for final, staging, is_folder in self.parts:
            staged = staging.new(final.name)
            if not staged.exists():
                raise RuntimeError(f"{final} was staged but nothing was written to it")
            if self.step is not None:
                record = _record_path(final)
                # The parts relative to the record's folder: a set moved or copied whole stays consistent.
                parts = [os.path.relpath(other.absolute(), record.parent.absolute()) for other, _, _ in self.parts]
                staged_record = staging.new(record.name)
                staged_record.write_text(json.dumps({"run": self.run, "step": self.step, "written": written,
                                                     "parts": parts, "digest": _digest(staged)}, indent=1) + "\n")
                moves.append((staged_record, record, False))  # first: a part without its record is never new
            moves.append((staged, final, is_folder))
        with contextlib.ExitStack() as locks:
            # Two runs committing into the same folders at once take turns (each folder locked, in sorted
            # order), so that their renames never interleave into a mix.
            for folder in sorted(self.stagings):
                fd = os.open(folder, os.O_RDONLY)
                locks.callback(os.close, fd)
                with contextlib.suppress(OSError):  # a file system without folder locks: readers still check
                    fcntl.flock(fd, fcntl.LOCK_EX)
            with _signals_held():
                for source, target, is_folder in moves:
                    if is_folder and os.path.lexists(target):
                        os.replace(target, self.stagings[target.parent.resolve()].old(target.name))
                    os.replace(source, target)
                for final, _, _ in self.parts if self.step is None else ():
                    _forget_run(final)  # rewritten on its own, a part leaves the set its old record names


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary name for the file `path`; it is renamed to `path` when the block succeeds, so a reader
    finds the old file or the whole new one. Missing folders above it are created; a folder at `path`, a file
    or a read-only folder above it are one-line errors, and leave the old file as it was."""
    with OutputSet() as outputs:
        yield outputs.file(path)


def write_bytes(path, data):
    """Atomically write raw bytes (used for text, JSON and images encoded in memory)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return Path(path)


def write_text(path, text):
    return write_bytes(path, text.encode("utf-8"))


class AtomicDir:
    """Fill the folder `final` under a temporary name; it replaces the old folder as a whole (a rerun with fewer
    samples must leave no stale files) when the block ends without error. The old folder must hold nothing but
    files with the `replaceable` extensions (OutputSet.folder).

        with AtomicDir("prep_dataset", replaceable=(".bin",)) as tmp:
            write_array(tmp / "noise_0000.bin", x, atomic=False)
    """

    def __init__(self, final, replaceable=DATA_EXTS):
        self.outputs, self.final, self.replaceable = OutputSet(), final, replaceable

    def __enter__(self):
        return self.outputs.folder(self.final, self.replaceable)

    def __exit__(self, exc_type, exc, tb):
        return self.outputs.__exit__(exc_type, exc, tb)


_COMMIT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _signals_held():
    """Hold Ctrl-C (and SIGTERM, SIGHUP) until the block ends, then act on the first one as it would have
    been. A signal mask is not enough: the kernel gives a process's signal to any thread not masking it (ONNX
    Runtime's worker threads, say), and Python then runs its handler in the main thread at once. So the main
    thread's handlers are swapped for one that only records the signal."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; Python runs them there anyway
        return
    received = []
    previous = {}
    for number in _COMMIT_SIGNALS:
        if signal.getsignal(number) is not None:  # None: a handler set outside Python, left alone
            previous[number] = signal.signal(number, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if received:
            signal.raise_signal(received[0])


# --- Targets, room, errors -------------------------------------------------------------------------------------

def _check_writable(path):
    """The first existing folder above `path` must be one we may create `path` in."""
    for parent in Path(path).absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{path}: cannot write: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UserError(f"{path}: cannot write: the folder {parent} is read-only")
            return


def _check_folder_target(final, replaceable):
    """Refuse, before anything is written, a folder output the step must not replace: a file, a link, or a
    folder holding anything but files with the `replaceable` extensions."""
    final = Path(final)
    if final.is_symlink():
        raise UserError(f"{final}: is a symbolic link; give the folder it points to, or a new path")
    if final.exists():
        if not final.is_dir():
            raise UserError(f"{final}: exists and is not a folder")
        foreign = [p for p in final.iterdir()
                   if not (p.is_file() and not p.is_symlink() and p.suffix.lower() in replaceable)]
        if foreign:
            raise UserError(f"{final}: folder already holds {foreign[0].name!r}, which this step "
                            f"did not write; choose an empty or new folder")
    _check_writable(final)


def _make_parents(path):
    """Create the missing folders above `path`; returns them, so that a failed step removes them again."""
    made = list(itertools.takewhile(lambda parent: not parent.exists(), Path(path).absolute().parents))
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _os_error(err, path, "create its folder") from None
    return made


def _size_text(nbytes):
    for unit, size in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} bytes"


def check_room(path, nbytes, what, in_memory=0):
    """Refuse, before anything is allocated or written, a request whose output (`nbytes`) does not fit on
    the disk that holds `path`, or whose arrays (`in_memory` bytes) do not fit in this machine's memory."""
    folder = next(parent for parent in Path(path).absolute().parents if parent.exists())
    free = shutil.disk_usage(folder).free
    if nbytes > free:
        raise UserError(f"{path}: {what} needs {_size_text(nbytes)} of output, and {folder} has "
                        f"{_size_text(free)} free")
    check_memory(in_memory, what)


def check_memory(nbytes, what):
    """Refuse, before it is allocated, a request for more memory than this machine has."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if nbytes > memory:
        raise UserError(f"{what} needs {_size_text(nbytes)} of memory, and this machine has {_size_text(memory)}")


_REASONS = {errno.EACCES: "permission denied (a read-only folder?)", errno.EROFS: "the file system is read-only",
            errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is exceeded",
            errno.ENOTDIR: "a parent of it is a file, not a folder", errno.EISDIR: "it is a folder, a file was expected",
            errno.ENOENT: "its folder does not exist", errno.ENAMETOOLONG: "the name is too long"}


def _os_error(err, path, doing="write"):
    """An OSError met while writing `path` as the one-line UserError the user can act on."""
    return UserError(f"{path}: cannot {doing}: {_REASONS.get(err.errno, err.strerror or err)}")


# --- Reading a set: its records ---------------------------------------------------------------------------------

def _record_path(part):
    """The record beside an output part (JSON: run, step, the set's parts, digest). It sits beside the part, not
    inside it, so the tools that list a folder never see it."""
    part = Path(part)
    return part.with_name(f".{part.name}{RECORD_SUFFIX}")


def _forget_run(path):
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        _record_path(path).unlink()


def _digest(path):
    """The digest of an output part's whole content (every file of a folder, names and bytes), which survives
    a move or a copy and changes when any byte of it does. Hidden entries are left out, as every reader leaves
    them out (a .DS_Store is not data). Only regular files are opened: a FIFO or a device is named by its type,
    never read."""
    digest = hashlib.sha256()

    def add(file, relative):
        info = os.lstat(file)
        digest.update(f"{relative}\0{stat.S_IFMT(info.st_mode)}\0{info.st_size}\0".encode("utf-8", "surrogateescape"))
        if stat.S_ISREG(info.st_mode):
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)

    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        for root, folders, files in os.walk(path):
            folders[:] = sorted(f for f in folders if not f.startswith("."))
            for name in sorted(n for n in files + [f for f in folders if os.path.islink(os.path.join(root, f))]
                               if not n.startswith(".")):
                add(os.path.join(root, name), os.path.relpath(os.path.join(root, name), path))
    else:
        add(path, ".")
    return digest.hexdigest()


def _read_record(path):
    """The record beside an output part (a dict), None if there is none; one that is not a record of ours is a
    UserError naming it."""
    record_path = _record_path(path)
    try:
        if not stat.S_ISREG(os.lstat(record_path).st_mode):
            raise ValueError("not a file")
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if not (isinstance(record, dict) and all(isinstance(record.get(k), str) for k in ("run", "step", "digest"))
                and isinstance(record.get("parts"), list) and all(isinstance(p, str) for p in record["parts"])):
            raise ValueError("not a run record")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise UserError(f"{record_path}: not a readable run record of the step that wrote {Path(path).name}; "
                        f"run that step again") from None
    return record


def check_same_run(*paths):
    """Refuse outputs of a multi-part step whose parts are not from one run: a part whose content is no longer
    what its run wrote (replaced by hand, or a commit cut short), or a partner from another run. Each given
    path's record names its set; every partner that still exists must carry the same run. Paths without a
    record (made by another tool or a one-output step) are not checked. Only reads, and only regular files."""
    digests = {}

    def described(part, record):
        key = Path(part).resolve()
        if key not in digests:
            digests[key] = _digest(part)
        return digests[key] == record["digest"]

    for path in paths:
        record = _read_record(path) if os.path.lexists(path) else None  # a missing path: its reader says so
        if record is None:
            continue
        again = f"run {record['step']} again to write them together"
        if not described(path, record):
            raise UserError(f"{path}: changed after {record['step']} wrote it (its record {_record_path(path).name} "
                            f"describes other content); {again}")
        for relative in record["parts"]:
            part = Path(path).parent / relative
            if not os.path.lexists(part) or part.resolve() == Path(path).resolve():
                continue
            theirs = _read_record(part)
            if theirs is None or theirs["run"] != record["run"] or not described(part, theirs):
                raise UserError(f"{path}: written by {record['step']} together with {part}, which now holds "
                                f"the output of another run; {again}")


# --- No output over an input -----------------------------------------------------------------------------------

def check_apart(reads=(), writes=(), writes_into=()):
    """Refuse, before any work, outputs that would write over the step's inputs or over each other.

    Each argument is a list of (what, path): `what` names it for the user (an option, say). reads: files and
    folders the step reads. writes: files and folders it writes (a folder is replaced as a whole). writes_into:
    folders it writes named outputs into (created if missing; what else they hold stays). Refused: an output
    that is an input (the same path, or the same file by another name), an output that holds an input, an
    output inside a folder the step reads, and two outputs on one path or one inside the other.
    """
    def real(path):
        return Path(os.path.realpath(path))

    def inside(path, folder):
        return folder in path.parents

    inputs = [(what, path, real(path), os.path.isdir(path)) for what, path in reads if path]
    outputs = [(what, path, real(path), kind) for kind, given in (("writes", writes), ("into", writes_into))
               for what, path in given if path]
    for out_what, out, out_real, kind in outputs:
        for in_what, inp, in_real, in_folder in inputs:
            if out_real == in_real or (os.path.exists(out) and os.path.exists(inp) and os.path.samefile(out, inp)):
                relation = f"is also the input {inp} ({in_what})"
            elif kind == "writes" and inside(in_real, out_real):
                relation = f"holds the input {inp} ({in_what}), which writing it would replace"
            elif in_folder and inside(out_real, in_real):
                relation = f"is inside the input folder {inp} ({in_what}), which this step only reads"
            else:
                continue
            raise UserError(f"{out}: {out_what} {relation}; give it a path apart from the inputs")
    for (a_what, a, a_real, a_kind), (b_what, b, b_real, b_kind) in itertools.combinations(outputs, 2):
        nested = (a_kind == "writes" and inside(b_real, a_real)) or (b_kind == "writes" and inside(a_real, b_real))
        if a_real == b_real or nested:
            raise UserError(f"{b}: given for two outputs ({a_what} {a} and {b_what}); each output needs a path of "
                            f"its own")
