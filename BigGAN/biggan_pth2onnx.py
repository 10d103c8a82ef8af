"""Export G_ema.pth to ONNX (inputs noise, label; output image; dynamic batch; opset 11), verified.

    python3 biggan_pth2onnx.py --source ./G_ema.pth --target ./biggan.onnx

By default spectral norm is folded into plain weights at load time (upstream's eval-mode value, computed
with its own float32 operations), so the graph has no power iteration and no Clip node. --sn-graph exports
the power iteration as the original Ascend graph did (ReduceL2 -> Clip with an empty max -> Div per layer);
that graph then needs clip_edit.py and simplification. Either way the ONNX Runtime output is checked against
PyTorch on a seeded batch of inputs built as biggan_preprocess.py builds them.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import torch

import biggan_model
from biggan_facts import FACTS
from common import cli, onnx_utils


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--source", type=cli.reads, default="./G_ema.pth", help="BigGAN generator checkpoint")
    p.add_argument("--target", type=cli.writes, default="./biggan.onnx", help="ONNX file to write")
    p.add_argument("--sn-graph", action="store_true",
                   help="keep upstream's spectral-norm power iteration in the graph (Clip nodes with an empty "
                        "max, as the original biggan.onnx) instead of folding it into the weights")
    p.add_argument("--atol", type=cli.tolerance, default=1e-4, help="largest accepted |ONNX Runtime - PyTorch|")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the verification input")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    model = biggan_model.load_generator(args.source, fold_sn=not args.sn_graph)
    config = model.config
    dummy = (torch.zeros(1, *config.noise_shape), torch.zeros(1, *config.label_shape))
    noise, label = biggan_model.seeded_inputs(model, 2, args.seed)
    graph = FACTS.graph
    feeds = dict(zip([t.name for t in graph.inputs], (noise, label)))
    diff = onnx_utils.export_verified(model, dummy, args.target, [t.name for t in graph.inputs],
                                      [t.name for t in graph.outputs], feeds, atol=args.atol)
    ops = onnx_utils.count_ops(onnx_utils.load(args.target))
    print(f"{args.target}: G_ch {config.ch}, noise (batch, {', '.join(map(str, config.noise_shape))}), label "
          f"(batch, {', '.join(map(str, config.label_shape))}) -> image (batch, 3, 128, 128); "
          f"{sum(ops.values())} nodes; verified against PyTorch, max abs diff {diff['image']:.2g}")
    if args.sn_graph:
        print(f"spectral norm kept in the graph: {ops['Clip']} Clip node(s); run clip_edit.py, then simplify")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
