"""GAN folder: checkpoint formats, the README chain at batch 8 and batch 1, the original script names, bad inputs,
upstream."""
import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from common import driver, fileio, images, infer
from chainrun import run_steps, upstream_mirror, working_directory
from common.errors import CheckFailed, UserError

import GAN_compare_upstream
import GAN_eval_acc
import GAN_facts
import GAN_model
import GAN_postprocess
import GAN_preprocess
import GAN_pth_result

FOLDER = Path(GAN_model.__file__).resolve().parent
UPSTREAM_REPO = upstream_mirror("eriklindernoren+PyTorch-GAN")
UPSTREAM_COMMIT = GAN_facts.FACTS.upstream.commit


@pytest.fixture(scope="module")
def chain_runs(tmp_path_factory):
    """The README chain on a seeded random checkpoint at batch 8, then at batch 1 in the same folder."""
    folder = tmp_path_factory.mktemp("gan") / "GAN"
    folder.mkdir()
    chain = driver.load_chain(FOLDER)
    summaries = {}
    with working_directory(folder):
        chain.prepare(folder, chain.DRIVER_PARAMS, None)
        for bs in (8, 1):
            params = {"iters": 5, "bs": bs, "loop": 2}
            run_steps(chain, params)
            summaries[bs] = chain.summarize(folder, params)
    return folder, summaries


def test_chain_at_batch_8_and_1(chain_runs):
    folder, summaries = chain_runs
    for bs, summary in summaries.items():
        assert summary["cosine"] >= 0.9999 and summary["min_cosine"] >= 0.9999 and summary["max_abs"] < 1e-5
        assert summary["throughput"] > 0 and summary["online_pictures"] == 5
    assert summaries[8]["images"] == 40 and summaries[8]["grids"] == 5
    assert summaries[1]["images"] == 5 and summaries[1]["grids"] == 1  # grid.png of all images
    for name in ("bs8", "bs1"):
        outputs = fileio.list_data_files(folder / "result" / name)
        assert [p.name for p in outputs] == [f"{i}_0.bin" for i in range(5)]
    batch = fileio.read_array(folder / "result" / "bs8" / "4_0.bin", shape=(8, 1, 28, 28))
    assert np.all(np.abs(batch) <= 1) and batch.std() > 0.05
    assert sorted(p.name for p in (folder / "genimg").iterdir()) == ["0_0.png", "1_0.png", "2_0.png", "3_0.png",
                                                                   "4_0.png", "grid.png"]
    # The online pictures are the eval-mode PyTorch outputs, i.e. what the offline run computes.
    reference = fileio.read_array(folder / "pth_result" / "3_0.bin", shape=(1, 1, 28, 28))
    online = np.asarray(Image.open(folder / "images" / "3.png"))
    assert np.array_equal(online, images.grid([images.to_uint8(reference[0])]))


def test_readme_holds_the_chain_at_batch_64_and_1():
    chain = driver.load_chain(FOLDER)
    readme = (FOLDER / "README.md").read_text()
    assert driver.readme_drift(FOLDER, chain) == []
    assert [c for _, c in driver.render(chain, {**chain.README_PARAMS, "bs": 1}) if c not in readme] == []


def test_one_sample_files_feed_a_larger_batch(chain_runs, tmp_path):
    """Batch-1 data through the batch-8 model: 8 files per run, one output per file, pairing by name."""
    folder, _ = chain_runs
    GAN_preprocess.main(["--offline_path", str(tmp_path / "vectors"), "--iters", "11"])
    infer.main(["--model", str(folder / "GAN_sim_bs8.onnx"), "--input", str(tmp_path / "vectors"),
                "--output", str(tmp_path / "result"), "--output_dirname", "bs8"])
    GAN_pth_result.main(["--pth_path", str(folder / "generator_8p_0.0008_128.pth"),
                         "--dataset_path", str(tmp_path / "vectors"), "--save_path", str(tmp_path / "pth")])
    GAN_eval_acc.main(["--pth_result_path", str(tmp_path / "pth"), "--om_result_path", str(tmp_path / "result/bs8"),
                       "--log_save_name", str(tmp_path / "acc.log"), "--pictures", ""])
    report = json.loads((tmp_path / "acc.json").read_text())
    assert report["aggregate"]["count"] == 11 and report["aggregate"]["min_cosine"] >= 0.9999


