"""Pix2pixHD end to end at 96x160 through the real scripts, the compact input, and checkpoint loading.

The generator is the released architecture (183 M parameters) with seeded random weights saved as upstream
saves latest_net_G.pth; only the resolution is reduced. The exports are shared by the tests of this module.
96x160 is not the size pix2pixhd_pth2onnx.py traces and verifies at (64x128), so these runs also show that
the saved graph with its declared size computes what PyTorch computes at that size.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import pix2pixhd_eval_acc
import pix2pixhd_facts
import pix2pixhd_model as p2p
import pix2pixhd_postprocess
import pix2pixhd_preprocess
import pix2pixhd_pth2onnx
from chainrun import run_steps, working_directory
from common import cli, driver, infer, onnx_utils
from common.errors import UserError
from facts_check import assert_graph_matches
from pix2pixhd_synthetic import write_cityscapes
from test_report import check_accuracy_report

H, W = 96, 160
CHAIN = driver.load_chain(Path(p2p.__file__).resolve().parent)
CHECKPOINTS = Path(CHAIN.CHECKPOINT).parent  # the folder --load_pretrain takes, relative to the work folder
SIZE = ["--height", str(H), "--width", str(W)]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Checkpoint, synthetic Cityscapes (2 frames), both preprocessed inputs, both ONNX models and the offline
    outputs of the 36-channel model, in one folder laid out as the README's (the chain's steps up to the offline
    run, chainrun.run_steps, then the compact input's commands)."""
    root = tmp_path_factory.mktemp("pix2pixhd")
    p2p.random_checkpoint(root / CHAIN.CHECKPOINT, seed=0)
    write_cityscapes(root / "datasets", per_city=1, height=H, width=W, seed=0)
    with working_directory(root):
        run_steps(CHAIN, {"height": H, "width": W}, only=["datasets_deal", "preprocess", "pth2onnx", "infer"])
    pix2pixhd_preprocess.main([str(root / "pix2pixHD" / "datasets" / "cityscapes"), str(root / "prep_compact"),
                               "--compact"])
    pix2pixhd_pth2onnx.main(["--load_pretrain", str(root / CHAIN.CHECKPOINT), "--output_file",
                             str(root / "pix2pixhd_compact.onnx"), "--compact", *SIZE])
    return root


def test_onnx_models_have_the_original_interface(work):
    full = onnx_utils.load(work / "pix2pixhd.onnx")
    assert onnx_utils.input_shapes(full) == {"input_concat": ["batch", 36, H, W]}
    assert_graph_matches(full, pix2pixhd_facts.FULL, size=(H, W))
    assert full.opset_import[0].version == 11
    compact = onnx_utils.load(work / "pix2pixhd_compact.onnx")
    assert onnx_utils.input_shapes(compact) == {"label_map": ["batch", 1, H, W], "edge_map": ["batch", 1, H, W]}
    assert_graph_matches(compact, pix2pixhd_facts.COMPACT, size=(H, W))
    # The compact model adds only Cast/Equal/Concat in front of the same generator graph.
    added = onnx_utils.count_ops(compact) - onnx_utils.count_ops(full)
    assert set(added) <= {"Cast", "Equal", "Concat", "Constant"} and added["Equal"] == 1


def test_end_to_end(work):
    outputs = sorted(p.name for p in (work / "result" / "bs1").iterdir())
    assert outputs == sorted(p.name.replace(".bin", "_0.bin") for p in (work / "prep_datasets").iterdir())
    assert len(outputs) == 2

    pix2pixhd_postprocess.main([str(work / "result" / "bs1"), str(work / "generated"), *SIZE])
    pictures = sorted(p.name for p in (work / "generated").iterdir())
    assert pictures == sorted([n.replace(".bin", ".jpg") for n in outputs] + ["grid.jpg"])

    pix2pixhd_eval_acc.main(["--load_pretrain", str(work / CHECKPOINTS), "--input", str(work / "prep_datasets"),
                             "--result", str(work / "result" / "bs1"), "--pth_result", str(work / "pth_result"),
                             "--log", str(work / "acc.log"), "--json", str(work / "acc.json"),
                             "--pictures", str(work / "compare"), *SIZE])
    report = json.loads((work / "acc.json").read_text())
    agg = report["aggregate"]
    assert report["passed"] and agg["count"] == 2
    assert agg["min_cosine"] > 0.99999 and agg["max_abs"] < 1e-4 and agg["min_psnr"] > 90
    assert len(list((work / "compare").glob("*_compare.png"))) == 2
    check_accuracy_report(work / "acc_report.html", work / "acc.json")  # the report beside the log
    log = (work / "acc.log").read_text().splitlines()
    assert len(log) == 4 and "cos ==> " in log[0] and "PSNR ==> " in log[0] and log[-1].startswith("PASS")
    # The random weights give pictures far from constant, so the figures above mean something.
    reference = np.fromfile(work / "pth_result" / outputs[0], dtype=np.float32)
    assert reference.std() > 0.2


