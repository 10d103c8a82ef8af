"""The digit scans, the digit classifier and its score and FID (common/digits.py), and the stand-in trainers
(common/standin.py, dcgan_train_standin.py, GAN_train_standin.py) on a one-epoch schedule (15 steps)."""
import json

import numpy as np
import pytest
import torch

from common import cache, digits, fileio, standin
from common.errors import UserError

import dcgan_acc_eval
import dcgan_model
import dcgan_pth2onnx
import dcgan_train_standin
import GAN_model
import GAN_pth2onnx
import GAN_train_standin

TRAINERS = {"DCGAN": (dcgan_train_standin, dcgan_model, dcgan_pth2onnx, (1, 32, 32)),
            "GAN": (GAN_train_standin, GAN_model, GAN_pth2onnx, (1, 28, 28))}


@pytest.fixture(scope="module")
def net():
    return digits.classifier()


def test_the_scans_are_split_in_two_stratified_halves_in_the_generators_range():
    train, train_labels = digits.scans(32)
    held, held_labels = digits.scans(28, "held_out")
    assert train.shape == (898, 1, 32, 32) and held.shape == (899, 1, 28, 28) and train.dtype == np.float32
    assert train.min() == -1.0 and train.max() == 1.0 and held.min() >= -1.0 and held.max() <= 1.0
    assert np.abs(np.bincount(train_labels) - np.bincount(held_labels)).max() <= 1  # stratified: each digit halved
    # the digit 24x24 in the middle, a black margin around it (4 pixels at 32x32, 2 at 28x28)
    for images, margin in ((train, 4), (held, 2)):
        border = np.ones(images.shape[-2:], bool)
        border[margin:-margin, margin:-margin] = False
        assert np.all(images[:, 0, border] == -1.0) and images[:, 0, ~border].max() == 1.0


@pytest.mark.parametrize("source,target", [(8, 32), (8, 28), (32, 8), (28, 8)])
def test_resizing_is_torchs_bilinear_up_and_adaptive_average_down(source, target):
    x = np.random.default_rng(0).standard_normal((3, source, source)).astype(np.float32)
    m = digits.resize_matrix(source, target)
    ours = np.einsum("ih,nhw,jw->nij", m, x, m)
    t = torch.from_numpy(x)[:, None]
    if target > source:
        expected = torch.nn.functional.interpolate(t, size=target, mode="bilinear", align_corners=False)
    else:
        expected = torch.nn.functional.adaptive_avg_pool2d(t, target)
    np.testing.assert_allclose(ours, expected[:, 0].numpy(), atol=1e-5)


def test_the_classifier_reaches_95_percent_on_the_held_out_half_at_every_size(net):
    images, labels = digits.split()["held_out"]
    assert net.accuracy >= 0.95
    assert np.mean(net.predict(images) == labels) == pytest.approx(net.accuracy)  # numpy's forward is sklearn's
    for size in (28, 32):  # what the generators learn: the scans scaled up, then back to 8x8 by the judge
        scaled, scaled_labels = digits.scans(size, "held_out")
        assert np.mean(net.predict(scaled) == scaled_labels) >= 0.95


def test_real_digits_score_near_the_maximum_and_random_generators_far_below(net):
    real, _ = digits.scans(32, "held_out")
    figures = digits.judge(real, net)
    assert 8.5 <= figures["digit_score"] <= 10 and figures["digit_fid"] < 1e-6  # the reference itself
    z = torch.from_numpy(np.random.default_rng(0).standard_normal((512, 100)).astype(np.float32))
    with torch.no_grad():
        for model in (dcgan_model, GAN_model):
            noise = model.random_generator()(z).numpy()
            judged = digits.judge(noise, net)
            assert judged["digit_score"] < 3 and judged["digit_fid"] > 50 * max(figures["digit_fid"], 1e-3), judged
    other = digits.judge(digits.scans(32)[0], net)  # the training half: real digits, not the same ones
    assert other["digit_score"] > 8.5 and 0 < other["digit_fid"] < 5


def test_the_classifier_is_cached_and_read_back(tmp_path, monkeypatch, net):
    monkeypatch.setenv(cache.CACHE_VARIABLE, str(tmp_path))
    trained = []
    real_train = digits._train_classifier
    monkeypatch.setattr(digits, "_train_classifier", lambda path: (trained.append(path), real_train(path)))
    first = digits.classifier()
    (cached,) = tmp_path.glob("digit-classifier-*.npz")
    stamp = cached.stat().st_mtime_ns
    second = digits.classifier()
    assert len(trained) == 1 and cached.stat().st_mtime_ns == stamp
    assert second.accuracy == first.accuracy == net.accuracy
    cached.write_bytes(b"not an npz")
    with pytest.raises(UserError, match=r"digit-classifier-.*\.npz: not a digit classifier .* delete it"):
        digits.classifier()


