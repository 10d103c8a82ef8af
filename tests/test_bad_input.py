"""Hostile input, table-driven: every README script given what a user gets wrong (missing, empty, wrong size,
corrupt, NaN/Inf, another model's output, an output path that is a file or under a file or read-only, one
path for two outputs, negative or absurd numbers).

Each case runs the script's real `main` in this process through `cli.run`, as `python3 script.py` does, and
asserts: exit status 2, a single `error:` line on stderr naming the file or option at fault, no traceback,
and every watched path (the outputs the step would write) exactly as it was before, hidden entries included.
"""
import hashlib
import json
import os
import re
import shlex
import shutil
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest

import biggan_cosine_acc
import biggan_eval_acc
import biggan_model
import biggan_postprocess
import biggan_preprocess
import clip_edit
import cyclegan_model
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
import dcgan_train_standin
import eval_acc as cyclegan_eval_acc
import GAN_eval_acc
import GAN_model
import GAN_postprocess
import GAN_preprocess
import GAN_pth2onnx
import GAN_train_standin
import GAN_txt2jpg
import gen_dataset_info
import pix2pixhd_postprocess
import pix2pixhd_preprocess
from common import cli, driver, fileio, infer, precision, simplify, work_folder
from common.errors import UserError
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
        self.biggan_result = root / "biggan_out" / "bs1"
        for i in range(2):
            fileio.write_array(self.biggan_result / f"input_{i:05d}_0.bin",
                               np.tanh(rng.standard_normal((1, 3, 128, 128))).astype(np.float32))
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
    ("dcgan_pth2onnx FIFO as checkpoint", dcgan_pth2onnx.main,
     lambda w, t: (os.mkfifo(t / "fifo.pth"), [str(t / "fifo.pth"), str(t / "d.onnx")])[-1],
     r"fifo.pth: not a regular file \(a FIFO, a device or a socket\); expected a checkpoint file",
     lambda w, t: [t / "d.onnx"]),
    ("dcgan_pth2onnx folder as checkpoint", dcgan_pth2onnx.main,
     lambda w, t: [str(w.noise), str(t / "d.onnx")], r"prep_dataset: a folder; expected a checkpoint file",
     lambda w, t: [t / "d.onnx"]),
    ("dcgan_pth2onnx output is a folder", dcgan_pth2onnx.main,
     lambda w, t: [str(w.dcgan_pth), str(w.noise)], r"prep_dataset: is a folder, a file was expected", lambda w, t: [w.noise]),
    ("dcgan_pth_result output is a file", dcgan_pth_result.main,
     lambda w, t: ["--checkpoint_path", str(w.dcgan_pth), "--dataset_path", str(w.noise), "--save_path", str(w.file)],
     r"a_file.txt: exists and is not a folder", lambda w, t: [w.file]),
    ("dcgan_pth_result empty input folder", dcgan_pth_result.main,
     lambda w, t: (t.joinpath("empty").mkdir(), ["--checkpoint_path", str(w.dcgan_pth), "--dataset_path",
                                                 str(t / "empty"), "--save_path", str(t / "ref")])[-1],
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
     r"v: given for two outputs \(--offline_path .* and --online_path\)", lambda w, t: [t / "v"]),
    ("GAN_preprocess pictures under a file", GAN_preprocess.main,
     lambda w, t: ["--offline_path", str(w.vectors), "--online_path", str(w.file / "img"), "--pth_path", str(w.gan_pth),
                   "--seed", "5"],
     r"a_file.txt/img: cannot write", lambda w, t: [w.vectors]),
    ("GAN_preprocess --iters 0", GAN_preprocess.main,
     lambda w, t: ["--offline_path", str(t / "v"), "--iters", "0"], r"--iters: 0 is not a positive",
     lambda w, t: [t / "v"]),
    ("GAN_postprocess NaN/Inf output", GAN_postprocess.main,
     lambda w, t: ["--txt_path", str(w.dcgan_nan), "--infer_results_path", str(t / "img")],
     r"noise_0000_0.bin: .*whole number|NaN or Inf", lambda w, t: [t / "img"]),
    ("GAN_txt2jpg corrupt text output", GAN_txt2jpg.main,
     lambda w, t: (t.joinpath("out").mkdir(), t.joinpath("out", "0_0.txt").write_text("1.0 2.0 x\n"),
                   ["--txt_path", str(t / "out"), "--infer_results_path", str(t / "img")])[-1],
     r"0_0.txt", lambda w, t: [t / "img"]),
    ("GAN_train_standin output is a folder", GAN_train_standin.main,
     lambda w, t: [str(w.noise)], r"prep_dataset: is a folder, a file was expected", lambda w, t: [w.noise]),
    ("dcgan_train_standin output under a file", dcgan_train_standin.main,
     lambda w, t: [str(w.file / "g.pth")], r"a_file.txt/g.pth: cannot write", lambda w, t: [w.file]),
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
     lambda w, t: (t.joinpath("empty").mkdir(), ["--model_path", str(w.text_pth), "--input", str(t / "empty"),
                                                 "--output", str(t / "ref")])[-1],
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
                   "--output_dirname", "../escaped"], r"--output_dirname: '../escaped' is not a bare name",
     lambda w, t: [t / "res", t / "escaped"]),
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


# --- Rule 3: no step writes over its own inputs -------------------------------------------------------------
# Every README script's path options as its parser declares them (cli.reads / reads_list against cli.writes /
# writes_into), each given a real path of the world; every output option is then set to each of its inputs in
# turn. The refusal comes before any work: exit 2, one line naming the path, every input as it was.

def declared(main):
    """{option: kind} of the path options the script's parser declares (positionals by their dest)."""
    module = sys.modules[main.__module__]
    return {(a.option_strings[0] if a.option_strings else a.dest): a.type.kind
            for a in module.build_parser()._actions if hasattr(a.type, "kind")}


def command_line(main, values, flags=()):
    """argv from {option or positional dest: value}: positionals first, in the parser's order."""
    actions = sys.modules[main.__module__].build_parser()._actions
    positional = [str(values[a.dest]) for a in actions if not a.option_strings and a.dest in values]
    options = [item for key, value in values.items() if key.startswith("-") for item in (key, str(value))]
    return positional + options + list(flags)


def cyclegan_split(w, t):
    return {"--src_path_testA": w.maps / "testA", "--save_pathTestA_dst": t / "A", "--src_path_testB": w.maps / "testB",
            "--save_pathTestB_dst": t / "B"}


def accuracy_outputs(t):
    return {"--json": t / "a.json", "--pictures": t / "pics", "--report": t / "a_report.html"}


