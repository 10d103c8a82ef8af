"""The pipeline driver: the toy chain, README agreement (commands and skeleton), and every registered model chain
end to end."""
import json
import os
import re
import resource
import shutil
import subprocess
from pathlib import Path

import pytest

from chainrun import run_steps, working_directory
from common import cli, driver, origins, report, work_folder
from common.errors import CheckFailed, UserError

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "toy_chain"
MODELS = sorted(p.parent.name for p in ROOT.glob("*/chain.py"))
# What a person reads in minutes (issue 27): the root README and each model README, in bytes.
README_BUDGET, MODEL_README_BUDGET = 8 * 1024, 12 * 1024
# Every model README has exactly these ## and ### headings, in this order (CONTRIBUTING.md, "Adding a model"); a
# model's own subsections are #### headings inside them.
README_SKELETON = [
    "## 1 Overview", "### 1.1 Inputs and outputs", "## 2 Files", "## 3 Environment", "## 4 Quick start",
    "## 5 Inference step by step", "### 5.1 Get the source and weights", "### 5.2 Prepare the data",
    "### 5.3 Convert the model", "### 5.4 Offline inference", "### 5.5 Postprocess", "## 6 Accuracy",
    "## 7 Performance", "## 8 Precision on the NPU (predicted)", "## 9 The full-scale job",
    "## 10 Differences from the original",
]


def readme_sections(text):
    """The ## and ### headings of a Markdown text, code blocks left out."""
    headings, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{2,3} ", line):
            headings.append(line.rstrip())
    return headings


def toc_anchor(heading):
    """The GitHub anchor of a heading: '### 4.1 Get the source' -> '#41-get-the-source'."""
    title = heading.lstrip("#").strip().lower()
    return "#" + re.sub(r"[^\w\- ]", "", title).replace(" ", "-")


def test_toy_chain_end_to_end_with_the_given_checkpoint(tmp_path, capsys):
    import sys
    sys.path.insert(0, str(TOY))
    try:
        from toy_model import random_checkpoint
    finally:
        sys.path.remove(str(TOY))
    random_checkpoint(tmp_path / "mine.pth", seed=5)
    assert driver.main([str(TOY), "--workdir", str(tmp_path / "work"), "--checkpoint", str(tmp_path / "mine.pth")]) == 0
    printed = capsys.readouterr().out
    assert "NO WEIGHTS GIVEN" not in printed and "[6/6] accuracy: python3 toy_acc.py" in printed
    assert (tmp_path / "work" / "toy_chain" / "toy.pth").read_bytes() == (tmp_path / "mine.pth").read_bytes()
    summary = json.loads((tmp_path / "work" / "driver_summary.json").read_text())
    assert summary["random_weights"] is False
    assert [s["step"] for s in summary["steps"]] == [name for name, _ in driver.load_chain(TOY).STEPS]
    # each step's own peak memory (its wait4 rusage): a Python process holding numpy takes more than 10 MB, and the
    # preprocess (numpy only) less than this process, which holds torch: a step forked from the driver in this
    # process would report this process's peak as its own
    peaks = [s["peak_memory_mb"] for s in summary["steps"]]
    assert all(isinstance(mb, float) and mb > 10 for mb in peaks), peaks
    assert peaks[0] < resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, peaks
    for step in summary["steps"]:
        assert f"  {step['step']:<14} {step['seconds']:8.1f} s  {step['peak_memory_mb']:8.0f} MB peak" in printed
    assert printed.count(", peak memory ") == len(peaks)
    assert summary["results"]["cosine"] >= 0.9999
    assert summary["results"]["images"] == 10
    assert summary["results"]["throughput"] > 0
    assert printed.split("reports (open in a browser")[1].split("\n")[1].strip() == summary["results"]["report"]
    assert Path(summary["results"]["report"]).is_file()
    # the work folder holds the model folder and common/ side by side, as a ModelZoo user copies them
    assert (tmp_path / "work" / "toy_chain" / "toy_acc.json").is_file()
    assert (tmp_path / "work" / "common" / "infer.py").is_file()


