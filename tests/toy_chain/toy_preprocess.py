"""Seeded noise files, one (8,) float32 sample per file."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np

from common import cli, fileio, staging
from toy_facts import LATENT_DIM


def build_parser():
    p = cli.parser(__doc__)
    p.add_argument("save_path", help="folder for the .bin files")
    p.add_argument("--num", type=int, default=10, help="number of samples (0 makes an empty folder: the driver test's failing infer step)")
    p.add_argument("--seed", type=cli.seed, default=0, help="random seed")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    rng = np.random.default_rng(args.seed)
    with staging.AtomicDir(args.save_path) as tmp:
        for i in range(args.num):
            fileio.write_array(tmp / f"z_{i:03d}.bin", rng.standard_normal(LATENT_DIM).astype(np.float32), atomic=False)
    print(f"{args.num} files in {args.save_path}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
