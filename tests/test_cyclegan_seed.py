"""The CycleGAN seed README (the original first-generation Chinese README) replayed literally.

Its commands are transcribed below as data. They run in a ModelZoo-shaped copy
(<tmp>/ACL_PyTorch/contrib/cv/gan/CycleGAN with common/ beside it) on seeded random weights and two synthetic
600x600 maps pairs. The export runs as a subprocess from the copy (the seed's script name, the copied layout
finding common/); the later Python steps call each script's main with the seed's exact argument list, from
the copied folder, which is what the command line gives them. NPU-only commands (atc, benchmark.x86_64) cannot
run here: their flags are checked against the files and graphs, and each benchmark run is replaced by the CPU
commands our README gives for it. Every step is checked to read what the step before it wrote.
"""
import importlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from chainrun import working_directory
from common import cli, driver, fileio, graph_edits, onnx_utils, tool_outputs, work_folder
from cyclegan_aipp import aipp_input, read_config, read_info
from cyclegan_data import load_image, write_synthetic_maps
from cyclegan_model import random_checkpoint
from test_report import check_report_file

# The seed's commands, in its order (line continuations joined; its `dos2unix *` and profiling steps left out).
SEED_EXPORT = ("python3 CycleGAN_onnx_export.py --model_ga_path=./checkpoints/maps_cycle_gan/latest_net_G_A.pth "
               "--model_gb_path=./checkpoints/maps_cycle_gan/latest_net_G_B.pth --onnx_path=./onnxmodel/ "
               "--model_ga_onnx_name=model_Ga.onnx --model_gb_onnx_name=model_Gb.onnx")
SEED_REFLECTPAD = ("python3 CycleGAN_ReflectpadDeal.py --onnx_path=./onnxmodel/ --model_ga_onnx_name=model_Ga.onnx "
                   "--model_gb_onnx_name=model_Gb.onnx")
SEED_ENV = "source env.sh"
SEED_ATC = [
    'atc --framework=5 --model=./onnxmodel/model_Ga.onnx --output=Cons_Ga_aipp512_b0_bs1 --input_format=NCHW '
    '--input_shape="img_sat_maps:1,3,256,256" --out_nodes="Tanh_156:0" --log=debug --soc_version=Ascend310 '
    '--insert_op_conf=aipp_CycleGAN_pth.config',
    'atc --framework=5 --model=./onnxmodel/model_Gb.onnx --output=Cons_Gb_aipp512_b0_bs1 --input_format=NCHW '
    '--input_shape="img_maps_sat:1,3,256,256" --out_nodes="Tanh_156:0" --log=debug --soc_version=Ascend310 '
    '--insert_op_conf=aipp_CycleGAN_pth.config',
]
SEED_DATASET_INFO = ("python3 gen_dataset_info.py --src_path_testA=./datasets/maps/testA/ "
                     "--save_pathTestA_dst=datasetsDst/maps/testA/ --dataTestA_infoName=testA_prep.info "
                     "--src_path_testB=./datasets/maps/testB/ --save_pathTestB_dst=./datasetsDst/maps/testB/ "
                     "--dataTestB_infoName=testB_prep.info")
SEED_BENCHMARK = [
    "./benchmark.x86_64 -model_type=vision -device_id=0 -batch_size=1 -om_path=Cons_Ga_aipp512_b0_bs1.om "
    "-input_text_path=testA_prep.info -input_width=512 -input_height=512 -output_binary=true -useDvpp=true",
    "./benchmark.x86_64 -model_type=vision -device_id=1 -batch_size=1 -om_path=Cons_Gb_aipp512_b0_bs1.om "
    "-input_text_path=testB_prep.info -input_width=512 -input_height=512 -output_binary=true -useDvpp=true",
]
SEED_EVAL = "python3 eval_acc.py --dataroot=./datasets/maps --npu_bin_file=./result/dumpOutput_device0/"

# What our README gives for each benchmark run on a CPU (section 5.4).
CPU_BENCHMARK = [
    ["python3 CycleGAN_aipp_preprocess.py --info=testA_prep.info --save_path=./datasetsDst/maps/testA_aipp/",
     "python3 ../common/infer.py --model ./onnxmodel/model_Ga.onnx --input ./datasetsDst/maps/testA_aipp/ "
     "--output ./result/ --outfmt BIN --batchsize 1"],
    ["python3 CycleGAN_aipp_preprocess.py --info=testB_prep.info --save_path=./datasetsDst/maps/testB_aipp/",
     "python3 ../common/infer.py --model ./onnxmodel/model_Gb.onnx --input ./datasetsDst/maps/testB_aipp/ "
     "--output ./result/ --output_dirname Gb_aipp --outfmt BIN --batchsize 1"],
]
CPU_EVAL_B = "python3 eval_acc.py --dataroot=./datasets/maps --npu_bin_file=./result/Gb_aipp/ --direction BtoA"
N_PAIRS = 2
README = Path(__file__).resolve().parents[1] / "CycleGAN" / "README.md"


def flags(command):
    """{flag: value} of an atc / benchmark command line (-x=v or --x=v)."""
    return {m.group(1): m.group(2) for m in (re.match(r"^-+([\w]+)=(.*)$", a) for a in shlex.split(command)[1:])}


