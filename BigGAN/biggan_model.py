"""The BigGAN-PyTorch 128x128 generator (G_ema.pth), checkpoint-exact, in the export layout (noise, label).

Upstream: https://github.com/ajbrock/BigGAN-PyTorch at 98459431 (BigGAN.py, layers.py), config of the
released model: G_ch 96, dim_z 120, shared_dim 128, hier, G_attn '64', SN_eps 1e-6, BN_eps 1e-5, plain BN
with stored statistics. The width (G_ch), the z chunk and the embedding size are read from the checkpoint's
shapes, so reduced-width test checkpoints go through the same code.

Inputs are those of the Ascend export (biggan.patch): z (B, 120) is split into 6 chunks of 20; `noise`
(B, 1, 20) is chunk 0 and `label` (B, 5, 148) holds, for block k, [shared(y) (128) | z chunk k+1 (20)].

Spectral norm is computed as upstream computes it in eval mode: one power-iteration step from the stored
`u0`, without updating it (`sv0` is a logging buffer, never used). Folding it (the default) divides each
weight once, at load time, with exactly upstream's float32 operations, so the forward and the exported graph
are plain convolutions and linears. Unfolded, the power iteration runs in the forward as upstream's does and
exports as ReduceL2/Clip/Div nodes (the original Ascend graph).
"""
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import checkpoint
from common.errors import UserError

from biggan_facts import FACTS, LABEL_SHAPE, NOISE_SHAPE

BOTTOM_WIDTH = 4
IN_MULT = (16, 16, 8, 4, 2)   # arch[128] in_channels / G_ch
OUT_MULT = (16, 8, 4, 2, 1)   # arch[128] out_channels / G_ch
ATTENTION_BLOCK = 3           # the block that ends at 64x64 carries self-attention (G_attn '64')
SN_EPS = 1e-6
BN_EPS = 1e-5


@dataclass(frozen=True)
class Config:
    ch: int = 96           # G_ch
    z_chunk: int = NOISE_SHAPE[-1]                     # dim_z // (number of blocks + 1): 20
    shared_dim: int = LABEL_SHAPE[-1] - NOISE_SHAPE[-1]  # class embedding size: 128
    n_classes: int = 1000

    @property
    def num_blocks(self):
        return len(IN_MULT)

    @property
    def dim_z(self):
        return self.z_chunk * (self.num_blocks + 1)

    @property
    def label_dim(self):
        return self.shared_dim + self.z_chunk

    @property
    def noise_shape(self):
        return (1, self.z_chunk)

    @property
    def label_shape(self):
        return (self.num_blocks, self.label_dim)


def config_from_state_dict(state_dict, path="checkpoint"):
    """The Config whose generator has the shapes of `state_dict` (a strict load then checks every key)."""
    for key in ("linear.weight", "shared.weight"):
        if key not in state_dict or state_dict[key].dim() != 2:
            raise UserError(f"{path}: not a BigGAN generator state_dict (no 2-d {key!r}); expected G_ema.pth "
                            f"of BigGAN-PyTorch")
    rows, z_chunk = state_dict["linear.weight"].shape
    n_classes, shared_dim = state_dict["shared.weight"].shape
    per_ch = IN_MULT[0] * BOTTOM_WIDTH ** 2
    ch = rows // per_ch
    if rows % per_ch or ch % 4:  # attention needs (2 * G_ch) / 8 channels
        raise UserError(f"{path}: linear.weight has {rows} rows; a BigGAN 128 generator has "
                        f"{per_ch} * G_ch rows with G_ch a multiple of 4")
    return Config(ch=int(ch), z_chunk=int(z_chunk), shared_dim=int(shared_dim), n_classes=int(n_classes))


# ------------------------------------------------------------------------------------------ layers

