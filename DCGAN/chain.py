"""The DCGAN README chain, for common/driver.py (contract in its docstring)."""
import json
from pathlib import Path

from common import driver
from dcgan_facts import FACTS
from dcgan_model import random_checkpoint
from dcgan_train_standin import RECIPE, trained_checkpoint

(CHECKPOINT,) = FACTS.checkpoints
README_PARAMS = {"num": 8192, "bs": 16, "loop": 1000}
# standin_epochs: the trained stand-in's schedule (driver.stand_in), not a README command's
DRIVER_PARAMS = {"num": 128, "bs": 16, "loop": 50, "standin_epochs": RECIPE.epochs}
STEPS = [
    ("preprocess", "python3 dcgan_preprocess.py ./prep_dataset --num {num}"),
    ("pth2onnx", "python3 dcgan_pth2onnx.py ./checkpoint-amp-epoch_200.pth ./dcgan.onnx"),
    ("simplify", "python3 ../common/simplify.py dcgan.onnx dcgan_sim_bs{bs}.onnx --input-shape noise:{bs},100,1,1"),
    ("infer", "python3 ../common/infer.py --model dcgan_sim_bs{bs}.onnx --input ./prep_dataset --output ./result "
              "--output_dirname bs{bs} --outfmt BIN --batchsize {bs}"),
    ("pth_result", "python3 dcgan_pth_result.py --checkpoint_path=./checkpoint-amp-epoch_200.pth "
                   "--dataset_path=./prep_dataset --save_path=./pth_result"),
    ("accuracy", "python3 dcgan_acc_eval.py --pth_result_path=./pth_result/ --om_result_path=./result/bs{bs}/ "
                 "--log_save_name=dcgan_acc_eval_bs{bs}.log"),
    ("postprocess", "python3 dcgan_postprocess.py --benchmark_result_path=./result/bs{bs} "
                    "--save_path=./postprocess_img"),
    ("performance", "python3 ../common/infer.py --model dcgan_sim_bs{bs}.onnx --output ./result "
                    "--output_dirname perf_bs{bs} --batchsize {bs} --loop {loop}"),
    ("precision", "python3 ../common/precision.py --model dcgan_sim_bs{bs}.onnx --input ./prep_dataset --num 64 "
                  "--mode force_fp16 --threshold 0.99 --keep_dtype_out keep_dtype.cfg --report precision_bs{bs}.json"),
]


def trained_standin(params):
    """The driver's default weights: the stand-in trained on the digit scans (cached after its first run)."""
    return trained_checkpoint(epochs=params["standin_epochs"])[0]


def prepare(folder, params, checkpoint):
    # checkpoint None (--standin random): Ascend's training container, 'G' with module. keys, seed 0.
    return [driver.place_weights(Path(folder) / CHECKPOINT, checkpoint, random_checkpoint)]


def summarize(folder, params):
    folder = Path(folder)
    saved = json.loads((folder / f"dcgan_acc_eval_bs{params['bs']}.json").read_text())
    acc = saved["aggregate"]
    perf = json.loads((folder / "result" / f"perf_bs{params['bs']}_summary.json").read_text())
    grid = folder / "postprocess_img" / "grid.png"
    return {"cosine": acc["mean_cosine"], "min_cosine": acc["min_cosine"], "max_abs": acc["max_abs"],
            "images": len(list((folder / "postprocess_img").glob("noise_*.png"))),
            "grid": str(grid) if grid.is_file() else None,
            "digit_score": saved.get("digit_score"), "digit_fid": saved.get("digit_fid"),
            "real_digit_score": saved.get("real_digit_score"),
            "throughput": perf["throughput"], "batchsize": params["bs"], "report": str(folder / saved["report"]),
            **driver.fp16_figures(folder / f"precision_bs{params['bs']}.json")}
