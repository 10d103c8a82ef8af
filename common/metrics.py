"""Image-quality metrics from features: Inception Score, FID (exact and fast), moments files (the features
come from common/inception.py, or from common/digits.py's classifier).

Conventions:
- Inception Score uses float64 log-softmax, splits sliced at i*N//splits (for N divisible by the split count,
  as 50,000 by 10, this is exactly BigGAN-PyTorch's slicing, which drops the tail otherwise) and the
  population standard deviation over splits. The order of the samples matters (class-sorted samples score far
  lower); `shuffle_seed` shuffles them reproducibly.
- FID is ||mu1 - mu2||^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2) in float64. tr sqrt(S1 S2) is the sum of the
  square roots of the eigenvalues of the symmetric matrix L^T S2 L, where S1 = L L^T (Cholesky), which has the
  eigenvalues of S1 S2: no matrix square root, no complex arithmetic, and as exact as scipy's sqrtm formula;
  its speed against that formula on 2048-d statistics is measured by `python3 benchmarks/fid_benchmark.py`
  (and by run_all.py), and benchmarks/RESULTS.md gives the measured ratio (docs/metrics.md).
  Covariances from fewer samples than dimensions are singular; from features, such a case uses the exact
  low-rank form instead (eigenvalues of the n x n matrix A S2 A^T for the centred features A).
"""
import math
import zipfile

import numpy as np
from scipy import linalg
from scipy.linalg import eigvalsh
from scipy.special import logsumexp

from common import fileio, npz
from common.errors import UserError

# Eigenvalues of L^T S2 L below -NEGATIVE_TOLERANCE * (largest eigenvalue) cannot come from rounding of
# positive semi-definite covariances: such inputs are rejected rather than clipped.
NEGATIVE_TOLERANCE = 1e-6
_CHUNK_ROWS = 4096  # rows per float64 block when accumulating covariances


# ------------------------------------------------------------------------------------------ Inception Score

def inception_score(logits, splits=10, shuffle_seed=None):
    """Inception Score (mean, population std over `splits`) from logits (N, C), in float64 (see
    inception_split_scores)."""
    scores = inception_split_scores(logits, splits, shuffle_seed)
    return float(np.mean(scores)), float(np.std(scores))


def inception_split_scores(logits, splits=10, shuffle_seed=None):
    """The Inception Score of each of the `splits` splits of logits (N, C), in float64.

    Per split: exp(mean_i KL(p(y|x_i) || p(y))) with p(y) the split's mean prediction. Splits are the slices
    [i*N//splits, (i+1)*N//splits). `shuffle_seed` permutes the samples first (numpy default_rng).
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"expected logits of shape (N, classes), got {logits.shape}")
    if not isinstance(splits, int) or splits < 1:
        raise ValueError(f"splits must be a positive integer, got {splits!r}")
    n = logits.shape[0]
    if n < splits:
        raise ValueError(f"{n} samples cannot form {splits} splits")
    if not np.all(np.isfinite(logits)):
        raise UserError("Inception logits hold NaN or Inf: the images fed to Inception hold NaN/Inf or are far "
                        "outside [-1, 1]")
    if shuffle_seed is not None:
        logits = logits[np.random.default_rng(shuffle_seed).permutation(n)]

    log_p = logits - logsumexp(logits, axis=1, keepdims=True)
    scores = []
    for k in range(splits):
        part = log_p[k * n // splits:(k + 1) * n // splits]
        log_marginal = logsumexp(part, axis=0) - math.log(part.shape[0])
        kl = np.sum(np.exp(part) * (part - log_marginal), axis=1)
        scores.append(math.exp(float(np.mean(kl))))
    return scores


# ------------------------------------------------------------------------------------------ moments

def _features_2d(features):
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"expected features of shape (N >= 2, dims), got {features.shape}")
    if not np.all(np.isfinite(features)):
        raise ValueError("features hold NaN or Inf")
    return features


def feature_moments(features):
    """(mu, sigma) in float64 with np.cov's N-1 normalisation, accumulated in centred float64 blocks."""
    features = _features_2d(features)
    n, d = features.shape
    mu = np.zeros(d)
    for start in range(0, n, _CHUNK_ROWS):
        mu += features[start:start + _CHUNK_ROWS].astype(np.float64).sum(axis=0)
    mu /= n
    sigma = np.zeros((d, d))
    for start in range(0, n, _CHUNK_ROWS):
        block = features[start:start + _CHUNK_ROWS].astype(np.float64) - mu
        sigma += block.T @ block
    sigma /= n - 1
    return mu, sigma


