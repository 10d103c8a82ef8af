"""DCGAN folder: checkpoint containers, the README chain end to end at full model size, bad inputs, upstream."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from common import cli, driver, fileio, tool_outputs
from chainrun import run_steps, upstream_mirror, working_directory
from common.errors import CheckFailed, UserError

import dcgan_acc_eval
import dcgan_compare_upstream
import dcgan_facts
import dcgan_model
import dcgan_postprocess
import dcgan_preprocess
import dcgan_pth2onnx
import dcgan_pth_result

FOLDER = Path(dcgan_model.__file__).resolve().parent
UPSTREAM_REPO = upstream_mirror("eriklindernoren+PyTorch-GAN")
UPSTREAM_COMMIT = dcgan_facts.FACTS.upstream.commit


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory):
    """The README chain on a seeded random checkpoint; 40 files at batch 16 leave a padded last batch."""
    folder = tmp_path_factory.mktemp("dcgan") / "DCGAN"
    folder.mkdir()
    chain = driver.load_chain(FOLDER)
    params = {"num": 40, "bs": 16, "loop": 2}
    with working_directory(folder):
        chain.prepare(folder, params, None)
        run_steps(chain, params)
    return folder, chain, params


def test_chain_end_to_end(chain_run):
    folder, chain, params = chain_run
    summary = chain.summarize(folder, params)
    assert summary["cosine"] >= 0.9999 and summary["min_cosine"] >= 0.9999
    assert summary["max_abs"] < 1e-5
    assert summary["images"] == 40 and summary["grid"] and summary["throughput"] > 0

    outputs = fileio.list_data_files(folder / "result" / "bs16")
    assert [p.name for p in outputs] == [f"noise_{i:04d}_0.bin" for i in range(40)]
    ours = fileio.read_array(outputs[39], shape=(1, 1, 32, 32))
    assert np.all(np.abs(ours) <= 1) and ours.std() > 0.05  # a real, varied tanh output, not a constant

    log = (folder / "dcgan_acc_eval_bs16.log").read_text().splitlines()
    assert all(re.fullmatch(r"noise_\d{4}_0\.bin : mean ==> 0\.0000 , cos ==> 1\.0000", line) for line in log[:40])
    assert log[40] == "mean : 0.0000, cosine : 1.0000, acc : 100.00%"
    assert log[41].startswith("files : 40, mean abs diff : ") and log[-1].startswith("PASS")
    report = json.loads((folder / "dcgan_acc_eval_bs16.json").read_text())
    assert report["passed"] and len(report["files"]) == 40 and len(report["pictures"]) == 4


def test_readme_holds_the_chain():
    assert driver.readme_drift(FOLDER) == []


def test_containers_load_identically(tmp_path):
    """Ascend's training dict (with and without DDP prefixes) and a plain state_dict give the same model."""
    z = torch.from_numpy(np.random.default_rng(1).standard_normal((3, 100, 1, 1)).astype(np.float32))
    outputs = []
    for name, kwargs in [("ddp.pth", {}), ("single.pth", {"prefix": ""}), ("plain.pth", {"container": False})]:
        dcgan_model.random_checkpoint(tmp_path / name, seed=3, **kwargs)
        saved = dcgan_model.random_generator(seed=3)
        loaded = dcgan_model.load_generator(tmp_path / name)
        with torch.no_grad():
            outputs.append(loaded(z))
            assert torch.equal(outputs[-1], saved(z))
    container = torch.load(tmp_path / "ddp.pth", weights_only=True)
    assert set(container) == {"epoch", "arch", "G", "D", "optimizer_G", "optimizer_D", "amp"}
    assert all(k.startswith("module.") for k in container["G"])
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(outputs[0], outputs[2])
    with torch.no_grad():  # (B, 100) works as well as (B, 100, 1, 1)
        assert torch.equal(loaded(z.view(3, 100)), outputs[2])


def test_preprocess_is_seeded(tmp_path):
    for name, seed in [("a", 0), ("b", 0), ("c", 1)]:
        dcgan_preprocess.main([str(tmp_path / name), "--num", "3", "--seed", str(seed)])
    first = [p.read_bytes() for p in sorted((tmp_path / "a").iterdir())]
    assert [p.read_bytes() for p in sorted((tmp_path / "b").iterdir())] == first
    assert [p.read_bytes() for p in sorted((tmp_path / "c").iterdir())] != first
    assert [len(b) for b in first] == [400] * 3
    with pytest.raises(SystemExit):  # argparse: "argument --num: 0 is not a positive whole number"
        dcgan_preprocess.main([str(tmp_path / "d"), "--num", "0"])


