"""Predict on a CPU what ATC's fp16 build of an ONNX model will compute, and write the --keep_dtype fix.

    python3 common/precision.py --model dcgan_sim_bs16.onnx --input ./prep_dataset --num 64 \
        --mode force_fp16 --threshold 0.99 --keep_dtype_out keep_dtype.cfg --report precision_bs16.json

ATC builds with --precision_mode=force_fp16 unless told otherwise: every operator runs in fp16 and stores its
tensors as fp16 (beyond +-65504 they become +-inf, below 2^-24 they become 0), while the arithmetic inside an
operator (the Cube unit's accumulation) stays fp32. The emulation rewrites the graph so that every float tensor
an fp16 operator reads or writes passes through Cast(float16)->Cast(float32) (initializers are rounded in
place), and runs it on ONNX Runtime's CPU provider next to the unchanged fp32 model on the same inputs.

Modes (as CANN documents them): force_fp16 (every operator in fp16), allow_fp32_to_fp16 (the matrix operators
Conv, ConvTranspose, MatMul, Gemm in fp16, the rest fp32), must_keep_origin_dtype (nothing changes: the
control). --keep_dtype FILE keeps the nodes it names (one per line, or OpType::<type>) in fp32, as ATC does.

When the prediction is below --threshold or not finite, the triage looks for the nodes responsible: first the
tensors an fp16 operator would push beyond the fp16 range (from an fp32 run with every intermediate exposed),
then the nodes whose fp16 rounding adds the most error; it verifies a small keep set by re-running the
emulation and writes it in ATC's --keep_dtype format. Exit status 0 when the prediction (with the keep list,
if one was needed) reaches the threshold, 1 when nothing does.

Beside the --report JSON goes the readable report (common/report.py; --no_html skips it): the figures, the
per-node error of the emulation along the graph on the first sample (where the drift enters), the keep list
and its effect, and the worst image samples.
"""
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tqdm import tqdm

from common import backends, cli, fileio, onnx_utils, origins, report, room, similarity, sources, staging
from common.errors import UserError

MODES = ("force_fp16", "allow_fp32_to_fp16", "must_keep_origin_dtype")
MATRIX_OPS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm"})
FP16_MAX = float(np.finfo(np.float16).max)  # 65504
TYPE_PREFIX = "OpType::"
# Operators that read only the shape of their float input: rounding it would change nothing.
_SHAPE_READERS = frozenset({"Shape", "Size"})
# ONNX Runtime 1.32 keeps a Cast(fp16)->Cast(fp32) pair at every optimisation level (tests/test_precision.py
# proves it on every run); these rewrite rules are the ones that could remove such a pair, so they stay off.
DISABLED_OPTIMIZERS = ["CastElimination", "CastChainElimination"]
RENAME_NOTE = ("note: ATC can fuse and rename nodes (Conv+BatchNorm+Relu, ...); if it warns that a name in the "
               "keep list is not found, use the OpType::<type> form (--by_type) as the fallback")


# ------------------------------------------------------------------------------------------------ keep lists

class KeepSet:
    """The nodes a --keep_dtype list keeps in fp32: node names and operator types (OpType::<type> lines)."""

    def __init__(self, names=(), types=()):
        self.names = set(names)
        self.types = set(types)

    def __contains__(self, node):
        return node.name in self.names or node.op_type in self.types

    def __bool__(self):
        return bool(self.names or self.types)

    def lines(self):
        return sorted(self.names) + [TYPE_PREFIX + t for t in sorted(self.types)]

    def union(self, names=(), types=()):
        return KeepSet(self.names | set(names), self.types | set(types))


def read_keep_file(path):
    """ATC's --keep_dtype file: one node name per line, or OpType::<type>; blank lines and # comments skipped."""
    names, types = [], []
    text = fileio.read_text(path, "--keep_dtype list (one node name or OpType::<type> per line)")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(TYPE_PREFIX):
            op = line[len(TYPE_PREFIX):].strip()
            if not op:
                raise UserError(f"{path}: line {line!r}: expected OpType::<operator type> such as OpType::Conv")
            types.append(op)
        else:
            names.append(line)
    return KeepSet(names, types)


def check_keep_names(model, keep, source):
    """A kept name that is no node of the model is a user mistake (a keep list made for another model)."""
    known = {n.name for n in model.graph.node}
    unknown = sorted(keep.names - known)
    if unknown:
        raise UserError(f"{source}: node {unknown[0]!r} is not in the model ({len(unknown)} unknown name(s)); "
                        f"expected node names of this ONNX file, or OpType::<type> lines")


# ------------------------------------------------------------------------------------------------ the graph

