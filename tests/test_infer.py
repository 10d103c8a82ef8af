"""The ais_bench-compatible runner on small real ONNX models."""
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from common import backends, fileio, infer, onnx_utils, sources, tool_outputs
from common.errors import UserError
from common.facts import TensorSpec

ROOT = Path(__file__).resolve().parents[1]


class OneInput(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x):
        return torch.tanh(self.fc(x)), x * 2


class TwoInputs(torch.nn.Module):
    def forward(self, noise, label):
        return torch.tanh(noise.sum(2, keepdim=True) + label)  # (B,1,k) + (B,2,3) -> (B,2,3)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    onnx_utils.export(OneInput(), (torch.zeros(1, 3),), d / "one.onnx", ["x"], ["y", "z"])
    onnx_utils.simplify(d / "one.onnx", d / "one_bs4.onnx", {"x": [4, 3]})
    onnx_utils.export(TwoInputs(), (torch.zeros(1, 1, 2), torch.zeros(1, 2, 3)), d / "two.onnx",
                      ["noise", "label"], ["out"])
    return d


def write_samples(folder, n, shape, seed, fmt="bin", names="s_{}"):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    data = []
    for i in range(n):
        x = rng.standard_normal(shape).astype(np.float32)
        fileio.write_array(folder / f"{names.format(i)}.{fmt}", x)
        data.append(x)
    return data


def test_static_batch_with_padding_matches_direct_onnx_runtime(models, tmp_path):
    data = write_samples(tmp_path / "in", 10, (3,), seed=1)
    assert infer.main(["--model", str(models / "one_bs4.onnx"), "--input", str(tmp_path / "in"),
                       "--output", str(tmp_path / "res"), "--output_dirname", "bs4", "--outfmt", "BIN",
                       "--batchsize", "4", "--loop", "2"]) == 0
    out = tmp_path / "res" / "bs4"
    names = [p.name for p in fileio.list_data_files(out)]
    assert names == [f"s_{i}_{k}.bin" for i in range(10) for k in (0, 1)]  # padding of the last batch dropped
    session = onnx_utils.make_session(models / "one.onnx")
    for i, x in enumerate(data):
        y, z = session.run(None, {"x": x[None]})
        assert np.array_equal(fileio.read_array(out / f"s_{i}_0.bin", np.float32, (1, 2)), y)
        assert np.array_equal(fileio.read_array(out / f"s_{i}_1.bin", np.float32, (1, 3)), z)

    summary = json.loads((tmp_path / "res" / "bs4_summary.json").read_text())
    times = summary["npu_compute_time_list"]
    assert len(times) == 3 * 2  # three batches, --loop 2
    stats = summary["NPU_compute_time"]
    assert stats["count"] == 6 and stats["min"] <= stats["median"] <= stats["max"]
    assert stats["mean"] == pytest.approx(np.mean(times))
    assert stats["percentile(99%)"] == pytest.approx(np.percentile(times, 99))
    assert summary["throughput"] == pytest.approx(1000 * 4 / stats["mean"])
    assert len(summary["filesinfo"]) == 10
    assert summary["filesinfo"]["9"]["infiles"] == [str(tmp_path / "in" / "s_9.bin")]
    assert summary["filesinfo"]["9"]["outfiles"] == [str(out / "s_9_0.bin"), str(out / "s_9_1.bin")]
    assert summary["filesinfo"]["9"]["outshapes"] == [[1, 2], [1, 3]]  # what each file holds
    assert summary["non_finite_batches"] == 0
    # no temporary folder left, only the records of the run that wrote the folder and its summary together
    assert sorted(p.name for p in tmp_path.glob("res/.*")) == [".bs4.ganzoo-run", ".bs4_summary.json.ganzoo-run"]


def test_two_inputs_dynamic_batch_and_file_holding_a_batch(models, tmp_path):
    noise = write_samples(tmp_path / "noise", 3, (2, 1, 2), seed=2, names="input_{:05d}")
    label = write_samples(tmp_path / "label", 3, (2, 2, 3), seed=3, names="input_{:05d}")
    infer.main(["--model", str(models / "two.onnx"), "--input", f"{tmp_path / 'noise'},{tmp_path / 'label'}",
                "--output", str(tmp_path / "res"), "--output_dirname", "bs2"])
    summary = json.loads((tmp_path / "res" / "bs2_summary.json").read_text())
    assert summary["batchsize"] == 2  # taken from the samples in one file
    for i in range(3):
        expected = np.tanh(noise[i].sum(2, keepdims=True) + label[i])
        got = fileio.read_array(tmp_path / "res" / "bs2" / f"input_{i:05d}_0.bin", np.float32, (2, 2, 3))
        assert np.allclose(got, expected, atol=1e-6)


