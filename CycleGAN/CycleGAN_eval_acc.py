"""PyTorch reference vs offline outputs: flattened cosine, per-pixel channel cosine and PSNR, per image and mean.

The two folders are paired by file name (<stem>_0.bin); a missing or extra file is an error. The per-pixel
channel cosine is the original Ascend metric (torch.cosine_similarity over the 3 channels of each pixel,
averaged); the flattened cosine compares whole images. PSNR is over the [-1, 1] output range (2.0). Writes
<out_dir>/<offline folder name>.log and .json, and reference | offline | difference pictures of the first
--pictures images; exits with status 1 when --metric is below --threshold.

    python3 CycleGAN_eval_acc.py --pth_result=./pth_result/testA/ --npu_bin_file=./result/Abs1/
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import accuracy, cli, report, tool_outputs
from cyclegan_facts import FACTS, SAMPLE_SHAPE

METRICS = {"cosine": "mean_cosine", "pixel_cosine": "mean_pixel_cosine", "min_cosine": "min_cosine"}


def line(figures):
    return (f"{figures['file']} : cos ==> {figures['cosine']:.6f} , pixel cos ==> {figures['pixel_cosine']:.6f} , "
            f"PSNR ==> {figures['psnr']:.2f} dB , max ==> {figures['max_abs']:.3g}")


def summary_line(agg):
    return (f"{agg['count']} images: mean cosine {agg['mean_cosine']:.6f} (min {agg['min_cosine']:.6f}), "
            f"average cosine_similarity (per pixel) {agg['mean_pixel_cosine']:.6f}, PSNR {agg['psnr']:.2f} dB "
            f"(min {agg['min_psnr']:.2f}), max abs diff {agg['max_abs']:.3g}")


# --metric chooses the metric, --pictures the number of pictures, the offline folder the title (main)
CHECK = accuracy.AccuracyCheck(SAMPLE_SHAPE, threshold=FACTS.threshold, pixel_axis=1, line=line,
                               summary_line=summary_line)


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--pth_result", "--reference", dest="reference", type=cli.reads, default="./pth_result/testA/",
                   help="PyTorch reference outputs (CycleGAN_pth_result.py)")
    p.add_argument("--npu_bin_file", "--offline", dest="offline", type=cli.reads, default="./result/Abs1/",
                   help="offline outputs: the runner's output folder, an ais_bench --output folder with a "
                        "timestamped run, or a benchmark dumpOutput_device<d> parent")
    p.add_argument("--metric", choices=sorted(METRICS), default="cosine",
                   help="figure the verdict uses: cosine (flattened, mean over images), pixel_cosine (the "
                        "original's per-pixel channel cosine), min_cosine (worst image)")
    p.add_argument("--threshold", type=cli.cosine_threshold, default=CHECK.threshold,
                   help="lowest accepted --metric (0.99 is the bar for float16 NPU builds)")
    p.add_argument("--out_dir", type=cli.writes_into, default="./acc_result/", help="folder for the log, the JSON and the pictures")
    p.add_argument("--pictures", type=cli.non_negative_int, default=4, help="number of side-by-side comparison pictures")
    report.add_options(p)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    offline = tool_outputs.resolve_result_dir(args.offline)
    out = Path(args.out_dir)
    log = out / f"{offline.name}.log"
    check = CHECK.but(metric=METRICS[args.metric], n_pictures=args.pictures,
                      title=f"CycleGAN {offline.name}: PyTorch vs offline")
    accuracy.check_against_reference(
        check, args.reference, offline, threshold=args.threshold, log_path=log, json_path=out / f"{offline.name}.json",
        pictures_dir=out / f"{offline.name}_compare" if args.pictures else None, report_path=report.target(args, log))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
