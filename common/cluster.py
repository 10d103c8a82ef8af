"""The long jobs on a Dask cluster: `--cluster ADDRESS` of common/infer.py and of the Inception step (metrics.py).

    dask scheduler --host 10.0.0.1                       # on one machine
    dask worker tcp://10.0.0.1:8786 --nthreads 16        # on each machine
    python3 ../common/infer.py --model biggan_sim_bs1.onnx --input ./prep_noise,./prep_label \\
        --output ./result --output_dirname bs1 --outfmt BIN --batchsize 1 --cluster tcp://10.0.0.1:8786

ADDRESS is a Dask scheduler (tcp://host:port, tls://host:port with Dask's TLS settings) or local:N, a
LocalCluster of N worker processes on this machine (loopback only, no dashboard, its files in a private temporary
folder, all closed and removed at the end).

The client (this process) does all file I/O; the cluster only computes. The client reads the input files, sends
each batch as a task, receives its outputs and writes them, in input order, through the caller's own code (the
runner's output set, the Inception step's arrays), so the result is that of a one-process run, byte for byte:
ONNX Runtime's and OpenVINO's CPU kernels gave the same bytes on one thread as on two (DCGAN, BigGAN, Inception:
tests/test_cluster.py, benchmarks/run_all.py --only cluster). Workers need the project's Python dependencies,
nothing else:
- the connection: before Dask talks to the peer, a probe connects and reads the handshake a Dask scheduler sends
  first, refusing a peer that announces more than a handshake's length (garbage, HTTP) or stays silent; the probe,
  Dask's connection and the wait for a first worker run in a thread of their own that the run abandons at the
  deadline (--cluster_timeout), and so does shipping the code: no peer can hold a run longer than that;
- the code: this client's `common/` package is zipped and stored on every worker, present and future (a worker
  plugin registered for this run only), under its sha256 in the worker's folder: written whole under a temporary
  name and linked into place, never over an existing file, so two clients at once never rewrite what the other
  imports; the zip goes first on sys.path, and a worker drops any `common` it imported from elsewhere (a
  long-lived worker would otherwise run stale code). Zips are kept between runs (CODE_KEPT, least recently used
  removed first). The scheduler stays a stock Dask scheduler: the tasks it reads hold only a stdlib callable
  (operator.methodcaller), numpy arrays and a small future;
- the model: its files as one process reads them (the .onnx and the external data its tensors name) are sent to
  each worker process that does not hold it yet, keyed by their sha256; the worker builds its backend (the
  runner's own OnnxRuntimeBackend or OpenVinoBackend, intra-op threads = its thread count) from a private
  temporary folder, removed once loaded, and keeps it between runs (BACKENDS_KEPT, least recently used dropped
  first), so a second run on the same cluster sends no model; a worker that lacks it mid-run (one that joined,
  or evicted it) gets it then;
- versions: numpy and onnxruntime (openvino with --backend openvino, torch for the Inception step, which
  preprocesses on the workers) must equal the client's on every worker, checked up front and by every task (so
  a worker that joins later is checked too): different versions may round differently.
Only a window of batches is in flight (WINDOW_PER_WORKER per worker: each runs one batch at a time on all its
threads, with the next one waiting beside it), so the client's memory does not grow with the input, nor the
scheduler's, which holds the batches of the tasks it has not finished. A worker that dies has its batches re-run
elsewhere (the scheduler reschedules the tasks of a lost worker, up to its `distributed.scheduler.allowed-failures`,
3 by default); a task that raises is not retried (the same batch would fail again). A run that cannot finish
(the scheduler gone, no worker left, a batch that killed too many workers) is one error line, exit status 2, and,
because the caller's output set is discarded, no file. Dask's own log messages are silenced on the client, so an
error stays one line.
"""
import argparse
import contextlib
import hashlib
import io
import logging
import operator
import os
import re
import secrets
import sys
import threading
import time
import zipfile
from collections import OrderedDict
from pathlib import Path, PurePosixPath

from common.errors import UserError

DEFAULT_TIMEOUT = 10  # seconds to reach the scheduler and a first worker, and again for the workers to take the code
MAX_TIMEOUT = 3600  # --cluster_timeout's upper bound: a wait longer than an hour is a mistake, not a network
LOCAL_START = 60  # seconds for a worker process of local:N to start (Dask's death_timeout)
HANDSHAKE_BYTES = 1 << 16  # a Dask handshake is a few hundred bytes; a peer announcing more is not a Dask scheduler
TLS_SETTINGS = ("distributed.comm.tls.ca-file", "distributed.comm.tls.client.cert")  # what tls:// needs at least
WINDOW_PER_WORKER = 2  # batches in flight per worker: one computing (on all its threads), one waiting beside it
BACKENDS_KEPT = 4  # models whose backend a worker process keeps between runs (least recently used dropped first)
CODE_KEPT = 4  # zips of the project's code a worker keeps in its folder (least recently used removed first)
# CPU features whose presence changes the kernels ONNX Runtime's MLAS picks (and so, possibly, the last bits).
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
                "amx_tile", "amx_bf16", "amx_int8")


# ------------------------------------------------------------------------------------------ options

