"""The runner's default engine: the one the model's facts name for this CPU's feature set (common/facts.py), found
by the graph's tensor names among the model folders beside common/; ONNX Runtime otherwise; --backend wins."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from common import facts, onnx_utils

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("flags, key", [
    ("fpu sse sse2 avx avx2 fma f16c", "avx2"),
    ("avx avx2 fma avx512f avx512bw avx512_bf16", "avx512"),
    ("avx avx2 fma avx512f amx_tile amx_bf16 amx_int8", "amx"),
    ("fpu sse sse2 avx", "baseline"),
    ("avx avx2", "baseline"),  # AVX2 without FMA is not the avx2 feature set
])
def test_cpu_feature_set_from_the_flags(tmp_path, flags, key):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nvendor_id\t: X\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: avx512f\n")
    assert facts.cpu_feature_set(cpuinfo) == key
    assert facts.cpu_feature_set(tmp_path / "absent") == "baseline"


def test_default_backend_reads_the_table_for_the_feature_set():
    made = facts.ModelFacts("m", None, (), (), (), "", backends=(("avx2", "openvino"), ("avx512", "onnxruntime")))
    assert made.default_backend("avx2") == "openvino" and made.default_backend("avx512") == "onnxruntime"
    assert made.default_backend("amx") == "onnxruntime"  # not measured there: ONNX Runtime
    assert made.default_backend() == dict(made.backends).get(facts.cpu_feature_set(), "onnxruntime")


def test_every_model_folder_is_found_by_its_graphs_names():
    found = facts.folder_facts(ROOT)
    assert sorted(f.name for f in found) == sorted(p.parent.name for p in ROOT.glob("*/chain.py"))
    for model in found:
        for graph in model.graphs:
            assert facts.facts_of_graph(found, [t.name for t in graph.inputs],
                                        [t.name for t in graph.outputs]) is model
    assert facts.facts_of_graph(found, ["x"], ["y"]) is None


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A ModelZoo copy (GAN/ and common/ side by side) whose GAN table names OpenVINO for this CPU, with a GAN
    export and a model of other tensor names."""
    import torch

    import GAN_facts
    import GAN_model

    zoo = tmp_path_factory.mktemp("zoo")
    shutil.copytree(ROOT / "common", zoo / "common", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "GAN", zoo / "GAN", ignore=shutil.ignore_patterns("__pycache__", "*.onnx", "*.pth"))
    path = zoo / "GAN" / "GAN_facts.py"
    text = path.read_text()
    line = next(x for x in text.splitlines() if x.startswith("BACKENDS = "))
    path.write_text(text.replace(line, f"BACKENDS = (({facts.cpu_feature_set()!r}, 'openvino'),)"))
    model = GAN_model.load_generator(GAN_model.random_checkpoint(zoo / "gan.pth"))
    graph = GAN_facts.FACTS.graph
    onnx_utils.export(model, (torch.randn(2, GAN_facts.LATENT_DIM),), zoo / "GAN" / "gan.onnx",
                      [t.name for t in graph.inputs], [t.name for t in graph.outputs])
    onnx_utils.export(model, (torch.randn(2, GAN_facts.LATENT_DIM),), zoo / "GAN" / "other.onnx", ["z"], ["img"])
    return zoo


def _runner(zoo, model, name, *extra):
    subprocess.run([sys.executable, "../common/infer.py", "--model", model, "--batchsize", "4", "--output",
                    "result", "--output_dirname", name, "--pure_data_type", "random", *extra],
                   cwd=zoo / "GAN", check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    summary = json.loads((zoo / "GAN" / "result" / f"{name}_summary.json").read_text())
    return summary["backend"], (zoo / "GAN" / "result" / name / "pure_infer_data_0.bin").read_bytes()


def test_runner_default_engine_is_the_tables_and_backend_still_chooses(zoo):
    engine, first = _runner(zoo, "gan.onnx", "default")
    assert engine.startswith("openvino "), engine
    assert _runner(zoo, "gan.onnx", "again") == (engine, first)  # the same command, the same bytes
    assert _runner(zoo, "gan.onnx", "ort", "--backend", "onnxruntime")[0].startswith("onnxruntime ")
    assert _runner(zoo, "other.onnx", "other")[0].startswith("onnxruntime ")  # no folder's graph: ONNX Runtime
