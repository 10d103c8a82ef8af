"""The fp16 emulation as a graph rewrite (Cast to float16 and back around what an fp16 operator stores), and the
ONNX Runtime sessions that run it."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from common.errors import UserError
from common.fp16.keeplist import KeepSet

MODES = ("force_fp16", "allow_fp32_to_fp16", "must_keep_origin_dtype")
MATRIX_OPS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm"})
# Operators that read only the shape of their float input: rounding it would change nothing.
_SHAPE_READERS = frozenset({"Shape", "Size"})
# ONNX Runtime 1.32 keeps a Cast(fp16)->Cast(fp32) pair at every optimisation level (tests/test_precision.py
# proves it on every run); these rewrite rules are the ones that could remove such a pair, so they stay off.
DISABLED_OPTIMIZERS = ["CastElimination", "CastChainElimination"]
# An initializer stored outside the graph (common/fp16/weights.py) has its fp16-rounded values in the file of
# the same name plus this suffix, at the same offset: rounding it is pointing it there.
ROUNDED_SUFFIX = ".fp16"


def copy_model(model):
    """A deep copy (CopyFrom: no serialisation round trip, which costs seconds on a 730 MB generator)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def name_nodes(model):
    """Give every node a unique name (ATC's keep list names nodes; an exporter may leave some unnamed)."""
    seen = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            base = node.name or f"{node.op_type}_{i}"
            name, k = base, 0
            while name in seen:
                k += 1
                name = f"{base}_{k}"
            node.name = name
        seen.add(node.name)
    return model


def inferred_graph(model):
    """The graph with ONNX shape inference's value_info (the declared graph when inference fails)."""
    graph = model.graph
    # Shape inference on a weightless copy: initializers become typed inputs (a generator's weights can be GBs).
    declared = {i.name for i in graph.input}
    light = helper.make_model(
        helper.make_graph(graph.node, graph.name, list(graph.input) + [
            helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
            for t in graph.initializer if t.name not in declared], graph.output),
        opset_imports=model.opset_import)
    light.ir_version = model.ir_version
    try:
        return onnx.shape_inference.infer_shapes(light).graph
    except Exception:  # shape inference is a help, not a requirement: fall back to what the file declares
        return light.graph


def float_tensors(model):
    """Names of the graph's float32 tensors (inputs, initializers, node outputs), from ONNX shape inference."""
    graph = inferred_graph(model)
    floats = {info.name for info in (*graph.input, *graph.output, *graph.value_info)
              if info.type.tensor_type.elem_type == TensorProto.FLOAT}
    floats |= {init.name for init in model.graph.initializer if init.data_type == TensorProto.FLOAT}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                    floats.add(node.output[0])
    return floats


def fp16_nodes(model, mode, keep):
    """The nodes that run in fp16 under `mode` with `keep` applied."""
    if mode not in MODES:
        raise UserError(f"--mode {mode!r}: expected one of {', '.join(MODES)}")
    if mode == "must_keep_origin_dtype":
        return []
    return [n for n in model.graph.node
            if n not in keep and (mode == "force_fp16" or n.op_type in MATRIX_OPS)]


class _Names:
    """Fresh tensor and node names, none of them already in the graph."""

    def __init__(self, graph):
        self.taken = {name for node in graph.node for name in (*node.input, *node.output)}
        self.taken |= {init.name for init in graph.initializer}

    def fresh(self, base):
        name, k = base, 0
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def cast_pair(self, src, dst, tag):
        half = self.fresh(f"{tag}__fp16")
        return [helper.make_node("Cast", [src], [half], to=TensorProto.FLOAT16, name=self.fresh(f"{tag}__to_fp16")),
                helper.make_node("Cast", [half], [dst], to=TensorProto.FLOAT, name=self.fresh(f"{tag}__to_fp32"))]


def point_external(init, location, offset, length):
    """Make `init` a tensor stored in the file `location` (beside the graph) at `offset`, `length` bytes."""
    for field in ("raw_data", "float_data"):
        init.ClearField(field)
    del init.external_data[:]
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        entry = init.external_data.add()
        entry.key, entry.value = key, str(value)
    init.data_location = TensorProto.EXTERNAL


