"""The toy chain: the driver's own test fixture (see common/driver.py for the contract)."""
import json
from pathlib import Path

from common import driver
from toy_facts import FACTS
from toy_model import random_checkpoint

(CHECKPOINT,) = FACTS.checkpoints
README_PARAMS = {"num": 10, "bs": 4}
DRIVER_PARAMS = {"num": 10, "bs": 4}
STEPS = [
    ("preprocess", "python3 toy_preprocess.py ./prep --num {num}"),
    ("pth2onnx", "python3 toy_pth2onnx.py ./toy.pth ./toy.onnx"),
    ("simplify", "python3 ../common/simplify.py toy.onnx toy_sim_bs{bs}.onnx --input-shape z:{bs},8"),
    ("infer", "python3 ../common/infer.py --model toy_sim_bs{bs}.onnx --input ./prep --output ./result "
              "--output_dirname bs{bs} --outfmt BIN --batchsize {bs}"),
    ("pth_result", "python3 toy_pth_result.py ./toy.pth ./prep ./pth_result"),
    ("accuracy", "python3 toy_acc.py ./pth_result ./result/bs{bs}"),
]


def prepare(folder, params, checkpoint):
    return [driver.place_weights(Path(folder) / CHECKPOINT, checkpoint, random_checkpoint)]


def summarize(folder, params):
    folder = Path(folder)
    acc = json.loads((folder / "toy_acc.json").read_text())
    perf = json.loads((folder / "result" / f"bs{params['bs']}_summary.json").read_text())
    return {"cosine": acc["aggregate"]["mean_cosine"],
            "images": len(list((folder / "toy_images").glob("z_*.png"))),
            "throughput": perf["throughput"], "report": str(folder / acc["report"])}