def timeout_seconds(text):
    """--cluster_timeout: seconds in (0, MAX_TIMEOUT], in ASCII digits (float() would take '١٠', 'inf', '1e9')."""
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds such as 10 or 2.5")
    if not 0 < float(text) <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"{text} is outside (0, {MAX_TIMEOUT}] seconds")
    return float(text)


def add_options(parser, sep="_"):
    """--cluster and --cluster<sep>timeout (infer.py spells its options with '_', the Inception steps with '-')."""
    parser.add_argument("--cluster", default=None, metavar="ADDRESS",
                        help="compute on a Dask cluster: a scheduler (tcp://host:port, or tls://host:port with "
                             "Dask's TLS settings) or local:N (N worker processes on this machine, N at most its "
                             "cores); this process still reads and writes every file, and the results are those of "
                             "a one-process run; default: no cluster, this process computes")
    parser.add_argument(f"--cluster{sep}timeout", type=timeout_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"seconds allowed to reach the --cluster scheduler and find a first worker there, and "
                             f"as many again for the workers to take this client's code; at most {MAX_TIMEOUT}")


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"  # a host name's label (RFC 1123), ASCII only
_ADDRESS = re.compile(rf"(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|{_LABEL}(?:\.{_LABEL})*\.?):([0-9]{{1,5}})")


def parse_address(text):
    """'local:N' -> ('local', N); 'tcp://host:port' or 'tls://host:port' -> (scheme, (host, port)); else a
    UserError. Only ASCII digits and host names (Dask would hand a 300-character or non-ASCII name to idna)."""
    if text.startswith("local:"):
        cores = os.cpu_count() or 1
        count = text[len("local:"):]
        if not re.fullmatch(r"[0-9]{1,4}", count) or not 1 <= int(count) <= cores:
            raise UserError(f"--cluster {text!r}: local:N needs a number of worker processes from 1 to this machine's "
                            f"{cores} cores, such as local:{min(2, cores)}")
        return "local", int(count)
    match = _ADDRESS.fullmatch(text)
    host = match.group(2) if match else ""
    if host.startswith("["):  # an IPv6 literal
        import ipaddress

        try:
            host = str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            host = ""
    if not host or len(host) > 253 or not 1 <= int(match.group(3)) <= 65535:
        raise UserError(f"--cluster {text[:100]!r}: expected a Dask scheduler address tcp://host:port (or "
                        f"tls://host:port; an ASCII host name of at most 253 characters or an IP address, a port "
                        f"from 1 to 65535), or local:N")
    return match.group(1), (host, int(match.group(3)))


def check_runner_args(args, devices, model):
    """What --cluster of the runner cannot be combined with."""
    parse_address(args.cluster)
    if len(devices) > 1:
        raise UserError(f"--cluster and --device {args.device} both spread the batches over several workers; "
                        f"give one of them")
    if Path(model).suffix.lower() != ".onnx":
        raise UserError(f"{model}: --cluster runs .onnx models (ONNX Runtime or OpenVINO on the workers); a .om model "
                        f"runs on an Ascend NPU through ais_bench")
    if args.provider != "cpu":
        raise UserError(f"--cluster runs the workers' CPUs; --provider {args.provider} is for this machine only")


# ------------------------------------------------------------------------------------------ the code and versions

def _code_zip():
    """This client's `common/` package as zip bytes (sorted names, fixed dates: the same files give the same bytes)
    and its sha256."""
    package = Path(__file__).resolve().parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.glob("*.py")):
            info = zipfile.ZipInfo(f"common/{path.name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def code_zip_name(digest):
    """The name a worker stores this client's code under: its sha256, so no other code is ever written there."""
    return f"gan-zoo-common-{digest}.zip"


def _cpu():
    """This machine's CPU name and the KERNEL_FLAGS it has (Linux; empty elsewhere)."""
    name, flags = "", []
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not name:
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                present = set(line.split(":", 1)[1].split())
                flags = [flag for flag in KERNEL_FLAGS if flag in present]
                break
    return name, flags


def versions(packages):
    """{package: __version__} of this process, None for one that is not installed."""
    import importlib

    found = {}
    for name in packages:
        try:
            found[name] = importlib.import_module(name).__version__
        except ImportError:
            found[name] = None
    return found


def _store_code(directory, zip_name, data, kept):
    """On a worker (pickled by value, as everything the code plugin calls: it runs before this module can be
    imported there): this client's `common/` zip stored under its sha256 name in the worker's folder, unless it is
    there already, written whole under a temporary name and hard-linked into place (never over an existing file, so
    never under a run that imports from it); the least recently used other zips beyond `kept` removed. Its path."""
    import contextlib
    import glob
    import hashlib
    import os
    import sys
    import tempfile

    path = os.path.join(directory, zip_name)
    if not os.path.exists(path):
        handle, temporary = tempfile.mkstemp(prefix=".gan-zoo-code-", suffix=".part", dir=directory)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):  # another run linked the same bytes first
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    with open(path, "rb") as handle:
        if f"gan-zoo-common-{hashlib.sha256(handle.read()).hexdigest()}.zip" != zip_name:
            raise RuntimeError(f"{path}: does not hold the code it is named after; remove it")
    os.utime(path)  # the most recently used
    others = sorted((p for p in glob.glob(os.path.join(directory, "gan-zoo-common-*.zip")) if p != path),
                    key=os.path.getmtime, reverse=True)
    for old in others[kept - 1:]:
        with contextlib.suppress(OSError):
            os.unlink(old)
        while old in sys.path:
            sys.path.remove(old)
    return path


