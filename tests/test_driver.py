"""The pipeline driver: the toy chain, README agreement (commands and skeleton), and every registered model chain
end to end."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chainrun import run_steps, working_directory
from common import driver
from common.cli import CheckFailed, UserError

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "toy_chain"
MODELS = sorted(p.parent.name for p in ROOT.glob("*/chain.py"))
# Every model README has exactly these ## and ### headings, in this order (CONTRIBUTING.md, "Adding a model"); a
# model's own subsections are #### headings inside them.
README_SKELETON = [
    "## 1 Overview", "### 1.1 Inputs and outputs", "## 2 Files", "## 3 Environment", "## 4 Quick start",
    "### 4.1 Get the source and weights", "### 4.2 Prepare the data", "### 4.3 Convert the model",
    "### 4.4 Offline inference", "### 4.5 Postprocess", "### 4.6 Accuracy", "### 4.7 Performance",
    "### 4.8 Precision on the NPU (predicted)", "### 4.9 The original README's commands",
    "### 4.10 The whole chain in one command", "## 5 Results", "## 6 Notes and differences from the original",
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
    with pytest.raises(UserError, match=r"--param 'num=-3': num must not be negative"):
        driver.main([str(TOY), "--param", "num=-3"])
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
    swapped = text.replace("### 4.5 Postprocess", "### 4.5 Pictures")
    assert readme_sections(swapped) != README_SKELETON
    assert "### 4.5 Postprocess" not in readme_sections("```\n### 4.5 Postprocess\n```\n")  # code is not a heading
    assert toc_anchor("### 4.9 The original README's commands") == "#49-the-original-readmes-commands"


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
