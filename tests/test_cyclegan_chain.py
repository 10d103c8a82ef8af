"""CycleGAN end to end at full model size: synthetic 600x600 maps JPEGs, seeded random G_A and G_B (G_B in the
legacy InstanceNorm layout), the real scripts in README order, ONNX Runtime for the offline runs."""
import contextlib
import io
import json
import shutil
import types
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

import CycleGAN_eval_acc as eval_acc
import CycleGAN_postprocess as postprocess
import CycleGAN_ReflectpadDeal as reflectpad
import cyclegan_facts
from chainrun import run_steps, working_directory
from common import cli, driver, fileio, graph_edits, onnx_utils
from cyclegan_facts import DIRECTIONS
from facts_check import assert_graph_matches

# side -> (the tag of its ONNX file names, model_<tag>.onnx; its input and output names)
SIDES = {side: (d.onnx_file[len("model_"):-len(".onnx")], d.input, d.output) for side, d in DIRECTIONS.items()}
FOLDER = Path(reflectpad.__file__).resolve().parent
STEPS_RUN = ["preprocess", "pth2onnx", "simplify_Ga", "simplify_Gb", "reflectpad", "infer_A", "infer_B",
             "pth_result_A", "pth_result_B"]  # the chain up to the offline outputs and their references


def run_cli(main, argv, capsys=None):
    status = cli.run(main, [str(a) for a in argv])
    if capsys is None:
        assert status == 0
        return status, "", ""
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """chain.prepare's layout (2 synthetic pairs, seeded random G_A and G_B, G_B in the legacy InstanceNorm
    layout), then the README chain's steps from preprocess to the PyTorch references (chainrun.run_steps)."""
    root = tmp_path_factory.mktemp("cyclegan")
    readme_chain = driver.load_chain(FOLDER)
    params = {**readme_chain.DRIVER_PARAMS, "num": 2}
    with working_directory(root):
        readme_chain.prepare(root, params, None)
        run_steps(readme_chain, params, only=STEPS_RUN, extra={f"infer_{side}": ["--warmup_count", "0"]
                                                                for side in SIDES})
    return types.SimpleNamespace(root=root, maps=root / "datasets" / "maps", prep=root / "datasetsDst" / "maps",
                                 onnx=root / "onnxmodel", result=root / "result", pth=root / "pth_result")


def _run_graph(path, side, chain):
    """Run an ONNX generator on the first preprocessed image of test<side>."""
    x = fileio.read_array(chain.prep / f"test{side}" / f"1_{side}.bin", shape=(1, 3, 256, 256))
    session = onnx_utils.make_session(path)
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.fixture(scope="module")
def edits(chain):
    """The constant-mode edit of both graphs, and the outputs of the unedited, exact and constant graphs."""
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        status = cli.run(reflectpad.main, [str(a) for a in ["--onnx_path", chain.onnx, "--model_ga_onnx_name",
                                                            "model_Ga_bs1.onnx", "--model_gb_onnx_name",
                                                            "model_Gb_bs1.onnx", "--mode", "constant",
                                                            "--output_ga_name", "model_Ga_bs1_constant.onnx",
                                                            "--output_gb_name", "model_Gb_bs1_constant.onnx"]])
    assert status == 0
    outputs = {(side, kind): _run_graph(chain.onnx / f"model_{g}_bs1{suffix}.onnx", side, chain)
               for side, (g, _, _) in SIDES.items()
               for kind, suffix in (("source", ""), ("exact", "_exact"), ("constant", "_constant"))
               if side == "A" or kind != "constant"}
    outputs["report"] = report.getvalue()
    return outputs


def test_onnx_names_and_dynamic_batch(chain):
    for graph in cyclegan_facts.FACTS.graphs:
        model = onnx.load(str(chain.onnx / graph.onnx_file))
        assert_graph_matches(model, graph)
        assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
        assert model.opset_import[0].version == 11


def test_runner_writes_ais_bench_names(chain):
    assert sorted(p.name for p in (chain.result / "Abs1").iterdir()) == ["1_A_0.bin", "2_A_0.bin"]
    assert sorted(p.name for p in (chain.result / "Bbs1").iterdir()) == ["1_B_0.bin", "2_B_0.bin"]


def _weights(path):
    return {init.name: onnx.numpy_helper.to_array(init) for init in onnx.load(str(path)).graph.initializer
            if init.name.endswith("weight")}


