"""Checkpoint -> ONNX (input z, output image, dynamic batch), verified against PyTorch."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common/ beside this folder

import torch

from common import cli, onnx_utils
from toy_model import load_generator


def main(argv=None):
    p = cli.parser(__doc__)
    p.add_argument("pth", help="checkpoint")
    p.add_argument("onnx", help="ONNX file to write")
    args = p.parse_args(argv)
    model = load_generator(args.pth)
    onnx_utils.export(model, (torch.zeros(1, 8),), args.onnx, ["z"], ["image"])
    diff = onnx_utils.verify_against_torch(args.onnx, model, onnx_utils.seeded_feeds({"z": [3, 8]}))
    print(f"{args.onnx}: verified, max abs diff {diff['image']:.2g}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
