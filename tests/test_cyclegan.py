"""CycleGAN: generator layout and checkpoints, preprocessing, and the guarded bad inputs (cheap tests)."""
import sys

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

import CycleGAN_compare_upstream as compare_upstream
import CycleGAN_preprocess as preprocess
import CycleGAN_pth2onnx as pth2onnx
import CycleGAN_ReflectpadDeal as reflectpad
from common import checkpoint, cli, driver, onnx_utils
from common.errors import UserError
from cyclegan_data import load_image, write_synthetic_maps
from cyclegan_model import ResnetGenerator, load_generator, random_checkpoint, random_state_dict


def run_cli(main, argv, capsys):
    status = cli.run(main, [str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# ------------------------------------------------------------------------------------------- generator

def test_state_dict_is_upstreams_layout():
    state = ResnetGenerator().state_dict()
    assert len(state) == 48
    assert sum(t.numel() for t in state.values()) == 11_378_179
    shapes = {"model.1.weight": (64, 3, 7, 7), "model.4.weight": (128, 64, 3, 3), "model.7.weight": (256, 128, 3, 3),
              "model.10.conv_block.1.weight": (256, 256, 3, 3), "model.18.conv_block.5.bias": (256,),
              "model.19.weight": (256, 128, 3, 3), "model.22.weight": (128, 64, 3, 3), "model.26.weight": (3, 64, 7, 7),
              "model.26.bias": (3,)}
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key
    assert not any("running" in k for k in state)


def test_legacy_instance_norm_keys_load_and_are_dropped(tmp_path):
    plain = random_checkpoint(tmp_path / "latest_net_G_A.pth", seed=3)
    legacy = random_checkpoint(tmp_path / "legacy_net_G_A.pth", seed=3, legacy=True)
    raw = torch.load(legacy, weights_only=True)
    extra = set(raw) - set(ResnetGenerator().state_dict())
    assert len(extra) == 69 and "model.10.conv_block.6.num_batches_tracked" in extra
    a, b = load_generator(plain), load_generator(legacy)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    # a plain strict load of the legacy file is what fails without the legacy-key handling
    with pytest.raises(UserError, match=r"unexpected 69 key\(s\)"):
        checkpoint.load_into(ResnetGenerator(), legacy)


def test_dropout_layout_checkpoint_is_a_clear_error(tmp_path):
    """A use_dropout=True file shifts the 2nd conv to conv_block.6: named, not half-loaded."""
    state = random_state_dict(0)
    shifted = {k.replace("conv_block.5.", "conv_block.6."): v for k, v in state.items()}
    path = tmp_path / "latest_net_G_A.pth"
    torch.save(shifted, path)
    with pytest.raises(UserError, match=r"latest_net_G_A.pth: does not match ResnetGenerator: missing 18 key\(s\).*"
                                        r"model.10.conv_block.5.bias"):
        load_generator(path)


def test_outputs_are_not_degenerate():
    model = ResnetGenerator()
    model.load_state_dict(random_state_dict(0))
    with torch.no_grad():
        y = model.eval()(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert y.shape == (1, 3, 64, 64)
    assert 0.2 < float(y.std()) < 0.9 and float(y.abs().max()) < 1.0


def test_narrow_checkpoints_are_read_at_their_own_width(tmp_path, capsys):
    """The driver's stand-ins: upstream's --ngf 8 layout (G_B with the legacy InstanceNorm keys), 0.7 MB a
    direction instead of 45 MB. The README's export reads the width from each file and verifies the graph
    against PyTorch; the reference step's loader gives the same network."""
    ga = random_checkpoint(tmp_path / "latest_net_G_A.pth", seed=0, ngf=8)
    gb = random_checkpoint(tmp_path / "latest_net_G_B.pth", seed=1, legacy=True, ngf=8)
    assert ga.stat().st_size < 1e6
    status, out, _ = run_cli(pth2onnx.main, ["--model_ga_path", ga, "--model_gb_path", gb,
                                             "--onnx_path", tmp_path / "onnx"], capsys)
    assert status == 0 and out.count("ONNX Runtime vs PyTorch max abs diff") == 2
    for path, onnx_name, input_name in ((ga, "model_Ga.onnx", "img_sat_maps"), (gb, "model_Gb.onnx", "img_maps_sat")):
        model = load_generator(path)
        assert model.model[1].out_channels == 8
        exported = onnx.load(tmp_path / "onnx" / onnx_name)
        assert {tuple(t.dims) for t in exported.graph.initializer} >= {(8, 3, 7, 7), (32, 32, 3, 3)}
        feeds = {input_name: np.tanh(np.random.default_rng(2).standard_normal((1, 3, 256, 256))).astype(np.float32)}
        assert max(onnx_utils.verify_against_torch(tmp_path / "onnx" / onnx_name, model, feeds).values()) < 1e-4


def test_pth2onnx_checks_both_checkpoints_before_writing(tmp_path, capsys):
    ga = random_checkpoint(tmp_path / "latest_net_G_A.pth", seed=0)
    status, _, err = run_cli(pth2onnx.main, ["--model_ga_path", ga, "--model_gb_path", tmp_path / "nope.pth",
                                             "--onnx_path", tmp_path / "onnx"], capsys)
    assert status == 2
    assert "nope.pth: no such checkpoint file" in err
    assert not list((tmp_path / "onnx").glob("*.onnx"))


# ------------------------------------------------------------------------------------------- data

def test_synthetic_maps_layout_and_determinism(tmp_path):
    write_synthetic_maps(tmp_path / "a", 2, seed=5)
    write_synthetic_maps(tmp_path / "b", 2, seed=5)
    names = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*.jpg"))
    assert names == ["testA/1_A.jpg", "testA/2_A.jpg", "testB/1_B.jpg", "testB/2_B.jpg"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert Image.open(tmp_path / "a" / name).size == (600, 600)


def test_input_is_upstreams_bicubic_transform(tmp_path):
    """Upstream's test transform, torchvision's Resize([256, 256], BICUBIC) on the PIL image, ToTensor,
    Normalize(0.5): load_image computes it in PIL and NumPy, bit for bit."""
    from torchvision import transforms

    write_synthetic_maps(tmp_path, 1, seed=0)
    path = tmp_path / "testA" / "1_A.jpg"
    x = load_image(path)
    assert x.shape == (1, 3, 256, 256) and x.dtype == np.float32

    def upstream(method):
        return transforms.Compose([transforms.Resize([256, 256], method), transforms.ToTensor(),
                                   transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])(
            Image.open(path).convert("RGB")).unsqueeze(0).numpy()

    assert np.array_equal(x, upstream(transforms.InterpolationMode.BICUBIC))
    # the interpolation matters, and is bicubic
    assert np.max(np.abs(x - upstream(transforms.InterpolationMode.BILINEAR))) > 1e-3


@pytest.fixture
def maps(tmp_path):
    root = write_synthetic_maps(tmp_path / "maps", 1, seed=0)
    return root


def _preprocess_argv(maps, dst):
    return ["--src_path_testA", maps / "testA", "--save_pathTestA_dst", dst / "testA",
            "--src_path_testB", maps / "testB", "--save_pathTestB_dst", dst / "testB"]


def test_preprocess_writes_one_bin_per_image(maps, tmp_path, capsys):
    status, out, _ = run_cli(preprocess.main, _preprocess_argv(maps, tmp_path / "dst"), capsys)
    assert status == 0
    assert sorted(p.name for p in (tmp_path / "dst").rglob("*")) == [  # with the records of the run
        ".testA.ganzoo-run", ".testB.ganzoo-run", "1_A.bin", "1_B.bin", "testA", "testB"]
    assert (tmp_path / "dst" / "testA" / "1_A.bin").stat().st_size == 3 * 256 * 256 * 4
    assert "1 images of" in out


def test_preprocess_refuses_a_non_image_file(maps, tmp_path, capsys):
    (maps / "testB" / "notes.txt").write_text("not an image")
    status, _, err = run_cli(preprocess.main, _preprocess_argv(maps, tmp_path / "dst"), capsys)
    assert status == 2
    assert "notes.txt: not an image file" in err
    assert not (tmp_path / "dst").exists()  # both folders are checked before anything is written


def test_preprocess_refuses_an_unreadable_image(maps, tmp_path, capsys):
    (maps / "testA" / "2_A.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    status, _, err = run_cli(preprocess.main, _preprocess_argv(maps, tmp_path / "dst"), capsys)
    assert status == 2
    assert "2_A.jpg: not a readable image" in err
    assert not (tmp_path / "dst" / "testA").exists()


def test_preprocess_missing_folder(maps, tmp_path, capsys):
    argv = _preprocess_argv(maps, tmp_path / "dst")
    argv[5] = maps / "testC"
    status, _, err = run_cli(preprocess.main, argv, capsys)
    assert status == 2
    assert "testC: no such folder" in err


def test_preprocess_refuses_two_images_with_one_stem(maps, tmp_path, capsys):
    Image.open(maps / "testA" / "1_A.jpg").save(maps / "testA" / "1_A.png")
    status, _, err = run_cli(preprocess.main, _preprocess_argv(maps, tmp_path / "dst"), capsys)
    assert status == 2
    assert "1_A.png: would be written as 1_A.bin like 1_A.jpg" in err


def test_preprocess_empty_folder(maps, tmp_path, capsys):
    for path in (maps / "testA").iterdir():
        path.unlink()
    status, _, err = run_cli(preprocess.main, _preprocess_argv(maps, tmp_path / "dst"), capsys)
    assert status == 2
    assert "testA: no image files in this folder" in err


# ------------------------------------------------------------------------------------------- tools

def test_reflectpad_output_names(tmp_path, capsys):
    argv = ["--onnx_path", tmp_path, "--model_ga_onnx_name", "a.onnx", "--model_gb_onnx_name", "b.onnx"]
    status, _, err = run_cli(reflectpad.main, argv + ["--output_ga_name", "x.onnx", "--output_gb_name", "x.onnx"],
                             capsys)
    assert status == 2 and "x.onnx: given for two outputs (--output_ga_name" in err
    status, _, err = run_cli(reflectpad.main, argv + ["--output_ga_name", "a.onnx"], capsys)  # never over a source
    assert status == 2 and "a.onnx: --output_ga_name is also the input" in err
    status, _, err = run_cli(reflectpad.main, argv, capsys)
    assert status == 2 and "a.onnx: no such ONNX file" in err
    # constant mode changes the model: never in place, whichever graph would be
    for given in ([], ["--output_ga_name", "x.onnx"], ["--output_gb_name", "y.onnx"]):
        status, _, err = run_cli(reflectpad.main, argv + ["--mode", "constant"] + given, capsys)
        assert status == 2 and "--mode constant changes the model, so it never edits a file in place" in err
    # one file given as both graphs would be edited twice in place
    status, _, err = run_cli(reflectpad.main, argv[:4] + ["--model_gb_onnx_name", "a.onnx"], capsys)
    assert status == 2 and "a.onnx: given for two outputs (--output_ga_name" in err
    # G_B's output over G_A's source while G_A is edited in place
    status, _, err = run_cli(reflectpad.main, argv + ["--output_gb_name", "a.onnx"], capsys)
    assert status == 2 and "a.onnx: --output_gb_name is also the input" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _runtime_pads_graph(path):
    """A reflect Pad whose pads are computed from the input's shape: folding cannot make them constants."""
    from onnx import TensorProto, helper, numpy_helper

    ones = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "ones")
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Concat", ["s", "s"], ["ss"], axis=0),
             helper.make_node("Sub", ["ss", "ss"], ["zeros"]),
             helper.make_node("Add", ["zeros", "ones"], ["pads"]),
             helper.make_node("Pad", ["x", "pads"], ["y"], mode="reflect", name="pad")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [ones])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), str(path))


def test_reflectpad_pads_that_depend_on_the_input(tmp_path, capsys):
    for name in ("a.onnx", "b.onnx"):
        _runtime_pads_graph(tmp_path / name)
    before = (tmp_path / "a.onnx").read_bytes()
    argv = ["--onnx_path", tmp_path, "--model_ga_onnx_name", "a.onnx", "--model_gb_onnx_name", "b.onnx"]
    status, _, err = run_cli(reflectpad.main, argv, capsys)
    assert status == 2
    assert "a.onnx: Pad node 'pad': its pads are computed at run time from the graph's inputs" in err
    assert (tmp_path / "a.onnx").read_bytes() == before  # in-place edit refused: the file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "b.onnx"]


def test_compare_upstream_reports_a_broken_checkout(tmp_path, capsys, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("")
    (tmp_path / "models" / "networks.py").write_text("import a_module_that_is_not_installed\n"
                                                     "class ReflectionPad2d(nn.ReflectionPad2d): pass\n")
    (tmp_path / "models" / "base_model.py").write_text("")
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        status, _, err = run_cli(compare_upstream.main, ["--upstream", tmp_path], capsys)
    finally:
        for name in [n for n in sys.modules if n == "models" or n.startswith("models.")]:
            del sys.modules[name]
    assert status == 2
    assert "importing upstream's models.networks, models.base_model failed (ModuleNotFoundError" in err


def test_driver_checkpoint_needs_its_g_b_partner(tmp_path):
    chain = driver.load_chain(driver.find_model_folder("CycleGAN"))
    given = random_checkpoint(tmp_path / "given" / "latest_net_G_A.pth", seed=0)
    with pytest.raises(UserError, match="latest_net_G_A.pth: give the G_A checkpoint"):
        chain.prepare(tmp_path / "work", chain.DRIVER_PARAMS, given)



def test_compare_upstream_needs_a_checkout(tmp_path, capsys):
    status, _, err = run_cli(compare_upstream.main, ["--upstream", tmp_path], capsys)
    assert status == 2
    assert "not a pytorch-CycleGAN-and-pix2pix checkout (no models/networks.py, models/base_model.py)" in err
    (tmp_path / "models").mkdir()
    for name in ("__init__.py", "networks.py", "base_model.py"):
        (tmp_path / "models" / name).write_text("")
    status, _, err = run_cli(compare_upstream.main, ["--upstream", tmp_path], capsys)
    assert status == 2
    assert ("networks.py: not patched (no 'class ReflectionPad2d(nn.ReflectionPad2d)'); "
            "run `git apply CycleGAN.patch`") in err


def test_readme_holds_the_chain():
    folder = driver.find_model_folder("CycleGAN")
    assert driver.readme_drift(folder) == []


# ----------------------------------------------------------------------- first generation: the AIPP path

def test_aipp_emulation_is_the_crop_of_the_decoded_thumbnail(maps, tmp_path, capsys):
    import gen_dataset_info
    from cyclegan_aipp import aipp_input, read_config

    argv = ["--src_path_testA", maps / "testA", "--save_pathTestA_dst", tmp_path / "A", "--dataTestA_infoName",
            tmp_path / "a.info", "--src_path_testB", maps / "testB", "--save_pathTestB_dst", tmp_path / "B",
            "--dataTestB_infoName", tmp_path / "b.info"]
    assert run_cli(gen_dataset_info.main, argv, capsys)[0] == 0
    jpeg = tmp_path / "A" / "1_A.jpeg"
    x = aipp_input(jpeg, read_config())
    assert x.shape == (1, 3, 256, 256) and x.dtype == np.float32
    # what AIPP sees is the thumbnail's pixels (16..271, 16..271) in [-1, 1]; the YUV420SP round trip
    # (2x2 chroma, integer CSC) moves them by less than a level on average
    rgb = np.asarray(Image.open(jpeg).convert("RGB"), dtype=np.float64)[16:272, 16:272].transpose(2, 0, 1)
    levels = np.abs((x[0] + 1) * 127.5 - rgb)
    assert levels.mean() < 1.0 and levels.max() <= 16
    with pytest.raises(UserError, match=r"1_A.jpg: is 600x600; the AIPP config expects 512x512"):
        aipp_input(maps / "testA" / "1_A.jpg", read_config())


def test_aipp_config_and_info_errors(tmp_path, capsys):
    import CycleGAN_aipp_preprocess as aipp_preprocess
    from cyclegan_aipp import read_config

    (tmp_path / "bad.config").write_text("aipp_op {\n    aipp_mode : static\n}\n")
    with pytest.raises(UserError, match=r"bad.config: no input_format setting"):
        read_config(tmp_path / "bad.config")
    (tmp_path / "x.info").write_text("0 a.jpeg 512\n")
    status, _, err = run_cli(aipp_preprocess.main, ["--info", tmp_path / "x.info", "--save_path", tmp_path / "o"],
                             capsys)
    assert status == 2 and "x.info: line 1 is '0 a.jpeg 512'; expected '<index> <image path> <width> <height>'" in err
    assert not (tmp_path / "o").exists()


def test_gen_dataset_info_refuses_an_unreadable_image(maps, tmp_path, capsys):
    import gen_dataset_info

    (maps / "testB" / "9_B.jpg").write_bytes(b"not a jpeg")
    argv = ["--src_path_testA", maps / "testA", "--save_pathTestA_dst", tmp_path / "A", "--dataTestA_infoName",
            tmp_path / "a.info", "--src_path_testB", maps / "testB", "--save_pathTestB_dst", tmp_path / "B",
            "--dataTestB_infoName", tmp_path / "b.info"]
    status, _, err = run_cli(gen_dataset_info.main, argv, capsys)
    assert status == 2 and "9_B.jpg: not a readable image" in err
    assert not (tmp_path / "B").exists() and not (tmp_path / "b.info").exists()


def test_eval_acc_pairs_every_image_with_its_output(maps, tmp_path, capsys):
    import eval_acc

    dump = tmp_path / "result" / "dumpOutput_device0"
    dump.mkdir(parents=True)
    np.zeros((1, 3, 256, 256), np.float32).tofile(dump / "5_A_1.bin")
    argv = ["--dataroot", maps, "--npu_bin_file", dump, "--onnx_path", tmp_path]
    status, _, err = run_cli(eval_acc.main, argv, capsys)
    assert status == 2 and "dumpOutput_device0: no output for" in err and "1_A.jpg" in err
    np.zeros((1, 3, 256, 256), np.float32).tofile(dump / "1_A_1.bin")
    status, _, err = run_cli(eval_acc.main, argv, capsys)
    assert status == 2 and "5_A_1.bin: has no image in" in err
