"""common/metrics.py: Inception Score, FID (closed forms, scipy's formula, singular cases), moments files,
streamed image arrays, and Inception v3 features on seeded random weights."""
import math

import numpy as np
import pytest
import torch

from common import cache, inception, metrics, npz
from common.errors import UserError


def random_spd(rng, d, spectrum):
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * spectrum) @ q.T


# ------------------------------------------------------------------------------------------ Inception Score

def test_inception_score_uniform_predictions_is_one():
    mean, std = metrics.inception_score(np.zeros((40, 1000)), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_of_hand_made_logits_matches_the_closed_form():
    # K classes, each sample puts logit L on its own class; every split holds each class once, so the
    # split's marginal is uniform and KL = a log(aK) + (K-1) b log(bK) with a, b the softmax values.
    k, logit, splits = 10, 4.0, 5
    labels = np.tile(np.arange(k), splits)
    logits = np.zeros((labels.size, k))
    logits[np.arange(labels.size), labels] = logit
    a = math.exp(logit) / (math.exp(logit) + k - 1)
    b = (1 - a) / (k - 1)
    expected = math.exp(a * math.log(a * k) + (k - 1) * b * math.log(b * k))
    mean, std = metrics.inception_score(logits, splits=splits)
    assert mean == pytest.approx(expected, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)
    # Adding a constant to every logit of a sample changes nothing (softmax invariance, float64 log-softmax).
    shifted, _ = metrics.inception_score(logits + 300.0 * np.arange(labels.size)[:, None], splits=splits)
    assert shifted == pytest.approx(expected, rel=1e-12)


def test_inception_score_agrees_with_the_probability_formula_and_depends_on_order():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((200, 50)) * 3
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = [math.exp(np.mean(np.sum(part * (np.log(part) - np.log(part.mean(0))), 1)))
              for part in np.split(p, 10)]
    mean, std = metrics.inception_score(logits, splits=10)
    assert mean == pytest.approx(np.mean(scores), rel=1e-12) and std == pytest.approx(np.std(scores), rel=1e-9)

    # Class-sorted samples: every split holds one class, its marginal equals its predictions, IS = 1.
    labels = np.repeat(np.arange(10), 20)
    sharp = np.where(np.arange(10)[None, :] == labels[:, None], 8.0, 0.0)
    assert metrics.inception_score(sharp, splits=10)[0] == pytest.approx(1.0, abs=1e-12)
    shuffled, _ = metrics.inception_score(sharp, splits=10, shuffle_seed=0)
    assert shuffled > 3.0
    assert metrics.inception_score(sharp, splits=10, shuffle_seed=0)[0] == shuffled  # reproducible


@pytest.mark.parametrize("logits, splits, message", [
    (np.zeros((5, 10)), 10, "cannot form 10 splits"),
    (np.zeros(10), 1, "expected logits of shape"),
    (np.zeros((20, 10)), 0, "positive integer"),
])
def test_inception_score_rejects_bad_inputs(logits, splits, message):
    with pytest.raises(ValueError, match=message):
        metrics.inception_score(logits, splits=splits)


def test_inception_score_reports_nan_logits_as_a_user_error():
    with pytest.raises(UserError, match="logits hold NaN or Inf"):
        metrics.inception_score(np.full((20, 10), np.nan), splits=2)


# ------------------------------------------------------------------------------------------ FID

def test_fid_of_diagonal_statistics_matches_the_closed_form():
    rng = np.random.default_rng(0)
    d = 1024  # benchmarks/fid_benchmark.py checks 2048-d statistics against scipy
    a = 10 * (1e-5) ** (np.arange(d) / (d - 1))  # condition number 1e5, like Inception pool features
    b = a * np.exp(rng.uniform(-0.5, 0.5, d))
    mu1 = rng.normal(0.3, 0.1, d)
    mu2 = mu1 + rng.normal(0, 0.05, d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    fid = metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert abs(fid - expected) / expected <= 1e-12


def test_fid_of_commuting_dense_statistics_matches_the_closed_form():
    rng = np.random.default_rng(1)
    d = 256
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a = 10 * (1e-5) ** (np.arange(d) / (d - 1))
    b = a * np.exp(rng.uniform(-0.5, 0.5, d))
    mu1, mu2 = rng.normal(0.3, 0.1, d), rng.normal(0.3, 0.1, d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    details = metrics.frechet_distance(mu1, (q * a) @ q.T, mu2, (q * b) @ q.T, details=True)
    assert abs(details["fid"] - expected) / expected <= 1e-11
    assert details["method"] == "cholesky"


def test_fid_agrees_with_scipy_sqrtm_on_random_statistics():
    rng = np.random.default_rng(2)
    d = 384
    x = rng.standard_normal((2000, d)) @ rng.standard_normal((d, d)) * 0.1
    y = rng.standard_normal((3000, d)) * rng.uniform(0.1, 1.0, d) + 0.2
    mu1, s1 = metrics.feature_moments(x)
    mu2, s2 = metrics.feature_moments(y)
    fid = metrics.frechet_distance(mu1, s1, mu2, s2)
    reference = metrics.scipy_frechet_distance(mu1, s1, mu2, s2)
    assert abs(fid - reference) / reference <= 1e-9
    assert metrics.fid_from_features(x, mu2, s2) == pytest.approx(fid, rel=1e-12)
    assert metrics.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9 * np.trace(s1))


def exact_low_rank_fid(x, y):
    """||mu1 - mu2||^2 + tr S1 + tr S2 - 2 ||A B^T||_* / sqrt((n-1)(m-1)) with A, B the centred samples."""
    a, b = x - x.mean(0), y - y.mean(0)
    nuclear = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    n, m = len(x), len(y)
    return (np.sum((x.mean(0) - y.mean(0)) ** 2) + np.sum(a * a) / (n - 1) + np.sum(b * b) / (m - 1)
            - 2 * nuclear / math.sqrt((n - 1) * (m - 1)))


def test_fid_of_singular_covariances_is_real_finite_and_exact():
    rng = np.random.default_rng(4)
    d = 256
    x = rng.standard_normal((60, d)) * 0.5 + 0.3   # 60 < 256 samples: rank-59 covariances
    y = rng.standard_normal((90, d)) * 0.4 + 0.1
    exact = exact_low_rank_fid(x, y)
    mu1, s1 = metrics.feature_moments(x)
    mu2, s2 = metrics.feature_moments(y)
    both = metrics.frechet_distance(mu1, s1, mu2, s2, details=True)
    # Eigenvalues that are zero in exact arithmetic come out slightly negative: clipped, not NaN or complex.
    assert isinstance(both["fid"], float) and math.isfinite(both["fid"])
    assert both["min_eigenvalue"] < 0 and abs(both["min_eigenvalue"]) < 1e-12 * np.trace(s1) * np.trace(s2)
    assert abs(both["fid"] - exact) / exact <= 1e-6
    # Against a full-rank reference, features with N < d use the exact low-rank form.
    z = rng.standard_normal((1000, d)) * 0.3
    mu3, s3 = metrics.feature_moments(z)
    low_rank = metrics.fid_from_features(x, mu3, s3, details=True)
    assert low_rank["method"] == "low-rank"
    assert low_rank["fid"] == pytest.approx(exact_low_rank_fid(x, z), rel=1e-11)
    assert low_rank["fid"] == pytest.approx(metrics.frechet_distance(mu1, s1, mu3, s3), rel=1e-7)


@pytest.mark.parametrize("make, message", [
    (lambda e: (np.zeros(3), e(3), np.zeros(4), e(4)), "different dimensions"),
    (lambda e: (np.zeros(3), np.ones((3, 2)), np.zeros(3), e(3)), "expected mu"),
    (lambda e: (np.array([0, np.nan, 0]), e(3), np.zeros(3), e(3)), "NaN"),
    (lambda e: (np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), e(2)), "not symmetric"),
    (lambda e: (np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), e(2)), "negative variance"),
    (lambda e: (np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]), np.zeros(2), e(2)), "not positive semi-definite"),
    (lambda e: (np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]), np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]])),
     "not positive semi-definite"),
])
def test_fid_rejects_bad_statistics(make, message):
    with pytest.raises(ValueError, match=message):
        metrics.frechet_distance(*make(np.eye))


