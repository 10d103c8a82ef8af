"""Simplify an ONNX model for fixed input shapes with onnxsim, and check it still computes the same.

    python3 ../common/simplify.py dcgan.onnx dcgan_sim_bs4.onnx --input-shape noise:4,100,1,1

The simplified graph is compared with the source on a seeded input (ONNX Runtime, CPU); a difference above
--atol is an error and nothing is written. The result is always a single file (onnxsim's own command line
splits models over 100 MB into external data, which converters and copy scripts then lose).
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli, onnx_utils, room
from common.errors import UserError


def input_shapes_from_args(items, src):
    """Named shapes ('noise:4,100,1,1'); a bare '4,100,1,1' is accepted for a single-input model."""
    shapes = {}
    for item in items:
        if ":" in item:
            shapes.update(cli.parse_named_shapes([item]))
        else:
            names = list(onnx_utils.input_shapes(onnx_utils.load(src)))
            if len(names) != 1:
                raise UserError(f"--input-shape {item!r}: {src} has {len(names)} inputs; name each one, "
                                f"e.g. {names[0]}:<dims>")
            shapes[names[0]] = cli.parse_shape(item, "--input-shape")
    return shapes


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0], prog="simplify.py")
    p.add_argument("src", type=cli.reads, help="ONNX model to simplify")
    p.add_argument("dst", type=cli.writes, help="simplified ONNX model to write")
    p.add_argument("--input-shape", "--overwrite-input-shape", dest="input_shape", nargs="+", default=[],
                   help="fixed shape of each input, name:d0,d1,... (space- or ;-separated)")
    p.add_argument("--atol", type=cli.tolerance, default=1e-4, help="largest accepted |difference| from the source")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the verification input")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    shapes = input_shapes_from_args(args.input_shape, args.src)
    # the verification feeds the model seeded inputs of these shapes (8 bytes a value at most): refuse what
    # this machine cannot hold
    room.check_memory(sum(math.prod(dims) for dims in shapes.values()) * 8,  # Python ints never wrap
                         f"--input-shape {' '.join(args.input_shape)}")
    before, after = onnx_utils.simplify(args.src, args.dst, shapes, atol=args.atol, seed=args.seed)
    print(f"{args.dst}: {sum(before.values())} -> {sum(after.values())} nodes, "
          f"verified against {args.src} (atol {args.atol:g})")
    for op in sorted(set(before) | set(after)):
        if before[op] != after[op]:
            print(f"  {op}: {before[op]} -> {after[op]}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