def test_batch_files_do_not_fit_a_smaller_batch(chain_runs, tmp_path):
    folder, _ = chain_runs
    GAN_preprocess.main(["--offline_path", str(tmp_path / "vectors"), "--batch_size", "8"])
    with pytest.raises(UserError, match=r"0\.bin: 3200 bytes does not divide the input 'Z' of \(1, 100\)"):
        infer.main(["--model", str(folder / "GAN_sim_bs1.onnx"), "--input", str(tmp_path / "vectors")])


def test_original_script_names(chain_runs, tmp_path, monkeypatch, capsys):
    """GAN_testdata.py and GAN_txt2jpg.py run as scripts with the original options."""
    folder, _ = chain_runs
    argv = ["GAN_testdata.py", f"--online_path={tmp_path / 'images'}", f"--offline_path={tmp_path / 'vectors'}",
            f"--pth_path={folder / 'generator_8p_0.0008_128.pth'}", "--iters", "2", "--batch_size", "3"]
    for script, args in [("GAN_testdata.py", argv[1:]),
                         ("GAN_txt2jpg.py", [f"--txt_path={folder / 'result' / 'bs8'}",
                                             f"--infer_results_path={tmp_path / 'genimg'}"])]:
        monkeypatch.setattr(sys, "argv", [script, *args])
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(str(FOLDER / script), run_name="__main__")
        assert exit_info.value.code == 0, capsys.readouterr().err
    assert fileio.read_array(tmp_path / "vectors" / "1.bin", shape=(3, 100)).dtype == np.float32
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["0.png", "1.png"]
    assert len(list((tmp_path / "genimg").glob("*_grid.png"))) == 5
    assert len(list((tmp_path / "genimg").glob("*.png"))) == 45


def test_preprocess_seed_and_errors(tmp_path):
    for name, seed in [("a", 0), ("b", 0), ("c", 1)]:
        GAN_preprocess.main(["--offline_path", str(tmp_path / name), "--iters", "2", "--batch_size", "4",
                             "--seed", str(seed)])
    first = [(tmp_path / "a" / f"{i}.bin").read_bytes() for i in range(2)]
    assert [(tmp_path / "b" / f"{i}.bin").read_bytes() for i in range(2)] == first
    assert (tmp_path / "c" / "0.bin").read_bytes() != first[0] and len(first[0]) == 4 * 100 * 4
    with pytest.raises(UserError, match="--online_path needs --pth_path"):
        GAN_preprocess.main(["--offline_path", str(tmp_path / "d"), "--online_path", str(tmp_path / "e")])
    with pytest.raises(SystemExit):  # argparse: "argument --iters: 0 is not a positive whole number"
        GAN_preprocess.main(["--offline_path", str(tmp_path / "d"), "--iters", "0"])
    with pytest.raises(UserError, match=r"nothere\.pth: no such checkpoint file"):
        GAN_preprocess.main(["--offline_path", str(tmp_path / "d"), "--online_path", str(tmp_path / "e"),
                             "--pth_path", str(tmp_path / "nothere.pth")])