def _activate_code(path):
    """On a worker: the zip at `path` first on sys.path, every `common` module imported from anywhere else dropped
    (a long-lived worker's earlier run, or a copy of the project)."""
    import importlib
    import os
    import sys

    for name, module in list(sys.modules.items()):
        if (name == "common" or name.startswith("common.")) and \
                not str(getattr(module, "__file__", "") or "").startswith(path + os.sep):
            del sys.modules[name]
    if sys.path[:1] != [path]:
        while path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
        importlib.invalidate_caches()


def _code_plugin(zip_name, data):
    """A Dask worker plugin that stores and activates this client's code on every worker of the cluster, those that
    join later too, while it is registered (for one run)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class CodePlugin(WorkerPlugin):
        def setup(self, worker):
            _activate_code(_store_code(worker.local_directory, zip_name, data, CODE_KEPT))

    return CodePlugin()


def _describe_worker(zip_name, packages, dask_worker=None):
    """On a worker (through client.run, pickled by value): its description, once this client's code is the one it
    imports."""
    import importlib
    import os

    worker = dask_worker  # client.run passes the worker by this keyword
    module = importlib.import_module("common.cluster")
    zip_path = os.path.join(worker.local_directory, zip_name)
    if not str(module.__file__).startswith(zip_path + os.sep):
        raise RuntimeError(f"worker {worker.address} imports common/ from {module.__file__}, not {zip_path}")
    name, flags = module._cpu()
    return {"versions": module.versions(packages), "threads": worker.state.nthreads, "pid": os.getpid(),
            "cpu": name, "flags": flags}


def _version_text(found):
    return ", ".join(f"{name} {version or '(not installed)'}" for name, version in found.items())


def check_versions(expected, workers):
    """Refuse (UserError) workers whose package versions differ from `expected` ({package: version});
    `workers` is {address: {"versions": {...}, ...}}."""
    wrong = {address: info["versions"] for address, info in workers.items() if info["versions"] != expected}
    if wrong:
        address, found = sorted(wrong.items())[0]
        more = f" (and {len(wrong) - 1} more worker(s))" if len(wrong) > 1 else ""
        raise UserError(f"--cluster: worker {address} has {_version_text(found)}, this client {_version_text(expected)}"
                        f"{more}; different versions may round differently and the files would not match a "
                        f"one-machine run: install the same versions on every worker")


# ------------------------------------------------------------------------------------------ the model's files

def _external_locations(model):
    """The external data files the tensors of an onnx ModelProto name (their `location`s), sorted."""
    import onnx

    def tensors(graph):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield from (sparse.values, sparse.indices)
        for node in graph.node:
            for attribute in node.attribute:
                yield from [attribute.t] if attribute.HasField("t") else []
                yield from attribute.tensors
                for subgraph in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                    yield from tensors(subgraph)

    return sorted({entry.value for tensor in tensors(model.graph) if tensor.data_location == onnx.TensorProto.EXTERNAL
                   for entry in tensor.external_data if entry.key == "location"})


def model_files(path):
    """The files one process reads for the model at `path`: {name: bytes}, the .onnx under its own name and each
    external data file under the location its tensors give (relative to the model's folder, inside it), and the
    sha256 of them all (what a worker keeps the model under)."""
    import onnx

    from common import fileio

    path = Path(path)
    data = path.read_bytes()
    files = {path.name: data}
    # A tensor's external data is named by a "location" entry, whose key is in the file's bytes: without it, no
    # parse (a third of a second for 281 MB).
    try:
        locations = _external_locations(onnx.load_model_from_string(data)) if b"location" in data else []
    except Exception as err:  # protobuf's DecodeError and its kin
        raise UserError(f"{path}: not a readable ONNX model ({_reason(err)})") from None
    for location in locations:
        name = PurePosixPath(location)
        if name.is_absolute() or ".." in name.parts or str(name) in (".", path.name):
            raise UserError(f"{path}: its external data {location!r} is not a file inside the model's folder; "
                            f"--cluster sends the model's own files")
        files[str(name)] = fileio.require_file(path.parent / name, "external data file").read_bytes()
    digest = hashlib.sha256()
    for name, content in files.items():
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return files, digest.hexdigest()


# ------------------------------------------------------------------------------------------ the worker side

_BACKENDS = OrderedDict()  # on a worker: (sha256, runtime, precision, threads) -> _Loaded, least recently used first
_BACKENDS_LOCK = threading.Lock()


class _Loaded:
    """A worker's backend for one model, with a lock (one batch at a time uses all its threads) and the runs whose
    warm-up it has done."""

    def __init__(self, backend):
        self.backend, self.lock, self.warmed = backend, threading.Lock(), set()


class _Model:
    """A model's files as a worker receives them, once per worker process (Session.place): {name: bytes as a numpy
    array, so that they travel as out-of-band buffers} and their sha256."""

    def __init__(self, files, sha256):
        import numpy as np

        self.name = next(iter(files))  # the .onnx
        self.files = {name: np.frombuffer(data, dtype=np.uint8) for name, data in files.items()}
        self.sha256 = sha256

    @property
    def nbytes(self):
        return sum(data.nbytes for data in self.files.values())

    def install(self, worker, runtime, precision):
        """The backend of this model in this worker process, kept under (sha256, runtime, precision, threads): built
        from the files written into a private temporary folder in the worker's own folder (as one process finds
        them beside each other), which is removed once the backend has loaded them."""
        import shutil
        import tempfile

        from common import infer

        key = (self.sha256, runtime, precision, worker.state.nthreads)
        with _BACKENDS_LOCK:
            if key in _BACKENDS:
                _BACKENDS.move_to_end(key)
                return
            folder = tempfile.mkdtemp(prefix="gan-zoo-model-", dir=worker.local_directory)
            try:
                for name, data in self.files.items():
                    os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
                    with open(os.path.join(folder, name), "wb") as out:
                        out.write(memoryview(data))
                path = os.path.join(folder, self.name)
                if runtime == "openvino":
                    backend = infer.OpenVinoBackend(path, precision, worker.state.nthreads)
                else:
                    backend = infer.OnnxRuntimeBackend(path, "cpu", 0, worker.state.nthreads)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            _BACKENDS[key] = _Loaded(backend)
            while len(_BACKENDS) > BACKENDS_KEPT:
                _BACKENDS.popitem(last=False)


def _holds(spec, dask_worker=None):
    """On a worker (client.run): whether its process keeps the backend of `spec` (sha256, runtime, precision)."""
    with _BACKENDS_LOCK:
        return (*spec, dask_worker.state.nthreads) in _BACKENDS


async def _install(model, runtime, precision, dask_worker=None):
    """On a worker (client.run): model.install in a thread, so that the worker keeps answering its scheduler while
    a large model loads."""
    import asyncio

    await asyncio.get_running_loop().run_in_executor(None, model.install, dask_worker, runtime, precision)


class _Runner:
    """What every batch's task calls, small (a future of a few hundred bytes): the model's key, the Inception
    preprocessing when asked, and the client's versions; the model itself is in the worker's process already."""

    def __init__(self, spec, preprocess, expected):
        self.spec, self.preprocess, self.expected = spec, preprocess, expected

    def compute(self, feeds, run, warmup, loop):
        """One batch (arrays in input order): `warmup` untimed runs on this worker's first batch of `run`, then
        `loop` timed runs; the outputs of the last one, every compute time (ms), and where and when it ran; or
        {"missing": address} when this worker process lacks the model (the client sends it, then the batch again)."""
        from distributed import get_worker

        worker = get_worker()
        found = versions(self.expected)
        if found != self.expected:
            raise UserError(f"--cluster: worker {worker.address} has {_version_text(found)}, this client "
                            f"{_version_text(self.expected)}; install the same versions on every worker")
        key = (*self.spec, worker.state.nthreads)
        with _BACKENDS_LOCK:
            loaded = _BACKENDS.get(key)
            if loaded is not None:
                _BACKENDS.move_to_end(key)
        if loaded is None:
            return {"missing": worker.address}
        if self.preprocess == "inception":
            from common import metrics

            feeds = [metrics.inception_input(feeds[0]).contiguous().numpy()]
        with loaded.lock:
            loaded.backend.prepare([f.shape for f in feeds])
            if run not in loaded.warmed:
                if len(loaded.warmed) > 64:  # the backend outlives many runs
                    loaded.warmed.clear()
                loaded.warmed.add(run)
                for _ in range(warmup):
                    loaded.backend.run(feeds)
            start, times = time.time(), []
            for _ in range(loop):
                outputs, ms = loaded.backend.run(feeds)
                times.append(ms)
            end = time.time()
        return {"outputs": outputs, "times": times, "worker": worker.address, "pid": os.getpid(),
                "threads": worker.state.nthreads, "start": start, "end": end}


# ------------------------------------------------------------------------------------------ the client side

def _reason(err):
    """The first line of what Dask said, for the one-line error."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:300]}" if text else type(err).__name__