def test_dynamic_model_batches_single_sample_files(models, tmp_path):
    data = write_samples(tmp_path / "in", 5, (3,), seed=4, fmt="npy")
    infer.main(["--model", str(models / "one.onnx"), "--input", str(tmp_path / "in"), "--output",
                str(tmp_path / "res"), "--output_dirname", "npy", "--outfmt", "NPY", "--batchsize", "2"])
    session = onnx_utils.make_session(models / "one.onnx")
    for i, x in enumerate(data):
        assert np.array_equal(np.load(tmp_path / "res" / "npy" / f"s_{i}_0.npy"),
                              session.run(None, {"x": x[None]})[0])


def test_pure_inference_mode_and_timestamp_folder(models, tmp_path, capsys):
    infer.main(["--model", str(models / "one_bs4.onnx"), "--output", str(tmp_path / "res"), "--loop", "5"])
    runs = [p for p in (tmp_path / "res").iterdir() if p.is_dir()]
    assert len(runs) == 1 and tool_outputs.AIS_TIMESTAMP.match(runs[0].name)
    y = fileio.read_array(runs[0] / "pure_infer_data_0.bin", np.float32, (4, 2))
    assert np.array_equal(y, onnx_utils.run(models / "one_bs4.onnx", {"x": np.zeros((4, 3), np.float32)})[0])
    assert (tmp_path / "res" / f"{runs[0].name}_summary.json").is_file()
    printed = capsys.readouterr().out
    assert "[INFO] -----------------Performance Summary------------------" in printed
    assert "NPU_compute_time (ms): min = " in printed and "throughput 1000*batchsize.mean(4)/" in printed


def test_txt_output_format(models, tmp_path):
    write_samples(tmp_path / "in", 1, (3,), seed=5)
    infer.main(["--model", str(models / "one.onnx"), "--input", str(tmp_path / "in"), "--output",
                str(tmp_path / "res"), "--output_dirname", "t", "--outfmt", "TXT"])
    rows = (tmp_path / "res" / "t" / "s_0_1.txt").read_text().splitlines()
    assert len(rows) == 1 and len(rows[0].split(" ")) == 3


@pytest.mark.parametrize("case, message", [
    ("size", r"odd\.bin: 20 bytes does not divide the input 'x' of \(4, 3\) float32 \(48 bytes\)"),
    ("sample", r"part\.bin: 8 bytes is not a whole number of samples of input 'x' \(\(3,\) float32, 12 bytes"),
    ("folders", r"--input names 1 folder\(s\) but the model has 2 input\(s\) \(noise, label\)"),
    ("names", r"b/input_1\.bin: pairs by position with .*a/input_0\.bin, but the names differ"),
    ("batch", r"--batchsize 2 but the model's batch is fixed at 4"),
    ("om", r"m\.om: \.om models run on an Ascend NPU through ais_bench, which is not installed"),
    ("missing", r"nothing: no such file or folder \(from --input\)"),
])
def test_errors(models, tmp_path, case, message):
    (tmp_path / "in").mkdir()
    fileio.write_array(tmp_path / "in" / "odd.bin", np.zeros(5, np.float32))
    (tmp_path / "part").mkdir()
    fileio.write_array(tmp_path / "part" / "part.bin", np.zeros(2, np.float32))
    write_samples(tmp_path / "a", 1, (1, 2), seed=0, names="input_0")
    write_samples(tmp_path / "b", 1, (2, 3), seed=0, names="input_1")
    (tmp_path / "m.om").write_bytes(b"om")
    argv = {
        "size": ["--model", str(models / "one_bs4.onnx"), "--input", str(tmp_path / "in")],
        "sample": ["--model", str(models / "one_bs4.onnx"), "--input", str(tmp_path / "part")],
        "folders": ["--model", str(models / "two.onnx"), "--input", str(tmp_path / "a")],
        "names": ["--model", str(models / "two.onnx"), "--input", f"{tmp_path / 'a'},{tmp_path / 'b'}"],
        "batch": ["--model", str(models / "one_bs4.onnx"), "--batchsize", "2"],
        "om": ["--model", str(tmp_path / "m.om")],
        "missing": ["--model", str(models / "one.onnx"), "--input", str(tmp_path / "nothing")],
    }[case]
    with pytest.raises(UserError, match=message):
        infer.main(argv + ["--output", str(tmp_path / "res")])
    assert not (tmp_path / "res").exists() or not any((tmp_path / "res").iterdir())


