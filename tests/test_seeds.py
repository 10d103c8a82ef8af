"""Every original (seed) README's command sequence, replayed literally in a ModelZoo-shaped copy.

The four seed READMEs (Ascend ModelZoo's DCGAN, GAN, BigGAN and Pix2pixHD guides; not part of this repository)
are transcribed below as data, command by command, in their order. Each runs from
`<tmp>/ACL_PyTorch/contrib/cv/gan/<Model>`, a copy of the model folder with `common/` beside it, on seeded
random weights in the official format and small synthetic data, and every later step reads what the earlier
ones wrote. The only changes to a seed's commands:

- NPU-only commands: `python3 -m ais_bench` and `./msame` are replaced by the `common/infer.py` command the
  model's README gives for them (asserted to be in that README, beside the NPU command or in its list of
  differences from the original);
  `atc`, `npu-smi info` and `source .../set_env.sh` have no CPU counterpart (the .onnx is the model there)
  and are skipped, as are the steps that need a network (git clone of upstream, pip install) or a GPU
  (trtexec), and upstream's own test script, which needs that clone (SKIPPED).
- Numbers that would make the test slow (SHRUNK): sample counts, --loop, and the 1024x2048 Pix2pixHD size
  (given as --height/--width, whose defaults are the seed's size). Option names and file names stay literal.
- The seeds' `{batch_size}` placeholders are filled with 1, `python3.7` is `python3`.

The Pix2pixHD replay is opt-in (SEEDS_PIX2PIXHD=1): it needs the released generator at full width (its
scripts build exactly that architecture), whose export took 110 s of the replay's 132 s on the 2-core CPU
shared with other jobs (load average 14); tests/test_pix2pixhd.py runs the same scripts at 96x160 on every run.

Commands run in-process (each script's `main`, `python3 -m onnxsim` through onnxsim's own entry point), from
the copy's model folder; `../common/infer.py` is the copy's. BigGAN runs at G_ch 8 (its scripts read the width
from the checkpoint), Pix2pixHD at full width and 64x128.
"""
import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrun import call_script, working_directory
from common import fileio, inception, metrics, tool_outputs

ROOT = Path(__file__).resolve().parents[1]
ASCEND_ENV = "source /usr/local/Ascend/ascend-toolkit/set_env.sh"

