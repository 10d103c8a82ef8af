"""Give every Clip node with an empty 'max' input an explicit max, so onnxsim and converters accept the graph.

    python3 clip_edit.py --input-model biggan.onnx --output-model new_biggan.onnx

Only a graph exported with biggan_pth2onnx.py --sn-graph (or the original Ascend export) has such nodes: the
spectral-norm power iteration's F.normalize exports its clamp_min(eps) as Clip(x, eps, <no max>). The
default export folds spectral norm into the weights and has none; then there is nothing to do and the model
is written unchanged. The edited graph is checked to compute exactly what the input graph computes.
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np

from common import cli, graph_edits, onnx_utils, staging

# The Clip nodes bound the norms ||u W|| and ||v W^T|| of the power iteration from below by eps; their max
# must never bite. The largest finite float32 is at least every finite float32 norm, so the edited Clip equals
# the original on every value it can see. The original's 2048 does not have that property: spectral norm
# divides the scale of the raw weights out, so training leaves them at any scale, and ||u W|| is about the
# raw weight's largest singular value, which can exceed 2048 and would then be silently clipped.
CLIP_MAX = float(np.finfo(np.float32).max)


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--input-model", type=cli.reads, default="./biggan.onnx", help="ONNX model to edit")
    p.add_argument("--output-model", type=cli.writes, default="./new_biggan.onnx",
                   help="edited ONNX model to write (never the input: the edit is a new file)")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the verification input")
    p.add_argument("--atol", type=cli.tolerance, default=1e-6,
                   help="largest accepted |edited - input| (the edit changes no value, so 0 is expected)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    model = onnx_utils.load(args.input_model)
    changed = graph_edits.fill_clip_max(model, CLIP_MAX)
    if not changed:
        with staging.atomic_path(args.output_model) as tmp:  # never half a copy under the final name
            shutil.copyfile(args.input_model, tmp)
        print(f"{args.input_model}: nothing to do, no Clip node with an empty max (spectral norm is folded); "
              f"copied unchanged to {args.output_model}")
        return 0
    # verified on seeded inputs, a dynamic batch at 1
    result = onnx_utils.save_verified_edit(args.input_model, model, args.output_model, args.atol, seed=args.seed)
    diff = max(result.diffs.values())
    print(f"{args.output_model}: max {CLIP_MAX:.8g} given to {len(changed)} Clip node(s); "
          f"verified against {args.input_model}, max abs diff {diff:.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