class _Placed:
    """A model placed on the cluster for one run (Session.place): the runner's future and the files to send a worker
    that lacks them."""

    def __init__(self, runner, model, spec):
        self.runner, self.model, self.spec = runner, model, spec


class Session:
    """A client connected to a cluster whose workers run this client's code at its versions (see `connect`)."""

    def __init__(self, client, address, expected):
        self.client, self.address, self.expected = client, address, expected
        self.run_id = secrets.token_hex(6)
        self.plugin = None
        self.submitted = 0
        self.workers = {}  # address -> per-worker figures of this run
        self.client_cpu_s = 0.0  # this process's CPU time (all its threads) in run(): reading, sending, writing

    def ship_code(self):
        """This client's code on every worker (present and future: a plugin registered for this run), the workers
        described and their versions checked."""
        import cloudpickle

        data, digest = _code_zip()
        zip_name = code_zip_name(digest)
        module = sys.modules[__name__]
        cloudpickle.register_pickle_by_value(module)  # the plugin and _describe_worker travel as code, not as names
        try:
            self.plugin = f"gan-zoo-code-{digest[:16]}-{self.run_id}"  # this run's alone: no other run removes it
            self.client.register_plugin(_code_plugin(zip_name, data), name=self.plugin)
            described = self.client.run(_describe_worker, zip_name, list(self.expected))
        except (OSError, TimeoutError, RuntimeError, ImportError) as err:
            raise UserError(f"--cluster {self.address}: could not prepare the workers ({_reason(err)})") from None
        finally:
            cloudpickle.unregister_pickle_by_value(module)
        check_versions(self.expected, described)
        here = _cpu()
        for address, info in sorted(described.items()):
            if info["flags"] != here[1]:
                print(f"warning: worker {address} runs on another CPU ({info['cpu'] or 'unknown'}: "
                      f"{' '.join(info['flags']) or 'none'} of the kernel-selecting features, here "
                      f"{' '.join(here[1]) or 'none'}); ONNX Runtime may pick other kernels there, and its outputs "
                      f"may differ from this machine's in the last bits", file=sys.stderr)
        return described

    def end(self):
        """Unregister this run's code plugin (the code stays on the workers, for the next run)."""
        if self.plugin and self.client.status == "running":  # else the call would wait for a scheduler that is gone
            with contextlib.suppress(Exception):
                self.client.unregister_worker_plugin(self.plugin)

    def place(self, path, runtime="onnxruntime", precision="f32", preprocess=None):
        """The model at `path` on every worker (sent only to the worker processes that do not keep it already, by
        its files' sha256) and the runner the batches' tasks call."""
        files, digest = model_files(path)
        model, spec = _Model(files, digest), (digest, runtime, precision)
        held = self.client.run(_holds, spec)
        missing = sorted(address for address, kept in held.items() if not kept)
        self._send(model, spec, missing)
        size = f"{model.nbytes / 1e6:.0f} MB" if model.nbytes >= 1e6 else f"{model.nbytes:,} bytes"
        print(f"[INFO] cluster: model {digest[:12]} ({size}) " + (
            f"sent to {len(missing)} of {len(held)} worker(s)" if missing
            else f"kept by all {len(held)} worker(s) from an earlier run, not sent"))
        runner = self.client.scatter(_Runner(spec, preprocess, self.expected), broadcast=True, hash=False)
        return _Placed(runner, model, spec)

    def _send(self, model, spec, addresses):
        if not addresses:
            return
        try:
            self.client.run(_install, model, *spec[1:], workers=addresses)
        except Exception as err:  # the worker's own exception, re-raised here
            raise UserError(f"--cluster {self.address}: worker {addresses[0]} could not load the model "
                            f"({_reason(err)})") from None

    def _window(self):
        return WINDOW_PER_WORKER * max(1, len(self.client.nthreads()))

    def _submit(self, placed, task):
        key = f"gan-zoo-batch-{self.run_id}-{self.submitted}"
        self.submitted += 1
        return self.client.submit(task, placed.runner, key=key, retries=0)

    def _outcome(self, placed, task, future):
        """The result of a batch's future; a worker that lacked the model gets it, and the batch runs again."""
        result = self._result(future)
        for _ in range(3):
            if "missing" not in result:
                return result
            self._send(placed.model, placed.spec, [result["missing"]])
            result = self._result(self._submit(placed, task))
        raise UserError(f"--cluster {self.address}: worker {result['missing']} kept losing the model as soon as it "
                        f"got it (more models at once than its BACKENDS_KEPT = {BACKENDS_KEPT}?)")

    def run(self, placed, items, consume, warmup=0, loop=1, total=None, desc="Inference", unit="batch",
            progress=True):
        """Compute `items` ((tag, feeds, weight) in input order; the progress bar counts weights) with the model
        `placed` on the workers and call consume(tag, result) in input order, with at most a window of batches in
        flight. Per-worker figures are collected in self.workers."""
        import collections

        from tqdm import tqdm

        pending = collections.deque()
        items = iter(items)
        exhausted = False
        bar = tqdm(total=total, desc=desc, unit=unit, disable=not progress or (total is not None and total < 2))
        cpu = time.process_time()
        try:
            window, window_checked = self._window(), time.monotonic()
            while True:
                while not exhausted and len(pending) < window:
                    item = next(items, None)
                    if item is None:
                        exhausted = True
                        break
                    tag, feeds, weight = item
                    task = operator.methodcaller("compute", feeds, self.run_id, warmup, loop)
                    pending.append((tag, weight, task, self._submit(placed, task)))
                if not pending:
                    break
                tag, weight, task, future = pending.popleft()
                result = self._outcome(placed, task, future)
                future.release()
                self._account(result, weight)
                consume(tag, result)
                bar.update(weight)
                if time.monotonic() - window_checked > 2.0:  # workers come and go
                    window, window_checked = self._window(), time.monotonic()
        except (OSError, TimeoutError) as err:  # the scheduler went away between two results
            bar.leave = False
            raise UserError(f"--cluster {self.address}: the run could not finish, the scheduler is gone; nothing "
                            f"was written ({_reason(err)})") from None
        except BaseException:
            bar.leave = False  # the error line alone, not a progress bar above it
            raise
        finally:
            bar.close()
            self.client_cpu_s += time.process_time() - cpu

    def _result(self, future):
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        from common.errors import ReportedError

        try:
            return future.result()
        except ReportedError:
            raise  # a worker's own one-line error (a version or input mistake)
        except KilledWorker as err:
            raise UserError(f"--cluster {self.address}: a batch was lost with every worker that ran it (Dask's "
                            f"allowed-failures); the run could not finish and nothing was written ({_reason(err)})") \
                from None
        except (FutureCancelledError, OSError, TimeoutError) as err:  # CommClosedError is an OSError
            if isinstance(err, FutureCancelledError) and err.reason != "scheduler-connection-lost":
                what = "no worker left (the last copy of the model went with the last worker)"
            else:
                what = "the scheduler is gone"
            raise UserError(f"--cluster {self.address}: the run could not finish, {what}; nothing was written "
                            f"({_reason(err)})") from None

    def _account(self, result, weight):
        figures = self.workers.setdefault(result["worker"], {
            "pid": result["pid"], "threads": result["threads"], "batches": 0, "samples": 0, "times": [],
            "start_time": result["start"], "end_time": result["end"]})
        figures["batches"] += 1
        figures["samples"] += weight
        figures["times"] += result["times"]
        figures["start_time"] = min(figures["start_time"], result["start"])
        figures["end_time"] = max(figures["end_time"], result["end"])

    def summary(self, batchsize=None):
        """Per worker, in order of address: batches, compute time (ms, in all) and throughput: ais_bench's
        1000 * batchsize / mean compute time, or, without `batchsize`, samples (the items' weights) per second."""
        rows = []
        for address in sorted(self.workers):
            figures = self.workers[address]
            total = float(sum(figures["times"]))
            if total <= 0:
                throughput = 0.0
            elif batchsize:
                throughput = 1000.0 * batchsize * len(figures["times"]) / total
            else:
                throughput = 1000.0 * figures["samples"] / total
            rows.append({"address": address, "pid": figures["pid"], "threads": figures["threads"],
                         "batches": figures["batches"], "compute_ms": total, "throughput": throughput,
                         "start_time": figures["start_time"], "end_time": figures["end_time"]})
        return rows



