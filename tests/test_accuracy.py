import json

import numpy as np
import pytest
import torch

from common import accuracy, fileio, images, reference, tool_outputs
from common.errors import CheckFailed, UserError


class Double(torch.nn.Module):
    def forward(self, x, y):
        return torch.tanh(x + y), x * 0


def make_inputs(tmp_path, n=3):
    rng = np.random.default_rng(0)
    for name in ("x", "y"):
        (tmp_path / name).mkdir()
        for i in range(n):
            fileio.write_array(tmp_path / name / f"input_{i}.bin", rng.standard_normal((2, 1, 2, 2)).astype(np.float32))


def test_reference_outputs_are_named_like_the_runner(tmp_path):
    make_inputs(tmp_path)
    n = reference.write_reference_outputs(Double(), [tmp_path / "x", tmp_path / "y"], tmp_path / "ref",
                                          [(1, 2, 2), (1, 2, 2)])
    assert n == 6
    names = [p.name for p in fileio.list_data_files(tmp_path / "ref")]
    assert names == [f"input_{i}_{k}.bin" for i in range(3) for k in (0, 1)]
    x = fileio.read_array(tmp_path / "x" / "input_2.bin", np.float32, (2, 1, 2, 2))
    y = fileio.read_array(tmp_path / "y" / "input_2.bin", np.float32, (2, 1, 2, 2))
    assert np.allclose(fileio.read_array(tmp_path / "ref" / "input_2_0.bin", np.float32, (2, 1, 2, 2)),
                       np.tanh(x + y), atol=1e-6)


def test_reference_refuses_unequal_sample_counts(tmp_path):
    make_inputs(tmp_path, n=1)
    fileio.write_array(tmp_path / "y" / "input_0.bin", np.zeros((3, 1, 2, 2), np.float32))
    with pytest.raises(UserError, match=r"x/input_0\.bin: its sample count differs"):
        reference.write_reference_outputs(Double(), [tmp_path / "x", tmp_path / "y"], tmp_path / "ref",
                                          [(1, 2, 2), (1, 2, 2)])
    assert not (tmp_path / "ref").exists()


def test_check_against_reference_report_and_verdict(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "ref").mkdir()
    (tmp_path / "result" / "bs1").mkdir(parents=True)
    for i in range(3):
        ref = rng.uniform(-1, 1, (1, 3, 4, 4)).astype(np.float32)
        fileio.write_array(tmp_path / "ref" / f"s_{i}_0.bin", ref)
        off = ref + (0.5 if i == 2 else 1e-6)
        fileio.write_array(tmp_path / "result" / "bs1" / f"s_{i}_0.bin", off.astype(np.float32))
    check = accuracy.AccuracyCheck((3, 4, 4), pixel_axis=1, n_pictures=2,
                                   fields=lambda figures: {"acc": 100 * (figures["mean_cosine"] + 1) / 2})
    agg = accuracy.check_against_reference(check, tmp_path / "ref", tmp_path / "result" / "bs1",
                                           threshold=0.5, log_path=tmp_path / "acc.log",
                                           json_path=tmp_path / "acc.json", pictures_dir=tmp_path / "pics")
    report = json.loads((tmp_path / "acc.json").read_text())
    assert report["acc"] == pytest.approx(100 * (agg["mean_cosine"] + 1) / 2)
    assert report["passed"] is True and report["aggregate"]["count"] == 3
    assert report["aggregate"]["mean_cosine"] == pytest.approx(agg["mean_cosine"])
    assert [f["file"] for f in report["files"]] == ["s_0_0.bin", "s_1_0.bin", "s_2_0.bin"]
    log = (tmp_path / "acc.log").read_text().splitlines()
    assert log[0].startswith("s_0_0.bin : mean ==> 0.000001 , cos ==> 1.000000")
    assert log[-1].startswith("PASS: mean_cosine")
    assert sorted(p.name for p in (tmp_path / "pics").iterdir()) == ["s_0_0_compare.png", "s_1_0_compare.png"]

    with pytest.raises(CheckFailed, match=r"FAIL: mean_pixel_cosine 0\.\d+ < threshold 0\.9999"):
        accuracy.check_against_reference(check.but(metric="mean_pixel_cosine"), tmp_path / "ref",
                                         tmp_path / "result" / "bs1", threshold=0.9999, json_path=tmp_path / "f.json")
    assert json.loads((tmp_path / "f.json").read_text())["passed"] is False


