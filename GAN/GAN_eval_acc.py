"""Compare the offline GAN outputs with the PyTorch reference: cosine, absolute differences, verdict.

    python3 GAN_eval_acc.py --pth_result_path=./pth_result --om_result_path=./result/bs64 \
        --log_save_name=GAN_eval_acc_bs64.log

The original judged GAN by looking at pictures; this is the quantitative check DCGAN has. Files are paired
by name (<i>_0.bin in both folders, each one batch); a missing or extra file, or a different number of samples,
is an error. Per file: flattened cosine, mean and max |pth - om|, computed in float64. The log holds one line
per file and the aggregate; the same goes to a JSON file. Exit status 1 when the mean cosine is below
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
from GAN_facts import FACTS, IMAGE_SHAPE

CHECK = accuracy.AccuracyCheck(IMAGE_SHAPE, title=f"{FACTS.name}: PyTorch vs offline",
                               threshold=FACTS.threshold)


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--pth_result_path", type=cli.reads, default="./pth_result", help="PyTorch reference outputs (GAN_pth_result.py)")
    p.add_argument("--om_result_path", type=cli.reads, default="./result",
                   help="offline outputs (result/<dirname>, or an ais_bench --output folder with timestamped runs)")
    p.add_argument("--log_save_name", type=cli.writes, default="GAN_eval_acc.log", help="log file to write")
    p.add_argument("--json", type=cli.writes, default=None, help="JSON file to write (omitted: the log name with .json)")
    p.add_argument("--threshold", type=cli.cosine_threshold, default=CHECK.threshold,
                   help="lowest accepted mean cosine (0.99: float16 NPU builds; float32 ONNX Runtime reaches 0.9999)")
    p.add_argument("--pictures", type=cli.writes, default="./acc_compare",
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