# Seed commands, literally, in their order. ({batch_size} and the like: filled as described above.)
SEEDS = {
    "DCGAN": [
        "git clone https://github.com/eriklindernoren/PyTorch-GAN.git",
        "cd PyTorch-GAN",
        "git reset 36d3c77e5ff20ebe0aeefd322326a134a279b93e --hard",
        "mv ../dcgan.patch ./",
        "git apply dcgan.patch",
        "cd ..",
        "pip3 install -r requirements.txt",
        "python3 dcgan_preprocess.py ./prep_dataset",
        "python3 dcgan_pth2onnx.py ./checkpoint-amp-epoch_200.pth ./dcgan.onnx",
        "python3.7 -m onnxsim --input-shape=1,100,1,1 dcgan.onnx dcgan_sim_bs1.onnx",
        ASCEND_ENV,
        "npu-smi info",
        'atc --framework=5 --model=./dcgan_sim_bs1.onnx --output=dcgan_sim_bs1 --input_format=NCHW '
        '--input_shape="noise:1,100,1,1" --log=error --soc_version=Ascend310P3',
        "python3 -m ais_bench --model=./dcgan_sim_bs1.om --batchsize=1 --output=./result --input=./prep_dataset "
        "--loop=2000",
        "python3 dcgan_pth_result.py --checkpoint_path=./checkpoint-amp-epoch_200.pth --dataset_path=./prep_dataset "
        "--save_path=./pth_result",
        "python3 dcgan_acc_eval.py --pth_result_path=./pth_result/ --om_result_path=./result/dumpOutput_device0/ "
        "--log_save_name=dcgan_acc_eval_bs1.log",
        "python3 -m ais_bench --model=./dcgan_sim_bs1.om --batchsize=1 --output=./result --input=./prep_dataset",
    ],
    "GAN": [
        "python3.7 GAN_pth2onnx.py --input_file=generator_8p_0.0008_128.pth --output_file=GAN.onnx",
        ASCEND_ENV,
        'atc --model=GAN.onnx --framework=5 --output=GAN_bs1 --input_format=NCHW --input_shape="Z:1,100" '
        '--log=error --soc_version=Ascend310',
        "python3.7 GAN_testdata.py --online_path=images --offline_path=vectors --pth_path=generator_8p_0.0008_128.pth "
        "--iters 100 --batch_size 64",
        './msame --model "GAN_bs64.om"  --input "./vectors" --output "out" ',
        "python3.7 GAN_txt2jpg.py --txt_path=out --infer_results_path=genimg",
        "./trtexec --onnx=GAN.onnx --fp16 --shapes=image:1x100",
    ],
    "BigGAN": [
        "git clone https://github.com/ajbrock/BigGAN-PyTorch.git",
        "mv biggan.patch BigGAN-PyTorch",
        "cd BigGAN-PyTorch",
        "dos2unix biggan.patch",
        "git apply biggan.patch",
        "cp BigGAN.py ..",
        "cp layers.py ..",
        "cp inception_utils.py ..",
        "cd ..",
        "pip3 install -r requirements.txt",
        "python3 biggan_preprocess.py --num-inputs 50000",
        'python3 biggan_pth2onnx.py --source "./G_ema.pth" --target "./biggan.onnx"',
        "python3 clip_edit.py --input-model biggan.onnx --output-model new_biggan.onnx",
        "python3 -m onnxsim './new_biggan.onnx' './biggan_sim_bs1.onnx' --input-shape noise:1,1,20 label:1,5,148",
        ASCEND_ENV,
        "npu-smi info",
        'atc --framework=5 --model=./biggan_sim_bs1.onnx --output=./biggan_sim_bs1 --input_format=ND '
        '--input_shape="noise:1,1,20;label:1,5,148" --log=error --soc_version=Ascend310P3',
        "python3 -m ais_bench --model biggan_sim_bs1.om --input ./prep_noise,./prep_label  --output ./result "
        "--output_dirname bs1 --outfmt BIN --batchsize 1",
        "python3 biggan_postprocess.py --result-path ./result/bs1 --save-path ./postprocess_img --batch-size 1 "
        "--save-img --save-npz",
        "python3 biggan_eval_acc.py --num-inception-images 50000 --batch-size 1 --dataset 'I128'",
        "python3 -m ais_bench --model=biggan_sim_bs1.om --loop=20 --batchsize=1",
    ],
    "Pix2pixHD": [
        "git clone https://github.com/NVIDIA/pix2pixHD",
        "cd pix2pixHD",
        "git checkout master",
        "git reset --hard 5a2c87201c5957e2bf51d79b8acddb9cc1920b26",
        "patch -p1 < ../pix2pixhd_npu.diff",
        "cd ..",
        "pip3 install -r requirements.txt",
        "rm -rf ./pix2pixHD/datasets/cityscapes",
        "python3 datasets_deal.py ./pix2pixHD/datasets/cityscapes/test_inst ./pix2pixHD/datasets/cityscapes/test_label "
        "./datasets/gtFine/val",
        "python3 pix2pixhd_preprocess.py ./pix2pixHD/datasets/cityscapes ./prep_datasets",
        "python3 pix2pixhd_pth2onnx.py --load_pretrain ./pix2pixHD/checkpoints/label2city_1024p/ "
        "--output_file pix2pixhd.onnx",
        ASCEND_ENV,
        "npu-smi info",
        'atc --framework=5 --model=./pix2pixhd.onnx --input_format=NCHW --input_shape="input_concat:1,36,1024,2048" '
        '--output=pix2pixhd_bs1 --log=error --soc_version=Ascend310P3',
        "mkdir result",
        "python3 -m ais_bench --model=./pix2pixhd_bs1.om --input=./prep_datasets/ --output=./result/ "
        "--output_dirname=bs1 --outfmt=BIN --batchsize=1  --device 0 ",
        "python3 pix2pixhd_postprocess.py ./result/bs1 ./result/bs1generated",
        "cd pix2pixHD",
        "bash ./scripts/test_1024p.sh",
        "cd ..",
        "python3 -m ais_bench --model=./pix2pixhd_bs1.om --loop=20 --batchsize=1 --device 0",
    ],
}

