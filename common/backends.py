"""The runtimes the runner drives, one small class each: ONNX Runtime, OpenVINO's CPU plugin, ais_bench (.om on an
Ascend NPU). `open_backend` picks one for a model file; `default_backend` reads the model folder's backend table.

OpenVINO and ais_bench are optional: imported when a backend of theirs is opened (common.optional)."""
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from common import facts, fileio, onnx_utils, optional
from common.errors import UserError
from common.facts import TensorSpec

PRECISIONS = ("f32", "bf16", "f16")
BACKENDS = ("onnxruntime", "openvino")


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
        ov = optional.openvino()
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
        InferSession = optional.ais_bench_session(path)
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
