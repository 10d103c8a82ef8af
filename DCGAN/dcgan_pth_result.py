"""PyTorch (CPU, float32) reference outputs for the noise files, named as the offline run names its own.

    python3 dcgan_pth_result.py --checkpoint_path=./checkpoint-amp-epoch_200.pth \
        --dataset_path=./prep_dataset --save_path=./pth_result

Each input noise_XXXX.bin gives noise_XXXX_0.bin ((1, 1, 32, 32) float32; a file holding several samples
gives all of their outputs), so dcgan_acc_eval.py pairs the two folders by name.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli, reference
from dcgan_facts import NOISE_SHAPE
from dcgan_model import load_generator


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint_path", "--checkpoint", type=cli.reads, default="./checkpoint-amp-epoch_200.pth",
                   help="DCGAN checkpoint (.pth)")
    p.add_argument("--dataset_path", "--input", type=cli.reads, default="./prep_dataset/", help="folder of noise .bin files")
    p.add_argument("--save_path", "--output", type=cli.writes, default="./pth_result/", help="folder for the reference outputs")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    model = load_generator(args.checkpoint_path)
    count = reference.write_reference_outputs(model, [args.dataset_path], args.save_path, [NOISE_SHAPE],
                                               files_per_batch=64)
    print(f"{count} reference outputs in {args.save_path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
