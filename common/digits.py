"""Real handwritten digits for the MNIST-sized generators: the scan set, a digit classifier, digit score and FID.

scikit-learn ships 1,797 real 8x8 digit scans (17 grey levels) in its wheel (`sklearn.datasets.load_digits`),
so nothing is downloaded. They are split once, stratified and seeded, into a training half (what the stand-in
generators and the classifier learn from, common/standin.py) and a held-out half (what generated images are
judged against). `scans(size)` gives them as the generators' data: 0..16 mapped to [-1, 1] as upstream's
Normalize(0.5, 0.5) maps MNIST's (the background at -1), each scan enlarged bilinearly to 24x24 and centred on
that background in the size x size frame, as MNIST's 20x20 digits sit in 28x28.

The judge is TF-GAN's `mnist_score` / `mnist_frechet_distance` with this classifier in place of MNIST's: a
small MLP (64 -> 128 -> 64 -> 10) trained on the training half at the scans' own 8x8 resolution, every image's
digit square (the frame without its margin) area-averaged to 8x8 first. The digit score is the Inception Score
with its p(y|x) (one split; at most 10, for confident, evenly spread digits), the digit FID the Frechet distance
of its 64 penultimate features, against the held-out half prepared the same way at the same size. Both run in
numpy (no torch: the accuracy steps that report them stay light); the classifier is trained once with
scikit-learn and cached (`cache_dir`).
"""
import hashlib
import json
from pathlib import Path

import numpy as np

from common import cache, fileio, metrics, npz, staging, tool_outputs
from common.errors import UserError

SCAN_SIZE = 8
CLASSES = 10
SPLIT_SEED = 0
# A scan as generator data: 8x8 enlarged 3x to 24x24, centred in the model's frame on the black background (a
# 4-pixel margin at 32x32, 2 at 28x28), as MNIST centres its 20x20 digits in 28x28; filling the whole frame,
# the scans' tall digits ran into the next tile of a grid.
DIGIT_SIZE = 24
# Everything the cached classifier depends on: another value is another file (its name holds their digest).
CLASSIFIER = {"hidden": (128, 64), "alpha": 1e-3, "max_iter": 500, "seed": 0, "split_seed": SPLIT_SEED,
              "version": 1}


def cache_dir():
    """Where trained stand-ins and the classifier are kept: the project's cache folder (cache.cache_folder)."""
    return cache.cache_folder()


