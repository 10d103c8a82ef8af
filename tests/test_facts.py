"""Each model folder states its facts once (`<model>_facts.py`), and the README and the exported graphs agree."""
import importlib
import re
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from common.facts import ModelFacts
from facts_check import assert_graph_matches

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = sorted(p.parent.name for p in ROOT.glob("*/chain.py"))

# Steps that need only names and shapes: they must not pay for importing torch (about 4 s per step). Every
# folder's postprocess is one; the accuracy and preprocessing steps that need no generator are named.
TORCH_FREE = sorted(p.stem for p in ROOT.glob("*/*_postprocess.py")) + [
    "dcgan_preprocess", "dcgan_acc_eval", "GAN_eval_acc", "biggan_cosine_acc", "biggan_eval_acc",
    "CycleGAN_preprocess", "CycleGAN_eval_acc", "pix2pixhd_preprocess", "datasets_deal"]


def facts_module(folder):
    (path,) = (ROOT / folder).glob("*_facts.py")  # exactly one per folder
    return importlib.import_module(path.stem)


def test_the_folders_found_are_the_model_table():
    """Folders are found by their chain.py: a new one needs only its row in the root README's model table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = re.findall(r"^\| \[(\w+)\]\((\w+)/README\.md\) \|", readme, re.MULTILINE)
    assert all(name == link for name, link in table)
    assert FOLDERS == sorted(name for name, _ in table)
    assert {"BigGAN", "CycleGAN", "DCGAN", "GAN", "Pix2pixHD"} <= set(FOLDERS)


@pytest.mark.parametrize("folder", FOLDERS)
def test_each_folder_declares_its_facts(folder):
    facts = facts_module(folder).FACTS
    assert isinstance(facts, ModelFacts) and facts.name == folder
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", facts.upstream.repository)
    assert re.fullmatch(r"[0-9a-f]{40}", facts.upstream.commit)
    assert (ROOT / folder / facts.upstream.patch).is_file()
    assert facts.checkpoints and all(name.endswith(".pth") for name in facts.checkpoints)
    assert facts.opset == 11 and facts.graphs
    for graph in facts.graphs:
        names = [t.name for t in (*graph.inputs, *graph.outputs)]
        assert len(set(names)) == len(names), names
        assert all(t.shape[0] is None for t in (*graph.inputs, *graph.outputs))  # a free batch axis


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_readme_states_the_facts(folder):
    """Pinned commit, repository, weights, ONNX files and tensor names appear in the README as declared."""
    facts = facts_module(folder).FACTS
    readme = (ROOT / folder / "README.md").read_text(encoding="utf-8")
    stated = [facts.upstream.repository, facts.upstream.commit, facts.upstream.patch, *facts.checkpoints]
    for graph in facts.graphs:
        stated += [graph.onnx_file, *(f"`{t.name}`" for t in (*graph.inputs, *graph.outputs))]
    missing = [text for text in stated if text not in readme]
    assert not missing, f"{folder}/README.md does not state {missing}"


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_root_model_table_states_the_facts(folder):
    facts = facts_module(folder).FACTS
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (row,) = [line for line in readme.splitlines() if line.startswith(f"| [{folder}](")]
    repository = facts.upstream.repository.split("github.com/")[1]
    stated = [repository, f"@{facts.upstream.short_commit}", *(f"`{name}`" for name in facts.checkpoints)]
    stated += [f"`{t.name}`" for graph in facts.graphs for t in (*graph.inputs, *graph.outputs)]
    missing = [text for text in stated if text not in row]
    assert not missing, f"README.md's {folder} row does not state {missing}"


def test_facts_and_name_only_steps_load_no_torch():
    modules = [facts_module(folder).__name__ for folder in FOLDERS] + TORCH_FREE
    code = (f"import sys; sys.path[:0] = {[str(ROOT)] + [str(ROOT / f) for f in FOLDERS]!r}\n"
            f"for name in {modules!r}: __import__(name)\n"
            "heavy = sorted({'torch', 'torchvision'} & set(sys.modules)); print(heavy); sys.exit(bool(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_exported_graphs_have_the_declared_tensors(tmp_path):
    """The export scripts take their names from the facts; this checks the files they write (CycleGAN and
    Pix2pixHD: their own tests check theirs with the same helper)."""
    import biggan_facts
    import biggan_model
    import biggan_pth2onnx
    import dcgan_facts
    import dcgan_model
    import dcgan_pth2onnx
    import GAN_facts
    import GAN_model
    import GAN_pth2onnx

    dcgan_model.random_checkpoint(tmp_path / "dcgan.pth")
    assert dcgan_pth2onnx.main([str(tmp_path / "dcgan.pth"), str(tmp_path / "dcgan.onnx")]) == 0
    GAN_model.random_checkpoint(tmp_path / "gan.pth")
    assert GAN_pth2onnx.main(["--input_file", str(tmp_path / "gan.pth"), "--output_file", str(tmp_path / "gan.onnx")]) == 0
    biggan_model.random_checkpoint(tmp_path / "G_ema.pth", ch=8)
    assert biggan_pth2onnx.main(["--source", str(tmp_path / "G_ema.pth"), "--target", str(tmp_path / "biggan.onnx")]) == 0
    for name, facts in (("dcgan", dcgan_facts), ("gan", GAN_facts), ("biggan", biggan_facts)):
        assert_graph_matches(onnx.load(str(tmp_path / f"{name}.onnx")), facts.FACTS.graph)