def test_checkpoint_formats(tmp_path):
    z = torch.from_numpy(np.random.default_rng(2).standard_normal((1, 100)).astype(np.float32))
    GAN_model.random_checkpoint(tmp_path / "ddp.pth", seed=5)
    saved = GAN_model.random_generator(seed=5)
    assert all(k.startswith("module.") for k in torch.load(tmp_path / "ddp.pth", weights_only=True))
    GAN_model.random_checkpoint(tmp_path / "plain.pth", seed=5, prefix="")
    with torch.no_grad():
        expected = saved(z)  # batch 1 works in eval mode
        for name in ("ddp.pth", "plain.pth"):
            assert torch.equal(GAN_model.load_generator(tmp_path / name)(z), expected)
    state = torch.load(tmp_path / "plain.pth", weights_only=True)
    del state["model.3.running_var"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(UserError, match=r"partial\.pth: does not match GANGenerator: missing 1 key\(s\): "
                                        r"model\.3\.running_var"):
        GAN_model.load_generator(tmp_path / "partial.pth")


def test_postprocess_names_never_collide(tmp_path):
    """120 one-image outputs (the original kept 2 characters of each name) and a summary JSON beside them."""
    run = tmp_path / "result" / "2023_05_06-07_08_09"
    run.mkdir(parents=True)
    for i in range(120):
        fileio.write_array(run / f"{i}_0.bin", np.full((1, 1, 28, 28), (i % 20) / 10 - 1, np.float32))
    (run / "sumary.json").write_text("{}")
    GAN_postprocess.main(["--txt_path", str(tmp_path / "result"), "--infer_results_path", str(tmp_path / "img")])
    names = {p.name for p in (tmp_path / "img").iterdir()}
    assert names == {f"{i}_0.png" for i in range(120)} | {"grid.png"}
    assert np.asarray(Image.open(tmp_path / "img" / "119_0.png")).max() == int((19 / 10) / 2 * 255)

    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "0_output_0.txt").write_text("0.1 0.2\n")  # msame TXT: read, and its size checked
    with pytest.raises(UserError, match=r"0_output_0\.txt: 2 numbers is not a whole number of samples of "
                                        r"\(1, 28, 28\) float32 \(784 numbers each\)"):
        GAN_postprocess.main(["--txt_path", str(tmp_path / "txt"), "--infer_results_path", str(tmp_path / "i2")])


def test_accuracy_errors(chain_runs, tmp_path):
    folder, _ = chain_runs
    offline = tmp_path / "offline"
    offline.mkdir()
    common = ["--pth_result_path", str(folder / "pth_result"), "--om_result_path", str(offline),
              "--log_save_name", str(tmp_path / "acc.log"), "--pictures", ""]
    for i in range(4):  # the bs1 run's references; 4_0.bin has no partner
        shutil.copy(folder / "result" / "bs1" / f"{i}_0.bin", offline)
    with pytest.raises(UserError, match=r"offline/4_0\.bin: missing, expected as the partner of .*pth_result/4_0\.bin"):
        GAN_eval_acc.main(common)
    fileio.write_array(offline / "4_0.bin", np.zeros((2, 1, 28, 28), np.float32))
    with pytest.raises(UserError, match=r"4_0\.bin: holds 2 samples, its reference .*4_0\.bin holds 1"):
        GAN_eval_acc.main(common)
    np.zeros(100, np.float32).tofile(offline / "4_0.bin")
    with pytest.raises(UserError, match=r"4_0\.bin: 400 bytes is not a whole number of samples of \(1, 28, 28\)"):
        GAN_eval_acc.main(common)


def test_compare_upstream(tmp_path, capsys):
    with pytest.raises(UserError, match=r"not a PyTorch-GAN checkout \(no implementations/gan/gan\.py\); "
                                        r"--upstream must be a checkout of the upstream repository"):
        GAN_compare_upstream.main(["--upstream", str(tmp_path)])
    if not (UPSTREAM_REPO / "HEAD").exists():
        pytest.skip(f"PyTorch-GAN mirror not at {UPSTREAM_REPO} (set UPSTREAM_MIRRORS)")
    archive = subprocess.run(["git", f"--git-dir={UPSTREAM_REPO}", "archive", UPSTREAM_COMMIT, "implementations/gan"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive, check=True)
    with pytest.raises(UserError, match=r"gan\.py: not patched \(no 'if __name__ == \"__main__\":'\); "
                                        r"run `git apply GAN\.patch`"):
        GAN_compare_upstream.main(["--upstream", str(tmp_path)])
    subprocess.run(["git", "apply", str(FOLDER / "GAN.patch")], cwd=tmp_path, check=True)
    assert GAN_compare_upstream.main(["--upstream", str(tmp_path), "--num", "8"]) == 0
    assert "max abs diff 0," in capsys.readouterr().out
    upstream = tmp_path / GAN_compare_upstream.UPSTREAM.patched  # a generator that computes something else fails
    upstream.write_text(upstream.read_text().replace("nn.Tanh()", "nn.Hardtanh()"))
    with pytest.raises(CheckFailed, match=r"outputs differ from upstream by 0\.\d+ \(max abs\), tolerance 1e-05"):
        GAN_compare_upstream.main(["--upstream", str(tmp_path), "--num", "8"])
