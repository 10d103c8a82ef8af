"""The BigGAN README chain for common/driver.py (contract in common/driver.py's docstring).

Without --checkpoint the driver gets a seeded random G_ema.pth of reduced width (G_ch standin_width, 8; the
released file's 96 with --param standin_width=96) in the official format. IS/FID also need Inception weights and
reference moments: when the given checkpoint has inception_v3_google.pth and I128_inception_moments.npz beside it
they are used; otherwise seeded random Inception weights (torchvision format) and synthetic moments are made, and
the IS/FID figures are meaningless.
"""
import json
import shutil
from pathlib import Path

import numpy as np

import biggan_model
from biggan_facts import FACTS
from common import driver, inception, metrics, origins

(CHECKPOINT,) = FACTS.checkpoints
INCEPTION = "inception_v3_google.pth"
MOMENTS = "I128_inception_moments.npz"
RANDOM_METRICS_MARKER = ".random_inception_weights"
README_PARAMS = {"num": 50000, "bs": 1, "check": 64}
# standin_width: the random stand-in's G_ch (driver.standin_width), not a README command's
DRIVER_PARAMS = {"num": 20, "bs": 4, "check": 4, "standin_width": 8}
STEPS = [
    ("preprocess", "python3 biggan_preprocess.py --num-inputs {num}"),
    ("pth2onnx", "python3 biggan_pth2onnx.py --source ./G_ema.pth --target ./biggan.onnx"),
    ("clip_edit", "python3 clip_edit.py --input-model biggan.onnx --output-model new_biggan.onnx"),
    ("simplify", "python3 ../common/simplify.py new_biggan.onnx biggan_sim_bs{bs}.onnx "
                 "--input-shape noise:{bs},1,20 label:{bs},5,148"),
    ("infer", "python3 ../common/infer.py --model biggan_sim_bs{bs}.onnx --input ./prep_noise,./prep_label "
              "--output ./result --output_dirname bs{bs} --outfmt BIN --batchsize {bs}"),
    ("postprocess", "python3 biggan_postprocess.py --result-path ./result/bs{bs} --save-path ./postprocess_img "
                    "--batch-size {bs} --save-img --save-npz"),
    ("is_fid", "python3 biggan_eval_acc.py --num-inception-images {num} --batch-size {bs} --dataset I128"),
    ("pth_result", "python3 biggan_pth_result.py --pth ./G_ema.pth --input ./prep_noise,./prep_label "
                   "--output ./pth_result --num {check}"),
    ("cosine", "python3 biggan_cosine_acc.py --reference ./pth_result --result-path ./result/bs{bs}"),
    ("precision", "python3 ../common/precision.py --model biggan_sim_bs{bs}.onnx --input ./prep_noise,./prep_label "
                  "--num {check} --mode force_fp16 --threshold 0.99 --keep_dtype_out keep_dtype.cfg "
                  "--report precision_bs{bs}.json"),
]


def synthetic_moments(path, seed=0):
    """Reference moments of O(1) Gaussian 'features': stand-ins for I128_inception_moments.npz."""
    rng = np.random.default_rng(seed)
    samples = rng.uniform(0.2, 0.6, inception.POOL_DIM) + 0.3 * rng.standard_normal((4096, inception.POOL_DIM))
    metrics.save_moments(path, *metrics.feature_moments(samples))


def prepare(folder, params, checkpoint):
    folder = Path(folder)
    width = driver.standin_width(params, multiple=4)  # attention takes 2 * G_ch / 8 channels
    notes = [driver.place_weights(folder / CHECKPOINT, checkpoint,
                                  lambda path: biggan_model.random_checkpoint(path, width, seed=0))]
    siblings = [Path(checkpoint).parent / name for name in (INCEPTION, MOMENTS)] if checkpoint else []
    if siblings and all(p.is_file() for p in siblings):
        for path in siblings:
            shutil.copyfile(path, folder / path.name)
        notes.append(f"Inception weights and moments: {siblings[0]}, {siblings[1]}")
    else:
        inception.write_random_inception_weights(folder / INCEPTION, seed=0)
        synthetic_moments(folder / MOMENTS)
        (folder / RANDOM_METRICS_MARKER).write_text("IS/FID use random Inception weights and synthetic moments\n")
        for path in (folder / INCEPTION, folder / MOMENTS):  # the IS/FID reports say so first
            origins.mark_standin(path, "random stand-in")
        notes += ["!" * 78,
                  f"! {INCEPTION} is SEEDED RANDOM and {MOMENTS} is SYNTHETIC: the IS and FID",
                  "! printed by this run are MEANINGLESS (put the official files beside --checkpoint).",
                  "!" * 78]
    return notes


def summarize(folder, params):
    folder = Path(folder)
    bs = params["bs"]
    cosine = json.loads((folder / "biggan_cosine_acc.json").read_text())
    perf = json.loads((folder / "result" / f"bs{bs}_summary.json").read_text())
    scores = json.loads((folder / f"biggan_acc_eval_bs{bs}.json").read_text())
    meaningless = (folder / RANDOM_METRICS_MARKER).is_file()
    return {"cosine": cosine["aggregate"]["mean_cosine"],
            "images": len(list((folder / "postprocess_img" / f"img_bs{bs}").glob("*.jpg"))),
            "throughput": perf["throughput"],
            "inception_score": f"{scores['is_mean']:.3f} +/- {scores['is_std']:.3f}"
                               + (" (MEANINGLESS: random Inception)" if meaningless else ""),
            "fid": f"{scores['fid']:.4f}" + (" (MEANINGLESS: random Inception, synthetic moments)"
                                             if meaningless else ""),
            "report": str(folder / cosine["report"]), "is_fid_report": str(folder / scores["report"]),
            **driver.fp16_figures(folder / f"precision_bs{bs}.json")}
