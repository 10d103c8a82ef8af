"""The file layer: tensors in .bin/.npy/.txt files, JSON, text and .npz, the tools' output layouts, pairing.

A `.bin` file is headerless little-endian C-order data (float32 unless a model says otherwise), one sample
or one batch per file, as the Ascend tools read and write it. Listings are natural-sorted; files pair by name
or position, and a missing partner is an error. ais_bench, msame and the old benchmark tool each name their
outputs and result folders their own way: output_files, pair_outputs and resolve_result_dir read all three.
Every write here is atomic (common.staging); read_output refuses NaN/Inf and another model's output.
"""
import contextlib
import datetime
import io
import json
import math
import os
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

from common import origins, staging
from common.errors import UserError
from common.staging import DATA_EXTS  # the tensor files: .bin and .npy

# What the inference tools write: raw .bin, .npy (ais_bench/our runner --outfmt NPY), space-separated .txt
# (msame --outfmt TXT, ais_bench/our runner --outfmt TXT, the benchmark tool's -output_binary=False).
OUTPUT_EXTS = (".bin", ".npy", ".txt")
# ais_bench names its output folder time.strftime("%Y_%m_%d-%H_%M_%S") when --output_dirname is not given.
AIS_TIMESTAMP = re.compile(r"^\d{4}_\d{2}_\d{2}-\d{2}_\d{2}_\d{2}$")
# The closed `benchmark` binary writes result/dumpOutput_device<d>/.
BENCHMARK_DIR = re.compile(r"^dumpOutput_device\d+$")
# msame names its output folder year + month + day + "_" + h + "_" + m + "_" + s + "_" + usec, unpadded.
MSAME_TIMESTAMP = re.compile(r"^(\d{4})(\d{2,4})_(\d{1,2})_(\d{1,2})_(\d{1,2})_(\d{1,6})$")


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
    staging.check_memory(size * per_byte, f"{path} ({what}, {size} bytes)")
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
    from numpy.lib import format as npformat

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
    staging.check_memory(claimed, f"{path} (.npy array, {claimed} bytes)")


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
    Folders that one step wrote together must still be from one run (staging.check_same_run).
    """
    staging.check_same_run(*directories)
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


# Output file names, per tool. msame: <stem>_output_<i>.bin|.txt; the old benchmark tool (its folder is
# dumpOutput_device<d>): <stem>_<i+1>.bin|.txt; ais_bench and common/infer.py: <stem>_<i>.bin|.npy|.txt.
_MSAME_NAME = re.compile(r"^(?P<stem>.+)_output_(?P<index>\d+)$")
_INDEXED_NAME = re.compile(r"^(?P<stem>.+)_(?P<index>\d+)$")
CONVENTIONS = {
    "ais_bench": ("<stem>_<index>", 0),
    "msame": ("<stem>_output_<index>", 0),
    "benchmark": ("<stem>_<index + 1>", 1),
}


def _scan_outputs(result_dir):
    """(convention, {(sample stem, output index): path}) for the output files of `result_dir`.

    The convention is the benchmark tool's when the folder is named dumpOutput_device<d>, msame's when the
    names end in _output_<i>, ais_bench's otherwise. A folder mixing conventions, a .bin/.npy name that fits
    none, or two files for the same sample and output (x_0.bin and x_0.npy) is an error naming the file; a .txt
    whose name fits none is taken for a log and left alone.
    """
    result_dir = Path(result_dir)
    files = list_data_files(result_dir, OUTPUT_EXTS)
    # a .txt without an index is a log or notes beside the outputs (text outputs always carry one)
    files = [p for p in files if p.suffix.lower() != ".txt" or _INDEXED_NAME.match(stem(p))]
    msame = [p for p in files if _MSAME_NAME.match(stem(p))]
    if msame and len(msame) != len(files):
        other = next(p for p in files if not _MSAME_NAME.match(stem(p)))
        raise UserError(f"{other}: {result_dir} mixes msame outputs ({msame[0].name}) with other names; "
                        f"keep one tool's outputs per folder")
    if msame:
        convention, pattern = "msame", _MSAME_NAME
    else:
        convention = "benchmark" if BENCHMARK_DIR.match(result_dir.name) else "ais_bench"
        pattern = _INDEXED_NAME
    offset = CONVENTIONS[convention][1]
    found = {}
    for path in files:
        match = pattern.match(stem(path))
        if match is None or int(match["index"]) < offset:
            raise UserError(f"{path}: not an output file name of {convention} "
                            f"({CONVENTIONS[convention][0]}.bin); a folder of outputs must hold only outputs")
        key = (match["stem"], int(match["index"]) - offset)
        if key in found:
            raise UserError(f"{path}: a second file for output {key[1]} of sample {key[0]!r} "
                            f"(the other is {found[key].name}); keep one format per folder")
        found[key] = path
    return convention, found


def run_summary_path(result_dir):
    """Where the runner (and ais_bench) put the summary of the run that wrote `result_dir`: beside it, as
    `<folder name>_summary.json`."""
    result_dir = Path(result_dir)
    return result_dir.parent / f"{result_dir.name}_summary.json"


_recorded = {}  # (summary path, its mtime) -> {output file name: shape the runner wrote it with}


def _recorded_shapes(folder):
    """The shape of each output file as the runner recorded it in `<folder>_summary.json` ("outshapes"; ais_bench,
    msame and the benchmark tool record none)."""
    summary_path = run_summary_path(Path(folder).resolve())
    try:
        key = (summary_path, summary_path.stat().st_mtime_ns)
    except OSError:
        return {}
    if key not in _recorded:
        shapes = {}
        summary = read_json(summary_path, "run summary")  # too large, not JSON, too deep: one line
        try:
            for info in summary["filesinfo"].values():
                for outfile, shape in zip(info["outfiles"], info.get("outshapes", ())):
                    shapes[Path(outfile).name] = tuple(shape)
        except (KeyError, TypeError, AttributeError):  # another tool's summary: it records no shapes
            shapes = {}
        _recorded[key] = shapes
    return _recorded[key]


def read_output(path, sample_shape, dtype=np.float32, count=None):
    """An output file of a generator as (N, *sample_shape) samples, for the steps that turn outputs into images
    or figures. NaN or Inf is an error naming the file. Where the runner's summary recorded the file's shape,
    the samples must be exactly that: another model's output of a size that happens to divide evenly (a GAN
    batch of 64 28x28 images is 49 DCGAN 32x32 images by size) is refused. `count`: the exact number of
    samples the file must hold, where the step knows it."""
    path = Path(path)
    sample_shape = tuple(sample_shape)
    recorded = _recorded_shapes(path.parent).get(path.name)
    if recorded is not None and recorded[1:] != sample_shape:
        raise UserError(f"{path}: the runner wrote it as {recorded} ({path.parent.name}_summary.json), but this "
                        f"step expects samples of {sample_shape}: the output of another model?")
    samples = read_array(path, dtype, (-1 if count is None else count, *sample_shape))
    if np.issubdtype(samples.dtype, np.floating):
        bad = int(samples.size - np.count_nonzero(np.isfinite(samples)))
        if bad:
            raise UserError(f"{path}: {bad} of its {samples.size} values are NaN or Inf; expected finite model "
                            f"outputs (a broken model or an fp16 overflow: see the README's precision section)")
    return samples


def output_name_in(convention, sample, index, ext=".bin"):
    """The file name `convention` gives output `index` (0-based) of sample `sample`."""
    pattern, offset = CONVENTIONS[convention]
    return pattern.replace("<stem>", sample).replace("<index>", str(index)).replace(
        "<index + 1>", str(index + offset)) + ext


def output_files(result_dir, index=0):
    """{input stem: Path of output `index` of that sample} for a folder of inference outputs.

    The naming is detected per tool: a `dumpOutput_device<d>` folder is the old benchmark tool's
    (`<stem>_<index+1>.bin`, first output `_1`); `<stem>_output_<index>.bin|.txt` is msame's; anything else is
    ais_bench's and common/infer.py's `<stem>_<index>.bin|.npy|.txt`. A folder mixing conventions, or holding
    two files for one stem, is an error. The dict is in natural order of the stems.
    """
    _, found = _scan_outputs(result_dir)
    return {s: p for (s, i), p in found.items() if i == index}


def pair_outputs(reference_dir, offline_dir, subset=False):
    """Pair two folders of outputs by sample stem and output index, whatever tool named each one.

    Every reference output needs its offline partner; an offline output without a reference is an error too
    (the two runs did not see the same inputs) unless `subset`, where the reference covers part of the run.
    Returns [(reference path, offline path)] in natural order.
    """
    _, reference = _scan_outputs(reference_dir)
    convention, offline = _scan_outputs(offline_dir)
    ext = next(iter(offline.values())).suffix
    pairs = []
    for key, ref_path in reference.items():
        off_path = offline.pop(key, None)
        if off_path is None:
            wanted = Path(offline_dir) / output_name_in(convention, key[0], key[1], ext)
            raise UserError(f"{wanted}: missing, expected as the partner of {ref_path}")
        pairs.append((ref_path, off_path))
    if offline and not subset:
        extra = next(iter(offline.values()))
        raise UserError(f"{extra}: has no partner in {reference_dir} ({len(offline)} unpaired file(s)); "
                        f"the two folders must hold the same samples")
    return pairs


def _msame_run_time(path):
    """The time of an msame run folder. Month and day are unpadded, so '2021118' may be 1 Nov 18 or 11 Jan 8:
    of the readings that are valid dates, the one nearest the folder's modification time is taken."""
    match = MSAME_TIMESTAMP.match(path.name)
    if match is None:
        return None
    year, month_day, hour, minute, second, usec = match.groups()
    readings = []
    for cut in range(1, len(month_day)):
        try:
            readings.append(datetime.datetime(int(year), int(month_day[:cut]), int(month_day[cut:]), int(hour),
                                              int(minute), int(second), int(usec)))
        except ValueError:
            continue
    if not readings:
        return None
    mtime = datetime.datetime.fromtimestamp(path.stat().st_mtime)
    return min(readings, key=lambda t: abs((t - mtime).total_seconds()))