# script -> (every declared path option with a value of the world, flags)
PATHS = {
    dcgan_preprocess.main: (lambda w, t: {"save_path": t / "prep"}, ()),
    dcgan_pth2onnx.main: (lambda w, t: {"pth": w.dcgan_pth, "onnx": t / "d.onnx"}, ()),
    dcgan_pth_result.main: (lambda w, t: {"--checkpoint_path": w.dcgan_pth, "--dataset_path": w.noise,
                                          "--save_path": t / "ref"}, ()),
    dcgan_postprocess.main: (lambda w, t: {"--benchmark_result_path": w.dcgan_result, "--save_path": t / "img"}, ()),
    dcgan_acc_eval.main: (lambda w, t: {"--pth_result_path": w.dcgan_result, "--om_result_path": w.dcgan_nan,
                                        "--log_save_name": t / "a.log", **accuracy_outputs(t)}, ()),
    GAN_preprocess.main: (lambda w, t: {"--offline_path": t / "v", "--online_path": t / "i", "--pth_path": w.gan_pth},
                          ()),
    GAN_pth2onnx.main: (lambda w, t: {"--input_file": w.gan_pth, "--output_file": t / "g.onnx"}, ()),
    GAN_pth_result.main: (lambda w, t: {"--pth_path": w.gan_pth, "--dataset_path": w.vectors, "--save_path": t / "r"},
                          ()),
    GAN_postprocess.main: (lambda w, t: {"--txt_path": w.gan_result, "--infer_results_path": t / "img"}, ()),
    GAN_eval_acc.main: (lambda w, t: {"--pth_result_path": w.gan_result, "--om_result_path": w.dcgan_result,
                                      "--log_save_name": t / "a.log", **accuracy_outputs(t)}, ()),
    biggan_preprocess.main: (lambda w, t: {"--pth": w.biggan_pth, "--prep-noise": t / "n", "--prep-label": t / "l",
                                           "--gen-y": t / "y.npz"}, ()),
    biggan_pth2onnx.main: (lambda w, t: {"--source": w.biggan_pth, "--target": t / "b.onnx"}, ()),
    clip_edit.main: (lambda w, t: {"--input-model": w.gan_onnx, "--output-model": t / "e.onnx"}, ()),
    biggan_pth_result.main: (lambda w, t: {"--pth": w.biggan_pth, "--input": f"{w.biggan / 'prep_noise'},"
                                           f"{w.biggan / 'prep_label'}", "--output": t / "ref"}, ()),
    biggan_postprocess.main: (lambda w, t: {"--result-path": w.biggan_nan, "--save-path": t / "pp",
                                            "--gen-img": t / "g.npz"}, ("--save-img", "--save-npz")),
    biggan_eval_acc.main: (lambda w, t: {"--gen-img": w.nan_npz, "--gen-y": w.biggan / "gen_y.npz",
                                         "--inception-weights": w.text_pth, "--moments": w.nan_npz, "--log": t / "a.log",
                                         "--json": t / "a.json", "--report": t / "a_report.html",
                                         "--cache": t / "cache"}, ()),
    biggan_cosine_acc.main: (lambda w, t: {"--reference": w.dcgan_result, "--result-path": w.dcgan_nan,
                                           "--log": t / "a.log", **accuracy_outputs(t)}, ()),
    CycleGAN_preprocess.main: (cyclegan_split, ()),
    gen_dataset_info.main: (lambda w, t: {**cyclegan_split(w, t), "--dataTestA_infoName": t / "a.info",
                                          "--dataTestB_infoName": t / "b.info"}, ()),
    CycleGAN_pth2onnx.main: (lambda w, t: {"--model_ga_path": w.text_pth, "--model_gb_path": w.dcgan_pth,
                                           "--onnx_path": t / "onnx"}, ()),
    CycleGAN_pth_result.main: (lambda w, t: {"--model_path": w.text_pth, "--input": w.cyclegan_out / "testA",
                                             "--output": t / "ref"}, ()),
    CycleGAN_postprocess.main: (lambda w, t: {"--npu_bin_file": w.dcgan_result, "--bin2img_fie": t / "img",
                                              "--dataroot": w.maps / "testA"}, ()),
    CycleGAN_eval_acc.main: (lambda w, t: {"--pth_result": w.dcgan_result, "--npu_bin_file": w.dcgan_nan,
                                           "--out_dir": t / "acc", "--report": t / "a_report.html"}, ()),
    cyclegan_eval_acc.main: (lambda w, t: {"--dataroot": w.maps, "--npu_bin_file": w.dcgan_result,
                                           "--onnx_path": w.biggan, "--out_dir": t / "out",
                                           "--report": t / "a_report.html"}, ()),
    CycleGAN_aipp_preprocess.main: (lambda w, t: {"--info": w.file, "--aipp_config": w.text_pth,
                                                  "--save_path": t / "aipp"}, ()),
    datasets_deal.main: (lambda w, t: {"test_inst": t / "inst", "test_label": t / "label", "split_dir": w.split}, ()),
    pix2pixhd_preprocess.main: (lambda w, t: {"dataset_dir": w.dataset, "save_dir": t / "prep"}, ()),
    pix2pixhd_pth2onnx.main: (lambda w, t: {"--load_pretrain": w.text_pth, "--output_file": t / "p.onnx"}, ()),
    pix2pixhd_postprocess.main: (lambda w, t: {"bin_dir": w.dcgan_result, "save_dir": t / "img"}, ()),
    pix2pixhd_eval_acc.main: (lambda w, t: {"--load_pretrain": w.text_pth, "--input": f"{w.noise},{w.vectors}",
                                            "--result": w.dcgan_result, "--pth_result": t / "ref", "--log": t / "a.log",
                                            **accuracy_outputs(t)}, ()),
    infer.main: (lambda w, t: {"--model": w.gan_onnx, "--input": w.vectors, "--output": t / "res"}, ()),
    simplify.main: (lambda w, t: {"src": w.gan_onnx, "dst": t / "s.onnx"}, ()),
    precision.main: (lambda w, t: {"--model": w.gan_onnx, "--input": w.vectors, "--keep_dtype": w.file,
                                   "--keep_dtype_out": t / "k.cfg", "--report": t / "p.json",
                                   "--save_emulated": t / "e.onnx"}, ()),
    driver.main: (lambda w, t: {"--workdir": t / "work", "--checkpoint": w.dcgan_pth}, ()),
}


def over_input_cases():
    cases = []
    for main, (paths, flags) in PATHS.items():
        kinds = declared(main)
        for out in (o for o, kind in kinds.items() if kind in ("writes", "writes_into")):
            for given in (i for i, kind in kinds.items() if kind in ("reads", "reads_list")):
                cases.append(pytest.param(main, out, given, id=f"{main.__module__} {out}={given}"))
    return cases


def test_every_declared_path_option_is_in_the_table(world, tmp_path):
    """A new path option of a README script joins the cases below (its parser declares it, the table gives it)."""
    for main, (paths, _) in PATHS.items():
        assert set(declared(main)) == set(paths(world, tmp_path)), main.__module__


@pytest.mark.parametrize("main, out, given", over_input_cases())
def test_no_output_over_an_input(main, out, given, world, tmp_path, capsys):
    paths, flags = PATHS[main]
    for each in str(paths(world, tmp_path)[given]).split(","):  # every folder of a comma list
        values = paths(world, tmp_path)
        values[out] = each
        watched = [Path(p) for value in values.values() for p in str(value).split(",")]
        before = digest(watched)
        try:
            status = cli.run(main, command_line(main, values, flags))
        except SystemExit as stop:
            status = stop.code
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert status == 2 and len(errors) == 1 and "Traceback" not in err, err
        assert errors[0].startswith(f"error: {each}: {out} ")
        assert re.search(r"is also the input|holds the input|is inside the input folder", errors[0]), errors[0]
        assert digest(watched) == before


# Outputs a script derives from its options, over an input (the script compares them itself, before any work)
DERIVED = [
    ("infer --output_dirname names the input folder", infer.main,
     lambda w, t: ["--model", w.gan_onnx, "--input", w.vectors, "--output", w.vectors.parent, "--output_dirname",
                   w.vectors.name], r"vectors: --output_dirname is also the input .*vectors \(--input\)"),
    ("infer --output inside the input folder", infer.main,
     lambda w, t: ["--model", w.gan_onnx, "--input", w.vectors, "--output", w.vectors, "--output_dirname", "bs1"],
     r"vectors: --output is also the input"),
    ("ReflectpadDeal --output_ga_name is G_A's source", CycleGAN_ReflectpadDeal.main,
     lambda w, t: ["--onnx_path", w.root, "--model_ga_onnx_name", w.gan_onnx.name, "--model_gb_onnx_name", "b.onnx",
                   "--output_ga_name", w.gan_onnx.name], r"gan.onnx: --output_ga_name is also the input"),
    ("ReflectpadDeal --output_gb_name is G_A's source", CycleGAN_ReflectpadDeal.main,
     lambda w, t: ["--onnx_path", w.root, "--model_ga_onnx_name", w.gan_onnx.name, "--model_gb_onnx_name", "b.onnx",
                   "--output_gb_name", w.gan_onnx.name], r"gan.onnx: --output_gb_name is also the input"),
    ("CycleGAN_pth2onnx ONNX name is a checkpoint", CycleGAN_pth2onnx.main,
     lambda w, t: ["--model_ga_path", w.text_pth, "--model_gb_path", w.dcgan_pth, "--onnx_path", w.root,
                   "--model_ga_onnx_name", w.dcgan_pth.name], r"dcgan.pth: --model_ga_onnx_name is also the input"),
    ("precision readable report named as the model", precision.main,
     lambda w, t: (shutil.copy(w.gan_onnx, t / "m_report.html"),
                   ["--model", t / "m_report.html", "--report", t / "m.json"])[-1],
     r"m_report.html: --report is also the input"),
    ("biggan_postprocess default npz is the result folder", biggan_postprocess.main,
     lambda w, t: (shutil.copytree(w.biggan_nan, t / "gen_img_bs1.npz"),
                   ["--result-path", "gen_img_bs1.npz", "--save-path", "pp", "--save-npz"])[-1],
     r"gen_img_bs1.npz: --gen-img is also the input"),
    ("biggan_eval_acc default log is the images npz", biggan_eval_acc.main,
     lambda w, t: (shutil.copy(w.nan_npz, t / "biggan_acc_eval_bs1.log"),
                   ["--gen-img", "biggan_acc_eval_bs1.log", "--gen-y", w.biggan / "gen_y.npz"])[-1],
     r"biggan_acc_eval_bs1.log: --log is also the input"),
    ("driver checkpoint inside the work folder it rebuilds", driver.main,
     lambda w, t: (work_folder.prepare_workdir(t / "work", driver.find_model_folder("DCGAN")),
                   shutil.copy(w.dcgan_pth, t / "work" / "DCGAN" / "my_weights.pth"),
                   ["DCGAN", "--workdir", t / "work", "--checkpoint", t / "work" / "DCGAN" / "my_weights.pth"])[-1],
     r"work: --workdir holds the input .*my_weights.pth \(--checkpoint\)"),
]


