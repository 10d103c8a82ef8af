"""Checkpoint -> ONNX (input z, output image, dynamic batch), verified against PyTorch."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import torch

from common import cli, onnx_utils
from toy_facts import FACTS, LATENT_DIM
from toy_model import load_generator


def build_parser():
    p = cli.parser(__doc__)
    p.add_argument("pth", help="checkpoint")
    p.add_argument("onnx", help="ONNX file to write")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    model = load_generator(args.pth)
    z, image = FACTS.graph.input.name, FACTS.graph.output.name
    onnx_utils.export(model, (torch.zeros(1, LATENT_DIM),), args.onnx, [z], [image])
    diff = onnx_utils.verify_against_torch(args.onnx, model, onnx_utils.seeded_feeds({z: [3, LATENT_DIM]}))
    print(f"{args.onnx}: verified, max abs diff {diff[image]:.2g}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