def test_fid_from_features_rejects_bad_features():
    with pytest.raises(ValueError, match="3 dimensions"):
        metrics.fid_from_features(np.zeros((5, 3)), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="N >= 2"):
        metrics.fid_from_features(np.zeros((1, 4)), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="NaN"):
        metrics.feature_moments(np.full((3, 4), np.inf))


def test_feature_moments_match_numpy_in_float64_even_with_a_large_mean():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((5000, 64)) * 0.01 + 3.0).astype(np.float32)  # mean >> std
    mu, sigma = metrics.feature_moments(x)
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(0), rtol=1e-14)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-9, atol=1e-16)


# ------------------------------------------------------------------------------------------ files

def test_moments_files_round_trip_and_bad_files(tmp_path):
    rng = np.random.default_rng(6)
    mu, sigma = metrics.feature_moments(rng.standard_normal((50, 8)))
    path = metrics.save_moments(tmp_path / "m.npz", mu, sigma)
    got_mu, got_sigma = metrics.load_moments(path)
    np.testing.assert_array_equal(got_mu, mu)
    np.testing.assert_array_equal(got_sigma, sigma)
    # BigGAN's file has a float32 mu and a float64 sigma: read as float64.
    np.savez(tmp_path / "f32.npz", mu=mu.astype(np.float32), sigma=sigma)
    assert metrics.load_moments(tmp_path / "f32.npz")[0].dtype == np.float64

    with pytest.raises(UserError, match="no such moments file"):
        metrics.load_moments(tmp_path / "missing.npz")
    np.savez(tmp_path / "keys.npz", m=mu, s=sigma)
    with pytest.raises(UserError, match=r"keys.npz: expected an npz with keys 'mu' and 'sigma', found 'm', 's'"):
        metrics.load_moments(tmp_path / "keys.npz")
    np.savez(tmp_path / "shape.npz", mu=mu, sigma=sigma[:4])
    with pytest.raises(UserError, match=r"shape.npz: expected mu \(d,\) and sigma \(d, d\)"):
        metrics.load_moments(tmp_path / "shape.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(UserError, match="text.npz: not a readable npz"):
        metrics.load_moments(tmp_path / "text.npz")


# ------------------------------------------------------------------------------------------ Inception v3

@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    return inception.write_random_inception_weights(tmp_path_factory.mktemp("inception") / "inception_v3_google.pth")


@pytest.fixture(scope="module")
def inception_nets(inception_file):
    """The ONNX Runtime and OpenVINO paths (on the file exported once into the fixture's folder) and the eager
    torchvision path."""
    return {backend: inception.InceptionFeatures(inception_file, backend=backend)
            for backend in inception.INCEPTION_BACKENDS}


@pytest.mark.parametrize("backend", inception.INCEPTION_BACKENDS)
def test_inception_features_match_torchvisions_forward(inception_file, inception_nets, backend):
    rng = np.random.default_rng(8)
    images = np.tanh(rng.standard_normal((2, 3, 128, 128))).astype(np.float32)
    net = inception_nets[backend]
    pool, logits = inception.inception_features(net, [images[:1], images[1:]], total=2, progress=False)
    assert pool.shape == (2, 2048) and logits.shape == (2, 1000)
    assert np.all(np.isfinite(pool)) and 0.05 < float(pool.std()) < 20  # O(1): calibrated random weights

    # BigGAN's preprocessing, then torchvision's own eval forward (NCHW, its avgpool, dropout and fc).
    reference = inception.load_inception(inception_file)
    pooled = {}
    reference.avgpool.register_forward_hook(lambda m, i, o: pooled.setdefault("x", o.flatten(1)))
    x = (torch.from_numpy(images) + 1) / 2
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, -1, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, -1, 1, 1)
    x = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=True)
    with torch.no_grad():
        ref_logits = reference(x).numpy()
    np.testing.assert_allclose(pool, pooled["x"].numpy(), rtol=1e-4, atol=1e-5 * float(np.abs(pool).max()))
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-4, atol=1e-5 * float(np.abs(ref_logits).max()))