def test_a_failing_step_stops_the_chain(tmp_path):
    with pytest.raises(CheckFailed, match=r"step 'infer' failed with exit status 2"):
        driver.main([str(TOY), "--workdir", str(tmp_path / "work"), "--param", "num=0"])
    summary = json.loads((tmp_path / "work" / "driver_summary.json").read_text())
    assert summary["failed"] == "infer"
    assert "error: " in (tmp_path / "work" / "driver.log").read_text()


def test_readme_drift_is_detected(tmp_path):
    copy = tmp_path / "toy_chain"
    shutil.copytree(TOY, copy)
    assert driver.readme_drift(copy) == []
    readme = copy / "README.md"
    readme.write_text(readme.read_text().replace("--num 10", "--num 12"))
    assert driver.readme_drift(copy) == ["python3 toy_preprocess.py ./prep --num 10"]
    with pytest.raises(CheckFailed, match="1 chain command"):
        driver.main([str(copy), "--check-readme"])


def test_run_steps_runs_the_named_steps_with_the_added_arguments(tmp_path, monkeypatch):
    """chainrun.run_steps, the tests' in-process way to run chain steps: only the named ones, with `extra`."""
    monkeypatch.syspath_prepend(str(TOY))
    chain = driver.load_chain(TOY)
    with working_directory(tmp_path):
        run_steps(chain, chain.README_PARAMS, only=["preprocess"], extra={"preprocess": ["--seed", 3]})
    assert len(list((tmp_path / "prep").iterdir())) == chain.README_PARAMS["num"]
    assert not (tmp_path / "toy.onnx").exists()  # pth2onnx was not run
    with pytest.raises(AssertionError, match=r"not steps that run here: \['nope'\]"):
        run_steps(chain, chain.README_PARAMS, only=["preprocess", "nope"])
    with pytest.raises(AssertionError, match=r"not steps that run here: \['infer'\]"):
        run_steps(chain, chain.README_PARAMS, only=["preprocess"], extra={"infer": ["--loop", "2"]})


