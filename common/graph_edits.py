"""The graph edits the model folders need, each checked: CycleGAN's ReflectionPad rewrites (exact slices by
default, or constant padding), constant Pad folding, Clip's missing max filled in. Each returns a new model;
what an edit may change is checked (check_only_pads_changed) before the caller saves it verified
(onnx_utils.save_verified_edit)."""
from collections import Counter

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from common.errors import CheckFailed, UserError

def constant_value(model, name):
    """The value of tensor `name` when it is an initializer or a Constant node's output, else None."""
    for init in model.graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
    return None


def _attribute(node, name, default=None):
    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def fill_clip_max(model, max_value):
    """Give every Clip whose 'max' input is absent or empty an explicit scalar initializer `max_value`.

    Returns the names of the Clip nodes changed. Clip nodes that already carry a max are left alone.
    """
    changed = []
    max_name = None
    for node in model.graph.node:
        if node.op_type != "Clip" or (len(node.input) >= 3 and node.input[2]):
            continue
        if max_name is None:
            max_name = _unique_name(model, "clip_max")
            model.graph.initializer.append(numpy_helper.from_array(np.array(max_value, np.float32), max_name))
        while len(node.input) < 3:
            node.input.append("")
        node.input[2] = max_name
        changed.append(node.name or node.output[0])
    return changed


def _unique_name(model, base):
    taken = {i.name for i in model.graph.initializer} | {o for n in model.graph.node for o in n.output}
    taken |= {n.name for n in model.graph.node}
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def _pad_amounts(model, node):
    """Per-axis (begin, end) pad amounts of a Pad node, whatever the opset; None if computed at run time."""
    pads = _attribute(node, "pads") if len(node.input) < 2 or not node.input[1] else None
    if pads is None and len(node.input) >= 2 and node.input[1]:
        pads = constant_value(model, node.input[1])
    if pads is None:
        return None
    pads = [int(p) for p in np.asarray(pads).ravel()]
    rank = len(pads) // 2
    return [(pads[axis], pads[axis + rank]) for axis in range(rank)]