@pytest.mark.parametrize("case", DERIVED, ids=[c[0] for c in DERIVED])
def test_no_derived_output_over_an_input(case, world, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, main, argv, expected = case
    args = [str(a) for a in argv(world, tmp_path)]  # may make what the case needs in tmp_path
    before = digest([world.root, tmp_path])
    status = cli.run(main, args)
    err = capsys.readouterr().err
    assert status == 2 and err.count("error:") == 1 and "Traceback" not in err, err
    assert re.search(expected, err), err
    assert digest([world.root, tmp_path]) == before


# --- Rule 4: every option range-checked before any work -----------------------------------------------------
# From every script's parser: each option of a checked type given values outside its range.
OUT_OF_RANGE = {cli.cosine_threshold: ["-1", "nan", "2", "0", "x"], cli.tolerance: ["-1", "nan", "inf"],
                cli.positive_int: ["0", "-1", "1.5"], cli.non_negative_int: ["-1"], cli.seed: ["-1", "4294967296"],
                cli.file_name: ["a/b", "..", ""]}


def range_cases():
    from test_cli import SCRIPTS, load_parser

    cases = []
    for path in SCRIPTS:
        for action in load_parser(path)._actions:
            for value in OUT_OF_RANGE.get(action.type, ()):
                if action.option_strings:
                    cases.append(pytest.param(path, action.option_strings[0], value,
                                              id=f"{path.name} {action.option_strings[0]} {value}"))
    return cases


def test_thresholds_and_tolerances_are_typed():
    """Every --threshold of a README script is a cosine bar and every --atol a tolerance: none is a bare float."""
    from test_cli import SCRIPTS, load_parser

    for path in SCRIPTS:
        for action in load_parser(path)._actions:
            if "threshold" in action.dest:
                assert action.type is cli.cosine_threshold, (path.name, action.dest)
            if action.dest.endswith("atol"):
                assert action.type is cli.tolerance, (path.name, action.dest)


@pytest.mark.parametrize("path, option, value", range_cases())
def test_option_out_of_range_is_one_line(path, option, value, capsys):
    from test_cli import load_parser

    with pytest.raises(SystemExit) as stop:
        load_parser(path).parse_args([f"{option}={value}"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and err.startswith("error: ")
    assert f"argument {option}" in err and "Traceback" not in err


# --- Rules 1 and 2: a step touches only what it can prove it made --------------------------------------------
# Hidden files of every shape the old machinery carried out (commit journals naming absolute and `..` paths,
# dead-pid temporaries), a person's look-alikes, and staging-shaped links and files, planted in and beside
# every folder a step reads or writes, all pointing at a canary tree elsewhere. The step runs as usual; the
# canary and every planted entry stay byte-identical. A real finished run's staging folder is removed only from
# the folders the step writes, never from one it only reads.

def plant(folder, canary):
    """Plant the hostile set in `folder`; returns the planted paths and the finished run's staging folder."""
    staging_name = ".ganzoo-staging-{}".format
    journal = {"run": "x", "moves": [[str(canary / "file.txt"), str(folder / "moved"), str(canary / "dir")]],
               "journals": [str(canary / "file.txt")]}
    planted = []

    def add(name, make):
        path = folder / name
        make(path)
        planted.append(path)
    add(".prep_noise.commit-999999", lambda p: p.write_text(json.dumps(journal)))
    add(".x.commit-1", lambda p: p.write_text(json.dumps({"moves": [["../canary/file.txt", "stolen", "../canary"]],
                                                          "journals": ["../canary/file.txt"]})))
    add(".photos.old-31337", lambda p: (p.mkdir(), (p / "a.jpg").write_bytes(b"photo")))
    add(".thesis.tex.tmp-2024", lambda p: p.write_text("chapter 1"))
    add(".result.partial-1", lambda p: os.symlink(canary, p))
    add(".prep_noise.run", lambda p: p.write_text(json.dumps({"run": "r", "step": "s", "parts": [str(canary)]})))
    add(staging_name("a" * 32), lambda p: os.symlink(canary, p))  # a link named like a staging folder
    add(staging_name("b" * 32), lambda p: p.write_text("a file named like a staging folder"))
    add(staging_name("c" * 32), lambda p: (p.mkdir(), os.symlink(canary / "file.txt", p / "lock")))
    add(staging_name("not-a-token"), lambda p: (p.mkdir(), (p / "lock").write_text("")))
    finished = folder / staging_name("d" * 32)  # what a run killed before its cleanup leaves
    finished.mkdir()
    (finished / "lock").write_text("")
    (finished / "new").mkdir()
    return planted, finished


def make_canary(root):
    (root / "dir").mkdir(parents=True)
    (root / "file.txt").write_text("keep me")
    (root / "dir" / "inner.txt").write_text("keep me too")
    return root


# (step, argv(world, tmp), the folders it writes in (the rest of the folders of its paths it only reads))
RUNS = [
    ("dcgan_preprocess", dcgan_preprocess.main, lambda w, t: [t / "out" / "prep", "--num", "2"], ["out"]),
    ("dcgan_pth_result", dcgan_pth_result.main,
     lambda w, t: ["--checkpoint_path", w.dcgan_pth, "--dataset_path", w.noise, "--save_path", t / "out" / "ref"],
     ["out"]),
    ("dcgan_postprocess", dcgan_postprocess.main,
     lambda w, t: ["--benchmark_result_path", w.dcgan_result, "--save_path", t / "out" / "img"], ["out"]),
    ("dcgan_acc_eval", dcgan_acc_eval.main,
     lambda w, t: ["--pth_result_path", w.dcgan_result, "--om_result_path", w.dcgan_result, "--log_save_name",
                   t / "out" / "a.log", "--pictures", t / "out" / "pics"], ["out"]),
    ("GAN_pth_result", GAN_pth_result.main,
     lambda w, t: ["--pth_path", w.gan_pth, "--dataset_path", w.vectors, "--save_path", t / "out" / "ref"], ["out"]),
    ("GAN_postprocess", GAN_postprocess.main,
     lambda w, t: ["--txt_path", w.gan_result, "--infer_results_path", t / "out" / "img"], ["out"]),
    ("biggan_preprocess", biggan_preprocess.main,
     lambda w, t: ["--pth", w.biggan_pth, "--prep-noise", t / "out" / "n", "--prep-label", t / "out" / "l",
                   "--gen-y", t / "out" / "y.npz", "--num-inputs", "2"], ["out"]),
    ("biggan_postprocess", biggan_postprocess.main,
     lambda w, t: ["--result-path", w.biggan_result, "--save-path", t / "out", "--save-img", "--save-npz",
                   "--gen-img", t / "out" / "g.npz"], ["out"]),
    ("biggan_cosine_acc", biggan_cosine_acc.main,
     lambda w, t: ["--reference", w.biggan_result, "--result-path", w.biggan_result, "--log", t / "out" / "c.log",
                   "--json", t / "out" / "c.json", "--pictures", t / "out" / "pics"], ["out"]),
    ("clip_edit", clip_edit.main, lambda w, t: ["--input-model", w.gan_onnx, "--output-model", t / "out" / "e.onnx"],
     ["out"]),
    ("infer", infer.main, lambda w, t: ["--model", w.gan_onnx, "--input", w.vectors, "--output", t / "out",
                                        "--output_dirname", "bs64"], ["out"]),
    ("simplify", simplify.main, lambda w, t: [w.gan_onnx, t / "out" / "s.onnx", "--input-shape", "Z:1,100"], ["out"]),
    ("precision", precision.main, lambda w, t: ["--model", w.gan_onnx, "--input", w.vectors, "--num", "4",
                                                "--report", t / "out" / "p.json"], ["out"]),
    ("CycleGAN_preprocess", CycleGAN_preprocess.main, lambda w, t: w.cyclegan_argv(w.maps, t / "out"), ["out"]),
    ("datasets_deal", datasets_deal.main,
     lambda w, t: [t / "out" / "inst", t / "out" / "label", w.split], ["out"]),
    ("pix2pixhd_preprocess", pix2pixhd_preprocess.main, lambda w, t: [w.dataset, t / "out" / "prep"], ["out"]),
]


@pytest.mark.parametrize("case", RUNS, ids=[c[0] for c in RUNS])
def test_found_files_are_never_carried_out_nor_removed(case, world, tmp_path, capsys):
    _, main, argv, written = case
    args = [str(a) for a in argv(world, tmp_path)]
    canary = make_canary(tmp_path / "canary")
    written = {tmp_path / name for name in written}
    for folder in written:
        folder.mkdir(parents=True, exist_ok=True)
    # every folder the step's paths name or lie in: the written ones, the inputs and the folders holding them
    paths = [Path(a) for arg in args for a in arg.split(",") if os.sep in a]
    folders = {p for p in paths if p.is_dir()} | {p.parent for p in paths} | written
    folders = {f for f in folders if f.is_dir() and not any(f == o or o in f.parents for o in map(Path, args)
                                                             if o.parent in written)}  # not inside an output
    planted, finished = {}, {}
    try:
        for folder in folders:
            planted[folder], finished[folder] = plant(folder, canary)
        before = digest([canary]), {f: digest(p) for f, p in planted.items()}
        assert cli.run(main, args) == 0, capsys.readouterr().err
        assert digest([canary]) == before[0]
        for folder, paths_in in planted.items():
            assert digest(paths_in) == before[1][folder], folder
            assert all(os.path.lexists(p) for p in paths_in), folder
            # a finished run's staging folder: removed where the step writes, left where it only reads
            assert finished[folder].exists() == (folder not in written), folder
    finally:
        for folder in folders:
            for path in planted.get(folder, []) + [finished.get(folder)]:
                if path is not None and os.path.lexists(path):
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink()


# --- Rule 5: inputs are what they claim; rules 4, 6, 7 and 8: sizes, the driver, precision, disk errors -------

def odd_inputs(w, t, odd):
    """A copy of the GAN vectors with one odd entry among them."""
    folder = t / "vectors"
    shutil.copytree(w.vectors, folder)
    if odd == "fifo":
        os.mkfifo(folder / "5.bin")
    elif odd == "device":
        os.symlink("/dev/zero", folder / "5.bin")
    elif odd == "folder":
        (folder / "5.bin").mkdir()
    elif odd == "stems":
        shutil.copy(folder / "0.bin", folder / "0.v2.bin")
    elif odd == "name":
        shutil.copy(folder / "0.bin", os.fsdecode(bytes(folder) + b"/\xff.bin"))
    return folder


ODD = [
    ("infer FIFO among the inputs", infer.main, "fifo", lambda w, t, i: ["--model", w.gan_onnx, "--input", i,
                                                                          "--output", t / "res"],
     r"5.bin: not a regular file"),
    ("infer link to /dev/zero among the inputs", infer.main, "device",
     lambda w, t, i: ["--model", w.gan_onnx, "--input", i, "--output", t / "res"], r"5.bin: not a regular file"),
    ("infer folder named .bin among the inputs", infer.main, "folder",
     lambda w, t, i: ["--model", w.gan_onnx, "--input", i, "--output", t / "res"], r"5.bin: a folder, where"),
    ("infer inputs whose outputs share a name", infer.main, "stems",
     lambda w, t, i: ["--model", w.gan_onnx, "--input", i, "--output", t / "res"],
     r"0.v2.bin: would be written as 0_<i>.<ext> like 0.bin"),
    ("infer a file name that is not UTF-8", infer.main, "name",
     lambda w, t, i: ["--model", w.gan_onnx, "--input", i, "--output", t / "res"], r"\ufffd.bin: the file name is not"),
    ("pth_result FIFO among the inputs", GAN_pth_result.main, "fifo",
     lambda w, t, i: ["--pth_path", w.gan_pth, "--dataset_path", i, "--save_path", t / "res"], r"5.bin: not a regular"),
    ("accuracy a file name that is not UTF-8", GAN_eval_acc.main, "name",
     lambda w, t, i: ["--pth_result_path", i, "--om_result_path", i, "--log_save_name", t / "res" / "a.log"],
     r"\ufffd.bin: the file name is not valid UTF-8"),
    ("precision FIFO among the inputs", precision.main, "fifo",
     lambda w, t, i: ["--model", w.gan_onnx, "--input", i, "--report", t / "res" / "p.json"], r"5.bin: not a regular"),
]


@pytest.mark.parametrize("case", ODD, ids=[c[0] for c in ODD])
def test_odd_inputs_are_refused_never_skipped(case, world, tmp_path, capsys):
    _, main, odd, argv, expected = case
    folder = odd_inputs(world, tmp_path, odd)
    status = cli.run(main, [str(a) for a in argv(world, tmp_path, folder)])
    err = capsys.readouterr().err
    assert status == 2 and err.count("error:") == 1 and "Traceback" not in err, err
    assert re.search(expected, err), err
    assert not (tmp_path / "res").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["vectors"]


ABSURD = [
    ("infer --batchsize 10^9", infer.main, lambda w, t: ["--model", w.gan_onnx, "--input", w.vectors, "--output",
                                                          t / "res", "--batchsize", "1000000000"],
     r"a batch of 1000000000 \(--batchsize\) needs .* of memory"),
    ("infer --loop 10^12", infer.main, lambda w, t: ["--model", w.gan_onnx, "--input", w.vectors, "--output", t / "res",
                                                      "--loop", "1000000000000"], r"--loop 1000000000000 over .* needs"),
    ("precision --batchsize 10^9", precision.main,
     lambda w, t: ["--model", w.gan_onnx, "--batchsize", "1000000000", "--report", t / "res" / "p.json"],
     r"a batch of 1000000000 \(--batchsize\) needs"),
    ("simplify --input-shape 10^9 samples", simplify.main,
     lambda w, t: [w.gan_onnx, t / "res" / "s.onnx", "--input-shape", "Z:1000000000,100"],
     r"--input-shape Z:1000000000,100 needs .* of memory"),
    ("precision binary --keep_dtype", precision.main,
     lambda w, t: ["--model", w.gan_onnx, "--keep_dtype", w.gan_pth, "--report", t / "res" / "p.json"],
     r"gan.pth: not a text file; expected a --keep_dtype list"),
    ("driver work folder holding a person's file", driver.main,
     lambda w, t: ((t / "mine").mkdir(), (t / "mine" / ".driver-workdir").write_text(""),
                   (t / "mine" / "thesis.tex").write_text("chapter 1"),
                   ["DCGAN", "--workdir", t / "mine"])[-1],
     r"mine: holds 'thesis.tex', which the driver did not make"),
]


@pytest.mark.parametrize("case", ABSURD, ids=[c[0] for c in ABSURD])
def test_absurd_requests_are_refused_before_any_work(case, world, tmp_path, capsys):
    _, main, argv, expected = case
    args = [str(a) for a in argv(world, tmp_path)]
    before = digest([tmp_path, world.root])
    status = cli.run(main, args)
    err = capsys.readouterr().err
    assert status == 2 and err.count("error:") == 1 and "Traceback" not in err, err
    assert re.search(expected, err), err
    assert digest([tmp_path, world.root]) == before


def test_precision_names_a_fp32_model_that_is_not_finite(tmp_path, capsys):
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Sqrt", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), str(tmp_path / "sqrt.onnx"))
    status = cli.run(precision.main, ["--model", str(tmp_path / "sqrt.onnx"), "--report", str(tmp_path / "p.json")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("error:") == 1
    assert "sqrt.onnx: output 'y' of the fp32 model holds NaN or Inf" in err and "not finite" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sqrt.onnx"]


@pytest.fixture
def full_disk(tmp_path):
    """A 96 KiB file system, for root a tmpfs (skipped where it cannot be mounted)."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(folder)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small file system here")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_names_the_output_and_keeps_nothing(world, full_disk, capsys):
    """The precision run's JSON fits, its PNG sheet does not: the error names the output, and none of the set
    (keep list, JSON, HTML, PNG) is left, nor any staging folder."""
    status = cli.run(precision.main, ["--model", str(world.gan_onnx), "--input", str(world.vectors), "--num", "64",
                                      "--report", str(full_disk / "p.json")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("error:") == 1 and "Traceback" not in err, err
    assert re.search(r"error: .*small/p(_report\.(html|png)|\.json): cannot write: no space left on the device", err)
    assert sorted(os.listdir(full_disk)) == []


# --- Issue 23, rule 6: every integer option has a range that fits the arithmetic ------------------------------
# From every script's parser: each whole-number option (a cli.ranged_int type, which carries its bounds: counts,
# seeds, opsets, warm-up runs) given values past them: one past the top, 2**62 (an int64 product of it wraps to
# 0), 400 digits, 5,000 digits (more than Python converts), 400 negative digits, one below the bottom.

def whole_number_options():
    from test_cli import SCRIPTS, load_parser

    return [(path, action) for path in SCRIPTS for action in load_parser(path)._actions if action.option_strings]


def absurd_integer_cases():
    cases = []
    for path, action in whole_number_options():
        if getattr(action.type, "bounds", None) is None:
            continue
        low, high = action.type.bounds
        for value in (str(high + 1), str(2 ** 62), "9" * 400, "9" * 5000, "-" + "9" * 400, str(low - 1)):
            cases.append(pytest.param(path, action.option_strings[0], value,
                                      id=f"{path.name} {action.option_strings[0]} {value[:16]}"))
    return cases


def test_no_integer_option_is_unbounded():
    """A bare type=int takes 400 digits; every whole-number option is a cli.ranged_int (or built on one)."""
    from test_cli import SCRIPTS

    bare = [(path.name, action.option_strings[0]) for path, action in whole_number_options() if action.type is int]
    assert bare == []
    bounded = {(path.name, action.option_strings[0]) for path, action in whole_number_options()
               if getattr(action.type, "bounds", None)}
    assert {("infer.py", "--warmup_count"), ("dcgan_pth2onnx.py", "--opset"), ("precision.py", "--num")} <= bounded
    assert len(absurd_integer_cases()) >= 6 * 60 and len(SCRIPTS) >= 40


@pytest.mark.parametrize("path, option, value", absurd_integer_cases())
def test_absurd_integer_is_one_line(path, option, value, capsys):
    from test_cli import load_parser

    with pytest.raises(SystemExit) as stop:
        load_parser(path).parse_args([f"{option}={value}"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert f"argument {option}" in err and "Traceback" not in err
    assert re.search(r"is more than \d+|is far outside|is less than|is not a positive|is negative|is outside", err), err
    assert len(err) < 300  # a 5,000-digit number is named by its length


def static_model(path, dims):
    """An ONNX model whose one input has the static shape `dims` (a file of a few hundred bytes)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), str(path))
    return path


# The largest values the options accept, and models whose shapes multiply past int64: each product is computed in
# Python integers and checked against the memory or the disk before anything is allocated or written.
TOP = str(cli.MAX_COUNT)
ACCEPTED_EXTREMES = [
    ("infer --batchsize 10^12", infer.main, lambda w, t: ["--model", w.gan_onnx, "--input", w.vectors, "--output",
                                                           t / "res", "--batchsize", TOP],
     rf"a batch of {TOP} \(--batchsize\) needs .* of memory"),
    ("infer model of 2^32 x 2^32", infer.main,
     lambda w, t: ["--model", static_model(t / "big.onnx", [2 ** 32, 2 ** 32]), "--output", t / "res"],
     r"a batch of 4294967296 \(the shapes the model states\) needs .* of memory"),
    ("infer --loop 10^12 --warmup_count 1000", infer.main,
     lambda w, t: ["--model", w.gan_onnx, "--input", w.vectors, "--output", t / "res", "--loop", TOP,
                   "--warmup_count", "1000"], rf"--loop {TOP} over 1 batch\(es\) needs"),
    ("precision --num 10^9", precision.main,
     lambda w, t: ["--model", w.gan_onnx, "--num", "1000000000", "--report", t / "res" / "p.json"],
     r"--num 1000000000 \(1000000000 batch\(es\) of 1\) needs .* of memory"),
    ("precision --num 10^12 --batchsize 10^12", precision.main,
     lambda w, t: ["--model", w.gan_onnx, "--num", TOP, "--batchsize", TOP, "--report", t / "res" / "p.json"],
     rf"a batch of {TOP} \(--batchsize\) needs"),
    ("precision --num 10^12 over input files", precision.main,
     lambda w, t: ["--model", w.gan_onnx, "--input", w.vectors, "--num", TOP, "--batchsize", "64",
                   "--report", t / "res" / "p.json", "--no_triage"], None),
    ("precision model of 2^32 x 2^32", precision.main,
     lambda w, t: ["--model", static_model(t / "big.onnx", [2 ** 32, 2 ** 32]), "--report", t / "res" / "p.json"],
     r"a batch of 4294967296 .* needs"),
    ("simplify --input-shape 10^12 x 10^12", simplify.main,
     lambda w, t: [w.gan_onnx, t / "res" / "s.onnx", "--input-shape", f"Z:{TOP},{TOP}"],
     rf"--input-shape Z:{TOP},{TOP} needs .* of memory"),
    ("simplify --input-shape past 10^12", simplify.main,
     lambda w, t: [w.gan_onnx, t / "res" / "s.onnx", "--input-shape", "Z:" + "9" * 400 + ",100"],
     r"--input-shape Z '9999.*characters\): expected positive comma-separated integers up to 1000000000000"),
    ("dcgan_preprocess --num 10^12", dcgan_preprocess.main, lambda w, t: [t / "res", "--num", TOP],
     rf"--num {TOP} needs .* of output"),
    ("GAN_preprocess --iters 10^12 --batch_size 10^12", GAN_preprocess.main,
     lambda w, t: ["--offline_path", t / "res", "--iters", TOP, "--batch_size", TOP],
     rf"--iters {TOP} --batch_size {TOP} needs"),
    ("biggan_preprocess --num-inputs 10^12 --batch-size 10^12", biggan_preprocess.main,
     lambda w, t: ["--pth", w.biggan_pth, "--prep-noise", t / "res" / "n", "--prep-label", t / "res" / "l",
                   "--gen-y", t / "res" / "y.npz", "--num-inputs", TOP, "--batch-size", TOP],
     rf"--num-inputs {TOP} needs"),
    ("pix2pixhd_postprocess --height 10^12 --width 10^12", pix2pixhd_postprocess.main,
     lambda w, t: [w.dcgan_result, t / "res", "--height", "999999999968", "--width", "999999999968"],
     r"noise_0000_0.bin: .*bytes"),
]


@pytest.mark.parametrize("case", ACCEPTED_EXTREMES, ids=[c[0] for c in ACCEPTED_EXTREMES])
def test_accepted_extremes_fit_the_arithmetic(case, world, tmp_path, capsys):
    """Exit 2 with one line before any work (or, where the request is sound, the run as usual): no traceback,
    no int64 wrap, no allocation of what the line refuses."""
    _, main, argv, expected = case
    args = [str(a) for a in argv(world, tmp_path)]
    before = digest([world.root])
    status = cli.run(main, args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if expected is None:  # --num past the files: the files there are, as with any --num larger than them
        assert status == 0, err
    else:
        assert status == 2 and err.count("error:") == 1, err
        assert re.search(expected, err), err
        assert not (tmp_path / "res").exists()
    assert digest([world.root]) == before


# --- Issue 23, rule 6: sizes read from files are checked against memory before anything is allocated -----------
# Sparse files (os.truncate: 1 TiB that takes no disk) in every reader, .npy headers that claim more than the file
# holds, and JSON nested 200,000 deep. The sparse files are never read, so never digested here either: only the
# step's outputs are watched.
TIB = 2 ** 40


def sparse(path, size=TIB):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.truncate(path, size)
    return path


def npy_claiming(path, shape, size=None):
    """An .npy file whose header claims `shape` float32, holding nothing after it (or `size` sparse bytes)."""
    from numpy.lib import format as npformat

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        npformat.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": shape})
        header = handle.tell()
    if size is not None:
        os.truncate(path, header + size)
    return path


def result_with(t, name, make):
    """A result folder holding one DCGAN output file made by `make(path)`."""
    folder = t / "result" / "bs1"
    make(folder / name)
    return folder


def summary_beside(w, t, make):
    """A copy of the DCGAN outputs whose runner summary beside them is made by `make(path)`."""
    folder = t / "result" / "bs1"
    shutil.copytree(w.dcgan_result, folder)
    make(t / "result" / "bs1_summary.json")
    return folder


def aipp_info(t):
    (t / "a.info").write_text("0 x.jpg 256 256\n")
    return t / "a.info"


SIZE_IN = "needs .* of memory, and this machine has"
HUGE_FILES = [
    ("dcgan_postprocess 1 TiB .bin output", dcgan_postprocess.main,
     lambda w, t: ["--benchmark_result_path", result_with(t, "noise_0000_0.bin", sparse), "--save_path", t / "res"],
     rf"noise_0000_0.bin \(.bin file, 1099511627776 bytes\) {SIZE_IN}"),
    ("dcgan_postprocess .npy header of 10^14 values", dcgan_postprocess.main,
     lambda w, t: ["--benchmark_result_path", result_with(t, "noise_0000_0.npy", lambda p: npy_claiming(p, (10 ** 14,))),
                   "--save_path", t / "res"],
     r"noise_0000_0.npy: its header claims \(100000000000000,\) float32 \(400000000000000 bytes\) but it holds 0 bytes"),
    ("dcgan_postprocess 1 TiB .npy", dcgan_postprocess.main,
     lambda w, t: ["--benchmark_result_path",
                   result_with(t, "noise_0000_0.npy", lambda p: npy_claiming(p, (TIB // 4,), size=TIB)),
                   "--save_path", t / "res"],
     rf"noise_0000_0.npy \(.npy array, 1099511627776 bytes\) {SIZE_IN}"),
    ("GAN_txt2jpg 1 TiB .txt output", GAN_txt2jpg.main,
     lambda w, t: ["--txt_path", result_with(t, "0_0.txt", sparse), "--infer_results_path", t / "res"],
     rf"0_0.txt \(TXT output, 1099511627776 bytes\) {SIZE_IN}"),
    ("dcgan_postprocess 1 TiB run summary", dcgan_postprocess.main,
     lambda w, t: ["--benchmark_result_path", summary_beside(w, t, sparse), "--save_path", t / "res"],
     rf"bs1_summary.json \(run summary, 1099511627776 bytes\) {SIZE_IN}"),
    ("dcgan_postprocess run summary nested 200,000 deep", dcgan_postprocess.main,
     lambda w, t: ["--benchmark_result_path", summary_beside(w, t, lambda p: p.write_text("[" * 200000)),
                   "--save_path", t / "res"],
     r"bs1_summary.json: nested too deeply for a run summary"),
    ("infer .npy input of 10^14 values", infer.main,
     lambda w, t: ["--model", w.gan_onnx, "--input", npy_claiming(t / "in" / "0.npy", (10 ** 14,)).parent,
                   "--output", t / "res"], r"0.npy: its header claims \(100000000000000,\) float32"),
    ("precision 1 TiB keep list", precision.main,
     lambda w, t: ["--model", w.gan_onnx, "--keep_dtype", sparse(t / "keep.cfg"), "--report", t / "res" / "p.json"],
     rf"keep.cfg \(--keep_dtype list .*, 1099511627776 bytes\) {SIZE_IN}"),
    ("CycleGAN_aipp_preprocess 1 TiB .info", CycleGAN_aipp_preprocess.main,
     lambda w, t: ["--info", sparse(t / "a.info"), "--save_path", t / "res"],
     rf"a.info \(.info file .*, 1099511627776 bytes\) {SIZE_IN}"),
    ("CycleGAN_aipp_preprocess 1 TiB AIPP config", CycleGAN_aipp_preprocess.main,
     lambda w, t: ["--info", aipp_info(t), "--aipp_config", sparse(t / "aipp.config"), "--save_path", t / "res"],
     rf"aipp.config \(config file for ATC's AIPP, 1099511627776 bytes\) {SIZE_IN}"),
    ("driver 1 TiB record in its work folder", driver.main,
     lambda w, t: (work_folder.prepare_workdir(t / "res", driver.find_model_folder("DCGAN")),
                   sparse(t / "res" / work_folder.MARKER), ["DCGAN", "--workdir", t / "res"])[-1],
     r"res: holds 'DCGAN', which the driver did not make"),
]


@pytest.mark.parametrize("case", HUGE_FILES, ids=[c[0] for c in HUGE_FILES])
def test_huge_files_are_refused_before_they_are_read(case, world, tmp_path, capsys):
    _, main, argv, expected = case
    args = [str(a) for a in argv(world, tmp_path)]
    outputs = tmp_path / "res"
    before = sorted(os.listdir(outputs)) if outputs.is_dir() else None
    status = cli.run(main, args)
    err = capsys.readouterr().err
    assert status == 2 and err.count("error:") == 1 and "Traceback" not in err, err
    assert re.search(expected, err), err
    assert (sorted(os.listdir(outputs)) if outputs.is_dir() else None) == before


# --- Issue 23, rule 3: a file is a run record only if its content says so, and never when it is an input ------
# (id, main, argv(world, tmp) (run with tmp as the current folder), exit status, error line (regex) or None,
# paths that must stay byte-identical). Records are `.<output>.ganzoo-run` beside an output.

def person_file(path, text="my notes, not a record\n"):
    path.write_text(text)
    return path


RECORD_NAMED = [
    ("dcgan_pth2onnx checkpoint named as the output's record", dcgan_pth2onnx.main,
     lambda w, t: (shutil.copy(w.dcgan_pth, t / ".d.onnx.ganzoo-run"), ["./.d.onnx.ganzoo-run", "d.onnx"])[-1], 2,
     r"error: d.onnx: onnx would keep its run record .d.onnx.ganzoo-run where the input \./\.d\.onnx\.ganzoo-run "
     r"\(pth\) is", lambda w, t: [t / ".d.onnx.ganzoo-run", t / "d.onnx"]),
    ("dcgan_preprocess a person's file named as a record beside its output", dcgan_preprocess.main,
     lambda w, t: (person_file(t / ".prep.ganzoo-run"), ["prep", "--num", "2"])[-1], 0, None,
     lambda w, t: [t / ".prep.ganzoo-run"]),
    ("GAN_preprocess a person's file where its record goes", GAN_preprocess.main,
     lambda w, t: (person_file(t / ".v.ganzoo-run"), ["--offline_path", "v", "--iters", "1"])[-1], 2,
     r"error: \S*\.v\.ganzoo-run: not a run record, yet where this step keeps the record of v",
     lambda w, t: [t / ".v.ganzoo-run", t / "v"]),
    ("GAN_preprocess a JSON look-alike without the format field", GAN_preprocess.main,
     lambda w, t: (person_file(t / ".v.ganzoo-run", json.dumps({"run": "r", "step": "s", "parts": ["v"],
                                                                  "digest": "d"})), ["--offline_path", "v"])[-1], 2,
     r"error: \.v\.ganzoo-run: not a run record", lambda w, t: [t / ".v.ganzoo-run", t / "v"]),
    ("GAN_preprocess a FIFO where its record goes", GAN_preprocess.main,
     lambda w, t: (os.mkfifo(t / ".v.ganzoo-run"), ["--offline_path", "v"])[-1], 2,
     r"error: \.v\.ganzoo-run: not a run record", lambda w, t: [t / "v"]),
    ("GAN_pth2onnx a person's file named as a record beside its output", GAN_pth2onnx.main,
     lambda w, t: (person_file(t / ".g.onnx.ganzoo-run"), ["--input_file", w.gan_pth, "--output_file", "g.onnx"])[-1],
     0, None, lambda w, t: [t / ".g.onnx.ganzoo-run"]),
    ("infer per-device summary named as the model", infer.main,
     lambda w, t: ((t / "res").mkdir(), shutil.copy(w.gan_onnx, t / "res" / "bs_device_1_summary.json"),
                   ["--model", "res/bs_device_1_summary.json", "--input", w.vectors, "--output", "res",
                    "--output_dirname", "bs", "--device", "0,1", "--divide_input"])[-1], 2,
     r"error: res/bs_device_1_summary.json: --output_dirname is also the input", lambda w, t: [t / "res"]),
    ("infer summary named as the model", infer.main,
     lambda w, t: ((t / "res").mkdir(), shutil.copy(w.gan_onnx, t / "res" / "bs_summary.json"),
                   ["--model", "res/bs_summary.json", "--input", w.vectors, "--output", "res",
                    "--output_dirname", "bs"])[-1], 2,
     r"error: res/bs_summary.json: --output_dirname is also the input", lambda w, t: [t / "res"]),
]


@pytest.mark.parametrize("case", RECORD_NAMED, ids=[c[0] for c in RECORD_NAMED])
def test_a_record_is_known_by_its_content_never_by_its_name(case, world, tmp_path, capsys, monkeypatch):
    _, main, argv, expected_status, expected, watched = case
    monkeypatch.chdir(tmp_path)
    args = [str(a) for a in argv(world, tmp_path)]
    before = digest(watched(world, tmp_path))
    capsys.readouterr()
    status = cli.run(main, args)
    err = capsys.readouterr().err
    assert status == expected_status and "Traceback" not in err, err
    if expected is not None:
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and err.rstrip().endswith(errors[0]) and re.match(expected, errors[0]), err
    after = digest(watched(world, tmp_path))
    assert {k: v for k, v in after.items() if k in before} == before  # the person's files as they were
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ganzoo-staging-")]


def test_a_record_of_the_previous_format_is_replaced_and_refused_when_read(world, tmp_path, capsys):
    """Records written before the format field are still recognised by their exact fields: the step's next run
    replaces them; a reader asks for that run rather than trusting a digest it no longer computes."""
    argv = ["--offline_path", str(tmp_path / "v"), "--iters", "2", "--batch_size", "2"]
    assert GAN_preprocess.main(argv) == 0
    record = tmp_path / ".v.ganzoo-run"
    legacy = {"run": "r", "step": "GAN_preprocess.py", "written": "2024", "parts": ["v"], "digest": "0" * 64}
    record.write_text(json.dumps(legacy))
    assert cli.run(fileio.pair_by_position, [tmp_path / "v"]) == 2
    assert "a run record of an earlier version of GAN_preprocess.py; run that step again" in capsys.readouterr().err
    assert GAN_preprocess.main(argv) == 0
    assert json.loads(record.read_text())["format"] == "ganzoo-run/2"
    fileio.pair_by_position([tmp_path / "v"])


# --- Issue 23, rule 5: outputs are regular files or folders, or do not exist yet ----------------------------
# A device, a FIFO, a socket or a link to one given as an output (declared or derived) is refused before any
# work, and stays exactly what it was (type, device numbers, link target).

def node_state(path):
    info = os.lstat(path)
    return (stat.S_IFMT(info.st_mode), info.st_rdev, info.st_ino,
            os.readlink(path) if stat.S_ISLNK(info.st_mode) else None)


def make_socket(path):
    import socket

    sock, here = socket.socket(socket.AF_UNIX), os.getcwd()
    os.chdir(path.parent)  # a socket's path is limited to 107 bytes: bind by its bare name
    try:
        sock.bind(path.name)
    finally:
        os.chdir(here)
        sock.close()  # the socket file stays
    return path


def make_node(path):
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
    return path


# (id, main, argv(world, tmp, node), make the node at tmp / name, its name, error line (regex))
DEVICE_OUTPUTS = [
    ("dcgan_acc_eval --log_save_name /dev/null", dcgan_acc_eval.main,
     lambda w, t, n: ["--pth_result_path", w.dcgan_result, "--om_result_path", w.dcgan_result, "--log_save_name",
                      "/dev/null"], None, "/dev/null", r"error: /dev/null: is a character device"),
    ("dcgan_acc_eval --log_save_name a link to /dev/null", dcgan_acc_eval.main,
     lambda w, t, n: ["--pth_result_path", w.dcgan_result, "--om_result_path", w.dcgan_result, "--log_save_name", n],
     lambda p: os.symlink("/dev/null", p), "acc.log", r"error: \S*acc.log: is a character device \(through a link\)"),
    ("GAN_pth2onnx --output_file a FIFO", GAN_pth2onnx.main,
     lambda w, t, n: ["--input_file", w.gan_pth, "--output_file", n], os.mkfifo, "g.onnx", r"error: \S*g.onnx: is a FIFO"),
    ("GAN_pth2onnx --output_file a device node", GAN_pth2onnx.main,
     lambda w, t, n: ["--input_file", w.gan_pth, "--output_file", n], make_node, "g.onnx",
     r"error: \S*g.onnx: is a character device"),
    ("dcgan_preprocess output a socket", dcgan_preprocess.main, lambda w, t, n: [n, "--num", "2"], make_socket, "prep",
     r"error: \S*prep: is a socket"),
    ("precision --report a link to a FIFO", precision.main,
     lambda w, t, n: ["--model", w.gan_onnx, "--report", n],
     lambda p: (os.mkfifo(p.with_name("fifo")), os.symlink(p.with_name("fifo"), p)), "p.json",
     r"error: \S*p.json: is a FIFO \(through a link\)"),
    ("infer --output a FIFO", infer.main, lambda w, t, n: ["--model", w.gan_onnx, "--input", w.vectors, "--output", n],
     os.mkfifo, "res", r"error: \S*res: is a FIFO"),
    ("infer summary a FIFO", infer.main,
     lambda w, t, n: ["--model", w.gan_onnx, "--input", w.vectors, "--output", t, "--output_dirname", "bs"],
     os.mkfifo, "bs_summary.json", r"error: \S*bs_summary.json: is a FIFO"),
    ("infer per-device summary a link to /dev/null", infer.main,
     lambda w, t, n: ["--model", w.gan_onnx, "--input", w.vectors, "--output", t, "--output_dirname", "bs",
                      "--device", "0,1", "--divide_input"],
     lambda p: os.symlink("/dev/null", p), "bs_device_1_summary.json",
     r"error: \S*bs_device_1_summary.json: is a character device \(through a link\)"),
    ("simplify output a socket", simplify.main, lambda w, t, n: [w.gan_onnx, n, "--input-shape", "Z:1,100"],
     make_socket, "s.onnx", r"error: \S*s.onnx: is a socket"),
]


@pytest.mark.parametrize("case", DEVICE_OUTPUTS, ids=[c[0] for c in DEVICE_OUTPUTS])
def test_an_output_that_is_a_device_fifo_or_socket_is_refused_and_kept(case, world, tmp_path, capsys):
    _, main, argv, make, name, expected = case
    node = Path(name) if make is None else tmp_path / name
    if make is not None:
        make(node)
    state, listing = node_state(node), sorted(os.listdir(tmp_path))
    capsys.readouterr()
    status = cli.run(main, [str(a) for a in argv(world, tmp_path, node)])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert status == 2 and "Traceback" not in err and len(errors) == 1 and err.rstrip().endswith(errors[0]), err
    assert re.match(expected, errors[0]), errors[0]
    assert "an output must be a regular file, a folder or a new path" in errors[0]
    assert node_state(node) == state and sorted(os.listdir(tmp_path)) == listing


def test_an_output_linked_to_proc_self_fd_1_is_refused(world, tmp_path):
    """`--log_save_name out.log` where out.log links to /proc/self/fd/1, the script's stdout being a pipe."""
    link = tmp_path / "out.log"
    os.symlink("/proc/self/fd/1", link)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(root / "DCGAN" / "dcgan_acc_eval.py"), "--pth_result_path",
                           str(world.dcgan_result), "--om_result_path", str(world.dcgan_result), "--log_save_name",
                           str(link)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("error:") == 1, done.stderr
    assert re.match(rf"error: {re.escape(str(link))}: is a FIFO \(through a link\)", done.stderr), done.stderr
    assert os.readlink(link) == "/proc/self/fd/1" and sorted(os.listdir(tmp_path)) == ["out.log"]


# --- Issue 23, rule 9: staging never follows what it did not make -------------------------------------------
# Staging-named entries a step did not make, in the folder it writes: the step runs as usual, never opens their
# `lock`, and leaves them exactly as they were. A finished run's staging folder with a file system mounted
# inside is emptied up to the mount point, never into it.

def staging_impostor(folder, lock_kind):
    impostor = folder / f".ganzoo-staging-{'e' * 32}"
    impostor.mkdir()
    lock = impostor / "lock"
    if lock_kind == "character device":
        make_node(lock)
    elif lock_kind == "FIFO":
        os.mkfifo(lock)
    elif lock_kind == "socket":
        make_socket(lock)
    elif lock_kind == "folder":
        lock.mkdir()
    elif lock_kind == "another user's file":
        lock.write_text("")
        os.chown(lock, 65534, 65534)
    (impostor / "new").mkdir()
    (impostor / "new" / "thesis.tex").write_text("chapter 1")
    return impostor, lock


@pytest.mark.parametrize("lock_kind", ["character device", "FIFO", "socket", "folder", "another user's file"])
def test_a_staging_named_impostor_is_never_opened_nor_removed(lock_kind, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    if lock_kind == "another user's file" and os.geteuid() != 0:
        pytest.skip("chown needs root")
    impostor, lock = staging_impostor(out, lock_kind)
    before, lock_state = digest([impostor]), node_state(lock)
    opened, real_open = [], os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: (opened.append(os.fspath(path)), real_open(path, *a, **k))[1])
    assert cli.run(dcgan_preprocess.main, [str(out / "prep"), "--num", "2"]) == 0, capsys.readouterr().err
    monkeypatch.setattr(os, "open", real_open)
    assert str(lock) not in opened
    assert digest([impostor]) == before and node_state(lock) == lock_state
    assert sorted(p.name for p in out.iterdir()) == sorted([impostor.name, "prep"])


@pytest.fixture
def mounted(tmp_path):
    """Mount a small tmpfs at a path of the test's choosing; unmounted afterwards, pass or fail."""
    points = []

    def mount(point):
        point.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(point)],
                                               capture_output=True).returncode != 0:
            pytest.skip("cannot mount a file system here")
        points.append(point)
        return point
    yield mount
    for point in reversed(points):
        subprocess.run(["umount", str(point)], check=True)


@pytest.mark.parametrize("where", ["inside a finished staging folder", "on the staging folder itself"])
def test_staging_removal_never_crosses_a_mount_point(where, tmp_path, mounted, capsys):
    out = tmp_path / "out"
    finished = out / f".ganzoo-staging-{'f' * 32}"
    point = mounted(finished / "new" / "photos" if where.startswith("inside") else finished)
    (finished / "lock").write_text("")  # a finished run's: a regular lock nobody holds
    (point / "holiday.jpg").write_bytes(b"photo")
    (point / "album").mkdir()
    (point / "album" / "1.jpg").write_bytes(b"photo 1")
    before = digest([point])
    assert cli.run(dcgan_preprocess.main, [str(out / "prep"), "--num", "2"]) == 0, capsys.readouterr().err
    assert digest([point]) == before and os.path.ismount(point)
    assert (out / "prep").is_dir()


# --- Issue 23, rule 10: errors name what the person named, a full disk and no inodes left included ----------
# A small file system (size or inodes) for each writer: the run ends in exit 0 with its whole output, or in
# exit 2 with one line naming the output the person gave (never `.ganzoo-staging-<hex>/new/...`) and nothing of
# the run left there, no staging folder either.

@pytest.fixture
def small_fs(tmp_path):
    """mount(options) -> a fresh tmpfs folder with those options (size=, nr_inodes=); all unmounted after."""
    points = []

    def mount(options):
        point = tmp_path / f"small{len(points)}"
        point.mkdir()
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
                                               capture_output=True).returncode != 0:
            pytest.skip("cannot mount a small file system here")
        points.append(point)
        return point
    yield mount
    for point in points:
        subprocess.run(["umount", str(point)], check=True)


# (id, main, argv(world, folder), what the step writes there, the output named in the error (regex))
SMALL_WRITERS = [
    ("dcgan_preprocess", dcgan_preprocess.main, lambda w, s: [s / "prep", "--num", "3"], ["prep"],
     r"prep(/noise_000\d\.bin)?"),
    ("GAN_preprocess", GAN_preprocess.main, lambda w, s: ["--offline_path", s / "v", "--iters", "2", "--batch_size",
                                                          "4"], [".v.ganzoo-run", "v"], r"v(/\d\.bin)?|\.v\.ganzoo-run"),
    ("infer", infer.main, lambda w, s: ["--model", w.gan_onnx, "--input", w.vectors, "--output", s / "res",
                                        "--output_dirname", "bs"], ["res"], r"res/bs(/0_0\.bin|_summary\.json)?"),
    ("dcgan_pth_result", dcgan_pth_result.main,
     lambda w, s: ["--checkpoint_path", w.dcgan_pth, "--dataset_path", w.noise, "--save_path", s / "ref"], ["ref"],
     r"ref(/noise_000\d_0\.bin)?"),
]
FULL = [(name, main, argv, parts, named, options) for name, main, argv, parts, named in SMALL_WRITERS
        for options in ["size=4k", "size=12k", "size=64k"] + [f"size=8m,nr_inodes={n}" for n in range(2, 9)]]


@pytest.mark.parametrize("case", FULL, ids=[f"{c[0]} {c[5]}" for c in FULL])
def test_a_full_file_system_names_the_output_and_leaves_nothing(case, world, small_fs, capsys):
    _, main, argv, parts, named, options = case
    small = small_fs(options)
    capsys.readouterr()
    status = cli.run(main, [str(a) for a in argv(world, small)])
    err = capsys.readouterr().err
    assert "Traceback" not in err and ".ganzoo-staging" not in err, err
    if status == 0:
        assert sorted(os.listdir(small)) == sorted(parts)
        return
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert status == 2 and len(errors) == 1 and err.rstrip().endswith(errors[0]), err
    assert re.match(rf"error: {re.escape(str(small))}/({named}): (cannot|.* needs .* of output)", errors[0]), errors[0]
    assert re.search(r"no space left on the device|needs .* of output", errors[0]), errors[0]
    assert os.listdir(small) == []


# --- A missing input names the step that makes it, its README section and the folder it was looked for in.
# Each case runs a README command (the chain's, with the README's values) as `python3 ...` from a fresh ModelZoo
# copy of the model folder (`<Model>/` beside `common/`, as the driver makes it), after writing `standins`
# (random checkpoints at the official paths) so that the step gets as far as the input under test.
DOWNLOAD = (r"\(looked for in {folder}; download it, README 5\.1 Get the source and weights, or make a stand-in: "
            r"python3 \.\./common/make_standin\.py\)")
MADE = r"\(looked for in {folder}; made by {command}, README {section}\)"
STANDINS = {"DCGAN": lambda f: dcgan_model.random_checkpoint(f / "checkpoint-amp-epoch_200.pth"),
            "GAN": lambda f: GAN_model.random_checkpoint(f / "generator_8p_0.0008_128.pth"),
            "BigGAN": lambda f: biggan_model.random_checkpoint(f / "G_ema.pth", 8),
            "CycleGAN": lambda f: (f / "checkpoints" / "maps_cycle_gan").mkdir(parents=True) or
                                  cyclegan_model.random_checkpoint(f / "checkpoints/maps_cycle_gan/latest_net_G_A.pth")}
# (model, README step run, stand-ins first?, the error line after "error: " (a regex; {folder}: where it looked))
MISSING = [
    ("DCGAN", "pth2onnx", False, r"checkpoint-amp-epoch_200\.pth: no such checkpoint file " + DOWNLOAD),
    ("DCGAN", "pth_result", True, r"prep_dataset: no such folder "
     + MADE.format(folder="{folder}", command=r"dcgan_preprocess\.py", section=r"5\.2 Prepare the data")),
    ("GAN", "pth2onnx", False, r"generator_8p_0\.0008_128\.pth: no such checkpoint file " + DOWNLOAD),
    ("GAN", "pth_result", True, r"vectors: no such folder "
     + MADE.format(folder="{folder}", command=r"GAN_preprocess\.py", section=r"5\.2 Prepare the data")),
    ("BigGAN", "pth2onnx", False, r"G_ema\.pth: no such checkpoint file " + DOWNLOAD),
    ("BigGAN", "pth_result", True, r"prep_noise: no such folder "
     + MADE.format(folder="{folder}", command=r"biggan_preprocess\.py", section=r"5\.2 Prepare the data")),
    ("CycleGAN", "pth2onnx", False,
     r"checkpoints/maps_cycle_gan/latest_net_G_A\.pth: no such checkpoint file " + DOWNLOAD),
    ("CycleGAN", "pth_result_A", True, r"datasetsDst/maps/testA: no such folder "
     + MADE.format(folder="{folder}", command=r"CycleGAN_preprocess\.py", section=r"5\.2 Prepare the data")),
    ("Pix2pixHD", "pth2onnx", False, r"pix2pixHD/checkpoints/label2city_1024p: no such checkpoint file " + DOWNLOAD),
    ("Pix2pixHD", "preprocess", False, r"pix2pixHD/datasets/cityscapes/test_\w+: no such folder.* "
     + MADE.format(folder="{folder}", command=r"datasets_deal\.py", section=r"5\.2 Prepare the data")),
]


def zoo_copy(tmp_path, model):
    """A fresh ModelZoo copy of `model`'s folder beside common/, as the driver makes it; returns its folder."""
    return work_folder.prepare_workdir(tmp_path / "zoo", driver.find_model_folder(model))


def run_readme_step(folder, model, step):
    """The README's command of chain step `step` of `model`, run as written from `folder`."""
    chain = driver.load_chain(driver.find_model_folder(model))
    command = dict(driver.render(chain, chain.README_PARAMS))[step]
    argv = [sys.executable, *shlex.split(command)[1:]]
    return subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("model, step, standins, expected", MISSING, ids=[f"{c[0]} {c[1]}" for c in MISSING])
def test_a_missing_input_names_the_step_that_makes_it(model, step, standins, expected, tmp_path):
    folder = zoo_copy(tmp_path, model)
    if standins:
        STANDINS[model](folder)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    run = run_readme_step(folder, model, step)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    where = re.escape(str(folder.resolve()))
    assert re.fullmatch(rf"error: (\./)?{expected.format(folder=where + '[^;]*')}\n", run.stderr), run.stderr
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before  # the step wrote nothing


def test_the_moments_file_names_its_download(tmp_path):
    """BigGAN's IS/FID reads the reference moments, one of the downloads (or stand-ins)."""
    folder = zoo_copy(tmp_path, "BigGAN")
    code = ("import sys; sys.path.insert(0, '..'); from common import cli, metrics; "
            "sys.exit(cli.run(lambda argv: metrics.load_moments('./I128_inception_moments.npz'), []))")
    run = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=300)
    expected = r"I128_inception_moments\.npz: no such moments file " + DOWNLOAD
    assert run.returncode == 2
    assert re.fullmatch(rf"error: {expected.format(folder=re.escape(str(folder.resolve())))}\n", run.stderr), run.stderr


def test_an_input_outside_the_model_folder_keeps_the_plain_message(tmp_path):
    """Only the model folder's own inputs get a hint: elsewhere the facts say nothing of a path."""
    folder = zoo_copy(tmp_path, "DCGAN")
    run = subprocess.run([sys.executable, "dcgan_pth2onnx.py", str(tmp_path / "elsewhere.pth"), "./d.onnx"],
                         cwd=folder, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and run.stderr == f"error: {tmp_path / 'elsewhere.pth'}: no such checkpoint file\n"


@pytest.mark.parametrize("make", [lambda t: (t / "w").write_text("a file"),
                                  lambda t: ((t / "w").mkdir(), (t / "w" / "notes.txt").write_text("mine"))])
def test_the_driver_refuses_a_work_folder_before_making_a_stand_in(tmp_path, monkeypatch, make):
    """A stand-in's training takes minutes: a --workdir the driver may not use is refused first."""
    def no_training(*args):
        raise AssertionError("the stand-in was made before the work folder was checked")

    make(tmp_path)
    monkeypatch.setattr(driver, "stand_in", no_training)
    with pytest.raises(UserError, match=r"w: (exists and is not a folder|exists and was not made by the driver)"):
        driver.main(["DCGAN", "--workdir", str(tmp_path / "w")])
    assert (tmp_path / "w").exists()
