"""Rewrite the reflect-mode Pad nodes of the G_A and G_B graphs for converters that reject that mode.

ATC (and some other converters) refuse Pad(mode=reflect) ("Mode attr of Pad only supports constant").
Two modes:
  exact (default)  each reflect Pad becomes Slice + Concat that copy the reflected rows and columns, so the
                   output is unchanged (checked on a seeded input, --atol). The TorchScript exporter computes
                   each Pad's pads at run time from constants alone; the script folds those chains into
                   constants itself (onnx's reference evaluator), so it runs on the plain export, and the
                   dynamic batch axis stays.
  constant         the original Ascend edit: every reflect Pad becomes zero padding. It changes the model
                   (blurred, darkened borders); kept to measure that drift. Works on any graph.
With no output names (the seed's command) each graph is edited in place, as the original did: exact mode only,
since the edited graph computes the same function, and the file is replaced only once the edit is checked, so the
seed's next `atc --model=./onnxmodel/model_Ga.onnx` converts the edited graph. Run again, it finds no reflect Pad
and changes nothing. --output_ga_name / --output_gb_name write the edit into a new file instead (each graph from
its own source: the original wrote G_A over G_B's file); constant mode, which loses the true graph, needs them.
Only Pad nodes (and the constant chains computing their pads) are touched; the script reports which, the
operator counts before and after, and the numeric check.

    python3 CycleGAN_ReflectpadDeal.py --onnx_path=./onnxmodel/ --model_ga_onnx_name=model_Ga.onnx \\
        --model_gb_onnx_name=model_Gb.onnx
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import onnx

from common import cli, graph_edits, onnx_utils, similarity, staging
from common.errors import UserError
from cyclegan_facts import DIRECTIONS

EDITS = {"exact": graph_edits.reflect_pad_to_slices, "constant": graph_edits.reflect_pad_to_constant}


def edit_file(src, dst, mode, atol, seed):
    """Edit one graph into `dst` (renamed into place only once checked; `dst` may be `src`, an edit in place);
    returns the report lines."""
    model = onnx_utils.load(src)
    source = onnx.ModelProto()
    source.CopyFrom(model)
    if not graph_edits.reflect_pads(model):
        if dst == src:  # an in-place edit run again: the graph is already what it would make
            return [f"{src}: no reflect-mode Pad node left (already edited); unchanged"]
        raise UserError(f"{src}: has no reflect-mode Pad node to rewrite (already edited?); nothing written")
    try:
        changed = EDITS[mode](model)
    except UserError as err:
        raise UserError(f"{src}: {err}") from None
    graph_edits.check_only_pads_changed(source, model, dst)

    before, after = onnx_utils.count_ops(source), onnx_utils.count_ops(model)
    ops = ", ".join(f"{op} {before[op]} -> {after[op]}" for op in sorted(set(before) | set(after))
                    if before[op] != after[op])
    what = "Slice + Concat (exact)" if mode == "exact" else "zero padding (constant)"
    lines = [f"{src} -> {dst}: {len(changed)} reflect Pad node(s) rewritten as {what}; "
             f"{ops or 'no op count change'}; all other nodes unchanged"]
    lines += [f"  {name}" for name in changed]

    # exact mode must not change the output; constant mode does on purpose (atol inf): its drift is reported
    result = onnx_utils.save_verified_edit(src, model, dst, atol if mode == "exact" else float("inf"), seed=seed)
    if mode == "exact":
        lines.append(f"  verified: max abs diff vs {src} {max(result.diffs.values()):.2g} on a seeded input "
                     f"(atol {atol:g})")
    else:
        figures = similarity.compare(result.reference[0], result.edited[0])
        lines.append(f"  changes the model: vs {src} on a seeded input, cosine {figures['cosine']:.6f}, "
                     f"PSNR {figures['psnr']:.2f} dB, max abs diff {figures['max_abs']:.3g}")
    return lines


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--onnx_path", default="./onnxmodel/", help="folder holding the ONNX files")
    p.add_argument("--model_ga_onnx_name", type=cli.file_name, default=DIRECTIONS["A"].onnx_file,
                   help="G_A's ONNX file in --onnx_path")
    p.add_argument("--model_gb_onnx_name", type=cli.file_name, default=DIRECTIONS["B"].onnx_file,
                   help="G_B's ONNX file in --onnx_path")
    p.add_argument("--mode", choices=sorted(EDITS), default="exact",
                   help="exact: Slice + Concat, same output; constant: zero padding (the original edit)")
    p.add_argument("--output_ga_name", "--save_ga_name", dest="output_ga_name", type=cli.file_name, default=None,
                   help="edited G_A file name in --onnx_path (default: edit G_A's file in place, exact mode only)")
    p.add_argument("--output_gb_name", "--save_gb_name", dest="output_gb_name", type=cli.file_name, default=None,
                   help="edited G_B file name in --onnx_path (default: edit G_B's file in place, exact mode only)")
    p.add_argument("--atol", type=cli.tolerance, default=1e-5,
                   help="exact mode: largest accepted |edited - source| on the seeded input")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the verification input")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    folder = Path(args.onnx_path)
    # (source, edited file, its option); no output name: the source itself, edited in place
    jobs = [(folder / name, folder / (output or name), option, output is None)
            for name, output, option in ((args.model_ga_onnx_name, args.output_ga_name, "--output_ga_name"),
                                         (args.model_gb_onnx_name, args.output_gb_name, "--output_gb_name"))]
    in_place = [option for *_, option, inplace in jobs if inplace]
    if in_place and args.mode != "exact":
        raise UserError(f"--mode {args.mode} changes the model, so it never edits a file in place: give "
                        f"{' and '.join(in_place)} (a new file for each edited graph)")
    # a named output is never a source; an in-place edit replaces only its own source, and no file is edited twice
    staging.check_apart(reads=[("--model_ga_onnx_name", jobs[0][0]), ("--model_gb_onnx_name", jobs[1][0])],
                        writes=[(option, dst) for _, dst, option, inplace in jobs if not inplace])
    staging.check_apart(writes=[(option, dst) for _, dst, option, _ in jobs])
    for src, *_ in jobs:  # both sources must be there before anything is written
        onnx_utils.load(src)
    for src, dst, *_ in jobs:
        for line in edit_file(src, dst, args.mode, args.atol, args.seed):
            print(line)
    print(f"give ATC the edited files: atc --model={jobs[0][1]} ... and --model={jobs[1][1]} ...")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
