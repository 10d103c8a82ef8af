"""The Pix2pixHD README chain for common/driver.py (contract in its docstring).

Without official weights the driver gets a seeded random latest_net_G.pth (the official plain state_dict) of
reduced width (ngf standin_width, 4: 11 MB; the released file's 32, 731 MB, with --param standin_width=32) and,
without Cityscapes, a seeded synthetic gtFine/val split (label and 16-bit instance maps) at the chain's size: 64x128
by default, since one 1024x2048 image costs about 1.5 TFLOPs per pass.
"""
import json
from pathlib import Path

from common import driver
from pix2pixhd_facts import FACTS
from pix2pixhd_model import random_checkpoint
from pix2pixhd_synthetic import write_cityscapes

CHECKPOINT = "pix2pixHD/checkpoints/label2city_1024p/" + FACTS.checkpoints[0]
SPLIT_DIR = "datasets/gtFine/val"
README_PARAMS = {"height": 1024, "width": 2048}
# standin_width: the random stand-in's ngf (driver.standin_width), not a README command's
DRIVER_PARAMS = {"height": 64, "width": 128, "standin_width": 4}
STEPS = [
    ("datasets_deal", "python3 datasets_deal.py ./pix2pixHD/datasets/cityscapes/test_inst "
                      "./pix2pixHD/datasets/cityscapes/test_label ./datasets/gtFine/val"),
    ("preprocess", "python3 pix2pixhd_preprocess.py ./pix2pixHD/datasets/cityscapes ./prep_datasets"),
    ("pth2onnx", "python3 pix2pixhd_pth2onnx.py --load_pretrain ./pix2pixHD/checkpoints/label2city_1024p/ "
                 "--output_file pix2pixhd.onnx --height {height} --width {width}"),
    ("infer", "python3 ../common/infer.py --model pix2pixhd.onnx --input ./prep_datasets/ --output ./result/ "
              "--output_dirname bs1 --outfmt BIN --batchsize 1"),
    ("postprocess", "python3 pix2pixhd_postprocess.py ./result/bs1 ./result/bs1generated "
                    "--height {height} --width {width}"),
    ("eval_acc", "python3 pix2pixhd_eval_acc.py --load_pretrain ./pix2pixHD/checkpoints/label2city_1024p/ "
                 "--input ./prep_datasets/ --result ./result/bs1 --height {height} --width {width}"),
    ("precision", "python3 ../common/precision.py --model pix2pixhd.onnx --input ./prep_datasets/ --num 1 "
                  "--mode force_fp16 --threshold 0.99 --keep_dtype_out keep_dtype.cfg --report precision_bs1.json"),
]


def prepare(folder, params, checkpoint):
    folder = Path(folder)
    width = driver.standin_width(params)
    notes = [driver.place_weights(folder / CHECKPOINT, checkpoint, lambda path: random_checkpoint(path, ngf=width))]
    frames = write_cityscapes(folder / "datasets", split="val", height=params["height"], width=params["width"])
    notes.append(f"synthetic Cityscapes: {len(frames)} label/instance pairs of {params['height']}x{params['width']} "
                 f"in {folder / SPLIT_DIR}")
    return notes


def summarize(folder, params):
    folder = Path(folder)
    acc = json.loads((folder / "pix2pixhd_acc.json").read_text())
    perf = json.loads((folder / "result" / "bs1_summary.json").read_text())
    pictures = [p for p in (folder / "result" / "bs1generated").glob("*.jpg") if p.name != "grid.jpg"]
    return {"cosine": acc["aggregate"]["mean_cosine"],
            "max_abs": acc["aggregate"]["max_abs"],
            "psnr": acc["aggregate"]["psnr"],
            "images": len(pictures),
            "throughput": perf["throughput"],
            "report": str(folder / acc["report"]),
            **driver.fp16_figures(folder / "precision_bs1.json")}
