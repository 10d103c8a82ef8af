"""BigGAN: checkpoint loading, spectral norm, input layout and the scripts' guarded inputs (no ONNX here)."""
import io

import numpy as np
import pytest
import torch

import biggan_eval_acc
import biggan_model
import biggan_postprocess
import biggan_preprocess
import clip_edit
from common import fileio, metrics
from common.errors import UserError

CH = 8


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return biggan_model.random_checkpoint(tmp_path_factory.mktemp("biggan") / "G_ema.pth", CH, seed=0)


def outputs(model, seed=1, count=2):
    noise, label = biggan_model.seeded_inputs(model, count, seed)
    with torch.no_grad():
        return model(torch.from_numpy(noise), torch.from_numpy(label))


# ------------------------------------------------------------------------------------------ checkpoints

def test_checkpoint_containers_load_and_give_identical_outputs(checkpoint, tmp_path):
    state = torch.load(checkpoint, weights_only=True)
    assert len(state) == 166 and not any(k.endswith("num_batches_tracked") for k in state)
    reference = outputs(biggan_model.load_generator(checkpoint))
    assert 0.2 < float(reference.std()) < 0.9 and float((reference.abs() > 0.99).float().mean()) < 0.05
    torch.save(state, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)  # the 2019 release format
    torch.save({"module." + k: v for k, v in state.items()}, tmp_path / "module.pth")
    for name in ("legacy.pth", "module.pth"):
        assert torch.equal(outputs(biggan_model.load_generator(tmp_path / name)), reference)


def test_width_is_read_from_the_checkpoint(tmp_path):
    path = biggan_model.random_checkpoint(tmp_path / "g12.pth", ch=12, seed=1)
    model = biggan_model.load_generator(path)
    assert model.config == biggan_model.Config(ch=12)
    assert model.blocks[3][1].theta.weight.shape == (3, 24, 1, 1)
    assert outputs(model, count=1).shape == (1, 3, 128, 128)


