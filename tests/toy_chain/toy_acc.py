"""Offline outputs vs PyTorch reference: cosine, JSON, pictures, verdict."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common/ beside this folder

from common import accuracy, binio, cli, images

CHECK = accuracy.AccuracyCheck((1, 4, 4))  # one sample's shape; the rest as most models check


def main(argv=None):
    p = cli.parser(__doc__)
    p.add_argument("reference", help="PyTorch reference folder")
    p.add_argument("offline", help="offline result folder")
    p.add_argument("--threshold", type=float, default=CHECK.threshold, help="lowest mean cosine")
    args = p.parse_args(argv)
    offline = binio.resolve_result_dir(args.offline)  # once: the folder the user named may hold timestamped runs
    accuracy.check_against_reference(CHECK, args.reference, offline, threshold=args.threshold,
                                     log_path="toy_acc.log", json_path="toy_acc.json", pictures_dir="compare",
                                     report_path="toy_acc_report.html")
    count, _ = images.outputs_to_images(offline, "toy_images", (1, 4, 4))
    print(f"{count} images in toy_images")


if __name__ == "__main__":
    sys.exit(cli.run(main))
