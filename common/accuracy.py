"""The PyTorch-vs-offline accuracy check every model folder runs: figures, log, JSON, pictures, verdict.

The script resolves the offline folder the user named, once (tool_outputs.resolve_result_dir: result/bs1, an ais_bench
--output folder with a timestamped run, an msame run, or an old dumpOutput_device0), and passes the folder it
found. Reference and offline files are paired by sample
stem, whatever tool named them (tool_outputs.pair_outputs); a missing or extra file is an error. The verdict compares
the chosen metric with --threshold (0.99 by default, the bar for float16 NPU builds; ONNX Runtime in float32
reaches 0.9999 or better) and fails with exit status 1 below it.

The readable report of such a check (paired_report, drawn by common.report): the figures, the histogram of the
per-file figure, the worst files and a sample of the offline outputs. Each model's accuracy script declares its
settings once, `CHECK = AccuracyCheck(sample shape, title, metric, log
formats, ...)`, and runs `check_against_reference(CHECK, reference, offline, threshold=..., log_path=..., ...)`
with where this run writes.
"""
import dataclasses
import json
from pathlib import Path
from typing import Callable, Optional, Tuple

import numpy as np
from tqdm import tqdm

from common import fileio, images, origins, report, report_draw, similarity, staging, tool_outputs
from common.errors import CheckFailed
from common.facts import DEFAULT_THRESHOLD


def default_line(figures):
    return (f"{figures['file']} : mean ==> {figures['mean_abs']:.6f} , cos ==> {figures['cosine']:.6f} , "
            f"max ==> {figures['max_abs']:.3g}")


def verdict(what, value, threshold):
    """(passed, 'PASS: <what> <value> >= threshold <t>' or 'FAIL: ... < ...'): the verdict line every check prints."""
    passed = value >= threshold
    return passed, f"{'PASS' if passed else 'FAIL'}: {what} {value:.6f} {'>=' if passed else '<'} threshold {threshold}"


def no_fields(figures):
    return {}


@dataclasses.dataclass(frozen=True)
class AccuracyCheck:
    """One model's accuracy check: what a sample is, which figure decides, how the log reads. Each accuracy
    script declares one (`CHECK = AccuracyCheck(...)`) and, where an option changes a setting, runs
    `CHECK.but(setting=...)`.

    sample_shape: shape of one sample (files may hold several). metric: the aggregate figure the verdict
    compares with the threshold ('mean_cosine', 'mean_pixel_cosine', 'min_cosine', ...); threshold: the
    default of the script's --threshold. pixel_axis: the channel axis for the per-pixel cosine (None: none).
    line / summary_line: the log's per-file lines and its final line (the originals' formats; None: the
    metric, the count, the max difference and PSNR). fields: JSON fields computed from the aggregate figures
    (e.g. DCGAN's acc = 100 * (cos + 1) / 2). n_pictures: reference | offline | difference pictures of the
    first files. reference_subset: the reference covers only the first files of a larger offline run (every
    reference file still needs its offline partner; the report says how many offline files were checked).
    title: the HTML report's title (None: "<offline folder name>: PyTorch vs offline").
    """
    sample_shape: Tuple[int, ...]
    title: Optional[str] = None
    metric: str = "mean_cosine"
    threshold: float = DEFAULT_THRESHOLD
    pixel_axis: Optional[int] = None
    line: Callable[[dict], str] = default_line
    summary_line: Optional[Callable[[dict], str]] = None
    fields: Callable[[dict], dict] = no_fields
    n_pictures: int = 4
    reference_subset: bool = False

    def but(self, **changes):
        """This check with some settings changed (for options such as --metric or --num)."""
        return dataclasses.replace(self, **changes)

    def summary(self, agg):
        if self.summary_line is not None:
            return self.summary_line(agg)
        return (f"{self.metric} : {agg[self.metric]:.6f} over {agg['count']} files"
                + (f" (of {agg['offline_files']} offline)" if agg["offline_files"] != agg["count"] else "")
                + f", max abs diff {agg['max_abs']:.3g}, PSNR {agg['psnr']:.2f} dB")


# ------------------------------------------------------------------------------------------ the report

HEADLINE = {  # aggregate figure -> label, in the order shown
    "mean_cosine": "mean cosine", "min_cosine": "lowest cosine (worst file)",
    "max_one_minus_cosine": "largest 1 - cosine", "mean_pixel_cosine": "mean per-pixel cosine",
    "min_pixel_cosine": "lowest per-pixel cosine", "mean_abs": "mean |difference|", "max_abs": "max |difference|",
    "psnr": "PSNR (all files)", "min_psnr": "lowest PSNR (worst file)", "count": "files compared",
    "offline_files": "offline files",
}
MAX_SAMPLE = 16


