"""Results carry their provenance: a step run on stand-in weights says so first in each of its outputs.

The stand-in record (`.<checkpoint>.standin.json`, common/origins.py) is written beside the checkpoint; the
accuracy step, run as the README writes it from a ModelZoo copy of the model folder, reads it and says so in the
title line of its HTML and PNG report, the first line of its log and the first key of its JSON. The official
checkpoint (no record, or one that no longer matches the file) leaves every output as it was.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import dcgan_facts
import dcgan_model
from chainrun import working_directory
from common import driver, fileio, origins, work_folder
from test_report import write_pair

CHECKPOINT = dcgan_facts.DOWNLOADS[0]
ACCURACY = ["dcgan_acc_eval.py", "--pth_result_path=./pth_result/", "--om_result_path=./result/bs1/",
            "--log_save_name=acc.log"]


@pytest.fixture
def zoo(tmp_path):
    """A ModelZoo copy of DCGAN (the folder beside common/) holding a random checkpoint where the README puts
    it, and the reference and offline outputs of 5 samples (the accuracy step's inputs)."""
    folder = work_folder.prepare_workdir(tmp_path / "zoo", driver.find_model_folder("DCGAN"))
    dcgan_model.random_checkpoint(folder / CHECKPOINT)
    write_pair(folder, dcgan_facts.IMAGE_SHAPE, 5)
    return folder


def accuracy_step(folder):
    """The README's accuracy command, run from the model folder; returns its outputs' first lines and keys."""
    run = subprocess.run([sys.executable, *ACCURACY], cwd=folder, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    html = (folder / "acc_report.html").read_text(encoding="utf-8")
    with Image.open(folder / "acc_report.png") as sheet:
        header = np.asarray(sheet.convert("L"))[:45]  # the title line's band
    return {"title": re.search(r"<title>(.*)</title>", html).group(1), "h1": re.search(r"<h1>(.*)</h1>", html).group(1),
            "log": (folder / "acc.log").read_text().splitlines()[0],
            "json": next(iter(json.loads((folder / "acc.json").read_text()))), "header": header}


def test_a_run_on_stand_in_weights_says_so_first_in_every_output(zoo):
    official = accuracy_step(zoo)  # no record: the weights are taken for the official ones
    assert official["h1"] == official["title"] == "DCGAN: PyTorch vs offline"
    assert official["log"].startswith("input_0_0.bin : mean ==> ") and official["json"] == "reference"

    origins.mark_standin(zoo / CHECKPOINT, "random stand-in")
    stand_in = accuracy_step(zoo)
    assert stand_in["h1"] == stand_in["title"] == "RANDOM STAND-IN WEIGHTS | DCGAN: PyTorch vs offline"
    assert stand_in["log"] == "RANDOM STAND-IN WEIGHTS: not the official weights"
    assert stand_in["json"] == "weights"
    assert json.loads((zoo / "acc.json").read_text())["weights"] == "random stand-in"
    assert not np.array_equal(official["header"], stand_in["header"])  # the PNG's title line is drawn anew


def test_the_official_file_put_over_a_stand_in_is_not_taken_for_it(zoo, tmp_path):
    origins.mark_standin(zoo / CHECKPOINT, "trained stand-in")
    assert origins.standin(zoo / CHECKPOINT) == "trained stand-in"
    dcgan_model.random_checkpoint(tmp_path / "other.pth", seed=1)  # the same size, other weights
    shutil.copyfile(tmp_path / "other.pth", zoo / CHECKPOINT)
    assert origins.standin(zoo / CHECKPOINT) is None
    assert accuracy_step(zoo)["json"] == "reference"


def test_a_record_is_ours_only_if_its_content_says_so(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"weights")
    assert origins.standin(path) is None  # no record
    origins.mark_standin(path, "random stand-in")
    assert origins.standin(path) == "random stand-in"
    record = json.loads(origins.record_path(path).read_text())
    assert record["sha256"] and record["size"] == 7 and record["file"] == "w.pth"
    for changed in ({**record, "made_by": "someone"}, {**record, "weights": "official"}, [record]):
        fileio.write_json(origins.record_path(path), changed)
        assert origins.standin(path) is None
    origins.record_path(path).write_text("not json")
    assert origins.standin(path) is None
    origins.record_path(path).unlink()
    os.mkfifo(origins.record_path(path))  # never opened: a reader would wait for a writer
    assert origins.standin(path) is None
    with pytest.raises(ValueError):
        origins.mark_standin(path, "official")


def test_only_the_running_projects_model_folders_are_read(zoo):
    """The facts (code) of a model folder are read only where its common/ is the one running: the copy's steps
    read the copy's, this process (the repository's common/) reads none of the copy's."""
    with working_directory(zoo):
        assert origins.facts_here() is None and origins.weights() is None and origins.hint(CHECKPOINT) == ""
    with working_directory(driver.ROOT / "DCGAN"):
        assert origins.facts_here().DOWNLOADS == dcgan_facts.DOWNLOADS
        assert origins.hint("./result/bs7").endswith("made by ../common/infer.py, README 5.4 Offline inference)")
        assert origins.hint("./notes.txt") == ""
