"""common/make_standin.py: stand-in weights written where a README's commands read the official ones, in the
official container (each model's own loader takes them strictly), all together or none, and never over a file
it did not write."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from common import checkpoint, cli, inception, make_standin, metrics, records

import biggan_model
import dcgan_model
import GAN_model

ROOT = Path(__file__).resolve().parents[1]
LOADERS = {"DCGAN": (dcgan_model.load_generator, "checkpoint-amp-epoch_200.pth"),
           "GAN": (GAN_model.load_generator, "generator_8p_0.0008_128.pth")}


def model_copy(tmp_path, model):
    """The model folder as a person copies it (its shipped files only, none of a developer's outputs)."""
    shutil.copytree(ROOT / model, tmp_path / model, ignore=shutil.ignore_patterns("__pycache__", "*.pth", "*.onnx",
                                                                                 "*.npz", "work", "result*"))
    return tmp_path / model


def visible(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize("model", ["DCGAN", "GAN"])
@pytest.mark.parametrize("kind", ["trained", "random"])
def test_the_standin_loads_strictly_in_the_models_own_loader(tmp_path, model, kind, capsys):
    load, name = LOADERS[model]
    folder = model_copy(tmp_path, model)
    before = visible(folder)
    # one epoch (15 steps): the trained path's code at a test's cost
    argv = [str(folder), "--standin", kind] + (["--epochs", "1"] if kind == "trained" else [])
    assert make_standin.main(argv) == 0
    assert visible(folder) == sorted(before + [name])  # the checkpoint, and nothing else a step would read
    generator = load(folder / name)  # strict: a missing or unexpected key raises
    with torch.no_grad():
        image = generator(torch.randn(2, *(100, 1, 1) if model == "DCGAN" else (100,)))
    assert torch.isfinite(image).all() and image.abs().max() <= 1.0
    out = capsys.readouterr().out
    assert "STAND-IN WEIGHTS, not the official ones" in out and f"wrote {folder / name}" in out
    assert ("TRAINED on real digit scans" if kind == "trained" else "SEEDED RANDOM") in out
    assert records.written_by(folder / name, make_standin.STEP)


def test_biggan_from_a_modelzoo_copy_without_pythonpath(tmp_path):
    """Run as the README says: from BigGAN/ copied beside common/, no PYTHONPATH. It writes the generator, the
    Inception weights and the moments the IS/FID step reads by default, each loadable by its reader."""
    folder = model_copy(tmp_path, "BigGAN")
    shutil.copytree(ROOT / "common", tmp_path / "common", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "../common/make_standin.py"], cwd=folder, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "G_ema.pth is SEEDED RANDOM" in proc.stdout
    for name in ("G_ema.pth", "inception_v3_google.pth", "I128_inception_moments.npz"):
        assert f"wrote {folder / name}" in proc.stdout
    state = biggan_model.load_state_dict_file(folder / "G_ema.pth")
    assert biggan_model.config_from_state_dict(state).ch == 8  # the driver's reduced width, official format
    biggan_model.load_generator(folder / "G_ema.pth")  # strictly
    inception.load_inception(folder / "inception_v3_google.pth")  # torchvision's layout, loaded strictly
    mu, sigma = metrics.load_moments(folder / "I128_inception_moments.npz")
    assert mu.shape == (inception.POOL_DIM,) and sigma.shape == (inception.POOL_DIM, inception.POOL_DIM)
    assert np.isfinite(sigma).all()


def test_random_generators_are_the_drivers_narrow_ones_unless_width_says(tmp_path):
    """BigGAN, Pix2pixHD and CycleGAN: the chain's standin_width by default (the quick start's), --width for
    another, the released one included; the model's own loader reads the width from the file."""
    import cyclegan_model

    name_a = "checkpoints/maps_cycle_gan/latest_net_G_A.pth"
    folder = model_copy(tmp_path / "narrow", "CycleGAN")
    assert make_standin.main([str(folder)]) == 0
    assert cyclegan_model.load_generator(folder / name_a).model[1].out_channels == 8
    folder = model_copy(tmp_path / "released", "CycleGAN")
    assert make_standin.main([str(folder), "--width", "64"]) == 0
    for name in (name_a, name_a.replace("G_A", "G_B")):
        generator = cyclegan_model.load_generator(folder / name)
        assert generator.model[1].out_channels == 64
        assert generator.state_dict().keys() == cyclegan_model.ResnetGenerator().state_dict().keys()


def test_a_file_it_did_not_write_stays_and_nothing_is_written(tmp_path, capsys):
    """A person's checkpoint is refused before any work; a person's moments file (found only once the stand-ins
    are made) makes the whole set refused: the generator is not written either."""
    folder = model_copy(tmp_path, "GAN")
    official = folder / "generator_8p_0.0008_128.pth"
    official.write_bytes(b"the official weights")
    assert cli.run(make_standin.main, [str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {official}: already there and not a stand-in written by make_standin.py, so it stays "
                   f"(the README's commands read it as the weights); move it away to write a stand-in")
    assert official.read_bytes() == b"the official weights"

    folder = model_copy(tmp_path, "BigGAN")
    before = visible(folder)
    moments = folder / "I128_inception_moments.npz"
    moments.write_bytes(b"a person's moments")
    assert cli.run(make_standin.main, [str(folder)]) == 2
    assert f"error: {moments}: already there and not a stand-in" in capsys.readouterr().err
    assert moments.read_bytes() == b"a person's moments"
    assert visible(folder) == sorted(before + [moments.name])  # no G_ema.pth, no Inception weights
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no record, no staging folder


def test_a_rerun_replaces_its_own_standin_unless_it_was_changed(tmp_path, capsys):
    folder = model_copy(tmp_path, "DCGAN")
    path = folder / "checkpoint-amp-epoch_200.pth"
    assert make_standin.main([str(folder), "--standin", "random"]) == 0
    random_bytes = path.read_bytes()
    assert make_standin.main([str(folder), "--standin", "trained", "--epochs", "1"]) == 0  # its own: replaced
    assert path.read_bytes() != random_bytes
    assert checkpoint.read_state_dict(path, container_keys=("G",)).keys() == dcgan_model.DCGANGenerator().state_dict().keys()
    with open(path, "ab") as handle:  # edited since: a person's file now
        handle.write(b"\0")
    edited = path.read_bytes()
    assert cli.run(make_standin.main, [str(folder), "--standin", "random"]) == 2
    assert "already there and not a stand-in" in capsys.readouterr().err
    assert path.read_bytes() == edited


@pytest.mark.parametrize("argv, message", [
    (["{tmp}"], "{tmp}: not a model folder (no chain.py); run this from one"),
    (["{tmp}/BigGAN", "--standin", "trained"], "--standin trained: BigGAN has no trained stand-in; use --standin random"),
    (["{tmp}/GAN", "--standin", "random", "--epochs", "3"], "--epochs: only for a trained stand-in"),
    (["{tmp}/GAN", "--width", "8"], "--width: GAN's trained stand-in has the official width only"),
    (["{tmp}/BigGAN", "--width", "6"], "stand-in width 6 (--param standin_width, make_standin.py --width): "
                                       "expected a multiple of 4, at least 4"),
])
def test_bad_command_lines_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    for model in ("BigGAN", "GAN"):
        model_copy(tmp_path, model)
    before = sorted(tmp_path.rglob("*"))
    assert cli.run(make_standin.main, [a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + message.format(tmp=tmp_path)) and err.count("\n") == 1
    assert sorted(tmp_path.rglob("*")) == before
