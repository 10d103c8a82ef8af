"""The pix2pixHD label2city_1024p generator (LocalEnhancer), checkpoint-exact, and its compact-input variant.

The released `latest_net_G.pth` is a plain state_dict of NVIDIA/pix2pixHD's `networks.LocalEnhancer` built with
`--netG local --ngf 32` (models/networks.py at 5a2c872): a global trunk (GlobalGenerator with ngf 64, 4
downsamplings and 9 residual blocks, minus its last three layers) run on the input average-pooled to half
size, then one local enhancer (ngf 32, 3 residual blocks) at full size. Module indices here are upstream's,
so the keys (`model.*`, `model1_1.*`, `model1_2.*`) match the file one for one and it loads strictly. The width
(ngf) is read from the checkpoint's own tensors, as upstream's `--ngf` builds it (the trunk twice as wide), so a
narrow stand-in (the driver's, ngf 4: 11 MB instead of 731 MB) goes through the same code and commands.
"""
from pathlib import Path

import torch
from torch import nn

from common import checkpoint, origins
from common.errors import UserError

from pix2pixhd_facts import CHECKPOINT_NAME, INPUT_NC, LABEL_NC, OUTPUT_NC

NGF = 32  # the released label2city_1024p generator's --ngf (its global trunk: 64)


def _norm(channels):
    return nn.InstanceNorm2d(channels, affine=False)


class ResnetBlock(nn.Module):
    """x + [ReflPad 1, Conv 3x3, IN, ReLU, ReflPad 1, Conv 3x3, IN](x), as upstream's padding_type='reflect'."""

    def __init__(self, dim, activation):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3), _norm(dim), activation,
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3), _norm(dim))

    def forward(self, x):
        return x + self.conv_block(x)


class LocalEnhancer(nn.Module):
    """upstream LocalEnhancer(input_nc, output_nc, ngf, n_downsample_global, n_blocks_global, 1, n_blocks_local).

    forward(input_concat (B, 36, H, W) float32 one-hot + edges) -> fake_image (B, 3, H, W) in [-1, 1].
    """

    def __init__(self, input_nc=INPUT_NC, output_nc=OUTPUT_NC, ngf=NGF, n_downsample_global=4,
                 n_blocks_global=9, n_blocks_local=3):
        super().__init__()
        relu = nn.ReLU(True)  # upstream shares one ReLU instance across the trunk
        ngf_global = ngf * 2
        # Global trunk: GlobalGenerator's layers 0..36 (its final ReflPad, 7x7 conv and Tanh are dropped).
        trunk = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf_global, kernel_size=7), _norm(ngf_global), relu]
        for i in range(n_downsample_global):
            mult = 2 ** i
            trunk += [nn.Conv2d(ngf_global * mult, ngf_global * mult * 2, kernel_size=3, stride=2, padding=1),
                      _norm(ngf_global * mult * 2), relu]
        mult = 2 ** n_downsample_global
        trunk += [ResnetBlock(ngf_global * mult, relu) for _ in range(n_blocks_global)]
        for i in range(n_downsample_global):
            mult = 2 ** (n_downsample_global - i)
            trunk += [nn.ConvTranspose2d(ngf_global * mult, ngf_global * mult // 2, kernel_size=3, stride=2,
                                         padding=1, output_padding=1),
                      _norm(ngf_global * mult // 2), relu]
        self.model = nn.Sequential(*trunk)
        # Local enhancer: full-resolution features added to the trunk's output, then upsampled to the image.
        self.model1_1 = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, kernel_size=7), _norm(ngf), nn.ReLU(True),
            nn.Conv2d(ngf, ngf * 2, kernel_size=3, stride=2, padding=1), _norm(ngf * 2), nn.ReLU(True))
        local_relu = nn.ReLU(True)
        self.model1_2 = nn.Sequential(
            *[ResnetBlock(ngf * 2, local_relu) for _ in range(n_blocks_local)],
            nn.ConvTranspose2d(ngf * 2, ngf, kernel_size=3, stride=2, padding=1, output_padding=1),
            _norm(ngf), nn.ReLU(True),
            nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7), nn.Tanh())
        self.downsample = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)

    def forward(self, input_concat):
        coarse = self.model(self.downsample(input_concat))
        return self.model1_2(self.model1_1(input_concat) + coarse)