def save_moments(path, mu, sigma):
    """Write a moments file (npz with `mu` and `sigma`, as BigGAN's I128_inception_moments.npz), atomically."""
    mu, sigma = _check_moments(mu, sigma, "moments")
    return npz.write_npz(path, mu=mu, sigma=sigma)


def load_moments(path):
    """(mu, sigma) as float64 from an npz with keys `mu` (d,) and `sigma` (d, d); clear errors otherwise."""
    path = fileio.require_file(path, "moments file")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("mu", "sigma") if k not in data.files]
            if missing:
                raise UserError(f"{path}: expected an npz with keys 'mu' and 'sigma', found "
                                f"{', '.join(repr(k) for k in data.files) or 'no arrays'}")
            mu, sigma = data["mu"], data["sigma"]
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise UserError(f"{path}: not a readable npz file ({err})") from None
    try:
        return _check_moments(mu, sigma, path)
    except ValueError as err:
        raise UserError(str(err)) from None


def _check_moments(mu, sigma, what):
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
        raise ValueError(f"{what}: expected mu (d,) and sigma (d, d), got {mu.shape} and {sigma.shape}")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise ValueError(f"{what}: mu or sigma holds NaN or Inf")
    scale = max(float(np.max(np.abs(sigma))), np.finfo(np.float64).tiny)
    if float(np.max(np.abs(sigma - sigma.T))) > 1e-6 * scale:
        raise ValueError(f"{what}: sigma is not symmetric, so it is not a covariance matrix")
    if np.any(np.diag(sigma) < 0):
        raise ValueError(f"{what}: sigma has a negative variance on its diagonal")
    return mu, (sigma + sigma.T) / 2.0


# ------------------------------------------------------------------------------------------ FID

def _require_psd(eigenvalues, what):
    """Rounding leaves eigenvalues that are zero in exact arithmetic slightly negative; a clearly negative
    one means the inputs were not covariance matrices."""
    smallest, largest = float(eigenvalues[0]), float(eigenvalues[-1])
    if smallest < -NEGATIVE_TOLERANCE * max(largest, 0.0):
        raise ValueError(f"sigma is not positive semi-definite ({what} has eigenvalue {smallest:.3g}, "
                         f"largest {largest:.3g})")
    return smallest


def _sqrt_eigenvalue_sum(matrix):
    """sum(sqrt(eigenvalues)) of a symmetric positive semi-definite matrix (negative rounding counts as
    zero), and its smallest eigenvalue."""
    eigenvalues = eigvalsh((matrix + matrix.T) / 2.0, driver="evd", check_finite=False)
    smallest = _require_psd(eigenvalues, "the product of the covariances")
    return float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None)))), smallest


def _trace_sqrt_product(sigma1, sigma2):
    """tr sqrt(S1 S2) for covariances S1, S2, with the method used and the smallest eigenvalue seen."""
    for first, second in ((sigma1, sigma2), (sigma2, sigma1)):  # tr sqrt(S1 S2) = tr sqrt(S2 S1)
        try:
            factor = np.linalg.cholesky(first)
        except np.linalg.LinAlgError:
            continue  # singular (e.g. fewer samples than dimensions): try the other one
        total, smallest = _sqrt_eigenvalue_sum(factor.T @ (second @ factor))
        return total, smallest, "cholesky"
    # Both singular: S1^(1/2) from its eigendecomposition (negative rounding clipped) gives the same
    # eigenvalues through the symmetric S1^(1/2) S2 S1^(1/2).
    values, vectors = np.linalg.eigh(sigma1)
    _require_psd(values, "the first covariance")
    _require_psd(np.linalg.eigvalsh(sigma2), "the second covariance")
    root = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    total, smallest = _sqrt_eigenvalue_sum(root @ sigma2 @ root)
    return total, smallest, "eigh"