def fold_constant_pads(model):
    """Replace each Pad's run-time pads computation by its value, when it reads only constants.

    The TorchScript exporter computes a reflect Pad's pads from constants alone (ConstantOfShape, Concat,
    Reshape, Slice, Transpose, Cast); nothing in that chain reads a graph input or its shape, so the value is
    the same for every input and batch size (the dynamic batch axis stays). The chain is evaluated with onnx's
    reference evaluator and the Pad reads an initializer instead; nodes nothing reads any more are dropped.
    Pads that do depend on a graph input stay as they are. Returns the names of the Pad nodes folded.
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    known = {init.name for init in model.graph.initializer}
    folded, replaced = [], []
    for pad in [n for n in model.graph.node if n.op_type == "Pad"]:
        if len(pad.input) < 2 or not pad.input[1] or constant_value(model, pad.input[1]) is not None:
            continue
        needed, stack, ok = [], [pad.input[1]], True
        while stack and ok:
            name = stack.pop()
            if name in known or not name:
                continue
            node = producer.get(name)
            if node is None or any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                                   for a in node.attribute):
                ok = False  # a graph input (or control flow): computed at run time
            elif node not in needed:
                needed.append(node)
                stack.extend(node.input)
        if not ok:
            continue
        order = [n for n in model.graph.node if n in needed]  # the graph's own (topological) order
        used = {name for n in order for name in n.input}
        sub = helper.make_model(
            helper.make_graph(order, "pads", [], [helper.make_empty_tensor_value_info(pad.input[1])],
                              [i for i in model.graph.initializer if i.name in used]),
            opset_imports=model.opset_import)
        value = ReferenceEvaluator(sub).run(None, {})[0]
        name = _unique_name(model, f"{pad.name or pad.output[0]}_pads")
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(value, np.int64), name))
        pad.input[1] = name
        folded.append(pad.name or pad.output[0])
        replaced.extend(order)
    if folded:
        _prune_dead_nodes(model, replaced)
    return folded


def _prune_dead_nodes(model, candidates):
    """Drop those of `candidates` (nodes) whose outputs nothing reads any more, then unused initializers."""
    candidates = list(candidates)
    while True:
        used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
        dead = [n for n in candidates if not any(out in used for out in n.output)]
        if not dead:
            break
        for node in dead:
            model.graph.node.remove(node)
            candidates.remove(node)
    _prune_unused(model)


def _signature(node):
    return node.SerializeToString(deterministic=True)


def _feeds_only_pads(source):
    """Indices of the nodes whose outputs are read only as a Pad's pads/value inputs, directly or through
    other such nodes (the exporter's pads chains): the edit may fold them away."""
    nodes = list(source.graph.node)
    readers = {}
    for i, node in enumerate(nodes):
        for k, name in enumerate(node.input):
            readers.setdefault(name, []).append((i, k))
    outputs = {o.name for o in source.graph.output}
    only = set()
    for i in reversed(range(len(nodes))):  # readers come after their producers
        if any(out in outputs for out in nodes[i].output):
            continue
        uses = [use for out in nodes[i].output for use in readers.get(out, [])]
        if uses and all((nodes[r].op_type == "Pad" and k >= 1) or r in only for r, k in uses):
            only.add(i)
    return only


def check_only_pads_changed(source, edited, path):
    """Every node of `source` other than a Pad must be in `edited`, byte for byte, and the graph's inputs
    and outputs must be the same: the edit may replace Pad nodes (and drop the nodes that only compute their
    pads), nothing else."""
    pads_only = _feeds_only_pads(source)
    kept = Counter(_signature(n) for n in edited.graph.node)
    for i, node in enumerate(source.graph.node):
        if node.op_type == "Pad" or i in pads_only:
            continue
        if kept[_signature(node)] <= 0:
            raise CheckFailed(f"{path}: the edit changed node {node.name or node.output[0]!r} "
                              f"({node.op_type}), which is not a Pad")
        kept[_signature(node)] -= 1
    for what in ("input", "output"):
        ours, theirs = getattr(source.graph, what), getattr(edited.graph, what)
        if [_signature(v) for v in ours] != [_signature(v) for v in theirs]:
            raise CheckFailed(f"{path}: the edit changed the graph's {what}s")


def reflect_pads(model):
    """The Pad nodes with mode 'reflect'."""
    return [n for n in model.graph.node if n.op_type == "Pad" and _attribute(n, "mode", b"constant") == b"reflect"]


def reflect_pad_to_slices(model):
    """Rewrite every reflect-mode Pad into Slice + Concat, which computes exactly the same values.

    Reflection of width p on the begin side of an axis copies elements p, p-1, ..., 1; on the end side
    elements n-2, ..., n-1-p. Each copied element is one unit-step Slice (negative indices count from the
    end, so the graph keeps a dynamic size), and a Concat joins them around the input, one axis at a time,
    which is exactly a simultaneous reflect pad. Returns the names of the rewritten Pad nodes.
    """
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 10:
        raise UserError(f"the model uses opset {opset}; the Slice rewrite needs opset 10 or later")
    fold_constant_pads(model)  # the exporter's run-time pads chains, when they read only constants
    nodes = list(model.graph.node)
    rewritten = []
    new_nodes = []
    for node in nodes:
        if not (node.op_type == "Pad" and _attribute(node, "mode", b"constant") == b"reflect"):
            new_nodes.append(node)
            continue
        amounts = _pad_amounts(model, node)
        label = node.name or node.output[0]
        if amounts is None:
            raise UserError(f"Pad node {label!r}: its pads are computed at run time from the graph's "
                            f"inputs; simplify the graph for a fixed shape first (common/simplify.py) so they "
                            f"become constants")
        if any(b < 0 or e < 0 for b, e in amounts):
            raise UserError(f"Pad node {label!r}: negative pads (cropping) are not supported")
        current = node.input[0]
        active = [(axis, b, e) for axis, (b, e) in enumerate(amounts) if b or e]
        for k, (axis, begin, end) in enumerate(active):
            base = _unique_name(model, f"{label}_reflect_axis{axis}")
            pieces = []
            sources = [(j, j + 1) for j in range(begin, 0, -1)] + [None] + [(-1 - j, -j) for j in range(1, end + 1)]
            for idx, source in enumerate(sources):
                if source is None:
                    pieces.append(current)
                    continue
                start, stop = source
                out = f"{base}_slice{idx}"
                consts = []
                for tag, value in (("starts", start), ("ends", stop), ("axes", axis)):
                    cname = f"{out}_{tag}"
                    model.graph.initializer.append(numpy_helper.from_array(np.array([value], np.int64), cname))
                    consts.append(cname)
                new_nodes.append(helper.make_node("Slice", [current, *consts], [out], name=out))
                pieces.append(out)
            last = k == len(active) - 1
            out = node.output[0] if last else f"{base}_concat"
            new_nodes.append(helper.make_node("Concat", pieces, [out], name=f"{base}_concat", axis=axis))
            current = out
        if not active:  # a reflect Pad of zero width is the identity
            new_nodes.append(helper.make_node("Identity", [node.input[0]], [node.output[0]], name=label))
        rewritten.append(label)
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    _prune_unused(model)
    return rewritten


def _prune_unused(model):
    """Drop initializers and Constant nodes that nothing reads any more (e.g. a rewritten Pad's pads)."""
    used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
    used |= {i.name for i in model.graph.input}
    dead = [n for n in model.graph.node if n.op_type == "Constant" and n.output[0] not in used]
    for node in dead:
        model.graph.node.remove(node)
    keep = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)


def reflect_pad_to_constant(model):
    """Switch every reflect-mode Pad to zero padding (the original Ascend edit; it changes the output)."""
    changed = []
    for node in reflect_pads(model):
        for attr in node.attribute:
            if attr.name == "mode":
                attr.s = b"constant"
        changed.append(node.name or node.output[0])
    return changed
