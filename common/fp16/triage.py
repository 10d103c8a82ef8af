"""The triage: the nodes behind a prediction below the threshold (the overflow chain, then the nodes whose own
rounding adds the most error), and the smallest keep set found that brings it to the threshold, verified by
re-running the emulation."""
import numpy as np
from tqdm import tqdm

from common import similarity
from common.fp16.evaluation import passes, verdict
from common.fp16.graph import emulate, float_tensors, fp16_nodes
from common.fp16.intermediates import tensor_errors, tensor_peaks
from common.fp16.keeplist import KeepSet

FP16_MAX = float(np.finfo(np.float16).max)  # 65504
PRUNE_LIMIT = 16


def overflow_nodes(evaluator, mode, keep):
    """The fp16 nodes that write a tensor beyond +-65504 in fp32, or read one (graph input or initializer
    included): the overflow chain, which must stay fp32 for the values to survive."""
    model = evaluator.model  # read only
    floats = float_tensors(model)
    produced = [name for node in model.graph.node for name in node.output if name in floats]
    peak = tensor_peaks(evaluator, model, produced)
    for init in model.graph.initializer:
        if init.name in floats:
            values = evaluator.files.values(init)
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


def _rounding_error(ref, emu):
    return similarity.one_minus_cosine(ref, emu) if np.all(np.isfinite(emu)) else 1.0


def rounding_gain(evaluator, mode, keep):
    """Rank the fp16 nodes by the error their own rounding adds: 1-cos of the node's output (emulation vs
    fp32, first sample) minus the largest 1-cos among its float inputs. Largest first."""
    model = evaluator.model  # read only
    floats = float_tensors(model)
    initializers = {i.name for i in model.graph.initializer}
    names = sorted({t for n in model.graph.node for t in (*n.input, *n.output)
                    if t in floats and t not in initializers})
    names = [t for t in names if t not in evaluator.input_names]
    errors = tensor_errors(evaluator, names, _rounding_error, emulate(model, mode, keep))
    gains = []
    for node in fp16_nodes(model, mode, keep):
        out = max((errors.get(t, 0.0) for t in node.output if t in floats), default=0.0)
        inp = max((errors.get(t, 0.0) for t in node.input if t in floats), default=0.0)
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
    op_types = {n.name: n.op_type for n in evaluator.model.graph.node}
    # Trials: the overflow chain alone, then with the 1, 2, 4, ... worst-rounding nodes added.
    sizes = ([0] if base else []) + [k for k in (2 ** i for i in range(32)) if k < len(ranked)] + [len(ranked)]
    bar = tqdm(sorted(set(sizes)), desc="triage trials", unit="trial", disable=not progress, leave=False)
    for k in bar:
        names = base + ranked[:k]
        if not names:
            continue
        added = KeepSet(types={op_types[n] for n in names}) if by_type else KeepSet(names)
        report = _trial(evaluator, mode, keep, added, threshold, log)
        if report is not None:
            bar.close()
            if by_type or k > PRUNE_LIMIT:
                return added, report, log
            return (*_prune(evaluator, (mode, keep, threshold), base, ranked[:k], (added, report), log, progress),
                    log)
    bar.close()
    return None, None, log


def _prune(evaluator, target, base, chosen, found, log, progress):
    """Drop each ranked node of `chosen`, least costly first, while the prediction still passes without it.
    target: (mode, keep, threshold); found: the passing (KeepSet, report). Returns the smallest (KeepSet, report)."""
    mode, keep, threshold = target
    added, report = found
    chosen = list(chosen)
    for name in tqdm(list(reversed(chosen)), desc="pruning", unit="trial", disable=not progress, leave=False):
        fewer = KeepSet(base + [n for n in chosen if n != name])
        smaller = _trial(evaluator, mode, keep, fewer, threshold, log)
        if smaller is not None:
            chosen.remove(name)
            added, report = fewer, smaller
    return added, report


def _trial(evaluator, mode, keep, added, threshold, log):
    """Emulate with `keep` plus `added`; the report if it passes, else None (logged either way)."""
    report = evaluator.evaluate(mode, keep.union(added.names, added.types))
    cos, finite, _ = verdict(report)
    log.append(f"trial: keep {len(added.lines())} ({'types' if added.types else 'nodes'}) -> cosine {cos:.6f}"
               f"{'' if finite else ' (not finite)'}")
    return report if passes(report, threshold) else None