def _fid_result(mean_term, trace1, trace2, trace_sqrt, smallest, method, details):
    raw = mean_term + trace1 + trace2 - 2.0 * trace_sqrt
    # Equal statistics give 0 up to rounding (about 1e-13 of the traces); FID itself is never negative.
    fid = max(raw, 0.0)
    if not details:
        return fid
    return {"fid": fid, "raw": raw, "mean_term": mean_term, "trace_term": trace1 + trace2 - 2.0 * trace_sqrt,
            "trace_sqrt": trace_sqrt, "min_eigenvalue": smallest, "method": method}


def frechet_distance(mu1, sigma1, mu2, sigma2, details=False):
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), exact in float64.

    With `details`, returns a dict with the terms, the smallest eigenvalue of the symmetric product and the
    method ('cholesky', or 'eigh' when both covariances are singular).
    """
    mu1, sigma1 = _check_moments(mu1, sigma1, "first statistics")
    mu2, sigma2 = _check_moments(mu2, sigma2, "second statistics")
    if mu1.shape != mu2.shape:
        raise ValueError(f"statistics of different dimensions: {mu1.size} and {mu2.size}")
    diff = mu1 - mu2
    trace_sqrt, smallest, method = _trace_sqrt_product(sigma1, sigma2)
    return _fid_result(float(diff @ diff), float(np.trace(sigma1)), float(np.trace(sigma2)), trace_sqrt,
                       smallest, method, details)


def fid_from_features(features, mu_ref, sigma_ref, details=False):
    """FID of features (N, d) against reference moments.

    With N <= d the features' covariance S1 = A^T A / (N-1) is singular; tr sqrt(S1 S2) is then computed
    exactly from the N x N matrix A S2 A^T / (N-1), which has the same non-zero eigenvalues as S1 S2.
    """
    features = _features_2d(features)
    mu_ref, sigma_ref = _check_moments(mu_ref, sigma_ref, "reference statistics")
    n, d = features.shape
    if d != mu_ref.size:
        raise ValueError(f"features have {d} dimensions, the reference statistics {mu_ref.size}")
    if n > d:
        mu, sigma = feature_moments(features)
        return frechet_distance(mu, sigma, mu_ref, sigma_ref, details)
    mu = features.astype(np.float64).mean(axis=0)
    centred = features.astype(np.float64) - mu
    diff = mu - mu_ref
    trace1 = float(np.sum(centred * centred)) / (n - 1)
    # The centred rows sum to zero, so A S2 A^T has one eigenvalue that is exactly zero; computed, it is
    # rounding noise whose square root (~1e-8 relative) would be the largest error here: drop it.

    eigenvalues = eigvalsh(centred @ sigma_ref @ centred.T / (n - 1), driver="evd", check_finite=False)
    smallest = _require_psd(eigenvalues, "the product of the covariances")
    trace_sqrt = float(np.sum(np.sqrt(np.clip(eigenvalues[1:], 0.0, None))))
    return _fid_result(float(diff @ diff), trace1, float(np.trace(sigma_ref)), trace_sqrt, smallest, "low-rank",
                       details)


def scipy_frechet_distance(mu1, sigma1, mu2, sigma2):
    """The classic formula (TTUR, pytorch-fid): scipy.linalg.sqrtm(S1 S2), real part. For comparisons only:
    about 10x slower than frechet_distance and prone to complex results on singular covariances."""
    mu1, sigma1 = _check_moments(mu1, sigma1, "first statistics")
    mu2, sigma2 = _check_moments(mu2, sigma2, "second statistics")
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean).real)