def test_reference_batches_files_with_identical_results(tmp_path):
    make_inputs(tmp_path, n=5)
    dirs = [tmp_path / "x", tmp_path / "y"]
    reference.write_reference_outputs(Double(), dirs, tmp_path / "one", [(1, 2, 2)] * 2)
    reference.write_reference_outputs(Double(), dirs, tmp_path / "three", [(1, 2, 2)] * 2, files_per_batch=3)
    pairs = fileio.pair_by_name(tmp_path / "one", tmp_path / "three")
    assert len(pairs) == 10
    for a, b in pairs:
        assert np.array_equal(fileio.read_array(a), fileio.read_array(b))


def test_reference_of_the_first_files_checks_part_of_a_run(tmp_path):
    make_inputs(tmp_path, n=5)
    dirs = [tmp_path / "x", tmp_path / "y"]
    reference.write_reference_outputs(Double(), dirs, tmp_path / "all", [(1, 2, 2)] * 2)
    reference.write_reference_outputs(Double(), dirs, tmp_path / "first", [(1, 2, 2)] * 2, limit=2)
    assert [p.name for p in fileio.list_data_files(tmp_path / "first")] == [
        "input_0_0.bin", "input_0_1.bin", "input_1_0.bin", "input_1_1.bin"]
    with pytest.raises(UserError, match=r"all/input_2_0\.bin: has no partner"):
        accuracy.check_against_reference(accuracy.AccuracyCheck((1, 2, 2)), tmp_path / "first", tmp_path / "all")
    subset = accuracy.AccuracyCheck((1, 2, 2), reference_subset=True)
    agg = accuracy.check_against_reference(subset, tmp_path / "first", tmp_path / "all")
    assert agg["count"] == 4 and agg["offline_files"] == 10
    (tmp_path / "all" / "input_1_1.bin").unlink()
    with pytest.raises(UserError, match=r"all/input_1_1\.bin: missing, expected as the partner"):
        accuracy.check_against_reference(subset, tmp_path / "first", tmp_path / "all")


def test_reference_with_nan_output_is_an_error_and_writes_nothing(tmp_path):
    make_inputs(tmp_path)
    x = fileio.read_array(tmp_path / "x" / "input_1.bin")
    x[3] = np.nan
    fileio.write_array(tmp_path / "x" / "input_1.bin", x)
    with pytest.raises(UserError, match=r"x/input_1\.bin: the PyTorch reference output 0 of this input holds NaN "
                                        r"or Inf; the checkpoint or the input is broken \(nothing written\)"):
        reference.write_reference_outputs(Double(), [tmp_path / "x", tmp_path / "y"], tmp_path / "ref",
                                          [(1, 2, 2), (1, 2, 2)], files_per_batch=2)
    assert not (tmp_path / "ref").exists()


def test_the_script_resolves_the_offline_folder_once_and_the_check_and_images_take_it(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    run = tmp_path / "result" / "2026_01_02-03_04_05"  # an ais_bench --output folder holding one timestamped run
    for folder in (tmp_path / "ref", run):
        folder.mkdir(parents=True)
    for i in range(2):
        x = rng.uniform(-1, 1, (1, 1, 2, 2)).astype(np.float32)
        fileio.write_array(tmp_path / "ref" / f"s_{i}_0.bin", x)
        fileio.write_array(run / f"s_{i}_0.bin", x)
    calls = []
    resolve = tool_outputs.resolve_result_dir
    monkeypatch.setattr(tool_outputs, "resolve_result_dir", lambda *a, **k: calls.append(a) or resolve(*a, **k))
    offline = tool_outputs.resolve_result_dir(tmp_path / "result")  # as the accuracy and postprocess scripts do
    out = tmp_path / "out"
    accuracy.check_against_reference(accuracy.AccuracyCheck((1, 2, 2), n_pictures=1), tmp_path / "ref", offline,
                                     log_path=out / f"{offline.name}.log", json_path=out / f"{offline.name}.json",
                                     pictures_dir=out / f"{offline.name}_compare")
    assert images.outputs_to_images(offline, tmp_path / "img", (1, 2, 2))[0] == 2
    assert calls == [(tmp_path / "result",)]
    written = json.loads((out / f"{run.name}.json").read_text())
    assert written["offline"] == str(run) and written["passed"] is True
    assert written["pictures"] == [str(out / f"{run.name}_compare" / "s_0_0_compare.png")]
    assert (out / f"{run.name}.log").read_text().splitlines()[-1].startswith("PASS: mean_cosine 1.0")
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        f"{run.name}.json", f"{run.name}.log", f"{run.name}_compare"]
