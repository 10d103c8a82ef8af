"""PyTorch reference outputs of G_ema.pth for the first preprocessed inputs, named as the runner names them.

    python3 biggan_pth_result.py --pth ./G_ema.pth --input ./prep_noise,./prep_label --output ./pth_result --num 64

Output k of input file <stem>.bin is written as <stem>_<k>.bin (here input_00000_0.bin, ...), so
biggan_cosine_acc.py pairs it by name with the offline result of the same run. --num limits the reference to
the first files (natural order): enough to catch a numeric regression without running all 50,000 in PyTorch.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import biggan_model
from common import cli, reference
from common.errors import UserError


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--pth", type=cli.reads, default="./G_ema.pth", help="BigGAN generator checkpoint")
    p.add_argument("--input", type=cli.reads_list, default="./prep_noise,./prep_label",
                   help="the noise folder and the label folder, comma-separated, as for the runner")
    p.add_argument("--output", type=cli.writes, default="./pth_result", help="folder for the reference outputs")
    p.add_argument("--num", type=cli.non_negative_int, default=64, help="reference outputs for the first NUM input files only "
                                                        "(0: all of them)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.num < 0:
        raise UserError(f"--num {args.num}: expected a count of input files, or 0 for all")
    folders = [f for f in args.input.split(",") if f.strip()]
    if len(folders) != 2:
        raise UserError(f"--input {args.input!r}: expected the noise and the label folders, e.g. "
                        f"./prep_noise,./prep_label")
    model = biggan_model.load_generator(args.pth)
    config = model.config
    count = reference.write_reference_outputs(model, folders, args.output, [config.noise_shape, config.label_shape],
                                              limit=args.num or None)
    print(f"{count} reference file(s) in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
