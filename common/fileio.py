"""The file layer: tensors in .bin/.npy/.txt files, JSON and text, listings and pairing.

A `.bin` file is headerless little-endian C-order data (float32 unless a model says otherwise), one sample
or one batch per file, as the Ascend tools read and write it. Listings are natural-sorted; files pair by name
or position, and a missing partner is an error. Every write here is atomic (common.staging); reads check sizes
against memory first. The tools' output folders are read by common/tool_outputs.py, large .npz files by
common/npz.py.
"""
import json
import math
import os
import re
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

from common import origins, records, room, staging
from common.errors import UserError
from common.staging import DATA_EXTS  # the tensor files: .bin and .npy


def natural_key(name):
    """Sort key that orders 'noise_2' before 'noise_10', as ais_bench's natural_sort does."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(name))]


def list_data_files(directory, exts=DATA_EXTS, require=True):
    """The data files of `directory` (no recursion), natural-sorted, filtered by extension (any case). Hidden
    names are not data (the records beside outputs, macOS's ._ files). An entry with a data name that is not a
    regular file (a FIFO, a device, a folder) or whose name is not UTF-8 is an error, never skipped."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"{directory}: no such folder{origins.hint(directory)}")
    files = [p for p in directory.iterdir() if p.suffix.lower() in exts and not p.name.startswith(".")]
    for path in files:  # a FIFO, a device or a folder named like data would block, never end, or be skipped
        check_name(path)
        if not path.is_file():
            kind = "a folder" if path.is_dir() else "a broken link" if not path.exists() else "not a regular file"
            raise UserError(f"{path}: {kind}, where {directory} should hold only data files of that name")
    files.sort(key=lambda p: natural_key(p.name))
    if require and not files:
        raise UserError(f"{directory}: no {'/'.join(exts)} files in this folder")
    return files


def require_file(path, what="file"):
    """`path` must be a regular file: a missing one, a folder, a FIFO or a device (which would block a reader, or
    never end) is one line saying which."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such {what}{origins.hint(path)}")
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file (a FIFO, a device or a socket)"
        raise UserError(f"{path}: {kind}; expected a {what}")
    return path


def printable(path):
    """A path as text that can be printed and written anywhere (bytes that are not UTF-8 shown as U+FFFD)."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def check_name(path):
    """A file name the logs, JSON and reports can carry: valid UTF-8 (else one line naming it)."""
    try:
        Path(path).name.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"{printable(path)}: the file name is not valid UTF-8; rename it") from None


def stem(path):
    """The name up to its first dot, as ais_bench names outputs: 'a.b.bin' -> 'a'."""
    return Path(path).name.split(".")[0]


def check_unique_stems(files, written_as):
    """Outputs are named after a file's name up to its first dot: two files with one such stem (s.v1.bin and
    s.v2.bin) would be written to the same output names, the second over the first. `written_as(stem)` says
    how (for the error)."""
    seen = {}
    for path in files:
        other = seen.setdefault(stem(path), path)
        if other is not path:
            raise UserError(f"{path}: would be written as {written_as(stem(path))} like {other.name} (its name up to "
                            f"the first dot); rename one of the two")


def output_name(input_path, index, ext="bin"):
    """ais_bench's output file name for output `index` of the sample read from `input_path`."""
    return f"{stem(input_path)}_{index}.{ext.lower()}"


def _expected_description(shape, dtype):
    return f"{tuple(shape)} {np.dtype(dtype).name}"


# What one byte of a text file can become once read and parsed (its str, then the words, lines or JSON values
# made of it: "[]," makes a 56-byte list and its slot, measured at 24 bytes a byte), for the memory check.
TEXT_IN_MEMORY = 32


def check_size(path, what, per_byte=1):
    """Refuse, before reading any of it, a file that would need more memory than this machine has once read
    (`per_byte` bytes of memory for each byte of it): a sparse 1 TiB file costs nothing on disk."""
    size = os.stat(path).st_size
    room.check_memory(size * per_byte, f"{path} ({what}, {size} bytes)")
    return size


