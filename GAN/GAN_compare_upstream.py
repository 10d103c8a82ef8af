"""Check that our generator computes what PyTorch-GAN's gan.py computes, with GAN.patch applied.

    python3 GAN_compare_upstream.py --upstream ./PyTorch-GAN [--checkpoint generator_8p_0.0008_128.pth]

Imports <upstream>/implementations/gan/gan.py (PyTorch-GAN at 36d3c77 with GAN.patch applied, which makes it
importable without changing its generator), loads the same checkpoint into its Generator and into ours
(strictly, both), runs both in eval mode on the same seeded (B, 100) vectors and compares the outputs. Without
--checkpoint a seeded random checkpoint in the official format is used. Exit status 1 when the largest
difference exceeds --atol.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli, upstream
from GAN_facts import FACTS, LATENT_DIM
from GAN_model import load_generator, random_checkpoint

COMPARISON = upstream.ScriptGeneratorComparison(
    # Only the patched file runs its training under `if __name__ == "__main__":`; the original trains at import.
    upstream.Checkout.of(FACTS.upstream, marker='if __name__ == "__main__":'),
    module_name="pytorch_gan_gan", sample_shape=(LATENT_DIM,), container_keys=FACTS.container_keys,
    load_ours=load_generator, write_random=random_checkpoint, ours="GAN_model.GANGenerator")
UPSTREAM = COMPARISON.checkout


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    COMPARISON.add_options(p, checkpoint_example=FACTS.checkpoints[0])
    return p


def main(argv=None):
    return COMPARISON.run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli.run(main))
