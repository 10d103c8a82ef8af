"""Offline inference with ais_bench's command line and file layout, on any machine.

    python3 common/infer.py --model dcgan_sim_bs4.onnx --input ./prep_dataset --output ./result \
        --output_dirname bs4 --outfmt BIN --batchsize 4

`.onnx` models run on ONNX Runtime (CPU by default; --provider cuda/cann/... when installed, never a silent
CPU fallback) or, with --backend openvino, on OpenVINO's CPU plugin at an explicit --precision (f32 unless asked;
a precision the CPU does not offer is an error). Without --backend, a model folder's model runs on the exact
engine its `<model>_facts.py` names for this CPU's feature set (benchmarks/run_all.py --write-backend-table
measures it; see default_backend). `.om` models run through ais_bench's InferSession when ais_bench is installed
(Ascend).

What it does, as ais_bench does (Ascend/tools ais-bench_workload/tool/ais_bench):
- `--input` takes one folder per model input, in model input order (or a comma list of files). Each folder
  is listed for .bin/.npy files in natural order; the i-th file of every folder forms sample i (pairing is
  by position; the names must agree, which ais_bench does not check).
- Files are concatenated to fill the model's batch: a file may hold one sample or a whole batch. A short
  last batch is padded with copies of its first file, and the padding's outputs are dropped.
- Outputs are split back to one file per input file, named `<input-0 file name up to its first dot>_<i>`,
  in `<output>/<output_dirname>` (or `<output>/<YYYY_MM_DD-hh_mm_ss>`), with `<that folder>_summary.json`
  beside it. Without `--input` it runs on zero (or random) data: `pure_infer_data_<i>`.
- The compute time of every run is collected; the summary prints min/max/mean/median/p99 in ms and
  throughput = 1000 * batchsize / mean.
- `--device 0,1` runs one worker process per device (on a CPU, each with its share of the cores). With
  `--divide_input` the batches are dealt out in contiguous, disjoint shards, one per device, and every worker
  writes into the one output folder, so it holds the same files as a one-device run; each device's summary is
  `<folder>_device_<id>_summary.json`, the merged one `<folder>_summary.json`. Then, as ais_bench prints them,
  one `i:<k> device_<id> throughput:...` line per device and `[INFO] summary throughput:<sum>`.
- `--cluster ADDRESS` (ONNX Runtime and OpenVINO backends) computes the batches on a Dask cluster instead
  (common/cluster.py): a scheduler `tcp://host:port` (or `tls://host:port`) whose workers need only the project's
  requirements, or `local:N`, N worker processes on this machine. This process still reads every input and
  writes every output, in input order, so the folder, the names and the summary are those of a one-process run
  and the files are the same bytes; the summary adds `"workers"` (address, batches, compute time, throughput) and
  the console ais_bench's lines, a worker's address in place of `device_<id>`. A run that cannot finish (the
  scheduler gone, no worker left) writes nothing.
"""
import contextlib
import copy
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np
from tqdm import tqdm

from common import cli, cluster, facts, fileio, onnx_utils, origins, staging
from common.errors import UserError
from common.facts import TensorSpec

PURE_INFER_STEM = "pure_infer_data"


# ------------------------------------------------------------------------------------------------ backends

PRECISIONS = ("f32", "bf16", "f16")
BACKENDS = ("onnxruntime", "openvino")
# ais_bench warms up once; a warm-up is untimed, so more than this only delays the run
WARMUP_RUNS = cli.ranged_int(0, 1000, "untimed runs of the first batch")


def tensor_spec(name, dims, dtype):
    """A TensorSpec from a runtime's description: positive int dims are static, anything else (a symbolic
    name, -1, 0, None) is a free axis; `dtype` is anything numpy.dtype takes."""
    dims = tuple(int(d) if isinstance(d, (int, np.integer)) and d > 0 else None for d in dims)
    return TensorSpec(str(name), dims, np.dtype(dtype).name)


class Backend:
    """What the runner needs of a runtime; each backend is a small subclass.

    inputs, outputs: TensorSpecs in the model's order (shape with None for a free axis, numpy dtype name).
    label: the runtime, its version and its device, as the summary records it.
    precision: the arithmetic it runs at ('f32', 'bf16', 'f16', 'om'); None until known (after prepare).
    prepare(shapes): get ready for these static input shapes (one per input), before anything is timed.
    run(feeds): arrays in input order -> (output arrays in output order, compute time in ms).
    """

    inputs = ()
    outputs = ()
    label = ""
    precision = None

    def prepare(self, shapes):
        """Nothing to do for runtimes that take any shape the model allows."""

    def run(self, feeds):
        raise NotImplementedError

    @property
    def output_names(self):
        return [spec.name for spec in self.outputs]


