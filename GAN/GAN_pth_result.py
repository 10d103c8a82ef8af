"""PyTorch (CPU, float32, eval mode) reference outputs for the input vectors, named as the offline run names
its own.

    python3 GAN_pth_result.py --pth_path=generator_8p_0.0008_128.pth --dataset_path=./vectors \
        --save_path=./pth_result

Each input <i>.bin (one batch) gives <i>_0.bin holding that batch's images ((B, 1, 28, 28) float32), exactly
what the runner writes for a model of the file's batch size (a model of a larger batch, fed 1-sample files,
writes one 1-sample output per file, and so does this), so GAN_eval_acc.py pairs the folders by name.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli, reference
from GAN_facts import LATENT_DIM
from GAN_model import load_generator


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--pth_path", "--checkpoint_path", type=cli.reads, default="generator_8p_0.0008_128.pth",
                   help="generator checkpoint (.pth)")
    p.add_argument("--dataset_path", "--offline_path", type=cli.reads, default="./vectors", help="folder of input vectors <i>.bin")
    p.add_argument("--save_path", type=cli.writes, default="./pth_result", help="folder for the reference outputs")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    model = load_generator(args.pth_path)
    count = reference.write_reference_outputs(model, [args.dataset_path], args.save_path, [(LATENT_DIM,)],
                                               files_per_batch=64)
    print(f"{count} reference outputs in {args.save_path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