@pytest.mark.parametrize("model", sorted(TRAINERS))
def test_a_short_training_writes_the_official_container_and_is_reused(model, tmp_path, monkeypatch):
    trainer, model_module, exporter, shape = TRAINERS[model]
    monkeypatch.setenv(cache.CACHE_VARIABLE, str(tmp_path / "cache"))
    out = tmp_path / "weights.pth"
    assert trainer.main([str(out), "--epochs", "1", "--seed", "3"]) == 0
    (cached,) = (tmp_path / "cache").glob(f"{model}-standin-*.pth")
    assert out.read_bytes() == cached.read_bytes()
    state = torch.load(out, map_location="cpu", weights_only=True)
    generator_state = state["G"] if model == "DCGAN" else state
    if model == "DCGAN":
        assert set(state) == {"epoch", "arch", "G", "D"} and state["epoch"] == 1
        assert all(k.startswith("module.") for k in state["D"])
    assert all(k.startswith("module.") for k in generator_state)
    generator = model_module.load_generator(out)  # strict, through the model's own loader
    fresh = model_module.random_generator(0).state_dict()
    assert any(not torch.equal(generator.state_dict()[k], v) for k, v in fresh.items())
    assert exporter.main([str(out), str(tmp_path / "g.onnx")] if model == "DCGAN"
                         else ["--input_file", str(out), "--output_file", str(tmp_path / "g.onnx")]) == 0
    # the same settings again: read from the cache, not trained (the trainer would fail)
    stamp = cached.stat().st_mtime_ns
    monkeypatch.setattr(standin, "train", lambda *a, **k: pytest.fail("trained again"))
    assert trainer.main([str(tmp_path / "again.pth"), "--epochs", "1", "--seed", "3"]) == 0
    assert cached.stat().st_mtime_ns == stamp and (tmp_path / "again.pth").read_bytes() == cached.read_bytes()
    assert len(list((tmp_path / "cache").glob("*.pth"))) == 1


def test_a_stand_in_of_no_epochs_is_refused():
    with pytest.raises(UserError, match=r"the GAN stand-in: 0 epochs; expected at least 1"):
        GAN_train_standin.trained_checkpoint(epochs=0)


def test_the_accuracy_step_reports_the_digit_figures_of_both_runs(tmp_path, net):
    """dcgan_acc_eval on real scans as 'outputs' (PyTorch) and the same plus rounding noise (offline)."""
    real, _ = digits.scans(32, "held_out")
    offline = real[:64] + np.random.default_rng(0).normal(0, 1e-4, real[:64].shape).astype(np.float32)
    for folder, data in (("pth", real[:64]), ("om", offline)):
        (tmp_path / folder).mkdir()
        for i, sample in enumerate(data):
            fileio.write_array(tmp_path / folder / f"noise_{i:04d}_0.bin", sample[None])
    assert dcgan_acc_eval.main(["--pth_result_path", str(tmp_path / "pth"), "--om_result_path", str(tmp_path / "om"),
                                "--log_save_name", str(tmp_path / "acc.log"), "--no_report"]) == 0
    saved = json.loads((tmp_path / "acc.json").read_text())
    assert saved["digit_score"] == pytest.approx(saved["pth_digit_score"], rel=1e-4) and saved["digit_score"] > 7
    assert saved["digit_fid"] == pytest.approx(saved["pth_digit_fid"], rel=1e-3, abs=1e-3)
    assert saved["real_digit_score"] == pytest.approx(digits.judge(real, net)["digit_score"])
    assert saved["digit_classifier_accuracy"] == net.accuracy
    log = (tmp_path / "acc.log").read_text().splitlines()
    assert log[-2].startswith("digit score (offline / PyTorch / real held-out scans) : ") and log[-1].startswith("PASS")


def test_one_image_gets_no_digit_figures(tmp_path):
    """A batch-1 run of one file: the check still runs, and says the digit figures need two images."""
    real, _ = digits.scans(32, "held_out")
    for folder in ("pth", "om"):
        (tmp_path / folder).mkdir()
        fileio.write_array(tmp_path / folder / "noise_0000_0.bin", real[:1])
    assert dcgan_acc_eval.main(["--pth_result_path", str(tmp_path / "pth"), "--om_result_path", str(tmp_path / "om"),
                                "--log_save_name", str(tmp_path / "acc.log"), "--no_report"]) == 0
    assert "digit_score" not in json.loads((tmp_path / "acc.json").read_text())
    assert "digit score and digit FID: not computed (fewer than 2 images)" in (tmp_path / "acc.log").read_text()