class OnnxRuntimeBackend(Backend):
    """A .onnx model on ONNX Runtime (float32 arithmetic; `threads` intra-op threads, 0 = all cores)."""

    precision = "f32"

    def __init__(self, path, provider="cpu", device=0, threads=0):
        import onnxruntime as ort

        self.session = onnx_utils.make_session(path, provider, device, threads)
        self.inputs = [tensor_spec(i.name, i.shape, onnx_utils.numpy_dtype(i.type))
                       for i in self.session.get_inputs()]
        self.outputs = [tensor_spec(o.name, o.shape, onnx_utils.numpy_dtype(o.type))
                        for o in self.session.get_outputs()]
        self.label = f"onnxruntime {ort.__version__} {self.session.get_providers()[0]}"

    def run(self, feeds):
        named = {spec.name: array for spec, array in zip(self.inputs, feeds)}
        start = time.perf_counter()
        outputs = self.session.run(None, named)
        return outputs, (time.perf_counter() - start) * 1000.0


class OpenVinoBackend(Backend):
    """A .onnx model on OpenVINO's CPU plugin at an explicit inference precision.

    OpenVINO picks bf16 by itself on CPUs with AMX; here INFERENCE_PRECISION_HINT is always pinned to the
    requested precision, which must be among the CPU's OPTIMIZATION_CAPABILITIES (else a UserError), and the
    precision the compiled model reports is what `precision` holds. The model is compiled for the static
    shapes of the run (`prepare`), or on the first `run` with that batch's shapes.
    """

    CAPABILITY = {"f32": "FP32", "bf16": "BF16", "f16": "FP16"}
    OV_NAMES = {"f32": "f32", "bf16": "bf16", "f16": "f16"}

    def __init__(self, path, precision="f32", threads=0):
        try:
            import openvino as ov
        except ImportError:
            raise UserError("--backend openvino needs the openvino package (pip install openvino)") from None
        path = fileio.require_file(path, "ONNX file")
        if precision not in PRECISIONS:
            raise UserError(f"--precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
        self.core = ov.Core()
        capabilities = list(self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
        cpu = self.core.get_property("CPU", "FULL_DEVICE_NAME")
        if self.CAPABILITY[precision] not in capabilities:
            raise UserError(f"--precision {precision}: OpenVINO's CPU plugin on this CPU ({cpu}) offers "
                            f"{', '.join(capabilities)}, not {self.CAPABILITY[precision]} (no AMX / AVX512-BF16 / "
                            f"AVX512-FP16 here); it would run {precision} emulated or as f32, so it is refused: "
                            f"use --precision f32")
        try:
            self.model = self.core.read_model(str(path))
        except Exception as err:  # OpenVINO raises its own RuntimeError subclasses for unreadable models
            raise UserError(f"{path}: OpenVINO could not read it ({str(err).splitlines()[0]})") from None
        self.requested = precision
        self.threads = int(threads)
        self.inputs = [self._spec(port) for port in self.model.inputs]
        self.outputs = [self._spec(port) for port in self.model.outputs]
        self.capabilities = capabilities
        self.compiled_shapes = None
        self.precision = None  # known once compiled
        self.label = f"openvino {ov.__version__} CPU ({cpu})"

    @staticmethod
    def _spec(port):
        dims = [d.get_length() if d.is_static else None for d in port.get_partial_shape()]
        return tensor_spec(port.get_any_name(), dims, port.get_element_type().to_dtype())

    def prepare(self, shapes):
        """Compile for these static input shapes (one per input, in order)."""
        shapes = [list(map(int, shape)) for shape in shapes]
        if shapes == self.compiled_shapes:
            return
        self.model.reshape({port.get_any_name(): shape for port, shape in zip(self.model.inputs, shapes)})
        config = {"INFERENCE_PRECISION_HINT": self.OV_NAMES[self.requested], "PERFORMANCE_HINT": "LATENCY"}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = self.threads
        self.compiled = self.core.compile_model(self.model, "CPU", config)
        used = self.compiled.get_property("INFERENCE_PRECISION_HINT")  # an openvino Type such as f32
        self.precision = used.get_type_name() if hasattr(used, "get_type_name") else str(used).lower()
        if self.precision != self.requested:
            raise UserError(f"OpenVINO compiled the model in {self.precision}, not the requested {self.requested}")
        self.request = self.compiled.create_infer_request()
        self.compiled_shapes = shapes

    def run(self, feeds):
        self.prepare([np.shape(f) for f in feeds])
        start = time.perf_counter()
        result = self.request.infer({k: np.ascontiguousarray(f) for k, f in enumerate(feeds)})
        ms = (time.perf_counter() - start) * 1000.0
        # The request's output buffers are reused by the next inference: copy them out (untimed).
        return [np.array(result[port]) for port in self.compiled.outputs], ms


class AisBenchBackend(Backend):
    """A .om model through ais_bench's InferSession (ais_bench/infer/interface.py)."""

    precision = "om"  # whatever ATC built (fp16 by default; see common/precision.py)

    def __init__(self, path, device=0):
        try:
            from ais_bench.infer.interface import InferSession
        except ImportError:
            raise UserError(f"{path}: .om models run on an Ascend NPU through ais_bench, which is not installed "
                            f"here; run the .onnx with ONNX Runtime instead, or install ais_bench and "
                            f"aclruntime from Ascend/tools") from None
        fileio.require_file(path, ".om file")
        self.session = InferSession(int(device), str(path))
        self.inputs = [self._spec(d) for d in self.session.get_inputs()]
        self.outputs = [self._spec(d) for d in self.session.get_outputs()]
        self.label = f"ais_bench InferSession device {device}"

    @staticmethod
    def _spec(desc):
        return tensor_spec(desc.name, [x if isinstance(x, str) else int(x) for x in desc.shape],
                           onnx_utils.numpy_dtype(desc.datatype))

    def run(self, feeds):
        before = len(self.session.sumary().exec_time_list)
        outputs = self.session.infer(list(feeds))
        times = self.session.sumary().exec_time_list[before:]
        return outputs, float(sum(times))


def default_backend(model, provider="cpu", precision="f32"):
    """The engine a model runs on without --backend: for a .onnx model on the CPU in f32, the one its model
    folder's backend table (`<model>_facts.py`, written by benchmarks/run_all.py --write-backend-table) names for
    this CPU's feature set, the folder found by the graph's input and output names among those beside common/;
    ONNX Runtime for everything else. A table, not a measurement at run time: the same command on the same
    machine always computes the same bytes."""
    if Path(model).suffix.lower() != ".onnx" or provider != "cpu" or precision != "f32":
        return BACKENDS[0]
    try:
        graph = onnx_utils.load(model).graph
    except UserError:  # opening the backend says what is wrong with the file
        return BACKENDS[0]
    initializers = {t.name for t in graph.initializer}
    model_facts = facts.facts_of_graph(facts.folder_facts(Path(__file__).resolve().parents[1]),
                                       [i.name for i in graph.input if i.name not in initializers],
                                       [o.name for o in graph.output])
    return model_facts.default_backend() if model_facts else BACKENDS[0]


def open_backend(model, provider="cpu", device=0, backend="onnxruntime", precision="f32", threads=0):
    """The backend for a model file: .om -> ais_bench; .onnx -> ONNX Runtime or OpenVINO (`backend`).

    `precision` other than f32 needs OpenVINO; `threads` (0 = all cores) applies to the CPU backends."""
    suffix = Path(model).suffix.lower()
    if backend not in BACKENDS:
        raise UserError(f"--backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if suffix == ".om":
        if provider != "cpu" or backend != "onnxruntime" or precision != "f32":
            raise UserError(f"{model}: --provider, --backend and --precision apply to .onnx models; a .om model "
                            f"runs on the NPU at the precision ATC built it with")
        return AisBenchBackend(model, device)
    if suffix != ".onnx":
        raise UserError(f"{model}: expected a .onnx or .om model file")
    if backend == "openvino":
        if provider != "cpu":
            raise UserError(f"--provider {provider} applies to --backend onnxruntime; OpenVINO runs on its CPU plugin")
        return OpenVinoBackend(model, precision, threads)
    if precision != "f32":
        raise UserError(f"--precision {precision}: ONNX Runtime runs this model in f32; bf16/f16 previews "
                        f"need --backend openvino")
    return OnnxRuntimeBackend(model, provider, device, threads)


# ------------------------------------------------------------------------------------------------ inputs

def resolve_shapes(inputs, batchsize, first_file_bytes=None, first_file=None):
    """Fix every input's shape (`inputs`: the backend's TensorSpecs): static dims from the model, a dynamic
    batch from --batchsize.

    With a dynamic batch and no --batchsize, each file of input 0 is taken to hold one batch, so the batch
    is the number of samples in it (`first_file`, of `first_file_bytes`, named in the error if it is not).
    """
    shapes = []
    batch = None
    for k, spec in enumerate(inputs):
        dims, dtype = list(spec.shape), np.dtype(spec.dtype)
        if any(d is None for d in dims[1:]):
            raise UserError(f"model input {spec.name!r} has dynamic dims {dims} beyond the batch axis; export or "
                            f"simplify it with a fixed shape (common/simplify.py)")
        if dims and dims[0] is None:
            if batch is None:
                if batchsize:
                    batch = batchsize
                elif first_file_bytes is not None and k == 0:
                    per_sample = math.prod(dims[1:]) * dtype.itemsize
                    if first_file_bytes % per_sample:
                        raise UserError(f"{first_file or f'input files of {spec.name!r}'}: {first_file_bytes} "
                                        f"bytes, not a whole number of {per_sample}-byte samples of {dims[1:]} "
                                        f"{dtype.name} (model input {spec.name!r})")
                    batch = first_file_bytes // per_sample
                else:
                    batch = 1
            dims = [batch, *dims[1:]]
        shapes.append([int(d) for d in dims])
    model_batch = shapes[0][0] if shapes and shapes[0] else 1
    if batchsize and inputs and inputs[0].shape and inputs[0].shape[0] is not None and batchsize != model_batch:
        raise UserError(f"--batchsize {batchsize} but the model's batch is fixed at {model_batch}")
    staging.check_memory(sum(math.prod(shape) * np.dtype(spec.dtype).itemsize  # Python ints never wrap
                             for spec, shape in zip(inputs, shapes)),
                         f"a batch of {model_batch} ({'--batchsize' if batchsize else 'the shapes the model states'})")
    return shapes, model_batch


def collect_inputs(text, inputs):
    """--input -> one list of files per model input (`inputs`: TensorSpecs), checked for count and names."""
    entries = [Path(e) for e in text.split(",") if e.strip()]
    n_inputs = len(inputs)
    if all(e.is_dir() for e in entries):
        if len(entries) != n_inputs:
            raise UserError(f"--input names {len(entries)} folder(s) but the model has {n_inputs} input(s) "
                            f"({', '.join(spec.name for spec in inputs)}); give one folder per input, in order")
        return fileio.pair_by_position(entries)
    missing = next((e for e in entries if not e.exists()), None)
    if missing is not None:
        raise UserError(f"{missing}: no such file or folder (from --input){origins.hint(missing)}")
    odd = next((e for e in entries if not e.is_file() and not e.is_dir()), None)
    if odd is not None:
        raise UserError(f"{odd}: not a regular file or folder (from --input)")
    if not all(e.is_file() for e in entries):
        raise UserError("--input mixes files and folders; give one folder per model input, or only files")
    if len(entries) % n_inputs:
        raise UserError(f"--input names {len(entries)} file(s), not a multiple of the model's {n_inputs} input(s)")
    per = len(entries) // n_inputs
    return [entries[k * per:(k + 1) * per] for k in range(n_inputs)]


def _file_nbytes(path, dtype):
    if path.suffix.lower() == ".npy":
        return fileio.read_array(path, dtype).nbytes
    return path.stat().st_size


def files_per_batch(lists, inputs, shapes):
    """How many files fill one batch (the same for every input), checking every file's size."""
    factor = None
    for files, spec, shape in zip(lists, inputs, shapes):
        name, dtype = spec.name, np.dtype(spec.dtype)
        tensor_bytes = math.prod(shape) * dtype.itemsize
        sample_bytes = tensor_bytes // shape[0] if shape else tensor_bytes
        size = _file_nbytes(files[0], dtype)
        if size == 0 or tensor_bytes % size:
            raise UserError(f"{files[0]}: {size} bytes does not divide the input {name!r} of "
                            f"{tuple(shape)} {dtype.name} ({tensor_bytes} bytes)")
        if size % sample_bytes:  # ais_bench would only fail later, when splitting the outputs
            raise UserError(f"{files[0]}: {size} bytes is not a whole number of samples of input {name!r} "
                            f"({tuple(shape[1:])} {dtype.name}, {sample_bytes} bytes each)")
        for path in files[1:]:
            if _file_nbytes(path, dtype) != size:
                raise UserError(f"{path}: {_file_nbytes(path, dtype)} bytes, expected {size} like {files[0]}")
        k = tensor_bytes // size
        if factor is not None and k != factor:
            raise UserError(f"input {name!r}: {k} files fill a batch, but {factor} for the first input; the "
                            f"files of all inputs must hold the same number of samples")
        factor = k
    return factor


class Batch(NamedTuple):
    """One run of the model: the file numbers that fill it, and how many of them are real; the rest pad a short
    last batch with copies of its first file, and their outputs are dropped."""
    indices: Tuple[int, ...]
    n_real: int


def batches(lists, factor):
    """Group file numbers by batch, `factor` files each; a short last group is padded with its own first."""
    count = len(lists[0])
    for start in range(0, count, factor):
        real = tuple(range(start, min(start + factor, count)))
        yield Batch(real + (real[0],) * (factor - len(real)), len(real))


def load_batch(lists, indices, inputs, shapes):
    feeds = []
    for files, spec, shape in zip(lists, inputs, shapes):
        parts = [fileio.read_array(files[i], spec.dtype).ravel() for i in indices]
        feeds.append(np.concatenate(parts).reshape(shape))
    return feeds


def pure_data(inputs, shapes, kind, seed=0):
    """--pure_data_type: zeros, or the seeded inputs the export checks use (onnx_utils.seeded_feeds)."""
    if kind == "zero":
        return [np.zeros(shape, spec.dtype) for spec, shape in zip(inputs, shapes)]
    feeds = onnx_utils.seeded_feeds({spec.name: shape for spec, shape in zip(inputs, shapes)}, seed,
                                    dtypes={spec.name: spec.dtype for spec in inputs})
    return list(feeds.values())


class FileInputs:
    """The runner's input source for --input: one list of files per model input, the i-th file of every list
    forming sample i, `factor` files filling a batch.

    The interface the batch loop uses, shared with PureInputs: `shapes` (the static input shapes of a batch),
    `model_batch` (its samples), `factor` (files per batch: each output is split into that many files),
    `batches` (Batch list), `feeds(batch)` (arrays in input order), `stems(batch)` (output name stem of each
    real file), `infiles(batch, j)` (the input files of its j-th real file, as the summary lists them) and
    `where(batch)` (what a warning about the batch names). It holds no runtime, so a worker process can take it.
    """

    def __init__(self, text, inputs, batchsize=None):
        self.inputs = list(inputs)
        self.lists = collect_inputs(text, self.inputs)
        fileio.check_unique_stems(self.lists[0], lambda stem: f"{stem}_<i>.<ext>")  # ais_bench's output names
        first = self.lists[0][0]
        self.shapes, self.model_batch = resolve_shapes(self.inputs, batchsize,
                                                       _file_nbytes(first, self.inputs[0].dtype), first)
        self.factor = files_per_batch(self.lists, self.inputs, self.shapes)
        self.batches = list(batches(self.lists, self.factor))

    @property
    def files(self):
        """Files per input."""
        return len(self.lists[0])

    def first(self, n_files):
        """The same source over only the first `n_files` files of every input."""
        head = copy.copy(self)
        head.lists = [files[:n_files] for files in self.lists]
        head.batches = list(batches(head.lists, self.factor))
        return head

    def feeds(self, batch):
        return load_batch(self.lists, batch.indices, self.inputs, self.shapes)

    def stems(self, batch):
        return [fileio.stem(self.lists[0][i]) for i in batch.indices[:batch.n_real]]

    def infiles(self, batch, j):
        return [str(files[batch.indices[j]]) for files in self.lists]

    def where(self, batch):
        return self.lists[0][batch.indices[0]]


class PureInputs:
    """The runner's input source without --input: one batch of zero (or seeded random) data, whose outputs are
    `pure_infer_data_<i>`. Same interface as FileInputs."""

    factor = 1

    def __init__(self, inputs, batchsize=None, kind="zero", seed=0):
        self.inputs, self.kind, self.seed = list(inputs), kind, seed
        self.shapes, self.model_batch = resolve_shapes(self.inputs, batchsize)
        self.batches = [Batch((0,), 1)]

    def feeds(self, batch):
        return pure_data(self.inputs, self.shapes, self.kind, self.seed)

    def stems(self, batch):
        return [PURE_INFER_STEM]

    def infiles(self, batch, j):
        return []

    def where(self, batch):
        return "pure inference data"


def input_source(args, inputs):
    """FileInputs for --input, else PureInputs."""
    if args.input:
        return FileInputs(args.input, inputs, args.batchsize)
    return PureInputs(inputs, args.batchsize, args.pure_data_type, args.seed)


# ------------------------------------------------------------------------------------------------ outputs

def save_outputs(outdir, outputs, stems, factor, n_real, outfmt, axis, output_names):
    """Split each output along `axis` into `factor` pieces; save the pieces of real (unpadded) samples.

    Returns, per sample, the files written for it (one per output)."""
    per_sample = [[] for _ in range(n_real)]
    ext = outfmt.lower()
    for i, (array, name) in enumerate(zip(outputs, output_names)):
        array = np.asarray(array)
        if not 0 <= axis < array.ndim:
            raise UserError(f"--output_batchsize_axis {axis}: output {name!r} has {array.ndim} axes "
                            f"(shape {array.shape}); expected an axis from 0 to {array.ndim - 1}")
        if array.shape[axis] % factor:
            raise UserError(f"output {name!r} of shape {array.shape} cannot be split into {factor} per-file "
                            f"pieces along axis {axis} (--output_batchsize_axis)")
        pieces = np.split(array, factor, axis=axis) if factor > 1 else [array]
        for j in range(n_real):
            target = outdir / f"{stems[j]}_{i}.{ext}"
            fileio.write_array(target, pieces[j], atomic=False)
            per_sample[j].append(target)
    return per_sample


def _warn_non_finite(outputs, names, source):
    """Warn about NaN/Inf in a batch's outputs (the run goes on; the summary counts such batches and the
    steps that read the files refuse them). Returns whether there were any."""
    found = False
    for name, array in zip(names, outputs):
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            print(f"warning: output {name!r} holds NaN/Inf for the batch starting at {source}", file=sys.stderr)
            found = True
    return found


def statistics(times_ms):
    times = np.asarray(times_ms, dtype=np.float64)
    if times.size == 0:
        return {"min": 0.0, "max": 0.0, "mean": 0.0, "median": 0.0, "percentile(99%)": 0.0, "count": 0}
    return {"min": float(times.min()), "max": float(times.max()), "mean": float(times.mean()),
            "median": float(np.median(times)), "percentile(99%)": float(np.percentile(times, 99)),
            "count": int(times.size)}


def print_summary(stats, batchsize):
    throughput = 1000.0 * batchsize / stats["mean"] if stats["mean"] > 0 else 0.0
    print("[INFO] -----------------Performance Summary------------------")
    print(f"[INFO] NPU_compute_time (ms): min = {stats['min']:.4f}, max = {stats['max']:.4f}, "
          f"mean = {stats['mean']:.4f}, median = {stats['median']:.4f}, "
          f"percentile(99%) = {stats['percentile(99%)']:.4f}")
    print(f"[INFO] throughput 1000*batchsize.mean({batchsize})/NPU_compute_time.mean({stats['mean']:.4f}): "
          f"{throughput:.4f}")
    print("[INFO] ------------------------------------------------------")
    return throughput


# ------------------------------------------------------------------------------------------------ main

def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0], prog="infer.py")
    p.add_argument("--model", "-m", "--om", required=True, type=cli.reads,
                   help=".onnx (ONNX Runtime) or .om (ais_bench) model")
    p.add_argument("--input", "-i", type=cli.reads_list, default=None,
                   help="comma-separated folders, one per model input in order (or files); omitted = pure "
                        "inference on --pure_data_type data")
    p.add_argument("--output", "-o", type=cli.writes_into, default=None,
                   help="folder for outputs; nothing is saved without it")
    p.add_argument("--output_dirname", type=cli.file_name, default=None,
                   help="subfolder of --output for this run (default: a YYYY_MM_DD-hh_mm_ss timestamp)")
    p.add_argument("--outfmt", default="BIN", choices=["BIN", "NPY", "TXT"], type=str.upper,
                   help="output file format")
    p.add_argument("--batchsize", type=cli.positive_int, default=None,
                   help="batch for a dynamic-batch model, and the batch used in the throughput figure "
                        "(default: the model's fixed batch, or the samples in one input-0 file)")
    p.add_argument("--loop", "-l", type=cli.positive_int, default=1, help="times each batch is run (timed every time)")
    p.add_argument("--warmup_count", type=WARMUP_RUNS, default=1, help="untimed runs of the first batch (at most 1000)")
    p.add_argument("--device", "-d", default="0",
                   help="device id for an accelerator provider or .om; a comma list such as 0,1 runs one worker "
                        "process per device (on a CPU each gets its share of the cores)")
    p.add_argument("--divide_input", action="store_true",
                   help="with several devices, deal the input batches out in disjoint shards, one per device "
                        "(without it every device runs all inputs, and outputs cannot be saved)")
    p.add_argument("--provider", default="cpu", help=f"ONNX Runtime provider: {', '.join(onnx_utils.PROVIDERS)} "
                                                     f"or a full provider name")
    p.add_argument("--backend", default=None, choices=BACKENDS,
                   help="runtime for .onnx models (default: the one the model's facts name as the faster on this "
                        "CPU's feature set, else onnxruntime)")
    p.add_argument("--precision", default="f32", choices=PRECISIONS,
                   help="inference precision (bf16/f16 with --backend openvino, where the CPU offers them)")
    p.add_argument("--pure_data_type", default="zero", choices=["zero", "random"],
                   help="data for pure inference (no --input); random is seeded with --seed")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of --pure_data_type random")
    p.add_argument("--output_batchsize_axis", type=cli.non_negative_int, default=0, help="axis along which outputs are split")
    p.add_argument("--display_all_summary", action="store_true",
                   help="accepted for ais_bench compatibility; ONNX Runtime has no separate H2D/D2H copy to time")
    p.add_argument("--debug", action="store_true", help="print the model's inputs and outputs")
    cluster.add_options(p)
    return p


def parse_devices(text):
    """'0' -> [0]; '0,1' -> [0, 1]; a clear error for anything else (ais_bench takes ids 0-255)."""
    try:
        devices = [int(d) for d in str(text).split(",") if d.strip() != ""]
    except ValueError:
        devices = []
    if not devices or any(not 0 <= d <= 255 for d in devices) or len(set(devices)) != len(devices):
        raise UserError(f"--device {text!r}: expected distinct device ids 0-255 such as 0 or 0,1")
    return devices


def run_batches(backend, source, batches, args, outdir, out_parent, dirname, progress=True):
    """Run `batches` of `source` (FileInputs or PureInputs) on `backend`, saving outputs into `outdir` when given.

    Returns (compute times in ms, filesinfo {sample number: {infiles, outfiles, outshapes}} numbered from 0,
    number of batches whose outputs held NaN/Inf)."""
    times, filesinfo, non_finite = [], {}, 0
    names = backend.output_names
    # The bar counts every run, warm-up and --loop included, so that a long --loop shows its pace and its end.
    runs = args.warmup_count + len(batches) * args.loop
    # A batch's files are written on one thread while the next batch computes (numpy's writes release the GIL):
    # one batch in flight, in order, its error raised here.
    with tqdm(total=runs, desc="Inference", unit="run", disable=not progress or runs <= 2) as bar, \
            ThreadPoolExecutor(max_workers=1) as writer:
        pending = None
        for g, batch in enumerate(batches):
            feeds = source.feeds(batch)
            for _ in range(args.warmup_count if g == 0 else 0):
                backend.run(feeds)
                bar.update()
            for _ in range(args.loop):
                outputs, ms = backend.run(feeds)
                times.append(ms)
                bar.update()
            non_finite += pending.result() if pending else 0
            pending = writer.submit(store_batch, source, batch, outputs, args, outdir, out_parent, dirname, names,
                                    filesinfo)
        non_finite += pending.result() if pending else 0
    return times, filesinfo, non_finite


def store_batch(source, batch, outputs, args, outdir, out_parent, dirname, names, filesinfo):
    """What the runner does with one batch's outputs, wherever they were computed (here, in a device worker, or on a
    cluster): warn about NaN/Inf, save the real samples' files into `outdir` (when given) and add their entries to
    `filesinfo`. Returns whether the outputs held NaN/Inf."""
    non_finite = _warn_non_finite(outputs, names, source.where(batch))
    if outdir is None:
        return non_finite
    saved = save_outputs(outdir, outputs, source.stems(batch), source.factor, batch.n_real, args.outfmt,
                         args.output_batchsize_axis, names)
    # Each file's shape (the batch split along axis 0), so that the steps reading the outputs can insist on
    # exactly these samples; with another batch axis the files are not sample-major and no shape is kept.
    outshapes = ([[np.shape(a)[0] // source.factor, *np.shape(a)[1:]] for a in outputs]
                 if args.output_batchsize_axis == 0 else None)
    for j, outfiles in enumerate(saved):
        info = {"infiles": source.infiles(batch, j),
                "outfiles": [str(out_parent / dirname / p.name) for p in outfiles]}
        if outshapes is not None:
            info["outshapes"] = outshapes
        filesinfo[len(filesinfo)] = info
    return non_finite


def _summary(args, argv, stats, throughput, times, filesinfo, backend, batchsize, **extra):
    return {"filesinfo": filesinfo, "args": sys.argv if argv is None else ["infer.py", *argv],
            "NPU_compute_time": stats, "throughput": throughput, "npu_compute_time_list": times,
            "pid": os.getpid(), "backend": backend.label, "precision": backend.precision,
            "batchsize": batchsize, **extra}


def _device_worker(args, device, threads, source, batches, outdir, out_parent, dirname):
    """One device's share (`batches` of `source`) of a multi-device run, in its own process."""
    backend = open_backend(args.model, args.provider, device, args.backend, args.precision, threads)
    backend.prepare(source.shapes)
    start = time.time()
    times, filesinfo, non_finite = run_batches(backend, source, batches, args, outdir, out_parent, dirname,
                                               progress=False)
    return {"device": device, "times": times, "filesinfo": filesinfo, "non_finite": non_finite, "start_time": start,
            "end_time": time.time(), "pid": os.getpid(), "backend": backend.label, "precision": backend.precision}


def _shards(groups, count):
    """Contiguous, disjoint runs of batches, as even as possible (the first shards one batch longer)."""
    base, extra = divmod(len(groups), count)
    shards, start = [], 0
    for k in range(count):
        size = base + (k < extra)
        shards.append(groups[start:start + size])
        start += size
    return shards


def _run_devices(args, argv, devices, threads, backend, source, outdir, out_parent, dirname, batchsize):
    """ais_bench's multidevice mode: one worker process per device, then per-device and total throughput.

    Returns (all compute times, merged filesinfo, NaN/Inf batch count, total throughput, per-device summary
    info, {device summary file name: its content})."""
    import concurrent.futures
    import multiprocessing

    groups = source.batches
    shards = _shards(groups, len(devices)) if args.divide_input else [groups] * len(devices)
    print(f"[INFO] multidevice:{devices} run begin ({len(groups)} batch(es)"
          f"{', divided' if args.divide_input else ' on every device'}; {threads or 'default'} thread(s) each)")
    # spawn: a worker must not inherit the parent's runtime thread pools (fork after ONNX Runtime is unsafe).
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(len(devices), mp_context=context) as pool:
        futures = [pool.submit(_device_worker, args, device, threads, source, shard, outdir, out_parent, dirname)
                   for device, shard in zip(devices, shards)]
        results = [future.result() for future in futures]
    throughputs, all_times, merged, device_summaries = [], [], {}, {}
    for result in results:
        stats = statistics(result["times"])
        throughputs.append(print_summary(stats, batchsize))
        all_times += result["times"]
        for info in result["filesinfo"].values():
            merged[len(merged)] = info
        device_summaries[f"{dirname}_device_{result['device']}_summary.json"] = {
            **_summary(args, argv, stats, throughputs[-1], result["times"], result["filesinfo"], backend,
                       batchsize), "pid": result["pid"], "device": result["device"],
            "start_time": result["start_time"], "end_time": result["end_time"]}
    # As ais_bench's multidevice_run: each worker puts two messages on a queue and `result = 0 if 2 *
    # len(device_list) == msgq.qsize() else 1` (also its exit status), so a complete run prints result:0. The
    # sample output in ais_bench's README shows "qsize:4 result:1" for two devices, which that code cannot
    # print. Here a failed worker raises (one error line, non-zero exit) before this line, so it is always 0.
    print(f"[INFO] multidevice run end qsize:{2 * len(results)} result:0")
    for k, (result, throughput) in enumerate(zip(results, throughputs)):
        print(f"i:{k} device_{result['device']} throughput:{throughput} start_time:{result['start_time']} "
              f"end_time:{result['end_time']}")
    total = float(sum(throughputs))
    print(f"[INFO] summary throughput:{total}")
    devices_info = [{"device": r["device"], "throughput": t, "start_time": r["start_time"],
                     "end_time": r["end_time"]} for r, t in zip(results, throughputs)]
    non_finite = sum(result["non_finite"] for result in results)
    return all_times, merged, non_finite, total, devices_info, device_summaries


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.output_dirname and not args.output:
        raise UserError("--output_dirname needs --output")
    dirname = args.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    out_parent = Path(args.output) if args.output else None
    devices = parse_devices(args.device)
    reads = cli.declared_paths(parser, args)["reads"]
    if out_parent is not None:  # the run's folder and summaries inside --output, apart from the inputs
        per_device = devices if len(devices) > 1 else []  # a multi-device run's summaries too
        summary_names = [f"{dirname}_summary.json"] + [f"{dirname}_device_{d}_summary.json" for d in per_device]
        staging.check_apart(reads=reads, writes=[("--output_dirname", out_parent / name)
                                                 for name in (dirname, *summary_names)])
    inputs = staging.Inputs(reads) if out_parent else None  # what it reads now must still be so at the commit
    args.backend = args.backend or default_backend(args.model, args.provider, args.precision)
    if args.cluster:
        cluster.check_runner_args(args, devices, args.model)
    if len(devices) > 1 and args.output and not args.divide_input:
        raise UserError(f"--device {args.device} without --divide_input runs every input on every device, so "
                        f"their outputs would overwrite each other; add --divide_input, or drop --output")
    threads = max(1, (os.cpu_count() or 1) // len(devices)) if len(devices) > 1 and args.provider == "cpu" else 0
    backend = open_backend(args.model, args.provider, devices[0], args.backend, args.precision, threads)

    source = input_source(args, backend.inputs)
    if len(devices) == 1 and not args.cluster:  # the workers prepare their own
        backend.prepare(source.shapes)
    if args.debug:
        for spec, shape in zip(backend.inputs, source.shapes):
            print(f"[DEBUG] input {spec.name}: model {list(spec.shape)} {spec.dtype}, run as {shape}")
        print(f"[DEBUG] outputs: {', '.join(backend.output_names)}; backend {backend.label}")
    if len(devices) > 1 and args.divide_input and len(source.batches) < len(devices):
        raise UserError(f"--divide_input over {len(devices)} devices needs at least {len(devices)} batches; "
                        f"the input makes {len(source.batches)}")
    batchsize = args.batchsize or source.model_batch
    # every timed run keeps its time (a Python float in a list: about 32 bytes)
    staging.check_memory(32 * len(source.batches) * args.loop, f"--loop {args.loop} over {len(source.batches)} batch(es)")
    print(f"[INFO] backend {backend.label}, precision {backend.precision or args.precision}")

    # The output folder and its summaries are written under temporary names and appear together when the run
    # completes (a summary beside a folder always describes that folder).
    with staging.OutputSet("infer.py", inputs) if out_parent else contextlib.nullcontext() as outputs:
        outdir = outputs.folder(out_parent / dirname, replaceable=(".bin", ".npy", ".txt")) if outputs else None
        summaries = {}
        if args.cluster:
            times, filesinfo, non_finite, workers, client_ms = cluster.run_batches(args, backend, source, outdir,
                                                                                   out_parent, dirname)
            stats = statistics(times)
            print_summary(stats, batchsize)
            throughput = cluster.print_workers(workers)
            # every worker ran at this precision (the OpenVINO backend refuses any other)
            extra = {"cluster": args.cluster, "workers": workers, "client_cpu_ms_per_batch": client_ms,
                     "precision": args.precision}
        elif len(devices) == 1:
            times, filesinfo, non_finite = run_batches(backend, source, source.batches, args, outdir, out_parent,
                                                       dirname)
            stats = statistics(times)
            throughput = print_summary(stats, batchsize)
            extra = {}
        else:
            times, filesinfo, non_finite, throughput, devices_info, summaries = _run_devices(
                args, argv, devices, threads, backend, source, outdir, out_parent, dirname, batchsize)
            stats = statistics(times)
            # each worker checked that it compiled at this precision
            extra = {"devices": devices_info, "precision": args.precision}
        if non_finite:
            print(f"warning: {non_finite} of {len(source.batches)} batch(es) gave NaN/Inf outputs; the steps that "
                  f"read them will refuse those files", file=sys.stderr)
        if outputs:
            summaries[f"{dirname}_summary.json"] = {
                **_summary(args, argv, stats, throughput, times, filesinfo, backend, batchsize), **extra,
                "non_finite_batches": non_finite}
            for name, content in summaries.items():
                fileio.write_json(outputs.file(out_parent / name), content, atomic=False)
    if out_parent is not None:
        written = sum(len(info["outfiles"]) for info in filesinfo.values())
        print(f"[INFO] {written} output file(s) in {out_parent / dirname}; "
              f"summary in {out_parent / (dirname + '_summary.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
