"""The inference tools' output folders, as the steps after inference read them: ais_bench and common/infer.py
(`<stem>_<i>`, a YYYY_MM_DD-hh_mm_ss run folder), msame (`<stem>_output_<i>`, an unpadded timestamp folder) and
the old benchmark tool (`<stem>_<i+1>` in dumpOutput_device<d>): output_files, pair_outputs and
resolve_result_dir read all three; read_output refuses NaN/Inf and another model's output."""
import datetime
import re
import sys
from pathlib import Path

import numpy as np

from common import origins, records
from common.errors import UserError
from common.fileio import list_data_files, natural_key, read_array, read_json, stem

# What the inference tools write: raw .bin, .npy (ais_bench/our runner --outfmt NPY), space-separated .txt
# (msame --outfmt TXT, ais_bench/our runner --outfmt TXT, the benchmark tool's -output_binary=False).
OUTPUT_EXTS = (".bin", ".npy", ".txt")
# ais_bench names its output folder time.strftime("%Y_%m_%d-%H_%M_%S") when --output_dirname is not given.
AIS_TIMESTAMP = re.compile(r"^\d{4}_\d{2}_\d{2}-\d{2}_\d{2}_\d{2}$")
# The closed `benchmark` binary writes result/dumpOutput_device<d>/.
BENCHMARK_DIR = re.compile(r"^dumpOutput_device\d+$")
# msame names its output folder year + month + day + "_" + h + "_" + m + "_" + s + "_" + usec, unpadded.
MSAME_TIMESTAMP = re.compile(r"^(\d{4})(\d{2,4})_(\d{1,2})_(\d{1,2})_(\d{1,2})_(\d{1,6})$")

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
    The folder the runner wrote must still be the one its summary describes (records.check_same_run). Only
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
    records.check_same_run(chosen)
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
