"""Train a GAN stand-in on real handwritten digits and write it as the official state_dict.

    python3 GAN_train_standin.py ./generator_8p_0.0008_128.pth

For when the official weights are not at hand: PyTorch-GAN's gan.py training (common/standin.py: its loop,
Adam 2e-4 with betas (0.5, 0.999), BCE, its MLP discriminator, PyTorch's default initialisation) with this
folder's generator, on the training half of scikit-learn's 1,797 digit scans scaled to 28x28
(common/digits.py), seeded. The result goes in the cache folder ($GANZOO_CACHE, else ~/.cache/ganzoo), keyed by
the settings, so the same command later only copies it; the file written is what every script here reads: the
generator's state_dict with the `module.` keys of 8p training.
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import torch
from torch import nn

from common import cli, standin
from GAN_facts import IMAGE_SHAPE, LATENT_DIM
from GAN_model import GANGenerator

# 200 epochs of the 898 training scans (upstream: 200 of MNIST): 3,000 steps, 115-131 s of CPU time on one
# thread; the grid shows readable, speckled digits from about 2,000 steps (README section 6)
RECIPE = standin.Recipe("GAN", IMAGE_SHAPE[-1], epochs=200, latent_dim=LATENT_DIM)


class Discriminator(nn.Module):
    """gan.py's discriminator: the flattened image through Linear 512, LeakyReLU, Linear 256, LeakyReLU,
    Linear 1, Sigmoid."""

    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(math.prod(IMAGE_SHAPE), 512), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1), nn.Sigmoid())

    def forward(self, img):
        return self.model(img.flatten(1))


def build():
    return GANGenerator(), Discriminator()


def save(generator, discriminator, path, stats, prefix="module."):
    torch.save({prefix + k: v for k, v in generator.state_dict().items()}, path)


def trained_checkpoint(epochs=RECIPE.epochs, seed=0, progress=True):
    """The cached checkpoint of the stand-in (trained first when missing): (path, trained now)."""
    return standin.cached_checkpoint(RECIPE.but(epochs=epochs, seed=seed), build, save, progress)


def build_parser():
    return standin.trainer_parser(RECIPE, __doc__.split("\n\n")[0], "./generator_8p_0.0008_128.pth")


def main(argv=None):
    return standin.run_trainer(build_parser(), argv, RECIPE, build, save)


if __name__ == "__main__":
    sys.exit(cli.run(main))
