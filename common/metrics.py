"""Image-quality metrics: Inception v3 features, Inception Score, FID (exact and fast), moments files.

Conventions:
- Features come from torchvision's Inception v3 with weights read from a file (never downloaded), computed
  as BigGAN-PyTorch's `inception_utils.WrapInception` does: input in [-1, 1] -> (x + 1) / 2 -> ImageNet
  mean/std -> bilinear resize to 299 with align_corners=True -> the 2048-d average pool of Mixed_7c and the
  1000-way logits of `fc` (with its bias). These are the "PYTORCH UNOFFICIAL" numbers of BigGAN-PyTorch, not
  TF-Inception numbers. The network runs on ONNX Runtime: exported once from the weights file, cached in the
  project's cache folder (cache_folder: never beside the weights, which a reader leaves as it found them) under
  the weights' sha256, and checked against torchvision's forward each time it is opened
  (`backend="openvino"` runs that file on OpenVINO f32, `backend="torch"` keeps the eager path;
  `python3 benchmarks/run_all.py --only inception` measures them).
- Inception Score uses float64 log-softmax, splits sliced at i*N//splits (for N divisible by the split count,
  as 50,000 by 10, this is exactly BigGAN-PyTorch's slicing, which drops the tail otherwise) and the
  population standard deviation over splits. The order of the samples matters (class-sorted samples score far
  lower); `shuffle_seed` shuffles them reproducibly.
- FID is ||mu1 - mu2||^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2) in float64. tr sqrt(S1 S2) is the sum of the
  square roots of the eigenvalues of the symmetric matrix L^T S2 L, where S1 = L L^T (Cholesky), which has the
  eigenvalues of S1 S2: no matrix square root, no complex arithmetic, and as exact as scipy's sqrtm formula;
  its speed against that formula on 2048-d statistics is measured by `python3 benchmarks/fid_benchmark.py`
  (and by run_all.py), and the measured ratio is stated once, in README.md's "FID speed" section.
  Covariances from fewer samples than dimensions are singular; from features, such a case uses the exact
  low-rank form instead (eigenvalues of the n x n matrix A S2 A^T for the centred features A).
"""
import io
import math
import os
import threading
import zipfile
from pathlib import Path

import numpy as np

from common import fileio, staging
from common.errors import UserError

POOL_DIM = 2048
INCEPTION_SIZE = 299
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Eigenvalues of L^T S2 L below -NEGATIVE_TOLERANCE * (largest eigenvalue) cannot come from rounding of
# positive semi-definite covariances: such inputs are rejected rather than clipped.
NEGATIVE_TOLERANCE = 1e-6
_CHUNK_ROWS = 4096  # rows per float64 block when accumulating covariances


# ------------------------------------------------------------------------------------------ Inception v3

def _build_inception(aux_logits):
    from torchvision.models import inception_v3

    return inception_v3(weights=None, aux_logits=aux_logits, transform_input=False, init_weights=False)


def load_inception(path):
    """torchvision's Inception v3 with the weights of `path` (a plain state_dict such as
    inception_v3_google.pth), loaded strictly, in eval mode.

    Files with or without the auxiliary classifier load (BigGAN's file has it; it is never run), and files
    saved before PyTorch 0.4 lack BatchNorm's `num_batches_tracked` counters, which eval mode never reads.
    """
    import torch

    from common import checkpoint

    state = checkpoint.read_state_dict(path)
    if "fc.weight" not in state or "Mixed_7c.branch_pool.conv.weight" not in state:
        raise UserError(f"{path}: not Inception v3 weights (no fc.weight / Mixed_7c keys); expected "
                        f"torchvision's inception_v3_google.pth")
    net = _build_inception(aux_logits=any(k.startswith("AuxLogits.") for k in state))
    for key, value in net.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    checkpoint.load_strict(net, state, path)
    return net.eval()


_INCEPTION_BLOCKS = ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                     "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")


def _pool_and_logits(net, x):
    """Mixed_7c's average pool and the logits of `fc` from a preprocessed (B, 3, 299, 299) batch, as
    BigGAN-PyTorch's WrapInception computes them (AuxLogits never run; its dropout in eval mode is the identity)."""
    import torch
    import torch.nn.functional as F

    x = net.Conv2d_2b_3x3(net.Conv2d_2a_3x3(net.Conv2d_1a_3x3(x)))
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    x = net.Conv2d_4a_3x3(net.Conv2d_3b_1x1(x))
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    for name in _INCEPTION_BLOCKS:
        x = getattr(net, name)(x)
    pool = torch.mean(x.reshape(x.size(0), x.size(1), -1), 2)
    return pool, net.fc(pool)


def _pool_logits_module(net):
    import torch

    class PoolLogits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return _pool_and_logits(self.net, x)

    return PoolLogits().eval()


INCEPTION_BACKENDS = ("onnxruntime", "openvino", "torch")
# Agreement of the cached ONNX model with torchvision's eval forward on a seeded batch, checked on every open:
# max |difference| relative to the largest |value| of each output (float32 summation order differs).
VERIFY_RELATIVE = 1e-4
VERIFY_BATCH = 2


