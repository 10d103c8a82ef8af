"""Offline outputs vs the PyTorch reference on the same inputs: cosine, log, JSON, comparison pictures.

    python3 biggan_cosine_acc.py --reference ./pth_result --result-path ./result/bs1

IS and FID (biggan_eval_acc.py) judge the images; they cannot see a small numeric regression of the
converted model. This check can: it fails (exit status 1) when the mean cosine is below --threshold. The
reference usually covers the first files of the run (biggan_pth_result.py --num); each of them must have its
offline partner, and the report says how many of the offline files were checked.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from biggan_facts import FACTS, OUTPUT_SHAPE
from common import accuracy, cli, report, tool_outputs

# the reference usually covers the first files of the run (biggan_pth_result.py --num)
CHECK = accuracy.AccuracyCheck(OUTPUT_SHAPE, title=f"{FACTS.name}: PyTorch vs offline",
                               threshold=FACTS.threshold, reference_subset=True)


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--reference", type=cli.reads, default="./pth_result", help="PyTorch reference folder (biggan_pth_result.py)")
    p.add_argument("--result-path", type=cli.reads, default="./result/bs1", help="offline result folder")
    p.add_argument("--threshold", type=cli.cosine_threshold, default=CHECK.threshold, help="lowest accepted mean cosine")
    p.add_argument("--log", type=cli.writes, default="./biggan_cosine_acc.log", help="per-file log")
    p.add_argument("--json", type=cli.writes, default="./biggan_cosine_acc.json", help="results as JSON")
    p.add_argument("--pictures", type=cli.writes, default="./compare", help="folder for reference | offline | difference pictures")
    report.add_options(p)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    accuracy.check_against_reference(CHECK, args.reference, tool_outputs.resolve_result_dir(args.result_path),
                                     threshold=args.threshold,
                                     log_path=args.log, json_path=args.json, pictures_dir=args.pictures,
                                     report_path=report.target(args, args.log))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