# The README's CPU command for each NPU-only inference command (ais_bench, msame).
REPLACED = {
    "DCGAN": {
        "python3 -m ais_bench --model=./dcgan_sim_bs1.om --batchsize=1 --output=./result --input=./prep_dataset "
        "--loop=2000":
        "python3 ../common/infer.py --model=./dcgan_sim_bs1.onnx --batchsize=1 --output=./result "
        "--input=./prep_dataset --loop=2000",
        "python3 -m ais_bench --model=./dcgan_sim_bs1.om --batchsize=1 --output=./result --input=./prep_dataset":
        "python3 ../common/infer.py --model=./dcgan_sim_bs1.onnx --batchsize=1 --output=./result "
        "--input=./prep_dataset",
    },
    "GAN": {
        './msame --model "GAN_bs64.om"  --input "./vectors" --output "out" ':
        "python3 ../common/infer.py --model GAN.onnx --input ./vectors --output out --outfmt TXT",
    },
    "BigGAN": {
        "python3 -m ais_bench --model biggan_sim_bs1.om --input ./prep_noise,./prep_label  --output ./result "
        "--output_dirname bs1 --outfmt BIN --batchsize 1":
        "python3 ../common/infer.py --model biggan_sim_bs1.onnx --input ./prep_noise,./prep_label --output ./result "
        "--output_dirname bs1 --outfmt BIN --batchsize 1",
        "python3 -m ais_bench --model=biggan_sim_bs1.om --loop=20 --batchsize=1":
        "python3 ../common/infer.py --model biggan_sim_bs1.onnx --loop 20 --batchsize 1",
    },
    "Pix2pixHD": {
        "python3 -m ais_bench --model=./pix2pixhd_bs1.om --input=./prep_datasets/ --output=./result/ "
        "--output_dirname=bs1 --outfmt=BIN --batchsize=1  --device 0 ":
        "python3 ../common/infer.py --model=./pix2pixhd.onnx --input=./prep_datasets/ --output=./result/ "
        "--output_dirname=bs1 --outfmt=BIN --batchsize=1 --device 0",
        "python3 -m ais_bench --model=./pix2pixhd_bs1.om --loop=20 --batchsize=1 --device 0":
        "python3 ../common/infer.py --model=./pix2pixhd.onnx --loop=20 --batchsize=1 --device 0",
    },
}

# The only deviation besides REPLACED and SKIPPED: smaller numbers (and, for Pix2pixHD, the size as numbers).
SHRUNK = {
    "python3 dcgan_preprocess.py ./prep_dataset": "python3 dcgan_preprocess.py ./prep_dataset --num 24",  # 8192
    "--loop=2000": "--loop=2",
    "--iters 100": "--iters 3",
    "--num-inputs 50000": "--num-inputs 10",
    "--num-inception-images 50000": "--num-inception-images 10",
    "--loop=20 ": "--loop=2 ",
    "--loop 20 ": "--loop 2 ",
    "--output_file pix2pixhd.onnx": "--output_file pix2pixhd.onnx --height 64 --width 128",
    "./result/bs1 ./result/bs1generated": "./result/bs1 ./result/bs1generated --height 64 --width 128",
}

NPU_ONLY = ("atc ", "npu-smi ", ASCEND_ENV)
NEEDS_NETWORK_OR_CLONE = ("git ", "mv ", "dos2unix ", "cp ", "pip3 ", "patch ", "bash ./scripts/test_1024p.sh",
                          "./trtexec ")


def skipped(command, in_clone):
    """Why a command is not replayed here, or None. Everything inside the upstream clone goes with it."""
    if command.startswith(NPU_ONLY):
        return "NPU only"
    if in_clone or command.startswith(NEEDS_NETWORK_OR_CLONE):
        return "needs the upstream clone, a network or a GPU"
    return None


def shrink(command):
    for literal, smaller in SHRUNK.items():
        command = command.replace(literal, smaller)
    return re.sub(r"^python3\.7 ", "python3 ", command)


def run_command(command, folder):
    """Run one (replaced, shrunk) seed command in-process from `folder`, as a shell would."""
    argv = shlex.split(command)
    if argv[0] == "rm":
        shutil.rmtree(argv[-1], ignore_errors=True)
        return
    if argv[0] == "mkdir":
        Path(argv[1]).mkdir()
        return
    assert argv[0] == "python3", command
    if argv[1:3] == ["-m", "onnxsim"]:
        import onnxsim

        saved, sys.argv = sys.argv, ["onnxsim", *argv[3:]]
        try:
            onnxsim.main()
        finally:
            sys.argv = saved
        return
    script = (folder / argv[1]).resolve()
    assert script.is_file(), f"{command}: {script} is not in the ModelZoo-shaped copy"
    assert call_script(argv) == 0, command