def _copy(model):
    """A deep copy (CopyFrom: no serialisation round trip, which costs seconds on a 730 MB generator)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def _name_nodes(model):
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


def _inferred_graph(model):
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
    graph = _inferred_graph(model)
    model_graph = model.graph
    floats = set()
    for info in list(graph.input) + list(graph.output) + list(graph.value_info):
        if info.type.tensor_type.elem_type == TensorProto.FLOAT:
            floats.add(info.name)
    for init in model_graph.initializer:
        if init.data_type == TensorProto.FLOAT:
            floats.add(init.name)
    for node in model_graph.node:
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


def emulate(model, mode="force_fp16", keep=None):
    """A copy of `model` whose fp16-running nodes read and write fp16-rounded float tensors.

    Each float tensor such a node writes is rounded once where it is produced (Cast to float16 and back, the
    tensor keeping its name, so kept consumers read the fp16 value the device stores); each float input it
    reads that is not already rounded (a graph input, an fp32 node's output) is rounded on the way in. An
    initializer read only by fp16 nodes is rounded in place; one also read by a kept node gets a rounded copy.
    """
    keep = keep or KeepSet()
    model = _name_nodes(_copy(model))
    graph = model.graph
    floats = float_tensors(model)
    fp16 = {n.name for n in fp16_nodes(model, mode, keep)}
    if not fp16:
        return model
    initializers = {init.name: init for init in graph.initializer}
    readers = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in graph.output}

    taken = {name for node in graph.node for name in (*node.input, *node.output)} | set(initializers)

    def fresh(base):
        name, k = base, 0
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        return name

    def cast_pair(src, dst, tag):
        half = fresh(f"{tag}__fp16")
        return [helper.make_node("Cast", [src], [half], to=TensorProto.FLOAT16, name=fresh(f"{tag}__to_fp16")),
                helper.make_node("Cast", [half], [dst], to=TensorProto.FLOAT, name=fresh(f"{tag}__to_fp32"))]

    rounded = {}  # tensor name -> name of its fp16-rounded version
    for name, init in initializers.items():
        users = readers.get(name, [])
        if init.data_type != TensorProto.FLOAT or not any(u.name in fp16 and u.op_type not in _SHAPE_READERS
                                                          for u in users):
            continue
        with np.errstate(over="ignore"):  # overflow to inf is the point
            values = numpy_helper.to_array(init).astype(np.float16).astype(np.float32)
        if all(u.name in fp16 for u in users) and name not in graph_outputs:
            init.CopyFrom(numpy_helper.from_array(values, name))
            rounded[name] = name
        else:
            copy = fresh(f"{name}__fp16r")
            graph.initializer.append(numpy_helper.from_array(values, copy))
            rounded[name] = copy

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
                    dst = fresh(f"{name}__r")
                    new_nodes.extend(cast_pair(name, dst, name))
                    rounded[name] = dst
                node.input[k] = rounded[name]
        new_nodes.append(node)
        for k, name in enumerate(node.output):
            if not name or name not in floats:
                continue
            raw = fresh(f"{name}__fp32")
            node.output[k] = raw
            new_nodes.extend(cast_pair(raw, name, name))
            rounded[name] = name
    del graph.node[:]
    graph.node.extend(new_nodes)
    return model


def expose_intermediates(model, names):
    """A copy of `model` that also outputs the tensors `names` (for per-tensor statistics)."""
    model = _copy(model)
    present = {o.name for o in model.graph.output}
    for name in names:
        if name not in present:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
    return model


def session(model):
    """An ONNX Runtime CPU session on a ModelProto, with the Cast-removing rewrites disabled."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model.SerializeToString(), sess_options=options,
                                    providers=["CPUExecutionProvider"], disabled_optimizers=DISABLED_OPTIMIZERS)
    except Exception as err:  # ORT raises its own exception classes for models it cannot load
        raise UserError(f"ONNX Runtime could not load the model ({str(err).splitlines()[0]})") from None


# ------------------------------------------------------------------------------------------------ inputs

