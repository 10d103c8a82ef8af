"""Check that our generator computes what PyTorch-GAN's gan.py computes, with GAN.patch applied.

    python3 GAN_compare_upstream.py --upstream ./PyTorch-GAN [--checkpoint generator_8p_0.0008_128.pth]

Imports <upstream>/implementations/gan/gan.py (PyTorch-GAN at 36d3c77 with GAN.patch applied, which makes it
importable without changing its generator), loads the same checkpoint into its Generator and into ours
(strictly, both), runs both in eval mode on the same seeded (B, 100) vectors and compares the outputs. Without
--checkpoint a seeded random checkpoint in the official format is used. Exit status 1 when the largest
difference exceeds --atol.
"""
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common/ beside this folder

import numpy as np
import torch

from common import checkpoint, cli, similarity
from common.cli import CheckFailed, UserError
from GAN_model import LATENT_DIM, load_generator, random_checkpoint

UPSTREAM_FILE = Path("implementations/gan/gan.py")


def import_upstream(root):
    path = Path(root) / UPSTREAM_FILE
    if not path.is_file():
        raise UserError(f"{path}: no such file; --upstream must be a PyTorch-GAN checkout")
    if 'if __name__ == "__main__":' not in path.read_text(encoding="utf-8"):
        raise UserError(f"{path}: not patched (importing it would train); run `git apply GAN.patch` in {root}")
    spec = importlib.util.spec_from_file_location("pytorch_gan_gan", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compare(upstream_root, checkpoint_path, num=64, seed=0):
    """Figures (max abs difference, cosine...) between upstream's and our generator on the same inputs."""
    upstream = import_upstream(upstream_root).Generator()
    checkpoint.load_into(upstream, checkpoint_path)
    ours = load_generator(checkpoint_path)
    upstream.eval()
    z = torch.from_numpy(np.random.default_rng(seed).standard_normal((num, LATENT_DIM)).astype(np.float32))
    with torch.no_grad():
        expected, actual = upstream(z).numpy(), ours(z).numpy()
    return similarity.compare(expected, actual)


def main(argv=None):
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--upstream", required=True, help="PyTorch-GAN checkout (36d3c77) with GAN.patch applied")
    p.add_argument("--checkpoint", default=None, help="checkpoint to compare on (default: seeded random weights "
                                                      "in the official format)")
    p.add_argument("--num", type=int, default=64, help="input vectors")
    p.add_argument("--seed", type=int, default=0, help="seed of the vectors and of the random checkpoint")
    p.add_argument("--atol", type=float, default=1e-5, help="largest accepted |upstream - ours|")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.checkpoint
        if path is None:
            path = str(Path(tmp) / "random-generator.pth")
            random_checkpoint(path, seed=args.seed)
        figures = compare(args.upstream, path, args.num, args.seed)
    what = args.checkpoint or f"seeded random checkpoint (seed {args.seed}, official format)"
    print(f"upstream {UPSTREAM_FILE} vs GAN_model.GANGenerator on {args.num} vectors, {what}:")
    print(f"  max abs diff {figures['max_abs']:.3g}, mean abs diff {figures['mean_abs']:.3g}, "
          f"1 - cosine {figures['one_minus_cosine']:.3g}")
    if not figures["max_abs"] <= args.atol:
        raise CheckFailed(f"outputs differ by {figures['max_abs']:.3g} (max abs), tolerance {args.atol:g}")
    print(f"PASS: max abs diff <= {args.atol:g}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