def _parse_run_time(path):
    if AIS_TIMESTAMP.match(path.name):
        return datetime.datetime.strptime(path.name, "%Y_%m_%d-%H_%M_%S")
    return _msame_run_time(path)


def _note(text):
    print(f"note: {text}", file=sys.stderr)


def resolve_result_dir(path, exts=OUTPUT_EXTS):
    """Find the folder that holds inference outputs, the way users meet them, and say which one when it is
    not `path` itself.

    Accepts the output folder itself (`result/bs1`), a `--output` folder holding ais_bench
    `%Y_%m_%d-%H_%M_%S` or msame `2021118_17_5_9_123456` run folders (the newest by parsed time is taken),
    or a folder holding the old benchmark tool's `dumpOutput_device<d>`. A missing `.../dumpOutput_device<d>`
    (an old README pointing where ais_bench no longer writes) falls back to the newest run beside it.
    The folder the runner wrote must still be the one its summary describes (staging.check_same_run). Only
    reads: nothing is changed.
    """
    path = Path(path)
    if not path.is_dir() and BENCHMARK_DIR.match(path.name) and path.parent.is_dir():
        try:
            chosen, why = _resolve_below(path.parent, exts)
        except UserError:
            raise UserError(f"{path}: no such folder, and no run folder with outputs beside it"
                            f"{origins.hint(path)}") from None
        _note(f"{path} does not exist (the old benchmark tool's folder); using {chosen} ({why})")
    elif not path.is_dir():
        raise UserError(f"{path}: no such folder{origins.hint(path)}")
    elif list_data_files(path, exts, require=False):
        chosen = path
    else:
        chosen, why = _resolve_below(path, exts)
        _note(f"using {chosen} ({why})")
    staging.check_same_run(chosen)
    return chosen


