"""Generate the GAN input vectors, one (batch_size, 100) float32 batch per file (<i>.bin), and the "online"
PyTorch pictures of the same batches.

    python3 GAN_preprocess.py --online_path=images --offline_path=vectors \
        --pth_path=generator_8p_0.0008_128.pth --iters 100 --batch_size 64

Each of the --iters files holds one whole batch, as the original wrote them: a model built for batch B runs
files of B samples (or of 1 sample, which the runner concatenates), so generate the data per batch size,
or with --batch_size 1 for every batch size. The online pictures (<online_path>/<i>.png, one grid per batch)
come from the generator in eval mode, BatchNorm using its running statistics as the exported graph does, so
they show what the offline run must reproduce, and batch 1 works (the original ran train mode). The same
seed gives byte-identical files; both folders are written under temporary names and appear together when
complete.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np
import torch
from tqdm import tqdm

from common import cli, fileio, images, room, staging
from common.errors import UserError
from GAN_facts import LATENT_DIM
from GAN_model import load_generator


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--offline_path", type=cli.writes, default="vectors", help="folder for the input files <i>.bin")
    p.add_argument("--online_path", type=cli.writes, default=None,
                   help="folder for the PyTorch pictures <i>.png (needs --pth_path; omitted = no pictures)")
    p.add_argument("--pth_path", type=cli.reads, default=None, help="generator checkpoint for the online pictures")
    p.add_argument("--iters", type=cli.positive_int, default=1, help="number of files (batches)")
    p.add_argument("--batch_size", type=cli.positive_int, default=1, help="samples per file")
    p.add_argument("--seed", type=cli.seed, default=0, help="random seed")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    samples = args.iters * args.batch_size
    room.check_room(args.offline_path, args.iters * max(4096, args.batch_size * LATENT_DIM * 4),
                     f"--iters {args.iters} --batch_size {args.batch_size}", in_memory=samples * LATENT_DIM * 12)
    if args.online_path and not args.pth_path:
        raise UserError("--online_path needs --pth_path, the checkpoint that makes the online pictures")
    model = load_generator(args.pth_path) if args.online_path else None

    vectors = np.random.default_rng(args.seed).standard_normal(
        (args.iters, args.batch_size, LATENT_DIM)).astype(np.float32)
    # The vectors and the pictures made from them appear together, or neither does.
    with staging.OutputSet("GAN_preprocess.py") as outputs:
        vectors_tmp = outputs.folder(args.offline_path, replaceable=(".bin",))
        pictures_tmp = outputs.folder(args.online_path, replaceable=(".png",)) if model is not None else None
        for i, batch in enumerate(vectors):
            fileio.write_array(vectors_tmp / f"{i}.bin", batch, atomic=False)
        if model is not None:
            with torch.no_grad():
                for i, batch in enumerate(tqdm(vectors, desc="Online (PyTorch)", unit="batch",
                                               disable=args.iters < 10)):
                    pictures = [images.to_uint8(sample) for sample in model(torch.from_numpy(batch)).numpy()]
                    images.save_image(pictures_tmp / f"{i}.png", images.grid(pictures), atomic=False)
    print(f"{args.iters} files of ({args.batch_size}, {LATENT_DIM}) float32 in {args.offline_path} (seed {args.seed})")
    if model is not None:
        print(f"{args.iters} online pictures (PyTorch, eval mode) in {args.online_path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