def read_text(path, what, encoding="utf-8"):
    """The text of a file (`what`: "run summary", ".info file", as an error names it), checked against memory
    before it is read; a file that is not text in `encoding` is one line."""
    path = require_file(path, what)
    check_size(path, what, TEXT_IN_MEMORY)
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file; expected a {what}") from None


def read_json(path, what):
    """The JSON of `what` (a run summary, a report), checked against memory before it is read; a file that is
    not JSON, or nests deeper than Python's recursion limit (200,000 '[' in a row), is one line."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except ValueError as err:
        raise UserError(f"{path}: not a readable {what} ({err})") from None
    except RecursionError:
        raise UserError(f"{path}: nested too deeply for a {what}") from None


def _read_txt(path, dtype):
    """Whitespace-separated numbers, as msame and ais_bench write TXT outputs (one row per innermost line)."""
    check_size(path, "TXT output", TEXT_IN_MEMORY)
    try:
        words = path.read_text(encoding="ascii").split()
        numbers = np.array(words, dtype=np.float64 if dtype.kind == "f" else np.int64)
    except (UnicodeDecodeError, ValueError, OverflowError):
        raise UserError(f"{path}: expected whitespace-separated numbers (a TXT output)") from None
    return numbers.astype(dtype)


def _check_npy(path):
    """An .npy file's header against its size and the memory, before np.load allocates what it claims."""
    with open(path, "rb") as handle:
        try:
            version = npformat.read_magic(handle)
            read_header = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
            shape, _, dtype = read_header(handle)
        except ValueError as err:
            raise UserError(f"{path}: not a readable .npy file ({err})") from None
        claimed = math.prod(shape) * dtype.itemsize  # Python ints: a claim of 10**14 values does not wrap
        held = os.fstat(handle.fileno()).st_size - handle.tell()
    if claimed != held:
        raise UserError(f"{path}: its header claims {shape} {dtype.name} ({claimed} bytes) but it holds {held} bytes")
    room.check_memory(claimed, f"{path} (.npy array, {claimed} bytes)")


def read_array(path, dtype=np.float32, shape=None):
    """Read a .bin (raw), .npy or .txt (whitespace-separated numbers) file and check it against `shape`.

    `shape` may start with -1 for "any number of samples of this shape". A file whose size does not match is
    an error naming the file, its size and what was expected.
    """
    path = require_file(path)
    dtype = np.dtype(dtype)
    if path.suffix.lower() == ".npy":
        _check_npy(path)
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise UserError(f"{path}: not a readable .npy file ({err})") from None
        if array.dtype != dtype:
            raise UserError(f"{path}: holds {array.dtype.name} data, expected {dtype.name}")
        array = np.ascontiguousarray(array)
    elif path.suffix.lower() == ".txt":
        array = _read_txt(path, dtype)
    else:
        nbytes = check_size(path, ".bin file")
        if nbytes % dtype.itemsize:
            raise UserError(f"{path}: {nbytes} bytes is not a whole number of {dtype.name} values")
        array = np.fromfile(path, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False)
    if shape is None:
        return array
    shape = tuple(int(d) for d in shape)
    per_item = math.prod(d for d in shape if d != -1)
    if shape.count(-1) > 1 or (-1 in shape and shape[0] != -1):
        raise ValueError(f"only a leading -1 is supported in shape {shape}")
    if path.suffix.lower() == ".txt":  # sizes in numbers, as a text file holds them
        held, each = f"{array.size} numbers", f"{per_item} numbers"
    else:
        held, each = f"{array.size * dtype.itemsize} bytes", f"{per_item * dtype.itemsize} bytes"
    if -1 in shape:
        if array.size == 0 or array.size % per_item:
            raise UserError(f"{path}: {held} is not a whole number of samples of "
                            f"{_expected_description(shape[1:], dtype)} ({each} each)")
    elif array.size != per_item:
        raise UserError(f"{path}: {held}, expected {each} for {_expected_description(shape, dtype)}")
    return array.reshape(shape)