# ------------------------------------------------------------------------------------------ connecting

def _within(deadline, work, late, message):
    """work() in a thread of its own, until `deadline` (time.monotonic()): its result or its exception, or a
    UserError(message) when it has not finished by then. The thread is then abandoned (a daemon: it cannot keep
    the process alive), and what it returns late goes to late() (a client to close)."""
    box, lock, finished = {}, threading.Lock(), threading.Event()

    def target():
        try:
            value = work()
        except BaseException as err:  # handed to the caller's thread
            box["error"] = err
        else:
            with lock:
                if box.get("abandoned"):
                    with contextlib.suppress(Exception):
                        late(value)
                    return
                box["value"] = value
        finished.set()

    threading.Thread(target=target, name="gan-zoo-cluster-connect", daemon=True).start()
    if not finished.wait(max(deadline - time.monotonic(), 0)):
        with lock:
            if "value" not in box and "error" not in box:
                box["abandoned"] = True
                raise UserError(message)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _receive(sock, count, deadline):
    """Exactly `count` bytes from `sock` by `deadline` (time.monotonic()), or socket.timeout / ConnectionError."""
    import socket

    data = bytearray()
    while len(data) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        sock.settimeout(left)
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the peer closed the connection")
        data += chunk
    return bytes(data)


def _probe(kind, host, port, address, deadline, timeout):
    """Before Dask talks to the peer: connect (retrying a refused connection until the deadline, as Dask does for a
    scheduler that is starting; TLS with Dask's own settings for tls://) and read the handshake a Dask scheduler
    sends first. A peer that stays silent, closes, or announces more than HANDSHAKE_BYTES (garbage, HTTP) is one
    line; Dask itself would wait for a silent peer without end and allocate whatever length a peer announces."""
    import socket
    import struct

    delay = 0.05
    while True:
        try:
            raw = socket.create_connection((host, port), timeout=max(deadline - time.monotonic(), 0.001))
            break
        except OSError as err:
            if isinstance(err, socket.gaierror) or deadline - time.monotonic() < delay:
                raise UserError(f"--cluster {address}: no Dask scheduler answered within {timeout:g} s "
                                f"({_reason(err)})") from None
            time.sleep(delay)
            delay = min(2 * delay, 1.0)
    try:
        with raw:
            sock = raw
            if kind == "tls":
                from distributed.security import Security

                context = Security().get_connection_args("client")["ssl_context"]
                raw.settimeout(max(deadline - time.monotonic(), 0.001))
                sock = context.wrap_socket(raw)  # Dask's context checks the certificate, not the host name
            (size,) = struct.unpack("Q", _receive(sock, struct.calcsize("Q"), deadline))
            if size > HANDSHAKE_BYTES:
                raise UserError(f"--cluster {address}: the peer is not a Dask scheduler (it announced a message of "
                                f"{size:,} bytes; a Dask handshake is a few hundred)")
            _receive(sock, size, deadline)
    except OSError as err:  # socket.timeout, ssl.SSLError and ConnectionError are OSErrors
        raise UserError(f"--cluster {address}: no Dask scheduler answered within {timeout:g} s "
                        f"({_reason(err)})") from None


