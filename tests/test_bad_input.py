"""Hostile input, table-driven: every README script given what a user gets wrong (missing, empty, wrong size,
corrupt, NaN/Inf, another model's output, an output path that is a file or under a file or read-only, one
path for two outputs, negative or absurd numbers).

Each case runs the script's real `main` in this process through `cli.run`, as `python3 script.py` does, and
asserts: exit status 2, a single `error:` line on stderr naming the file or option at fault, no traceback,
and every watched path (the outputs the step would write) exactly as it was before, hidden entries included.
"""
import hashlib
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

import biggan_cosine_acc
import biggan_eval_acc
import biggan_model
import biggan_postprocess
import biggan_preprocess
import clip_edit
import biggan_pth2onnx
import biggan_pth_result
import CycleGAN_aipp_preprocess
import CycleGAN_eval_acc
import CycleGAN_postprocess
import CycleGAN_preprocess
import CycleGAN_pth2onnx
import CycleGAN_pth_result
import CycleGAN_ReflectpadDeal
import GAN_pth_result
import pix2pixhd_eval_acc
import pix2pixhd_pth2onnx
import datasets_deal
import dcgan_acc_eval
import dcgan_facts
import dcgan_model
import dcgan_postprocess
import dcgan_preprocess
import dcgan_pth2onnx
import dcgan_pth_result
import eval_acc as cyclegan_eval_acc
import GAN_eval_acc
import GAN_model
import GAN_postprocess
import GAN_preprocess
import GAN_pth2onnx
import GAN_txt2jpg
import gen_dataset_info
import pix2pixhd_postprocess
import pix2pixhd_preprocess
from common import cli, driver, fileio, infer, precision, simplify
from cyclegan_data import write_synthetic_maps
from pix2pixhd_synthetic import write_cityscapes


def digest(paths):
    """Everything at `paths` (files, folders, hidden entries beside them), for 'exactly as before'."""
    state = {}
    for path in paths:
        path = Path(path)
        entries = [path] if not path.is_dir() else [path, *sorted(path.rglob("*"))]
        for entry in entries + sorted(path.parent.glob(f".{path.name}*")):
            if entry.is_file():
                state[str(entry)] = hashlib.sha1(entry.read_bytes()).hexdigest()
            elif entry.exists():
                state[str(entry)] = "folder"
    return state