CACHE_VARIABLE = "GANZOO_CACHE"  # the environment variable naming the project's cache folder


def cache_folder(override=None):
    """The project's own folder for caches derived from read-only inputs (the Inception ONNX export): `override`
    (biggan_eval_acc.py --cache), else $GANZOO_CACHE, else $XDG_CACHE_HOME/ganzoo, else ~/.cache/ganzoo."""
    if override:
        return Path(override)
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "ganzoo"  # XDG: a relative one is ignored


def _weights_digest(path):
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:32]


def inception_onnx_path(weights_path, cache=None):
    """Where the ONNX export of `weights_path` is cached: in the project's cache folder (cache_folder(cache)), named
    after the sha256 of the weights file (the same weights under any name share one export)."""
    return cache_folder(cache) / "inception" / f"inception_v3.{_weights_digest(weights_path)}.onnx"


class InceptionFeatures:
    """Pool features and logits of images in [-1, 1] as BigGAN-PyTorch's WrapInception computes them (up to the
    float32 summation order).

        net = InceptionFeatures("inception_v3_google.pth")
        pool, logits = net(images)          # (B, 3, H, W) float in [-1, 1] -> (B, 2048), (B, 1000)

    backend "onnxruntime" (default): the network is exported to ONNX once per weights file, cached in the
    project's cache folder (inception_onnx_path: `cache`, else $GANZOO_CACHE, else ~/.cache/ganzoo) under the
    weights' sha256, written atomically, and compared with torchvision's forward on a seeded batch before use
    (CheckFailed otherwise).
    backend "openvino": the same cached, verified ONNX file on OpenVINO's CPU plugin in f32 (pinned: never its
    automatic bf16), compiled for each new batch shape. backend "torch": torchvision in eager mode,
    channels_last. `threads` sets the runtime's threads (0 = all cores). `python3 benchmarks/run_all.py --only
    inception` measures the three (and eager NCHW) against each other on the machine at hand.
    """

    def __init__(self, weights_path, backend="onnxruntime", threads=0, cache=None):
        import torch

        if backend not in INCEPTION_BACKENDS:
            raise UserError(f"Inception backend {backend!r}: expected one of {', '.join(INCEPTION_BACKENDS)}")
        self.backend = backend
        net = load_inception(weights_path)
        if backend == "torch":
            # channels_last runs Inception about 1.6x faster on CPUs with the same arithmetic per output.
            self.net = net.to(memory_format=torch.channels_last)
            self.onnx_path = None
            return
        self.onnx_path = self._cached_export(net, inception_onnx_path(weights_path, cache))
        if backend == "onnxruntime":
            from common import onnx_utils

            session = onnx_utils.make_session(self.onnx_path, threads=threads)
            self._run = lambda x: session.run(None, {"image": x})
        else:  # OpenVINO's CPU plugin on the same ONNX file, f32 pinned (never its automatic bf16)
            from common import infer

            runner = infer.OpenVinoBackend(self.onnx_path, "f32", threads)
            self._run = lambda x: runner.run([x])[0]
        self._verify(net)

    def _cached_export(self, net, path):
        import torch

        from common import onnx_utils

        # Written only where nothing is (so never over an input), whole under a temporary name, then renamed
        # (onnx_utils.export); a cache folder that cannot be written is one line naming it.
        if not path.is_file():
            dummy = torch.zeros(1, 3, INCEPTION_SIZE, INCEPTION_SIZE)
            onnx_utils.export(_pool_logits_module(net), (dummy,), path, ["image"], ["pool", "logits"], opset=13)
        return path

    def _verify(self, net):
        """The exported network on its backend against torchvision's own eval forward on a seeded batch."""
        import torch

        from common.errors import CheckFailed

        rng = np.random.default_rng(0)
        images = np.tanh(rng.standard_normal((VERIFY_BATCH, 3, INCEPTION_SIZE, INCEPTION_SIZE))).astype(np.float32)
        x = self._preprocess(images)
        pooled = {}
        hook = net.avgpool.register_forward_hook(lambda m, i, o: pooled.setdefault("pool", o.flatten(1)))
        try:
            with torch.inference_mode():
                ref_logits = net(x).numpy()  # torchvision's own eval forward (avgpool, dropout, fc)
        finally:
            hook.remove()
        pool, logits = self._run(x.numpy())
        for name, ref, got in (("pool", pooled["pool"].numpy(), pool), ("logits", ref_logits, logits)):
            scale = max(float(np.abs(ref).max()), 1e-30)
            diff = float(np.max(np.abs(ref - got))) if np.all(np.isfinite(got)) else float("inf")
            if not diff <= VERIFY_RELATIVE * scale:
                raise CheckFailed(f"{self.onnx_path}: Inception {name} differs from torchvision's forward by "
                                  f"{diff:.3g} (max abs; tolerance {VERIFY_RELATIVE:g} x {scale:.3g}; backend "
                                  f"{self.backend}); delete the file to export it again")

    def _preprocess(self, images):
        return inception_input(images)

    def __call__(self, images):
        import torch

        x = self._preprocess(images)
        if self.backend != "torch":
            pool, logits = self._run(x.contiguous().numpy())
            return pool, logits
        with torch.inference_mode():
            pool, logits = _pool_and_logits(self.net, x.contiguous(memory_format=torch.channels_last))
        return pool.numpy(), logits.numpy()