def _resolve_below(path, exts):
    """(folder, why): the run folder below `path` that holds the outputs, the newest timestamped run or the
    only dumpOutput_device<d>, and how it was chosen."""
    subdirs = [p for p in path.iterdir() if p.is_dir() and list_data_files(p, exts, require=False)]
    runs = sorted((t, p) for p in subdirs for t in [_parse_run_time(p)] if t is not None)
    if runs:
        chosen = runs[-1][1]
        return chosen, (f"the newest of {len(runs)} timestamped runs" if len(runs) > 1 else "the only run")
    dumps = sorted((p for p in subdirs if BENCHMARK_DIR.match(p.name)), key=lambda p: natural_key(p.name))
    if len(dumps) == 1:
        return dumps[0], "the benchmark tool's output folder"
    if len(dumps) > 1:
        raise UserError(f"{path}: holds several benchmark outputs ({', '.join(p.name for p in dumps)}); "
                        f"name the one to use")
    hint = f"; did you mean {', '.join(str(p) for p in subdirs)}?" if subdirs else ""
    raise UserError(f"{path}: no {'/'.join(exts)} outputs here, nor in a timestamped run folder "
                    f"(ais_bench YYYY_MM_DD-hh_mm_ss, msame YYYYMD_h_m_s_us) or dumpOutput_device<d> below it{hint}")


# Large arrays in .npz files, streamed: BigGAN's 50,000 outputs are 9.8 GB of float32.

