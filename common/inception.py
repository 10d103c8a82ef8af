"""The Inception v3 network of the IS/FID step: features computed as BigGAN-PyTorch's `inception_utils.WrapInception`
does, from weights read from a file (never downloaded): input in [-1, 1] -> (x + 1) / 2 -> ImageNet mean/std ->
bilinear resize to 299 with align_corners=True -> the 2048-d average pool of Mixed_7c and the 1000-way logits of
`fc` (with its bias). These are the "PYTORCH UNOFFICIAL" numbers of BigGAN-PyTorch, not TF-Inception numbers.

The network runs on ONNX Runtime: exported once from the weights file, cached in the project's cache folder
(common/cache.py: never beside the weights, which a reader leaves as it found them) under the weights' sha256,
and checked against torchvision's forward each time it is opened (`backend="openvino"` runs that file on
OpenVINO f32, `backend="torch"` keeps the eager path; `python3 benchmarks/run_all.py --only inception` measures
them). With `cluster`, the batches run on a Dask cluster's workers (common/cluster.py).
"""
import io
import math
from pathlib import Path
import threading

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models import inception_v3
from tqdm import tqdm

from common import backends, checkpoint, onnx_utils, optional, staging
from common.cache import cache_folder
from common.records import file_sha256
from common.errors import CheckFailed, UserError

POOL_DIM = 2048
INCEPTION_SIZE = 299
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ------------------------------------------------------------------------------------------ Inception v3

def _build_inception(aux_logits):
    return inception_v3(weights=None, aux_logits=aux_logits, transform_input=False, init_weights=False)


def load_inception(path):
    """torchvision's Inception v3 with the weights of `path` (a plain state_dict such as
    inception_v3_google.pth), loaded strictly, in eval mode.

    Files with or without the auxiliary classifier load (BigGAN's file has it; it is never run), and files
    saved before PyTorch 0.4 lack BatchNorm's `num_batches_tracked` counters, which eval mode never reads.
    """

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
    x = net.Conv2d_2b_3x3(net.Conv2d_2a_3x3(net.Conv2d_1a_3x3(x)))
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    x = net.Conv2d_4a_3x3(net.Conv2d_3b_1x1(x))
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    for name in _INCEPTION_BLOCKS:
        x = getattr(net, name)(x)
    pool = torch.mean(x.reshape(x.size(0), x.size(1), -1), 2)
    return pool, net.fc(pool)


def _pool_logits_module(net):
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


def inception_onnx_path(weights_path, cache=None):
    """Where the ONNX export of `weights_path` is cached: in the project's cache folder (cache_folder(cache)), named
    after the sha256 of the weights file (the same weights under any name share one export)."""
    return cache_folder(cache) / "inception" / f"inception_v3.{file_sha256(weights_path)[:32]}.onnx"


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
            session = onnx_utils.make_session(self.onnx_path, threads=threads)
            self._run = lambda x: session.run(None, {"image": x})
        else:  # OpenVINO's CPU plugin on the same ONNX file, f32 pinned (never its automatic bf16)
            runner = backends.OpenVinoBackend(self.onnx_path, "f32", threads)
            self._run = lambda x: runner.run([x])[0]
        self._verify(net)

    def _cached_export(self, net, path):
        # Written only where nothing is (so never over an input), whole under a temporary name, then renamed
        # (onnx_utils.export); a cache folder that cannot be written is one line naming it.
        if not path.is_file():
            dummy = torch.zeros(1, 3, INCEPTION_SIZE, INCEPTION_SIZE)
            onnx_utils.export(_pool_logits_module(net), (dummy,), path, ["image"], ["pool", "logits"], opset=13)
        return path

    def _verify(self, net):
        """The exported network on its backend against torchvision's own eval forward on a seeded batch."""
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
    pools, logits = [], []
    if cluster:
        _on_cluster(net, batches, (cluster, cluster_timeout), total, progress, (pools, logits))
    else:
        with tqdm(total=total, desc="Inception", unit="img", disable=not progress) as bar:
            for batch in batches:
                pool, logit = net(batch)
                pools.append(pool)
                logits.append(logit)
                bar.update(len(batch))
    if not pools:
        raise ValueError("no images to run through Inception")
    return np.concatenate(pools), np.concatenate(logits)


def inception_feeds(feeds):
    """The Inception network's input from a batch of images in [-1, 1] (a cluster worker's preprocessing)."""
    return [inception_input(feeds[0]).contiguous().numpy()]


def _on_cluster(net, batches, where, total, progress, found):
    """inception_features on the Dask cluster `where` ((address, timeout)): the image batches read here,
    preprocessed (inception_feeds) and run on the workers through the same verified ONNX file as `net`, the
    features appended to `found` ((pools, logits)) in order."""
    if net.onnx_path is None:
        raise UserError(f"--cluster runs the exported Inception network (backend onnxruntime or openvino), not "
                        f"backend {net.backend}")
    optional.require_dask()
    from common import cluster  # Dask only for a run that asks for a cluster (common/optional.py)

    packages = ["numpy", "onnxruntime" if net.backend == "onnxruntime" else "openvino", "torch"]
    with cluster.connect(*where, packages) as session:
        def consume(_, result):
            for into, array in zip(found, result["outputs"]):
                into.append(array)

        placed = session.place(net.onnx_path, net.backend, "f32", preprocess=inception_feeds)
        items = ((None, [np.asarray(batch, dtype=np.float32)], len(batch)) for batch in batches)
        session.run(placed, items, consume, total=total, desc="Inception", unit="img", progress=progress)
        cluster.print_workers(session.summary())  # images per second of each worker


def write_random_inception_weights(path, seed=0):
    """A seeded random Inception v3 state_dict in torchvision's format (with AuxLogits), for tests and demos.

    Convolutions get He-normal weights (std sqrt(2 / fan_in)), which keep the scale of ReLU activations
    through the depth of the network whatever the images are, so features stay O(1) instead of exploding;
    BatchNorm keeps its default statistics. Scores computed with these weights are MEANINGLESS; they only
    exercise the code path.
    """
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