def per_file_key(metric, figures):
    """The per-file figure behind an aggregate metric: mean_cosine/min_cosine -> cosine, and so on."""
    for prefix in ("mean_", "min_", "max_"):
        if metric.startswith(prefix) and metric[len(prefix):] in figures:
            return metric[len(prefix):]
    return "cosine"


def worst_files(per_file, key):
    """The per-file figures, lowest `key` first (ties keep the files' order), at most report.MAX_WORST."""
    return sorted(per_file, key=lambda f: f[key])[:report.MAX_WORST]


def offline_label(offline_dir):
    """'offline (<backend>)' from the runner's <folder>_summary.json beside the offline folder, if it says."""
    try:
        backend = json.loads(tool_outputs.run_summary_path(offline_dir).read_text(encoding="utf-8")).get("backend")
    except (OSError, ValueError, AttributeError):
        backend = None
    return f"offline ({backend})" if backend else "offline"


def headline_figures(agg, extra=None):
    """[(label, text)] of the aggregate figures (and numeric extra fields such as DCGAN's acc)."""
    rows = [(label, report.format_figure(key, agg[key])) for key, label in HEADLINE.items()
            if key in agg and not (key == "offline_files" and agg[key] == agg.get("count"))]
    for key, value in (extra or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((key, report.format_figure(key, value)))
    return rows


def paired_report(base, per_file, metric, threshold, read_pair, label="offline", read_sample=None):
    """The Report of a paired PyTorch-vs-offline check (common.accuracy): `base` (title, verdict, headline,
    notes, weights) with the histogram of the per-file figure behind `metric` (marked at `threshold`), the worst
    files drawn from `read_pair(figures) -> (reference, offline)` (figures: one entry of `per_file`, naming both
    paired files; their offline panels titled `label`), and a sample grid of the offline outputs of the first
    files (`read_sample(figures)`, default the offline half of read_pair)."""
    key = per_file_key(metric, per_file[0])
    sample = _first_outputs(per_file, read_sample or (lambda figures: read_pair(figures)[1]))
    return dataclasses.replace(
        base, histogram=_per_file_histogram(per_file, key, metric, threshold),
        worst=_worst_of(per_file, key, read_pair, label), sample=sample,
        sample_caption=f"The offline outputs of the first files ({len(sample)} "
                       f"image{'s' if len(sample) > 1 else ''}), mapped [-1, 1] -> [0, 255].")


def _per_file_histogram(per_file, key, metric, threshold):
    values = np.array([f[key] for f in per_file], dtype=np.float64)
    if "cosine" not in key:
        return report.Histogram(values, f"{key} per file", marker=threshold, marker_label=f"threshold {threshold}")
    one_minus = (np.array([f["one_minus_cosine"] for f in per_file]) if key == "cosine"
                 else np.maximum(1.0 - values, 0.0))
    return report.Histogram(one_minus, f"1 - {key.replace('_', ' ')} per file: further right is worse",
                     marker=1.0 - threshold,
                     marker_label=f"threshold: {metric} {threshold} (1 - cos = {1.0 - threshold:.3g})", log=True)


def _worst_of(per_file, key, read_pair, label):
    """The report.Worst section of the files lowest in `key`, with their figures' table."""
    lowest = worst_files(per_file, key)
    files = []
    for figures in lowest:
        reference, offline = read_pair(figures)
        caption = ("" if key == "cosine" else f"{key.replace('_', ' ')} {report.format_figure(key, figures[key])}, ") + (
                   f"1 - cosine {report.format_figure('one_minus_cosine', figures['one_minus_cosine'])}, "
                   f"max |diff| {report.format_figure('max_abs', figures['max_abs'])}, "
                   f"PSNR {report.format_figure('psnr', figures['psnr'])}")
        files.append(report.WorstFile(figures["file"], caption, reference, offline))
    table = report.Table(["file", key, "1 - cosine", "max |diff|", "PSNR"],
                  [[f["file"], report.format_figure(key, f[key]), report.format_figure("one_minus_cosine", f["one_minus_cosine"]),
                    report.format_figure("max_abs", f["max_abs"]), report.format_figure("psnr", f["psnr"])] for f in lowest],
                  caption=f"Their figures ({key} lowest first; all {len(per_file)} files in the JSON)", id="worst")
    heading = ("The only file" if len(per_file) == 1 else
               f"All {len(per_file)} files, worst first" if len(files) == len(per_file) else
               f"The {len(files)} worst of {len(per_file)} files, worst first")
    return report.Worst(files, heading, table, offline_label=label)


def _first_outputs(per_file, read_sample):
    """uint8 pictures of the first files' outputs: MAX_SAMPLE of them, 4 when an output is larger than 512."""
    sample, limit = [], MAX_SAMPLE
    for figures in per_file:
        for output in report_draw.samples(read_sample(figures)):
            if max(output.shape[-2:]) > 512:
                limit = 4
            sample.append(images.to_uint8(output))
        if len(sample) >= limit:
            break
    return sample[:limit]


# ------------------------------------------------------------------------------------------ the check

def _write_pictures(per_file, shape, staged, pictures_dir):
    """reference | offline | difference pictures of the files the comparison paired, into the staged folder;
    returns the paths they will have."""
    pictures = []
    for figures in per_file:
        ref = fileio.read_array(figures["reference_path"], shape=shape)[0]
        off = fileio.read_array(figures["path"], shape=shape)[0]
        picture, _ = images.side_by_side(ref, off)
        name = f"{fileio.stem(figures['file'])}_compare.png"
        images.save_image(staged / name, picture, atomic=False)
        pictures.append(str(Path(pictures_dir) / name))
    return pictures


def check_against_reference(check, reference_dir, offline_dir, *, threshold=None, log_path=None, json_path=None,
                            pictures_dir=None, report_path=None, extra=None):
    """Run `check` (an AccuracyCheck): compare `offline_dir` (a folder tool_outputs.resolve_result_dir returned) with
    `reference_dir` file by file and write the results where asked.

    threshold: the bar (default: the check's). log_path, json_path, pictures_dir, report_path: where the log,
    the JSON, the comparison pictures and the HTML report (its PNG sheet beside it, see common.report) go, or
    None for none. extra: more JSON fields of this run.
    Returns the aggregate figures; raises CheckFailed when the metric is below the threshold.
    """
    threshold = check.threshold if threshold is None else threshold
    metric, sample_shape, pixel_axis = check.metric, check.sample_shape, check.pixel_axis
    offline_dir = Path(offline_dir)
    shape = (-1, *sample_shape)
    per_file, agg = similarity.compare_dirs(reference_dir, offline_dir, shape, pixel_axis=pixel_axis,
                                            progress=lambda pairs: tqdm(pairs, desc="Comparing", unit="file"),
                                            reference_subset=check.reference_subset)
    agg["offline_files"] = len(fileio.list_data_files(offline_dir, tool_outputs.OUTPUT_EXTS))
    if metric not in agg:
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(agg)}")
    passed, verdict_line = verdict(metric, agg[metric], threshold)
    final = check.summary(agg)

    pictures = []
    extra = {**check.fields(agg), **(extra or {})}
    weights = origins.weights()  # stand-in weights are said first in the report, the log and the JSON
    # The pictures, the report, the log and the JSON appear together, or none of them does.
    with staging.OutputSet() as outputs:
        staged_pictures = outputs.folder(pictures_dir, replaceable=(".png",)) if pictures_dir is not None else None
        staged_report = report.report_parts(outputs, report_path) if report_path is not None else None
        staged_log = outputs.file(log_path) if log_path is not None else None
        staged_json = outputs.file(json_path) if json_path is not None else None
        if staged_pictures is not None:
            pictures = _write_pictures(per_file[:check.n_pictures], shape, staged_pictures, pictures_dir)
        if staged_report is not None:
            def read_pair(figures):  # the two files the comparison paired (their names may differ by tool)
                return (fileio.read_array(figures["reference_path"], shape=shape),
                        fileio.read_array(figures["path"], shape=shape))

            base = report.Report(
                check.title or f"{offline_dir.name}: PyTorch vs offline", verdict_line, passed=passed,
                headline=headline_figures(agg, extra), weights=weights,
                notes=[f"reference: {reference_dir}", f"offline:   {offline_dir}", f"log:       {log_path}",
                       f"JSON:      {json_path}"])
            report.write_report(report_path, paired_report(base, per_file, metric, threshold, read_pair,
                                                                  offline_label(offline_dir)), staged_report)
        if staged_log is not None:
            lines = [*origins.log_lines(weights), *(check.line(f) for f in per_file), final, verdict_line]
            Path(staged_log).write_text("\n".join(lines) + "\n")
        if staged_json is not None:
            fileio.write_json(staged_json, {**origins.json_fields(weights), "reference": str(reference_dir),
                                           "offline": str(offline_dir), "metric": metric, "threshold": threshold,
                                           "passed": passed, "aggregate": agg, "pictures": pictures,
                                           "report": None if report_path is None else str(report_path), **extra,
                                           "files": per_file}, atomic=False)
    print(final)
    if pictures:
        print(f"comparison pictures: {Path(pictures_dir)}")
    for path in (log_path, json_path, report_path):
        if path is not None:
            print(f"written: {path}" + (f" (and {report.png_path(path).name})" if path is report_path else ""))
    if not passed:
        raise CheckFailed(verdict_line)
    print(verdict_line)
    return agg