class SNMixin:
    """Upstream's layers.SN for one singular value and one iteration, eval semantics only."""

    def _init_sn(self, num_outputs):
        self.register_buffer("u0", torch.randn(1, num_outputs))
        self.register_buffer("sv0", torch.ones(1))
        self.sn_folded = False

    def sn_weight(self):
        if self.sn_folded:
            return self.weight
        # layers.power_iteration with update=False, then layers.SN.W_, op for op.
        w_mat = self.weight.view(self.weight.size(0), -1)
        v = F.normalize(torch.matmul(self.u0, w_mat), eps=SN_EPS)
        u = F.normalize(torch.matmul(v, w_mat.t()), eps=SN_EPS)
        sigma = torch.squeeze(torch.matmul(torch.matmul(v, w_mat.t()), u.t()))
        return self.weight / sigma

    @torch.no_grad()
    def fold_sn(self):
        """Replace the weight by weight / sigma once; the forward then uses it as a plain weight."""
        if not self.sn_folded:
            self.weight.copy_(self.sn_weight())
            self.sn_folded = True


class SNConv2d(nn.Conv2d, SNMixin):
    def __init__(self, in_channels, out_channels, kernel_size=3, padding=1, bias=True):
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, padding=padding, bias=bias)
        self._init_sn(out_channels)

    def forward(self, x):
        return F.conv2d(x, self.sn_weight(), self.bias, self.stride, self.padding)


class SNLinear(nn.Linear, SNMixin):
    def __init__(self, in_features, out_features, bias=True):
        nn.Linear.__init__(self, in_features, out_features, bias)
        self._init_sn(out_features)

    def forward(self, x):
        return F.linear(x, self.sn_weight(), self.bias)


class ConditionalBN(nn.Module):
    """layers.ccbn (norm_style 'bn'): stored statistics, class-conditional gain 1 + gain(y) and bias(y)."""

    def __init__(self, channels, cond_dim):
        super().__init__()
        self.gain = SNLinear(cond_dim, channels, bias=False)
        self.bias = SNLinear(cond_dim, channels, bias=False)
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x, y):
        gain = (1 + self.gain(y)).view(y.size(0), -1, 1, 1)
        bias = self.bias(y).view(y.size(0), -1, 1, 1)
        out = F.batch_norm(x, self.stored_mean, self.stored_var, None, None, False, 0.1, BN_EPS)
        return out * gain + bias


class OutputBN(nn.Module):
    """layers.bn: stored statistics with learned gain and bias."""

    def __init__(self, channels):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x):
        return F.batch_norm(x, self.stored_mean, self.stored_var, self.gain, self.bias, False, 0.1, BN_EPS)


class GBlock(nn.Module):
    """layers.GBlock with nearest x2 upsampling; the 1x1 shortcut runs after the upsampling."""

    def __init__(self, in_channels, out_channels, cond_dim):
        super().__init__()
        self.conv1 = SNConv2d(in_channels, out_channels)
        self.conv2 = SNConv2d(out_channels, out_channels)
        self.conv_sc = SNConv2d(in_channels, out_channels, kernel_size=1, padding=0)
        self.bn1 = ConditionalBN(in_channels, cond_dim)
        self.bn2 = ConditionalBN(out_channels, cond_dim)

    def forward(self, x, y):
        h = F.relu(self.bn1(x, y))
        h = F.interpolate(h, scale_factor=2)
        x = F.interpolate(x, scale_factor=2)
        h = self.conv1(h)
        h = F.relu(self.bn2(h, y))
        h = self.conv2(h)
        return h + self.conv_sc(x)