def test_exact_edit_matches_the_unedited_graph(chain, edits):
    for side, (g, _, _) in SIDES.items():
        ops = onnx_utils.count_ops(onnx.load(str(chain.onnx / f"model_{g}_bs1_exact.onnx")))
        assert ops["Pad"] == 0 and ops["Slice"] == 96 and ops["Concat"] == 40
        assert np.max(np.abs(edits[side, "exact"] - edits[side, "source"])) <= 1e-5
    # each edited file holds its own generator: G_B's was not overwritten by G_A's (the original's bug)
    weights = {name: _weights(chain.onnx / name) for name in
               ("model_Ga_bs1_exact.onnx", "model_Gb_bs1_exact.onnx", "model_Gb_bs1.onnx")}
    key = "model.1.weight"
    assert np.array_equal(weights["model_Gb_bs1_exact.onnx"][key], weights["model_Gb_bs1.onnx"][key])
    assert not np.array_equal(weights["model_Ga_bs1_exact.onnx"][key], weights["model_Gb_bs1_exact.onnx"][key])


def test_constant_mode_is_the_original_edit_and_drifts(chain, edits, tmp_path, capsys):
    report = edits["report"]
    assert report.count("20 reflect Pad node(s) rewritten as zero padding (constant)") == 2
    assert "model_Gb_bs1.onnx -> " in report and "model_Gb_bs1_constant.onnx" in report
    assert "/model/model.25/Pad" in report and "changes the model" in report
    for g in ("Ga", "Gb"):
        edited = onnx.load(str(chain.onnx / f"model_{g}_bs1_constant.onnx"))
        pads = [n for n in edited.graph.node if n.op_type == "Pad"]
        assert len(pads) == 20 and not graph_edits.reflect_pads(edited)
    assert np.max(np.abs(edits["A", "constant"] - edits["A", "source"])) > 0.05

    # the accuracy check sees that drift: below a float32-level threshold it fails with status 1
    (tmp_path / "ref").mkdir()
    (tmp_path / "const").mkdir()
    shutil.copy(chain.pth / "testA" / "1_A_0.bin", tmp_path / "ref")
    fileio.write_array(tmp_path / "const" / "1_A_0.bin", edits["A", "constant"])
    status, _, err = run_cli(eval_acc.main, ["--pth_result", tmp_path / "ref", "--npu_bin_file", tmp_path / "const",
                                             "--out_dir", tmp_path / "acc", "--threshold", "0.9999"], capsys)
    assert status == 1
    assert "FAIL: mean_cosine" in err
    report = json.loads((tmp_path / "acc" / "const.json").read_text())
    assert report["passed"] is False and report["aggregate"]["psnr"] < 40
    assert len(list((tmp_path / "acc" / "const_compare").glob("*.png"))) == 1


def test_exact_mode_folds_the_exporters_pads(chain, capsys):
    """On the plain export (pads computed at run time from constants) the exact edit folds them itself and
    keeps the dynamic batch axis and the final Tanh_156 node."""
    status, out, _ = run_cli(reflectpad.main, ["--onnx_path", chain.onnx, "--model_ga_onnx_name", "model_Ga.onnx",
                                               "--model_gb_onnx_name", "model_Gb.onnx", "--output_ga_name",
                                               "plain_Ga_exact.onnx", "--output_gb_name", "plain_Gb_exact.onnx"],
                             capsys)
    assert status == 0 and out.count("20 reflect Pad node(s) rewritten as Slice + Concat (exact)") == 2
    edited = onnx.load(str(chain.onnx / "plain_Ga_exact.onnx"))
    ops = onnx_utils.count_ops(edited)
    assert ops["Pad"] == 0 and ops["ConstantOfShape"] == 0 and ops["Slice"] == 96
    assert edited.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert [n.name for n in edited.graph.node if n.output[0] == "maps"] == ["Tanh_156"]
    x = np.random.default_rng(3).standard_normal((2, 3, 256, 256)).astype(np.float32)
    source = onnx_utils.run(chain.onnx / "model_Ga.onnx", {"img_sat_maps": x})[0]
    assert np.array_equal(onnx_utils.run(chain.onnx / "plain_Ga_exact.onnx", {"img_sat_maps": x})[0], source)


def test_reflectpad_refuses_an_edited_graph(chain, capsys):
    status, _, err = run_cli(reflectpad.main, ["--onnx_path", chain.onnx, "--model_ga_onnx_name",
                                               "model_Ga_bs1_exact.onnx", "--model_gb_onnx_name",
                                               "model_Gb_bs1_exact.onnx", "--output_ga_name", "x.onnx",
                                               "--output_gb_name", "y.onnx"], capsys)
    assert status == 2
    assert "has no reflect-mode Pad node to rewrite" in err
    # with no output names the edit is in place: an edited graph is left as it is (a repeated command), exit 0
    before = {p.name: p.read_bytes() for p in chain.onnx.iterdir()}
    status, out, _ = run_cli(reflectpad.main, ["--onnx_path", chain.onnx, "--model_ga_onnx_name",
                                               "model_Ga_bs1_exact.onnx", "--model_gb_onnx_name",
                                               "model_Gb_bs1_exact.onnx"], capsys)
    assert status == 0 and out.count("no reflect-mode Pad node left (already edited); unchanged") == 2
    assert {p.name: p.read_bytes() for p in chain.onnx.iterdir()} == before


