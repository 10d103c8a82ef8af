"""BigGAN end to end at reduced width through the real scripts: export (folded and Clip graphs), clip_edit,
simplification, the offline runner, postprocess, IS/FID, the cosine check, and the upstream comparison."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import biggan_compare_upstream
import biggan_cosine_acc
import biggan_eval_acc
import biggan_model
import biggan_postprocess
import biggan_preprocess
import biggan_pth2onnx
import biggan_pth_result
import clip_edit
from chainrun import upstream_mirror
from test_report import check_accuracy_report, check_report_file
from common import fileio, graph_edits, inception, infer, metrics, onnx_utils, similarity, simplify
from common.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM_GIT = upstream_mirror("ajbrock+BigGAN-PyTorch")
UPSTREAM_COMMIT = "98459431a5d618d644d54cd1e9fceb1e5045648d"
CH = 8


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A random checkpoint, both exports, clip_edit on both, and the simplified batch-2 graphs."""
    folder = tmp_path_factory.mktemp("biggan_models")
    pth = biggan_model.random_checkpoint(folder / "G_ema.pth", CH, seed=0)
    paths = {"pth": pth}
    for kind, extra in (("folded", []), ("sn", ["--sn-graph"])):
        raw, edited, simple = (folder / f"{kind}.onnx", folder / f"{kind}_edit.onnx", folder / f"{kind}_sim_bs2.onnx")
        assert biggan_pth2onnx.main(["--source", str(pth), "--target", str(raw), *extra]) == 0
        assert clip_edit.main(["--input-model", str(raw), "--output-model", str(edited)]) == 0
        assert simplify.main([str(edited), str(simple), "--input-shape", "noise:2,1,20", "label:2,5,148"]) == 0
        paths.update({kind: raw, f"{kind}_edit": edited, f"{kind}_sim": simple})
    return paths


def clips(path):
    return [n for n in onnx.load(str(path)).graph.node if n.op_type == "Clip"]


def test_folded_and_clip_graph_exports_agree_with_pytorch(models, capsys):
    assert clips(models["folded"]) == []
    raw_clips = clips(models["sn"])
    assert len(raw_clips) == 82 and all(len(n.input) < 3 or not n.input[2] for n in raw_clips)  # empty max
    # clip_edit: nothing to do on the folded graph (copied unchanged), an explicit max on the Clip graph.
    assert models["folded_edit"].read_bytes() == models["folded"].read_bytes()
    edited = onnx.load(str(models["sn_edit"]))
    maxima = {n.input[2] for n in edited.graph.node if n.op_type == "Clip"}
    assert len(maxima) == 1 and graph_edits.constant_value(edited, maxima.pop()) == np.finfo(np.float32).max
    assert clips(models["sn_sim"]) == []  # the power iteration folds away

    model = biggan_model.load_generator(models["pth"])
    noise, label = biggan_model.seeded_inputs(model, 2, seed=5)
    with torch.no_grad():
        reference = model(torch.from_numpy(noise), torch.from_numpy(label)).numpy()
    for kind in ("folded", "sn", "folded_sim", "sn_sim"):
        (out,) = onnx_utils.run(models[kind], {"noise": noise, "label": label})
        assert np.abs(out - reference).max() < 2e-5, kind
        assert similarity.one_minus_cosine(reference, out) < 1e-9, kind

    with pytest.raises(UserError, match=r"--output-model is also the input .*folded\.onnx \(--input-model\)"):
        clip_edit.main(["--input-model", str(models["folded"]), "--output-model", str(models["folded"])])


