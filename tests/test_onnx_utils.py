import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from common import graph_edits, onnx_utils
from common.errors import CheckFailed, UserError


class TwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(6, 4)

    def forward(self, z, y):
        return torch.tanh(self.fc(z) * (1 + y))


class Padded(torch.nn.Module):
    def __init__(self, pad):
        super().__init__()
        torch.manual_seed(1)
        self.pad = torch.nn.ReflectionPad2d(pad)
        self.conv = torch.nn.Conv2d(2, 3, 3)
        self.pad2 = torch.nn.ReflectionPad2d(1)

    def forward(self, x):
        return self.pad2(self.conv(self.pad(x)))


def test_export_verify_and_dynamic_batch(tmp_path):
    model = TwoInputs()
    path = onnx_utils.export(model, (torch.zeros(1, 6), torch.zeros(1, 4)), tmp_path / "m.onnx", ["z", "y"], ["out"])
    shapes = onnx_utils.input_shapes(onnx_utils.load(path))
    assert shapes == {"z": ["batch", 6], "y": ["batch", 4]}
    feeds = onnx_utils.seeded_feeds({"z": [5, 6], "y": [5, 4]})
    diff = onnx_utils.verify_against_torch(path, model, feeds)
    assert diff["out"] < 1e-6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]

    other = TwoInputs()
    with torch.no_grad():
        other.fc.bias += 0.5
    with pytest.raises(CheckFailed, match=r"m\.onnx vs PyTorch: output 'out' differs from the reference by"):
        onnx_utils.verify_against_torch(path, other, feeds)


def test_seeded_feeds_are_deterministic():
    a = onnx_utils.seeded_feeds({"x": [2, 3], "ids": [4]}, seed=3, dtypes={"ids": np.uint8}, int_high={"ids": 35})
    b = onnx_utils.seeded_feeds({"x": [2, 3], "ids": [4]}, seed=3, dtypes={"ids": np.uint8}, int_high={"ids": 35})
    assert a["x"].dtype == np.float32 and a["ids"].dtype == np.uint8
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["ids"].max() < 35


def test_simplify_fixes_shapes_and_verifies(tmp_path):
    model = TwoInputs()
    src = onnx_utils.export(model, (torch.zeros(1, 6), torch.zeros(1, 4)), tmp_path / "m.onnx", ["z", "y"], ["out"])
    onnx_utils.simplify(src, tmp_path / "m_bs3.onnx", {"z": [3, 6], "y": [3, 4]})
    assert onnx_utils.input_shapes(onnx_utils.load(tmp_path / "m_bs3.onnx")) == {"z": [3, 6], "y": [3, 4]}

    with pytest.raises(UserError, match=r"m\.onnx: has no input named 'noise'; its inputs are z, y"):
        onnx_utils.simplify(src, tmp_path / "x.onnx", {"noise": [1, 6]})
    with pytest.raises(UserError, match=r"input 'y' has a dynamic shape \['batch', 4\]; give it with --input-shape"):
        onnx_utils.simplify(src, tmp_path / "x.onnx", {"z": [1, 6]})
    with pytest.raises(UserError, match=r"input 'z' is \['batch', 6\], cannot be fixed to \[1, 7\]"):
        onnx_utils.simplify(src, tmp_path / "x.onnx", {"z": [1, 7], "y": [1, 4]})
    with pytest.raises(UserError, match=r"m\.onnx: input 'y' axis 0 \('batch'\) fixed to 2, but 'z' shares that "
                                        r"dimension and is fixed to 4; give both the same size"):
        onnx_utils.simplify(src, tmp_path / "x.onnx", {"z": [4, 6], "y": [2, 4]})
    assert not (tmp_path / "x.onnx").exists()


def test_check_rejects_an_invalid_model(tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), tmp_path / "bad.onnx")
    with pytest.raises(CheckFailed, match=r"bad\.onnx: onnx.checker rejected the model"):
        onnx_utils.check(tmp_path / "bad.onnx")
    with pytest.raises(UserError, match=r"none\.onnx: no such ONNX file"):
        onnx_utils.load(tmp_path / "none.onnx")


def clip_model(max_input=None):
    inputs = ["x", "lo"] + ([max_input] if max_input is not None else [])
    node = helper.make_node("Clip", inputs, ["y"], name="Clip_0")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        initializer=[helper.make_tensor("lo", TensorProto.FLOAT, [], [1e-6]),
                     helper.make_tensor("hi", TensorProto.FLOAT, [], [2.0])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=7)


