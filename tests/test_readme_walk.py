"""GAN's README followed by hand on a fresh machine (issue 27): GAN/ and common/ copied side by side into a
temporary folder (the ModelZoo copy), the stand-in command of section 4 first, then every command of sections 5
to 8 in order, as the README writes them, each a process of its own run from the model folder, no PYTHONPATH.

The commands are the lines of the README's ```bash blocks. A line ending in one of MARKS needs what it names (an
NPU, a GPU, the network) and is not run; a line calling an NPU-only tool without its mark fails the walk, so the
README keeps telling a reader which lines a CPU runs.

SMALLER: the README's sizes are the seed's (100 batches of 64, 1,000 timed runs), and its stand-in trains for
about two CPU-minutes the first time. The walk replaces only those counts (3 batches, 5 runs, one epoch of
training: the same code paths) so that it takes about a minute.
"""
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from common import driver

ROOT = Path(__file__).resolve().parents[1]
MODEL = "GAN"
MARKS = ("# NPU only", "# GPU only", "# network")
NPU_TOOLS = ("atc ", "python3 -m ais_bench", "./msame", "./benchmark", "npu-smi", "source /usr/local/Ascend",
             "./trtexec")
SMALLER = [("--iters 100", "--iters 3"), ("--loop 1000", "--loop 5"),
           ("make_standin.py", "make_standin.py --epochs 1")]


def section(text, first, last):
    """The README text from heading `## {first} ` up to `## {last} `."""
    return text.split(f"\n## {first} ", 1)[1].split(f"\n## {last} ", 1)[0]


def bash_lines(text):
    """The command lines of the ```bash blocks of `text`, with the marked ones as (line, mark)."""
    lines, fenced = [], None
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = None if fenced is not None else line.strip()[3:].strip()
        elif fenced == "bash" and line.strip() and not line.strip().startswith("#"):
            line = line.strip()
            lines.append((line, next((m for m in MARKS if line.endswith(m)), None)))
    return lines


def runnable(text):
    """The lines a CPU runs, in order; an NPU-only tool's line without its mark is an error."""
    unmarked = [line for line, mark in bash_lines(text) if mark is None and line.startswith(NPU_TOOLS)]
    assert not unmarked, f"NPU-only commands without a mark {MARKS}: {unmarked}"
    return [line for line, mark in bash_lines(text) if mark is None]


def smaller(command):
    for literal, small in SMALLER:
        command = command.replace(literal, small)
    return command


def test_the_walk_tells_npu_lines_apart():
    text = "```bash\npython3 a.py\natc --model=x.onnx  # NPU only\n# a comment\n```\n```\natc y\n```\n"
    assert runnable(text) == ["python3 a.py"]
    with pytest.raises(AssertionError, match="NPU-only commands without a mark"):
        runnable("```bash\n./msame --model x.om\n```\n")


def test_the_gan_readme_walks_by_hand_from_a_fresh_folder(tmp_path):
    readme = (ROOT / MODEL / "README.md").read_text(encoding="utf-8")
    standin = [c for c in runnable(section(readme, 4, 5)) if "make_standin.py" in c]
    steps = runnable(section(readme, 5, 9))
    chain = driver.load_chain(ROOT / MODEL)
    assert standin == ["python3 ../common/make_standin.py"]
    assert [c for _, c in driver.render(chain, chain.README_PARAMS) if c not in steps] == []  # each one is walked

    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / MODEL, tmp_path / MODEL, ignore=ignore)
    shutil.copytree(ROOT / "common", tmp_path / "common", ignore=ignore)
    folder = tmp_path / MODEL
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for command in standin + steps:
        argv = shlex.split(smaller(command))
        argv[0] = sys.executable if argv[0] == "python3" else argv[0]
        proc = subprocess.run(argv, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-3000:]}"
    # what the README says the walk gives: the pictures and the accuracy verdict of the offline run
    assert len(list((folder / "genimg").glob("*_0_grid.png"))) == 3
    assert "PASS: mean_cosine" in (folder / "GAN_eval_acc_bs64.log").read_text()
    # walked on the stand-in, every report says so first (common/origins.py)
    assert (folder / "GAN_eval_acc_bs64.log").read_text().startswith("TRAINED STAND-IN WEIGHTS: not the official")
    assert "<h1>TRAINED STAND-IN WEIGHTS | " in (folder / "GAN_eval_acc_bs64_report.html").read_text()