def test_interrupted_run_leaves_no_output_folder(models, tmp_path, monkeypatch):
    write_samples(tmp_path / "in", 9, (3,), seed=6)
    calls = {"n": 0}
    original = backends.OnnxRuntimeBackend.run

    def dies_on_third_batch(self, feeds):
        calls["n"] += 1
        if calls["n"] == 4:  # warmup + two batches done
            raise KeyboardInterrupt
        return original(self, feeds)

    monkeypatch.setattr(backends.OnnxRuntimeBackend, "run", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        infer.main(["--model", str(models / "one_bs4.onnx"), "--input", str(tmp_path / "in"),
                    "--output", str(tmp_path / "res"), "--output_dirname", "bs4"])
    assert not (tmp_path / "res").exists()  # not even the folder it created for the output


def test_ais_bench_backend_through_its_documented_interface(models, tmp_path, monkeypatch):
    """InferSession(device_id, model_path) with get_inputs/get_outputs/infer/sumary, stood in by ORT."""
    source = models / "one_bs4.onnx"

    class Desc:
        def __init__(self, name, shape):
            self.name, self.shape, self.datatype = name, shape, "dtype.float32"

    class InferSession:
        def __init__(self, device_id, model_path):
            assert device_id == 3 and model_path.endswith("one_bs4.om")
            self.session = onnx_utils.make_session(source)
            self.times = []

        def get_inputs(self):
            return [Desc(i.name, i.shape) for i in self.session.get_inputs()]

        def get_outputs(self):
            return [Desc(o.name, o.shape) for o in self.session.get_outputs()]

        def infer(self, feeds):
            self.times.append(0.5)
            return self.session.run(None, {"x": feeds[0]})

        def sumary(self):
            return types.SimpleNamespace(exec_time_list=list(self.times))

    interface = types.ModuleType("ais_bench.infer.interface")
    interface.InferSession = InferSession
    for name, module in [("ais_bench", types.ModuleType("ais_bench")),
                         ("ais_bench.infer", types.ModuleType("ais_bench.infer")),
                         ("ais_bench.infer.interface", interface)]:
        monkeypatch.setitem(sys.modules, name, module)
    (tmp_path / "one_bs4.om").write_bytes(b"om")
    data = write_samples(tmp_path / "in", 6, (3,), seed=7)
    infer.main(["--model", str(tmp_path / "one_bs4.om"), "--input", str(tmp_path / "in"), "--device", "3",
                "--output", str(tmp_path / "res"), "--output_dirname", "om"])
    summary = json.loads((tmp_path / "res" / "om_summary.json").read_text())
    assert summary["NPU_compute_time"]["mean"] == 0.5 and summary["throughput"] == pytest.approx(8000.0)
    y = fileio.read_array(tmp_path / "res" / "om" / "s_5_0.bin", np.float32, (1, 2))
    assert np.array_equal(y, onnx_utils.run(models / "one.onnx", {"x": data[5][None]})[0])
    om = backends.open_backend(str(tmp_path / "one_bs4.om"), device=3)  # ACL's 'dtype.float32' read through the one table
    assert om.inputs == [TensorSpec("x", (4, 3), "float32")] and om.output_names == ["y", "z"]


def test_command_line_from_another_folder(models, tmp_path):
    write_samples(tmp_path / "in", 2, (3,), seed=8)
    script = ROOT / "common" / "infer.py"
    ok = subprocess.run([sys.executable, str(script), "--model", str(models / "one.onnx"), "--input", "in",
                         "--output", "res", "--output_dirname", "bs1", "--batchsize", "1"],
                        cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert sorted(p.name for p in (tmp_path / "res" / "bs1").iterdir()) == ["s_0_0.bin", "s_0_1.bin",
                                                                           "s_1_0.bin", "s_1_1.bin"]
    bad = subprocess.run([sys.executable, str(script), "--model", "missing.onnx"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr == "error: missing.onnx: no such ONNX file\n"


def test_openvino_backend_same_layout_and_summary_with_the_precision_used(models, tmp_path, capsys):
    data = write_samples(tmp_path / "in", 6, (3,), seed=9)
    common = ["--model", str(models / "one_bs4.onnx"), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "res")]
    infer.main(common + ["--output_dirname", "ort"])
    infer.main(common + ["--output_dirname", "ov", "--backend", "openvino"])
    assert "precision f32" in capsys.readouterr().out
    ort_files = [p.name for p in fileio.list_data_files(tmp_path / "res" / "ort")]
    assert [p.name for p in fileio.list_data_files(tmp_path / "res" / "ov")] == ort_files and len(ort_files) == 12
    for name in ort_files:
        a = fileio.read_array(tmp_path / "res" / "ort" / name)
        np.testing.assert_allclose(fileio.read_array(tmp_path / "res" / "ov" / name), a, rtol=0, atol=1e-6)
    summary = json.loads((tmp_path / "res" / "ov_summary.json").read_text())
    assert summary["precision"] == "f32" and summary["backend"].startswith("openvino ")
    assert len(summary["filesinfo"]) == len(data) and summary["NPU_compute_time"]["count"] == 2


def test_precisions_the_cpu_lacks_are_refused_not_run_as_f32(models, tmp_path):
    import openvino

    capabilities = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    with pytest.raises(UserError, match="--precision bf16: ONNX Runtime runs this model in f32"):
        infer.main(["--model", str(models / "one_bs4.onnx"), "--precision", "bf16"])
    for precision, capability in (("bf16", "BF16"), ("f16", "FP16")):
        argv = ["--model", str(models / "one_bs4.onnx"), "--backend", "openvino", "--precision", precision,
                "--output", str(tmp_path / "res"), "--output_dirname", precision]
        if capability in capabilities:  # e.g. AMX CPUs: it runs, and says so
            infer.main(argv)
            assert json.loads((tmp_path / "res" / f"{precision}_summary.json").read_text())["precision"] == precision
        else:
            with pytest.raises(UserError, match=f"--precision {precision}: OpenVINO's CPU plugin on this CPU .* "
                                                f"not {capability}"):
                infer.main(argv)


def test_two_devices_divide_the_input_and_write_what_one_device_writes(models, tmp_path, capsys):
    write_samples(tmp_path / "in", 11, (3,), seed=10)
    common = ["--model", str(models / "one_bs4.onnx"), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "res")]
    infer.main(common + ["--output_dirname", "one"])
    capsys.readouterr()
    infer.main(common + ["--output_dirname", "two", "--device", "0,1", "--divide_input"])
    printed = capsys.readouterr().out.splitlines()
    one, two = tmp_path / "res" / "one", tmp_path / "res" / "two"
    names = sorted(p.name for p in one.iterdir())
    assert sorted(p.name for p in two.iterdir()) == names and len(names) == 22
    assert all((one / n).read_bytes() == (two / n).read_bytes() for n in names)

    per_device = [json.loads((tmp_path / "res" / f"two_device_{d}_summary.json").read_text()) for d in (0, 1)]
    assert [len(s["filesinfo"]) for s in per_device] == [8, 3]  # 3 batches of 4: two to device 0, one to device 1
    assert per_device[0]["pid"] != per_device[1]["pid"]
    merged = json.loads((tmp_path / "res" / "two_summary.json").read_text())
    single = json.loads((tmp_path / "res" / "one_summary.json").read_text())
    assert [i["infiles"] for i in merged["filesinfo"].values()] == [i["infiles"] for i in single["filesinfo"].values()]
    throughputs = [s["throughput"] for s in per_device]
    assert merged["throughput"] == pytest.approx(sum(throughputs))
    assert printed.count("[INFO] -----------------Performance Summary------------------") == 2
    assert "[INFO] multidevice run end qsize:4 result:0" in printed
    lines = [line for line in printed if line.startswith("i:")]
    assert [line.split(" ")[:2] for line in lines] == [["i:0", "device_0"], ["i:1", "device_1"]]
    assert float(lines[0].split("throughput:")[1].split(" ")[0]) == pytest.approx(throughputs[0])
    assert printed[printed.index(lines[-1]) + 1] == f"[INFO] summary throughput:{merged['throughput']}"

    with pytest.raises(UserError, match="--device 0,1 without --divide_input runs every input on every device"):
        infer.main(common + ["--output_dirname", "x", "--device", "0,1"])
    with pytest.raises(UserError, match="--device '0,0': expected distinct device ids"):
        infer.main(common + ["--device", "0,0"])


@pytest.mark.parametrize("dirname", ["../escaped", "a/b", "..", "."])
def test_output_dirname_stays_inside_output(models, tmp_path, dirname, capsys):
    write_samples(tmp_path / "in", 1, (3,), seed=5)
    with pytest.raises(SystemExit) as stop:  # argparse's error, one line, as `python3 infer.py` ends on it
        infer.main(["--model", str(models / "one.onnx"), "--input", str(tmp_path / "in"), "--output",
                    str(tmp_path / "res"), "--output_dirname", dirname])
    assert stop.value.code == 2
    assert f"argument --output_dirname: {dirname!r} is not a bare name" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_backends_describe_inputs_and_outputs_as_tensor_specs(models):
    """name, shape with None for a free axis, numpy dtype name: the same on ONNX Runtime and OpenVINO."""
    expected_inputs = [TensorSpec("noise", (None, 1, 2), "float32"), TensorSpec("label", (None, 2, 3), "float32")]
    for backend in (backends.open_backend(str(models / "two.onnx")),
                    backends.open_backend(str(models / "two.onnx"), backend="openvino")):
        assert backend.inputs == expected_inputs
        assert backend.outputs == [TensorSpec("out", (None, 2, 3), "float32")] and backend.output_names == ["out"]
    fixed = backends.open_backend(str(models / "one_bs4.onnx"))
    assert fixed.inputs == [TensorSpec("x", (4, 3), "float32")]
    assert fixed.outputs == [TensorSpec("y", (4, 2), "float32"), TensorSpec("z", (4, 3), "float32")]


def test_one_dtype_table_for_onnx_runtime_and_acl_type_names():
    for name, dtype in (("tensor(float)", "float32"), ("tensor(float16)", "float16"), ("tensor(int64)", "int64"),
                        ("tensor(bool)", "bool"), ("dtype.float32", "float32"), ("dtype.float16", "float16"),
                        ("<dtype.int32: 3>", "int32"), ("dtype.uint8", "uint8")):
        assert onnx_utils.numpy_dtype(name) == np.dtype(dtype), name
    with pytest.raises(UserError, match=r"unsupported tensor type tensor\(string\)"):
        onnx_utils.numpy_dtype("tensor(string)")


def test_input_sources_share_one_interface(models, tmp_path):
    write_samples(tmp_path / "in", 5, (3,), seed=11)
    inputs = backends.open_backend(str(models / "one_bs4.onnx")).inputs
    files = sources.FileInputs(str(tmp_path / "in"), inputs)
    assert (files.shapes, files.model_batch, files.factor) == ([[4, 3]], 4, 4)
    assert files.batches == [sources.Batch((0, 1, 2, 3), 4), sources.Batch((4, 4, 4, 4), 1)]  # the last one padded
    last = files.batches[1]
    assert files.stems(last) == ["s_4"] and files.infiles(last, 0) == [str(tmp_path / "in" / "s_4.bin")]
    assert [f.shape for f in files.feeds(last)] == [(4, 3)]
    assert np.array_equal(files.feeds(last)[0], np.repeat(fileio.read_array(tmp_path / "in" / "s_4.bin")[None], 4, 0))
    assert files.first(2).batches == [sources.Batch((0, 1, 0, 0), 2)] and files.files == 5
    pure = sources.PureInputs(inputs, kind="random", seed=3)
    (only,) = pure.batches
    assert (pure.shapes, pure.factor, pure.stems(only), pure.infiles(only, 0)) == ([[4, 3]], 1, ["pure_infer_data"], [])
    assert np.array_equal(pure.feeds(only)[0], onnx_utils.seeded_feeds({"x": [4, 3]}, 3)["x"])
