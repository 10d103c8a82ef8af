"""Train a DCGAN stand-in on real handwritten digits and write it as Ascend's checkpoint container.

    python3 dcgan_train_standin.py ./checkpoint-amp-epoch_200.pth

For when the official weights are not at hand: PyTorch-GAN's dcgan.py training (common/standin.py: its loop,
Adam 2e-4 with betas (0.5, 0.999), BCE, its discriminator and its N(0, 0.02) initialisation) with this
folder's generator, on the training half of scikit-learn's 1,797 digit scans scaled to 32x32 (common/digits.py),
seeded. The result goes in the cache folder ($GANZOO_CACHE, else ~/.cache/ganzoo), keyed by the settings, so
the same command later only copies it; the file written is the container every script here reads: {'epoch',
'arch', 'G', 'D'} with the `module.` keys of 8p training.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import torch
from torch import nn

from common import cli, standin
from dcgan_facts import IMAGE_SHAPE, LATENT_DIM
from dcgan_model import DCGANGenerator

CHANNELS, IMG_SIZE, _ = IMAGE_SHAPE
# 20 epochs of the 898 training scans: 300 steps, 165-200 s of CPU time on one thread (the time budget of
# a first driver run). Every 50 steps the digit score went 2.7, 3.3, 4.3, 3.4, 2.8, 4.5; at 300 a part of the grid
# reads as digits (README section 6)
RECIPE = standin.Recipe("DCGAN", IMG_SIZE, epochs=20, latent_dim=LATENT_DIM)


class Discriminator(nn.Module):
    """dcgan.py's discriminator: four stride-2 3x3 blocks (LeakyReLU, Dropout2d, BatchNorm(eps 0.8) after all
    but the first), a Linear on the 2x2 map and a Sigmoid. Its keys are the ones Ascend's container holds
    under 'D'."""

    def __init__(self):
        super().__init__()

        def block(cin, cout, bn=True):
            layers = [nn.Conv2d(cin, cout, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True), nn.Dropout2d(0.25)]
            return layers + [nn.BatchNorm2d(cout, 0.8)] if bn else layers

        self.model = nn.Sequential(*block(CHANNELS, 16, bn=False), *block(16, 32), *block(32, 64), *block(64, 128))
        self.adv_layer = nn.Sequential(nn.Linear(128 * (IMG_SIZE // 16) ** 2, 1), nn.Sigmoid())

    def forward(self, img):
        return self.adv_layer(self.model(img).flatten(1))


def init_normal(module):
    """dcgan.py's weights_init_normal: convolutions N(0, 0.02); BatchNorm2d weights N(1, 0.02), biases 0."""
    if isinstance(module, nn.Conv2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def build():
    generator, discriminator = DCGANGenerator(), Discriminator()
    generator.apply(init_normal)
    discriminator.apply(init_normal)
    return generator, discriminator


def save(generator, discriminator, path, stats, prefix="module."):
    torch.save({"epoch": stats["epochs"], "arch": "dcgan",
                "G": {prefix + k: v for k, v in generator.state_dict().items()},
                "D": {prefix + k: v for k, v in discriminator.state_dict().items()}}, path)


def trained_checkpoint(epochs=RECIPE.epochs, seed=0, progress=True):
    """The cached checkpoint of the stand-in (trained first when missing): (path, trained now)."""
    recipe = RECIPE.but(epochs=epochs, seed=seed)
    return standin.cached_checkpoint(recipe, build, save, progress)


def build_parser():
    return standin.trainer_parser(RECIPE, __doc__.split("\n\n")[0], "./checkpoint-amp-epoch_200.pth")


def main(argv=None):
    return standin.run_trainer(build_parser(), argv, RECIPE, build, save)


if __name__ == "__main__":
    sys.exit(cli.run(main))
