"""Checkpoint loading: safe unpickling, container unwrapping, prefix stripping, strict loading with clear diffs.

A checkpoint is untrusted input: it is read with ``weights_only=True``, so a file whose unpickling would run
code is refused instead of executed.
"""
import pickle
from collections.abc import Mapping

import torch

from common import fileio
from common.errors import UserError

_LIST_LIMIT = 6


# How torch.save files begin: a zip archive (PyTorch >= 1.6) or a bare pickle (protocol 2+, older releases).
_CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80")
# Other files users hand over instead, recognised by their first bytes, for a message that says what they are.
_FOREIGN_MAGIC = ((b"\x93NUMPY", "a NumPy .npy file"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
                  (b"\x1f\x8b", "a gzip archive"), (b"\x08", "possibly an ONNX model (protobuf)"))


def _describe(path):
    """What a file that is not a PyTorch checkpoint looks like, from its first bytes ('' when it looks like one)."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    if not head:
        return "an empty file"
    if head.startswith(_CHECKPOINT_MAGIC):
        return ""
    for magic, what in _FOREIGN_MAGIC:
        if head.startswith(magic):
            return what
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "a binary file that is neither a zip archive nor a pickle"
    first = text.strip().splitlines()[0][:40] if text.strip() else ""
    return f"a text file (it starts {first!r})"


def load_file(path):
    """torch.load on CPU with weights_only=True; clear one-line errors for missing, unsafe or broken files."""
    path = fileio.require_file(path, "checkpoint file")
    foreign = _describe(path)
    if foreign:
        raise UserError(f"{path}: is {foreign}, not a PyTorch checkpoint; expected a .pth file written by "
                        f"torch.save (a zip archive or a pickle of tensors)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()
        detail = next((line.strip() for line in reason if "GLOBAL" in line or "Unsupported" in line), "")
        raise UserError(f"{path}: refused, unpickling it would run code that is not plain tensors and "
                        f"containers (weights_only=True{'; ' + detail if detail else ''}); re-save it as a "
                        f"state_dict of tensors") from None
    except Exception as err:  # a corrupt or foreign file makes the unpickler raise almost anything
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path}: not a readable PyTorch checkpoint ({first})") from None


def _is_state_dict(obj):
    return isinstance(obj, Mapping) and obj and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def unwrap(obj, container_keys, path="checkpoint"):
    """Descend through containers (e.g. DCGAN's {'G': ..., 'D': ...}) until a plain state_dict is reached.

    At each level the first of `container_keys` present is taken. A mapping of tensors is returned as is.
    """
    trail = []
    while not _is_state_dict(obj):
        if not isinstance(obj, Mapping):
            raise UserError(f"{path}: expected a state_dict (a mapping of names to tensors), found "
                            f"{type(obj).__name__}{' under ' + '/'.join(trail) if trail else ''}")
        key = next((k for k in container_keys if k in obj), None)
        if key is None:
            keys = ", ".join(repr(k) for k in list(obj)[:_LIST_LIMIT])
            raise UserError(f"{path}: expected a state_dict or a container with one of "
                            f"{', '.join(repr(k) for k in container_keys)}; found keys {keys}")
        trail.append(str(key))
        obj = obj[key]
    return dict(obj)


def strip_prefix(state_dict, prefix="module."):
    """Remove a DataParallel/DDP prefix from every key that carries it."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state_dict.items()}


def instance_norm_legacy_keys(model):
    """Keys that old checkpoints carry for InstanceNorm layers without running stats.

    Files saved before PyTorch 0.4 (and in a short 2018 window of the CycleGAN repository) hold
    running_mean/running_var/num_batches_tracked for every InstanceNorm; the layers never use them.
    """
    keys = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.modules.instancenorm._InstanceNorm) and not module.track_running_stats:
            keys.update(f"{name}.{buffer}" for buffer in ("running_mean", "running_var", "num_batches_tracked"))
    return keys


def instance_norm_legacy_entries(model, generator=None):
    """The entries of instance_norm_legacy_keys(model) as a pre-0.4 file holds them, for writing checkpoints in
    that layout: num_batches_tracked 0, and running statistics drawn from `generator` (mean in [-0.5, 0.5),
    var in [0.5, 1.5); a loader that used them would show) or, without one, their initial 0 and 1. `model`
    may live on the meta device."""
    channels = {name: m.num_features for name, m in model.named_modules()
                if isinstance(m, torch.nn.modules.instancenorm._InstanceNorm)}
    entries = {}
    for key in sorted(instance_norm_legacy_keys(model)):
        layer, buffer = key.rsplit(".", 1)
        n = channels[layer]
        if buffer == "num_batches_tracked":
            entries[key] = torch.tensor(0, dtype=torch.long)
        elif buffer == "running_mean":
            entries[key] = torch.rand(n, generator=generator) - 0.5 if generator is not None else torch.zeros(n)
        else:
            entries[key] = torch.rand(n, generator=generator) + 0.5 if generator is not None else torch.ones(n)
    return entries


def _listing(keys):
    keys = sorted(keys)
    shown = ", ".join(keys[:_LIST_LIMIT])
    return shown + (f" ... and {len(keys) - _LIST_LIMIT} more" if len(keys) > _LIST_LIMIT else "")


def load_strict(model, state_dict, path="checkpoint", legacy_keys=()):
    """Load `state_dict` into `model` strictly, after dropping `legacy_keys` the model does not have.

    Any other difference (missing keys, unexpected keys, shape mismatches) is one readable error that names
    the file and the model. Shape mismatches lead, since one of them usually says what the file is (another
    image size, another channel width): a model may explain them with a method
    ``explain_shape_mismatch(key, file_shape)`` returning a short sentence, or None. Returns the list of legacy
    keys that were dropped.
    """
    expected = model.state_dict()
    dropped = [k for k in state_dict if k in legacy_keys and k not in expected]
    state_dict = {k: v for k, v in state_dict.items() if k not in dropped}
    missing = set(expected) - set(state_dict)
    unexpected = set(state_dict) - set(expected)
    mismatched_keys = [k for k in sorted(set(expected) & set(state_dict))
                       if tuple(state_dict[k].shape) != tuple(expected[k].shape)]
    explain = getattr(model, "explain_shape_mismatch", None)
    hints = {k: explain(k, tuple(state_dict[k].shape)) for k in mismatched_keys} if explain else {}
    mismatched_keys.sort(key=lambda k: not hints.get(k))  # the explained ones first, the rest in key order
    if missing or unexpected or mismatched_keys:
        parts = [hints[k] for k in mismatched_keys[:1] if hints.get(k)]
        if mismatched_keys:
            shown = "; ".join(f"{k} {tuple(state_dict[k].shape)} vs {tuple(expected[k].shape)}"
                              for k in mismatched_keys[:_LIST_LIMIT])
            more = f" ... and {len(mismatched_keys) - _LIST_LIMIT} more" if len(mismatched_keys) > _LIST_LIMIT else ""
            parts.append(f"{len(mismatched_keys)} shape mismatch(es) (file vs model): {shown}{more}")
        if missing:
            parts.append(f"missing {len(missing)} key(s): {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s): {_listing(unexpected)}")
        raise UserError(f"{path}: does not match {type(model).__name__}: " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)
    return dropped


def read_state_dict(path, container_keys=("state_dict",), prefix="module."):
    """The plain state_dict in the checkpoint file `path`, without loading it into a model: load_file, unwrap
    the container, strip `prefix` (a DataParallel `module.`; none when empty)."""
    state_dict = unwrap(load_file(path), container_keys, path)
    return strip_prefix(state_dict, prefix) if prefix else state_dict


def load_into(model, path, container_keys=("state_dict",), prefix="module.", legacy_keys=()):
    """read_state_dict(path), loaded strictly into `model` (see load_strict)."""
    return load_strict(model, read_state_dict(path, container_keys, prefix), path, legacy_keys)


def randomize_weights(model):
    """Turn default-initialised weights into seeded stand-ins for trained ones, as the driver (run without
    weights) and the tests use them (draws from torch's RNG: seed it first).

    BatchNorm layers get non-default affine parameters and running statistics, so a test sees every buffer
    loaded; Linear and Conv weights get unit gain instead of PyTorch's default 1/sqrt(3), so the signal does not
    fade through the layers and outputs vary across samples instead of settling on the biases.
    """
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
                layer.weight.uniform_(0.8, 1.2)
                layer.bias.uniform_(-0.2, 0.2)
                layer.running_mean.uniform_(-0.3, 0.3)
                layer.running_var.uniform_(0.5, 2.0)
                layer.num_batches_tracked.fill_(1000)
            elif isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)):
                layer.weight.mul_(3 ** 0.5)
    return model