def input_batches(backend, spec, num, batchsize=None, seed=0):
    """Batches of feeds as the runner reads them (same pairing and size checks), covering `num` samples.

    Returns (list of (feeds, number of real samples in it), description of the data)."""
    if spec:
        source = sources.FileInputs(spec, backend.inputs, batchsize)
        per_file = max(1, source.model_batch // source.factor)
        n_files = min(source.files, max(1, math.ceil(num / per_file)))
        source = source.first(n_files)
        check_held(backend, source.shapes, len(source.batches), f"--num {num}")
        groups = [(source.feeds(batch), batch.n_real * per_file) for batch in source.batches]
        return groups, f"{n_files} file(s) of {spec}"
    shapes, batch = sources.resolve_shapes(backend.inputs, batchsize)
    check_held(backend, shapes, math.ceil(num / batch), f"--num {num}")
    groups = [(sources.pure_data(backend.inputs, shapes, "random", seed + b), min(batch, num - b * batch))
              for b in range(math.ceil(num / batch))]
    return groups, f"seeded random data (seed {seed})"


def check_held(backend, shapes, n_batches, what):
    """The evaluation holds every batch's inputs, its fp32 outputs and its emulated ones at once: refuse, before
    any is read or made, what this machine cannot hold (sizes in Python integers; an output axis the model
    leaves free beyond the batch counts as 1)."""
    batch = shapes[0][0] if shapes and shapes[0] else 1
    inputs = sum(math.prod(shape) * np.dtype(spec.dtype).itemsize for spec, shape in zip(backend.inputs, shapes))
    outputs = sum(math.prod(batch if k == 0 and d is None else d or 1 for k, d in enumerate(spec.shape))
                  * np.dtype(spec.dtype).itemsize for spec in backend.outputs)
    room.check_memory(n_batches * (inputs + 2 * outputs), f"{what} ({n_batches} batch(es) of {batch})")


# ------------------------------------------------------------------------------------------------ evaluation

class Evaluator:
    """The fp32 model's outputs on fixed inputs, and the emulation's agreement with them for any keep set."""

    def __init__(self, model, groups, output_names, progress=True, reference_session=None):
        self.model = _name_nodes(model)  # named in place: the caller hands the model over
        self.groups = groups
        self.output_names = output_names
        self.input_names = [i.name for i in self.model.graph.input
                            if i.name not in {t.name for t in self.model.graph.initializer}]
        self.progress = progress
        reference = reference_session or session(self.model)
        self.reference = [self._run(reference, feeds) for feeds, _ in self._iter(groups, "fp32 reference")]
        self.trials = 0
        self.retained = None  # the emulated outputs of the last evaluate(retain=True)
        self.exposed = None  # the first sample's exposed tensors of the last outputs(expose=...)

    def _iter(self, items, desc):
        return tqdm(items, desc=desc, unit="batch", disable=not self.progress or len(items) < 2, leave=False)

    def _run(self, sess, feeds):
        return sess.run(None, dict(zip(self.input_names, feeds)))

    def outputs(self, mode, keep, expose=()):
        """The emulated outputs per batch. With `expose` (tensor names), the same session also returns those
        tensors on the first batch, whose first sample stays in self.exposed (for the per-node errors)."""
        emulated = emulate(self.model, mode, keep)
        sess = session(expose_intermediates(emulated, expose) if expose else emulated)
        wanted = [o.name for o in sess.get_outputs()][:len(self.output_names)]  # exposed tensors come after
        predicted = []
        for b, (feeds, _) in enumerate(self._iter(self.groups, f"fp16 emulation ({mode})")):
            if b == 0 and expose:
                values = sess.run(None, dict(zip(self.input_names, feeds)))
                order = [o.name for o in sess.get_outputs()]
                named = dict(zip(order, values))
                self.exposed = {t: _first_sample(named[t]) for t in expose}
                predicted.append(values[:len(wanted)])
            else:
                predicted.append(sess.run(wanted, dict(zip(self.input_names, feeds))))
        return predicted

    def evaluate(self, mode, keep=None, retain=False, expose=()):
        """Per output: mean/min per-sample flattened cosine, max |diff|, PSNR (4-D outputs), finite. With
        `retain`, the emulated outputs stay in self.retained (for the report's worst samples); `expose`: as
        in outputs()."""
        self.trials += 1
        predicted = self.outputs(mode, keep, expose)
        if retain:
            self.retained = predicted
        report = {}
        for k, name in enumerate(self.output_names):
            cosines, gaps, sq, count, worst, finite = [], [], 0.0, 0, 0.0, True
            for (ref_batch, emu_batch), (_, n_real) in zip(zip(self.reference, predicted), self.groups):
                ref = np.asarray(ref_batch[k])[:n_real]
                emu = np.asarray(emu_batch[k])[:n_real]
                ok = bool(np.all(np.isfinite(emu)))
                finite &= ok
                for r, e in zip(ref, emu):
                    ok_e = bool(np.all(np.isfinite(e)))
                    cosines.append(similarity.cosine(r, e) if ok_e else math.nan)
                    gaps.append(similarity.one_minus_cosine(r, e) if ok_e else math.nan)
                if ok:
                    diff = ref.astype(np.float64) - emu.astype(np.float64)
                    worst = max(worst, float(np.max(np.abs(diff))) if diff.size else 0.0)
                    sq += float(np.sum(diff ** 2))
                    count += diff.size
            cos = np.array(cosines)
            entry = {"mean_cosine": float(np.mean(cos)), "min_cosine": float(np.min(cos)),
                     "mean_one_minus_cosine": float(np.mean(gaps)),
                     "max_abs": worst if finite else math.inf, "finite": finite, "samples": len(cosines)}
            if np.asarray(self.reference[0][k]).ndim == 4:  # an image: PSNR over the [-1, 1] range
                mse = sq / count if count else math.nan
                entry["psnr"] = (math.inf if mse == 0.0 else 10.0 * math.log10(4.0 / mse)) if finite else -math.inf
            report[name] = entry
        return report


def verdict(per_output):
    """(cosine = min over outputs of the mean cosine, finite, max_abs) of a per-output report."""
    cos = min(e["mean_cosine"] for e in per_output.values())
    finite = all(e["finite"] for e in per_output.values())
    return (cos if finite else math.nan), finite, max(e["max_abs"] for e in per_output.values())


def passes(per_output, threshold):
    cos, finite, _ = verdict(per_output)
    return finite and cos >= threshold  # NaN fails


def print_table(title, per_output):
    print(title)
    print(f"  {'output':<20} {'mean cos':>12} {'min cos':>12} {'max |diff|':>11} {'PSNR dB':>8}  finite")
    for name, e in per_output.items():
        psnr = f"{e['psnr']:8.2f}" if "psnr" in e else f"{'-':>8}"
        print(f"  {name:<20} {e['mean_cosine']:12.8f} {e['min_cosine']:12.8f} {e['max_abs']:11.4g} {psnr}  "
              f"{'yes' if e['finite'] else 'NO'}")


# ------------------------------------------------------------------------------------------------ triage

def _first_sample(v):
    v = np.asarray(v)
    return v[:1].copy() if v.ndim else v


EXPOSED_BYTES = 2 << 30  # at most this much of exposed intermediates per run (by the inferred shapes)


def _chunks(model, names):
    """`names` in runs whose exposed tensors (sizes from shape inference; unknown dims count 1) fit in
    EXPOSED_BYTES (a single larger tensor makes a run of its own)."""
    budget = EXPOSED_BYTES
    sizes = {}
    for info in _inferred_graph(model).value_info:
        dims = info.type.tensor_type.shape.dim
        sizes[info.name] = 4 * math.prod(d.dim_value if d.dim_value > 0 else 1 for d in dims)
    chunks, current, used = [], [], 0
    for name in names:
        size = sizes.get(name, 0)
        if current and used + size > budget:
            chunks.append(current)
            current, used = [], 0
        current.append(name)
        used += size
    return chunks + [current] if current else chunks


def _tensor_stats(evaluator, model, names, groups=None):
    """Per tensor in `names`: max |value| over the samples of `groups` (default all), and its values for the
    first sample (for errors; one sample only, since every intermediate of a large generator's batch would not
    fit in memory). The tensors are exposed in runs of at most EXPOSED_BYTES each."""
    groups = evaluator.groups if groups is None else groups
    peak = dict.fromkeys(names, 0.0)
    first = {}
    for chunk in _chunks(model, names):
        sess = session(expose_intermediates(model, chunk))
        order = [o.name for o in sess.get_outputs()]
        for b, (feeds, _) in enumerate(groups):
            values = dict(zip(order, evaluator._run(sess, feeds)))
            for name in chunk:
                v = np.asarray(values[name])
                if v.size:
                    with np.errstate(invalid="ignore"):
                        peak[name] = max(peak[name], float(np.nanmax(np.abs(v))) if np.any(~np.isnan(v))
                                         else math.inf)
                if b == 0:
                    first[name] = _first_sample(v)
            del values
    return peak, first


def overflow_nodes(evaluator, mode, keep):
    """The fp16 nodes that write a tensor beyond +-65504 in fp32, or read one (graph input or initializer
    included): the overflow chain, which must stay fp32 for the values to survive."""
    model = evaluator.model  # read only
    floats = float_tensors(model)
    produced = [name for node in model.graph.node for name in node.output if name in floats]
    peak, _ = _tensor_stats(evaluator, model, produced)
    for init in model.graph.initializer:
        if init.name in floats:
            values = numpy_helper.to_array(init)
            peak[init.name] = float(np.max(np.abs(values))) if values.size else 0.0
    for feeds, _ in evaluator.groups:
        for name, array in zip(evaluator.input_names, feeds):
            if name in floats:
                peak[name] = max(peak.get(name, 0.0), float(np.max(np.abs(array))) if array.size else 0.0)
    big = {name for name, value in peak.items() if value > FP16_MAX}
    chain = []
    for node in fp16_nodes(model, mode, keep):
        if any(o in big for o in node.output) or any(i in big for i in node.input if i in floats):
            chain.append(node.name)
    return chain, sorted(big)


def rounding_gain(evaluator, mode, keep):
    """Rank the fp16 nodes by the error their own rounding adds: 1-cos of the node's output (emulation vs
    fp32, first sample) minus the largest 1-cos among its float inputs. Largest first."""
    model = evaluator.model  # read only
    floats = float_tensors(model)
    candidates = fp16_nodes(model, mode, keep)
    names = sorted({t for n in model.graph.node for t in (*n.input, *n.output)
                    if t in floats and t not in {i.name for i in model.graph.initializer}})
    names = [t for t in names if t not in evaluator.input_names]
    first = evaluator.groups[:1]  # the errors are of the first sample: the other batches are not needed
    _, ref = _tensor_stats(evaluator, model, names, first)
    _, emu = _tensor_stats(evaluator, emulate(model, mode, keep), names, first)

    def error(t):
        if t not in ref:
            return 0.0
        a, b = ref[t], emu[t]
        if not np.all(np.isfinite(b)):
            return 1.0
        return similarity.one_minus_cosine(a, b)

    gains = []
    for node in candidates:
        out = max((error(t) for t in node.output if t in floats), default=0.0)
        inp = max((error(t) for t in node.input if t in floats), default=0.0)
        gains.append((out - inp, node.name))
    gains.sort(key=lambda g: -g[0])
    # Every candidate is ranked: 1 - cos is scale-blind (x + 2048 hides what its rounding lost), so a node
    # with no visible gain may still be the one a later cancellation exposes.
    return [name for _, name in gains]


def triage(evaluator, mode, keep, threshold, by_type=False, progress=True):
    """A small keep set (added to `keep`) that brings the prediction to `threshold`, verified by re-running.

    Trials: the overflow chain alone, then with the 1, 2, 4, ... nodes whose rounding adds the most error. A
    passing set of at most PRUNE_LIMIT ranked nodes is then pruned: each ranked node, least costly first, is
    dropped if the prediction still passes without it. Returns (KeepSet of the additions, its per-output
    report or None, log lines)."""
    log = []
    chain, big = overflow_nodes(evaluator, mode, keep)
    if big:
        log.append(f"overflow: {len(big)} tensor(s) beyond +-{FP16_MAX:g} in fp32 "
                   f"({', '.join(big[:5])}{', ...' if len(big) > 5 else ''}); {len(chain)} fp16 node(s) "
                   f"write or read them: {', '.join(chain[:8])}{', ...' if len(chain) > 8 else ''}")
    base = list(chain)
    ranked = [n for n in rounding_gain(evaluator, mode, keep.union(base)) if n not in base]
    nodes_by_name = {n.name: n for n in evaluator.model.graph.node}
    # Trials: the overflow chain alone, then with the 1, 2, 4, ... worst-rounding nodes added.
    sizes = ([0] if base else []) + [k for k in (2 ** i for i in range(32)) if k < len(ranked)] + [len(ranked)]
    sizes = sorted(set(sizes))
    bar = tqdm(sizes, desc="triage trials", unit="trial", disable=not progress, leave=False)
    for k in bar:
        names = base + ranked[:k]
        if not names:
            continue
        added = (KeepSet(types={nodes_by_name[n].op_type for n in names}) if by_type else KeepSet(names))
        report = _trial(evaluator, mode, keep, added, threshold, log)
        if report is not None:
            bar.close()
            if by_type or k > PRUNE_LIMIT:
                return added, report, log
            chosen = list(ranked[:k])
            for name in tqdm(list(reversed(chosen)), desc="pruning", unit="trial", disable=not progress,
                             leave=False):
                fewer = KeepSet(base + [n for n in chosen if n != name])
                smaller = _trial(evaluator, mode, keep, fewer, threshold, log)
                if smaller is not None:
                    chosen.remove(name)
                    added, report = fewer, smaller
            return added, report, log
    bar.close()
    return None, None, log


PRUNE_LIMIT = 16


def _trial(evaluator, mode, keep, added, threshold, log):
    """Emulate with `keep` plus `added`; the report if it passes, else None (logged either way)."""
    report = evaluator.evaluate(mode, keep.union(added.names, added.types))
    cos, finite, _ = verdict(report)
    log.append(f"trial: keep {len(added.lines())} ({'types' if added.types else 'nodes'}) -> cosine {cos:.6f}"
               f"{'' if finite else ' (not finite)'}")
    return report if passes(report, threshold) else None


# ------------------------------------------------------------------------------------------------ the report

def _relative_error(ref, emu):
    """||emu - ref|| / ||ref|| (inf where the emulated tensor is not finite)."""
    return similarity.rel_l2(ref, emu) if np.all(np.isfinite(emu)) else math.inf


def drift_tensors(model):
    """The computing nodes (not Constant: a constant's rounding shows in its readers) with a float output, in
    graph (topological) order, and the name of each one's first float output; and whether all of them fit in
    one run (EXPOSED_BYTES), so the emulation's own run can expose them."""
    floats = float_tensors(model)
    nodes = [(node, next(t for t in node.output if t in floats)) for node in model.graph.node
             if node.op_type != "Constant" and any(t in floats for t in node.output)]
    names = [t for _, t in nodes]
    return [node for node, _ in nodes], names, len(_chunks(model, names)) <= 1


def node_drift(evaluator, configs, exposed=None):
    """Where the drift enters the graph: per (mode, keep) of `configs`, the relative error of each node's first
    float output (drift_tensors order) in the emulated run against the fp32 run, on the first sample. exposed:
    per config, the emulated first-sample tensors already at hand (Evaluator.exposed) or None (run here)."""
    model = evaluator.model  # read only
    nodes, names, _ = drift_tensors(model)
    first = evaluator.groups[:1]
    _, ref = _tensor_stats(evaluator, model, names, first)
    errors = []
    for (mode, keep), emu in zip(configs, exposed or [None] * len(configs)):
        if emu is None:
            _, emu = _tensor_stats(evaluator, emulate(model, mode, keep), names, first)
        errors.append([_relative_error(ref[t], emu[t]) for t in names])
    return nodes, errors


def _is_image(array):
    return array.ndim == 4 and array.shape[1] in (1, 3)


def worst_samples(evaluator, predicted):
    """Per image output (N, 1|3, H, W): its samples' (1 - cosine, max |diff|, PSNR, index, fp32, emulated),
    worst first (non-finite samples before all others), at most report.MAX_WORST over all outputs."""
    rows = []
    for k, name in enumerate(evaluator.output_names):
        index = 0
        for (_, n_real), ref_batch, emu_batch in zip(evaluator.groups, evaluator.reference, predicted):
            ref, emu = np.asarray(ref_batch[k])[:n_real], np.asarray(emu_batch[k])[:n_real]
            if not _is_image(ref):
                break
            for r, e in zip(ref, emu):
                if np.all(np.isfinite(e)):
                    figures = (similarity.one_minus_cosine(r, e), similarity.max_abs(r, e), similarity.psnr(r, e))
                else:
                    figures = (math.inf, math.inf, -math.inf)
                rows.append((name, index, *figures, r, e))
                index += 1
    rows.sort(key=lambda row: -row[2])
    return rows[:report.MAX_WORST]


def write_html_report(path, result, evaluator, keep_in, found, drift, predicted, title, verdict_text, passed,
                      notes, staged=None):
    """The readable report of a precision run (common.report.write_report): headline, per-node drift chart
    and table, the keep list and its effect, the worst image samples, the triage trials. `staged`: the
    OutputSet paths it is written to (report.report_parts)."""
    mode = result["mode"]
    kept = keep_in.union(found.names, found.types) if found is not None else keep_in
    headline = [("mode", mode), ("threshold", str(result["threshold"])), ("samples", str(result["samples"]))]
    outputs = [("", result["outputs"])] + ([(" with keep", result["outputs_with_keep"])] if found is not None else [])
    for suffix, per_output in outputs:
        for name, e in per_output.items():
            headline += [(f"{name}{suffix}: mean cosine", report.format_figure("mean_cosine", e["mean_cosine"])),
                         (f"{name}{suffix}: lowest cosine", report.format_figure("min_cosine", e["min_cosine"])),
                         (f"{name}{suffix}: max |diff|", report.format_figure("max_abs", e["max_abs"]))]
            if "psnr" in e:
                headline.append((f"{name}{suffix}: PSNR", report.format_figure("psnr", e["psnr"])))
            headline.append((f"{name}{suffix}: finite", report.format_figure("finite", e["finite"])))
    headline.append(("cosine (worst output)", report.format_figure("cosine", result["cosine"])))
    if found is not None:
        headline += [("kept in fp32", str(len(result["keep"]))),
                     ("cosine with keep list", report.format_figure("cosine", result["cosine_with_keep"]))]

    nodes, errors = drift
    series = {f"as given ({mode}{', --keep_dtype ' + str(result['keep_dtype_in']) if keep_in else ''})": errors[0]}
    if found is not None:
        series[f"with the keep list ({len(result['keep'])} line(s))"] = errors[1]
    marked = [i for i, node in enumerate(nodes) if node in kept]
    columns = (["#", "node", "op type", "relative error, as given"]
               + (["with the keep list"] if found is not None else []) + ["fp32"])
    rows = [[str(i), node.name, node.op_type] + [report.format_figure("rel_l2", e[i]) for e in errors]
            + ["kept" if i in marked else ""] for i, node in enumerate(nodes)]
    chart = report.LineChart(
        series, xlabel=f"node, in graph order ({len(nodes)} computing nodes with a float output)",
        ylabel="relative error of its output", labels=[n.name for n in nodes], marked=marked,
        marked_label="kept in fp32", heading="Where the drift enters: per-node error along the graph",
        caption="For each node in topological order, ||emulated - fp32|| / ||fp32|| of its (first) float output "
                "on the first sample: the fp16 emulation against the fp32 model, both on ONNX Runtime. A jump "
                "is where fp16 storage costs accuracy; a red x is a tensor that is not finite (overflow).",
        table=report.Table(columns, rows, caption="The same errors per node", id="nodes"))
    tables = []
    if found is not None:
        by_name = {n.name: n for n in nodes}
        tables.append(report.Table(
            ["keep_dtype line", "op type", "relative error, as given", "with the keep list"],
            [[line, by_name[line].op_type if line in by_name else line[len(TYPE_PREFIX):]]
             + ([report.format_figure("rel_l2", e[nodes.index(by_name[line])]) for e in errors]
                if line in by_name else ["", ""]) for line in result["keep"]],
            caption=f"The keep list ({result['keep_dtype_out']}): these stay fp32", id="keep"))
        tables.append(report.Table(
            ["output", "mean cosine, as given", "with the keep list", "max |diff|, as given", "with the keep list",
             "finite, as given", "with the keep list"],
            [[name, report.format_figure("mean_cosine", e["mean_cosine"]),
              report.format_figure("mean_cosine", result["outputs_with_keep"][name]["mean_cosine"]),
              report.format_figure("max_abs", e["max_abs"]),
              report.format_figure("max_abs", result["outputs_with_keep"][name]["max_abs"]),
              report.format_figure("finite", e["finite"]),
              report.format_figure("finite", result["outputs_with_keep"][name]["finite"])]
             for name, e in result["outputs"].items()], caption="The keep list's effect", id="effect"))
    if result["triage"]:
        tables.append(report.Table(["triage step"], [[line] for line in result["triage"]],
                                   caption="The triage's trials", id="triage"))

    worst, worst_rows = [], []
    for name, index, gap, biggest, psnr, ref, emu in worst_samples(evaluator, predicted):
        bad = int(np.sum(~np.isfinite(emu)))
        shown = np.nan_to_num(emu, nan=0.0, posinf=1.0, neginf=-1.0)
        figures = (f"1 - cosine {report.format_figure('one_minus_cosine', gap)}, max |diff| "
                   f"{report.format_figure('max_abs', biggest)}, PSNR {report.format_figure('psnr', psnr)}")
        worst.append(report.WorstFile(f"{name}, sample {index}", figures + (
            f"; {bad} values not finite (drawn as 0, +-1)" if bad else ""), ref, shown))
        worst_rows.append([f"{name}, sample {index}", report.format_figure("one_minus_cosine", gap),
                           report.format_figure("max_abs", biggest), report.format_figure("psnr", psnr)])
    build = "predicted fp16 build" + (" (with the keep list)" if found is not None else "")
    return report.write_report(path, report.Report(
        title, verdict_text, passed=passed, headline=headline, charts=[chart], worst=report.Worst(
            worst, f"The worst samples of the {build}, worst first",
            report.Table(["sample", "1 - cosine", "max |diff|", "PSNR"], worst_rows,
                         caption="Their figures (1 - cosine largest first)", id="worst"),
            reference_label="fp32 (ONNX Runtime)", offline_label=build),
        tables=tables, notes=notes, weights=origins.weights()), staged)


# ------------------------------------------------------------------------------------------------ main

def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0], prog="precision.py")
    p.add_argument("--model", "-m", required=True, type=cli.reads, help="ONNX model as the ATC step would receive it")
    p.add_argument("--input", "-i", type=cli.reads_list, default=None,
                   help="comma-separated folders, one per model input in order (or files), as common/infer.py "
                        "takes them; omitted = seeded random data shaped like the model's inputs")
    p.add_argument("--num", type=cli.positive_int, default=16, help="how many samples to compare")
    p.add_argument("--batchsize", type=cli.positive_int, default=None,
                   help="batch for a dynamic-batch model (default: as common/infer.py chooses it)")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the random data used without --input")
    p.add_argument("--mode", default="force_fp16", choices=MODES, help="ATC --precision_mode to emulate")
    p.add_argument("--keep_dtype", type=cli.reads, default=None,
                   help="an existing ATC --keep_dtype file: the nodes it names (and OpType::<type> lines) stay fp32")
    p.add_argument("--threshold", type=cli.cosine_threshold, default=0.99,
                   help="cosine (mean over samples, worst output) the prediction must reach")
    p.add_argument("--keep_dtype_out", type=cli.writes, default="keep_dtype.cfg",
                   help="where the triage writes the keep list it found (only when one is needed)")
    p.add_argument("--by_type", action="store_true",
                   help="write the keep list as OpType::<type> lines (ATC's fallback when fused nodes are renamed)")
    p.add_argument("--no_triage", action="store_true", help="only predict; do not search for a keep list")
    p.add_argument("--report", type=cli.writes, default=None,
                   help="JSON report (the figures below, the keep list, the trials); beside it the readable report "
                        f"<report stem>{report.SUFFIX} and .png (headline, per-node error along the graph, keep "
                        "list, worst image samples)")
    p.add_argument("--no_html", action="store_true", help="write only the JSON --report, not its HTML and PNG")
    p.add_argument("--save_emulated", type=cli.writes, default=None,
                   help="also write the emulated graph (mode and --keep_dtype applied) as an ONNX file, to run "
                        "through common/infer.py and the folder's accuracy scripts")
    return p


