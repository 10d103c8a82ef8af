"""The CycleGAN resnet_9blocks generator, checkpoint-exact with the official latest_net_G_A/G_B.pth.

Upstream: junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py (ResnetGenerator with ngf 64,
InstanceNorm2d without affine parameters or running statistics, ReflectionPad2d, no dropout, 9 blocks).
The module tree and therefore every state_dict key (`model.1.weight`, `model.10.conv_block.5.bias`, ...) is
upstream's, so the official files load strictly. Old files that still carry InstanceNorm running_mean /
running_var / num_batches_tracked keys load too: those keys are dropped, as upstream's loader does.
The width (ngf) is read from the checkpoint's first convolution, as upstream's `--ngf` builds it, so a narrow
stand-in (the driver's, ngf 8: 0.7 MB instead of 45 MB a direction) goes through the same code and commands.

For the maps dataset, A is the aerial photo and B the map: G_A turns a photo into a map, G_B a map into a
photo (ONNX names and files in cyclegan_facts.py).
"""
from pathlib import Path

import torch
from torch import nn

from common import checkpoint

NGF = 64  # the released maps_cycle_gan generators' --ngf
_FIRST_CONV = "model.1.weight"  # (ngf, 3, 7, 7)


def _norm(channels):
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """x + [pad, conv3, IN, ReLU, pad, conv3, IN](x); the sub-module indices are upstream's (no dropout)."""

    def __init__(self, dim):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, bias=True), _norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, bias=True), _norm(dim))

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Upstream's ResnetGenerator(3, 3, ngf=64, norm='instance', use_dropout=False, n_blocks=9) in eval form."""

    def __init__(self, input_nc=3, output_nc=3, ngf=NGF, n_blocks=9):
        super().__init__()
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, kernel_size=7, bias=True), _norm(ngf),
                  nn.ReLU(True)]
        for mult in (1, 2):  # two stride-2 downsamplings
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=True),
                       _norm(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):  # two stride-2 upsamplings
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, kernel_size=3, stride=2, padding=1,
                                          output_padding=1, bias=True),
                       _norm(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def ngf_of(state_dict):
    """The --ngf a ResnetGenerator state_dict was built with, read from its first convolution; NGF when the file
    has none (another architecture: the strict load then lists what differs)."""
    weight = state_dict.get(_FIRST_CONV)
    return int(weight.shape[0]) if weight is not None and weight.dim() == 4 else NGF


def load_generator(path):
    """A generator with the weights of `path` (a plain state_dict, optionally with legacy IN keys), at the width
    its tensors have, eval mode."""
    state = checkpoint.read_state_dict(path)
    model = ResnetGenerator(ngf=ngf_of(state))
    checkpoint.load_strict(model, state, path, legacy_keys=checkpoint.instance_norm_legacy_keys(model))
    return model.eval()


def random_state_dict(seed=0, legacy=False, ngf=NGF):
    """Seeded random weights in upstream's layout, at width `ngf` (the released files' by default): N(0, 0.02)
    weights (upstream's init) and non-zero biases.

    With `legacy`, the 23 InstanceNorm layers also get the running_mean / running_var / num_batches_tracked
    entries that pre-0.4 files (and the single-direction downloads) carry.
    """
    generator = torch.Generator().manual_seed(seed)
    model = ResnetGenerator(ngf=ngf)
    state = {}
    for name, tensor in model.state_dict().items():
        if name.endswith("weight"):
            state[name] = torch.randn(tensor.shape, generator=generator) * 0.02
        else:
            state[name] = (torch.rand(tensor.shape, generator=generator) - 0.5) * 0.2
    if legacy:
        state.update(checkpoint.instance_norm_legacy_entries(model, generator))
    return state


def random_checkpoint(path, seed=0, legacy=False, ngf=NGF):
    """Write a seeded random checkpoint of width `ngf` as upstream saves it: torch.save of a plain state_dict."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_state_dict(seed, legacy, ngf), path)
    return path
