"""Checking a folder's generator against the upstream code it reimplements (the `*_compare_upstream.py` tools).

Upstream code is never shipped here: the user clones the upstream repository at the pinned commit, applies
the folder's `.patch`, and points the compare tool at the checkout. These helpers import from it and report
the differences with one verdict.
"""
import importlib.util
from pathlib import Path

import numpy as np
import torch

from common import similarity
from common.cli import CheckFailed, UserError


def import_script(root, relpath, module_name, patched_marker, patch_name):
    """Import the single file `<root>/<relpath>` as `module_name`.

    `patched_marker` is text that only the patched file holds: an unpatched file is refused with a message
    naming the patch, before importing it can run anything (PyTorch-GAN's scripts train at import).
    """
    path = Path(root) / relpath
    if not path.is_file():
        raise UserError(f"{path}: no such file; --upstream must be a checkout of the upstream repository")
    if patched_marker not in path.read_text(encoding="utf-8"):
        raise UserError(f"{path}: not patched; run `git apply {patch_name}` in {root} first")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compare_generators(upstream, ours, inputs):
    """Run both generators in eval mode without autograd on the same inputs; similarity figures of the outputs."""
    upstream.eval()
    ours.eval()
    with torch.no_grad():
        expected = upstream(*inputs).numpy()
        actual = ours(*inputs).numpy()
    return similarity.compare(expected, actual)


def seeded_normal(shape, seed):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def report(header, figures, atol):
    """Print the comparison and fail (CheckFailed, exit status 1) when max |difference| exceeds `atol`."""
    print(header)
    print(f"  max abs diff {figures['max_abs']:.3g}, mean abs diff {figures['mean_abs']:.3g}, "
          f"1 - cosine {figures['one_minus_cosine']:.3g}")
    if not figures["max_abs"] <= atol:
        raise CheckFailed(f"outputs differ from upstream by {figures['max_abs']:.3g} (max abs), tolerance {atol:g}")
    print(f"PASS: max abs diff <= {atol:g}")