class CompactInputGenerator(nn.Module):
    """The generator fed with a uint8 label map and a uint8 edge map instead of the 36-channel float input.

    forward(label_map (B, 1, H, W) uint8 ids 0..34, edge_map (B, 1, H, W) uint8 0/1) -> fake_image. The one-hot
    expansion is Cast + Equal against the ids 0..34 + Cast, and the edge channel is a Cast and a Concat, all
    plain opset-11 operators that ATC converts; the generator then sees exactly the values the 36-channel
    file holds (0.0 and 1.0), so the outputs agree to float32 rounding. A label id of 35 or more gives an
    all-zero one-hot column (upstream's scatter would fail); the preprocess refuses such maps.
    """

    def __init__(self, generator):
        super().__init__()
        self.generator = generator
        # Not part of the state_dict: the wrapped generator's keys stay those of the official file.
        self.register_buffer("label_ids", torch.arange(LABEL_NC, dtype=torch.int32).view(1, LABEL_NC, 1, 1),
                             persistent=False)

    def forward(self, label_map, edge_map):
        # opset 11 Equal takes integer (not uint8) tensors: compare as int32.
        one_hot = torch.eq(label_map.to(torch.int32), self.label_ids).to(torch.float32)
        return self.generator(torch.cat((one_hot, edge_map.to(torch.float32)), dim=1))


def checkpoint_path(load_pretrain, which_epoch="latest"):
    """--load_pretrain as upstream takes it (a folder holding <which_epoch>_net_G.pth), or the file itself."""
    path = Path(load_pretrain)
    if path.is_dir():
        path = path / CHECKPOINT_NAME.format(epoch=which_epoch)
        if not path.is_file():
            raise UserError(f"{path}: no such checkpoint file (--load_pretrain names a folder holding "
                            f"{CHECKPOINT_NAME.format(epoch=which_epoch)}, or the .pth file itself)"
                            f"{origins.hint(path)}")
    return path


_FIRST_LOCAL_CONV = "model1_1.1.weight"  # (ngf, 36, 7, 7): the local enhancer's first convolution


def ngf_of(state_dict):
    """The --ngf a LocalEnhancer state_dict was built with, read from its first local convolution; NGF when the
    file has none (another architecture: the strict load then lists what differs)."""
    weight = state_dict.get(_FIRST_LOCAL_CONV)
    return int(weight.shape[0]) if weight is not None and weight.dim() == 4 else NGF


def empty_generator(ngf=NGF):
    """A LocalEnhancer with uninitialised storage, for loading: skips the default init of 183 M parameters."""
    with torch.device("meta"):
        model = LocalEnhancer(ngf=ngf)
    return model.to_empty(device="cpu")


def load_generator(load_pretrain, which_epoch="latest", compact=False):
    """The generator in eval mode with the checkpoint loaded strictly, at the width its tensors have.

    Only the InstanceNorm running-stat keys of pre-0.4 files are tolerated (and dropped); anything else that
    differs (a GlobalGenerator or 512p file, a trunk not twice the local width, a truncated file) is an error
    listing the keys, where upstream's lenient loader would leave layers random with a printed warning.
    """
    path = checkpoint_path(load_pretrain, which_epoch)
    state = checkpoint.read_state_dict(path)
    model = empty_generator(ngf_of(state))
    checkpoint.load_strict(model, state, path, legacy_keys=checkpoint.instance_norm_legacy_keys(model))
    model.eval()
    return CompactInputGenerator(model).eval() if compact else model


def random_state_dict(seed=0, ngf=NGF):
    """Seeded random weights with the official keys, at width `ngf` (the released file's by default): fan-in
    scaled conv weights and non-zero biases, so the outputs are far from constant and a wrong layer shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        shapes = {name: t.shape for name, t in LocalEnhancer(ngf=ngf).state_dict().items()}
    state = {}
    for name, shape in shapes.items():
        if name.endswith(".weight"):
            state[name] = torch.randn(shape, generator=generator) / shape[1:].numel() ** 0.5
        else:
            state[name] = torch.randn(shape, generator=generator) * 0.1
    return state


def random_checkpoint(path, seed=0, legacy_instance_norm=False, ngf=NGF):
    """Write seeded random weights of width `ngf` as upstream's save_network does: a plain state_dict; optionally
    with the InstanceNorm running-stat keys that files saved before PyTorch 0.4 carry."""
    state = random_state_dict(seed, ngf)
    if legacy_instance_norm:
        with torch.device("meta"):
            skeleton = LocalEnhancer(ngf=ngf)
        state.update(checkpoint.instance_norm_legacy_entries(skeleton))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path