def test_bad_checkpoints_are_named_with_the_reason(checkpoint, tmp_path):
    with pytest.raises(UserError, match="missing.pth: no such checkpoint file"):
        biggan_model.load_generator(tmp_path / "missing.pth")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match=r"other.pth: not a BigGAN generator state_dict \(no 2-d 'linear.weight'\)"):
        biggan_model.load_generator(tmp_path / "other.pth")
    state = torch.load(checkpoint, weights_only=True)
    torch.save({**state, "linear.weight": torch.zeros(6 * 256, 20)}, tmp_path / "width.pth")
    with pytest.raises(UserError, match="width.pth: linear.weight has 1536 rows; .* G_ch a multiple of 4"):
        biggan_model.load_generator(tmp_path / "width.pth")
    del state["blocks.3.1.gamma"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(UserError, match=r"partial.pth: does not match Generator: missing 1 key\(s\): blocks.3.1.gamma"):
        biggan_model.load_generator(tmp_path / "partial.pth")


def test_spectral_norm_is_one_non_updating_power_step_from_u0(checkpoint):
    live = biggan_model.load_generator(checkpoint, fold_sn=False)
    folded = biggan_model.load_generator(checkpoint)
    state = torch.load(checkpoint, weights_only=True)
    for name in ("linear", "blocks.2.0.conv1", "blocks.3.1.theta", "blocks.4.0.bn2.gain", "output_layer.2"):
        w = state[f"{name}.weight"].double().numpy()
        w = w.reshape(w.shape[0], -1)
        u0 = state[f"{name}.u0"].double().numpy()
        v = u0 @ w
        v /= np.linalg.norm(v)
        u = v @ w.T
        u /= np.linalg.norm(u)
        sigma = float((v @ w.T @ u.T).item())
        got = dict(folded.named_parameters())[f"{name}.weight"].detach().double().numpy().reshape(w.shape)
        np.testing.assert_allclose(got, w / sigma, rtol=2e-6, atol=1e-7 * np.abs(w / sigma).max())
        exact = np.linalg.svd(w, compute_uv=False)[0]
        assert abs(sigma - exact) > 1e-4 * exact            # not the exact spectral norm
        assert abs(sigma - float(state[f"{name}.sv0"])) > 1e-3  # sv0 is never used
    before = {k: v.clone() for k, v in live.state_dict().items() if k.endswith("u0")}
    assert torch.equal(outputs(live), outputs(folded))
    assert all(torch.equal(live.state_dict()[k], v) for k, v in before.items())  # eval: u0 not updated


# ------------------------------------------------------------------------------------------ preprocess

def read_inputs(noise_dir, label_dir):
    noise = np.concatenate([fileio.read_array(p, shape=(-1, 1, 20)) for p in fileio.list_data_files(noise_dir)])
    label = np.concatenate([fileio.read_array(p, shape=(-1, 5, 148)) for p in fileio.list_data_files(label_dir)])
    return noise, label


def preprocess(checkpoint, folder, *extra):
    argv = ["--pth", str(checkpoint), "--prep-noise", str(folder / "noise"), "--prep-label", str(folder / "label"),
            "--gen-y", str(folder / "gen_y.npz"), *extra]
    assert biggan_preprocess.main(argv) == 0
    noise, label = read_inputs(folder / "noise", folder / "label")
    return noise, label, np.load(folder / "gen_y.npz")["y"]


def test_preprocess_label_layout_and_determinism(checkpoint, tmp_path):
    noise, label, y = preprocess(checkpoint, tmp_path / "a", "--num-inputs", "6", "--batch-size", "2", "--seed", "3")
    assert [p.name for p in fileio.list_data_files(tmp_path / "a" / "noise")] == \
        ["input_00000.bin", "input_00001.bin", "input_00002.bin"]
    assert fileio.read_array(tmp_path / "a" / "label" / "input_00001.bin").size == 2 * 5 * 148
    shared = torch.load(checkpoint, weights_only=True)["shared.weight"].numpy()
    config = biggan_model.Config(ch=CH)
    z, expected_y = biggan_model.sample_latents(6, config, seed=3)
    np.testing.assert_array_equal(y, expected_y)
    assert y.dtype == np.int64 and y.min() >= 0 and y.max() < 1000
    for k in range(5):
        np.testing.assert_array_equal(label[:, k, :128], shared[y])                 # embedding rows = shared(y)
        np.testing.assert_array_equal(label[:, k, 128:], z[:, 20 * (k + 1):20 * (k + 2)])  # z chunk k + 1
    np.testing.assert_array_equal(noise[:, 0], z[:, :20])                            # z chunk 0
    assert 0.7 < z.std() < 1.3

    again = preprocess(checkpoint, tmp_path / "b", "--num-inputs", "6", "--batch-size", "2", "--seed", "3")
    for name in ("noise", "label"):
        for first, second in zip(fileio.list_data_files(tmp_path / "a" / name), fileio.list_data_files(tmp_path / "b" / name)):
            assert first.read_bytes() == second.read_bytes()
    prefix = preprocess(checkpoint, tmp_path / "c", "--num-inputs", "2", "--seed", "3")
    np.testing.assert_array_equal(prefix[0], again[0][:2])  # the first samples do not depend on --num-inputs
    np.testing.assert_array_equal(prefix[2], again[2][:2])


def test_preprocess_truncation_redraws_large_values(checkpoint, tmp_path):
    noise, label, y = preprocess(checkpoint, tmp_path, "--num-inputs", "64", "--truncation", "0.5")
    z_values = np.concatenate([noise.ravel(), label[:, :, 128:].ravel()])
    assert np.abs(z_values).max() <= 0.5
    assert z_values.std() == pytest.approx(0.28388, rel=0.05)  # scipy.stats.truncnorm(-0.5, 0.5).std()
    np.testing.assert_array_equal(y, biggan_model.sample_latents(64, biggan_model.Config(ch=CH))[1])


@pytest.mark.parametrize("extra, message", [
    (["--num-inputs", "5", "--batch-size", "2"], "--num-inputs 5 is not a multiple of --batch-size 2"),
    (["--num-inputs", "4", "--truncation", "0"], "--truncation 0.0: expected a positive threshold"),
])
def test_preprocess_rejects_bad_options(checkpoint, tmp_path, extra, message):
    with pytest.raises(UserError, match=message):
        preprocess(checkpoint, tmp_path, *extra)
    assert not (tmp_path / "noise").exists()


def test_preprocess_rejects_a_negative_seed_on_the_command_line(checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        preprocess(checkpoint, tmp_path, "--num-inputs", "2", "--seed", "-1")
    assert stop.value.code == 2
    assert capsys.readouterr().err.endswith("argument --seed: -1 is outside 0 .. 4294967295 (see --help)\n")
    assert not (tmp_path / "noise").exists()


def test_preprocess_refuses_a_folder_it_did_not_write(checkpoint, tmp_path):
    (tmp_path / "noise").mkdir()
    (tmp_path / "noise" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="folder already holds 'notes.txt'"):
        preprocess(checkpoint, tmp_path, "--num-inputs", "2")


def test_clip_edit_rejects_a_file_that_is_not_onnx(tmp_path):
    (tmp_path / "x.onnx").write_text("not a model")
    with pytest.raises(UserError, match="x.onnx: not a readable ONNX model"):
        clip_edit.main(["--input-model", str(tmp_path / "x.onnx"), "--output-model", str(tmp_path / "y.onnx")])


# ------------------------------------------------------------------------------------------ postprocess

def fake_results(folder, names, seed=0):
    """Outputs in [-1, 1] as the runner writes them, plus files an ais_bench output folder may also hold."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    data = {}
    for name, count in names:
        blocks = 0.5 * np.tanh(rng.standard_normal((count, 3, 8, 8))).astype(np.float32)
        data[name] = blocks.repeat(16, axis=2).repeat(16, axis=3)  # smooth enough for JPEG, range inside [-1, 1]
        fileio.write_array(folder / name, data[name])
    (folder / "sumary.json").write_text("{}")
    (folder / "notes.txt").write_text("not an output")
    return data


def test_postprocess_reads_only_bin_files_in_natural_order(tmp_path):
    data = fake_results(tmp_path / "bs2", [("input_10_0.bin", 2), ("input_2_0.bin", 2), ("input_1_0.bin", 1)])
    argv = ["--result-path", str(tmp_path / "bs2"), "--save-path", str(tmp_path / "img"), "--batch-size", "2",
            "--save-img", "--save-npz", "--gen-img", str(tmp_path / "gen.npz")]
    assert biggan_postprocess.main(argv) == 0
    order = ["input_1_0.bin", "input_2_0.bin", "input_10_0.bin"]
    with np.load(tmp_path / "gen.npz") as npz:
        np.testing.assert_array_equal(npz["x"], np.concatenate([data[n] for n in order]))
    names = sorted(p.name for p in (tmp_path / "img" / "img_bs2").iterdir())
    assert names == ["input_10_0_3.jpg", "input_10_0_4.jpg", "input_1_0_0.jpg", "input_2_0_1.jpg", "input_2_0_2.jpg"]
    assert (tmp_path / "img" / "grid_bs2.png").is_file()
    from PIL import Image

    picture = np.asarray(Image.open(tmp_path / "img" / "img_bs2" / "input_1_0_0.jpg"), dtype=np.float64)
    expected = np.clip((data["input_1_0.bin"][0].transpose(1, 2, 0) + 1) / 2 * 255, 0, 255)
    assert np.abs(picture - expected).mean() < 5.0  # the fixed mapping, up to JPEG loss
    assert picture.min() > 40 and picture.max() < 215   # outputs within [-0.5, 0.5] are not stretched

    argv = ["--result-path", str(tmp_path / "bs2"), "--save-path", str(tmp_path / "mm"), "--save-img", "--minmax"]
    assert biggan_postprocess.main(argv) == 0
    stretched = np.asarray(Image.open(tmp_path / "mm" / "img_bs1" / "input_1_0_0.jpg"))
    assert stretched.min() <= 3 and stretched.max() >= 252


@pytest.mark.parametrize("content, message", [
    (np.zeros(100, np.float32), r"bad_0.bin: 400 bytes is not a whole number of \(3, 128, 128\) float32 images"),
    (np.full((1, 3, 128, 128), np.nan, np.float32), "bad_0.bin: 49152 of its 49152 values are NaN or Inf"),
])
def test_postprocess_rejects_bad_outputs(tmp_path, content, message):
    (tmp_path / "bs1").mkdir()
    fileio.write_array(tmp_path / "bs1" / "bad_0.bin", content)
    argv = ["--result-path", str(tmp_path / "bs1"), "--save-path", str(tmp_path / "img"), "--save-npz",
            "--gen-img", str(tmp_path / "gen.npz")]
    with pytest.raises(UserError, match=message):
        biggan_postprocess.main(argv)
    assert not (tmp_path / "gen.npz").exists()


def test_postprocess_needs_something_to_do(tmp_path):
    with pytest.raises(UserError, match="nothing to do: give --save-img and/or --save-npz"):
        biggan_postprocess.main(["--result-path", str(tmp_path)])


# ------------------------------------------------------------------------------------------ IS/FID inputs

def eval_argv(tmp_path, *extra):
    return ["--gen-img", str(tmp_path / "gen.npz"), "--gen-y", str(tmp_path / "y.npz"),
            "--moments", str(tmp_path / "m.npz"), "--inception-weights", str(tmp_path / "inception.pth"),
            "--log", str(tmp_path / "acc.log"), "--json", str(tmp_path / "acc.json"), *extra]


def test_eval_acc_rejects_inconsistent_inputs(tmp_path):
    np.savez(tmp_path / "gen.npz", x=np.zeros((4, 3, 128, 128), np.float32))
    np.savez(tmp_path / "y.npz", y=np.zeros(4, np.int64))
    with pytest.raises(UserError, match="gen.npz: holds 4 images, fewer than --num-inception-images 10"):
        biggan_eval_acc.main(eval_argv(tmp_path, "--num-inception-images", "10"))
    with pytest.raises(UserError, match=r"must be at least --num-splits \(10\)"):
        biggan_eval_acc.main(eval_argv(tmp_path, "--num-inception-images", "4"))
    np.savez(tmp_path / "y.npz", y=np.zeros(3, np.int64))
    with pytest.raises(UserError, match="y.npz: holds 3 labels but .*gen.npz holds 4 images; they are not from the same run"):
        biggan_eval_acc.main(eval_argv(tmp_path, "--num-inception-images", "4", "--num-splits", "2"))
    np.savez(tmp_path / "y.npz", y=np.zeros(4, np.int64))
    with pytest.raises(UserError, match="m.npz: no such moments file"):
        biggan_eval_acc.main(eval_argv(tmp_path, "--num-inception-images", "4", "--num-splits", "2"))
    metrics.save_moments(tmp_path / "m.npz", np.zeros(2048), np.eye(2048))
    with pytest.raises(UserError, match="inception.pth: no such checkpoint file"):
        biggan_eval_acc.main(eval_argv(tmp_path, "--num-inception-images", "4", "--num-splits", "2"))
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((4, 128, 128), np.float32))
    (tmp_path / "gen.npz").write_bytes(buffer.getvalue())
    with pytest.raises(UserError, match=r"gen.npz: array 'x' is float32 \(4, 128, 128\); expected float32 \(N, 3, H, W\)"):
        biggan_eval_acc.main(eval_argv(tmp_path, "--num-inception-images", "4", "--num-splits", "2"))


def test_eval_acc_refuses_images_holding_nan(tmp_path):
    batches = [np.zeros((2, 3, 4, 4), np.float32), np.zeros((2, 3, 4, 4), np.float32)]
    batches[1][1, 0, 2, 2] = np.inf
    checked = biggan_eval_acc.finite_batches(tmp_path / "gen_img_bs1.npz", iter(batches))
    assert next(checked) is batches[0]
    with pytest.raises(UserError, match=r"gen_img_bs1.npz: image 3 \(of key 'x'\) holds NaN or Inf"):
        next(checked)
