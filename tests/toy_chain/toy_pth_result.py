"""PyTorch reference outputs for the preprocessed files."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli, reference
from toy_facts import LATENT_DIM
from toy_model import load_generator


def build_parser():
    p = cli.parser(__doc__)
    p.add_argument("pth", help="checkpoint")
    p.add_argument("inputs", help="preprocessed folder")
    p.add_argument("save_path", help="folder for reference outputs")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    n = reference.write_reference_outputs(load_generator(args.pth), [args.inputs], args.save_path, [(LATENT_DIM,)])
    print(f"{n} reference files in {args.save_path}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