def test_compact_input_gives_the_same_output(work, capsys):
    """The uint8 label/edge files (72x smaller) through the compact model reproduce the 36-channel run."""
    prep = work / "prep_compact"
    infer.main(["--model", str(work / "pix2pixhd_compact.onnx"), "--input", f"{prep / 'label'},{prep / 'edge'}",
                "--output", str(work / "result"), "--output_dirname", "compact", "--batchsize", "2"])
    compact_bytes = sum(p.stat().st_size for d in ("label", "edge") for p in (prep / d).iterdir())
    assert sum(p.stat().st_size for p in (work / "prep_datasets").iterdir()) == 72 * compact_bytes
    names = sorted(p.name for p in (work / "result" / "bs1").iterdir())
    assert sorted(p.name for p in (work / "result" / "compact").iterdir()) == names
    for name in names:
        full = np.fromfile(work / "result" / "bs1" / name, np.float32)
        compact = np.fromfile(work / "result" / "compact" / name, np.float32)
        np.testing.assert_allclose(compact, full, rtol=0, atol=1e-5)

    # The offline check of the compact chain on its first image, with the highest threshold a cosine can be
    # given (1: float32 summation order keeps it just below): the figures are written and the exit status is 1.
    argv = ["--load_pretrain", str(work / CHECKPOINTS), "--input", f"{prep / 'label'},{prep / 'edge'}",
            "--result", str(work / "result" / "compact"), "--pth_result", str(work / "pth_compact"),
            "--log", str(work / "compact.log"), "--json", str(work / "compact.json"),
            "--pictures", str(work / "compare_compact"), "--num", "1", "--threshold", "1", *SIZE]
    assert cli.run(pix2pixhd_eval_acc.main, argv) == 1
    assert "error: FAIL: mean_cosine 1.000000 < threshold 1.0" in capsys.readouterr().err
    report = json.loads((work / "compact.json").read_text())
    assert report["compact"] and not report["passed"] and report["aggregate"]["max_abs"] < 1e-4
    assert report["aggregate"]["count"] == 1 and report["aggregate"]["offline_files"] == 2
    assert "over 1 of 2 images" in (work / "compact.log").read_text()


def test_postprocess_and_eval_refuse_wrong_sizes(work, capsys):
    assert cli.run(pix2pixhd_postprocess.main, [str(work / "result" / "bs1"), str(work / "bad"),
                                                "--height", "64", "--width", "128"]) == 2
    assert "bytes, expected 98304 for one (3, 64, 128) float32 image" in capsys.readouterr().err
    with pytest.raises(UserError, match="expected one folder .* or two, label,edge"):
        pix2pixhd_eval_acc.main(["--load_pretrain", str(work / CHECKPOINTS), "--input", "a,b,c",
                                 "--result", str(work / "result" / "bs1")])


def test_legacy_instance_norm_keys_are_tolerated(work, tmp_path):
    """A pre-0.4 file with InstanceNorm running stats fails a plain strict load but loads here, identically."""
    legacy = p2p.random_checkpoint(tmp_path / "legacy_net_G.pth", seed=0, legacy_instance_norm=True)
    state = torch.load(legacy, weights_only=True, mmap=True)
    assert sum(k.endswith("running_var") for k in state) == 36
    with pytest.raises(RuntimeError, match="Unexpected running stats buffer"):
        p2p.empty_generator().load_state_dict(state, strict=True)
    ours = p2p.load_generator(legacy).state_dict()
    official = torch.load(work / CHECKPOINTS / "latest_net_G.pth", weights_only=True, mmap=True)
    assert ours.keys() == official.keys()
    assert all(torch.equal(ours[k], official[k]) for k in official)