def test_workdir_and_param_errors(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    with pytest.raises(UserError, match=r"mine: exists and was not made by the driver"):
        driver.main([str(TOY), "--workdir", str(tmp_path / "mine")])
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep me"
    with pytest.raises(UserError, match=r"--param 'batch=2': expected key=value with key one of num, bs"):
        driver.main([str(TOY), "--param", "batch=2"])
    with pytest.raises(UserError, match=r"NoSuchModel: not a model folder with a chain\.py"):
        driver.main(["NoSuchModel"])
    with pytest.raises(UserError, match=r"--param 'num=abc': num takes int values such as 10"):
        driver.main([str(TOY), "--param", "num=abc"])
    with pytest.raises(UserError, match=r"--param 'num=-3': num must be from 0 to 1000000000000"):
        driver.main([str(TOY), "--param", "num=-3"])
    with pytest.raises(UserError, match=r"num must be from 0 to 1000000000000"):  # not 400 digits into a command
        driver.main([str(TOY), "--param", "num=" + "9" * 400])
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(UserError, match=r"a_file: exists and is not a folder"):
        driver.main([str(TOY), "--workdir", str(tmp_path / "a_file")])
    assert (tmp_path / "a_file").read_text() == "not a folder"


@pytest.mark.parametrize("model", MODELS)
def test_model_readme_holds_the_chain(model):
    assert driver.readme_drift(ROOT / model) == []


@pytest.mark.parametrize("model", MODELS)
def test_model_readme_follows_the_skeleton(model):
    text = (ROOT / model / "README.md").read_text(encoding="utf-8")
    assert readme_sections(text) == README_SKELETON
    contents = [line.strip() for line in text.split("\n## ", 1)[0].splitlines() if line.strip().startswith("- [")]
    assert contents == [f"- [{h.lstrip('#').strip()}]({toc_anchor(h)})" for h in README_SKELETON]


@pytest.mark.parametrize("model", MODELS)
def test_model_readme_keeps_its_size_budget(model):
    assert (ROOT / model / "README.md").stat().st_size <= MODEL_README_BUDGET


def test_root_readme_keeps_its_size_budget():
    assert (ROOT / "README.md").stat().st_size <= README_BUDGET


def readme_files_section(text):
    """The text of a README's '## 2 Files' section."""
    return text.split("\n## 2 Files\n", 1)[1].split("\n## 3 ", 1)[0]


@pytest.mark.parametrize("model", MODELS)
def test_model_readme_names_every_file_of_the_folder(model):
    """Section 2 has a row for every file the folder ships (as git tracks it), the facts module included."""
    listed = subprocess.run(["git", "ls-files", model], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    files = {Path(line).name for line in listed.stdout.splitlines()} - {"README.md"}
    section = readme_files_section((ROOT / model / "README.md").read_text(encoding="utf-8"))
    assert any(name.endswith("_facts.py") for name in files)
    assert sorted(name for name in files if f"`{name}`" not in section) == []


def test_the_skeleton_check_sees_drift():
    text = (ROOT / "DCGAN" / "README.md").read_text(encoding="utf-8")
    assert readme_sections(text) == README_SKELETON
    swapped = text.replace("### 5.5 Postprocess", "### 5.5 Pictures")
    assert readme_sections(swapped) != README_SKELETON
    assert "### 5.5 Postprocess" not in readme_sections("```\n### 5.5 Postprocess\n```\n")  # code is not a heading
    assert toc_anchor("## 8 Precision on the NPU (predicted)") == "#8-precision-on-the-npu-predicted"
    assert toc_anchor("### 5.1 Get the source and weights") == "#51-get-the-source-and-weights"


@pytest.mark.parametrize("model", MODELS)
def test_model_chain_runs_as_the_readme_says(model, tmp_path, capsys):
    """Every README command of the model, run as written from a copy of its folder beside common/, on stand-in
    weights (no --checkpoint), which the driver says loudly: seeded random ones, or, for the chains that have a
    trained stand-in (DCGAN, GAN), theirs on a one-epoch schedule (15 steps: the path, not the quality; the
    default schedule would cost minutes per chain)."""
    trained = hasattr(driver.load_chain(ROOT / model), "trained_standin")
    tiny = ["--param", "standin_epochs=1"] if trained else []
    assert driver.main([model, "--workdir", str(tmp_path / "work"), *tiny]) == 0
    assert "NO WEIGHTS GIVEN" in capsys.readouterr().out
    summary = json.loads((tmp_path / "work" / "driver_summary.json").read_text())
    assert summary["weights"] == ("trained stand-in" if trained else "random stand-in")
    assert summary["random_weights"] is not trained
    results = summary["results"]
    if trained:  # the accuracy step's digit figures: the classifier's score lies in [1, 10]
        assert 1 <= results["digit_score"] <= 10 and results["digit_fid"] > 0 and results["real_digit_score"] > 8
    assert results["cosine"] >= 0.9999
    assert results["images"] > 0
    assert results["throughput"] > 0
    reports = driver.report_paths(results)
    assert len(reports) == {"BigGAN": 3, "CycleGAN": 4}.get(model, 2)  # accuracy (+ IS/FID) and precision
    assert sum("precision_" in Path(p).name for p in reports) == (2 if model == "CycleGAN" else 1)
    assert all(Path(p).is_file() and Path(p).with_suffix(".png").is_file() for p in reports)
    assert next(iter(summary)) == "weights"  # the summary, and every report, say first what the weights are
    for path in map(Path, reports):
        assert f"<h1>{origins.banner(summary['weights'])} | " in path.read_text(encoding="utf-8"), path
        log = path.with_name(path.name[:-len(report.SUFFIX)] + ".log")
        assert not log.is_file() or log.read_text().startswith(origins.banner(summary["weights"])), log
        saved = path.with_name(path.name[:-len(report.SUFFIX)] + ".json")
        assert next(iter(json.loads(saved.read_text()))) == "weights", saved


# --- Rule 2: the driver removes only what it made ------------------------------------------------------------
# A work folder as a run leaves it: the copies, the weights and the steps' outputs, recorded (record_workdir, as
# the driver records after each step), without running the chain.

def made_workdir(workdir, model=TOY):
    model_dir = work_folder.prepare_workdir(workdir, driver.find_model_folder(str(model)))
    (model_dir / "prep").mkdir()
    (model_dir / "prep" / "z_0.bin").write_bytes(b"\0" * 32)
    (model_dir / "result" / "bs4").mkdir(parents=True)
    (model_dir / "result" / "bs4" / "z_0_0.bin").write_bytes(b"\0" * 16)
    (workdir / "driver.log").write_text("$ python3 toy_preprocess.py\n")
    work_folder.record_workdir(workdir)
    return model_dir


def tree(folder):
    """Every entry below `folder` with its bytes (None for a folder)."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


def test_a_rerun_removes_what_the_driver_recorded_and_rebuilds(tmp_path):
    model_dir = made_workdir(tmp_path / "work")
    work_folder.prepare_workdir(tmp_path / "work", TOY)
    assert not (model_dir / "prep").exists() and not (model_dir / "result").exists()
    assert not (tmp_path / "work" / "driver.log").exists()
    assert (model_dir / "chain.py").read_bytes() == (TOY / "chain.py").read_bytes()
    assert (tmp_path / "work" / "common" / "driver.py").is_file()


@pytest.mark.parametrize("plant, named", [
    (lambda m: (m / "my_notes.txt").write_text("keep me"), "toy_chain/my_notes.txt"),
    (lambda m: ((m / "real_weights").mkdir(), (m / "real_weights" / "G.pth").write_bytes(b"weights")),
     "toy_chain/real_weights"),
    (lambda m: (m / "result" / "bs4" / "thesis.tex").write_text("chapter 1"), "toy_chain/result/bs4/thesis.tex"),
    (lambda m: (m / "prep" / ".hidden").write_text("mine"), "toy_chain/prep/.hidden"),
    (lambda m: os.symlink("/etc", m / "prep" / "link"), "toy_chain/prep/link"),
], ids=["notes", "weights folder", "deep file", "hidden file", "link"])
def test_a_persons_nested_files_survive_a_rerun(plant, named, tmp_path):
    """Anything the driver did not record, at any depth, is refused before anything is removed."""
    made_workdir(tmp_path / "work")
    plant(tmp_path / "work" / "toy_chain")
    before = tree(tmp_path / "work")
    status, err = run_driver([str(TOY), "--workdir", str(tmp_path / "work")])
    assert status == 2 and err.count("error:") == 1 and "Traceback" not in err, err
    assert f"work: holds '{named}', which the driver did not make" in err, err
    assert tree(tmp_path / "work") == before


def test_a_copy_the_person_edited_is_refused_not_replaced(tmp_path):
    model_dir = made_workdir(tmp_path / "work")
    with open(model_dir / "toy_model.py", "a") as handle:
        handle.write("# my change\n")
    before = tree(tmp_path / "work")
    status, err = run_driver([str(TOY), "--workdir", str(tmp_path / "work")])
    assert status == 2 and "work: 'toy_chain/toy_model.py' changed since the driver made it" in err, err
    assert tree(tmp_path / "work") == before


def test_a_marker_that_is_not_the_drivers_record_removes_nothing(tmp_path):
    made_workdir(tmp_path / "work")
    (tmp_path / "work" / ".driver-workdir").write_text("[" * 200000)  # not a record (and too deep for json)
    before = tree(tmp_path / "work")
    status, err = run_driver([str(TOY), "--workdir", str(tmp_path / "work")])
    assert status == 2 and err.count("error:") == 1 and "Traceback" not in err, err
    assert "work: holds 'common', which the driver did not make" in err, err
    assert tree(tmp_path / "work") == before


def test_a_file_that_appears_while_clearing_stays(tmp_path, monkeypatch):
    """Each entry is re-checked at the moment it is removed; a folder is removed only if empty, so a file saved
    into it while the driver clears it stays, and the run says so."""
    model_dir = made_workdir(tmp_path / "work")
    unlink = os.unlink

    def saving_meanwhile(path, *args, **kwargs):
        if not (model_dir / "result" / "late.txt").exists():
            (model_dir / "result" / "late.txt").write_text("saved while the driver cleared")
        return unlink(path, *args, **kwargs)
    monkeypatch.setattr(work_folder.os, "unlink", saving_meanwhile)
    with pytest.raises(UserError, match=r"work: 'toy_chain/result' appeared while the driver cleared its earlier run"):
        work_folder.prepare_workdir(tmp_path / "work", TOY)
    assert (model_dir / "result" / "late.txt").read_text() == "saved while the driver cleared"


def test_the_model_name_resolves_beside_common_never_in_the_work_folder(tmp_path, monkeypatch):
    """`cd work && python3 ../common/driver.py DCGAN --workdir .`: DCGAN is the project's folder, not ./DCGAN
    (the work folder's copy, perhaps edited), and the edited copy is refused, not emptied."""
    work = tmp_path / "work"
    model_dir = work_folder.prepare_workdir(work, driver.find_model_folder("DCGAN"))
    work_folder.record_workdir(work)
    monkeypatch.chdir(work)
    assert driver.find_model_folder("DCGAN") == ROOT / "DCGAN"
    (model_dir / "dcgan_preprocess.py").write_text("# the person's edited copy\n")
    before = tree(work)
    status, err = run_driver(["DCGAN", "--workdir", "."])
    assert status == 2 and "'DCGAN/dcgan_preprocess.py' changed since the driver made it" in err, err
    assert tree(work) == before


@pytest.mark.parametrize("inside", ["model folder", "checkpoint", "project"])
def test_a_work_folder_holding_the_drivers_input_is_refused(inside, tmp_path, monkeypatch):
    """The model folder (an absolute path), the checkpoint, or the project itself inside --workdir: refused
    before anything is removed."""
    work = tmp_path / "work"
    made_workdir(work)
    shutil.copytree(TOY, work / "mine", ignore=shutil.ignore_patterns("__pycache__"))
    args = {"model folder": [str(work / "mine"), "--workdir", str(work)],
            "checkpoint": [str(TOY), "--workdir", str(work), "--checkpoint", str(work / "mine" / "chain.py")],
            "project": [str(TOY), "--workdir", str(ROOT)]}[inside]
    expected = {"model folder": r"work: --workdir holds the input .*mine \(the model folder\)",
                "checkpoint": r"work: --workdir holds the input .*chain.py \(--checkpoint\)",
                "project": r"--workdir holds the input .*(common|toy_chain) \((common/|the model folder)\)"}[inside]
    before = tree(work)
    status, err = run_driver(args)
    assert status == 2 and err.count("error:") == 1 and "Traceback" not in err, err
    assert re.search(expected, err), err
    assert tree(work) == before


def run_driver(argv):
    """driver.main through cli.run, as `python3 common/driver.py` runs it: (status, stderr)."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = cli.run(driver.main, argv)
    return status, err.getvalue()


def test_the_stand_in_is_chosen_by_the_driver(tmp_path):
    """Without --checkpoint: the trained stand-in where the chain has one, random ones on request or elsewhere;
    --standin beside --checkpoint, or 'trained' for a chain without one, is refused."""
    dcgan, toy = driver.load_chain(ROOT / "DCGAN"), driver.load_chain(TOY)
    assert driver.stand_in(dcgan, dcgan.DRIVER_PARAMS, "random") == (None, "random stand-in")
    assert driver.stand_in(toy, toy.DRIVER_PARAMS) == (None, "random stand-in")
    with pytest.raises(UserError, match=r"--standin trained: this chain has no trained stand-in"):
        driver.stand_in(toy, toy.DRIVER_PARAMS, "trained")
    (tmp_path / "w.pth").write_bytes(b"weights")
    with pytest.raises(UserError, match=r"--standin: the stand-in replaces missing weights"):
        driver.main(["DCGAN", "--workdir", str(tmp_path / "work"), "--checkpoint", str(tmp_path / "w.pth"),
                     "--standin", "random"])
    assert not (tmp_path / "work").exists()
