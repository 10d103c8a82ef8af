"""How a step writes its outputs: nothing half-written, no mixed set accepted, nothing of anyone else touched.

The rules (docs/files.md), and the one mechanism that keeps them:
- Every output is written in a staging folder of this run's own beside it, `.ganzoo-staging-<random token>/`,
  and renamed into place when complete. OutputSet does it for a step's outputs together (the renames are one
  short series that Ctrl-C cannot split); atomic_path (one file) and AtomicDir (one folder) are its one-part
  forms.
- A step removes or replaces only what it can prove it made: its own staging folders, the outputs it was asked
  to write, and the staging folders of finished runs in the folders it writes. A live run holds a lock on its
  staging folder, which the next run must be able to take (a process id would say nothing of another host's
  run on a shared disk). Nothing found on disk is carried out as instructions; a staging-named entry that is
  not a real folder holding a regular-file lock is never opened, and removal never crosses a mount point.
- What a step replaces it re-checks at the moment of replacing: an old folder output is moved into the staging
  folder first and looked at there, where nobody adds to it any more; a file a person saved in it during the run
  makes the step put it back and refuse (OutputSet._move_aside).
- A step that only reads never changes what it reads. Where a later step reads a step's outputs together, each
  part has a run record beside it (common/records.py), written here at the commit; readers call
  records.check_same_run.
- No step writes over its own inputs: check_apart compares every output (and its record) with every input before
  any work (common.cli does it for the options a script declares with cli.reads / cli.writes /
  cli.writes_into). Outputs are regular files or folders, or new paths: never a device, FIFO, socket or a link
  to one. Inputs whose stat data changed between the start and the commit (another run rewrote them) make the
  step refuse, nothing committed (records.Inputs).

Size: over 400 lines because OutputSet and the checks it makes at each moment (targets, staging folders of dead
runs, signals held during the renames) are one mechanism; split, each half would need the other's internals.
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
import signal
import stat
import threading
from pathlib import Path

from common.errors import UserError
from common.records import RECORD_FORMAT, RECORD_SUFFIX, check_record_slot, entries_of, forget_run, record_path

# The tensor files the steps write (fileio lists them): what a folder a step rewrites may hold by default.
DATA_EXTS = (".bin", ".npy")

STAGING_PREFIX = ".ganzoo-staging-"
_STAGING_NAME = re.compile(rf"^{re.escape(STAGING_PREFIX)}[0-9a-f]{{32}}$")


# --- Staging folders: this run's own, and those of finished runs ---------------------------------------------

class _Staging:
    """`<folder>/.ganzoo-staging-<token>/` with `new/` (outputs being written), `old/` (outputs being replaced)
    and `lock`, which this run holds (flock) until it removes the folder."""

    def __init__(self, folder):
        remove_finished_staging(folder)
        while True:
            self.path = Path(folder) / f"{STAGING_PREFIX}{secrets.token_hex(16)}"
            os.mkdir(self.path, 0o700)
            try:
                self.lock = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            except OSError:  # no inode left for it, say: the folder must not stay behind
                os.rmdir(self.path)
                raise
            fcntl.flock(self.lock, fcntl.LOCK_EX)
            if os.path.exists(self.path / "lock"):
                break
            # Another run took the lock in the instant between its creation and ours, and removed the folder as
            # a finished run's: take another name.
            os.close(self.lock)
        try:
            os.mkdir(self.path / "new")
            os.mkdir(self.path / "old")
        except OSError:
            self.remove()
            raise

    def new(self, name):
        return self.path / "new" / name

    def old(self, name):
        return self.path / "old" / name

    def remove(self):
        """Remove the folder (with any replaced outputs in it), then let go of the lock."""
        _remove_tree(self.path)
        os.close(self.lock)


def remove_finished_staging(folder):
    """Remove the staging folders that finished runs left in `folder` (runs killed before they could clean up):
    entries with the exact staging name that are real folders of this user on the folder's own file system,
    holding a regular file `lock` of this user that can be taken now (no live run, on this host or another,
    holds it). Anything else named so (a link, a mount point, a `lock` that is a device, a FIFO or a link) is
    never opened nor removed; nothing else is touched."""
    try:
        device = os.stat(folder).st_dev
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not _STAGING_NAME.match(entry.name) or not entry.is_dir(follow_symlinks=False):
            continue
        lock_path = os.path.join(entry.path, "lock")
        try:
            info, lock_info = entry.stat(follow_symlinks=False), os.lstat(lock_path)
            if (info.st_uid != os.geteuid() or info.st_dev != device or not stat.S_ISREG(lock_info.st_mode)
                    or lock_info.st_uid != os.geteuid()):
                continue
            lock = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError:
            continue  # no lock yet (a run creating it this instant), or not ours: leave it
        try:
            opened = os.fstat(lock)
            if (opened.st_dev, opened.st_ino) != (lock_info.st_dev, lock_info.st_ino):
                continue  # swapped since we looked: not ours to judge
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # held: a run under way
        else:  # removed while the lock is held, so that a run creating that folder this instant sees it go
            _remove_tree(entry.path, device)
        finally:
            os.close(lock)


def _remove_tree(path, device=None):
    """Remove `path` and everything under it, as shutil.rmtree does without following links, but never across a
    mount point: an entry on another file system than `device` (that of `path` by default) stays, with the
    folders above it. Through folder descriptors, so that a folder swapped for a link is not followed. Errors
    are ignored (what stays, stays). Returns whether `path` is gone."""
    def remove(name, dir_fd, device):
        info = os.lstat(name, dir_fd=dir_fd)
        if info.st_dev != device:
            return False
        if not stat.S_ISDIR(info.st_mode):
            os.unlink(name, dir_fd=dir_fd)
            return True
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
        try:
            if (os.fstat(fd).st_dev, os.fstat(fd).st_ino) != (info.st_dev, info.st_ino):
                return False
            whole = True
            for entry in list(os.scandir(fd)):
                whole = _quietly(remove, entry.name, fd, device) and whole
        finally:
            os.close(fd)
        if whole:
            os.rmdir(name, dir_fd=dir_fd)
        return whole

    path = os.fspath(path)
    with contextlib.suppress(OSError):
        device = os.lstat(path).st_dev if device is None else device
    return device is not None and _quietly(remove, path, None, device)


def _quietly(function, *args):
    try:
        return function(*args)
    except OSError:
        return False


# --- Writing outputs -----------------------------------------------------------------------------------------

class OutputSet:
    """The outputs of one step (folders and files), written in staging folders beside them and renamed into
    place together: a failure or Ctrl-C before the end leaves every old output as it was, and the renames are a
    short series that Ctrl-C cannot split (signals wait until it is over). Two runs committing into the same
    folders on one host take turns. A folder output replaces an existing folder only if that holds nothing but
    files with the `replaceable` extensions (what such a step writes; anything else is the user's), checked when
    the part is staged and again at the moment of replacing (_move_aside).

        with OutputSet("biggan_preprocess.py") as outputs:
            noise = outputs.folder("prep_noise", replaceable=(".bin",))
            gen_y = outputs.file("gen_y.npz")
            ...write into noise/ and to gen_y...

    `step`: the step's name, given where a later step reads the parts together; each part then gets a record of
    the run (check_same_run), so that a process killed in the middle of the renames, which leaves some parts new
    and some old, leaves a set its readers refuse. None: no records. `inputs`: the step's Inputs, checked
    unchanged at the commit (nothing is committed otherwise).
    """

    def __init__(self, step=None, inputs=None):
        self.step, self.inputs = step, inputs
        self.run = f"{datetime.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
        self.parts = []  # (final, staging, replaceable extensions of a folder part; None for a file part)
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
        if self.step is not None:
            check_record_slot(final)
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
        replaceable = tuple(ext.lower() for ext in replaceable)
        _check_folder_target(final, replaceable)
        final, staging = self._add(final)
        self.parts.append((final, staging, replaceable))
        staged = staging.new(final.name)
        try:
            staged.mkdir()
        except OSError as err:
            raise _os_error(err, final, "create its staging folder") from None
        return staged

    def file(self, final):
        """Stage a file output; returns the temporary path to write."""
        _check_output_kind(final)
        if Path(final).is_dir():
            raise UserError(f"{final}: is a folder, a file was expected")
        _check_writable(final)
        final, staging = self._add(final)
        self.parts.append((final, staging, None))
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
        """An OSError met while writing the parts (a full disk, say) as one line naming what the person asked for:
        the path under the output, not its staging name; a part of the set when the error names no file. None
        for an error about any other file (an input), which is not ours to explain."""
        where = str(err.filename or "")
        for final, staging, _ in self.parts:
            inside = os.path.relpath(where, staging.path / "new") if where.startswith(str(staging.path)) else None
            if err.filename is None or (inside is not None and not inside.startswith("..")):
                return _os_error(err, final if err.filename is None else final.parent / inside)
        return None

    def _commit(self):
        moves = []  # (source, target)
        written = datetime.datetime.now().isoformat(timespec="seconds")
        for final, staging, _ in self.parts:
            staged = staging.new(final.name)
            if not staged.exists():
                raise RuntimeError(f"{final} was staged but nothing was written to it")
            if self.step is not None:
                record = record_path(final)
                # The parts relative to the record's folder: a set moved or copied whole stays consistent.
                parts = [os.path.relpath(other.absolute(), record.parent.absolute()) for other, _, _ in self.parts]
                staged_record = staging.new(record.name)
                staged_record.write_text(json.dumps({"format": RECORD_FORMAT, "run": self.run, "step": self.step,
                                                     "written": written, "parts": parts,
                                                     "entries": entries_of(staged)}) + "\n")
                moves.append((staged_record, record))  # first: a part without its record is never new
            moves.append((staged, final))
        with contextlib.ExitStack() as locks:
            # Two runs committing into the same folders at once take turns (each folder locked, in sorted
            # order), so that their renames never interleave into a mix.
            for folder in sorted(self.stagings):
                fd = os.open(folder, os.O_RDONLY)
                locks.callback(os.close, fd)
                with contextlib.suppress(OSError):  # a file system without folder locks: readers still check
                    fcntl.flock(fd, fcntl.LOCK_EX)
            with _signals_held():
                if self.inputs is not None:
                    self.inputs.check()
                self._move_aside()
                for source, target in moves:
                    os.replace(source, target)
                for final, _, _ in self.parts if self.step is None else ():
                    forget_run(final)  # rewritten on its own, a part leaves the set its old record names

    def _move_aside(self):
        """Re-check every target at the moment of replacing it: each old folder part is moved into the staging
        folder, where nobody adds to it any more, and looked at there. If one holds anything this step may not
        replace (a file a person saved in it during the run), every folder moved is put back and the step
        refuses, nothing committed: refusing moves the person's file nowhere, and a rerun redoes the work after
        they moved it, whereas merging around it would carry it through a staging folder that a kill at that
        instant would leave for removal. File parts and records are re-checked too (a FIFO made meanwhile)."""
        moved = []
        try:
            for final, staging, replaceable in self.parts:
                if self.step is not None:
                    check_record_slot(final)
                if replaceable is None:
                    _check_output_kind(final)
                elif os.path.lexists(final):
                    os.replace(final, staging.old(final.name))
                    moved.append((staging.old(final.name), final))
                    foreign = _foreign(staging.old(final.name), replaceable)
                    if foreign:
                        raise UserError(f"{final}: {foreign!r} appeared in it while this step ran; the step replaces "
                                        f"the folder as a whole, so it wrote nothing and left {foreign!r} where it "
                                        f"is: move it out of the folder and run the step again")
        except BaseException:
            notes = [note for note in (_put_back(old, final) for old, final in reversed(moved)) if note]
            if notes:
                raise UserError(notes[0]) from None
            raise


def _put_back(old, final):
    """Return a folder moved aside to `final`; if something took that path meanwhile, to a visible name beside
    it (never left in the staging folder, which is removed), and say so."""
    try:
        os.replace(old, final)
        return None
    except OSError:
        kept = final.with_name(f"{final.name}.kept-{secrets.token_hex(4)}")
        os.replace(old, kept)
        return f"{final}: something new took this path while the step put its old folder back; that is now {kept}"


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
        try:
            return self.outputs.folder(self.final, self.replaceable)
        except BaseException as err:  # __exit__ is not called for an error here: remove what was made
            self.outputs.__exit__(type(err), err, err.__traceback__)
            raise

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
    _check_output_kind(final)
    if final.exists():
        if not final.is_dir():
            raise UserError(f"{final}: exists and is not a folder")
        foreign = _foreign(final, replaceable)
        if foreign:
            raise UserError(f"{final}: folder already holds {foreign!r}, which this step "
                            f"did not write; choose an empty or new folder")
    _check_writable(final)


def _foreign(folder, replaceable):
    """The name of an entry of `folder` that a step writing `replaceable` files did not write, or None."""
    with os.scandir(folder) as entries:
        return next((e.name for e in entries if not (e.is_file(follow_symlinks=False)
                                                      and os.path.splitext(e.name)[1].lower() in replaceable)), None)


_KINDS = {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFIFO: "a FIFO",
          stat.S_IFSOCK: "a socket"}


def _check_output_kind(path):
    """Outputs are regular files or folders, or do not exist yet: a device, a FIFO, a socket or a link to one
    (`/dev/null`, `/proc/self/fd/1`) is refused, never replaced."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return  # nothing there yet (or a dangling link, replaced like a file)
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        what = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        link = " (through a link)" if os.path.islink(path) else ""
        raise UserError(f"{path}: is {what}{link}; an output must be a regular file, a folder or a new path")


def _make_parents(path):
    """Create the missing folders above `path`; returns them, so that a failed step removes them again."""
    made = list(itertools.takewhile(lambda parent: not parent.exists(), Path(path).absolute().parents))
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _os_error(err, path, "create its folder") from None
    return made


_REASONS = {errno.EACCES: "permission denied (a read-only folder?)", errno.EROFS: "the file system is read-only",
            errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is exceeded",
            errno.ENOTDIR: "a parent of it is a file, not a folder", errno.EISDIR: "it is a folder, a file was expected",
            errno.ENOENT: "its folder does not exist", errno.ENAMETOOLONG: "the name is too long"}


def _os_error(err, path, doing="write"):
    """An OSError met while writing `path` as the one-line UserError the user can act on."""
    return UserError(f"{path}: cannot {doing}: {_REASONS.get(err.errno, err.strerror or err)}")


# --- No output over an input -----------------------------------------------------------------------------------

def check_apart(reads=(), writes=(), writes_into=()):
    """Refuse, before any work, outputs that would write over the step's inputs or over each other.

    Each argument is a list of (what, path): `what` names it for the user (an option, say). reads: files and
    folders the step reads. writes: files and folders it writes (a folder is replaced as a whole). writes_into:
    folders it writes named outputs into (created if missing; what else they hold stays). Refused: an output
    that is an input (the same path, or the same file by another name), an output that holds an input, an
    output inside a folder the step reads, an output whose run record would be an input, an output that is a
    device, a FIFO, a socket or a link to one, and two outputs on one path or one inside the other.
    """
    def real(path):
        return Path(os.path.realpath(path))

    def inside(path, folder):
        return folder in path.parents

    inputs = [(what, path, real(path), os.path.isdir(path)) for what, path in reads if path]
    outputs = [(what, path, real(path), kind) for kind, given in (("writes", writes), ("into", writes_into))
               for what, path in given if path]

    def same(a, b, a_real, b_real):
        return a_real == b_real or (os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b))

    def record_of(path):  # where OutputSet keeps the record of the output `path` (a folder's, a file's)
        name = Path(path).name
        return None if name in ("", ".", "..") else real(Path(path).parent) / f".{name}{RECORD_SUFFIX}"

    for out_what, out, out_real, kind in outputs:
        _check_output_kind(out)
        record = record_of(out) if kind == "writes" else None
        for in_what, inp, in_real, in_folder in inputs:
            if same(out, inp, out_real, in_real):
                relation = f"is also the input {inp} ({in_what})"
            elif record is not None and same(record, inp, record, in_real):
                relation = f"would keep its run record {record.name} where the input {inp} ({in_what}) is"
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