def test_inception_input_does_not_depend_on_torch_threads():
    """torch's bilinear resize rounds differently on one thread than on several; the preprocessing pins it to one,
    so features are the same on a one-thread cluster worker as in a process with all cores."""
    images = np.tanh(np.random.default_rng(0).standard_normal((3, 3, 128, 128))).astype(np.float32)
    threads = torch.get_num_threads()
    try:
        results = []
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            results.append(inception.inception_input(images).numpy())
    finally:
        torch.set_num_threads(threads)
    assert results[0].shape == (3, 3, inception.INCEPTION_SIZE, inception.INCEPTION_SIZE)
    assert all(np.array_equal(results[0], other) for other in results[1:])


def test_inception_weight_file_variants_load(inception_file, tmp_path):
    state = torch.load(inception_file, weights_only=True)
    assert any(k.startswith("AuxLogits.") for k in state)
    legacy = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # pre-0.4 file
    no_aux = {"module." + k: v for k, v in state.items() if not k.startswith("AuxLogits.")}
    for name, variant in (("legacy.pth", legacy), ("no_aux.pth", no_aux)):
        torch.save(variant, tmp_path / name)
        net = inception.load_inception(tmp_path / name)
        assert not net.training
        torch.testing.assert_close(net.fc.weight, state["fc.weight"], rtol=0, atol=0)


