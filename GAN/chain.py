"""The GAN README chain, for common/driver.py (contract in its docstring)."""
import json
from pathlib import Path

from common import driver
from GAN_facts import FACTS
from GAN_model import random_checkpoint
from GAN_train_standin import RECIPE, trained_checkpoint

(CHECKPOINT,) = FACTS.checkpoints
README_PARAMS = {"iters": 100, "bs": 64, "loop": 1000}
# standin_epochs: the trained stand-in's schedule (driver.stand_in), not a README command's
DRIVER_PARAMS = {"iters": 20, "bs": 64, "loop": 50, "standin_epochs": RECIPE.epochs}
STEPS = [
    ("preprocess", "python3 GAN_preprocess.py --online_path=images --offline_path=vectors "
                   "--pth_path=generator_8p_0.0008_128.pth --iters {iters} --batch_size {bs}"),
    ("pth2onnx", "python3 GAN_pth2onnx.py --input_file=generator_8p_0.0008_128.pth --output_file=GAN.onnx"),
    ("simplify", "python3 ../common/simplify.py GAN.onnx GAN_sim_bs{bs}.onnx --input-shape Z:{bs},100"),
    ("infer", "python3 ../common/infer.py --model GAN_sim_bs{bs}.onnx --input ./vectors --output ./result "
              "--output_dirname bs{bs} --outfmt BIN --batchsize {bs}"),
    ("pth_result", "python3 GAN_pth_result.py --pth_path=generator_8p_0.0008_128.pth --dataset_path=./vectors "
                   "--save_path=./pth_result"),
    ("accuracy", "python3 GAN_eval_acc.py --pth_result_path=./pth_result --om_result_path=./result/bs{bs} "
                 "--log_save_name=GAN_eval_acc_bs{bs}.log"),
    ("postprocess", "python3 GAN_postprocess.py --txt_path=./result/bs{bs} --infer_results_path=genimg"),
    ("performance", "python3 ../common/infer.py --model GAN_sim_bs{bs}.onnx --output ./result "
                    "--output_dirname perf_bs{bs} --batchsize {bs} --loop {loop}"),
    ("precision", "python3 ../common/precision.py --model GAN_sim_bs{bs}.onnx --input ./vectors --num 64 "
                  "--mode force_fp16 --threshold 0.99 --keep_dtype_out keep_dtype.cfg --report precision_bs{bs}.json"),
]


def trained_standin(params):
    """The driver's default weights: the stand-in trained on the digit scans (cached after its first run)."""
    return trained_checkpoint(epochs=params["standin_epochs"])[0]


def prepare(folder, params, checkpoint):
    # checkpoint None (--standin random): a plain state_dict with module. keys, seed 0.
    return [driver.place_weights(Path(folder) / CHECKPOINT, checkpoint, random_checkpoint)]


def summarize(folder, params):
    folder = Path(folder)
    saved = json.loads((folder / f"GAN_eval_acc_bs{params['bs']}.json").read_text())
    acc = saved["aggregate"]
    perf = json.loads((folder / "result" / f"perf_bs{params['bs']}_summary.json").read_text())
    pictures = sorted((folder / "genimg").glob("*.png"))
    grids = [p for p in pictures if p.name.endswith("grid.png")]
    return {"cosine": acc["mean_cosine"], "min_cosine": acc["min_cosine"], "max_abs": acc["max_abs"],
            "images": len(pictures) - len(grids), "grids": len(grids),
            "online_pictures": len(list((folder / "images").glob("*.png"))),
            "digit_score": saved.get("digit_score"), "digit_fid": saved.get("digit_fid"),
            "real_digit_score": saved.get("real_digit_score"),
            "throughput": perf["throughput"], "batchsize": params["bs"], "report": str(folder / saved["report"]),
            **driver.fp16_figures(folder / f"precision_bs{params['bs']}.json")}