class Attention(nn.Module):
    """layers.Attention (SA-GAN non-local block as released)."""

    def __init__(self, ch):
        super().__init__()
        self.ch = ch
        self.theta = SNConv2d(ch, ch // 8, kernel_size=1, padding=0, bias=False)
        self.phi = SNConv2d(ch, ch // 8, kernel_size=1, padding=0, bias=False)
        self.g = SNConv2d(ch, ch // 2, kernel_size=1, padding=0, bias=False)
        self.o = SNConv2d(ch // 2, ch, kernel_size=1, padding=0, bias=False)
        self.gamma = nn.Parameter(torch.tensor(0.0))

    def forward(self, x, y=None):
        theta = self.theta(x)
        phi = F.max_pool2d(self.phi(x), [2, 2])
        g = F.max_pool2d(self.g(x), [2, 2])
        theta = theta.view(-1, self.ch // 8, x.shape[2] * x.shape[3])
        phi = phi.view(-1, self.ch // 8, x.shape[2] * x.shape[3] // 4)
        g = g.view(-1, self.ch // 2, x.shape[2] * x.shape[3] // 4)
        # Softmax over the last axis: also what opset 11's 2-D-coercing Softmax computes.
        beta = F.softmax(torch.bmm(theta.transpose(1, 2), phi), -1)
        o = self.o(torch.bmm(g, beta.transpose(1, 2)).view(-1, self.ch // 2, x.shape[2], x.shape[3]))
        return self.gamma * o + x


class Generator(nn.Module):
    """BigGAN.Generator (hier, G_shared) with the export-layout forward(noise, label); inference only."""

    def __init__(self, config=Config()):
        super().__init__()
        self.config = config
        ch, cond = config.ch, config.label_dim
        self.shared = nn.Embedding(config.n_classes, config.shared_dim)  # used by preprocessing, not forward
        self.linear = SNLinear(config.z_chunk, IN_MULT[0] * ch * BOTTOM_WIDTH ** 2)
        blocks = []
        for index, (cin, cout) in enumerate(zip(IN_MULT, OUT_MULT)):
            block = [GBlock(cin * ch, cout * ch, cond)]
            if index == ATTENTION_BLOCK:
                block.append(Attention(cout * ch))
            blocks.append(nn.ModuleList(block))
        self.blocks = nn.ModuleList(blocks)
        self.output_layer = nn.Sequential(OutputBN(OUT_MULT[-1] * ch), nn.ReLU(),
                                          SNConv2d(OUT_MULT[-1] * ch, 3))

    def forward(self, noise, label):
        h = self.linear(noise.flatten(1))
        h = h.view(h.size(0), -1, BOTTOM_WIDTH, BOTTOM_WIDTH)
        for index, blocklist in enumerate(self.blocks):
            y = label[:, index, :]
            for block in blocklist:
                h = block(h, y)
        return torch.tanh(self.output_layer(h))

    def sn_layers(self):
        return [m for m in self.modules() if isinstance(m, SNMixin)]

    def fold_spectral_norm(self):
        """Divide every SN weight by its eval-mode sigma once (this model's state_dict is then no longer a
        checkpoint: keep G_ema.pth as the source of truth)."""
        for layer in self.sn_layers():
            layer.fold_sn()
        return self


def load_state_dict_file(path):
    """The plain state_dict of a G_ema.pth (a DataParallel `module.` prefix is stripped)."""
    return checkpoint.read_state_dict(path, FACTS.container_keys)


def load_generator(path, fold_sn=True):
    """G_ema.pth -> Generator in eval mode, loaded strictly; spectral norm folded unless `fold_sn` is False."""
    state_dict = load_state_dict_file(path)
    model = Generator(config_from_state_dict(state_dict, path))
    checkpoint.load_strict(model, state_dict, path)
    model.eval()
    return model.fold_spectral_norm() if fold_sn else model


# ------------------------------------------------------------------------------------------ inputs

def make_inputs(z, embedded, config):
    """(z (B, dim_z), shared(y) (B, shared_dim)) -> noise (B, 1, z_chunk), label (B, blocks, shared+chunk).

    Row k of label is [shared(y) | z chunk k+1], as upstream's forward concatenates them for block k.
    Works on numpy arrays and torch tensors alike.
    """
    b, c = z.shape[0], config.z_chunk
    chunks = z.reshape(b, config.num_blocks + 1, c)
    noise = chunks[:, :1, :]
    emb = embedded.reshape(b, 1, config.shared_dim)
    if isinstance(z, torch.Tensor):
        label = torch.cat([emb.expand(b, config.num_blocks, config.shared_dim), chunks[:, 1:, :]], 2)
    else:
        label = np.concatenate([np.broadcast_to(emb, (b, config.num_blocks, config.shared_dim)),
                                chunks[:, 1:, :]], axis=2)
    return noise, label


SAMPLE_CHUNK = 1024  # samples drawn per random stream: the first k samples do not depend on how many are drawn


def sample_latents(count, config, seed=0, truncation=None):
    """Seeded z ~ N(0, 1) (B, dim_z) float32 and classes y uniform in [0, n_classes), int64.

    Samples are drawn in chunks of SAMPLE_CHUNK, z and y each from its own stream
    (numpy default_rng([seed, chunk, stream])) consumed in sample order, so the first k samples are the same
    whatever `count` is, and y does not depend on `truncation`. With `truncation`, z is drawn from the normal
    truncated to [-truncation, truncation] (the truncation trick), by inverting the normal CDF on a uniform
    draw: the distribution of redrawing every value outside until none is, with one draw per value.
    """
    if truncation is not None and not truncation > 0:
        raise UserError(f"--truncation {truncation}: expected a positive threshold such as 0.5")
    if seed < 0:
        raise UserError(f"--seed {seed}: expected a non-negative integer")
    from scipy.special import ndtr, ndtri

    zs, ys = [], []
    for chunk, start in enumerate(range(0, count, SAMPLE_CHUNK)):
        n = min(SAMPLE_CHUNK, count - start)
        z_stream = np.random.default_rng([seed, chunk, 0])
        if truncation is None:
            z = z_stream.standard_normal((n, config.dim_z), dtype=np.float32)
        else:
            low, high = ndtr(-truncation), ndtr(truncation)
            z = ndtri(low + (high - low) * z_stream.random((n, config.dim_z)))
            z = np.clip(z, -truncation, truncation).astype(np.float32)
        zs.append(z)
        ys.append(np.random.default_rng([seed, chunk, 1]).integers(0, config.n_classes, size=n, dtype=np.int64))
    return np.concatenate(zs), np.concatenate(ys)


def seeded_inputs(model, count, seed=0):
    """Seeded (noise, label) float32 arrays for `model`, built as biggan_preprocess.py builds them."""
    z, y = sample_latents(count, model.config, seed)
    noise, label = make_inputs(z, model.shared.weight.detach().numpy()[y], model.config)
    return np.ascontiguousarray(noise), np.ascontiguousarray(label)


# ------------------------------------------------------------------------------------------ test weights

def random_state_dict(ch=8, seed=0, calibration_batch=2):
    """Seeded random weights for a G_ch-wide generator, with non-default buffers everywhere.

    Trained-looking rather than default: SN weights of random scale (sigma != 1, and one power step from
    u0 != the exact sigma), random u0 and sv0, non-zero biases and attention gamma, and stored BN statistics
    set from one seeded calibration batch (then perturbed; the variances 3-5x larger, which keeps the residual
    stream and the attention logits moderate), so that the output is neither flat nor saturated and float32
    rounding stays at the level of the released model's. Returned as a plain state_dict, as G_ema.pth.
    """
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=generator)

    def uniform(low, high, *shape):
        return low + (high - low) * torch.rand(*shape, generator=generator)

    config = Config(ch=ch)
    model = Generator(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name == "shared.weight":
                param.copy_(randn(*param.shape) * 0.5)
            elif name.endswith("gamma"):
                param.fill_(0.5)
            elif name == "output_layer.0.gain":
                param.copy_(uniform(0.8, 1.2, *param.shape))
            elif name.endswith("bias") and param.dim() == 1:
                param.copy_(randn(*param.shape) * 0.1)
            else:  # SN weights: any scale, spectral norm divides it out
                param.copy_(randn(*param.shape) * 10 ** uniform(-1.0, 1.0, 1))
        for layer in model.sn_layers():
            layer.u0.copy_(randn(*layer.u0.shape))
            layer.sv0.copy_(uniform(0.5, 5.0, 1))

    def calibrate(module, args):
        x = args[0]
        mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3))
        module.stored_mean.copy_(mean + 0.1 * var.sqrt() * randn(*mean.shape))
        module.stored_var.copy_(var * uniform(3.0, 5.0, *var.shape))

    bns = [m for m in model.modules() if isinstance(m, (ConditionalBN, OutputBN))]
    hooks = [m.register_forward_pre_hook(calibrate) for m in bns]
    z, y = sample_latents(calibration_batch, config, seed)
    noise, label = make_inputs(torch.from_numpy(z), model.shared(torch.from_numpy(y)), config)
    with torch.no_grad():
        model(noise, label)
    for hook in hooks:
        hook.remove()
    return {k: v.clone() for k, v in model.state_dict().items()}


def random_checkpoint(path, ch=8, seed=0, legacy_format=False):
    """A seeded random G_ema.pth of width `ch` (plain state_dict; `legacy_format`: pre-1.6 non-zip file)."""
    torch.save(random_state_dict(ch, seed), path, _use_new_zipfile_serialization=not legacy_format)
    return path