def test_bad_checkpoints(tmp_path):
    with pytest.raises(UserError, match=r"missing\.pth: no such checkpoint file"):
        dcgan_pth2onnx.main([str(tmp_path / "missing.pth"), str(tmp_path / "x.onnx")])
    torch.save({"epoch": 1, "D": {"w": torch.zeros(1)}}, tmp_path / "no_g.pth")
    with pytest.raises(UserError, match=r"no_g\.pth: expected a state_dict or a container with one of 'G'"):
        dcgan_model.load_generator(tmp_path / "no_g.pth")
    upstream_width = dcgan_model.DCGANGenerator()  # upstream's 64-channel layer does not fit the Ascend weights
    upstream_width.conv_blocks[6] = torch.nn.Conv2d(128, 64, 3, padding=1)
    torch.save({"G": upstream_width.state_dict()}, tmp_path / "upstream.pth")
    with pytest.raises(UserError, match=r"upstream\.pth: does not match DCGANGenerator: .*shape mismatch.*"
                                        r"conv_blocks\.6\.weight \(64, 128, 3, 3\) vs \(32, 128, 3, 3\)"):
        dcgan_model.load_generator(tmp_path / "upstream.pth")
    assert not (tmp_path / "x.onnx").exists()


def test_wrong_input_size(chain_run, tmp_path):
    folder, _, _ = chain_run
    data = tmp_path / "prep"
    data.mkdir()
    np.zeros(99, np.float32).tofile(data / "noise_0000.bin")
    with pytest.raises(UserError, match=r"noise_0000\.bin: 396 bytes is not a whole number of samples of "
                                        r"\(100, 1, 1\) float32"):
        dcgan_pth_result.main(["--checkpoint_path", str(folder / "checkpoint-amp-epoch_200.pth"),
                               "--dataset_path", str(data), "--save_path", str(tmp_path / "out")])


def test_accuracy_errors(chain_run, tmp_path):
    folder, _, _ = chain_run
    offline = tmp_path / "offline"
    shutil.copytree(folder / "result" / "bs16", offline)
    common = ["--pth_result_path", str(folder / "pth_result"), "--om_result_path", str(offline),
              "--log_save_name", str(tmp_path / "acc.log"), "--pictures", ""]
    (offline / "noise_0007_0.bin").unlink()
    with pytest.raises(UserError, match=r"noise_0007_0\.bin: missing, expected as the partner of .*pth_result"):
        dcgan_acc_eval.main(common)

    noise = np.random.default_rng(0).uniform(-1, 1, (1, 1, 32, 32)).astype(np.float32)
    fileio.write_array(offline / "noise_0007_0.bin", noise)  # one wrong output of 40: mean cosine about 0.975
    with pytest.raises(CheckFailed, match=r"FAIL: mean_cosine 0\.9[5-8]\d+ < threshold 0\.99"):
        dcgan_acc_eval.main(common)
    report = json.loads((tmp_path / "acc.json").read_text())
    cosines = {f["file"]: f["cosine"] for f in report["files"]}
    assert report["passed"] is False and cosines.pop("noise_0007_0.bin") < 0.5 and min(cosines.values()) > 0.9999
    assert "noise_0007_0.bin : mean ==> 0.5" in (tmp_path / "acc.log").read_text()
    assert cli.run(dcgan_acc_eval.main, common + ["--threshold", "0.95"]) == 0


def test_postprocess_minmax_and_timestamped_run(chain_run, tmp_path):
    folder, _, _ = chain_run
    run = tmp_path / "result" / "2024_01_02-03_04_05"
    shutil.copytree(folder / "result" / "bs16", run)
    (tmp_path / "result" / "2024_01_02-03_04_05_summary.json").write_text("{}")
    dcgan_postprocess.main(["--benchmark_result_path", str(tmp_path / "result"),
                            "--save_path", str(tmp_path / "img"), "--minmax", "--grid_size", "8"])
    from PIL import Image

    picture = np.asarray(Image.open(tmp_path / "img" / "noise_0000_0.png"))
    assert picture.shape == (32, 32) and picture.min() == 0 and picture.max() == 255
    assert Image.open(tmp_path / "img" / "grid.png").size == (8 * 34 + 2, 34 + 2)


