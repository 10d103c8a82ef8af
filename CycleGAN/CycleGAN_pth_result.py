"""PyTorch reference outputs of one generator for the preprocessed .bin files, named as the runner names them.

Each input <stem>.bin (1, 3, 256, 256) gives <stem>_0.bin in the output folder, the generator run in eval mode
without autograd: the reference that CycleGAN_eval_acc.py compares the offline (ONNX Runtime or .om) outputs
with. Use G_A on testA and G_B on testB.

    python3 CycleGAN_pth_result.py --model_path=./checkpoints/maps_cycle_gan/latest_net_G_A.pth \\
        --input=./datasetsDst/maps/testA/ --output=./pth_result/testA/
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli, reference
from cyclegan_facts import SAMPLE_SHAPE
from cyclegan_model import load_generator


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--model_path", type=cli.reads, default="./checkpoints/maps_cycle_gan/latest_net_G_A.pth",
                   help="generator checkpoint: G_A for testA inputs, G_B for testB inputs")
    p.add_argument("--input", type=cli.reads, default="./datasetsDst/maps/testA/", help="folder of preprocessed <stem>.bin inputs")
    p.add_argument("--output", type=cli.writes, default="./pth_result/testA/", help="folder for the <stem>_0.bin reference outputs")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    model = load_generator(args.model_path)
    count = reference.write_reference_outputs(model, [args.input], args.output, [SAMPLE_SHAPE])
    print(f"{count} PyTorch reference outputs of {args.model_path} in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