@pytest.mark.parametrize("max_input", [None, ""])
def test_fill_clip_max(tmp_path, max_input):
    model = clip_model(max_input)
    assert graph_edits.fill_clip_max(model, 5.0) == ["Clip_0"]
    assert graph_edits.constant_value(model, model.graph.node[0].input[2]) == np.float32(5.0)
    onnx_utils.save(model, tmp_path / "c.onnx")
    out = onnx_utils.run(tmp_path / "c.onnx", {"x": np.array([-1, 0.5, 4, 9], np.float32)})[0]
    assert np.array_equal(out, np.array([1e-6, 0.5, 4, 5], np.float32))
    assert graph_edits.fill_clip_max(model, 5.0) == []  # already filled: nothing to do


def test_save_verified_edit(tmp_path):
    """One path for every graph edit: checked, verified on seeded inputs (a free axis at 1, static dims as
    declared), renamed into place only then; a drift is one CheckFailed line and writes nothing."""
    model = clip_model()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "n"  # a free axis
    onnx.save(model, tmp_path / "c.onnx")
    session = onnx_utils.make_session(tmp_path / "c.onnx")
    feeds = onnx_utils.verification_feeds(session, seed=4)
    assert feeds["x"].shape == (1,) and feeds["x"].dtype == np.float32
    assert onnx_utils.verification_feeds(session, {"x": [5]}, seed=4)["x"].shape == (5,)
    assert np.array_equal(feeds["x"], onnx_utils.seeded_feeds({"x": [1]}, seed=4)["x"])

    exact = onnx.ModelProto()
    exact.CopyFrom(model)
    graph_edits.fill_clip_max(exact, 1e30)  # never bites: the same outputs
    result = onnx_utils.save_verified_edit(tmp_path / "c.onnx", exact, tmp_path / "c.onnx", 0.0, shapes={"x": [64]})
    assert result.diffs == {"y": 0.0} and result.reference[0].shape == (64,)
    assert graph_edits.fill_clip_max(onnx_utils.load(tmp_path / "c.onnx"), 5.0) == []  # written in place

    onnx.save(model, tmp_path / "c.onnx")
    before = (tmp_path / "c.onnx").read_bytes()
    biting = onnx.ModelProto()
    biting.CopyFrom(model)
    graph_edits.fill_clip_max(biting, 0.0)  # clips every positive value: a drift
    with pytest.raises(CheckFailed, match=r"^\S*d\.onnx vs \S*c\.onnx: output 'y' differs from the reference by "
                                          r"[0-9.e+-]+ \(max abs\), tolerance 1e-06$"):
        onnx_utils.save_verified_edit(tmp_path / "c.onnx", biting, tmp_path / "d.onnx", 1e-6, shapes={"x": [64]})
    assert not (tmp_path / "d.onnx").exists() and (tmp_path / "c.onnx").read_bytes() == before
    drift = onnx_utils.save_verified_edit(tmp_path / "c.onnx", biting, tmp_path / "d.onnx", float("inf"), seed=1,
                                          shapes={"x": [64]})  # an edit that changes the model on purpose
    assert drift.diffs["y"] > 0 and np.all(drift.edited[0] <= 1e-6)


def test_fill_clip_max_leaves_explicit_max_alone():
    model = clip_model("hi")
    assert graph_edits.fill_clip_max(model, 5.0) == []
    assert model.graph.node[0].input[2] == "hi"


def export_padded(tmp_path, pad, name="p.onnx"):
    model = Padded(pad)
    src = onnx_utils.export(model, (torch.zeros(1, 2, 9, 7),), tmp_path / name, ["x"], ["y"])
    onnx_utils.simplify(src, tmp_path / f"sim_{name}", {"x": [2, 2, 9, 7]})  # pads become constants
    return model, tmp_path / f"sim_{name}"


