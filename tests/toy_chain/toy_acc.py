"""Offline outputs vs PyTorch reference: cosine, JSON, pictures, verdict."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import accuracy, cli, images, tool_outputs
from toy_facts import FACTS, IMAGE_SHAPE

CHECK = accuracy.AccuracyCheck(IMAGE_SHAPE, threshold=FACTS.threshold)  # the rest as most models check


def build_parser():
    p = cli.parser(__doc__)
    p.add_argument("reference", help="PyTorch reference folder")
    p.add_argument("offline", help="offline result folder")
    p.add_argument("--threshold", type=float, default=CHECK.threshold, help="lowest mean cosine")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    offline = tool_outputs.resolve_result_dir(args.offline)  # once: the folder the user named may hold timestamped runs
    accuracy.check_against_reference(CHECK, args.reference, offline, threshold=args.threshold,
                                     log_path="toy_acc.log", json_path="toy_acc.json", pictures_dir="compare",
                                     report_path="toy_acc_report.html")
    count, _ = images.outputs_to_images(offline, "toy_images", IMAGE_SHAPE)
    print(f"{count} images in toy_images")


if __name__ == "__main__":
    sys.exit(cli.run(main))
