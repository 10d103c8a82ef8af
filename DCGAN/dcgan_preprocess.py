"""Sample the DCGAN input noise: one (100, 1, 1) float32 standard-normal sample per file, noise_0000.bin ...

    python3 dcgan_preprocess.py ./prep_dataset [--num 8192] [--seed 0]

One sample per file lets every batch size run on the same data: the runner (and ais_bench) concatenates
`batchsize` files per batch and writes one output per input file, noise_0000_0.bin ... The same seed gives
byte-identical files. The folder is written under a temporary name and renamed when complete.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np
from tqdm import tqdm

from common import cli, fileio, room, staging
from dcgan_facts import NOISE_SHAPE


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("save_path", nargs="?", type=cli.writes, default="./prep_dataset", help="folder for the noise .bin files")
    p.add_argument("--num", type=cli.positive_int, default=8192, help="number of noise samples (files)")
    p.add_argument("--seed", type=cli.seed, default=0, help="random seed")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    # Each file takes at least a file-system block; the noise is drawn in float64 before the cast.
    room.check_room(args.save_path, args.num * 4096, f"--num {args.num}",
                     in_memory=args.num * int(np.prod(NOISE_SHAPE)) * 12)
    noise = np.random.default_rng(args.seed).standard_normal((args.num, *NOISE_SHAPE)).astype(np.float32)
    width = max(4, len(str(args.num - 1)))
    with staging.AtomicDir(args.save_path, replaceable=(".bin",)) as tmp:
        for i, sample in enumerate(tqdm(noise, desc="Noise", unit="file", disable=args.num < 100)):
            fileio.write_array(tmp / f"noise_{i:0{width}d}.bin", sample, atomic=False)
    print(f"{args.num} noise files of {NOISE_SHAPE} float32 in {args.save_path} (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