def _patched_upstream(tmp_path):
    if not (UPSTREAM_REPO / "HEAD").exists():
        pytest.skip(f"PyTorch-GAN mirror not at {UPSTREAM_REPO} (set UPSTREAM_MIRRORS)")
    archive = subprocess.run(["git", f"--git-dir={UPSTREAM_REPO}", "archive", UPSTREAM_COMMIT, "implementations/dcgan"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive, check=True)
    subprocess.run(["git", "apply", "--check", str(FOLDER / "dcgan.patch")], cwd=tmp_path, check=True)
    return tmp_path


def test_compare_upstream(tmp_path, capsys):
    with pytest.raises(UserError, match=r"not a PyTorch-GAN checkout \(no implementations/dcgan/dcgan\.py\); "
                                        r"--upstream must be a checkout of the upstream repository"):
        dcgan_compare_upstream.main(["--upstream", str(tmp_path)])
    root = _patched_upstream(tmp_path)
    with pytest.raises(UserError, match=r"dcgan\.py: not patched \(no 'if __name__ == \"__main__\":'\); "
                                        r"run `git apply dcgan\.patch`"):
        dcgan_compare_upstream.main(["--upstream", str(root)])
    subprocess.run(["git", "apply", str(FOLDER / "dcgan.patch")], cwd=root, check=True)
    assert dcgan_compare_upstream.main(["--upstream", str(root), "--num", "8"]) == 0
    assert "max abs diff 0," in capsys.readouterr().out
    upstream = root / dcgan_compare_upstream.UPSTREAM.patched  # a generator that computes something else fails
    upstream.write_text(upstream.read_text().replace("nn.Tanh()", "nn.Hardtanh()"))
    with pytest.raises(CheckFailed, match=r"outputs differ from upstream by 0\.\d+ \(max abs\), tolerance 1e-05"):
        dcgan_compare_upstream.main(["--upstream", str(root), "--num", "8"])


def test_accuracy_reads_every_tools_output_layout(chain_run, tmp_path):
    """The same outputs as ais_bench NPY/TXT, msame TXT in its timestamp folder and the benchmark tool's
    dumpOutput_device0/<stem>_1.bin: each pairs with pth_result/<stem>_0.bin and gives the same verdict."""
    folder, _, _ = chain_run
    outputs = tool_outputs.output_files(folder / "result" / "bs16")
    layouts = {"npy": ("npy", "{stem}_0.npy"), "txt": ("txt", "{stem}_0.txt"),
               "msame": ("msame/2021118_17_5_9_123456", "{stem}_output_0.txt"),
               "benchmark": ("result/dumpOutput_device0", "{stem}_1.bin")}
    for name, (where, pattern) in layouts.items():
        for stem, path in outputs.items():
            target = tmp_path / where / pattern.format(stem=stem)
            target.parent.mkdir(parents=True, exist_ok=True)
            fileio.write_array(target, fileio.read_array(path, shape=(1, 1, 32, 32)))
        given = tmp_path / where.split("/")[0]  # the --output folder, as users point at it
        log = tmp_path / f"{name}.log"
        assert dcgan_acc_eval.main(["--pth_result_path", str(folder / "pth_result"), "--om_result_path", str(given),
                                    "--log_save_name", str(log), "--pictures", ""]) == 0
        report = json.loads(log.with_suffix(".json").read_text())
        assert report["aggregate"]["count"] == 40, name
        assert report["passed"] and report["aggregate"]["max_abs"] < 2e-5, name  # TXT adds its 6-decimal rounding
        assert report["files"][0]["file"] == pattern.format(stem="noise_0000"), name


def test_postprocess_grid_size_must_be_positive(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        dcgan_postprocess.main(["--benchmark_result_path", str(tmp_path), "--save_path", str(tmp_path / "img"),
                                "--grid_size", "0"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.endswith("argument --grid_size: 0 is not a positive whole number (see --help)\n")
    assert not (tmp_path / "img").exists()