def _close_client(client, timeout=1):
    # A client whose scheduler is gone would spend `timeout` seconds trying to reconnect first.
    with contextlib.suppress(Exception):
        client.close(timeout=timeout if client.status == "running" else 1)


def _open(kind, target, address, deadline, timeout):
    """The client on `target` (an address, probed first, or a LocalCluster) and a first worker, by `deadline`."""
    import distributed

    if kind != "local":
        _probe(kind, *target, address, deadline, timeout)
        target = address
    try:
        client = distributed.Client(target, timeout=max(deadline - time.monotonic(), 0.001), set_as_default=False)
    except Exception as err:  # OSError, TimeoutError, and what a peer that is not Dask makes it raise
        raise UserError(f"--cluster {address}: no Dask scheduler answered within {timeout:g} s "
                        f"({_reason(err)})") from None
    try:
        client.wait_for_workers(1, timeout=max(deadline - time.monotonic(), 0.001))
    except Exception:
        _close_client(client)
        raise UserError(f"--cluster {address}: the scheduler has no worker (waited {timeout:g} s); start some "
                        f"with `dask worker {address}`") from None
    return client


@contextlib.contextmanager
def _local_cluster(count, timeout):
    """local:N: a LocalCluster on 127.0.0.1 whose scheduler, nannies and workers keep their files in a private
    temporary folder (mkdtemp: mode 700, a name no one can predict), removed with the cluster; not Dask's shared,
    predictable /tmp/dask-scratch-space."""
    import shutil
    import tempfile

    import dask
    import distributed

    scratch = tempfile.mkdtemp(prefix="gan-zoo-dask-")
    try:
        with dask.config.set({"temporary-directory": scratch}):
            cluster = distributed.LocalCluster(
                n_workers=count, threads_per_worker=max(1, (os.cpu_count() or 1) // count), processes=True,
                host="127.0.0.1", dashboard_address=None, silence_logs=logging.CRITICAL + 1,
                local_directory=scratch, death_timeout=LOCAL_START,
                # no dashboard; the health and metrics pages Dask serves anyway, on loopback, any free port
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
        try:
            yield cluster
        finally:
            with contextlib.suppress(Exception):
                cluster.close(timeout=timeout)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def _quiet_dask():
    """Dask's loggers say nothing in this process from now on (an error is our one line; a client that lost its
    scheduler keeps logging from its own thread after we are done with it), nor warns about the batches that
    travel inside the tasks (that is what lets the scheduler hand a lost worker's batch to another)."""
    import dask
    import distributed  # noqa: F401  (its import sets its loggers' levels from dask's config: after that)

    for name in ["distributed", *logging.root.manager.loggerDict]:  # dask's config gives some their own level
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "64GB"}):
        yield


