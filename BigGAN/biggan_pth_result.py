"""PyTorch reference outputs of G_ema.pth for preprocessed inputs, named as the offline runner names them.

    python3 biggan_pth_result.py --pth ./G_ema.pth --input ./check_noise,./check_label --output ./pth_result

Output k of input file <stem>.bin is written as <stem>_<k>.bin (here input_00000_0.bin, ...), so
biggan_cosine_acc.py pairs it with the offline result by name.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common/ beside this folder

import biggan_model
from common import cli, reference
from common.cli import UserError


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--pth", default="./G_ema.pth", help="BigGAN generator checkpoint")
    p.add_argument("--input", default="./check_noise,./check_label",
                   help="the noise folder and the label folder, comma-separated, as for the runner")
    p.add_argument("--output", default="./pth_result", help="folder for the reference outputs")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    folders = [f for f in args.input.split(",") if f.strip()]
    if len(folders) != 2:
        raise UserError(f"--input {args.input!r}: expected the noise and the label folders, e.g. "
                        f"./prep_noise,./prep_label")
    model = biggan_model.load_generator(args.pth)
    config = model.config
    count = reference.write_reference_outputs(model, folders, args.output, [config.noise_shape, config.label_shape])
    print(f"{count} reference file(s) in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