def test_inception_bad_weight_files(inception_file, tmp_path):
    with pytest.raises(UserError, match="no such checkpoint file"):
        inception.InceptionFeatures(tmp_path / "missing.pth")
    torch.save({"linear.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="other.pth: not Inception v3 weights"):
        inception.load_inception(tmp_path / "other.pth")
    state = torch.load(inception_file, weights_only=True)
    del state["Mixed_6a.branch3x3.conv.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(UserError, match=r"broken.pth: does not match Inception3: missing 1 key\(s\): Mixed_6a"):
        inception.load_inception(tmp_path / "broken.pth")


def test_the_exported_inception_is_cached_by_hash_and_leaves_is_and_fid_unchanged(inception_file, inception_nets):
    onnx_net, eager = inception_nets["onnxruntime"], inception_nets["torch"]
    cached = onnx_net.onnx_path
    assert cached.parent == cache.cache_folder() / "inception" and cached.suffix == ".onnx"
    assert cached == inception.inception_onnx_path(inception_file)
    stamp = cached.stat().st_mtime_ns
    assert inception.InceptionFeatures(inception_file).onnx_path == cached and cached.stat().st_mtime_ns == stamp
    assert [p.name for p in inception_file.parent.iterdir()] == [inception_file.name]  # nothing beside the weights
    assert not [p for p in cached.parent.iterdir() if p.name.startswith(".")]  # no temporary left

    rng = np.random.default_rng(9)
    images = np.tanh(rng.standard_normal((8, 3, 64, 64)) * 1.5).astype(np.float32)
    batches = [images[:3], images[3:]]
    pool_pt, logits_pt = inception.inception_features(eager, batches, progress=False)
    is_pt = metrics.inception_score(logits_pt, 2)
    ref = rng.uniform(0, 1, (300, 2048)) * float(pool_pt.mean())
    mu, sigma = metrics.feature_moments(ref)
    fid_pt = metrics.fid_from_features(pool_pt, mu, sigma)
    for backend in ("onnxruntime", "openvino"):  # both run the cached ONNX file
        pool, logits = inception.inception_features(inception_nets[backend], batches, progress=False)
        is_ = metrics.inception_score(logits, 2)
        # The score to 1e-6 relative; its spread over splits (a difference of nearly equal scores) to 1e-6 of it.
        assert is_[0] == pytest.approx(is_pt[0], rel=1e-6) and is_[1] == pytest.approx(is_pt[1], abs=1e-6 * is_pt[0])
        assert np.abs(logits - logits_pt).max() <= 1e-5 * np.abs(logits_pt).max()
        assert metrics.fid_from_features(pool, mu, sigma) == pytest.approx(fid_pt, rel=1e-6), backend


def test_a_cached_inception_model_that_disagrees_with_the_weights_is_refused(inception_file, inception_nets,
                                                                             tmp_path):
    import onnx
    from onnx import numpy_helper

    from common.errors import CheckFailed

    weights, cache = tmp_path / "inception_v3_google.pth", tmp_path / "cache"  # a cache of this test's own
    weights.write_bytes(inception_file.read_bytes())
    model = onnx.load(str(inception_nets["onnxruntime"].onnx_path))
    for k, init in enumerate(model.graph.initializer):
        if tuple(init.dims) == (1000,):  # fc's bias
            model.graph.initializer[k].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 1.0, init.name))
    inception.inception_onnx_path(weights, cache).parent.mkdir(parents=True)
    onnx.save(model, str(inception.inception_onnx_path(weights, cache)))
    for backend in ("onnxruntime", "openvino"):
        with pytest.raises(CheckFailed, match=rf"Inception logits differs from torchvision's forward .*backend {backend}"):
            inception.InceptionFeatures(weights, backend=backend, cache=cache)
    with pytest.raises(UserError, match="Inception backend 'tf'"):
        inception.InceptionFeatures(weights, backend="tf")


# ------------------------------------------------------------------------------------------ the project's cache

def test_cache_folder_follows_the_option_then_the_variable_then_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv(cache.CACHE_VARIABLE, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache.cache_folder() == tmp_path / "home" / ".cache" / "ganzoo"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec: a relative path is ignored
    assert cache.cache_folder() == tmp_path / "home" / ".cache" / "ganzoo"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_folder() == tmp_path / "xdg" / "ganzoo"
    monkeypatch.setenv(cache.CACHE_VARIABLE, str(tmp_path / "variable"))
    assert cache.cache_folder() == tmp_path / "variable"
    assert cache.cache_folder(tmp_path / "option") == tmp_path / "option"


def test_a_reader_of_inception_weights_leaves_nothing_beside_them_or_in_tmp(inception_file, tmp_path, monkeypatch,
                                                                           capsys):
    """Issue 23, rule 8: biggan_eval_acc.py reads --inception-weights; the ONNX export it derives lands in the
    --cache folder under the weights' sha256 and nowhere else (not beside the weights, not in the temporary folder);
    a cache folder that cannot be made is one line, and nothing is written."""
    import hashlib
    import tempfile

    from common import cli

    import biggan_eval_acc

    weights = tmp_path / "weights" / "inception_v3_google.pth"
    weights.parent.mkdir()
    weights.write_bytes(inception_file.read_bytes())
    scratch = tmp_path / "system_tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))
    rng = np.random.default_rng(0)
    npz.write_npz(tmp_path / "gen.npz", x=np.tanh(rng.standard_normal((4, 3, 32, 32))).astype(np.float32))
    npz.write_npz(tmp_path / "y.npz", y=np.arange(4))
    metrics.save_moments(tmp_path / "m.npz", np.zeros(2048), np.eye(2048))
    argv = ["--gen-img", str(tmp_path / "gen.npz"), "--gen-y", str(tmp_path / "y.npz"), "--moments",
            str(tmp_path / "m.npz"), "--inception-weights", str(weights), "--num-inception-images", "4",
            "--num-splits", "2", "--inception-batch", "4", "--no_report", "--log", str(tmp_path / "out" / "a.log"),
            "--json", str(tmp_path / "out" / "a.json")]

    (tmp_path / "not_a_folder").write_text("a file")
    capsys.readouterr()
    assert cli.run(biggan_eval_acc.main, [*argv, "--cache", str(tmp_path / "not_a_folder" / "cache")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {tmp_path / 'not_a_folder' / 'cache'}"), err
    assert not (tmp_path / "out").exists() and (tmp_path / "not_a_folder").read_text() == "a file"

    assert biggan_eval_acc.main([*argv, "--cache", str(tmp_path / "cache")]) == 0
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:32]
    assert [p.relative_to(tmp_path / "cache").as_posix() for p in sorted((tmp_path / "cache").rglob("*"))] == \
        ["inception", f"inception/inception_v3.{digest}.onnx"]
    assert [p.name for p in weights.parent.iterdir()] == [weights.name]
    assert [p.name for p in scratch.iterdir() if p.name != ".ses"] == []  # .ses: importing onnxruntime writes it
