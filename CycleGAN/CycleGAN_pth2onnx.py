"""G_A and G_B checkpoints -> two ONNX models (opset 11, dynamic batch), each verified against PyTorch.

G_A (aerial photo -> map): input `img_sat_maps`, output `maps`. G_B (map -> aerial photo): input
`img_maps_sat`, output `sat`. Both are (batch, 3, 256, 256) float32. The checkpoints are upstream's
latest_net_G_A.pth / latest_net_G_B.pth (plain state_dicts; old files with InstanceNorm running-stat keys
load too). The graphs keep upstream's reflection padding as Pad(mode=reflect); CycleGAN_ReflectpadDeal.py
rewrites it for converters that reject that mode.

    python3 CycleGAN_pth2onnx.py --model_ga_path=./checkpoints/maps_cycle_gan/latest_net_G_A.pth \\
        --model_gb_path=./checkpoints/maps_cycle_gan/latest_net_G_B.pth --onnx_path=./onnxmodel/ \\
        --model_ga_onnx_name=model_Ga.onnx --model_gb_onnx_name=model_Gb.onnx
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common/ beside this folder

import torch

from common import cli, onnx_utils
from cyclegan_model import DIRECTIONS, SAMPLE_SHAPE, load_generator

VERIFY_BATCH = 2  # > 1, so the dynamic batch axis is exercised too


def export_generator(pth, onnx_file, direction, opset, seed, atol):
    names = DIRECTIONS[direction]
    model = load_generator(pth)
    dummy = torch.randn((1, *SAMPLE_SHAPE), generator=torch.Generator().manual_seed(seed))
    onnx_utils.export(model, (dummy,), onnx_file, [names.input], [names.output], opset=opset)
    feeds = onnx_utils.seeded_feeds({names.input: [VERIFY_BATCH, *SAMPLE_SHAPE]}, seed)
    diff = onnx_utils.verify_against_torch(onnx_file, model, feeds, atol=atol)
    print(f"{names.net} {pth} -> {onnx_file}: {names.input} -> {names.output}, opset {opset}, dynamic batch; "
          f"ONNX Runtime vs PyTorch max abs diff {diff[names.output]:.2g} (batch {VERIFY_BATCH}, atol {atol:g})")


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--model_ga_path", default="./checkpoints/maps_cycle_gan/latest_net_G_A.pth",
                   help="G_A checkpoint (aerial photo -> map)")
    p.add_argument("--model_gb_path", default="./checkpoints/maps_cycle_gan/latest_net_G_B.pth",
                   help="G_B checkpoint (map -> aerial photo)")
    p.add_argument("--onnx_path", default="./onnxmodel/", help="folder for the ONNX files")
    p.add_argument("--model_ga_onnx_name", default="model_Ga.onnx", help="G_A's ONNX file name in --onnx_path")
    p.add_argument("--model_gb_onnx_name", default="model_Gb.onnx", help="G_B's ONNX file name in --onnx_path")
    p.add_argument("--opset", type=int, default=onnx_utils.DEFAULT_OPSET, help="ONNX opset (ATC accepts 11)")
    p.add_argument("--seed", type=int, default=0, help="seed of the export and verification inputs")
    p.add_argument("--atol", type=float, default=1e-4,
                   help="largest accepted |ONNX Runtime - PyTorch| in the verification")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    out = Path(args.onnx_path)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(args.model_ga_path, args.model_ga_onnx_name, "A"), (args.model_gb_path, args.model_gb_onnx_name, "B")]
    for pth, _, _ in jobs:  # both checkpoints must load before anything is written
        load_generator(pth)
    for pth, name, direction in jobs:
        export_generator(pth, out / name, direction, args.opset, args.seed, args.atol)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