_RESIZE_LOCK = threading.Lock()


def inception_input(images):
    """Images (B, 3, H, W) in [-1, 1] -> the network's input tensor, as WrapInception prepares it: (x + 1) / 2,
    ImageNet mean/std, bilinear resize to 299 with align_corners=True.

    The resize runs on one torch thread, whatever the machine: F.interpolate's bilinear kernel rounds differently
    on one thread than on several (on torch 2.14, 1 thread differs from 2, 3, 4, 8 and 16 by up to 1e-6, which
    agree with each other), so without the pin the features would depend on the thread count of the process that
    computes them (a cluster worker started with --nthreads 1, a one-core machine). On this project's 2-core test
    machine one thread takes 0.11 s instead of 0.05 s for a batch of 50, against about 4.4 s for the network."""
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(x.shape)}")
    with torch.inference_mode():
        x = (x + 1.0) / 2.0
        x = (x - torch.tensor(IMAGENET_MEAN).view(1, -1, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, -1, 1, 1)
        if x.shape[2] != INCEPTION_SIZE or x.shape[3] != INCEPTION_SIZE:
            with _RESIZE_LOCK:  # one resize at a time: torch's thread setting may be process-wide
                threads = torch.get_num_threads()
                torch.set_num_threads(1)
                try:
                    x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear",
                                      align_corners=True)
                finally:
                    torch.set_num_threads(threads)
    return x


def inception_features(net, batches, total=None, progress=True, cluster=None, cluster_timeout=None):
    """Run `net` (an InceptionFeatures) over an iterable of image batches with a progress bar.

    With `cluster` (a Dask scheduler address or local:N, see common/cluster.py), the batches are computed by the
    cluster's workers on the same verified ONNX file and the same preprocessing, `cluster_timeout` seconds
    allowed to connect; the features are the same.
    Returns (pool (N, 2048) float32, logits (N, 1000) float32).
    """
    if cluster:
        from common import cluster as dask_cluster

        return dask_cluster.inception_features(net, batches, cluster, cluster_timeout, total, progress)
    from tqdm import tqdm

    pools, logits = [], []
    with tqdm(total=total, desc="Inception", unit="img", disable=not progress) as bar:
        for batch in batches:
            pool, logit = net(batch)
            pools.append(pool)
            logits.append(logit)
            bar.update(len(batch))
    if not pools:
        raise ValueError("no images to run through Inception")
    return np.concatenate(pools), np.concatenate(logits)


def write_random_inception_weights(path, seed=0):
    """A seeded random Inception v3 state_dict in torchvision's format (with AuxLogits), for tests and demos.

    Convolutions get He-normal weights (std sqrt(2 / fan_in)), which keep the scale of ReLU activations
    through the depth of the network whatever the images are, so features stay O(1) instead of exploding;
    BatchNorm keeps its default statistics. Scores computed with these weights are MEANINGLESS; they only
    exercise the code path.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    net = _build_inception(aux_logits=True)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
            elif isinstance(module, torch.nn.Linear):
                module.weight.normal_(0.0, 1.0 / math.sqrt(module.in_features), generator=generator)
                module.bias.normal_(0.0, 0.1, generator=generator)
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    staging.write_bytes(path, buffer.getvalue())
    return Path(path)


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
    from scipy.special import logsumexp

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
    return fileio.write_npz(path, mu=mu, sigma=sigma)


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
    from scipy.linalg import eigvalsh

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
    from scipy.linalg import eigvalsh

    eigenvalues = eigvalsh(centred @ sigma_ref @ centred.T / (n - 1), driver="evd", check_finite=False)
    smallest = _require_psd(eigenvalues, "the product of the covariances")
    trace_sqrt = float(np.sum(np.sqrt(np.clip(eigenvalues[1:], 0.0, None))))
    return _fid_result(float(diff @ diff), trace1, float(np.trace(sigma_ref)), trace_sqrt, smallest, "low-rank",
                       details)


def scipy_frechet_distance(mu1, sigma1, mu2, sigma2):
    """The classic formula (TTUR, pytorch-fid): scipy.linalg.sqrtm(S1 S2), real part. For comparisons only:
    about 10x slower than frechet_distance and prone to complex results on singular covariances."""
    from scipy import linalg

    mu1, sigma1 = _check_moments(mu1, sigma1, "first statistics")
    mu2, sigma2 = _check_moments(mu2, sigma2, "second statistics")
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean).real)
