"""The preview as common/precision.py runs it: predict, triage below the threshold, then write the keep list, the
JSON report, its readable report and the emulated graph together."""
import contextlib
import time
from pathlib import Path

from common import backends, fileio, onnx_utils, origins, report, staging
from common.errors import UserError
from common.fp16.evaluation import Evaluator, check_finite_reference, input_batches, passes, print_table, verdict
from common.fp16.graph import emulate, name_nodes
from common.fp16.keeplist import KeepSet, check_keep_names, read_keep_file
from common.fp16.readable import Preview, drift_tensors, node_drift, write_html_report
from common.fp16.triage import triage
from common.fp16.weights import ModelFiles

RENAME_NOTE = ("note: ATC can fuse and rename nodes (Conv+BatchNorm+Relu, ...); if it warns that a name in the "
               "keep list is not found, use the OpType::<type> form (--by_type) as the fallback")


def atc_command(model, keep_path):
    om = Path(model).with_suffix("").name
    return (f"atc --framework=5 --model={model} --output={om} --input_format=NCHW --log=error "
            f"--soc_version=Ascend${{chip_name}} --keep_dtype={keep_path}   (plus the model's other ATC options)")


def run(args):
    """The whole preview for parsed arguments (common/precision.py's options); the exit status."""
    html = report.default_path(args.report) if args.report and not args.no_html else None
    if html is not None:  # the readable report's two files beside the JSON are outputs too
        staging.check_apart(reads=[("--model", args.model), ("--keep_dtype", args.keep_dtype)],
                            writes=[("--report", html), ("--report", report.png_path(html))])
    if Path(args.model).suffix.lower() != ".onnx":
        raise UserError(f"{args.model}: expected a .onnx model (the file given to ATC)")
    keep = read_keep_file(args.keep_dtype) if args.keep_dtype else KeepSet()
    with _opened(args, keep) as (evaluator, described, start):
        state = _Run(args, evaluator, keep, html)
        _predict(state, described)
        print(state.outcome)
        state.result["seconds"] = round(time.perf_counter() - start, 3)
        state.result["trials"] = evaluator.trials
        _write(state)
    _print_written(args, state.added, html)
    return state.status


@contextlib.contextmanager
def _opened(args, keep):
    """(the evaluator on the model's inputs, the data's description, its start time); the model's weights are
    in temporary files until the end. The runner's session gives the fp32 reference and is gone after it."""
    model = name_nodes(onnx_utils.load(args.model))
    check_keep_names(model, keep, args.keep_dtype or "--keep_dtype")  # before any long run
    with ModelFiles(model) as files:  # the weights leave memory for two files that every session maps
        del model  # before the runner's session is made: the two would be held at once
        backend = backends.open_backend(args.model)
        groups, described = input_batches(backend, args.input, args.num, args.batchsize, args.seed)
        start = time.perf_counter()
        evaluator = Evaluator(files.graph, groups, backend.output_names, reference_session=backend.session,
                              files=files)
        del backend
        check_finite_reference(evaluator, args.model, described)
        print(f"{args.model}: {sum(n for _, n in groups)} sample(s) from {described}; mode {args.mode}"
              f"{'; keep list ' + args.keep_dtype if args.keep_dtype else ''}")
        yield evaluator, described, start


class _Run:
    """One preview's state, from the prediction to the written outputs."""

    def __init__(self, args, evaluator, keep, html):
        self.args, self.evaluator, self.keep, self.html = args, evaluator, keep, html
        self.result, self.added, self.outcome, self.status, self.notes = None, None, "", 0, []
        self.expose, self.given = (), None  # the drift tensors the emulation's run exposes, and their values

    def finish(self, outcome, status):
        self.outcome, self.status = outcome, status