def modelzoo_copy(tmp_path, model):
    """<tmp>/ACL_PyTorch/contrib/cv/gan/<Model> and common/ beside it, as a user lays them out."""
    gan = tmp_path / "ACL_PyTorch" / "contrib" / "cv" / "gan"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / model, gan / model, ignore=ignore, symlinks=True)
    shutil.copytree(ROOT / "common", gan / "common", ignore=ignore)
    return gan / model


def replay(model, tmp_path, capsys, setup):
    """Replay the seed of `model` after `setup(folder)` put the downloads (weights, data) in place, as a user
    does; return the model folder and, per command run, (command as run, its stdout, its stderr)."""
    folder = modelzoo_copy(tmp_path, model)
    setup(folder)
    readme = (ROOT / model / "README.md").read_text()
    log = []
    in_clone = False
    with working_directory(folder):
        for command in SEEDS[model]:
            if command.startswith("cd "):
                in_clone = command != "cd .."
                continue
            if skipped(command, in_clone):
                continue
            replacement = REPLACED[model].get(command)
            if replacement is not None:
                assert replacement in readme, f"{model}/README.md does not give {replacement!r}"
                command = replacement
            assert "ais_bench" not in command and "msame" not in command, command
            capsys.readouterr()
            run_command(shrink(command), folder)
            log.append((shrink(command), *capsys.readouterr()))
    return folder, log


def output_of(log, start):
    """stdout + stderr of the one command of `log` that starts with `start`."""
    (found,) = [out + err for command, out, err in log if command.startswith(start)]
    return found


def test_every_npu_command_has_its_replacement():
    for model, commands in SEEDS.items():
        for command in commands:
            if "ais_bench" in command or "msame" in command:
                assert command in REPLACED[model], command
        assert set(REPLACED[model]) <= set(commands), model


def test_dcgan_seed(tmp_path, capsys):
    import dcgan_model

    folder, log = replay("DCGAN", tmp_path, capsys,
                           lambda f: dcgan_model.random_checkpoint(f / "checkpoint-amp-epoch_200.pth"))
    runs = sorted(p for p in (folder / "result").iterdir() if p.is_dir())
    assert runs and all(tool_outputs.AIS_TIMESTAMP.match(p.name) for p in runs)  # no --output_dirname in the seed
    assert len(tool_outputs.output_files(runs[0])) == 24
    # The accuracy step was pointed at result/dumpOutput_device0/, which no step created: it said what it used.
    notes = output_of(log, "python3 dcgan_acc_eval.py").splitlines()
    fallback = [n for n in notes if "dumpOutput_device0 does not exist" in n]
    run = runs[0].relative_to(folder)  # paths as the user gave them: relative to the model folder
    assert len(fallback) == 1 and fallback[0].endswith(f"; using {run} (the only run)")
    report = json.loads((folder / "dcgan_acc_eval_bs1.json").read_text())
    assert report["passed"] and report["offline"] == str(run) and report["aggregate"]["count"] == 24
    assert report["aggregate"]["max_one_minus_cosine"] < 1e-9
    log = (folder / "dcgan_acc_eval_bs1.log").read_text().splitlines()
    assert log[0].startswith("noise_0000_0.bin : mean ==> 0.0000 , cos ==> 1.0000")
    assert log[24].startswith("mean : 0.0000, cosine : 1.0000, acc : 100.00%")
    summaries = [json.loads(p.read_text()) for p in (folder / "result").glob("*_summary.json")]
    assert {s["NPU_compute_time"]["count"] for s in summaries} <= {24 * 2, 24}  # --loop=2 (the seed's 2000), 1


