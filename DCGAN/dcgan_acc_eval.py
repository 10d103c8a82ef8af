"""Compare the offline DCGAN outputs with the PyTorch reference: mean |difference|, cosine, acc, verdict.

    python3 dcgan_acc_eval.py --pth_result_path=./pth_result/ --om_result_path=./result/bs16/ \
        --log_save_name=dcgan_acc_eval_bs16.log

Files are paired by sample (noise_XXXX), whatever tool named the offline file (ais_bench and common/infer.py
noise_XXXX_0.bin|.npy|.txt, msame noise_XXXX_output_0, the benchmark tool's dumpOutput_device0/noise_XXXX_1.bin);
a missing or extra file is an error. Per file,
as the original: mean = mean |pth - om| and cos = flattened cosine, computed in float64; then their means over
the files and acc = 100 * (cos + 1) / 2. The log holds one line per file and the result line in the original
format, plus the exact figures; the same goes to a JSON file. Exit status 1 when the mean cosine is below
--threshold.

Beside the cosine, the pictures themselves are judged (common/digits.py): the digit score and the digit FID of the
offline and of the PyTorch outputs against the held-out half of scikit-learn's digit scans, with that half's own
score, a line of the log and fields of the JSON and the report.
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import accuracy, cli, digits, report, tool_outputs
from dcgan_facts import FACTS, IMAGE_SHAPE


def file_line(figures):
    return f"{figures['file']:s} : mean ==> {figures['mean_abs']:.4f} , cos ==> {figures['cosine']:.4f}"


def result_lines(agg):
    """The original's result line, then the figures at full precision (the .4f line reads 1.0000 for any
    float32 backend)."""
    cos = agg["mean_cosine"]
    return (f"mean : {agg['mean_abs']:.4f}, cosine : {cos:.4f}, acc : {100 * (cos + 1) / 2:.2f}%\n"
            f"files : {agg['count']}, mean abs diff : {agg['mean_abs']:.3e}, max abs diff : {agg['max_abs']:.3e}, "
            f"mean cosine : {cos:.9f}, min cosine : {agg['min_cosine']:.9f}, "
            f"max 1-cos : {agg['max_one_minus_cosine']:.3e}")


CHECK = accuracy.AccuracyCheck(IMAGE_SHAPE, title=f"{FACTS.name}: PyTorch vs offline",
                               threshold=FACTS.threshold, line=file_line,
                               summary_line=result_lines,
                               fields=lambda agg: {"acc": 100 * (agg["mean_cosine"] + 1) / 2})


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--pth_result_path", type=cli.reads, default="./pth_result/", help="PyTorch reference outputs (dcgan_pth_result.py)")
    p.add_argument("--om_result_path", type=cli.reads, default="./result/",
                   help="offline outputs: result/<dirname>, an ais_bench or msame --output folder (its newest run), "
                        "or dumpOutput_device0 (when missing, as after ais_bench: the newest run beside it)")
    p.add_argument("--log_save_name", type=cli.writes, default="dcgan_acc_eval.log", help="log file to write")
    p.add_argument("--json", type=cli.writes, default=None, help="JSON file to write (omitted: the log name with .json)")
    p.add_argument("--threshold", type=cli.cosine_threshold, default=CHECK.threshold,
                   help="lowest accepted mean cosine (0.99: float16 NPU builds; float32 ONNX Runtime reaches 0.9999)")
    p.add_argument("--pictures", type=cli.writes, default="./acc_compare/",
                   help="folder for reference | offline | difference pictures of the first files ('' for none)")
    report.add_options(p)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    json_path = args.json or str(Path(args.log_save_name).with_suffix(".json"))
    offline = tool_outputs.resolve_result_dir(args.om_result_path)
    figures = digits.accuracy_figures(args.pth_result_path, offline, IMAGE_SHAPE)
    check = CHECK.but(summary_line=lambda agg: f"{CHECK.summary(agg)}\n{digits.summary_line(figures)}")
    accuracy.check_against_reference(check, args.pth_result_path, offline, threshold=args.threshold,
                                     log_path=args.log_save_name, json_path=json_path,
                                     pictures_dir=args.pictures or None,
                                     report_path=report.target(args, args.log_save_name), extra=figures)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
