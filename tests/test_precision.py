"""The fp16 build preview (common/precision.py) on graphs built here, and on DCGAN against PyTorch float16."""
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from common import backends, cli, fileio, infer, precision, report, similarity
from common.fp16 import intermediates
from test_report import check_report_file

ROOT = Path(__file__).resolve().parents[1]
F16 = np.float16


def r16(x):
    """What fp16 storage makes of float32 values (overflow to inf, underflow to 0, rounding to nearest)."""
    with np.errstate(over="ignore"):
        return np.asarray(x, np.float32).astype(F16).astype(np.float32)


def make_model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
                              [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


def run(model, **feeds):
    return precision.session(model).run(None, feeds)


# ------------------------------------------------------------------------------------------------ rounding

def test_one_operator_rounding_matches_numpy_float16_at_every_optimisation_level():
    # Mul(x, w): x and w are stored in fp16, the product is computed in fp32 and stored in fp16.
    model = make_model([helper.make_node("Mul", ["x", "w"], ["y"], name="mul")], [("x", [6])], [("y", [6])],
                       [("w", [0.1, 0.1, 0.1, 300.0, 1e-4, 3.0])])
    x = np.array([1e5, 1e-9, 1 / 3, 300.0, 1e-4, 2049.0], np.float32)
    w = np.array([0.1, 0.1, 0.1, 300.0, 1e-4, 3.0], np.float32)
    expected = r16(r16(x) * r16(w))
    # the cases: input overflow, input underflow, rounding, product overflow, product underflow (1e-8)
    assert np.isinf(expected[0]) and expected[1] == 0.0 and np.isinf(expected[3]) and expected[4] == 0.0
    assert expected[2] != np.float32(x[2] * w[2]) and expected[5] != np.float32(x[5] * w[5])

    emulated = precision.emulate(model, "force_fp16")
    assert numpy_helper.to_array(emulated.graph.initializer[0])[0] == r16(0.1)  # rounded in place
    levels = [ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, ort.GraphOptimizationLevel.ORT_ENABLE_ALL]
    for level in levels:  # no optimiser level folds a Cast(fp16)->Cast(fp32) pair away
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        sess = ort.InferenceSession(emulated.SerializeToString(), options, providers=["CPUExecutionProvider"])
        np.testing.assert_array_equal(sess.run(None, {"x": x})[0], expected)
    np.testing.assert_array_equal(run(emulated, x=x)[0], expected)  # the tool's own session
    np.testing.assert_array_equal(run(precision.emulate(model, "must_keep_origin_dtype"), x=x)[0], x * w)


def test_allow_fp32_to_fp16_rounds_only_the_matrix_operators():
    # x -> Mul(c) -> MatMul(W) -> Add(d): only MatMul runs in fp16 (reads and writes fp16 tensors).
    rng = np.random.default_rng(0)
    c, d = np.float32([[0.1, 0.7, 1.3]]), np.float32([[0.3, -0.2]])
    W = rng.standard_normal((3, 2)).astype(np.float32)
    model = make_model([helper.make_node("Mul", ["x", "c"], ["a"], name="mul"),
                        helper.make_node("MatMul", ["a", "W"], ["b"], name="matmul"),
                        helper.make_node("Add", ["b", "d"], ["y"], name="add")],
                       [("x", [4, 3])], [("y", [4, 2])], [("c", c), ("W", W), ("d", d)])
    x = rng.standard_normal((4, 3)).astype(np.float32)
    a = x * c
    fp32 = run(model, x=x)[0]
    allow = run(precision.emulate(model, "allow_fp32_to_fp16"), x=x)[0]
    expected = r16(r16(a) @ r16(W)) + d
    np.testing.assert_allclose(allow, expected, rtol=0, atol=1e-6)
    assert np.max(np.abs(allow - fp32)) > 1e-4  # the matrix product was rounded
    # Non-matrix operators alone: untouched, bit for bit.
    elementwise = make_model([helper.make_node("Mul", ["x", "c"], ["a"], name="mul"),
                              helper.make_node("Tanh", ["a"], ["y"], name="tanh")],
                             [("x", [4, 3])], [("y", [4, 3])], [("c", c)])
    np.testing.assert_array_equal(run(precision.emulate(elementwise, "allow_fp32_to_fp16"), x=x)[0],
                                  run(elementwise, x=x)[0])
    assert not np.array_equal(run(precision.emulate(elementwise, "force_fp16"), x=x)[0], run(elementwise, x=x)[0])


# ------------------------------------------------------------------------------------------------ collapse

def collapsing_model():
    """InstanceNorm -> Mul by 1e6 (values far beyond 65504) -> InstanceNorm -> Conv -> Tanh (also used by
    benchmarks/precision_benchmark.py)."""
    rng = np.random.default_rng(1)
    c = 4
    ones, zeros = np.ones(c, np.float32), np.zeros(c, np.float32)
    model = make_model([helper.make_node("InstanceNormalization", ["x", "s1", "b1"], ["n1"], name="norm1"),
                        helper.make_node("Mul", ["n1", "k"], ["big"], name="scale_up"),
                        helper.make_node("InstanceNormalization", ["big", "s2", "b2"], ["n2"], name="norm2"),
                        helper.make_node("Conv", ["n2", "w"], ["conv"], name="conv", pads=[1, 1, 1, 1]),
                        helper.make_node("Tanh", ["conv"], ["out"], name="tanh")],
                       [("x", [2, c, 8, 8])], [("out", [2, c, 8, 8])],
                       [("s1", ones), ("b1", zeros), ("k", [1e6]), ("s2", ones), ("b2", zeros),
                        ("w", rng.standard_normal((c, c, 3, 3)) * 0.2)])
    return model


@pytest.fixture(scope="module")
def collapsing(tmp_path_factory):
    model = collapsing_model()
    path = tmp_path_factory.mktemp("collapse") / "collapse.onnx"
    onnx.save(model, path)
    return path


def test_collapsing_graph_is_reported_and_fixed_by_a_small_keep_list(collapsing, tmp_path):
    cfg, report = tmp_path / "keep_dtype.cfg", tmp_path / "r.json"
    assert precision.main(["--model", str(collapsing), "--num", "4", "--keep_dtype_out", str(cfg),
                           "--report", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["finite"] is False and r["mode"] == "force_fp16"
    assert r["cosine"] == "nan" and r["max_abs"] == "inf"
    # the overflow chain: the node writing the big tensor and the one reading it back into range
    assert r["keep"] == ["norm2", "scale_up"]
    assert cfg.read_text() == "norm2\nscale_up\n"
    assert r["cosine_with_keep"] >= 0.99 and r["outputs_with_keep"]["out"]["finite"] is True
    # the keep list, applied as ATC applies it, passes without triage
    again = tmp_path / "again.json"
    emulated = tmp_path / "emulated.onnx"
    assert precision.main(["--model", str(collapsing), "--num", "4", "--keep_dtype", str(cfg),
                           "--report", str(again), "--save_emulated", str(emulated)]) == 0
    a = json.loads(again.read_text())
    assert a["finite"] is True and a["cosine"] == pytest.approx(r["cosine_with_keep"]) and a["keep"] == []
    # the saved emulated graph is what the om will compute, runnable by the runner
    assert infer.main(["--model", str(emulated), "--output", str(tmp_path / "res"), "--output_dirname", "emu",
                       "--pure_data_type", "random"]) == 0
    out = fileio.read_array(tmp_path / "res" / "emu" / "pure_infer_data_0.bin")
    assert out.size == 2 * 4 * 8 * 8 and np.all(np.isfinite(out))
    assert any(n.op_type == "Cast" for n in onnx.load(emulated).graph.node)
    # without triage the verdict is a failure
    assert precision.main(["--model", str(collapsing), "--num", "4", "--no_triage"]) == 1
    # the readable report: where the drift enters is where the graph leaves the fp16 range
    parsed = check_precision_report(tmp_path / "r_report.html", r, collapsing)
    errors = {row[1]: (row[3], row[4]) for row in parsed.tables["nodes"][1:]}
    assert float(errors["norm1"][0]) < 1e-2 and errors["scale_up"][0] == errors["norm2"][0] == "inf"
    assert all(np.isfinite(float(with_keep)) for _, with_keep in errors.values())


def check_precision_report(html, saved, model_path):
    """The readable report beside a --report JSON: self-contained HTML + PNG, the JSON's headline figures
    (same values, report.format_figure), a per-node table naming every float-output node of the graph in
    order, and, when the triage found one, the keep list and its effect."""
    parsed = check_report_file(html)
    headline = dict(parsed.tables["headline"])
    assert headline["mode"] == saved["mode"] and headline["threshold"] == str(saved["threshold"])
    assert headline["cosine (worst output)"] == report.format_figure("cosine", saved["cosine"])
    for suffix, key in (("", "outputs"), (" with keep", "outputs_with_keep")):
        for name, e in saved.get(key, {}).items():
            for figure, label in (("mean_cosine", "mean cosine"), ("min_cosine", "lowest cosine"),
                                  ("max_abs", "max |diff|"), ("psnr", "PSNR"), ("finite", "finite")):
                if figure in e:
                    assert headline[f"{name}{suffix}: {label}"] == report.format_figure(figure, e[figure])
    graph = onnx.load(model_path).graph
    rows = parsed.tables["nodes"][1:]
    assert [row[1] for row in rows] == [n.name for n in graph.node]  # these graphs: no Constant, all float
    assert [row[2] for row in rows] == [n.op_type for n in graph.node]
    kept = [row[1] for row in rows if row[-1] == "kept"]
    assert kept == [n.name for n in graph.node if n.name in saved["keep"]]
    if saved["keep"]:
        assert headline["cosine with keep list"] == report.format_figure("cosine", saved["cosine_with_keep"])
        assert [row[0] for row in parsed.tables["keep"][1:]] == saved["keep"]
        effect = parsed.tables["effect"][1:]
        assert [row[0] for row in effect] == list(saved["outputs"])
    return parsed


def test_collapsing_graph_by_type_and_control_mode(collapsing, tmp_path, capsys):
    cfg, report = tmp_path / "types.cfg", tmp_path / "t.json"
    assert precision.main(["--model", str(collapsing), "--num", "2", "--by_type", "--keep_dtype_out", str(cfg),
                           "--report", str(report)]) == 0
    assert cfg.read_text() == "OpType::InstanceNormalization\nOpType::Mul\n"
    out = capsys.readouterr().out
    assert f"--keep_dtype={cfg}" in out and "OpType::<type>" in out
    control = tmp_path / "c.json"
    assert precision.main(["--model", str(collapsing), "--num", "2", "--mode", "must_keep_origin_dtype",
                           "--report", str(control)]) == 0
    c = json.loads(control.read_text())
    assert c["cosine"] == 1.0 and c["max_abs"] == 0.0 and c["finite"] is True and c["keep"] == []


def test_bad_inputs_are_one_line_errors(collapsing, tmp_path, capsys):
    bad = tmp_path / "bad.cfg"
    bad.write_text("norm2\nno_such_node\n")
    assert cli.run(precision.main, ["--model", str(collapsing), "--keep_dtype", str(bad)]) == 2
    assert f"error: {bad}: node 'no_such_node' is not in the model" in capsys.readouterr().err
    folder = tmp_path / "in"
    folder.mkdir()
    fileio.write_array(folder / "x_0.bin", np.zeros(10, np.float32))
    assert cli.run(precision.main, ["--model", str(collapsing), "--input", str(folder)]) == 2
    assert "x_0.bin: 40 bytes does not divide the input 'x'" in capsys.readouterr().err
    assert cli.run(precision.main, ["--model", str(tmp_path / "missing.onnx")]) == 2
    assert "missing.onnx: no such ONNX file" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ a generator

def test_dcgan_emulation_agrees_with_pytorch_float16(tmp_path):
    """Full-size DCGAN, seeded weights: 1 - cosine of the emulation and of PyTorch's float16 CPU run (both
    against fp32) agree within a factor of 3 (measured 0.86 on 16 samples)."""
    sys.path.insert(0, str(ROOT / "DCGAN"))
    try:
        from dcgan_model import random_generator
    finally:
        sys.path.remove(str(ROOT / "DCGAN"))
    from common import onnx_utils

    model = random_generator()
    onnx_utils.export(model, (torch.zeros(1, 100, 1, 1),), tmp_path / "dcgan.onnx", ["noise"], ["image"])
    z = np.random.default_rng(0).standard_normal((8, 100, 1, 1)).astype(np.float32)
    evaluator = precision.Evaluator(onnx.load(tmp_path / "dcgan.onnx"), [([z], 8)], ["image"], progress=False)
    emulated = evaluator.outputs("force_fp16", None)[0][0]
    fp32 = evaluator.reference[0][0]
    with torch.no_grad():
        half = model.half()(torch.from_numpy(z).half()).float().numpy()
    gap_emu = np.mean([similarity.one_minus_cosine(r, e) for r, e in zip(fp32, emulated)])
    gap_torch = np.mean([similarity.one_minus_cosine(r, h) for r, h in zip(fp32, half)])
    assert gap_emu > 1e-9 and gap_torch > 1e-9  # both really ran in reduced precision
    assert 1 / 3 <= gap_emu / gap_torch <= 3, (gap_emu, gap_torch)

    import openvino as ov  # a second, independent fp16 engine, only where the CPU has fp16 arithmetic

    core = ov.Core()
    if "FP16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        return  # AVX512-FP16 / AMX-FP16 absent: OpenVINO would silently compute in fp32
    compiled = core.compile_model(str(tmp_path / "dcgan.onnx"), "CPU", {"INFERENCE_PRECISION_HINT": "f16"})
    ov_out = compiled({"noise": z})[0]
    gap_ov = np.mean([similarity.one_minus_cosine(r, o) for r, o in zip(fp32, ov_out)])
    assert 1 / 3 <= gap_emu / gap_ov <= 3, (gap_emu, gap_ov)


def test_driver_summary_puts_the_predicted_fp16_cosine_beside_the_fp32_one(collapsing, tmp_path):
    from common import driver

    report = tmp_path / "p.json"
    assert precision.main(["--model", str(collapsing), "--num", "2", "--report", str(report),
                           "--keep_dtype_out", str(tmp_path / "keep.cfg")]) == 0
    figures = driver.fp16_figures(report)
    assert figures["fp16_mode"] == "force_fp16" and figures["fp16_finite"] is False
    assert figures["fp16_keep"] == 2 and figures["fp16_cosine_with_keep"] >= 0.99
    lines = driver._result_lines({"cosine": 1.0, **figures, "images": 3})
    assert lines[0] == "  cosine: 1.0 (fp32 ONNX Runtime)   predicted fp16 build: nan (force_fp16, common/precision.py)"
    assert "  images: 3" in lines and not any("fp16_mode" in line for line in lines)
    assert driver.report_paths({"report": "acc_report.html", **figures}) == ["acc_report.html",
                                                                            str(tmp_path / "p_report.html")]


def test_rounding_triage_without_overflow_finds_the_cancellation(tmp_path):
    """(tanh(x) + 2048) - 2048: in fp16 the sum keeps no fraction below 2 (the ulp at 2048), nothing
    overflows, and the output collapses; the triage ranks by added rounding error and keeps the pair."""
    model = make_model([helper.make_node("Tanh", ["x"], ["t"], name="tanh"),
                        helper.make_node("Add", ["t", "c"], ["a"], name="add"),
                        helper.make_node("Sub", ["a", "c"], ["b"], name="sub"),
                        helper.make_node("Mul", ["b", "k"], ["y"], name="scale")],
                       [("x", [4, 16])], [("y", [4, 16])], [("c", [2048.0]), ("k", [3.0])])
    path, report = tmp_path / "cancel.onnx", tmp_path / "r.json"
    onnx.save(model, path)
    assert precision.main(["--model", str(path), "--num", "4", "--keep_dtype_out", str(tmp_path / "k.cfg"),
                           "--report", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["finite"] is True and r["cosine"] < 0.9
    assert r["keep"] == ["add", "sub"] and "overflow" not in " ".join(r["triage"])  # pruned to the pair
    assert r["cosine_with_keep"] >= 0.99
    check_precision_report(tmp_path / "r_report.html", r, path)


def test_intermediates_exposed_in_runs_give_the_same_per_node_errors(collapsing, monkeypatch):
    """A generator's intermediates do not fit in memory at once: under a tiny budget every tensor gets a run
    of its own, and the per-node errors (and the overflow triage's peaks) are the same as in one run."""
    groups, _ = precision.input_batches(backends.open_backend(str(collapsing)), None, 4)
    evaluator = precision.Evaluator(onnx.load(collapsing), groups, ["out"], progress=False)
    configs = [("force_fp16", precision.KeepSet()), ("force_fp16", precision.KeepSet(["norm2", "scale_up"]))]
    nodes, together = precision.node_drift(evaluator, configs)
    _, names, fits = precision.drift_tensors(evaluator.model)
    exposed = []
    for mode, keep in configs:  # the emulation's own run, exposing them (what main does when they fit)
        evaluator.outputs(mode, keep, expose=names)
        exposed.append(evaluator.exposed)
    assert fits and precision.node_drift(evaluator, configs, exposed) == (nodes, together)
    chain = precision.overflow_nodes(evaluator, "force_fp16", precision.KeepSet())
    monkeypatch.setattr(intermediates, "EXPOSED_BYTES", 1)
    assert len(intermediates.chunks(evaluator.model, [t for n in nodes for t in n.output])) == len(nodes)
    assert precision.node_drift(evaluator, configs) == (nodes, together)
    assert precision.overflow_nodes(evaluator, "force_fp16", precision.KeepSet()) == chain
    assert together[0][1] == math.inf and 0 < together[1][-1] < 1e-2


def test_report_of_image_outputs_shows_the_worst_samples_and_no_html_skips_it(tmp_path):
    """Conv(3 -> 3) -> Tanh on 6 seeded samples: the report's worst list holds every sample, 1 - cosine
    largest first, as recomputed here from the fp32 and emulated runs; --no_html writes the JSON alone."""
    rng = np.random.default_rng(3)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                        helper.make_node("Tanh", ["c"], ["image"], name="tanh")],
                       [("x", [2, 3, 8, 8])], [("image", [2, 3, 8, 8])], [("w", rng.standard_normal((3, 3, 3, 3)))])
    path, saved = tmp_path / "img.onnx", tmp_path / "p.json"
    onnx.save(model, path)
    assert precision.main(["--model", str(path), "--num", "6", "--report", str(saved)]) == 0
    r = json.loads(saved.read_text())
    parsed = check_precision_report(tmp_path / "p_report.html", r, path)
    text = (tmp_path / "p_report.html").read_text()
    assert "fp32 (ONNX Runtime)" in text and "predicted fp16 build" in text
    groups, _ = precision.input_batches(backends.open_backend(str(path)), None, 6)
    evaluator = precision.Evaluator(onnx.load(path), groups, ["image"], progress=False)
    emulated = np.concatenate([b[0] for b in evaluator.outputs("force_fp16", None)])
    fp32 = np.concatenate([b[0] for b in evaluator.reference])
    gaps = [similarity.one_minus_cosine(a, b) for a, b in zip(fp32, emulated)]
    order = sorted(range(6), key=lambda k: -gaps[k])
    rows = parsed.tables["worst"][1:]
    assert [row[0] for row in rows] == [f"image, sample {k}" for k in order]
    assert [row[1] for row in rows] == [report.format_figure("one_minus_cosine", gaps[k]) for k in order]

    (tmp_path / "p_report.html").unlink()
    (tmp_path / "p_report.png").unlink()
    assert precision.main(["--model", str(path), "--num", "6", "--report", str(saved), "--no_html"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.onnx", "p.json"]


def test_weights_on_disk_give_the_same_runs_and_leave_no_copy_in_memory(tmp_path):
    """The evaluator's graph holds no weights: they are in two files (as given, and fp16-rounded at the same
    offsets) that its sessions map, and every run is bit for bit the run of the model with its weights inside:
    fp32, each mode's emulation (an initializer rounded in place, and one also read by a kept node, rounded as a
    copy), and the --save_emulated graph. The files go with the evaluator's close()."""
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((64, 8, 3, 3)) * 300).astype(np.float32)  # 18 KB, kept out of the graph
    model = make_model([helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                        helper.make_node("Relu", ["c"], ["r"], name="relu"),
                        helper.make_node("ReduceMean", ["w"], ["m"], name="mean", axes=[0], keepdims=0),  # reads w
                        helper.make_node("Mul", ["r", "s"], ["y"], name="scale")],
                       [("x", [2, 8, 8, 8])], [("y", [2, 64, 8, 8]), ("m", [8, 3, 3])],
                       [("w", w), ("s", rng.standard_normal((1, 64, 1, 1)) * 1e-3)])
    path = tmp_path / "conv.onnx"
    onnx.save(model, path)
    x = rng.standard_normal((2, 8, 8, 8)).astype(np.float32)
    evaluator = precision.Evaluator(onnx.load(path), [([x], 2)], ["y", "m"], progress=False)
    folder = evaluator.files.folder
    assert evaluator.model.ByteSize() < w.nbytes / 4  # the graph alone: the weights are not in it
    assert sorted(p.name for p in folder.iterdir()) == ["weights.bin", "weights.bin.fp16"]
    given, rounded = (np.fromfile(folder / name, np.float32, w.size) for name in ("weights.bin", "weights.bin.fp16"))
    np.testing.assert_array_equal(given, w.ravel())
    np.testing.assert_array_equal(rounded, r16(w).ravel())
    for outputs, expected in zip(evaluator.reference[0], run(model, x=x)):
        np.testing.assert_array_equal(outputs, expected)
    for mode, keep in [("force_fp16", precision.KeepSet()), ("force_fp16", precision.KeepSet(["mean"])),
                       ("allow_fp32_to_fp16", precision.KeepSet())]:
        on_disk = evaluator.outputs(mode, keep)[0]
        inside = run(precision.emulate(model, mode, keep), x=x)
        for a, b in zip(on_disk, inside):
            np.testing.assert_array_equal(a, b)
        saved = evaluator.files.embedded(precision.emulate(evaluator.model, mode, keep))
        assert saved.SerializeToString() == precision.emulate(onnx.load(path), mode, keep).SerializeToString()
    assert not np.array_equal(evaluator.outputs("force_fp16", None)[0][1], evaluator.reference[0][1])  # w rounded
    evaluator.files.close()
    assert not folder.exists()


def test_exposed_runs_are_sized_by_the_shapes_the_exporter_computes(tmp_path, monkeypatch):
    """The exporter computes a ReflectionPad's amounts in the graph (ConstantOfShape, Concat, Slice...), where ONNX's
    own shape inference stops, which once made every later tensor count 4 bytes: Pix2pixHD's 8.3 GB of
    intermediates at 1024x2048 went into one run and the preview was killed for memory. Every tensor here has its
    true size, so a budget of two tensors gives runs of at most two."""
    from common import onnx_utils

    net = torch.nn.Sequential(torch.nn.ReflectionPad2d(3), torch.nn.Conv2d(4, 8, 7), torch.nn.ReLU(),
                              torch.nn.ReflectionPad2d(1), torch.nn.Conv2d(8, 8, 3), torch.nn.Tanh())
    path = tmp_path / "pad.onnx"
    onnx_utils.export(net, (torch.zeros(1, 4, 32, 32),), path, ["x"], ["y"])
    model = onnx.load(path)
    nodes, names, _ = precision.drift_tensors(model)
    sizes = intermediates.tensor_sizes(model)
    by_op = {node.op_type: sizes[name] for node, name in zip(nodes, names)}  # the last of each type
    assert by_op["Pad"] == 4 * 8 * 34 * 34 and by_op["Conv"] == 4 * 8 * 32 * 32  # batch (symbolic) counted 1
    assert sizes[names[0]] == 4 * 4 * 38 * 38
    monkeypatch.setattr(intermediates, "EXPOSED_BYTES", 2 * 4 * 8 * 34 * 34)
    runs = intermediates.chunks(model, names)
    assert len(runs) > 1 and all(sum(sizes[n] for n in run) <= intermediates.EXPOSED_BYTES or len(run) == 1
                                 for run in runs)
