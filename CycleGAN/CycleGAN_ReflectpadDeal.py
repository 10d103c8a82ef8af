"""Rewrite the reflect-mode Pad nodes of the G_A and G_B graphs for converters that reject that mode.

ATC (and some other converters) refuse Pad(mode=reflect) ("Mode attr of Pad only supports constant").
Two modes:
  exact (default)  each reflect Pad becomes Slice + Concat that copy the reflected rows and columns, so the
                   output is unchanged (checked on a seeded input, --atol). The pads must be constants:
                   the TorchScript exporter computes them at run time, so simplify the graph first
                   (python3 ../common/simplify.py ... --input-shape img_sat_maps:1,3,256,256), which folds them.
  constant         the original Ascend edit: every reflect Pad becomes zero padding. It changes the model
                   (blurred, darkened borders); kept to measure that drift. Works on any graph.
G_A and G_B are each written to their own file (<name>_<mode>.onnx by default); only Pad nodes are
touched, and the script reports which, the operator counts before and after, and the numeric check.

    python3 CycleGAN_ReflectpadDeal.py --onnx_path=./onnxmodel/ --model_ga_onnx_name=model_Ga_bs1.onnx \\
        --model_gb_onnx_name=model_Gb_bs1.onnx
"""
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common/ beside this folder

import onnx

from common import binio, cli, onnx_utils, similarity
from common.cli import CheckFailed, UserError

EDITS = {"exact": onnx_utils.reflect_pad_to_slices, "constant": onnx_utils.reflect_pad_to_constant}


def _signature(node):
    return node.SerializeToString(deterministic=True)


def check_only_pads_changed(source, edited, path):
    """Every node of `source` other than a Pad must be in `edited`, byte for byte, and the graph's inputs
    and outputs must be the same: the edit may replace Pad nodes (and drop the constants only they read),
    nothing else."""
    readers = {}
    for node in source.graph.node:
        for name in node.input:
            readers.setdefault(name, set()).add(node.op_type)
    kept = Counter(_signature(n) for n in edited.graph.node)
    for node in source.graph.node:
        if node.op_type == "Pad" or (node.op_type == "Constant" and readers.get(node.output[0]) == {"Pad"}):
            continue
        if kept[_signature(node)] <= 0:
            raise CheckFailed(f"{path}: the edit changed node {node.name or node.output[0]!r} "
                              f"({node.op_type}), which is not a Pad")
        kept[_signature(node)] -= 1
    for what in ("input", "output"):
        ours, theirs = getattr(source.graph, what), getattr(edited.graph, what)
        if [_signature(v) for v in ours] != [_signature(v) for v in theirs]:
            raise CheckFailed(f"{path}: the edit changed the graph's {what}s")


def _verification_feeds(model, seed):
    shapes = {name: [d if isinstance(d, int) and d > 0 else 1 for d in dims]
              for name, dims in onnx_utils.input_shapes(model).items()}
    return onnx_utils.seeded_feeds(shapes, seed)


def edit_file(src, dst, mode, atol, seed):
    """Edit one graph into `dst` (renamed into place only once checked); returns the report lines."""
    model = onnx_utils.load(src)
    source = onnx.ModelProto()
    source.CopyFrom(model)
    if not onnx_utils.reflect_pads(model):
        raise UserError(f"{src}: has no reflect-mode Pad node to rewrite (already edited?); nothing written")
    try:
        changed = EDITS[mode](model)
    except UserError as err:
        raise UserError(f"{src}: {err}") from None
    check_only_pads_changed(source, model, dst)

    before, after = onnx_utils.count_ops(source), onnx_utils.count_ops(model)
    ops = ", ".join(f"{op} {before[op]} -> {after[op]}" for op in sorted(set(before) | set(after))
                    if before[op] != after[op])
    what = "Slice + Concat (exact)" if mode == "exact" else "zero padding (constant)"
    lines = [f"{src} -> {dst}: {len(changed)} reflect Pad node(s) rewritten as {what}; "
             f"{ops or 'no op count change'}; all other nodes unchanged"]
    lines += [f"  {name}" for name in changed]

    with binio.atomic_path(dst) as tmp:
        onnx_utils.save(model, tmp)
        onnx_utils.check(tmp)
        feeds = _verification_feeds(source, seed)
        reference, candidate = onnx_utils.run(src, feeds), onnx_utils.run(tmp, feeds)
        if mode == "exact":
            names = [o.name for o in source.graph.output]
            diff = onnx_utils.compare_outputs(reference, candidate, names, f"{dst} vs {src}", atol)
            lines.append(f"  verified: max abs diff vs {src} {max(diff.values()):.2g} on a seeded input "
                         f"(atol {atol:g})")
        else:
            figures = similarity.compare(reference[0], candidate[0])
            lines.append(f"  changes the model: vs {src} on a seeded input, cosine {figures['cosine']:.6f}, "
                         f"PSNR {figures['psnr']:.2f} dB, max abs diff {figures['max_abs']:.3g}")
    return lines


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--onnx_path", default="./onnxmodel/", help="folder holding the ONNX files")
    p.add_argument("--model_ga_onnx_name", default="model_Ga.onnx", help="G_A's ONNX file in --onnx_path")
    p.add_argument("--model_gb_onnx_name", default="model_Gb.onnx", help="G_B's ONNX file in --onnx_path")
    p.add_argument("--mode", choices=sorted(EDITS), default="exact",
                   help="exact: Slice + Concat, same output; constant: zero padding (the original edit)")
    p.add_argument("--output_ga_name", "--save_ga_name", dest="output_ga_name", default=None,
                   help="edited G_A file name in --onnx_path (default: <G_A name>_<mode>.onnx)")
    p.add_argument("--output_gb_name", "--save_gb_name", dest="output_gb_name", default=None,
                   help="edited G_B file name in --onnx_path (default: <G_B name>_<mode>.onnx)")
    p.add_argument("--atol", type=float, default=1e-5,
                   help="exact mode: largest accepted |edited - source| on the seeded input")
    p.add_argument("--seed", type=int, default=0, help="seed of the verification input")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    folder = Path(args.onnx_path)
    jobs = []
    for name, output in ((args.model_ga_onnx_name, args.output_ga_name),
                         (args.model_gb_onnx_name, args.output_gb_name)):
        src = folder / name
        dst = folder / (output or f"{Path(name).stem}_{args.mode}.onnx")
        if dst.resolve() == src.resolve():
            raise UserError(f"{dst}: the output would overwrite its source; choose another name")
        jobs.append((src, dst))
    if jobs[0][1].resolve() == jobs[1][1].resolve():
        raise UserError(f"{jobs[0][1]}: G_A and G_B would be written to the same file; give distinct names")
    for src, _ in jobs:  # both sources must be there before anything is written
        onnx_utils.load(src)
    for src, dst in jobs:
        for line in edit_file(src, dst, args.mode, args.atol, args.seed):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
