"""G_A and G_B checkpoints -> two ONNX models (opset 11, dynamic batch), each verified against PyTorch.

G_A (aerial photo -> map): input `img_sat_maps`, output `maps`. G_B (map -> aerial photo): input
`img_maps_sat`, output `sat`. Both are (batch, 3, 256, 256) float32. The checkpoints are upstream's
latest_net_G_A.pth / latest_net_G_B.pth (plain state_dicts; old files with InstanceNorm running-stat keys
load too). The graphs keep upstream's reflection padding as Pad(mode=reflect); CycleGAN_ReflectpadDeal.py
rewrites it for converters that reject that mode. The final Tanh node is named Tanh_156, the name the original
ATC commands give to --out_nodes="Tanh_156:0" (torch 1.5's automatic name for it). CycleGAN_onnx_export.py
(the first generation's name) is this script.

    python3 CycleGAN_pth2onnx.py --model_ga_path=./checkpoints/maps_cycle_gan/latest_net_G_A.pth \\
        --model_gb_path=./checkpoints/maps_cycle_gan/latest_net_G_B.pth --onnx_path=./onnxmodel/ \\
        --model_ga_onnx_name=model_Ga.onnx --model_gb_onnx_name=model_Gb.onnx
"""
import contextlib
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import torch

from common import cli, onnx_utils, staging
from common.errors import CheckFailed
from cyclegan_facts import DIRECTIONS, SAMPLE_SHAPE
from cyclegan_model import load_generator

VERIFY_BATCH = 2  # > 1, so the dynamic batch axis is exercised too
OUT_NODE = "Tanh_156"  # the original ATC commands' --out_nodes="Tanh_156:0"


def name_output_node(model, path):
    """Name the node producing the graph's single output OUT_NODE; it must be the generator's final Tanh."""
    output = model.graph.output[0].name
    producers = [n for n in model.graph.node if output in n.output]
    if len(producers) != 1 or producers[0].op_type != "Tanh":
        raise CheckFailed(f"{path}: the output {output!r} is not produced by one Tanh node")
    if any(n.name == OUT_NODE for n in model.graph.node if n is not producers[0]):
        raise CheckFailed(f"{path}: another node is already named {OUT_NODE}")
    producers[0].name = OUT_NODE
    return model


def export_generator(pth, onnx_file, direction, opset, seed, atol, staged=None):
    """Export, name, verify. `staged`: the OutputSet path to write instead of `onnx_file` (which then appears
    when the set commits); without it the file is written atomically on its own."""
    names = DIRECTIONS[direction]
    model = load_generator(pth)
    dummy = torch.randn((1, *SAMPLE_SHAPE), generator=torch.Generator().manual_seed(seed))
    feeds = onnx_utils.seeded_feeds({names.input: [VERIFY_BATCH, *SAMPLE_SHAPE]}, seed)
    with staging.atomic_path(onnx_file) if staged is None else contextlib.nullcontext(staged) as tmp:
        # exported, named, verified and renamed, or not there at all
        onnx_utils.export(model, (dummy,), tmp, [names.input], [names.output], opset=opset)
        onnx_utils.save(name_output_node(onnx_utils.load(tmp), onnx_file), tmp)
        diff = onnx_utils.verify_against_torch(tmp, model, feeds, atol=atol, name=onnx_file)
    print(f"{names.net} {pth} -> {onnx_file}: {names.input} -> {names.output}, opset {opset}, dynamic batch; "
          f"final node {OUT_NODE}; ONNX Runtime vs PyTorch max abs diff {diff[names.output]:.2g} (batch {VERIFY_BATCH}, atol {atol:g})")


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--model_ga_path", type=cli.reads, default="./checkpoints/maps_cycle_gan/latest_net_G_A.pth",
                   help="G_A checkpoint (aerial photo -> map)")
    p.add_argument("--model_gb_path", type=cli.reads, default="./checkpoints/maps_cycle_gan/latest_net_G_B.pth",
                   help="G_B checkpoint (map -> aerial photo)")
    p.add_argument("--onnx_path", type=cli.writes_into, default="./onnxmodel/", help="folder for the ONNX files")
    p.add_argument("--model_ga_onnx_name", type=cli.file_name, default=DIRECTIONS["A"].onnx_file,
                   help="G_A's ONNX file name in --onnx_path")
    p.add_argument("--model_gb_onnx_name", type=cli.file_name, default=DIRECTIONS["B"].onnx_file,
                   help="G_B's ONNX file name in --onnx_path")
    p.add_argument("--opset", type=onnx_utils.opset, default=onnx_utils.DEFAULT_OPSET, help="ONNX opset (ATC accepts 11)")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the export and verification inputs")
    p.add_argument("--atol", type=cli.tolerance, default=1e-4,
                   help="largest accepted |ONNX Runtime - PyTorch| in the verification")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    out = Path(args.onnx_path)
    jobs = [(args.model_ga_path, args.model_ga_onnx_name, "A"), (args.model_gb_path, args.model_gb_onnx_name, "B")]
    staging.check_apart(reads=[("--model_ga_path", args.model_ga_path), ("--model_gb_path", args.model_gb_path)],
                        writes=[("--model_ga_onnx_name", out / args.model_ga_onnx_name),
                                ("--model_gb_onnx_name", out / args.model_gb_onnx_name)])
    for pth, _, _ in jobs:  # both checkpoints must load before anything is written
        load_generator(pth)
    # The two models appear together, each verified, or neither does.
    with staging.OutputSet() as outputs:
        for pth, name, direction in jobs:
            export_generator(pth, out / name, direction, args.opset, args.seed, args.atol,
                             staged=outputs.file(out / name))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