def cache_key(settings):
    """A short digest of a JSON-able dict of settings, for cache file names."""
    text = json.dumps(settings, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cached_file(name, make):
    """The path of cache file `name`, made first by `make(temporary path)` when missing (atomically: a run
    killed meanwhile leaves no file of that name). Returns (path, made)."""
    path = cache_dir() / name
    if path.is_file():
        return path, False
    with staging.atomic_path(path) as temporary:
        make(Path(temporary))
    return path, True


# ------------------------------------------------------------------------------------------ the scans

def _load():
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images.astype(np.float32) / 8.0 - 1.0, data.target.astype(np.int64)  # 0..16 -> [-1, 1]


def split():
    """{'train': (images (N,8,8) in [-1,1], labels), 'held_out': (...)}: the stratified, seeded halves."""
    from sklearn.model_selection import train_test_split

    images, labels = _load()
    a, b, la, lb = train_test_split(images, labels, test_size=0.5, random_state=SPLIT_SEED, stratify=labels)
    return {"train": (a, la), "held_out": (b, lb)}


def resize_matrix(source, target):
    """(target, source) matrix M with M @ x @ M.T the resized image: bilinear when enlarging (as torch's
    interpolate with align_corners=False), the mean over each source window when shrinking (adaptive average
    pooling)."""
    m = np.zeros((target, source), dtype=np.float64)
    for i in range(target):
        if target >= source:
            x = max((i + 0.5) * source / target - 0.5, 0.0)
            lo = min(int(x), source - 1)
            hi = min(lo + 1, source - 1)
            m[i, lo] += 1.0 - (x - lo)
            m[i, hi] += x - lo
        else:
            lo, hi = (i * source) // target, -((-(i + 1) * source) // target)
            m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def _resize(images, size):
    """(N, H, W) -> (N, size, size) float32 through resize_matrix."""
    rows = resize_matrix(images.shape[1], size)
    cols = resize_matrix(images.shape[2], size)
    return np.einsum("ih,nhw,jw->nij", rows, images.astype(np.float64), cols).astype(np.float32)


def _margin(size):
    return max(size - DIGIT_SIZE, 0) // 2


def scans(size, part="train"):
    """The scans of `part` ('train' or 'held_out') as generator data: (N, 1, size, size) float32 in [-1, 1],
    the digit enlarged to DIGIT_SIZE and centred (at most size), and their labels."""
    images, labels = split()[part]
    margin = _margin(size)
    digit = _resize(images, size - 2 * margin)
    return np.pad(digit, ((0, 0), (margin, margin), (margin, margin)), constant_values=-1.0)[:, None], labels


# ------------------------------------------------------------------------------------------ the classifier

class DigitClassifier:
    """The cached MLP's weights, run in numpy. `accuracy`: its held-out accuracy on the 8x8 scans."""

    def __init__(self, layers, accuracy):
        self.layers, self.accuracy = layers, accuracy

    @staticmethod
    def _as_scans(images):
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 4:
            if images.shape[1] != 1:
                raise ValueError(f"expected single-channel images (N, 1, H, W), got {images.shape}")
            images = images[:, 0]
        if images.ndim != 3:
            raise ValueError(f"expected images (N, H, W) or (N, 1, H, W), got {images.shape}")
        margin = _margin(images.shape[-1])  # the classifier reads the digit's square, as scans() placed it
        images = images[:, margin:images.shape[1] - margin, margin:images.shape[2] - margin]
        return _resize(images, SCAN_SIZE).reshape(len(images), -1).astype(np.float64)

    def features_and_logits(self, images):
        """(penultimate features (N, 64), logits (N, 10)) of images in [-1, 1] of any size."""
        x = self._as_scans(images)
        for weight, bias in self.layers[:-1]:
            x = np.maximum(x @ weight + bias, 0.0)
        weight, bias = self.layers[-1]
        return x, x @ weight + bias

    def predict(self, images):
        return np.argmax(self.features_and_logits(images)[1], axis=1)


def _train_classifier(path):
    from sklearn.neural_network import MLPClassifier

    halves = split()
    (train, train_labels), (held, held_labels) = halves["train"], halves["held_out"]
    mlp = MLPClassifier(CLASSIFIER["hidden"], alpha=CLASSIFIER["alpha"], max_iter=CLASSIFIER["max_iter"],
                        random_state=CLASSIFIER["seed"])
    mlp.fit(train.reshape(len(train), -1), train_labels)
    accuracy = float(mlp.score(held.reshape(len(held), -1), held_labels))
    arrays = {f"w{i}": w for i, w in enumerate(mlp.coefs_)}
    arrays.update({f"b{i}": b for i, b in enumerate(mlp.intercepts_)})
    npz.write_npz(path, atomic=False, accuracy=np.float64(accuracy),
                     settings=np.array(json.dumps(CLASSIFIER, sort_keys=True)), **arrays)


def classifier():
    """The digit classifier, trained on the training half once (a few seconds) and then read from the cache."""
    path, _ = cached_file(f"digit-classifier-{cache_key(CLASSIFIER)}.npz", _train_classifier)
    depth = len(CLASSIFIER["hidden"]) + 1
    try:
        with np.load(path, allow_pickle=False) as data:
            layers = [(data[f"w{i}"].astype(np.float64), data[f"b{i}"].astype(np.float64)) for i in range(depth)]
            accuracy = float(data["accuracy"])
    except (KeyError, ValueError, OSError) as err:
        raise UserError(f"{path}: not a digit classifier of this version ({err}); delete it to train "
                        f"it again") from None
    return DigitClassifier(layers, accuracy)


# ------------------------------------------------------------------------------------------ score and FID

def digit_score(logits):
    """The Inception Score with the classifier's p(y|x), over all samples in one split (at most 10)."""
    return metrics.inception_split_scores(logits, splits=1)[0]


def reference_moments(net, size):
    """(mu, sigma, digit score) of the classifier on the held-out half scaled to `size`."""
    real, _ = scans(size, "held_out")
    features, logits = net.features_and_logits(real)
    mu, sigma = metrics.feature_moments(features)
    return mu, sigma, digit_score(logits)


def judge(images, net=None, reference=None):
    """{'digit_score', 'digit_fid'} of generated images (N >= 2, 1, S, S) in [-1, 1], the FID against the
    held-out half at size S (`reference`: its reference_moments, when already computed)."""
    net = net or classifier()
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] < 2:
        raise ValueError(f"expected at least 2 images (N, 1, H, W), got {images.shape}")
    mu, sigma, _ = reference or reference_moments(net, images.shape[-1])
    features, logits = net.features_and_logits(images)
    return {"digit_score": digit_score(logits), "digit_fid": metrics.fid_from_features(features, mu, sigma)}


def _read_finite(path, sample_shape):
    samples = fileio.read_array(path, shape=(-1, *sample_shape))
    if not np.all(np.isfinite(samples)):
        raise UserError(f"{path}: holds NaN or Inf values; expected finite model outputs")
    return samples


def accuracy_figures(reference_dir, offline_dir, sample_shape):
    """What the DCGAN and GAN accuracy steps report beside the cosine: the digit score and digit FID of the
    offline outputs and of the PyTorch ones (the same up to rounding), the held-out half's own score for
    reference, and the classifier's held-out accuracy ({} for fewer than 2 images). Files pair as the comparison
    pairs them."""
    pairs = tool_outputs.pair_outputs(reference_dir, offline_dir)
    offline, pytorch = [], []
    for reference_path, offline_path in pairs:
        offline.append(_read_finite(offline_path, sample_shape))
        pytorch.append(_read_finite(reference_path, sample_shape))
    if sum(len(batch) for batch in offline) < 2:
        return {}  # a score of one image says nothing, and its FID does not exist
    net = classifier()
    reference = reference_moments(net, sample_shape[-1])
    off, pth = judge(np.concatenate(offline), net, reference), judge(np.concatenate(pytorch), net, reference)
    return {"digit_score": off["digit_score"], "digit_fid": off["digit_fid"],
            "pth_digit_score": pth["digit_score"], "pth_digit_fid": pth["digit_fid"],
            "real_digit_score": reference[2], "digit_classifier_accuracy": net.accuracy}


def summary_line(figures):
    """The log's line of accuracy_figures."""
    if not figures:
        return "digit score and digit FID: not computed (fewer than 2 images)"
    return (f"digit score (offline / PyTorch / real held-out scans) : {figures['digit_score']:.4f} / "
            f"{figures['pth_digit_score']:.4f} / {figures['real_digit_score']:.4f} (at most {CLASSES}), "
            f"digit FID vs the held-out scans : {figures['digit_fid']:.4f} / {figures['pth_digit_fid']:.4f} "
            f"(classifier held-out accuracy {100 * figures['digit_classifier_accuracy']:.1f}%)")
