"""The readable report of a preview (common.report's HTML + PNG): the headline figures, the per-node error along
the graph on the first sample (where the drift enters), the keep list and its effect, the worst image samples."""
import math
from dataclasses import dataclass
from typing import Any, List, Optional

import numpy as np

from common import origins, report, similarity
from common.fp16.graph import emulate, float_tensors
from common.fp16.intermediates import chunks, tensor_errors
from common.fp16.keeplist import TYPE_PREFIX, KeepSet


def _relative_error(ref, emu):
    """||emu - ref|| / ||ref|| (inf where the emulated tensor is not finite)."""
    return similarity.rel_l2(ref, emu) if np.all(np.isfinite(emu)) else math.inf


def drift_tensors(model):
    """The computing nodes (not Constant: a constant's rounding shows in its readers) with a float output, in
    graph (topological) order, and the name of each one's first float output; and whether all of them fit in
    one run (intermediates.EXPOSED_BYTES), so the emulation's own run can expose them."""
    floats = float_tensors(model)
    nodes = [(node, next(t for t in node.output if t in floats)) for node in model.graph.node
             if node.op_type != "Constant" and any(t in floats for t in node.output)]
    names = [t for _, t in nodes]
    return [node for node, _ in nodes], names, len(chunks(model, names)) <= 1


def node_drift(evaluator, configs, exposed=None):
    """Where the drift enters the graph: per (mode, keep) of `configs`, the relative error of each node's first
    float output (drift_tensors order) in the emulated run against the fp32 run, on the first sample. exposed:
    per config, the emulated first-sample tensors already at hand (Evaluator.exposed) or None (run here)."""
    nodes, names, _ = drift_tensors(evaluator.model)
    errors = []
    for (mode, keep), emu in zip(configs, exposed or [None] * len(configs)):
        found = tensor_errors(evaluator, names, _relative_error,
                              emu if emu is not None else emulate(evaluator.model, mode, keep))
        errors.append([found[t] for t in names])
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


@dataclass
class Preview:
    """What the readable report shows of one run."""
    result: dict              # the JSON report's content
    evaluator: Any            # evaluation.Evaluator of the run
    keep_in: KeepSet          # the --keep_dtype list given (empty without one)
    found: Optional[KeepSet]  # the triage's additions; None when no keep list was needed or found
    drift: tuple              # node_drift's (nodes, [errors as given, errors with the keep list])
    predicted: List[list]     # the emulated outputs per batch (with the keep list, when one was found)


def _headline(result, found):
    headline = [("mode", result["mode"]), ("threshold", str(result["threshold"])), ("samples", str(result["samples"]))]
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
    return headline


def _drift_chart(preview):
    result, found = preview.result, preview.found
    kept = preview.keep_in.union(found.names, found.types) if found is not None else preview.keep_in
    nodes, errors = preview.drift
    given = f"{', --keep_dtype ' + str(result['keep_dtype_in']) if preview.keep_in else ''}"
    series = {f"as given ({result['mode']}{given})": errors[0]}
    if found is not None:
        series[f"with the keep list ({len(result['keep'])} line(s))"] = errors[1]
    marked = [i for i, node in enumerate(nodes) if node in kept]
    columns = (["#", "node", "op type", "relative error, as given"]
               + (["with the keep list"] if found is not None else []) + ["fp32"])
    rows = [[str(i), node.name, node.op_type] + [report.format_figure("rel_l2", e[i]) for e in errors]
            + ["kept" if i in marked else ""] for i, node in enumerate(nodes)]
    return report.LineChart(
        series, xlabel=f"node, in graph order ({len(nodes)} computing nodes with a float output)",
        ylabel="relative error of its output", labels=[n.name for n in nodes], marked=marked,
        marked_label="kept in fp32", heading="Where the drift enters: per-node error along the graph",
        caption="For each node in topological order, ||emulated - fp32|| / ||fp32|| of its (first) float output "
                "on the first sample: the fp16 emulation against the fp32 model, both on ONNX Runtime. A jump "
                "is where fp16 storage costs accuracy; a red x is a tensor that is not finite (overflow).",
        table=report.Table(columns, rows, caption="The same errors per node", id="nodes"))


def _keep_tables(preview):
    result = preview.result
    nodes, errors = preview.drift
    by_name = {n.name: n for n in nodes}
    with_keep = result["outputs_with_keep"]
    return [report.Table(
        ["keep_dtype line", "op type", "relative error, as given", "with the keep list"],
        [[line, by_name[line].op_type if line in by_name else line[len(TYPE_PREFIX):]]
         + ([report.format_figure("rel_l2", e[nodes.index(by_name[line])]) for e in errors]
            if line in by_name else ["", ""]) for line in result["keep"]],
        caption=f"The keep list ({result['keep_dtype_out']}): these stay fp32", id="keep"), report.Table(
        ["output", "mean cosine, as given", "with the keep list", "max |diff|, as given", "with the keep list",
         "finite, as given", "with the keep list"],
        [[name, report.format_figure("mean_cosine", e["mean_cosine"]),
          report.format_figure("mean_cosine", with_keep[name]["mean_cosine"]),
          report.format_figure("max_abs", e["max_abs"]), report.format_figure("max_abs", with_keep[name]["max_abs"]),
          report.format_figure("finite", e["finite"]), report.format_figure("finite", with_keep[name]["finite"])]
         for name, e in result["outputs"].items()], caption="The keep list's effect", id="effect")]


def _worst(preview):
    """The worst samples' panels and their table rows."""
    worst, rows = [], []
    for name, index, gap, biggest, psnr, ref, emu in worst_samples(preview.evaluator, preview.predicted):
        bad = int(np.sum(~np.isfinite(emu)))
        shown = np.nan_to_num(emu, nan=0.0, posinf=1.0, neginf=-1.0)
        figures = (f"1 - cosine {report.format_figure('one_minus_cosine', gap)}, max |diff| "
                   f"{report.format_figure('max_abs', biggest)}, PSNR {report.format_figure('psnr', psnr)}")
        worst.append(report.WorstFile(f"{name}, sample {index}", figures + (
            f"; {bad} values not finite (drawn as 0, +-1)" if bad else ""), ref, shown))
        rows.append([f"{name}, sample {index}", report.format_figure("one_minus_cosine", gap),
                     report.format_figure("max_abs", biggest), report.format_figure("psnr", psnr)])
    return worst, rows


def write_html_report(path, preview, title, verdict_text, passed, notes, staged=None):
    """The readable report of a precision run (common.report.write_report): headline, per-node drift chart
    and table, the keep list and its effect, the worst image samples, the triage trials. `staged`: the
    OutputSet paths it is written to (report.report_parts)."""
    result, found = preview.result, preview.found
    tables = _keep_tables(preview) if found is not None else []
    if result["triage"]:
        tables.append(report.Table(["triage step"], [[line] for line in result["triage"]],
                                   caption="The triage's trials", id="triage"))
    worst, worst_rows = _worst(preview)
    build = "predicted fp16 build" + (" (with the keep list)" if found is not None else "")
    return report.write_report(path, report.Report(
        title, verdict_text, passed=passed, headline=_headline(result, found), charts=[_drift_chart(preview)],
        worst=report.Worst(worst, f"The worst samples of the {build}, worst first",
                           report.Table(["sample", "1 - cosine", "max |diff|", "PSNR"], worst_rows,
                                        caption="Their figures (1 - cosine largest first)", id="worst"),
                           reference_label="fp32 (ONNX Runtime)", offline_label=build),
        tables=tables, notes=notes, weights=origins.weights()), staged)