def _atc_command(model, keep_path):
    om = Path(model).with_suffix("").name
    return (f"atc --framework=5 --model={model} --output={om} --input_format=NCHW --log=error "
            f"--soc_version=Ascend${{chip_name}} --keep_dtype={keep_path}   (plus the model's other ATC options)")


def main(argv=None):
    args = build_parser().parse_args(argv)
    html = report.default_path(args.report) if args.report and not args.no_html else None
    if html is not None:  # the readable report's two files beside the JSON are outputs too
        staging.check_apart(reads=[("--model", args.model), ("--keep_dtype", args.keep_dtype)],
                            writes=[("--report", html), ("--report", report.png_path(html))])
    if Path(args.model).suffix.lower() != ".onnx":
        raise UserError(f"{args.model}: expected a .onnx model (the file given to ATC)")
    backend = backends.open_backend(args.model)
    model = onnx_utils.load(args.model)
    keep = read_keep_file(args.keep_dtype) if args.keep_dtype else KeepSet()
    check_keep_names(_name_nodes(model), keep, args.keep_dtype or "--keep_dtype")  # before any long run
    groups, described = input_batches(backend, args.input, args.num, args.batchsize, args.seed)
    start = time.perf_counter()
    # the runner's session is the fp32 reference (the fp32 model needs no Cast-preserving options)
    evaluator = Evaluator(model, groups, backend.output_names, reference_session=backend.session)
    check_finite_reference(evaluator, args.model, described)
    print(f"{args.model}: {sum(n for _, n in groups)} sample(s) from {described}; mode {args.mode}"
          f"{'; keep list ' + args.keep_dtype if args.keep_dtype else ''}")
    # With the readable report, the emulation's run also exposes the first sample's intermediates (if they fit)
    expose = ()
    if html is not None:
        _, names, fits = drift_tensors(evaluator.model)
        expose = names if fits else ()
    per_output = evaluator.evaluate(args.mode, keep, retain=html is not None, expose=expose)
    given = evaluator.exposed
    print_table(f"predicted agreement of the {args.mode} build with the fp32 model:", per_output)
    cos, finite, worst = verdict(per_output)
    result = {"model": str(args.model), "mode": args.mode, "threshold": args.threshold, "samples":
              sum(n for _, n in groups), "data": described, "keep_dtype_in": args.keep_dtype,
              "outputs": per_output, "cosine": cos, "finite": finite, "max_abs": worst,
              "keep": [], "keep_dtype_out": None, "cosine_with_keep": None, "triage": []}
    status, added = 0, None
    notes = [f"model: {args.model}", f"data: {result['samples']} sample(s) from {described}"]
    if passes(per_output, args.threshold):
        outcome = f"PASS: predicted cosine {cos:.8f} (1 - cos {1 - cos:.2e}) >= {args.threshold}; no keep list needed"
    else:
        below = (f"below threshold: predicted cosine {cos:.6f}{'' if finite else ' (outputs not finite)'} "
                 f"< {args.threshold}")
        outcome = f"FAIL: {below}"
        if not args.no_triage:
            print(below)
        if args.no_triage:
            status = 1
        else:
            added, kept_report, log = triage(evaluator, args.mode, keep, args.threshold, args.by_type)
            for line in log:
                print(f"  {line}")
            result["triage"] = log
            if added is None:
                outcome = f"FAIL: no keep set reaches {args.threshold}"
                status = 1
            else:
                lines = keep.union(added.names, added.types).lines()
                print_table(f"with {len(added.lines())} more kept in fp32 ({args.keep_dtype_out}):", kept_report)
                cos_keep = verdict(kept_report)[0]
                result.update(keep=lines, keep_dtype_out=str(args.keep_dtype_out), cosine_with_keep=cos_keep,
                              outputs_with_keep=kept_report)
                outcome = (f"PASS with keep list ({len(lines)} line(s)): predicted cosine {cos_keep:.6f} >= "
                           f"{args.threshold}")
                notes += [f"keep list: {args.keep_dtype_out}", _atc_command(args.model, args.keep_dtype_out),
                          RENAME_NOTE]
    print(outcome)
    result["seconds"] = round(time.perf_counter() - start, 3)
    result["trials"] = evaluator.trials
    final = keep.union(added.names, added.types) if added is not None else keep
    # The keep list, the JSON, its readable report and the emulated graph appear together, or none does.
    with staging.OutputSet() as outputs:
        if added is not None:
            Path(outputs.file(args.keep_dtype_out)).write_text("\n".join(result["keep"]) + "\n")
        if args.report:
            fileio.write_json(outputs.file(args.report), result, atomic=False)
        if html is not None:
            configs = [(args.mode, keep)] + ([(args.mode, final)] if added is not None else [])
            if added is not None:  # the fixed build's outputs (its worst samples) and its intermediates, one run
                evaluator.exposed = None
                predicted = evaluator.outputs(args.mode, final, expose)
                exposed = [given, evaluator.exposed]
            else:
                predicted, exposed = evaluator.retained, [given]
            drift = node_drift(evaluator, configs, exposed)  # the first sample's per-node errors
            notes.append(f"JSON report: {args.report}")
            write_html_report(html, result, evaluator, keep, added, drift, predicted,
                              f"{Path(args.model).name}: the predicted {args.mode} build against fp32", outcome,
                              status == 0, notes, staged=report.report_parts(outputs, html))
        if args.save_emulated:
            onnx_utils.save(emulate(evaluator.model, args.mode, keep), outputs.file(args.save_emulated))
    if added is not None:
        print(f"keep list written to {args.keep_dtype_out}")
        print(f"  {_atc_command(args.model, args.keep_dtype_out)}")
        print(f"  {RENAME_NOTE}")
    if args.report:
        print(f"report written to {args.report}")
    if html is not None:
        print(f"readable report written to {html} (and {report.png_path(html).name})")
    if args.save_emulated:
        print(f"emulated graph written to {args.save_emulated}")
    return status


def check_finite_reference(evaluator, model_path, described):
    """The fp32 model's own outputs must be finite: NaN or Inf there is no fp16 effect, and no keep list fixes it."""
    for k, name in enumerate(evaluator.output_names):
        bad = sum(not np.all(np.isfinite(outputs[k])) for outputs in evaluator.reference)
        if bad:
            raise UserError(f"{model_path}: output {name!r} of the fp32 model holds NaN or Inf ({bad} of "
                            f"{len(evaluator.reference)} batch(es) of {described}); the model itself is not finite, "
                            f"so no fp16 build can be judged against it")


if __name__ == "__main__":
    sys.exit(cli.run(main))