def run_python(command, capsys=None):
    """The seed's `python3 <script> args` with the script's main, from the current folder; returns stdout."""
    argv = shlex.split(command)
    assert argv[0] == "python3"
    script = argv[1]
    module = importlib.import_module("common.infer" if script == "../common/infer.py" else script[:-3])
    status = cli.run(module.main, argv[2:])
    out = capsys.readouterr().out if capsys is not None else ""
    assert status == 0, f"{command} exited with {status}"
    return out


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    gan = tmp_path_factory.mktemp("seed") / "ACL_PyTorch" / "contrib" / "cv" / "gan"
    folder = work_folder.prepare_workdir(gan, driver.find_model_folder("CycleGAN"))
    assert (folder.parent / "common" / "fileio.py").is_file()
    random_checkpoint(folder / "checkpoints" / "maps_cycle_gan" / "latest_net_G_A.pth", seed=0)
    random_checkpoint(folder / "checkpoints" / "maps_cycle_gan" / "latest_net_G_B.pth", seed=1, legacy=True)
    write_synthetic_maps(folder / "datasets" / "maps", N_PAIRS, seed=0)
    argv = shlex.split(SEED_EXPORT)
    done = subprocess.run([sys.executable, *argv[1:]], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return folder, done.stdout


def test_the_readme_gives_the_seeds_lines_and_their_cpu_commands():
    """Section 5 holds the seed's commands as written and, for its NPU-only runs, the CPU commands replayed here."""
    readme = README.read_text(encoding="utf-8")
    given = [SEED_EXPORT, SEED_REFLECTPAD, SEED_ENV, *SEED_ATC, SEED_DATASET_INFO, *SEED_BENCHMARK, SEED_EVAL,
             *(c for pair in CPU_BENCHMARK for c in pair), CPU_EVAL_B]
    assert [c for c in given if c not in readme] == []


def test_export_under_the_seeds_name(seed):
    folder, out = seed
    assert out.count("final node Tanh_156") == 2
    for g, name, output in (("Ga", "img_sat_maps", "maps"), ("Gb", "img_maps_sat", "sat")):
        model = onnx.load(str(folder / "onnxmodel" / f"model_{g}.onnx"))
        assert [i.name for i in model.graph.input] == [name] and [o.name for o in model.graph.output] == [output]
        assert [(n.name, n.op_type) for n in model.graph.node if output in n.output] == [("Tanh_156", "Tanh")]
        assert onnx_utils.count_ops(model)["Pad"] == 20  # reflect pads with run-time pads: what the seed edits next


def test_seed_sequence(seed, capsys):
    folder, _ = seed
    with working_directory(folder):
        # 3.1: the reflect-pad edit right after the plain export, in place as the original did (exact mode: the
        # edited graph computes what the unedited one did, so nothing is lost)
        sources = {g: onnx.load(f"onnxmodel/model_{g}.onnx") for g in ("Ga", "Gb")}
        x = np.random.default_rng(5).uniform(-1, 1, (2, 3, 256, 256)).astype(np.float32)
        unedited = {g: onnx_utils.run(f"onnxmodel/model_{g}.onnx", {sources[g].graph.input[0].name: x})[0]
                    for g in ("Ga", "Gb")}
        listing = sorted(p.name for p in (folder / "onnxmodel").iterdir())
        out = run_python(SEED_REFLECTPAD, capsys)
        assert out.count("rewritten as Slice + Concat (exact)") == 2 and out.count("max abs diff") == 2
        assert "atc --model=onnxmodel/model_Ga.onnx ... and --model=onnxmodel/model_Gb.onnx" in out
        assert sorted(p.name for p in (folder / "onnxmodel").iterdir()) == listing  # no second file, no leftovers
        for g in ("Ga", "Gb"):
            edited = onnx.load(f"onnxmodel/model_{g}.onnx")
            assert onnx_utils.count_ops(edited)["Pad"] == 0 and not graph_edits.reflect_pads(edited)
            assert edited.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
            weights = {i.name: onnx.numpy_helper.to_array(i) for i in edited.graph.initializer}
            source = {i.name: onnx.numpy_helper.to_array(i) for i in sources[g].graph.initializer}
            assert np.array_equal(weights["model.1.weight"], source["model.1.weight"])  # G_B is still G_B
            y = onnx_utils.run(f"onnxmodel/model_{g}.onnx", {edited.graph.input[0].name: x})[0]
            assert np.abs(y - unedited[g]).max() <= 1e-5
        # run again (a user repeating the line): it finds nothing to rewrite and changes nothing
        edited_bytes = {g: open(f"onnxmodel/model_{g}.onnx", "rb").read() for g in ("Ga", "Gb")}
        out = run_python(SEED_REFLECTPAD, capsys)
        assert out.count("no reflect-mode Pad node left (already edited); unchanged") == 2
        assert {g: open(f"onnxmodel/model_{g}.onnx", "rb").read() for g in ("Ga", "Gb")} == edited_bytes
        assert sorted(p.name for p in (folder / "onnxmodel").iterdir()) == listing

        # 3.2: source env.sh works (and says why it did nothing) on a machine without CANN
        done = subprocess.run(["bash", "-c", f"{SEED_ENV} && echo sourced"], capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", "install_path": str(folder / "no_cann")})
        assert done.returncode == 0 and done.stdout.strip().endswith("sourced")
        assert "env.sh: no CANN toolkit at" in done.stderr

        # atc cannot run here: every file and name it is given must be right for our graphs, the files the seed
        # names holding the edited graphs (README 5.3)
        config = read_config("aipp_CycleGAN_pth.config")
        for command in SEED_ATC:
            f = flags(command)
            model = onnx.load(f["model"])
            assert onnx_utils.count_ops(model)["Pad"] == 0
            name, dims = f["input_shape"].split(":")
            assert onnx_utils.input_shapes(model) == {name: ["batch", 3, 256, 256]}
            node, index = f["out_nodes"].split(":")
            producer = [n for n in model.graph.node if n.name == node]
            assert len(producer) == 1 and producer[0].output[int(index)] == model.graph.output[0].name
            assert [int(d) for d in dims.split(",")][2:] == [config["crop_size_h"], config["crop_size_w"]]
            assert f["insert_op_conf"] == "aipp_CycleGAN_pth.config"

        # 4.2: thumbnails and .info files
        out = run_python(SEED_DATASET_INFO, capsys)
        for side in ("A", "B"):
            rows = read_info(f"test{side}_prep.info")
            assert [(i, str(p), w, h) for i, p, w, h in rows] == [
                (n - 1, f"datasetsDst/maps/test{side}/{n}_{side}.jpeg", 512, 512) for n in range(1, N_PAIRS + 1)]
            with Image.open(rows[0][1]) as image:
                assert image.format == "JPEG" and image.size == (512, 512)
            # beside the thumbnails, the float path's inputs, for our chain's infer.py --input on this folder
            assert np.array_equal(fileio.read_array(f"datasetsDst/maps/test{side}/1_{side}.bin"),
                                  load_image(f"datasets/maps/test{side}/1_{side}.jpg").ravel())

        # 5.2: each benchmark run, replaced by what our README gives for it
        for command, replacement in zip(SEED_BENCHMARK, CPU_BENCHMARK):
            f = flags(command)
            assert f["om_path"] == flags(SEED_ATC[int(f["device_id"])])["output"] + ".om"
            assert (int(f["input_width"]), int(f["input_height"])) == (config["src_image_size_w"],
                                                                       config["src_image_size_h"])
            rows = read_info(f["input_text_path"])
            run_python(replacement[0], capsys)
            target = shlex.split(replacement[0])[-1].split("=", 1)[1]
            x = fileio.read_array(f"{target}/{rows[0][1].stem}.bin", shape=(1, 3, 256, 256))
            assert np.array_equal(x, aipp_input(rows[0][1], config))
            run_python(replacement[1], capsys)
        runs = [p for p in (folder / "result").iterdir() if p.is_dir() and tool_outputs.AIS_TIMESTAMP.match(p.name)]
        assert len(runs) == 1 and sorted(p.name for p in runs[0].iterdir()) == ["1_A_0.bin", "2_A_0.bin"]

        # 6.1: the seed's accuracy command reads that run (dumpOutput_device0 is the benchmark tool's folder) and
        # fails honestly: the AIPP path (a crop) is below the original's 0.99 against the float path (a resize)
        status = cli.run(importlib.import_module("eval_acc").main, shlex.split(SEED_EVAL)[2:])
        captured = capsys.readouterr()
        assert status == 1 and "FAIL: average cosine_similarity" in captured.err
        assert f"using result/{runs[0].name}" in captured.err
        assert re.search(r"^average cosine_similarity: 0\.\d+$", captured.out, re.M)
        report = json.loads((folder / "cosine_similarity.json").read_text())
        assert report["count"] == N_PAIRS and report["offline"] == f"result/{runs[0].name}"
        assert 0 < report["average_cosine_similarity"] < 0.99 and report["passed"] is False
        assert [f["image"] for f in report["images"]] == ["1_A.jpg", "2_A.jpg"]
        with Image.open(folder / "cosine_similarity.jpg") as plot:
            assert plot.format == "JPEG" and plot.size[0] > 200
        # the readable report: valid, self-contained, its worst-image table is the JSON's lowest images in order
        parsed = check_report_file(folder / "cosine_similarity_report.html")
        assert report["report"] == "cosine_similarity_report.html"
        lowest = sorted(report["images"], key=lambda f: f["pixel_cosine"])
        assert [row[0] for row in parsed.tables["worst"][1:]] == [f["image"] for f in lowest]

        # G_B likewise (README section 6): below 0.99 as well, its figures written all the same
        assert cli.run(importlib.import_module("eval_acc").main, shlex.split(CPU_EVAL_B)[2:]) == 1
        assert re.search(r"^average cosine_similarity: 0\.\d+$", capsys.readouterr().out, re.M)
        assert json.loads((folder / "cosine_similarity.json").read_text())["direction"] == "BtoA"