def bomb_png(path, side=20000):
    """A PNG whose header claims side x side pixels (what PIL refuses as a decompression bomb), a few bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))
    return path


class World:
    """Small real inputs and outputs of every folder, built once."""

    def __init__(self, root):
        self.root = root
        self.file = root / "a_file.txt"
        self.file.write_text("not a folder\n")
        self.text_pth = root / "notes.pth"
        self.text_pth.write_text("model trained with lr 0.0002\n")
        self.nan_npz = root / "nan.npz"
        np.savez(self.nan_npz, x=np.full((3, 3, 128, 128), np.nan, np.float32))
        # DCGAN: checkpoint, inputs, outputs in the runner's layout, and a copy holding NaN
        self.dcgan_pth = root / "dcgan.pth"
        dcgan_model.random_checkpoint(self.dcgan_pth)
        self.noise = root / "prep_dataset"
        assert dcgan_preprocess.main([str(self.noise), "--num", "3"]) == 0
        self.dcgan_result = root / "result" / "bs1"
        rng = np.random.default_rng(0)
        for i in range(3):
            fileio.write_array(self.dcgan_result / f"noise_{i:04d}_0.bin",
                              np.tanh(rng.standard_normal((1, *dcgan_facts.IMAGE_SHAPE))).astype(np.float32))
        self.dcgan_nan = root / "result_nan" / "bs1"
        shutil.copytree(self.dcgan_result, self.dcgan_nan)
        fileio.write_array(self.dcgan_nan / "noise_0001_0.bin", np.full((1, *dcgan_facts.IMAGE_SHAPE), np.inf, np.float32))
        self.dcgan_short = root / "result_short"
        shutil.copytree(self.dcgan_result, self.dcgan_short)
        (self.dcgan_short / "noise_0002_0.bin").write_bytes(b"\x00" * 100)
        # GAN: a batch of 64 run by the real runner (its summary records the shapes): 200,704 bytes per file,
        # which is 49 DCGAN images by size
        self.gan_pth = root / "gan.pth"
        GAN_model.random_checkpoint(self.gan_pth)
        self.gan_onnx = root / "gan.onnx"
        assert GAN_pth2onnx.main(["--input_file", str(self.gan_pth), "--output_file", str(self.gan_onnx)]) == 0
        self.vectors = root / "vectors"
        assert GAN_preprocess.main(["--offline_path", str(self.vectors), "--iters", "1", "--batch_size", "64"]) == 0
        assert infer.main(["--model", str(self.gan_onnx), "--input", str(self.vectors), "--output",
                           str(root / "gan_result"), "--output_dirname", "bs64"]) == 0
        self.gan_result = root / "gan_result" / "bs64"
        # BigGAN: checkpoint and preprocessed inputs
        self.biggan_pth = biggan_model.random_checkpoint(root / "G_ema.pth", 8, seed=0)
        self.biggan = root / "biggan"
        assert biggan_preprocess.main(["--pth", str(self.biggan_pth), "--prep-noise", str(self.biggan / "prep_noise"),
                                       "--prep-label", str(self.biggan / "prep_label"), "--gen-y",
                                       str(self.biggan / "gen_y.npz"), "--num-inputs", "2"]) == 0
        self.biggan_nan = root / "biggan_result"
        fileio.write_array(self.biggan_nan / "input_00000_0.bin", np.full((1, 3, 128, 128), np.nan, np.float32))
        # CycleGAN: maps test images, one folder with an image PIL refuses to decode
        self.maps = write_synthetic_maps(root / "maps", 1, seed=0, size=300)
        self.bomb_maps = root / "bomb_maps"
        shutil.copytree(self.maps, self.bomb_maps)
        bomb_png(self.bomb_maps / "testB" / "2_B.png")
        self.cyclegan_out = root / "cyclegan_out"
        assert CycleGAN_preprocess.main(self.cyclegan_argv(self.maps, self.cyclegan_out)) == 0
        # Pix2pixHD: a Cityscapes split and a dataset folder
        write_cityscapes(root / "city", cities=("aachen",), per_city=2, height=32, width=64, seed=0)
        self.split = root / "city" / "gtFine" / "val"
        self.dataset = root / "dataset"
        assert datasets_deal.main([str(self.dataset / "test_inst"), str(self.dataset / "test_label"),
                                   str(self.split)]) == 0

    def cyclegan_argv(self, maps, out, b_out=None):
        return ["--src_path_testA", str(maps / "testA"), "--save_pathTestA_dst", str(out / "testA"),
                "--src_path_testB", str(maps / "testB"), "--save_pathTestB_dst", str(b_out or out / "testB")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return World(tmp_path_factory.mktemp("world"))


@pytest.fixture
def readonly(tmp_path):
    """A read-only folder: chmod for a normal user; for root (who ignores permissions) a read-only tmpfs."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64m", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("running as root and cannot mount a read-only file system")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


