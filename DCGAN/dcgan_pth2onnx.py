"""Export the DCGAN generator to ONNX (input `noise` (B,100,1,1), output `image` (B,1,32,32), dynamic batch).

    python3 dcgan_pth2onnx.py ./checkpoint-amp-epoch_200.pth ./dcgan.onnx

The checkpoint is Ascend's training dict (the generator under 'G', 8p `module.` prefixes are stripped) or a
plain state_dict; it loads strictly. The export is checked with onnx.checker and verified with ONNX Runtime
against PyTorch on seeded noise; a difference above --atol is an error and no file is left behind.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import torch

from common import cli, onnx_utils
from dcgan_facts import FACTS, NOISE_SHAPE
from dcgan_model import load_generator


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("pth", nargs="?", type=cli.reads, default="./checkpoint-amp-epoch_200.pth", help="DCGAN checkpoint (.pth)")
    p.add_argument("onnx", nargs="?", type=cli.writes, default="./dcgan.onnx", help="ONNX file to write")
    p.add_argument("--opset", type=onnx_utils.opset, default=onnx_utils.DEFAULT_OPSET, help="ONNX opset (11 for ATC)")
    p.add_argument("--atol", type=cli.tolerance, default=1e-4, help="largest accepted |ONNX Runtime - PyTorch|")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    model = load_generator(args.pth)
    noise, image = FACTS.graph.input.name, FACTS.graph.output.name
    feeds = onnx_utils.seeded_feeds({noise: [4, *NOISE_SHAPE]})
    diff = onnx_utils.export_verified(model, (torch.zeros(1, *NOISE_SHAPE),), args.onnx, [noise],
                                      [image], feeds, atol=args.atol, opset=args.opset)
    print(f"{args.onnx}: opset {args.opset}, dynamic batch; ONNX Runtime vs PyTorch max abs diff "
          f"{diff[image]:.2g} (batch 4)")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