def test_gan_seed_reads_txt_outputs(tmp_path, capsys):
    import GAN_model

    folder, _ = replay("GAN", tmp_path, capsys,
                       lambda f: GAN_model.random_checkpoint(f / "generator_8p_0.0008_128.pth"))
    assert sorted(p.name for p in (folder / "images").iterdir()) == ["0.png", "1.png", "2.png"]  # online pictures
    (run,) = [p for p in (folder / "out").iterdir() if p.is_dir()]
    outputs = tool_outputs.output_files(run)
    assert [p.name for p in outputs.values()] == ["0_0.txt", "1_0.txt", "2_0.txt"]
    assert fileio.read_array(outputs["2"], shape=(-1, 1, 28, 28)).shape == (64, 1, 28, 28)
    pictures = sorted(p.name for p in (folder / "genimg").iterdir())
    assert len(pictures) == 3 * 64 + 3 and "2_0_63.png" in pictures and "2_0_grid.png" in pictures

    # What msame itself writes (unpadded timestamp folder, <stem>_output_0.txt) reads back the same way.
    msame_run = folder / "out_msame" / "2021118_17_5_9_123456"
    msame_run.mkdir(parents=True)
    for stem, path in outputs.items():
        shutil.copy(path, msame_run / f"{stem}_output_0.txt")
    with working_directory(folder):
        run_command("python3 GAN_txt2jpg.py --txt_path=out_msame --infer_results_path=genimg_msame", folder)
    for name in ("0_0_0.png", "2_0_grid.png"):
        assert (folder / "genimg_msame" / name).read_bytes() == (folder / "genimg" / name).read_bytes()


def test_biggan_seed(tmp_path, capsys):
    import biggan_model

    def downloads(folder):
        biggan_model.random_checkpoint(folder / "G_ema.pth", 8, seed=0)
        inception.write_random_inception_weights(folder / "inception_v3_google.pth", seed=1)
        rng = np.random.default_rng(0)
        metrics.save_moments(folder / "I128_inception_moments.npz",
                             *metrics.feature_moments(rng.uniform(0, 1, (300, 2048))))

    folder, log = replay("BigGAN", tmp_path, capsys, downloads)
    with np.load(folder / "gen_y.npz") as npz:  # the seed calls it gen_y.npy
        assert npz["y"].shape == (10,)
    assert len(tool_outputs.output_files(folder / "result" / "bs1")) == 10
    assert len(list((folder / "postprocess_img" / "img_bs1").glob("*.jpg"))) == 10
    with np.load(folder / "gen_img_bs1.npz") as npz:
        np.testing.assert_array_equal(npz["x"][9], fileio.read_array(folder / "result" / "bs1" / "input_00009_0.bin",
                                                                    shape=(3, 128, 128)))
    line = (folder / "biggan_acc_eval_bs1.log").read_text().strip()
    assert re.match(r"Noise variance 1\.000, over 10 images, PYTORCH UNOFFICIAL Inception Score is \d+\.\d{3} "
                    r"\+/- \d+\.\d{3}, PYTORCH UNOFFICIAL FID is \d+\.\d{4}$", line)
    assert "throughput 1000*batchsize.mean(1)" in output_of(log, "python3 ../common/infer.py --model biggan_sim_bs1.onnx --loop")


@pytest.mark.skipif(os.environ.get("SEEDS_PIX2PIXHD") != "1",
                    reason="the released 183 M-parameter generator's export alone takes about 2 minutes on a busy "
                           "2-core CPU; set SEEDS_PIX2PIXHD=1 to replay the Pix2pixHD seed")
def test_pix2pixhd_seed(tmp_path, capsys):
    import pix2pixhd_model
    from pix2pixhd_synthetic import write_cityscapes

    def downloads(folder):
        pix2pixhd_model.random_checkpoint(folder / "pix2pixHD" / "checkpoints" / "label2city_1024p" /
                                          "latest_net_G.pth", seed=0)
        write_cityscapes(folder / "datasets", split="val", per_city=1, height=64, width=128, seed=0)

    folder, log = replay("Pix2pixHD", tmp_path, capsys, downloads)
    labels = sorted(p.name for p in (folder / "pix2pixHD" / "datasets" / "cityscapes" / "test_label").iterdir())
    stems = [name[:-len(".png")] for name in labels]
    assert stems and sorted(p.stem for p in (folder / "prep_datasets").iterdir()) == stems
    assert sorted(tool_outputs.output_files(folder / "result" / "bs1")) == stems
    pictures = sorted(p.name for p in (folder / "result" / "bs1generated").iterdir())
    assert pictures == sorted([f"{s}_0.jpg" for s in stems] + ["grid.jpg"])
    assert "throughput 1000*batchsize.mean(1)" in output_of(log, "python3 ../common/infer.py --model=./pix2pixhd.onnx --loop")
