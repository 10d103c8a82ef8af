"""The CycleGAN (maps) README chain, both directions, for common/driver.py (contract in its docstring).

Without --checkpoint the driver gets seeded random G_A and G_B (official plain state_dicts) of reduced width
(ngf standin_width, 8; the released files' 64 with --param standin_width=64)."""
import json
from pathlib import Path

from common import driver
from common.errors import UserError
from cyclegan_data import write_synthetic_maps
from cyclegan_facts import DIRECTIONS, FACTS
from cyclegan_model import random_checkpoint

CHECKPOINT = "checkpoints/maps_cycle_gan/" + FACTS.checkpoints[0]  # G_A, with G_B beside it
README_PARAMS = {"bs": 1, "num": 4}
# num: synthetic 600x600 image pairs the driver writes; standin_width: the random stand-in's ngf
# (driver.standin_width), not a README command's
DRIVER_PARAMS = {"bs": 1, "num": 1, "standin_width": 8}
# side -> (the tag of its ONNX file names, model_<tag>.onnx, and its input name)
_SIDES = {side: (Path(d.onnx_file).stem.split("_", 1)[1], d.input) for side, d in DIRECTIONS.items()}

STEPS = [
    ("preprocess", "python3 CycleGAN_preprocess.py --src_path_testA=./datasets/maps/testA/ "
                   "--save_pathTestA_dst=./datasetsDst/maps/testA/ --src_path_testB=./datasets/maps/testB/ "
                   "--save_pathTestB_dst=./datasetsDst/maps/testB/"),
    ("pth2onnx", "python3 CycleGAN_pth2onnx.py --model_ga_path=./checkpoints/maps_cycle_gan/latest_net_G_A.pth "
                 "--model_gb_path=./checkpoints/maps_cycle_gan/latest_net_G_B.pth --onnx_path=./onnxmodel/ "
                 "--model_ga_onnx_name=model_Ga.onnx --model_gb_onnx_name=model_Gb.onnx"),
    *[(f"simplify_{g}", f"python3 ../common/simplify.py ./onnxmodel/model_{g}.onnx ./onnxmodel/model_{g}_bs{{bs}}.onnx "
                        f"--input-shape {name}:{{bs}},3,256,256") for g, name in _SIDES.values()],
    ("reflectpad", "python3 CycleGAN_ReflectpadDeal.py --onnx_path=./onnxmodel/ "
                   "--model_ga_onnx_name=model_Ga_bs{bs}.onnx --model_gb_onnx_name=model_Gb_bs{bs}.onnx "
                   "--output_ga_name=model_Ga_bs{bs}_exact.onnx --output_gb_name=model_Gb_bs{bs}_exact.onnx"),
    *[(f"infer_{s}", f"python3 ../common/infer.py --model ./onnxmodel/model_{g}_bs{{bs}}_exact.onnx "
                     f"--input ./datasetsDst/maps/test{s}/ --output ./result/ --output_dirname {s}bs{{bs}} "
                     f"--outfmt BIN --batchsize {{bs}}") for s, (g, _) in _SIDES.items()],
    *[(f"pth_result_{s}", f"python3 CycleGAN_pth_result.py "
                          f"--model_path=./checkpoints/maps_cycle_gan/latest_net_G_{s}.pth "
                          f"--input=./datasetsDst/maps/test{s}/ --output=./pth_result/test{s}/") for s in _SIDES],
    *[(f"postprocess_{s}", f"python3 CycleGAN_postprocess.py --dataroot=./datasets/maps/test{s}/ "
                           f"--npu_bin_file=./result/{s}bs{{bs}}/ --bin2img_fie=./bin2imgfile/test{s}/")
      for s in _SIDES],
    *[(f"accuracy_{s}", f"python3 CycleGAN_eval_acc.py --pth_result=./pth_result/test{s}/ "
                        f"--npu_bin_file=./result/{s}bs{{bs}}/") for s in _SIDES],
    *[(f"precision_{s}", f"python3 ../common/precision.py --model ./onnxmodel/model_{g}_bs{{bs}}_exact.onnx "
                         f"--input ./datasetsDst/maps/test{s}/ --num {{num}} --mode force_fp16 --threshold 0.99 "
                         f"--keep_dtype_out keep_dtype_{g}.cfg --report precision_{g}_bs{{bs}}.json")
      for s, (g, _) in _SIDES.items()],
]


def prepare(folder, params, checkpoint):
    """Weights (seeded random G_A, and G_B in the legacy InstanceNorm layout, unless given) and a synthetic
    maps-like test split of `num` 600x600 pairs."""
    folder = Path(folder)
    name_a, name_b = FACTS.checkpoints
    target_a = folder / CHECKPOINT
    target_b = target_a.with_name(name_b)
    partner = None
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        partner = checkpoint.with_name(checkpoint.name.replace("G_A", "G_B"))
        if partner == checkpoint or not partner.is_file():
            raise UserError(f"{checkpoint}: give the G_A checkpoint ({name_a}) with its {name_b} beside it")
    # Without weights, G_B is written in the legacy InstanceNorm layout, so the run exercises that loader too.
    width = driver.standin_width(params)
    notes = [driver.place_weights(target_a, checkpoint, lambda path: random_checkpoint(path, seed=0, ngf=width)),
             driver.place_weights(target_b, partner,
                                  lambda path: random_checkpoint(path, seed=1, legacy=True, ngf=width))]
    write_synthetic_maps(folder / "datasets" / "maps", params["num"], seed=0)
    notes.append(f"synthetic maps test split: {params['num']} pairs of 600x600 JPEGs in datasets/maps/testA, testB")
    return notes


def summarize(folder, params):
    folder = Path(folder)
    results = {}
    for side in _SIDES:
        run = f"{side}bs{params['bs']}"
        saved = json.loads((folder / "acc_result" / f"{run}.json").read_text())
        agg = saved["aggregate"]
        perf = json.loads((folder / "result" / f"{run}_summary.json").read_text())
        results[side] = {"cosine": agg["mean_cosine"], "pixel_cosine": agg["mean_pixel_cosine"],
                         "psnr": agg["psnr"], "throughput": perf["throughput"],
                         "images": len([p for p in (folder / "bin2imgfile" / f"test{side}").glob("*.png")
                                        if p.name != "grid.png"]),
                         "report": str(folder / saved["report"]),
                         **driver.fp16_figures(folder / f"precision_{_SIDES[side][0]}_bs{params['bs']}.json")}
    return {"cosine": sum(r["cosine"] for r in results.values()) / len(results),
            "images": sum(r["images"] for r in results.values()),
            "throughput": results["A"]["throughput"],
            "fp16_cosine": min(r["fp16_cosine"] for r in results.values()),
            "fp16_mode": results["A"]["fp16_mode"],
            "per_direction": results}
