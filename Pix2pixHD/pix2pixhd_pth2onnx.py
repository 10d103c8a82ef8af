"""latest_net_G.pth -> ONNX (opset 11, dynamic batch, fixed height and width), verified against PyTorch.

    python3 pix2pixhd_pth2onnx.py --load_pretrain ./pix2pixHD/checkpoints/label2city_1024p/ --output_file pix2pixhd.onnx
    python3 pix2pixhd_pth2onnx.py --load_pretrain ./pix2pixHD/checkpoints/label2city_1024p/ --output_file pix2pixhd_compact.onnx --compact

The default model takes `input_concat` (B, 36, H, W) float32 and returns `fake_image` (B, 3, H, W) float32, as
the original export. With --compact it takes `label_map` and `edge_map`, (B, 1, H, W) uint8 each, and expands
the one-hot map inside the graph (Cast, Equal, Cast, Concat), for inputs 72 times smaller on disk.

The graph is traced and verified (ONNX Runtime against PyTorch, batch 2) at 64x128, where a pass costs 0.4 %
of one at 1024x2048. No operator in it depends on the spatial size (convolutions, reflect pads with constant
widths, InstanceNormalization, AveragePool), so the saved file is that graph with height and width declared
as --height/--width, as offline runners and ATC need; the tests run such a file at another size than the
trace's against PyTorch.
"""
import os
import sys
import warnings
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import onnx
import torch
from onnx import numpy_helper

from common import cli, onnx_utils, staging
import pix2pixhd_model as p2p
from pix2pixhd_data import check_size
from pix2pixhd_facts import COMPACT, FULL, HEIGHT, LABEL_NC, SIZE_MULTIPLE, WIDTH
# The trace and verification size: small (one 1024x2048 pass costs 1.5 TFLOPs), and batch 2 in the check
# shows that the batch axis is really dynamic.
TRACE_SIZE = (64, 128)
VERIFY_BATCH = 2


def input_shapes(compact, batch, height, width):
    """{input name: [batch, channels, height, width]} of the full or the compact graph."""
    return {t.name: [batch, t.shape[1], height, width] for t in (COMPACT if compact else FULL).inputs}


def verification_feeds(compact, batch, height, width, seed):
    shapes = input_shapes(compact, batch, height, width)
    if compact:  # label ids 0..34 and edges 0/1, as the preprocess writes them
        label_map, edge_map = (t.name for t in COMPACT.inputs)
        return onnx_utils.seeded_feeds(shapes, seed, dtypes={t.name: t.dtype for t in COMPACT.inputs},
                                       int_high={label_map: LABEL_NC, edge_map: 2})
    return onnx_utils.seeded_feeds(shapes, seed)


def tensor_names(compact):
    graph = COMPACT if compact else FULL
    return [t.name for t in graph.inputs], [t.name for t in graph.outputs]


def set_spatial_dims(model, height, width):
    """Declare axes 2 and 3 of every graph input and output as `height` and `width`; drop the traced
    intermediate shapes, which hold the trace size."""
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        dims[2].dim_value, dims[3].dim_value = height, width
    del model.graph.value_info[:]


def export(model, output_file, height, width, compact, opset=onnx_utils.DEFAULT_OPSET, seed=0):
    """Trace at TRACE_SIZE, verify there against PyTorch, then declare height x width in the saved file.

    Returns the largest |ONNX Runtime - PyTorch| of the verification."""
    output_file = Path(output_file)
    inputs, outputs = tensor_names(compact)
    dtype = torch.uint8 if compact else torch.float32
    dummy = [torch.zeros(shape, dtype=dtype) for shape in input_shapes(compact, 1, *TRACE_SIZE).values()]
    with staging.atomic_path(output_file) as traced:
        with warnings.catch_warnings():
            # InstanceNorm's Python-side checks of the channel count and of a spatial size > 1 are traced as
            # constants, which holds for every input of this generator.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            # Without the weights: the exporter would hold three copies of them at once (3.5 GB at its peak);
            # write_with_weights adds them one tensor at a time.
            onnx_utils.export(model, dummy, traced, inputs, outputs, opset=opset, export_params=False)
        graph = onnx_utils.load(traced)
        weights = weight_inputs(graph, model)
        write_with_weights(graph, weights, traced)
        onnx_utils.check(traced)
        feeds = verification_feeds(compact, VERIFY_BATCH, *TRACE_SIZE, seed)
        report = onnx_utils.verify_against_torch(traced, model, feeds)
        if (height, width) != TRACE_SIZE:
            set_spatial_dims(graph, height, width)
            write_with_weights(graph, weights, traced)
    return max(report.values())