def _rounded_initializer(init, name):
    """`init` rounded to fp16 (and back to fp32) under `name`: its values, or, stored outside the graph, a
    pointer to its rounded copy (ROUNDED_SUFFIX)."""
    if init.data_location == TensorProto.EXTERNAL:
        rounded = TensorProto()
        rounded.CopyFrom(init)
        rounded.name = name
        info = {e.key: e.value for e in init.external_data}
        point_external(rounded, info["location"] + ROUNDED_SUFFIX, info.get("offset", "0"), info["length"])
        return rounded
    with np.errstate(over="ignore"):  # overflow to inf is the point
        values = numpy_helper.to_array(init).astype(np.float16).astype(np.float32)
    return numpy_helper.from_array(values, name)


def _round_initializers(graph, fp16, readers, names):
    """Round the float initializers an fp16 node reads: in place when only fp16 nodes read it, else as a copy.
    Returns {initializer name: name of its rounded version}."""
    rounded = {}
    outputs = {o.name for o in graph.output}
    for init in list(graph.initializer):
        users = readers.get(init.name, [])
        if init.data_type != TensorProto.FLOAT or not any(u.name in fp16 and u.op_type not in _SHAPE_READERS
                                                          for u in users):
            continue
        if all(u.name in fp16 for u in users) and init.name not in outputs:
            init.CopyFrom(_rounded_initializer(init, init.name))
            rounded[init.name] = init.name
        else:
            copy = names.fresh(f"{init.name}__fp16r")
            graph.initializer.append(_rounded_initializer(init, copy))
            rounded[init.name] = copy
    return rounded


def _rewrite_nodes(graph, fp16, floats, rounded, names):
    """The node list with each fp16 node's float inputs and outputs passing through a Cast pair."""
    new_nodes = []
    for node in graph.node:
        if node.name not in fp16:
            new_nodes.append(node)
            continue
        if node.op_type not in _SHAPE_READERS:
            for k, name in enumerate(node.input):
                if not name or name not in floats:
                    continue
                if name not in rounded:
                    dst = names.fresh(f"{name}__r")
                    new_nodes.extend(names.cast_pair(name, dst, name))
                    rounded[name] = dst
                node.input[k] = rounded[name]
        new_nodes.append(node)
        for k, name in enumerate(node.output):
            if not name or name not in floats:
                continue
            raw = names.fresh(f"{name}__fp32")
            node.output[k] = raw
            new_nodes.extend(names.cast_pair(raw, name, name))
            rounded[name] = name
    return new_nodes


def emulate(model, mode="force_fp16", keep=None):
    """A copy of `model` whose fp16-running nodes read and write fp16-rounded float tensors.

    Each float tensor such a node writes is rounded once where it is produced (Cast to float16 and back, the
    tensor keeping its name, so kept consumers read the fp16 value the device stores); each float input it
    reads that is not already rounded (a graph input, an fp32 node's output) is rounded on the way in. An
    initializer read only by fp16 nodes is rounded in place; one also read by a kept node gets a rounded copy.
    """
    keep = keep or KeepSet()
    model = name_nodes(copy_model(model))
    graph = model.graph
    floats = float_tensors(model)
    fp16 = {n.name for n in fp16_nodes(model, mode, keep)}
    if not fp16:
        return model
    readers = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    names = _Names(graph)
    rounded = _round_initializers(graph, fp16, readers, names)
    new_nodes = _rewrite_nodes(graph, fp16, floats, rounded, names)
    del graph.node[:]
    graph.node.extend(new_nodes)
    return model


def expose_intermediates(model, names):
    """A copy of `model` that also outputs the tensors `names` (for per-tensor statistics)."""
    model = copy_model(model)
    present = {o.name for o in model.graph.output}
    for name in names:
        if name not in present:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
    return model


def session(model, folder=None):
    """An ONNX Runtime CPU session on a ModelProto, with the Cast-removing rewrites disabled; `folder` holds the
    files of the initializers stored outside it (common/fp16/weights.py), which ONNX Runtime maps."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if folder is not None:
        options.add_session_config_entry("session.model_external_initializers_file_folder_path", str(folder))
    try:
        return ort.InferenceSession(model.SerializeToString(), sess_options=options,
                                    providers=["CPUExecutionProvider"], disabled_optimizers=DISABLED_OPTIMIZERS)
    except Exception as err:  # ORT raises its own exception classes for models it cannot load
        raise UserError(f"ONNX Runtime could not load the model ({str(err).splitlines()[0]})") from None
