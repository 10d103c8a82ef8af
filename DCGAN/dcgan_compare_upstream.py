"""Check that our generator computes what PyTorch-GAN's dcgan.py computes, with dcgan.patch applied.

    python3 dcgan_compare_upstream.py --upstream ./PyTorch-GAN [--checkpoint ./checkpoint-amp-epoch_200.pth]

Imports <upstream>/implementations/dcgan/dcgan.py (PyTorch-GAN at 36d3c77 with dcgan.patch applied, which
makes it importable and gives it the Ascend variant's 32-channel layer), loads the same checkpoint into its
Generator and into ours (strictly, both), runs both in eval mode on the same seeded (B, 100, 1, 1) noise and
compares the outputs. Without --checkpoint a seeded random checkpoint in the official container is used.
Exit status 1 when the largest difference exceeds --atol.
"""
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import checkpoint, cli, upstream
from dcgan_facts import FACTS, NOISE_SHAPE
from dcgan_model import load_generator, random_checkpoint

# Only the patched file runs its training under `if __name__ == "__main__":`; the original trains at import.
UPSTREAM = upstream.Checkout.of(FACTS.upstream, marker='if __name__ == "__main__":')
UPSTREAM_FILE = Path(UPSTREAM.patched)


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--upstream", required=True, help=f"{UPSTREAM.name} checkout ({FACTS.upstream.short_commit}) with {UPSTREAM.patch} applied")
    p.add_argument("--checkpoint", default=None, help="checkpoint to compare on (default: seeded random weights "
                                                      "in the official container)")
    p.add_argument("--num", type=int, default=64, help="input samples")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the inputs and of the random checkpoint")
    p.add_argument("--atol", type=float, default=1e-5, help="largest accepted |upstream - ours|")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    module = UPSTREAM.script(args.upstream, "pytorch_gan_dcgan")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.checkpoint or str(Path(tmp) / "random-checkpoint-amp.pth")
        if args.checkpoint is None:
            random_checkpoint(path, seed=args.seed)
        theirs = module.Generator()
        checkpoint.load_into(theirs, path, container_keys=FACTS.container_keys)
        figures = upstream.compare_generators(theirs, load_generator(path),
                                              [upstream.seeded_normal((args.num, *NOISE_SHAPE), args.seed)])
    what = args.checkpoint or f"seeded random checkpoint (seed {args.seed}, official container)"
    upstream.report(f"upstream {UPSTREAM_FILE} vs dcgan_model.DCGANGenerator on {args.num} samples, {what}:",
                    figures, args.atol)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
