"""The first generation's accuracy check: offline outputs vs ONNX Runtime on the same test images.

As the original eval_acc.py: every image of <dataroot>/testA (G_A, or testB with --direction BtoA) is
preprocessed as the float path does (CycleGAN_preprocess.py: upstream's bicubic 256x256 resize, [-1, 1]),
run through the ONNX model with ONNX Runtime, and compared with the offline output of the same image by the
per-pixel channel cosine (torch.cosine_similarity(onnx, offline) over the 3 channels of each pixel, averaged);
the mean over images is printed as `average cosine_similarity:`, and the per-image values are plotted in
cosine_similarity.jpg. The offline outputs are found by sample name whatever tool wrote them (the benchmark
tool's dumpOutput_device0/<stem>_1.bin, ais_bench / ../common/infer.py <stem>_0.bin, msame, .npy/.txt); every
image needs its output and every output its image. Writes cosine_similarity.jpg, .json and .log in --out_dir,
and the readable report (cosine_similarity_report.html and .png; --report, --no_report); exits with status 1
when the average is below --threshold.

    python3 eval_acc.py --dataroot=./datasets/maps --npu_bin_file=./result/dumpOutput_device0/
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np
from tqdm import tqdm

from common import (accuracy, cli, fileio, onnx_utils, origins, report, report_draw, similarity, staging,
                    tool_outputs)
from common.errors import CheckFailed
from cyclegan_data import list_images, load_image, outputs_of_images
from cyclegan_facts import DIRECTIONS, FACTS, SAMPLE_SHAPE

SIDES = {"AtoB": ("A", "testA"), "BtoA": ("B", "testB")}


def plot(values, labels, path, title):
    """Per-image cosine as a line plot (matplotlib, Agg backend) to `path` (a staged OutputSet part)."""
    plt = report_draw.pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(range(len(values)), values, marker="." if len(values) <= 200 else None)
    ax.set_xlabel("image (natural order)")
    ax.set_ylabel("per-pixel channel cosine")
    ax.set_title(title)
    if len(values) <= 20:
        ax.set_xticks(range(len(values)), labels, rotation=45, fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="jpg")
    plt.close(fig)


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--dataroot", type=cli.reads, default="./datasets/maps", help="maps dataset root holding testA/ and testB/")
    p.add_argument("--npu_bin_file", type=cli.reads, default="./result/dumpOutput_device0/",
                   help="offline outputs: benchmark dumpOutput_device<d>, an ais_bench/infer.py run folder, or "
                        "their --output folder (the newest run is taken when dumpOutput_device<d> is missing)")
    p.add_argument("--onnx_path", type=cli.reads, default="./onnxmodel/", help="folder holding the ONNX models")
    p.add_argument("--model_ga_onnx_name", default=DIRECTIONS["A"].onnx_file, help="G_A's ONNX file in --onnx_path")
    p.add_argument("--model_gb_onnx_name", default=DIRECTIONS["B"].onnx_file, help="G_B's ONNX file in --onnx_path")
    p.add_argument("--direction", choices=sorted(SIDES), default="AtoB",
                   help="AtoB: testA through G_A (the original's check); BtoA: testB through G_B")
    p.add_argument("--threshold", type=cli.cosine_threshold, default=FACTS.threshold,
                   help="lowest accepted average cosine_similarity (0.99, the original's bar)")
    p.add_argument("--out_dir", type=cli.writes_into, default="./", help="folder for cosine_similarity.jpg, .json and .log")
    report.add_options(p)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    side, folder = SIDES[args.direction]
    names = DIRECTIONS[side]
    images = list_images(Path(args.dataroot) / folder)
    offline_dir = tool_outputs.resolve_result_dir(args.npu_bin_file, exts=(*fileio.DATA_EXTS, ".txt"))
    outputs = outputs_of_images(images, offline_dir)
    stems = list(outputs)
    model = Path(args.onnx_path) / (args.model_ga_onnx_name if side == "A" else args.model_gb_onnx_name)
    session = onnx_utils.make_session(model)

    per_image, lines = [], []
    for path, name in tqdm(list(zip(images, stems)), desc="Comparing", unit="image"):
        reference = session.run([names.output], {names.input: load_image(path)})[0]
        offline = tool_outputs.read_output(outputs[name], SAMPLE_SHAPE, count=1)
        figures = similarity.compare(reference, offline, pixel_axis=1)
        per_image.append({"file": path.name, "image": path.name, "output": str(outputs[name]),
                          "path": str(outputs[name]), "image_path": str(path), **figures})
        lines.append(f"{path.name} : cosine_similarity ==> {figures['pixel_cosine']:.6f}")
    values = [f["pixel_cosine"] for f in per_image]
    average = float(np.mean(values))
    passed, verdict = accuracy.verdict("average cosine_similarity", average, args.threshold)

    summary, weights = similarity.summarize(per_image), origins.weights()  # stand-ins are said first
    out = Path(args.out_dir)
    report_path = report.target(args, out / "cosine_similarity.log")
    # The plot, the log, the JSON and the report appear together, or none of them does.
    with staging.OutputSet() as outputs:
        staged = {name: outputs.file(out / f"cosine_similarity.{name}") for name in ("jpg", "log", "json")}
        if report_path is not None:
            def read_pair(figures):  # ONNX Runtime on the image again, and the offline output
                reference = session.run([names.output], {names.input: load_image(figures["image_path"])})[0]
                return reference, fileio.read_array(figures["path"], shape=(1, *SAMPLE_SHAPE))

            base = report.Report(f"{names.net} ({model.name}, ONNX Runtime) vs {offline_dir}", verdict, passed=passed,
                                 headline=accuracy.headline_figures(summary), weights=weights,
                                 notes=[f"dataroot: {args.dataroot}", f"offline:  {offline_dir}"])
            content = accuracy.paired_report(base, per_image, "mean_pixel_cosine", args.threshold, read_pair,
                                             accuracy.offline_label(offline_dir))
            report.write_report(report_path, content, report.report_parts(outputs, report_path))
        plot(values, stems, staged["jpg"], f"{names.net} ({model.name}) vs {offline_dir}: average {average:.6f}")
        staged["log"].write_text("\n".join([*origins.log_lines(weights), *lines,
                                            f"average cosine_similarity: {average}", verdict]) + "\n")
        fileio.write_json(staged["json"], {
            **origins.json_fields(weights), "dataroot": str(args.dataroot), "direction": args.direction,
            "onnx": str(model),
            "offline": str(offline_dir), "metric": "average per-pixel channel cosine", "threshold": args.threshold,
            "passed": passed, "average_cosine_similarity": average, "min_cosine_similarity": float(np.min(values)),
            "count": len(values), "report": None if report_path is None else str(report_path), "images": per_image},
            atomic=False)
    print(f"average cosine_similarity: {average}")
    print(f"{len(values)} images; min {min(values):.6f}; written: {out / 'cosine_similarity.jpg'}, "
          f"{out / 'cosine_similarity.json'}, {out / 'cosine_similarity.log'}"
          + (f", {report_path} (and {report.png_path(report_path).name})" if report_path else ""))
    if not passed:
        raise CheckFailed(verdict)
    print(verdict)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