def test_chain_end_to_end(models, tmp_path, capsys):
    w = tmp_path
    pth = str(models["pth"])
    assert biggan_preprocess.main(["--pth", pth, "--num-inputs", "6", "--prep-noise", str(w / "prep_noise"),
                                   "--prep-label", str(w / "prep_label"), "--gen-y", str(w / "gen_y.npz")]) == 0
    assert infer.main(["--model", str(models["folded_sim"]), "--input", f"{w / 'prep_noise'},{w / 'prep_label'}",
                       "--output", str(w / "result"), "--output_dirname", "bs2", "--outfmt", "BIN",
                       "--batchsize", "2"]) == 0
    assert biggan_postprocess.main(["--result-path", str(w / "result" / "bs2"), "--save-path", str(w / "img"),
                                    "--batch-size", "2", "--save-img", "--save-npz",
                                    "--gen-img", str(w / "gen_img_bs2.npz")]) == 0
    assert len(list((w / "img" / "img_bs2").glob("*.jpg"))) == 6
    with np.load(w / "gen_img_bs2.npz") as npz:
        images = npz["x"]
    np.testing.assert_array_equal(images[4], fileio.read_array(w / "result" / "bs2" / "input_00004_0.bin",
                                                              shape=(3, 128, 128)))

    weights = inception.write_random_inception_weights(w / "inception.pth", seed=1)
    rng = np.random.default_rng(0)
    metrics.save_moments(w / "moments.npz", *metrics.feature_moments(rng.uniform(0, 1, (300, 2048))))
    capsys.readouterr()
    assert biggan_eval_acc.main(["--num-inception-images", "4", "--num-splits", "2", "--batch-size", "2",
                                 "--gen-img", str(w / "gen_img_bs2.npz"), "--gen-y", str(w / "gen_y.npz"),
                                 "--inception-weights", str(weights), "--moments", str(w / "moments.npz"),
                                 "--log", str(w / "acc.log"), "--json", str(w / "acc.json")]) == 0
    line = re.compile(r"Noise variance 1\.000, over 4 images, PYTORCH UNOFFICIAL Inception Score is "
                      r"\d+\.\d{3} \+/- \d+\.\d{3}, PYTORCH UNOFFICIAL FID is \d+\.\d{4}$")
    assert line.match((w / "acc.log").read_text().strip())
    assert line.search(capsys.readouterr().out.splitlines()[-2])
    scores = json.loads((w / "acc.json").read_text())
    assert scores["num_images"] == 4 and scores["fid_details"]["method"] == "low-rank"
    parsed = check_report_file(w / "acc_report.html")  # the report beside the log: scores, splits, sample
    headline = dict(parsed.tables["headline"])
    assert headline["Inception Score"] == f"{scores['is_mean']:.3f} +/- {scores['is_std']:.3f}"
    assert headline["FID"] == f"{scores['fid']:.4f}"
    assert [row[1] for row in parsed.tables["splits"][1:]] == [f"{s:.3f}" for s in scores["is_splits"]]
    assert np.mean(scores["is_splits"]) == pytest.approx(scores["is_mean"], rel=1e-12)
    pool, logits = inception.inception_features(inception.InceptionFeatures(weights), [images[:4]], progress=False)
    assert scores["is_mean"] == pytest.approx(metrics.inception_score(logits, 2)[0], rel=1e-6)
    assert scores["fid"] == pytest.approx(metrics.fid_from_features(pool, *metrics.load_moments(w / "moments.npz")),
                                          rel=1e-6)

    # The cosine check on the same inputs: PyTorch reference vs the offline outputs.
    assert biggan_pth_result.main(["--pth", pth, "--input", f"{w / 'prep_noise'},{w / 'prep_label'}",
                                   "--output", str(w / "pth_result"), "--num", "2"]) == 0
    assert biggan_cosine_acc.main(["--reference", str(w / "pth_result"), "--result-path", str(w / "result" / "bs2"),
                                   "--log", str(w / "cos.log"), "--json", str(w / "cos.json"),
                                   "--pictures", str(w / "compare")]) == 0
    aggregate = json.loads((w / "cos.json").read_text())["aggregate"]
    check_accuracy_report(w / "cos_report.html", w / "cos.json")
    assert aggregate["count"] == 2 and aggregate["offline_files"] == 6
    assert aggregate["max_one_minus_cosine"] < 1e-9 and aggregate["max_abs"] < 2e-5

    # A run that lost a file the reference covers is refused, never silently: the runner's record of the folder
    # no longer describes it, and without a record (as ais_bench writes it) the pairing by name finds it missing.
    (w / "result" / "bs2" / "input_00001_0.bin").unlink()
    argv = ["--reference", str(w / "pth_result"), "--result-path", str(w / "result" / "bs2"), "--log", str(w / "cos.log"),
            "--json", str(w / "cos.json"), "--pictures", str(w / "c2")]
    with pytest.raises(UserError, match="bs2: changed after infer.py wrote it"):
        biggan_cosine_acc.main(argv)
    (w / "result" / ".bs2.ganzoo-run").unlink()
    with pytest.raises(UserError, match="input_00001_0.bin: missing"):
        biggan_cosine_acc.main(argv)


@pytest.fixture(scope="module")
def upstream_checkout(tmp_path_factory):
    if not (UPSTREAM_GIT / "HEAD").exists() or shutil.which("git") is None:
        pytest.skip("the BigGAN-PyTorch mirror is not available here")
    folder = tmp_path_factory.mktemp("upstream")
    archive = subprocess.run(["git", f"--git-dir={UPSTREAM_GIT}", "archive", UPSTREAM_COMMIT],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def test_patch_applies_and_patched_upstream_matches_ours(upstream_checkout, capsys):
    with pytest.raises(UserError, match=r"BigGAN\.py: not patched \(no 'def forward_export\('\); "
                                        r"run `git apply biggan\.patch`"):
        biggan_compare_upstream.main(["--upstream", str(upstream_checkout)])
    patch = ROOT / "BigGAN" / "biggan.patch"
    subprocess.run(["git", "apply", "--check", str(patch)], cwd=upstream_checkout, check=True)
    subprocess.run(["git", "apply", str(patch)], cwd=upstream_checkout, check=True)
    assert biggan_compare_upstream.main(["--upstream", str(upstream_checkout), "--G-ch", str(CH), "--batch", "1",
                                         "--atol", "1e-6"]) == 0
    assert "PASS" in capsys.readouterr().out
