"""The PyTorch-vs-offline accuracy check every model folder runs: figures, log, JSON, pictures, verdict.

The offline folder may be given the way users meet it (result/bs1, an ais_bench --output folder with a
timestamped run, an msame run, or an old dumpOutput_device0). Reference and offline files are paired by sample
stem, whatever tool named them (binio.pair_outputs); a missing or extra file is an error. The verdict compares
the chosen metric with --threshold (0.99 by default, the bar for float16 NPU builds; ONNX Runtime in float32
reaches 0.9999 or better) and fails with exit status 1 below it.
"""
from pathlib import Path

from tqdm import tqdm

from common import binio, images, report, similarity
from common.cli import CheckFailed

DEFAULT_THRESHOLD = 0.99


def default_line(figures):
    return (f"{figures['file']} : mean ==> {figures['mean_abs']:.6f} , cos ==> {figures['cosine']:.6f} , "
            f"max ==> {figures['max_abs']:.3g}")


def check_against_reference(reference_dir, offline_dir, sample_shape, *, threshold=DEFAULT_THRESHOLD,
                            metric="mean_cosine", log_path=None, json_path=None, line=default_line,
                            summary_line=None, pixel_axis=None, pictures_dir=None, n_pictures=4, extra=None,
                            reference_subset=False, report_path=None, title=None):
    """Compare `offline_dir` with `reference_dir` file by file and write the report.

    sample_shape: shape of one sample (files may hold several). metric: the aggregate figure the verdict
    uses ('mean_cosine', 'mean_pixel_cosine', ...). line / summary_line: format per-file lines and the final
    line of the log (the originals' formats). pictures_dir: write reference | offline | difference pictures
    of the first `n_pictures` files there. extra: more fields for the JSON, or a callable making them from the
    aggregate figures (e.g. DCGAN's acc = 100 * (cos + 1) / 2). reference_subset: the reference covers only the
    first files of a large offline run (every reference file still needs its offline partner); the report
    says how many of the offline files were checked. report_path: write the HTML report there (and its PNG
    sheet beside it, see common.report) under `title`.
    Returns the aggregate figures; raises CheckFailed when the metric is below `threshold`.
    """
    offline_dir = binio.resolve_result_dir(offline_dir)
    shape = (-1, *sample_shape)
    per_file, agg = similarity.compare_dirs(reference_dir, offline_dir, shape, pixel_axis=pixel_axis,
                                            progress=lambda pairs: tqdm(pairs, desc="Comparing", unit="file"),
                                            reference_subset=reference_subset)
    agg["offline_files"] = len(binio.list_data_files(offline_dir, binio.OUTPUT_EXTS))
    if metric not in agg:
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(agg)}")
    passed = agg[metric] >= threshold
    final = summary_line(agg) if summary_line else (
        f"{metric} : {agg[metric]:.6f} over {agg['count']} files"
        + (f" (of {agg['offline_files']} offline)" if agg["offline_files"] != agg["count"] else "")
        + f", max abs diff {agg['max_abs']:.3g}, PSNR {agg['psnr']:.2f} dB")
    verdict = f"{'PASS' if passed else 'FAIL'}: {metric} {agg[metric]:.6f} {'>=' if passed else '<'} threshold {threshold}"

    pictures = []
    extra = extra(agg) if callable(extra) else (extra or {})
    # The pictures, the report, the log and the JSON appear together, or none of them does.
    with binio.OutputSet("the accuracy check") as outputs:
        staged_pictures = outputs.folder(pictures_dir, replaceable=(".png",)) if pictures_dir is not None else None
        staged_report = report.report_parts(outputs, report_path) if report_path is not None else None
        staged_log = outputs.file(log_path) if log_path is not None else None
        staged_json = outputs.file(json_path) if json_path is not None else None
        if staged_pictures is not None:
            for figures in per_file[:n_pictures]:  # the files the comparison paired
                ref = binio.read_array(figures["reference_path"], shape=shape)[0]
                off = binio.read_array(figures["path"], shape=shape)[0]
                picture, _ = images.side_by_side(ref, off)
                name = f"{binio.stem(figures['file'])}_compare.png"
                images.save_image(staged_pictures / name, picture, atomic=False)
                pictures.append(str(Path(pictures_dir) / name))
        if staged_report is not None:
            def read_pair(figures):  # the two files the comparison paired (their names may differ by tool)
                return (binio.read_array(figures["reference_path"], shape=shape),
                        binio.read_array(figures["path"], shape=shape))

            report.accuracy_report(
                report_path, title or f"{offline_dir.name}: PyTorch vs offline", per_file, agg, metric=metric,
                threshold=threshold, passed=passed, verdict=verdict, read_pair=read_pair,
                label=report.offline_label(offline_dir), extra=extra, staged=staged_report,
                notes=[f"reference: {reference_dir}", f"offline:   {offline_dir}", f"log:       {log_path}",
                       f"JSON:      {json_path}"])
        if staged_log is not None:
            Path(staged_log).write_text("\n".join([*(line(f) for f in per_file), final, verdict]) + "\n")
        if staged_json is not None:
            binio.write_json(staged_json, {"reference": str(reference_dir), "offline": str(offline_dir),
                                           "metric": metric, "threshold": threshold, "passed": passed,
                                           "aggregate": agg, "pictures": pictures,
                                           "report": None if report_path is None else str(report_path), **extra,
                                           "files": per_file}, atomic=False)
    print(final)
    if pictures:
        print(f"comparison pictures: {Path(pictures_dir)}")
    for path in (log_path, json_path, report_path):
        if path is not None:
            print(f"written: {path}" + (f" (and {report.png_path(path).name})" if path is report_path else ""))
    if not passed:
        raise CheckFailed(verdict)
    print(verdict)
    return agg