def test_wrong_architecture_is_an_error(work, tmp_path, capsys):
    """A GlobalGenerator (label2city_512p layout) file: upstream's loader would leave layers random."""
    state = torch.load(work / CHECKPOINTS / "latest_net_G.pth", weights_only=True, mmap=True)
    state = {k: v for k, v in state.items() if k.startswith("model.")}
    state["model.38.weight"], state["model.38.bias"] = torch.zeros(3, 64, 7, 7), torch.zeros(3)
    (tmp_path / "checkpoints").mkdir()
    torch.save(state, tmp_path / "checkpoints" / "latest_net_G.pth")
    status = cli.run(pix2pixhd_pth2onnx.main, ["--load_pretrain", str(tmp_path / "checkpoints"), "--output_file",
                                               str(tmp_path / "x.onnx"), *SIZE])
    err = capsys.readouterr().err
    assert status == 2 and not (tmp_path / "x.onnx").exists()
    assert f"{tmp_path / 'checkpoints' / 'latest_net_G.pth'}: does not match LocalEnhancer: missing 20 key(s): model1_1" in err
    assert "unexpected 2 key(s): model.38.bias, model.38.weight" in err


def test_a_narrow_checkpoint_is_read_at_its_own_width(tmp_path, capsys):
    """The driver's stand-in: upstream's --ngf 4 layout (the trunk twice as wide, 11 MB instead of 731 MB). Every
    script takes the width from the file's tensors: the README's export, verified there against PyTorch, and the
    graph at another size than the trace's against the generator the accuracy step loads."""
    folder = tmp_path / "checkpoints"
    p2p.random_checkpoint(folder / "latest_net_G.pth", seed=0, ngf=4)
    state = torch.load(folder / "latest_net_G.pth", weights_only=True)
    assert p2p.ngf_of(state) == 4 and tuple(state["model.1.weight"].shape) == (8, 36, 7, 7)
    assert (folder / "latest_net_G.pth").stat().st_size < 12e6
    onnx_file = tmp_path / "narrow.onnx"
    assert pix2pixhd_pth2onnx.main(["--load_pretrain", str(folder), "--output_file", str(onnx_file), *SIZE]) == 0
    assert "ONNX Runtime vs PyTorch max abs diff" in capsys.readouterr().out
    model = p2p.load_generator(folder)
    assert model.model1_1[1].out_channels == 4
    feeds = onnx_utils.seeded_feeds({"input_concat": [1, 36, H, W]}, seed=1)
    assert max(onnx_utils.verify_against_torch(onnx_file, model, feeds).values()) < 1e-4
    # a trunk that is not twice the local width is no pix2pixHD generator: the strict load says what differs
    state["model1_1.1.weight"] = torch.zeros(8, 36, 7, 7)
    torch.save(state, folder / "latest_net_G.pth")
    with pytest.raises(UserError, match=r"does not match LocalEnhancer: \d+ shape mismatch"):
        p2p.load_generator(folder)


def test_pth2onnx_refuses_bad_arguments(tmp_path):
    with pytest.raises(UserError, match="height and width must be multiples of 32, at least 64"):
        pix2pixhd_pth2onnx.main(["--load_pretrain", str(tmp_path), "--height", "100"])
    with pytest.raises(UserError, match=r"latest_net_G.pth: no such checkpoint file \(--load_pretrain names"):
        pix2pixhd_pth2onnx.main(["--load_pretrain", str(tmp_path)])


def test_the_weights_written_one_at_a_time_give_the_exporters_file(tmp_path):
    """pix2pixhd_pth2onnx exports without the weights and writes them itself, one tensor at a time (the exporter
    would hold three copies of 730 MB): on a small generator of the same layer types, with a non-persistent
    buffer as the compact wrapper has, the file is byte for byte the one the exporter writes with the weights."""
    class Small(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(
                torch.nn.ReflectionPad2d(1), torch.nn.Conv2d(4, 8, 3), torch.nn.InstanceNorm2d(8), torch.nn.ReLU(),
                torch.nn.ConvTranspose2d(8, 3, 3, stride=2, padding=1, output_padding=1), torch.nn.Tanh())
            self.register_buffer("shift", torch.arange(4, dtype=torch.float32).view(1, 4, 1, 1), persistent=False)

        def forward(self, x):
            return self.body(x + self.shift)

    torch.manual_seed(0)
    model = Small().eval()
    args = [torch.zeros(1, 4, 8, 8)]
    full, written = tmp_path / "full.onnx", tmp_path / "written.onnx"
    onnx_utils.export(model, args, full, ["x"], ["y"])
    onnx_utils.export(model, args, written, ["x"], ["y"], export_params=False)
    graph = onnx_utils.load(written)
    weights = pix2pixhd_pth2onnx.weight_inputs(graph, model)
    assert [name for name, _ in weights] == [init.name for init in onnx_utils.load(full).graph.initializer]
    pix2pixhd_pth2onnx.write_with_weights(graph, weights, written)
    assert written.read_bytes() == full.read_bytes()