# (id, main, argv(world, tmp), what the error line must say (regex), the paths that must stay as they were)
CASES = [
    # --- DCGAN
    ("dcgan_preprocess absurd --num", dcgan_preprocess.main,
     lambda w, t: [str(t / "prep"), "--num", "10000000000"], r"--num 10000000000 needs .* of output", lambda w, t: [t / "prep"]),
    ("dcgan_preprocess --seed -1", dcgan_preprocess.main,
     lambda w, t: [str(t / "prep"), "--seed", "-1"], r"--seed: -1 is outside", lambda w, t: [t / "prep"]),
    ("dcgan_preprocess output is a file", dcgan_preprocess.main,
     lambda w, t: [str(w.file)], r"a_file.txt: exists and is not a folder", lambda w, t: [w.file]),
    ("dcgan_preprocess output under a file", dcgan_preprocess.main,
     lambda w, t: [str(w.file / "prep")], r"a_file.txt/prep: cannot write: .*a_file.txt is a file", lambda w, t: [w.file]),
    ("dcgan_pth2onnx text file as checkpoint", dcgan_pth2onnx.main,
     lambda w, t: [str(w.text_pth), str(t / "d.onnx")], r"notes.pth: .*text", lambda w, t: [t / "d.onnx"]),
    ("dcgan_pth2onnx missing checkpoint", dcgan_pth2onnx.main,
     lambda w, t: [str(t / "none.pth"), str(t / "d.onnx")], r"none.pth", lambda w, t: [t / "d.onnx"]),
    ("dcgan_pth2onnx output is a folder", dcgan_pth2onnx.main,
     lambda w, t: [str(w.dcgan_pth), str(w.noise)], r"prep_dataset: is a folder, a file was expected", lambda w, t: [w.noise]),
    ("dcgan_pth_result output is a file", dcgan_pth_result.main,
     lambda w, t: ["--checkpoint_path", str(w.dcgan_pth), "--dataset_path", str(w.noise), "--save_path", str(w.file)],
     r"a_file.txt: exists and is not a folder", lambda w, t: [w.file]),
    ("dcgan_pth_result empty input folder", dcgan_pth_result.main,
     lambda w, t: ["--checkpoint_path", str(w.dcgan_pth), "--dataset_path", str(t), "--save_path", str(t / "ref")],
     r"no .*files in this folder", lambda w, t: [t / "ref"]),
    ("dcgan_postprocess NaN/Inf output", dcgan_postprocess.main,
     lambda w, t: ["--benchmark_result_path", str(w.dcgan_nan), "--save_path", str(t / "img")],
     r"noise_0001_0.bin: 1024 of its 1024 values are NaN or Inf", lambda w, t: [t / "img"]),
    ("dcgan_postprocess short file", dcgan_postprocess.main,
     lambda w, t: ["--benchmark_result_path", str(w.dcgan_short), "--save_path", str(t / "img")],
     r"noise_0002_0.bin: 100 bytes is not a whole number of samples", lambda w, t: [t / "img"]),
    ("dcgan_postprocess another model's outputs", dcgan_postprocess.main,
     lambda w, t: ["--benchmark_result_path", str(w.gan_result), "--save_path", str(t / "img")],
     r"0_0.bin: the runner wrote it as \(64, 1, 28, 28\) .*another model", lambda w, t: [t / "img"]),
    ("dcgan_postprocess missing result", dcgan_postprocess.main,
     lambda w, t: ["--benchmark_result_path", str(t / "none"), "--save_path", str(t / "img")], r"none", lambda w, t: [t / "img"]),
    ("dcgan_postprocess --grid_size 0", dcgan_postprocess.main,
     lambda w, t: ["--benchmark_result_path", str(w.dcgan_result), "--save_path", str(t / "img"), "--grid_size", "0"],
     r"--grid_size: 0 is not a positive", lambda w, t: [t / "img"]),
    ("dcgan_acc_eval NaN/Inf offline output", dcgan_acc_eval.main,
     lambda w, t: ["--pth_result_path", str(w.dcgan_result), "--om_result_path", str(w.dcgan_nan),
                   "--log_save_name", str(t / "acc.log"), "--pictures", str(t / "pics")],
     r"noise_0001_0.bin: holds NaN or Inf", lambda w, t: [t / "acc.log", t / "pics"]),
    ("dcgan_acc_eval log is a folder", dcgan_acc_eval.main,
     lambda w, t: ["--pth_result_path", str(w.dcgan_result), "--om_result_path", str(w.dcgan_result),
                   "--log_save_name", str(w.noise), "--pictures", str(t / "pics")],
     r"prep_dataset: is a folder, a file was expected", lambda w, t: [w.noise, t / "pics"]),
    # --- GAN
    ("GAN_preprocess one folder for vectors and pictures", GAN_preprocess.main,
     lambda w, t: ["--offline_path", str(t / "v"), "--online_path", str(t / "v"), "--pth_path", str(w.gan_pth)],
     r"v: given for two outputs of GAN_preprocess.py", lambda w, t: [t / "v"]),
    ("GAN_preprocess pictures under a file", GAN_preprocess.main,
     lambda w, t: ["--offline_path", str(w.vectors), "--online_path", str(w.file / "img"), "--pth_path", str(w.gan_pth),
                   "--seed", "5"],
     r"a_file.txt/img: cannot write", lambda w, t: [w.vectors]),
    ("GAN_preprocess --iters 0", GAN_preprocess.main,
     lambda w, t: ["--offline_path", str(t / "v"), "--iters", "0"], r"--iters 0", lambda w, t: [t / "v"]),
    ("GAN_postprocess NaN/Inf output", GAN_postprocess.main,
     lambda w, t: ["--txt_path", str(w.dcgan_nan), "--infer_results_path", str(t / "img")],
     r"noise_0000_0.bin: .*whole number|NaN or Inf", lambda w, t: [t / "img"]),
    ("GAN_txt2jpg corrupt text output", GAN_txt2jpg.main,
     lambda w, t: (t.joinpath("out").mkdir(), t.joinpath("out", "0_0.txt").write_text("1.0 2.0 x\n"),
                   ["--txt_path", str(t / "out"), "--infer_results_path", str(t / "img")])[-1],
     r"0_0.txt", lambda w, t: [t / "img"]),
    ("GAN_eval_acc missing reference", GAN_eval_acc.main,
     lambda w, t: ["--pth_result_path", str(t / "none"), "--om_result_path", str(w.gan_result),
                   "--log_save_name", str(t / "acc.log")], r"none", lambda w, t: [t / "acc.log"]),
    # --- BigGAN
    ("biggan_preprocess one folder for noise and labels", biggan_preprocess.main,
     lambda w, t: ["--pth", str(w.biggan_pth), "--prep-noise", str(w.biggan / "prep_noise"), "--prep-label",
                   str(w.biggan / "prep_noise"), "--gen-y", str(w.biggan / "gen_y.npz"), "--num-inputs", "2"],
     r"prep_noise: given for two outputs", lambda w, t: [w.biggan / "prep_noise", w.biggan / "gen_y.npz"]),
    ("biggan_preprocess --gen-y is a folder", biggan_preprocess.main,
     lambda w, t: ["--pth", str(w.biggan_pth), "--prep-noise", str(w.biggan / "prep_noise"), "--prep-label",
                   str(w.biggan / "prep_label"), "--gen-y", str(w.noise), "--num-inputs", "2", "--seed", "3"],
     r"prep_dataset: is a folder, a file was expected",
     lambda w, t: [w.biggan / "prep_noise", w.biggan / "prep_label", w.noise]),
    ("biggan_preprocess absurd --num-inputs", biggan_preprocess.main,
     lambda w, t: ["--pth", str(w.biggan_pth), "--prep-noise", str(t / "n"), "--prep-label", str(t / "l"),
                   "--gen-y", str(t / "y.npz"), "--num-inputs", "100000000000"],
     r"--num-inputs 100000000000 needs", lambda w, t: [t / "n", t / "l", t / "y.npz"]),
    ("biggan_preprocess text file as checkpoint", biggan_preprocess.main,
     lambda w, t: ["--pth", str(w.text_pth), "--prep-noise", str(t / "n"), "--prep-label", str(t / "l"),
                   "--gen-y", str(t / "y.npz")], r"notes.pth", lambda w, t: [t / "n", t / "l", t / "y.npz"]),
    ("biggan_postprocess NaN/Inf output", biggan_postprocess.main,
     lambda w, t: ["--result-path", str(w.biggan_nan), "--save-path", str(t / "img"), "--save-img", "--save-npz",
                   "--gen-img", str(t / "g.npz")],
     r"input_00000_0.bin: 49152 of its 49152 values are NaN or Inf", lambda w, t: [t / "img", t / "g.npz"]),
    ("biggan_postprocess --gen-img is a folder", biggan_postprocess.main,
     lambda w, t: ["--result-path", str(w.biggan_nan), "--save-path", str(t / "img"), "--save-npz",
                   "--gen-img", str(w.noise)], r"prep_dataset: is a folder", lambda w, t: [w.noise, t / "img"]),
    ("biggan_postprocess --save-path under a file", biggan_postprocess.main,
     lambda w, t: ["--result-path", str(w.biggan_nan), "--save-path", str(w.file / "img"), "--save-img"],
     r"a_file.txt/img/img_bs1: cannot write", lambda w, t: [w.file]),
    ("biggan_eval_acc fewer labels than images", biggan_eval_acc.main,
     lambda w, t: ["--gen-img", str(w.nan_npz), "--gen-y", str(w.biggan / "gen_y.npz"), "--num-inception-images", "3",
                   "--num-splits", "1"],
     r"gen_y.npz|nan.npz", lambda w, t: []),
    ("biggan_cosine_acc missing result", biggan_cosine_acc.main,
     lambda w, t: ["--reference", str(w.dcgan_result), "--result-path", str(t / "none"), "--log", str(t / "a.log"),
                   "--json", str(t / "a.json"), "--pictures", str(t / "pics")],
     r"none", lambda w, t: [t / "a.log", t / "a.json", t / "pics"]),
    ("clip_edit missing model", clip_edit.main,
     lambda w, t: ["--input-model", str(t / "none.onnx"), "--output-model", str(t / "out.onnx")], r"none.onnx",
     lambda w, t: [t / "out.onnx"]),
    ("clip_edit output is a folder", clip_edit.main,
     lambda w, t: ["--input-model", str(w.gan_onnx), "--output-model", str(w.noise)], r"prep_dataset",
     lambda w, t: [w.noise, w.gan_onnx]),
    ("biggan_pth2onnx text file as checkpoint", biggan_pth2onnx.main,
     lambda w, t: ["--source", str(w.text_pth), "--target", str(t / "b.onnx")], r"notes.pth", lambda w, t: [t / "b.onnx"]),
    ("biggan_pth2onnx target is a folder", biggan_pth2onnx.main,
     lambda w, t: ["--source", str(w.biggan_pth), "--target", str(w.noise)], r"prep_dataset: is a folder",
     lambda w, t: [w.noise]),
    ("biggan_pth_result one input folder missing", biggan_pth_result.main,
     lambda w, t: ["--pth", str(w.biggan_pth), "--input", f"{w.biggan / 'prep_noise'},{t / 'none'}",
                   "--output", str(t / "ref")], r"none", lambda w, t: [t / "ref"]),
    ("GAN_pth_result wrong-size input", GAN_pth_result.main,
     lambda w, t: ["--pth_path", str(w.gan_pth), "--dataset_path", str(w.dcgan_short), "--save_path", str(t / "ref")],
     r"noise_0000_0.bin: 4096 bytes", lambda w, t: [t / "ref"]),
    # --- CycleGAN
    ("CycleGAN_pth2onnx text file as checkpoint", CycleGAN_pth2onnx.main,
     lambda w, t: ["--model_ga_path", str(w.text_pth), "--model_gb_path", str(w.text_pth), "--onnx_path", str(t / "m")],
     r"notes.pth", lambda w, t: [t / "m"]),
    ("CycleGAN_pth2onnx --onnx_path is a file", CycleGAN_pth2onnx.main,
     lambda w, t: ["--model_ga_path", str(w.text_pth), "--model_gb_path", str(w.text_pth), "--onnx_path", str(w.file)],
     r"a_file.txt|notes.pth", lambda w, t: [w.file]),
    ("CycleGAN_ReflectpadDeal missing models", CycleGAN_ReflectpadDeal.main,
     lambda w, t: ["--onnx_path", str(t)], r"model_Ga.onnx", lambda w, t: []),
    ("CycleGAN_pth_result empty input", CycleGAN_pth_result.main,
     lambda w, t: ["--model_path", str(w.text_pth), "--input", str(t), "--output", str(t / "ref")],
     r"notes.pth|no .*files", lambda w, t: [t / "ref"]),
    ("CycleGAN_aipp_preprocess missing .info", CycleGAN_aipp_preprocess.main,
     lambda w, t: ["--info", str(t / "none.info"), "--save_path", str(t / "aipp")], r"none.info", lambda w, t: [t / "aipp"]),
    ("CycleGAN_eval_acc NaN/Inf offline output", CycleGAN_eval_acc.main,
     lambda w, t: (fileio.write_array(t / "off" / "1_A_0.bin", np.full((1, 3, 256, 256), np.nan, np.float32)),
                   fileio.write_array(t / "ref" / "1_A_0.bin", np.zeros((1, 3, 256, 256), np.float32)),
                   ["--pth_result", str(t / "ref"), "--npu_bin_file", str(t / "off"), "--out_dir", str(t / "acc")])[-1],
     r"1_A_0.bin: holds NaN or Inf", lambda w, t: [t / "acc"]),
    ("CycleGAN_preprocess decompression bomb", CycleGAN_preprocess.main,
     lambda w, t: w.cyclegan_argv(w.bomb_maps, w.cyclegan_out),
     r"2_B.png: too large to decode safely", lambda w, t: [w.cyclegan_out / "testA", w.cyclegan_out / "testB"]),
    ("CycleGAN_preprocess one folder for A and B", CycleGAN_preprocess.main,
     lambda w, t: w.cyclegan_argv(w.maps, t, b_out=t / "testA"), r"testA: given for two outputs",
     lambda w, t: [t / "testA"]),
    ("gen_dataset_info one .info for A and B", gen_dataset_info.main,
     lambda w, t: w.cyclegan_argv(w.maps, t) + ["--dataTestA_infoName", str(t / "x.info"),
                                               "--dataTestB_infoName", str(t / "x.info")],
     r"x.info: given for two outputs", lambda w, t: [t / "testA", t / "testB", t / "x.info"]),
    ("CycleGAN_postprocess wrong-size output", CycleGAN_postprocess.main,
     lambda w, t: ["--npu_bin_file", str(w.dcgan_result), "--bin2img_fie", str(t / "img")],
     r"noise_0000_0.bin: 4096 bytes", lambda w, t: [t / "img"]),
    ("eval_acc missing dataroot", cyclegan_eval_acc.main,
     lambda w, t: ["--dataroot", str(t / "none"), "--npu_bin_file", str(w.dcgan_result), "--onnx_path", str(t)],
     r"none", lambda w, t: []),
    # --- Pix2pixHD
    ("datasets_deal one folder twice", datasets_deal.main,
     lambda w, t: [str(w.dataset / "test_inst"), str(w.dataset / "test_inst"), str(w.split)],
     r"test_inst: given for two outputs", lambda w, t: [w.dataset / "test_inst", w.dataset / "test_label"]),
    ("pix2pixhd_preprocess --compact into a file", pix2pixhd_preprocess.main,
     lambda w, t: [str(w.dataset), str(w.file), "--compact"], r"a_file.txt", lambda w, t: [w.file]),
    ("pix2pixhd_preprocess decompression bomb", pix2pixhd_preprocess.main,
     lambda w, t: (shutil.copytree(w.dataset, t / "ds"),
                   bomb_png(next((t / "ds" / "test_label").iterdir())), [str(t / "ds"), str(t / "prep")])[-1],
     r"labelIds.png: too large to decode safely", lambda w, t: [t / "prep"]),
    ("pix2pixhd_postprocess NaN/Inf output", pix2pixhd_postprocess.main,
     lambda w, t: (fileio.write_array(t / "res" / "f_0.bin", np.full((1, 3, 64, 128), np.nan, np.float32)),
                   [str(t / "res"), str(t / "img"), "--height", "64", "--width", "128"])[-1],
     r"f_0.bin: 24576 of its 24576 values are NaN or Inf", lambda w, t: [t / "img"]),
    ("pix2pixhd_pth2onnx text file as checkpoint folder", pix2pixhd_pth2onnx.main,
     lambda w, t: ["--load_pretrain", str(w.file), "--output_file", str(t / "p.onnx")], r"a_file.txt",
     lambda w, t: [t / "p.onnx"]),
    ("pix2pixhd_eval_acc missing result", pix2pixhd_eval_acc.main,
     lambda w, t: ["--load_pretrain", str(t), "--input", str(t / "in"), "--result", str(t / "none"),
                   "--pth_result", str(t / "ref"), "--log", str(t / "a.log")], r"none|\.pth|in\b",
     lambda w, t: [t / "ref", t / "a.log"]),
    # --- common
    ("precision --num 0", precision.main,
     lambda w, t: ["--model", str(w.gan_onnx), "--num", "0", "--report", str(t / "p.json")], r"--num",
     lambda w, t: [t / "p.json"]),
    ("precision report is a folder", precision.main,
     lambda w, t: ["--model", str(w.gan_onnx), "--report", str(w.noise)], r"prep_dataset",
     lambda w, t: [w.noise]),
    ("infer --output_batchsize_axis 9", infer.main,
     lambda w, t: ["--model", str(w.gan_onnx), "--input", str(w.vectors), "--output", str(t / "res"),
                   "--output_batchsize_axis", "9"], r"--output_batchsize_axis", lambda w, t: [t / "res"]),
    ("infer --output is a file", infer.main,
     lambda w, t: ["--model", str(w.gan_onnx), "--input", str(w.vectors), "--output", str(w.file),
                   "--output_dirname", "x"], r"a_file.txt", lambda w, t: [w.file]),
    ("infer --output_dirname escapes --output", infer.main,
     lambda w, t: ["--model", str(w.gan_onnx), "--input", str(w.vectors), "--output", str(t / "res"),
                   "--output_dirname", "../escaped"], r"--output_dirname '../escaped'", lambda w, t: [t / "res", t / "escaped"]),
    ("infer wrong-size input", infer.main,
     lambda w, t: ["--model", str(w.gan_onnx), "--input", str(w.dcgan_result), "--output", str(t / "res")],
     r"noise_0000_0.bin: 4096 bytes", lambda w, t: [t / "res"]),
    ("simplify output is a folder", simplify.main,
     lambda w, t: [str(w.gan_onnx), str(w.noise), "--input-shape", "Z:1,100"], r"prep_dataset: is a folder",
     lambda w, t: [w.noise]),
    ("simplify unknown input name", simplify.main,
     lambda w, t: [str(w.gan_onnx), str(t / "s.onnx"), "--input-shape", "noise:4,100"],
     r"gan.onnx: has no input named 'noise'", lambda w, t: [t / "s.onnx"]),
    ("driver --param num=abc", driver.main,
     lambda w, t: ["DCGAN", "--workdir", str(t / "work"), "--param", "num=abc"], r"--param 'num=abc': num takes int values", lambda w, t: [t / "work"]),
    ("driver --workdir is a file", driver.main,
     lambda w, t: ["DCGAN", "--workdir", str(w.file)], r"a_file.txt", lambda w, t: [w.file]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_touches_nothing(case, world, tmp_path, capsys):
    _, main, argv, expected, watched = case
    args = [str(a) for a in argv(world, tmp_path)]
    before = digest(watched(world, tmp_path))
    capsys.readouterr()
    try:
        status = cli.run(main, args)
    except SystemExit as stop:  # argparse's errors, as `python3 script.py` ends on them
        status = stop.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err
    assert re.search(expected, errors[0]), errors[0]
    assert digest(watched(world, tmp_path)) == before


@pytest.mark.parametrize("script, argv", [
    (dcgan_preprocess.main, lambda w, t: [str(t / "prep")]),
    (GAN_preprocess.main, lambda w, t: ["--offline_path", str(t / "prep")]),
    (dcgan_postprocess.main, lambda w, t: ["--benchmark_result_path", str(w.dcgan_result), "--save_path", str(t / "img")]),
    (infer.main, lambda w, t: ["--model", str(w.gan_onnx), "--input", str(w.vectors), "--output", str(t)]),
], ids=["dcgan_preprocess", "GAN_preprocess", "dcgan_postprocess", "infer"])
def test_read_only_output_folder(script, argv, world, readonly, capsys):
    before = digest([readonly])
    status = cli.run(script, argv(world, readonly))
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err and err.count("error:") == 1, err
    assert f"the folder {readonly} is read-only" in err, err
    assert digest([readonly]) == before
