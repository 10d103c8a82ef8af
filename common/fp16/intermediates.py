"""Node outputs (intermediates) exposed as extra outputs, in runs of bounded size, and reduced as they stream by:
peaks over every batch, or the first sample's errors of a rewritten graph against the fp32 one. Nothing keeps
every intermediate: a generator's would not fit in memory."""
import hashlib
import math

import numpy as np
from onnx import helper

from common.fp16.evaluation import first_sample
from common.fp16.graph import expose_intermediates, inferred_graph

EXPOSED_BYTES = 2 << 30  # at most this much of exposed intermediates per run (by the inferred shapes)


_SIZES = {}  # digest of a weightless graph -> its tensor_sizes (a preview asks up to three times)


def tensor_sizes(model):
    """{tensor name: bytes} of the graph's tensors as float32 (a symbolic batch, the first dim, counts 1).

    ONNX's shape inference first; where it leaves a size unknown, ONNX Runtime's symbolic shape inference, which
    follows the shapes an exporter computes in the graph (the Pad amounts of a ReflectionPad): ONNX's own leaves
    every tensor after the first such Pad without dims, and at 1024x2048 that made Pix2pixHD's 8.3 GB of
    intermediates look like 75 MB, so the preview was killed for memory. A size neither finds counts as the
    largest found."""
    graph = inferred_graph(model)
    key = hashlib.sha256(graph.SerializeToString()).hexdigest()
    if key not in _SIZES:
        sizes = _sizes(graph)
        if None in sizes.values():
            sizes = _sizes(_symbolic(graph, model), fallback=sizes)
        largest = max((v for v in sizes.values() if v), default=0)
        _SIZES[key] = {name: largest if size is None else size for name, size in sizes.items()}
    return _SIZES[key]


def _sizes(graph, fallback=None):
    sizes = dict(fallback or {})
    for info in graph.value_info:
        dims = [d.dim_value for d in info.type.tensor_type.shape.dim]
        batch, rest = (max(dims[0], 1), dims[1:]) if dims else (1, [])
        if all(v > 0 for v in rest):
            sizes[info.name] = 4 * batch * math.prod(rest)
        else:
            sizes.setdefault(info.name, None)
    return sizes


def _symbolic(graph, model):
    """The graph with ONNX Runtime's symbolic shape inference (the graph as it was when that fails)."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    light = helper.make_model(graph, opset_imports=model.opset_import)
    light.ir_version = model.ir_version
    for value in light.graph.input:  # a symbolic batch set to 1: plain integers are fast, sympy is not
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].dim_value = 1
    try:
        return SymbolicShapeInference.infer_shapes(light, auto_merge=True).graph
    except Exception:  # noqa: BLE001 (any failure of the helper leaves ONNX's shapes)
        return graph


def chunks(model, names):
    """`names` in runs whose exposed tensors (tensor_sizes; a tensor of unknown size counts as the largest
    known) fit in EXPOSED_BYTES (a single larger tensor makes a run of its own)."""
    sizes = tensor_sizes(model)
    largest = max(sizes.values(), default=0)
    runs, current, used = [], [], 0
    for name in names:
        size = sizes.get(name, largest)
        if current and used + size > EXPOSED_BYTES:
            runs.append(current)
            current, used = [], 0
        current.append(name)
        used += size
    return runs + [current] if current else runs


def _exposed(evaluator, model, chunk, groups):
    """Per batch of `groups`: {name: value} of the tensors `chunk` in a run of `model` exposing them."""
    sess = evaluator.files.session(expose_intermediates(model, chunk))
    order = [o.name for o in sess.get_outputs()]
    for feeds, _ in groups:
        values = dict(zip(order, evaluator.run(sess, feeds)))
        yield {name: values[name] for name in chunk}


def tensor_peaks(evaluator, model, names):
    """Per tensor in `names`: max |value| over every sample of the evaluator's batches (inf where NaN only)."""
    peak = dict.fromkeys(names, 0.0)
    for chunk in chunks(model, names):
        for values in _exposed(evaluator, model, chunk, evaluator.groups):
            for name, v in values.items():
                v = np.asarray(v)
                if v.size:
                    with np.errstate(invalid="ignore"):
                        peak[name] = max(peak[name], float(np.nanmax(np.abs(v))) if np.any(~np.isnan(v))
                                         else math.inf)
    return peak


def _first_run(evaluator, model, chunk):
    """{name: the first sample's value} of the tensors `chunk` in a run of `model` on the first batch."""
    values = next(_exposed(evaluator, model, chunk, evaluator.groups[:1]))
    return {name: first_sample(v) for name, v in values.items()}


def tensor_errors(evaluator, names, error, emulated):
    """{name: error(fp32 value, emulated value)} on the first sample for the tensors `names`, run by run: the
    fp32 graph's values of one run are compared with `emulated`'s (a rewritten graph, run on the same run of
    names, or its first-sample values already at hand) and dropped before the next run."""
    errors = {}
    for chunk in chunks(evaluator.model, names):
        ref = _first_run(evaluator, evaluator.model, chunk)
        emu = emulated if isinstance(emulated, dict) else _first_run(evaluator, emulated, chunk)
        errors.update((name, error(ref[name], emu[name])) for name in chunk)
    return errors