def _write_array_to(target, array, ext):
    # A failed write names the file with its errno (numpy's tofile says only "N requested and M written"), so
    # that the staging.OutputSet it is part of names the output and the reason (a full disk).
    try:
        if ext == ".npy":
            with open(target, "wb") as handle:
                np.save(handle, array)
        elif ext == ".txt":
            rows = array.reshape(-1, array.shape[-1]) if array.ndim > 1 else array.reshape(1, -1)
            fmt = "%f" if np.issubdtype(array.dtype, np.floating) else "%d"
            np.savetxt(target, rows, fmt=fmt, delimiter=" ")
        else:
            with open(target, "wb") as handle:
                handle.write(np.ascontiguousarray(array).data)
    except OSError as err:
        if err.filename is not None:
            raise
        raise OSError(err.errno, err.strerror or str(err), str(target)) from None


def write_array(path, array, atomic=True):
    """Write `array` as .bin (raw little-endian), .npy or .txt (ais_bench's TXT rows), chosen by extension.

    With `atomic` (the default) the data goes to a temporary name first and is renamed into place. Inside an
    staging.AtomicDir the folder itself is the unit of atomicity, so callers pass atomic=False there.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    ext = path.suffix.lower()
    if not atomic:
        _write_array_to(path, array, ext)
        return path
    with staging.atomic_path(path) as tmp:
        _write_array_to(tmp, array, ext)
    return path


def pair_by_name(dir_a, dir_b, exts=DATA_EXTS, partner_name=None, subset=False):
    """Pair the data files of two folders by file name; any file without a partner is an error.

    `partner_name(name_in_a)` maps a name in `dir_a` to the name expected in `dir_b` (identity by default).
    Both folders must hold exactly the paired files: an extra file on either side is an error too, since
    it means the two runs did not see the same inputs. With `subset`, `dir_a` may cover only part of `dir_b`
    (a reference computed for the first samples of a large run); every file of `dir_a` still needs its partner.
    """
    files_a = list_data_files(dir_a, exts)
    files_b = {p.name: p for p in list_data_files(dir_b, exts)}
    pairs = []
    for path_a in files_a:
        wanted = partner_name(path_a.name) if partner_name else path_a.name
        path_b = files_b.pop(wanted, None)
        if path_b is None:
            raise UserError(f"{Path(dir_b) / wanted}: missing, expected as the partner of {path_a}")
        pairs.append((path_a, path_b))
    if files_b and not subset:
        extra = sorted(files_b, key=natural_key)[0]
        raise UserError(f"{Path(dir_b) / extra}: has no partner in {dir_a} "
                        f"({len(files_b)} unpaired file(s)); the two folders must hold the same samples")
    return pairs


def pair_by_position(directories):
    """One list of data files per folder, paired by position after natural sort, as ais_bench pairs them.

    The folders must hold the same number of files, and the i-th files must share their name up to the first
    dot (ais_bench does not check this; a mismatch means the folders do not describe the same samples).
    Folders that one step wrote together must still be from one run (records.check_same_run).
    """
    records.check_same_run(*directories)
    lists = [list_data_files(d) for d in directories]
    for directory, files in zip(directories[1:], lists[1:]):
        if len(files) != len(lists[0]):
            raise UserError(f"{directory}: holds {len(files)} files but {directories[0]} holds {len(lists[0])}; "
                            f"every input folder needs one file per sample")
        for first, other in zip(lists[0], files):
            if stem(first) != stem(other):
                raise UserError(f"{other}: pairs by position with {first}, but the names differ; the input "
                                f"folders must hold the same sample names")
    return lists


def _json_safe(obj):
    """JSON has no Infinity or NaN: write them as the strings "inf", "-inf", "nan" (e.g. PSNR of identical
    outputs), and numpy scalars as plain numbers."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return "nan" if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path, obj, atomic=True):
    """Write `obj` as indented JSON, with non-finite floats as strings; atomically unless the path is already a
    temporary one (an staging.OutputSet part)."""
    text = json.dumps(_json_safe(obj), indent=2, allow_nan=False) + "\n"
    if not atomic:
        Path(path).write_text(text)
        return Path(path)
    return staging.write_text(path, text)

