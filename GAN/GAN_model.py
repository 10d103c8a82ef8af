"""The MLP generator of PyTorch-GAN gan.py (MNIST 28x28) and of Ascend's generator_8p_0.0008_128.pth.

Z (B, 100) -> Linear 128, LeakyReLU -> [Linear, BatchNorm1d(eps 0.8), LeakyReLU] x 3 (256, 512, 1024)
-> Linear 784, Tanh -> view (B, 1, 28, 28). The Sequential indices are upstream's, so the checkpoint's keys
(model.0.*, model.2.*, model.3.* ...) load strictly; the official file is a plain state_dict, possibly with the
`module.` prefixes of 8p DDP training, which are stripped.
"""
import math

import torch
from torch import nn

from common import checkpoint

from GAN_facts import IMAGE_SHAPE, LATENT_DIM


class GANGenerator(nn.Module):
    """Z (B, 100) -> image (B, 1, 28, 28) in [-1, 1]."""

    def __init__(self, latent_dim=LATENT_DIM, img_shape=IMAGE_SHAPE):
        super().__init__()
        self.img_shape = tuple(img_shape)

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                # BatchNorm1d(n, 0.8): the second positional argument is eps, a quirk of upstream kept by the
                # weights (not momentum).
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(latent_dim, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, math.prod(self.img_shape)),
            nn.Tanh(),
        )

    def explain_shape_mismatch(self, key, file_shape):
        """What a checkpoint's last Linear of another height says (checkpoint.load_strict asks)."""
        last = f"model.{len(self.model) - 2}.weight"
        side = math.isqrt(file_shape[0]) if key == last and file_shape else 0
        if side and side * side == file_shape[0] and file_shape[0] != math.prod(self.img_shape):
            return (f"the file's last Linear layer makes {file_shape[0]} values: a {side}x{side} single-channel "
                    f"generator, this one is {self.img_shape[1]}x{self.img_shape[2]}")
        return None

    def forward(self, z):
        img = self.model(z)
        return img.view(img.size(0), *self.img_shape)


def load_generator(path):
    """The generator of a checkpoint file (a state_dict, `module.` prefixes stripped), in eval mode: BatchNorm
    uses its running statistics, as the exported graph does, so batch 1 works."""
    model = GANGenerator()
    checkpoint.load_into(model, path)
    return model.eval()


def random_generator(seed=0):
    """A generator with seeded random weights: BatchNorm layers get non-default affine parameters and running
    statistics, and weights unit gain (checkpoint.randomize_weights)."""
    torch.manual_seed(seed)
    return checkpoint.randomize_weights(GANGenerator()).eval()


def random_checkpoint(path, seed=0, prefix="module."):
    """Write random_generator(seed) as the official file is: a plain state_dict, keys with `prefix`. Returns
    `path`."""
    torch.save({prefix + k: v for k, v in random_generator(seed).state_dict().items()}, path)
    return path