class NpzArrayWriter:
    """Stream one array of known shape into an uncompressed .npz, in chunks, without holding it in memory.

    50,000 BigGAN outputs are 9.8 GB of float32: np.savez would need all of them in memory at once. The file
    is written under a temporary name and renamed into place only when every row has been written.

        with NpzArrayWriter("gen_img_bs1.npz", "x", (50000, 3, 128, 128)) as writer:
            writer.write(batch)          # (k, 3, 128, 128) float32, in order
    """

    def __init__(self, path, key, shape, dtype=np.float32, staged=None):
        """`staged`: a path from staging.OutputSet.file to write instead; the set then commits it with the others."""
        self.path = Path(path)
        self.key = key
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self.staged = staged
        self.commit = contextlib.ExitStack()  # staging.atomic_path of the file, when it is not a staged part

    def __enter__(self):
        from numpy.lib import format as npformat

        tmp = self.staged if self.staged is not None else self.commit.enter_context(staging.atomic_path(self.path))
        self.zip = zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self.member = self.zip.open(f"{self.key}.npy", "w", force_zip64=True)
        npformat.write_array_header_2_0(self.member, {"descr": npformat.dtype_to_descr(self.dtype),
                                                      "fortran_order": False, "shape": self.shape})
        return self

    def write(self, rows):
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.shape[1:] or self.rows + rows.shape[0] > self.shape[0]:
            raise ValueError(f"{self.path}: rows of shape {rows.shape} do not fit the declared {self.shape} "
                             f"after {self.rows} rows")
        self.member.write(rows.tobytes())
        self.rows += rows.shape[0]

    def __exit__(self, exc_type, exc, tb):
        try:
            self.member.close()
            self.zip.close()
            if exc_type is None and self.rows != self.shape[0]:
                raise ValueError(f"{self.path}: {self.rows} rows written, {self.shape[0]} declared")
        except BaseException as err:
            self.commit.__exit__(type(err), err, err.__traceback__)  # the temporary file goes, nothing is renamed
            raise
        self.commit.__exit__(exc_type, exc, tb)
        return False


def npz_array_info(path, key):
    """(shape, dtype) of array `key` of an .npz, read from its header only."""
    with _open_npz_member(path, key) as (shape, dtype, _):
        return shape, dtype


class _open_npz_member:
    def __init__(self, path, key):
        self.path, self.key = Path(path), key

    def __enter__(self):
        from numpy.lib import format as npformat

        require_file(self.path, "npz file")
        try:
            self.zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as err:
            raise UserError(f"{self.path}: not a readable npz file ({err})") from None
        names = [n[:-4] for n in self.zip.namelist() if n.endswith(".npy")]
        if self.key not in names:
            self.zip.close()
            raise UserError(f"{self.path}: expected an array {self.key!r}, found "
                            f"{', '.join(repr(n) for n in names) or 'none'}")
        self.member = self.zip.open(f"{self.key}.npy")
        try:
            version = npformat.read_magic(self.member)
            read_header = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
            shape, fortran, dtype = read_header(self.member)
        except ValueError as err:
            self.__exit__(None, None, None)
            raise UserError(f"{self.path}: array {self.key!r} has an unreadable header ({err})") from None
        if fortran or dtype.hasobject or not shape:
            self.__exit__(None, None, None)
            raise UserError(f"{self.path}: array {self.key!r} must be a C-ordered numeric array of samples")
        return shape, dtype, self.member

    def __exit__(self, exc_type, exc, tb):
        self.member.close()
        self.zip.close()
        return False


def iter_npz_batches(path, key, batch_size, limit=None):
    """Yield the first `limit` rows (all by default) of array `key` of an .npz in batches, streaming from disk."""
    with _open_npz_member(path, key) as (shape, dtype, member):
        count = shape[0] if limit is None else limit
        row_bytes = math.prod(shape[1:]) * dtype.itemsize
        done = 0
        while done < count:
            k = min(batch_size, count - done)
            data = member.read(k * row_bytes)
            if len(data) != k * row_bytes:
                raise UserError(f"{path}: array {key!r} ends after {done} of its {shape[0]} declared rows")
            yield np.frombuffer(bytearray(data), dtype=dtype).reshape(k, *shape[1:])
            done += k


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


def write_npz(path, atomic=True, **arrays):
    """Write `arrays` as an uncompressed .npz at exactly `path` (np.savez adds .npz to a name without it);
    atomically unless the path is already a temporary one (an staging.OutputSet part). An array too large for
    memory goes through NpzArrayWriter instead."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    if not atomic:
        Path(path).write_bytes(buffer.getvalue())
        return Path(path)
    return staging.write_bytes(path, buffer.getvalue())


def write_json(path, obj, atomic=True):
    """Write `obj` as indented JSON, with non-finite floats as strings; atomically unless the path is already a
    temporary one (an staging.OutputSet part)."""
    text = json.dumps(_json_safe(obj), indent=2, allow_nan=False) + "\n"
    if not atomic:
        Path(path).write_text(text)
        return Path(path)
    return staging.write_text(path, text)