@contextlib.contextmanager
def connect(address, timeout, packages):
    """A Session on `address` (a scheduler, or local:N started here): the scheduler reached and a worker found
    within `timeout` seconds, then this client's code on every worker and every worker's `packages` at this
    client's versions within as many more (each a one-line error when over, whatever the peer does); closed at the
    end (and a local cluster stopped and its files removed), pass or fail."""
    kind, value = parse_address(address)
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    expected = versions(packages)
    with _quiet_dask(), contextlib.ExitStack() as stack:
        import dask

        if kind == "tls":
            missing = [key for key in TLS_SETTINGS if not dask.config.get(key, None)]
            if missing:
                variable = "DASK_" + missing[0].upper().replace(".", "__").replace("-", "_")
                raise UserError(f"--cluster {address}: Dask's TLS settings lack {', '.join(missing)} (set them in "
                                f"Dask's configuration, e.g. {variable}=<file>; see README.md, 'Several machines')")
        target = stack.enter_context(_local_cluster(value, timeout)) if kind == "local" else value
        deadline = time.monotonic() + timeout  # one for the probe, Dask's connection, a first worker and the watchdog
        client = _within(deadline, lambda: _open(kind, target, address, deadline, timeout), _close_client,
                         f"--cluster {address}: no Dask scheduler answered within {timeout:g} s (the connection did "
                         f"not complete)")
        stack.callback(_close_client, client, timeout)
        session = Session(client, address, expected)
        stack.callback(session.end)
        described = _within(time.monotonic() + timeout, session.ship_code, lambda _: None,
                            f"--cluster {address}: the workers did not take this client's code within {timeout:g} s")
        threads = sum(info["threads"] for info in described.values())
        print(f"[INFO] cluster {address}: {len(described)} worker(s), {threads} thread(s); "
              f"{_version_text(expected)} on every one")
        yield session


def print_workers(rows):
    """ais_bench's multi-device lines, a worker's address in place of device_<id>; returns the summed throughput."""
    for k, row in enumerate(rows):
        print(f"i:{k} {row['address']} throughput:{row['throughput']} start_time:{row['start_time']} "
              f"end_time:{row['end_time']}")
    total = float(sum(row["throughput"] for row in rows))
    print(f"[INFO] summary throughput:{total}")
    return total


# ------------------------------------------------------------------------------------------ the two jobs

