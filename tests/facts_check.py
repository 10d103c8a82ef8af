"""Does an exported ONNX graph have the tensors its folder's facts declare (`<model>_facts.py`)?"""
from onnx import helper


def _tensors(values, skip=()):
    """[(name, dims with None for a free axis, numpy dtype name)] of graph inputs or outputs."""
    out = []
    for value in values:
        if value.name in skip:
            continue
        tensor = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
        out.append((value.name, dims, str(helper.tensor_dtype_to_np_dtype(tensor.elem_type))))
    return out


def _as_declared(dims, declared):
    """`dims` with each axis the file leaves free read as the declared size: a file need not restate a fixed
    size (BigGAN's exporter does not infer the image's 128x128). A declared free axis stays None, so a file
    that fixes it (a static batch) does not match."""
    if len(dims) != len(declared):
        return dims
    return tuple(want if have is None else have for have, want in zip(dims, declared))


def assert_graph_matches(model, graph, size=None):
    """`model`'s inputs and outputs are `graph`'s (a common.facts.Graph): names in order, dtypes, shapes.

    `size` (height, width) stands for the declared spatial size when a test exported at a smaller one.
    """
    def declared(spec):
        shape = spec.shape if size is None else (*spec.shape[:-2], *size)
        return spec.name, tuple(shape), spec.dtype

    initializers = {init.name for init in model.graph.initializer}
    for found, specs in ((_tensors(model.graph.input, initializers), graph.inputs),
                         (_tensors(model.graph.output), graph.outputs)):
        expected = [declared(t) for t in specs]
        found = [(name, _as_declared(dims, want[1]), dtype)
                 for (name, dims, dtype), want in zip(found, expected)] + found[len(expected):]
        assert found == expected, f"{graph.onnx_file}: the file has {found}, the facts declare {expected}"
