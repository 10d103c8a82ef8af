"""How a step writes its outputs so that a later step never reads a half-written or mixed result.

Every write goes to a hidden temporary name in the same folder and is renamed into place (atomic_path); a
folder of many files is written under a temporary folder name and renamed once, when complete (AtomicDir); a
step with several outputs stages them all and commits them together, with a journal that the next reader
finishes if the run was killed between renames, and a record of the run beside each part (OutputSet). The
steps that read such outputs check that they are from one run (check_same_run). Leftovers of dead runs are
removed (remove_dead_leftovers), and a request too big for the disk or memory is refused first (check_room).
"""
import contextlib
import datetime
import errno
import fcntl
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import threading
from pathlib import Path

from common.cli import UserError

# The tensor files the steps write (fileio lists them): what a folder a step rewrites may hold by default.
DATA_EXTS = (".bin", ".npy")

_TEMPORARY_TAGS = ("tmp", "partial", "old", "commit")
_TEMPORARY_NAME = re.compile(rf"^\..+\.({'|'.join(_TEMPORARY_TAGS)})-(\d+)$")
_cleaned_folders = set()  # folders this process has already rid of dead runs' leftovers


def temporary_sibling(path, tag):
    """The hidden name `.<name>.<tag>-<pid>` this process writes `path` under; leftovers of dead runs in the
    same folder are removed first (once per folder and process)."""
    path = Path(path)
    clean_once(path.parent)
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or a number no process can have): leave its files alone
    return True