def run_batches(args, backend, source, outdir, out_parent, dirname):
    """The runner's batch loop on the cluster `args.cluster`: the same (times, filesinfo, non_finite) as
    infer.run_batches, files written here with infer's own code in input order, then the per-worker rows and this
    client's CPU time per batch in ms (what bounds the workers one client can feed)."""
    from common import infer

    packages = ["numpy", "onnxruntime"] + (["openvino"] if args.backend == "openvino" else [])
    names = backend.output_names
    batchsize = args.batchsize or source.model_batch
    times, filesinfo, non_finite = [], {}, 0
    with connect(args.cluster, args.cluster_timeout, packages) as session:
        def consume(batch, result):
            nonlocal non_finite
            times.extend(result["times"])
            non_finite += infer.store_batch(source, batch, result["outputs"], args, outdir, out_parent, dirname,
                                            names, filesinfo)

        placed = session.place(args.model, args.backend, args.precision)
        items = ((batch, source.feeds(batch), 1) for batch in source.batches)
        session.run(placed, items, consume, args.warmup_count, args.loop, total=len(source.batches))
        client_ms = 1000.0 * session.client_cpu_s / max(1, len(source.batches))
        return times, filesinfo, non_finite, session.summary(batchsize), client_ms


def inception_features(net, batches, address, timeout=None, total=None, progress=True):
    """metrics.inception_features on a cluster: the image batches read here, preprocessed and run on the workers
    through the same verified ONNX file as `net` (an InceptionFeatures), the features gathered in order."""
    import numpy as np

    if net.onnx_path is None:
        raise UserError(f"--cluster runs the exported Inception network (backend onnxruntime or openvino), not "
                        f"backend {net.backend}")
    packages = ["numpy", "onnxruntime" if net.backend == "onnxruntime" else "openvino", "torch"]
    pools, logits = [], []
    with connect(address, timeout, packages) as session:
        def consume(_, result):
            pool, logit = result["outputs"]
            pools.append(pool)
            logits.append(logit)

        placed = session.place(net.onnx_path, net.backend, "f32", preprocess="inception")
        items = ((None, [np.asarray(batch, dtype=np.float32)], len(batch)) for batch in batches)
        session.run(placed, items, consume, total=total, desc="Inception", unit="img", progress=progress)
        print_workers(session.summary())  # images per second of each worker
    if not pools:
        raise ValueError("no images to run through Inception")
    return np.concatenate(pools), np.concatenate(logits)


# ------------------------------------------------------------------------------------------ a loopback cluster

class LoopbackProcesses:
    """A Dask cluster on this machine the way the README starts one, for the tests and the benchmark:
    `dask scheduler --host 127.0.0.1 --port 0` and `dask worker --host 127.0.0.1 --nthreads <threads>` as
    subprocesses of this Python (`python -m distributed.cli.dask_*`), their dashboards and HTTP pages on loopback
    too, their files in `folder`. Workers run without a nanny, so that each process is the worker itself and
    killing it by its pid kills the worker. stop() (or leaving the `with` block) kills every process it started,
    and those given to track(), by pid."""

    START_DEADLINE = 60  # seconds for a scheduler or a worker to come up on a loaded machine
    LOOPBACK_HTTP = ("--no-dashboard", "--dashboard-address", "127.0.0.1:0")  # else Dask's HTTP binds 0.0.0.0

    def __init__(self, folder, threads=1):
        self.folder, self.threads = Path(folder), threads
        self.folder.mkdir(parents=True, exist_ok=True)
        self.scheduler_file = self.folder / "scheduler.json"
        self.env = {**os.environ, "DASK_TEMPORARY_DIRECTORY": str(self.folder)}
        self.scheduler, self.workers, self.others, self.address = None, [], [], None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _start(self, module, *argv, log):
        import subprocess

        with open(self.folder / log, "wb") as out:
            return subprocess.Popen([sys.executable, "-m", module, *argv], stdout=out, stderr=subprocess.STDOUT,
                                    cwd=self.folder, env=self.env)

    def start_scheduler(self):
        """Start the scheduler; its address (read from its scheduler file)."""
        import json

        self.scheduler = self._start("distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                     "--scheduler-file", str(self.scheduler_file), *self.LOOPBACK_HTTP,
                                     "--idle-timeout", "900", log="scheduler.log")
        deadline = time.monotonic() + self.START_DEADLINE
        while not self.scheduler_file.is_file() or not self.scheduler_file.read_text().strip().endswith("}"):
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the scheduler did not start: {(self.folder / 'scheduler.log').read_text()}")
            time.sleep(0.1)
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        return self.address

    def add_workers(self, count):
        """Start `count` workers and wait until the scheduler has all live ones; the new processes."""
        started = []
        for _ in range(count):
            k = len(self.workers)
            self.workers.append(self._start(
                "distributed.cli.dask_worker", "--scheduler-file", str(self.scheduler_file), "--host", "127.0.0.1",
                "--nthreads", str(self.threads), *self.LOOPBACK_HTTP, "--no-nanny",
                "--local-directory", str(self.folder / f"worker{k}"), "--death-timeout", "60", log=f"worker{k}.log"))
            started.append(self.workers[-1])
        self.wait_for_workers(sum(p.poll() is None for p in self.workers))
        return started

    def wait_for_workers(self, count):
        import distributed

        with distributed.Client(self.address, timeout=self.START_DEADLINE, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=self.START_DEADLINE)

    def track(self, process):
        """Stop `process` (a subprocess.Popen run against this cluster) with the cluster."""
        self.others.append(process)
        return process

    def stop(self):
        processes = [p for p in (*self.others, *self.workers, self.scheduler) if p is not None]
        for process in processes:
            if process.poll() is None:
                process.kill()
        for process in processes:
            process.wait(timeout=15)