def weight_inputs(graph, model):
    """Take out of `graph` (exported without weights) the inputs that name a parameter or buffer of `model`;
    returns [(name, tensor)] in their order, the order the exporter gives the initializers."""
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    weights = [(value.name, tensors[value.name]) for value in graph.graph.input if value.name in tensors]
    kept = [value for value in graph.graph.input if value.name not in tensors]
    del graph.graph.input[:]
    graph.graph.input.extend(kept)
    return weights


def write_with_weights(model, weights, path):
    """Write the ModelProto `model` to `path` with `weights` ([(name, torch tensor)]) added as initializers, one
    tensor in memory at a time. The bytes are those of SerializeToString (fields in number order: the graph's
    fields before its initializers, the initializers, the fields after them), so the file is the one the exporter
    writes with the weights; protobuf's 2 GB limit stays out of reach of a 730 MB generator."""
    head, tail = _split(model.graph, GRAPH_INITIALIZER)
    existing = onnx.GraphProto(initializer=model.graph.initializer)

    def initializer(name, tensor):  # a GraphProto holding only this initializer: its bytes are one field entry
        return onnx.GraphProto(initializer=[numpy_helper.from_array(tensor.detach().numpy(), name)])

    size = (head.ByteSize() + existing.ByteSize() + sum(initializer(*w).ByteSize() for w in weights)
            + tail.ByteSize())
    before, after = _split(model, MODEL_GRAPH)
    with open(path, "wb") as out:
        out.write(before.SerializeToString() + _varint(MODEL_GRAPH << 3 | 2) + _varint(size))  # length-delimited
        out.write(head.SerializeToString() + existing.SerializeToString())
        for name, tensor in weights:
            out.write(initializer(name, tensor).SerializeToString())
        out.write(tail.SerializeToString() + after.SerializeToString())


MODEL_GRAPH = onnx.ModelProto.DESCRIPTOR.fields_by_name["graph"].number  # 7
GRAPH_INITIALIZER = onnx.GraphProto.DESCRIPTOR.fields_by_name["initializer"].number  # 5


def _split(message, number):
    """Copies of `message` holding its fields numbered below `number`, and above it."""
    below, above = type(message)(), type(message)()
    for part in (below, above):
        part.CopyFrom(message)
    for field in message.DESCRIPTOR.fields:
        if field.number >= number:
            below.ClearField(field.name)
        if field.number <= number:
            above.ClearField(field.name)
    return below, above


def _varint(n):
    out = bytearray()
    while True:
        out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--load_pretrain", required=True, type=cli.reads,
                   help="folder holding <which_epoch>_net_G.pth (as pix2pixHD's option), or the .pth file")
    p.add_argument("--which_epoch", default="latest", help="checkpoint epoch name inside the --load_pretrain folder")
    p.add_argument("--output_file", "--output-file", dest="output_file", type=cli.writes, default="pix2pixhd.onnx",
                   help="ONNX file to write")
    p.add_argument("--height", type=cli.positive_int, default=HEIGHT, help=f"input height, a multiple of {SIZE_MULTIPLE}")
    p.add_argument("--width", type=cli.positive_int, default=WIDTH, help=f"input width, a multiple of {SIZE_MULTIPLE}")
    p.add_argument("--compact", action="store_true",
                   help="inputs label_map and edge_map (uint8, B x 1 x H x W) with the one-hot map built inside "
                        "the graph, instead of input_concat (float32, B x 36 x H x W)")
    p.add_argument("--opset", type=onnx_utils.opset, default=onnx_utils.DEFAULT_OPSET, help="ONNX opset (ATC takes 11)")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the verification inputs")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    check_size(args.height, args.width)
    model = p2p.load_generator(args.load_pretrain, args.which_epoch, compact=args.compact)
    worst = export(model, args.output_file, args.height, args.width, args.compact, args.opset, args.seed)
    _, outputs = tensor_names(args.compact)
    shapes = "; ".join(f"{name} {shape}" for name, shape in
                       input_shapes(args.compact, "batch", args.height, args.width).items())
    print(f"{args.output_file}: inputs {shapes}, output {outputs[0]}; ONNX Runtime vs PyTorch max abs diff "
          f"{worst:.2g} at batch {VERIFY_BATCH}, {TRACE_SIZE[0]}x{TRACE_SIZE[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