@pytest.mark.parametrize("pad", [3, (1, 2, 3, 0)])
def test_reflect_pad_to_slices_is_exact(tmp_path, pad):
    model, sim = export_padded(tmp_path, pad)
    edited = onnx_utils.load(sim)
    assert len(graph_edits.reflect_pads(edited)) == 2
    changed = graph_edits.reflect_pad_to_slices(edited)
    assert len(changed) == 2
    ops = onnx_utils.count_ops(edited)
    assert ops["Pad"] == 0 and ops["Slice"] > 0 and ops["Concat"] > 0
    onnx_utils.save(edited, tmp_path / "exact.onnx")
    onnx_utils.check(tmp_path / "exact.onnx")
    x = np.random.default_rng(0).standard_normal((2, 2, 9, 7)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert np.max(np.abs(onnx_utils.run(tmp_path / "exact.onnx", {"x": x})[0] - expected)) < 1e-5
    assert np.array_equal(onnx_utils.run(tmp_path / "exact.onnx", {"x": x})[0], onnx_utils.run(sim, {"x": x})[0])


def test_reflect_pad_to_constant_changes_the_output(tmp_path):
    model, sim = export_padded(tmp_path, 2)
    edited = onnx_utils.load(sim)
    assert len(graph_edits.reflect_pad_to_constant(edited)) == 2
    assert graph_edits.reflect_pads(edited) == [] and onnx_utils.count_ops(edited)["Pad"] == 2
    onnx_utils.save(edited, tmp_path / "zero.onnx")
    x = np.random.default_rng(0).standard_normal((2, 2, 9, 7)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert np.max(np.abs(onnx_utils.run(tmp_path / "zero.onnx", {"x": x})[0] - expected)) > 1e-2


def test_reflect_pad_with_run_time_pads_asks_for_simplification(tmp_path):
    """The exporter computes pads from constants only: those are folded and the rewrite stays exact. Pads
    computed from a graph input cannot be folded: that asks for a fixed-shape simplification."""
    onnx_utils.export(Padded(1), (torch.zeros(1, 2, 9, 7),), tmp_path / "raw.onnx", ["x"], ["y"])
    raw = onnx_utils.load(tmp_path / "raw.onnx")
    assert graph_edits.reflect_pad_to_slices(raw) and not graph_edits.reflect_pads(raw)
    onnx_utils.save(raw, tmp_path / "exact.onnx")
    x = np.random.default_rng(0).standard_normal((3, 2, 9, 7)).astype(np.float32)  # another batch: still dynamic
    assert np.array_equal(onnx_utils.run(tmp_path / "exact.onnx", {"x": x})[0],
                          onnx_utils.run(tmp_path / "raw.onnx", {"x": x})[0])

    pad = helper.make_node("Pad", ["x", "pads"], ["y"], name="Pad_0", mode="reflect")
    graph = helper.make_graph([pad], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4]),
                                           helper.make_tensor_value_info("pads", TensorProto.INT64, [8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(UserError, match=r"Pad node 'Pad_0': its pads are computed at run time from the graph's "
                                        r"inputs; simplify the graph for a fixed shape first"):
        graph_edits.reflect_pad_to_slices(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]))


def test_make_session_never_falls_back_silently(tmp_path):
    onnx.save(clip_model("hi"), tmp_path / "c.onnx")
    assert onnx_utils.make_session(tmp_path / "c.onnx").get_providers()[0] == "CPUExecutionProvider"
    with pytest.raises(UserError, match=r"provider 'cuda' \(CUDAExecutionProvider\) is not in this onnxruntime build"):
        onnx_utils.make_session(tmp_path / "c.onnx", provider="cuda")
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    with pytest.raises(UserError, match=r"junk\.onnx: ONNX Runtime could not load it"):
        onnx_utils.make_session(tmp_path / "junk.onnx")


def test_export_verified_leaves_nothing_when_verification_fails(tmp_path):
    """The file gets its name only after ONNX Runtime agreed with PyTorch: a failed check leaves no file and
    keeps the one an earlier run wrote."""
    class Drifting(TwoInputs):
        def forward(self, z, y):  # traced once, then PyTorch computes something else than the graph
            out = super().forward(z, y)
            return out + 1.0 if not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export() else out

    feeds = onnx_utils.seeded_feeds({"z": [2, 6], "y": [2, 4]})
    target = tmp_path / "m.onnx"
    diff = onnx_utils.export_verified(TwoInputs(), (torch.zeros(1, 6), torch.zeros(1, 4)), target, ["z", "y"],
                                      ["out"], feeds)
    assert diff["out"] < 1e-6
    good = target.read_bytes()
    with pytest.raises(CheckFailed, match=r"m\.onnx vs PyTorch: output 'out' differs from the reference by 1 "):
        onnx_utils.export_verified(Drifting(), (torch.zeros(1, 6), torch.zeros(1, 4)), target, ["z", "y"],
                                   ["out"], feeds)
    assert target.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    fresh = tmp_path / "fresh.onnx"
    nan_model = TwoInputs()
    with torch.no_grad():
        nan_model.fc.weight[0, 0] = float("nan")
    with pytest.raises(CheckFailed, match=r"fresh\.onnx vs PyTorch: output 'out' holds NaN or Inf"):
        onnx_utils.export_verified(nan_model, (torch.zeros(1, 6), torch.zeros(1, 4)), fresh, ["z", "y"], ["out"],
                                   feeds)
    assert not fresh.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
