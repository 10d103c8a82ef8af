"""Export the GAN generator to ONNX (input `Z` (B,100), output `generateimg` (B,1,28,28), dynamic batch).

    python3 GAN_pth2onnx.py --input_file=generator_8p_0.0008_128.pth --output_file=GAN.onnx

The checkpoint is a state_dict (8p `module.` prefixes are stripped); it loads strictly. The graph is exported
in eval mode (BatchNorm1d with its running statistics and eps 0.8), checked with onnx.checker and verified with
ONNX Runtime against PyTorch on seeded vectors; a difference above --atol is an error and no file is left.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import torch

from common import cli, onnx_utils
from GAN_facts import FACTS, LATENT_DIM
from GAN_model import load_generator


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--input_file", type=cli.reads, default="generator_8p_0.0008_128.pth", help="generator checkpoint (.pth)")
    p.add_argument("--output_file", type=cli.writes, default="GAN.onnx", help="ONNX file to write")
    p.add_argument("--opset", type=onnx_utils.opset, default=onnx_utils.DEFAULT_OPSET, help="ONNX opset (11 for ATC)")
    p.add_argument("--atol", type=cli.tolerance, default=1e-4, help="largest accepted |ONNX Runtime - PyTorch|")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    model = load_generator(args.input_file)
    z, image = FACTS.graph.input.name, FACTS.graph.output.name
    feeds = onnx_utils.seeded_feeds({z: [4, LATENT_DIM]})
    diff = onnx_utils.export_verified(model, (torch.zeros(1, LATENT_DIM),), args.output_file, [z],
                                      [image], feeds, atol=args.atol, opset=args.opset)
    print(f"{args.output_file}: opset {args.opset}, dynamic batch; ONNX Runtime vs PyTorch max abs diff "
          f"{diff[image]:.2g} (batch 4)")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
