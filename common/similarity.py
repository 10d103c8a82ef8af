"""Agreement between two outputs: cosine (flattened and per pixel), absolute differences, PSNR, relative L2.

Everything is computed in float64. Folders compare a PyTorch reference with an offline (ONNX Runtime or
.om) result, file by file, through compare_dirs.
"""
import math

import numpy as np

from common.fileio import read_array
from common.tool_outputs import pair_outputs
from common.errors import UserError


def _f64(a):
    return np.asarray(a, dtype=np.float64).ravel()


def cosine(a, b):
    """Flattened cosine similarity; two all-zero vectors count as identical (1.0), one alone as 0.0."""
    a, b = _f64(a), _f64(b)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0.0 or nb == 0.0:
        return 1.0 if na == nb else 0.0
    return float(np.dot(a, b) / (na * nb))


def one_minus_cosine(a, b):
    """1 - cosine, accurate below 1e-8 where 1 - cosine() would round to 0: half the squared distance
    between the unit vectors."""
    a, b = _f64(a), _f64(b)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0.0 or nb == 0.0:
        return 0.0 if na == nb else 1.0
    return float(0.5 * np.sum((a / na - b / nb) ** 2))


def pixel_cosine(a, b, axis=1, eps=1e-8):
    """Mean over pixels of the cosine across channels, as torch.cosine_similarity(a, b, dim=axis).mean().

    This is the Ascend CycleGAN metric: each pixel's colour vector is compared, then the map is averaged.
    Norms are clamped at `eps` as torch does, so an all-zero pixel pair scores 0.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    dot = np.sum(a * b, axis=axis)
    na = np.maximum(np.sqrt(np.sum(a * a, axis=axis)), eps)
    nb = np.maximum(np.sqrt(np.sum(b * b, axis=axis)), eps)
    return float(np.mean(dot / (na * nb)))


def mean_abs(a, b):
    return float(np.mean(np.abs(_f64(a) - _f64(b))))


def max_abs(a, b):
    return float(np.max(np.abs(_f64(a) - _f64(b))))


def rel_l2(a, b):
    """||a - b|| / ||a||, with a the reference."""
    a, b = _f64(a), _f64(b)
    norm = np.linalg.norm(a)
    diff = np.linalg.norm(a - b)
    return float(diff / norm) if norm else (0.0 if diff == 0 else math.inf)


def psnr(a, b, data_range=2.0):
    """Peak signal-to-noise ratio in dB; `data_range` 2.0 for tanh outputs in [-1, 1]. Identical -> inf."""
    mse = float(np.mean((_f64(a) - _f64(b)) ** 2))
    return math.inf if mse == 0.0 else float(10.0 * math.log10(data_range ** 2 / mse))


def compare(reference, candidate, pixel_axis=None, data_range=2.0):
    """All figures for one pair of arrays of the same shape."""
    reference = np.asarray(reference)
    candidate = np.asarray(candidate)
    if reference.shape != candidate.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {candidate.shape}")
    figures = {
        "cosine": cosine(reference, candidate),
        "one_minus_cosine": one_minus_cosine(reference, candidate),
        "mean_abs": mean_abs(reference, candidate),
        "max_abs": max_abs(reference, candidate),
        "rel_l2": rel_l2(reference, candidate),
        "mse": float(np.mean((_f64(reference) - _f64(candidate)) ** 2)),
        "psnr": psnr(reference, candidate, data_range),
    }
    if pixel_axis is not None:
        figures["pixel_cosine"] = pixel_cosine(reference, candidate, axis=pixel_axis)
    return figures


def summarize(per_file, data_range=2.0):
    """Aggregate per-file figures: means and worst cases; PSNR from the mean squared error of all files."""
    if not per_file:
        raise ValueError("nothing to summarize")

    def column(key):
        return np.array([f[key] for f in per_file], dtype=np.float64)

    mse = float(np.mean(column("mse")))
    agg = {
        "count": len(per_file),
        "mean_cosine": float(np.mean(column("cosine"))),
        "min_cosine": float(np.min(column("cosine"))),
        "max_one_minus_cosine": float(np.max(column("one_minus_cosine"))),
        "mean_abs": float(np.mean(column("mean_abs"))),
        "max_abs": float(np.max(column("max_abs"))),
        "max_rel_l2": float(np.max(column("rel_l2"))),
        "psnr": math.inf if mse == 0.0 else float(10.0 * math.log10(data_range ** 2 / mse)),
        "min_psnr": float(np.min(column("psnr"))),
    }
    if "pixel_cosine" in per_file[0]:
        agg["mean_pixel_cosine"] = float(np.mean(column("pixel_cosine")))
        agg["min_pixel_cosine"] = float(np.min(column("pixel_cosine")))
    return agg


def compare_dirs(reference_dir, candidate_dir, shape, dtype=np.float32, pixel_axis=None, data_range=2.0,
                 progress=None, reference_subset=False):
    """Compare every output file of `reference_dir` with its partner in `candidate_dir`.

    Files pair by sample stem and output index, whatever tool named them (tool_outputs.pair_outputs: ais_bench
    `<stem>_0.bin`, msame `<stem>_output_0.txt`, the benchmark tool's `<stem>_1.bin`, .bin/.npy/.txt); the two
    folders must hold the same samples (a missing or extra file is an error naming it). Each
    file must match `shape` (a leading -1 allows any number of samples). NaN or Inf in a candidate is an
    error, never a silently poor score. With `reference_subset`, the reference may cover only some of the
    candidate files. Each file's figures carry its name ("file", the candidate's) and both paths. Returns (per-file list of figures, aggregate figures).
    """
    pairs = pair_outputs(reference_dir, candidate_dir, subset=reference_subset)
    per_file = []
    iterator = progress(pairs) if progress else pairs
    for ref_path, cand_path in iterator:
        ref = read_array(ref_path, dtype, shape)
        cand = read_array(cand_path, dtype, shape)
        if ref.shape != cand.shape:
            raise UserError(f"{cand_path}: holds {cand.shape[0]} samples, its reference {ref_path} "
                            f"holds {ref.shape[0]}")
        for path, array in ((cand_path, cand), (ref_path, ref)):
            if not np.all(np.isfinite(array)):
                raise UserError(f"{path}: holds NaN or Inf values; expected finite model outputs")
        figures = compare(ref, cand, pixel_axis=pixel_axis, data_range=data_range)
        per_file.append({"file": cand_path.name, "path": str(cand_path), "reference_path": str(ref_path),
                         **figures})
    return per_file, summarize(per_file, data_range)
