"""The DCGAN generator of Ascend's checkpoint-amp-epoch_200.pth (PyTorch-GAN dcgan.py, Ascend variant).

PyTorch-GAN's DCGAN is not a ConvTranspose network: a Linear layer makes a 128x8x8 map that two nearest
upsamplings and 3x3 convolutions grow to 32x32. Ascend's variant, whose weights are the official checkpoint,
narrows the second convolution to 32 channels (upstream: 64) and flattens a (B, 100, 1, 1) input first. The
module indices below are upstream's, so the checkpoint's keys (l1.0.*, conv_blocks.N.*) load strictly.
"""
import math

import torch
from torch import nn

from common import checkpoint

from dcgan_facts import FACTS, IMAGE_SHAPE, LATENT_DIM

CHANNELS, IMG_SIZE, _ = IMAGE_SHAPE


class DCGANGenerator(nn.Module):
    """z (B, 100) or (B, 100, 1, 1) -> image (B, 1, 32, 32) in [-1, 1]."""

    def __init__(self, img_size=IMG_SIZE, latent_dim=LATENT_DIM, channels=CHANNELS):
        super().__init__()
        self.init_size = img_size // 4
        self.l1 = nn.Sequential(nn.Linear(latent_dim, 128 * self.init_size ** 2))
        # BatchNorm2d(n, 0.8): the second positional argument is eps, a quirk of upstream kept by the weights.
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(128),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 128, 3, stride=1, padding=1),
            nn.BatchNorm2d(128, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 32, 3, stride=1, padding=1),
            nn.BatchNorm2d(32, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(32, channels, 3, stride=1, padding=1),
            nn.Tanh(),
        )

    def explain_shape_mismatch(self, key, file_shape):
        """What a checkpoint's l1.0.weight of another height says (checkpoint.load_strict asks)."""
        rows = file_shape[0] if key == "l1.0.weight" and len(file_shape) == 2 else 0
        side = math.isqrt(rows // 128) if rows % 128 == 0 else 0
        if side and side * side * 128 == rows and side != self.init_size:
            return (f"the file's Linear layer makes a 128x{side}x{side} map: a {4 * side}x{4 * side}-pixel "
                    f"generator, this one is {4 * self.init_size}x{4 * self.init_size}")
        return None

    def forward(self, z):
        out = self.l1(z.view(z.size(0), -1))
        out = out.view(out.shape[0], 128, self.init_size, self.init_size)
        return self.conv_blocks(out)


def load_generator(path):
    """The generator of a checkpoint file (Ascend's dict with 'G', or a plain state_dict), in eval mode."""
    model = DCGANGenerator()
    checkpoint.load_into(model, path, container_keys=FACTS.container_keys)
    return model.eval()


def _ascend_discriminator():
    """Ascend's discriminator layout (upstream's without the final Sigmoid); only its keys matter here."""
    def block(cin, cout, bn=True):
        layers = [nn.Conv2d(cin, cout, 3, 2, 1), nn.LeakyReLU(0.2), nn.Dropout2d(0.25)]
        return layers + [nn.BatchNorm2d(cout, 0.8)] if bn else layers

    disc = nn.Module()
    disc.model = nn.Sequential(*block(CHANNELS, 16, bn=False), *block(16, 32), *block(32, 64), *block(64, 128))
    disc.adv_layer = nn.Sequential(nn.Linear(128 * (IMG_SIZE // 16) ** 2, 1))
    return disc


def random_generator(seed=0):
    """A generator with seeded random weights: BatchNorm layers get non-default affine parameters and running
    statistics, and weights unit gain (checkpoint.randomize_weights). Leaves torch's RNG seeded state moved on."""
    torch.manual_seed(seed)
    return checkpoint.randomize_weights(DCGANGenerator()).eval()


def random_checkpoint(path, seed=0, prefix="module.", container=True):
    """Write random_generator(seed) in the official container: Ascend's training dict with 'G' (8p DDP keys
    carry `prefix`), or, with container=False, a plain state_dict as upstream-style code saves it. Returns
    `path`."""
    model = random_generator(seed)
    state = {prefix + k: v for k, v in model.state_dict().items()}
    if not container:
        torch.save(state, path)
        return path
    disc = _ascend_discriminator()
    opt_g = torch.optim.Adam(model.parameters(), lr=0.0002, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=0.0002, betas=(0.5, 0.999))
    torch.save({"epoch": 200, "arch": "dcgan", "G": state,
                "D": {prefix + k: v for k, v in disc.state_dict().items()},
                "optimizer_G": opt_g.state_dict(), "optimizer_D": opt_d.state_dict(),
                "amp": {"loss_scaler0": {"loss_scale": 65536.0, "unskipped": 0}}}, path)
    return path