def _predict(state, described):
    """The prediction and, below the threshold, the triage."""
    args, evaluator = state.args, state.evaluator
    # With the readable report, the emulation's run also exposes the first sample's intermediates (if they fit)
    if state.html is not None:
        _, names, fits = drift_tensors(evaluator.model)
        state.expose = names if fits else ()
    per_output = evaluator.evaluate(args.mode, state.keep, retain=state.html is not None, expose=state.expose)
    state.given = evaluator.exposed
    print_table(f"predicted agreement of the {args.mode} build with the fp32 model:", per_output)
    cos, finite, worst = verdict(per_output)
    samples = sum(n for _, n in evaluator.groups)
    state.result = {"model": str(args.model), "mode": args.mode, "threshold": args.threshold, "samples": samples,
                    "data": described, "keep_dtype_in": args.keep_dtype, "outputs": per_output, "cosine": cos,
                    "finite": finite, "max_abs": worst, "keep": [], "keep_dtype_out": None,
                    "cosine_with_keep": None, "triage": []}
    state.notes = [f"model: {args.model}", f"data: {samples} sample(s) from {described}"]
    if passes(per_output, args.threshold):
        return state.finish(f"PASS: predicted cosine {cos:.8f} (1 - cos {1 - cos:.2e}) >= {args.threshold}; no keep "
                            f"list needed", 0)
    below = f"below threshold: predicted cosine {cos:.6f}{'' if finite else ' (outputs not finite)'} < {args.threshold}"
    if args.no_triage:
        return state.finish(f"FAIL: {below}", 1)
    print(below)
    _triage(state)


def _triage(state):
    args, keep = state.args, state.keep
    added, kept_report, log = triage(state.evaluator, args.mode, keep, args.threshold, args.by_type)
    for line in log:
        print(f"  {line}")
    state.result["triage"] = log
    if added is None:
        return state.finish(f"FAIL: no keep set reaches {args.threshold}", 1)
    lines = keep.union(added.names, added.types).lines()
    print_table(f"with {len(added.lines())} more kept in fp32 ({args.keep_dtype_out}):", kept_report)
    cos_keep = verdict(kept_report)[0]
    state.result.update(keep=lines, keep_dtype_out=str(args.keep_dtype_out), cosine_with_keep=cos_keep,
                        outputs_with_keep=kept_report)
    state.notes += [f"keep list: {args.keep_dtype_out}", atc_command(args.model, args.keep_dtype_out), RENAME_NOTE]
    state.added = added
    state.finish(f"PASS with keep list ({len(lines)} line(s)): predicted cosine {cos_keep:.6f} >= {args.threshold}", 0)


def _write(state):
    """The keep list, the JSON, its readable report and the emulated graph appear together, or none does."""
    args = state.args
    with staging.OutputSet() as outputs:
        if state.added is not None:
            Path(outputs.file(args.keep_dtype_out)).write_text("\n".join(state.result["keep"]) + "\n")
        if args.report:
            result = {**origins.json_fields(origins.weights()), **state.result}  # stand-in weights said first
            fileio.write_json(outputs.file(args.report), result, atomic=False)
        if state.html is not None:
            _write_readable(state, report.report_parts(outputs, state.html))
        if args.save_emulated:
            emulated = emulate(state.evaluator.model, args.mode, state.keep)
            onnx_utils.save(state.evaluator.files.embedded(emulated), outputs.file(args.save_emulated))


def _write_readable(state, staged):
    args, evaluator, keep, added = state.args, state.evaluator, state.keep, state.added
    configs = [(args.mode, keep)]
    if added is not None:  # the fixed build's outputs (its worst samples) and its intermediates, one run
        final = keep.union(added.names, added.types)
        configs.append((args.mode, final))
        evaluator.exposed = None
        predicted = evaluator.outputs(args.mode, final, state.expose)
        exposed = [state.given, evaluator.exposed]
    else:
        predicted, exposed = evaluator.retained, [state.given]
    drift = node_drift(evaluator, configs, exposed)  # the first sample's per-node errors
    state.notes.append(f"JSON report: {args.report}")
    write_html_report(state.html, Preview(state.result, evaluator, keep, added, drift, predicted),
                      f"{Path(args.model).name}: the predicted {args.mode} build against fp32", state.outcome,
                      state.status == 0, state.notes, staged=staged)


def _print_written(args, added, html):
    if added is not None:
        print(f"keep list written to {args.keep_dtype_out}")
        print(f"  {atc_command(args.model, args.keep_dtype_out)}")
        print(f"  {RENAME_NOTE}")
    if args.report:
        print(f"report written to {args.report}")
    if html is not None:
        print(f"readable report written to {html} (and {report.png_path(html).name})")
    if args.save_emulated:
        print(f"emulated graph written to {args.save_emulated}")