def test_offline_matches_pytorch(chain, capsys):
    for side in SIDES:
        status, out, _ = run_cli(eval_acc.main, ["--pth_result", chain.pth / f"test{side}", "--npu_bin_file",
                                                 chain.result / f"{side}bs1", "--out_dir", chain.root / "acc"], capsys)
        assert status == 0 and "PASS: mean_cosine" in out
        report = json.loads((chain.root / "acc" / f"{side}bs1.json").read_text())
        agg = report["aggregate"]
        assert agg["count"] == 2
        assert agg["mean_cosine"] > 0.99999 and agg["mean_pixel_cosine"] > 0.99999 and agg["psnr"] > 70
        assert {"cosine", "pixel_cosine", "psnr"} <= set(report["files"][0])
        assert len(list((chain.root / "acc" / f"{side}bs1_compare").glob("*.png"))) == 2
        log = (chain.root / "acc" / f"{side}bs1.log").read_text()
        assert f"1_{side}_0.bin : cos ==>" in log and "average cosine_similarity (per pixel)" in log


def test_postprocess_uses_upstreams_mapping(chain, capsys):
    save = chain.root / "images" / "testA"
    status, out, _ = run_cli(postprocess.main, ["--dataroot", chain.maps / "testA", "--npu_bin_file",
                                                chain.result / "Abs1", "--bin2img_fie", save], capsys)
    assert status == 0 and "2 images" in out
    assert sorted(p.name for p in save.iterdir()) == ["1_A_0.png", "2_A_0.png", "grid.png"]
    output = fileio.read_array(chain.result / "Abs1" / "2_A_0.bin", shape=(1, 3, 256, 256))[0]
    expected = ((np.transpose(output, (1, 2, 0)) + 1) / 2.0 * 255.0).astype(np.uint8)  # util.tensor2im
    assert np.array_equal(np.asarray(Image.open(save / "2_A_0.png")), expected)


def test_postprocess_missing_partner(chain, tmp_path, capsys):
    result = tmp_path / "Abs1"
    shutil.copytree(chain.result / "Abs1", result)
    (result / "2_A_0.bin").unlink()
    status, _, err = run_cli(postprocess.main, ["--dataroot", chain.maps / "testA", "--npu_bin_file", result,
                                                "--bin2img_fie", tmp_path / "img"], capsys)
    assert status == 2
    assert "Abs1: no output for" in err and "2_A.jpg" in err  # outputs pair by sample, whatever tool named them


def test_postprocess_output_without_image(chain, tmp_path, capsys):
    result = tmp_path / "Abs1"
    shutil.copytree(chain.result / "Abs1", result)
    shutil.copy(result / "1_A_0.bin", result / "7_A_0.bin")
    status, _, err = run_cli(postprocess.main, ["--dataroot", chain.maps / "testA", "--npu_bin_file", result,
                                                "--bin2img_fie", tmp_path / "img"], capsys)
    assert status == 2
    assert "7_A_0.bin: has no image in" in err


def test_postprocess_wrong_size(chain, tmp_path, capsys):
    result = tmp_path / "Abs1"
    shutil.copytree(chain.result / "Abs1", result)
    (result / "1_A_0.bin").write_bytes((result / "1_A_0.bin").read_bytes()[:1000])
    status, _, err = run_cli(postprocess.main, ["--npu_bin_file", result, "--bin2img_fie", tmp_path / "img"], capsys)
    assert status == 2
    assert "1_A_0.bin: 1000 bytes is not a whole number of samples of (3, 256, 256) float32" in err


def test_eval_missing_partner(chain, tmp_path, capsys):
    result = tmp_path / "Bbs1"
    shutil.copytree(chain.result / "Bbs1", result)
    (result / "1_B_0.bin").unlink()
    status, _, err = run_cli(eval_acc.main, ["--pth_result", chain.pth / "testB", "--npu_bin_file", result,
                                             "--out_dir", tmp_path / "acc"], capsys)
    assert status == 2
    assert "1_B_0.bin: missing, expected as the partner of" in err