def remove_dead_leftovers(folder):
    """Remove the temporary files and folders (`.<name>.<tag>-<pid>`) that killed runs left in `folder`, so
    they neither pile up nor get mistaken for output; those of live processes are kept. A dead run's commit
    journal is completed first (its parts were all written before it was), so the set it was committing
    appears whole."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    dead = []
    for entry in folder.iterdir():
        match = _TEMPORARY_NAME.match(entry.name)
        if match and int(match.group(2)) != os.getpid() and not _pid_alive(int(match.group(2))):
            dead.append((match.group(1), entry))
    for tag, entry in dead:
        if tag == "commit":
            _complete_commit(entry)
    for tag, entry in dead:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


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
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if in_memory > memory:
        raise UserError(f"{what} needs {_size_text(in_memory)} of memory, and this machine has "
                        f"{_size_text(memory)}")


def _os_error(err, path, doing):
    """An OSError met while writing `path` as the one-line UserError the user can act on."""
    reasons = {errno.EACCES: "permission denied (a read-only folder?)", errno.EROFS: "the file system is read-only",
               errno.ENOSPC: "no space left on the device", errno.ENOTDIR: "a parent of it is a file, not a folder",
               errno.EISDIR: "it is a folder, a file was expected", errno.ENOENT: "its folder does not exist"}
    return UserError(f"{path}: cannot {doing}: {reasons.get(err.errno, err.strerror or err)}")


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary name beside `path`; it is renamed to `path` when the block succeeds, removed if not.

    Readers never see a half-written file: either the old file or the complete new one is at `path`. Missing
    folders above it are created; a folder at `path`, a file or a read-only folder above it are one-line
    errors, and leave the old file as it was.
    """
    path = Path(path)
    _prepare_file_target(path)
    tmp = temporary_sibling(path, "tmp")
    try:
        try:
            yield tmp
            os.replace(tmp, path)
        except OSError as err:
            if err.filename not in (None, str(tmp), str(path)):
                raise  # about another file: not ours to explain
            raise _os_error(err, path, "write") from None
        _forget_run(path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def write_bytes(path, data):
    """Atomically write raw bytes (used for text, JSON and images encoded in memory)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return Path(path)


def write_text(path, text):
    return write_bytes(path, text.encode("utf-8"))


def _check_replaceable(final, replaceable):
    """Refuse, before anything is written, a folder output whose final path the step must not replace: a
    file, or a folder holding what the step did not write (the user's)."""
    final = Path(final)
    if final.exists() or final.is_symlink():
        if not final.is_dir():
            raise UserError(f"{final}: exists and is not a folder")
        foreign = [p for p in final.iterdir() if not (p.is_file() and p.suffix.lower() in replaceable)]
        if foreign:
            raise UserError(f"{final}: folder already holds {foreign[0].name!r}, which this step "
                            f"did not write; choose an empty or new folder")
    _check_writable(final)


def _check_writable(path):
    """The first existing folder above `path` must be one we may create `path` in."""
    for parent in Path(path).absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{path}: cannot write: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UserError(f"{path}: cannot write: the folder {parent} is read-only")
            return


def _make_parents(path):
    """Create the missing folders above `path`; returns them, nearest first, so that a failed step can remove
    them again (remove_made_parents) and leave the disk as it found it."""
    made = list(itertools.takewhile(lambda parent: not parent.exists(), Path(path).absolute().parents))
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _os_error(err, path, "create its folder") from None
    return made


def _prepare_file_target(path):
    """Before writing the file `path`: refuse a folder there or an unwritable place, create the missing folders
    above it; returns those (as _make_parents)."""
    if Path(path).is_dir():
        raise UserError(f"{path}: is a folder, a file was expected")
    _check_writable(path)
    return _make_parents(path)


def remove_made_parents(made):
    for folder in made:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (someone else wrote there) or already gone


def _make_staging_dir(final):
    """(the temporary folder to fill in place of `final`, the folders created above it)."""
    made = _make_parents(final)
    tmp = temporary_sibling(final, "partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir()
    except OSError as err:
        remove_made_parents(made)
        raise _os_error(err, final, "create the folder") from None
    return tmp, made


class AtomicDir:
    """Fill a folder under a temporary name and rename it into place when the block ends without error.

    An existing folder at the final path is replaced as a whole (a rerun with fewer samples must not leave
    stale files that a later step would read), but only if it holds nothing other than files with the
    `replaceable` extensions: a folder with anything else in it is the user's, and is refused untouched.
    A step that writes several outputs uses OutputSet instead, which commits them together.

        with AtomicDir("prep_dataset", replaceable=(".bin",)) as tmp:
            write_array(tmp / "noise_0000.bin", x, atomic=False)
    """

    def __init__(self, final, replaceable=DATA_EXTS):
        self.final = Path(final)
        self.replaceable = tuple(ext.lower() for ext in replaceable)
        self.tmp = temporary_sibling(self.final, "partial")

    def __enter__(self):
        _check_replaceable(self.final, self.replaceable)
        self.tmp, self.made = _make_staging_dir(self.final)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            remove_made_parents(self.made)
            return False
        old = temporary_sibling(self.final, "old") if self.final.exists() else None
        if old is not None:
            os.replace(self.final, old)
        os.replace(self.tmp, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        _forget_run(self.final)
        return False


# --- Steps with several outputs: written apart, committed together, each part stamped with the run ---------

def _run_stamp_path(part):
    """The hidden record beside an output part of a multi-part step: `.<name>.run` (JSON: run id, step, the
    set's parts). It sits beside the part, not inside it, so the tools that list a folder never see it."""
    part = Path(part)
    return part.with_name(f".{part.name}.run")


def _forget_run(path):
    """A part rewritten on its own no longer belongs to the set its old record names."""
    with contextlib.suppress(FileNotFoundError):
        _run_stamp_path(path).unlink()


def _fingerprint(path):
    """A cheap digest of an output part's content that survives a move or a copy and changes when the part is
    rewritten: for a file its size and first and last 64 KiB, for a folder its file names and sizes and the
    first 64 KiB of its first, middle and last file (50,000 files take a tenth of a second)."""
    import hashlib

    digest = hashlib.sha1()

    def sample(file, size):
        with open(file, "rb") as handle:
            digest.update(handle.read(65536))
            if size > 65536:
                handle.seek(max(65536, size - 65536))
                digest.update(handle.read())

    path = Path(path)
    if path.is_dir():
        entries = sorted((e.name, e.stat().st_size) for e in os.scandir(path) if e.is_file())
        digest.update(repr(entries).encode())
        for name, size in (sorted({entries[i] for i in (0, len(entries) // 2, -1)}) if entries else ()):
            sample(path / name, min(size, 65536))
    else:
        size = path.stat().st_size
        digest.update(str(size).encode())
        sample(path, size)
    return digest.hexdigest()


def _read_run(path):
    """The run record of an output part, or None if it has none or if the record no longer describes it (the
    part was rewritten or replaced after its run: its content fingerprint differs)."""
    try:
        record = json.loads(_run_stamp_path(path).read_text())
        return record if record.get("fingerprint") == _fingerprint(path) else None
    except (OSError, ValueError, AttributeError):
        return None


def _complete_commit(journal):
    """Finish the renames a commit journal lists (every part was complete before the journal was written),
    then remove the replaced old parts and every copy of the journal. Safe to run again."""
    try:
        record = json.loads(Path(journal).read_text())
    except (OSError, ValueError):
        return
    for tmp, final, old in record["moves"]:
        if os.path.lexists(tmp):
            if old and os.path.lexists(final):
                os.replace(final, old)
            os.replace(tmp, final)
    for _, _, old in record["moves"]:
        if old:
            shutil.rmtree(old, ignore_errors=True)
    for copy in record["journals"]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(copy)


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


class OutputSet:
    """The outputs of one step (several folders and files) written under temporary names and committed
    together: a failure or Ctrl-C before the end leaves every old output as it was, and the commit itself is
    a short series of renames that Ctrl-C cannot split (signals wait until it is over). A journal of the
    renames lies beside the parts while they happen; if the process is killed in between, the next run of any
    step that touches the folder finishes the commit (remove_dead_leftovers). Each part gets a run record
    (`.<name>.run`) naming the run and the set, so that a later step can refuse parts from different runs
    (check_same_run).

        with OutputSet("biggan_preprocess.py") as outputs:
            noise = outputs.folder("prep_noise", replaceable=(".bin",))
            gen_y = outputs.file("gen_y.npz")
            ...write into noise/ and to gen_y...
    """

    def __init__(self, step):
        self.step = step
        self.run = f"{datetime.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}-{secrets.token_hex(3)}"
        self.parts = []  # (final, staged, is_folder)
        self.made = []  # folders created above the parts, removed again if the step fails

    def __enter__(self):
        return self

    def _add(self, final):
        final = Path(final)
        resolved = final.resolve()
        for other, _, _ in self.parts:
            theirs = other.resolve()
            if resolved == theirs or theirs in resolved.parents or resolved in theirs.parents:
                raise UserError(f"{final}: given for two outputs of {self.step} (also {other}); each output "
                                f"needs a path of its own")
        return final

    def folder(self, final, replaceable=DATA_EXTS):
        """Stage a folder output; returns the temporary folder to fill."""
        final = self._add(final)
        _check_replaceable(final, tuple(ext.lower() for ext in replaceable))
        staged, made = _make_staging_dir(final)
        self.made += made
        self.parts.append((final, staged, True))
        return staged

    def file(self, final):
        """Stage a file output; returns the temporary path to write."""
        final = self._add(final)
        self.made += _prepare_file_target(final)
        staged = temporary_sibling(final, "tmp")
        self.parts.append((final, staged, False))
        return staged

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self._discard()
            return False
        try:
            self._commit()
        except BaseException:
            self._discard()
            raise
        return False

    def _discard(self):
        for _, staged, is_folder in self.parts:
            if is_folder:
                shutil.rmtree(staged, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    staged.unlink()
        remove_made_parents(sorted(set(self.made), key=lambda p: -len(p.parts)))

    def _commit(self):
        if not self.parts:
            return
        written = datetime.datetime.now().isoformat(timespec="seconds")
        moves = []
        for final, staged, is_folder in self.parts:
            if not is_folder and not staged.exists():
                raise RuntimeError(f"{self.step} staged {final} but wrote nothing to it")
            stamp = _run_stamp_path(final)
            # The parts relative to the record's folder: a tree copied or moved whole stays consistent.
            parts = [os.path.relpath(other.absolute(), stamp.parent.absolute()) for other, _, _ in self.parts]
            record = {"run": self.run, "step": self.step, "written": written, "parts": parts,
                      "fingerprint": _fingerprint(staged)}
            staged_stamp = temporary_sibling(stamp, "tmp")
            staged_stamp.write_text(json.dumps(record, indent=1) + "\n")
            old = str(temporary_sibling(final, "old")) if is_folder else None
            moves += [(str(staged), str(final), old), (str(staged_stamp), str(stamp), None)]
        folders = sorted({str(final.parent.resolve()) for final, _, _ in self.parts})
        slug = re.sub(r"[^\w.]+", "_", self.step)
        journals = [str(Path(folder) / f".{slug}.commit-{os.getpid()}") for folder in folders]
        journal = json.dumps({"run": self.run, "moves": moves, "journals": journals}, indent=1)
        with contextlib.ExitStack() as locks:
            # Two runs committing into the same folders at once take turns (each folder locked, in sorted
            # order), so their renames never interleave into a mix.
            for folder in folders:
                fd = os.open(folder, os.O_RDONLY)
                locks.callback(os.close, fd)
                fcntl.flock(fd, fcntl.LOCK_EX)
            for copy in journals:
                write_text(copy, journal)
            with _signals_held():
                _complete_commit(journals[0])


def finish_interrupted_commits(*paths):
    """Before reading outputs: complete the commit of a run killed while it renamed its outputs into place
    beside `paths`, and remove dead runs' leftovers there (once per folder and process)."""
    for path in paths:
        clean_once(Path(path).parent)


def clean_once(folder):
    folder = Path(folder).resolve()
    if folder not in _cleaned_folders:
        remove_dead_leftovers(folder)
        _cleaned_folders.add(folder)


def check_same_run(*paths):
    """Refuse outputs of a multi-part step whose parts are not from one run (a part rewritten by another run,
    or replaced by hand). Each given path's run record names the set; every part of it that still exists must
    carry the same run. Paths without a valid record (made by another tool or a one-output step) are not
    checked. A dead run's unfinished commit beside them is completed first."""
    finish_interrupted_commits(*paths)
    for path in paths:
        record = _read_run(path)
        if record is None:
            continue
        for part in record["parts"]:
            part = Path(path).parent / part
            if not os.path.lexists(part):
                continue
            theirs = _read_run(part)
            if theirs is None or theirs["run"] != record["run"]:
                raise UserError(f"{path}: written by {record['step']} together with {part}, which now holds "
                                f"the output of another run; run {record['step']} again to write them together")
