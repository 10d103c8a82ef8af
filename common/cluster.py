"""The long jobs on a Dask cluster: `--cluster ADDRESS` of common/infer.py and of the Inception step (metrics.py).

    dask scheduler --host 10.0.0.1                       # on one machine
    dask worker tcp://10.0.0.1:8786 --nthreads 16        # on each machine
    python3 ../common/infer.py --model biggan_sim_bs1.onnx --input ./prep_noise,./prep_label \\
        --output ./result --output_dirname bs1 --outfmt BIN --batchsize 1 --cluster tcp://10.0.0.1:8786

ADDRESS is a Dask scheduler (tcp://host:port, tls://host:port with Dask's TLS settings) or local:N, a
LocalCluster of N worker processes on this machine (loopback only, no dashboard, closed at the end).

The client (this process) does all file I/O; the cluster only computes. The client reads the input files, sends
each batch as a task, receives its outputs and writes them, in input order, through the caller's own code (the
runner's output set, the Inception step's arrays), so the result is that of a one-process run, byte for byte:
ONNX Runtime's and OpenVINO's CPU kernels gave the same bytes on one thread as on two (DCGAN, BigGAN, Inception:
tests/test_cluster.py, benchmarks/run_all.py --only cluster). Workers need the project's Python dependencies,
nothing else:
- the code: this client's `common/` package is zipped (named by its sha256) and given to every worker, present
  and future, by Dask's UploadFile plugin; before the run, each worker drops any other copy of `common` it
  imported earlier (a long-lived worker would otherwise run stale code) and reports its versions. The
  scheduler stays a stock Dask scheduler: the tasks it reads hold only a stdlib callable
  (operator.methodcaller), numpy arrays and the model's future;
- the model: its bytes are scattered to every worker once (broadcast, keyed by sha256) in a small `_Model`
  object; each worker process keeps one backend per model (the runner's own OnnxRuntimeBackend or
  OpenVinoBackend, intra-op threads = the worker's thread count) and runs one batch at a time on it;
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
import contextlib
import hashlib
import io
import logging
import operator
import os
import secrets
import sys
import threading
import time
import zipfile
from collections import OrderedDict
from pathlib import Path

from common.cli import UserError

DEFAULT_TIMEOUT = 10  # seconds to reach the scheduler, and to wait for a first worker
TLS_SETTINGS = ("distributed.comm.tls.ca-file", "distributed.comm.tls.client.cert")  # what tls:// needs at least
WINDOW_PER_WORKER = 2  # batches in flight per worker: one computing (on all its threads), one waiting beside it
BACKENDS_KEPT = 4  # models whose backend a worker process keeps (least recently used dropped first)
# CPU features whose presence changes the kernels ONNX Runtime's MLAS picks (and so, possibly, the last bits).
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
                "amx_tile", "amx_bf16", "amx_int8")


# ------------------------------------------------------------------------------------------ options

def add_options(parser, sep="_"):
    """--cluster and --cluster<sep>timeout (infer.py spells its options with '_', the Inception steps with '-')."""
    from common import cli

    parser.add_argument("--cluster", default=None, metavar="ADDRESS",
                        help="compute on a Dask cluster: a scheduler (tcp://host:port, or tls://host:port with "
                             "Dask's TLS settings) or local:N (N worker processes on this machine); this process "
                             "still reads and writes every file, and the results are those of a one-process run; "
                             "default: no cluster, this process computes")
    parser.add_argument(f"--cluster{sep}timeout", type=cli.positive_int, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help="seconds allowed to reach the --cluster scheduler, and then for a first worker")


def parse_address(text):
    """'local:N' -> ('local', N); 'tcp://host:port' or 'tls://host:port' -> (scheme, text); else a UserError."""
    if text.startswith("local:"):
        count = text[len("local:"):]
        if not count.isdigit() or int(count) < 1:
            raise UserError(f"--cluster {text}: local:N needs a positive number of worker processes, such as local:2")
        return "local", int(count)
    scheme, _, rest = text.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme not in ("tcp", "tls") or not host or not port.isdigit():
        raise UserError(f"--cluster {text!r}: expected a Dask scheduler address tcp://host:port (or tls://host:port), "
                        f"or local:N")
    return scheme, text


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


def _prepare_worker(zip_name, packages, dask_worker=None):
    """Runs on every worker (through client.run, pickled by value, so a worker holding another version of this file
    runs this one): puts the zip of this client's `common/` that the UploadFile plugin wrote first on sys.path,
    drops every `common` module imported from anywhere else (a long-lived worker's earlier run, or a copy of the
    project), and describes the worker. Self-contained: it runs before this module can be imported there."""
    import importlib
    import os
    import sys

    worker = dask_worker  # client.run passes the worker by this keyword
    path = os.path.join(worker.local_directory, zip_name)
    if not os.path.isfile(path):
        raise RuntimeError(f"{path}: the project's code did not arrive on this worker")
    for name, module in list(sys.modules.items()):
        if (name == "common" or name.startswith("common.")) and \
                not str(getattr(module, "__file__", "") or "").startswith(path + os.sep):
            del sys.modules[name]
    if sys.path[:1] != [path]:
        sys.path.insert(0, path)
        importlib.invalidate_caches()
    cluster = importlib.import_module("common.cluster")
    name, flags = cluster._cpu()
    return {"versions": cluster.versions(packages), "threads": worker.state.nthreads, "pid": os.getpid(),
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


# ------------------------------------------------------------------------------------------ the worker side

_BACKENDS = OrderedDict()  # on a worker: (sha256, runtime, precision, threads) -> _Loaded, least recently used first
_BACKENDS_LOCK = threading.Lock()


class _Loaded:
    """A worker's backend for one model, with a lock (one batch at a time uses all its threads) and the runs whose
    warm-up it has done."""

    def __init__(self, backend):
        self.backend, self.lock, self.warmed = backend, threading.Lock(), set()


class _Model:
    """A model as a worker receives it, once (scattered to every worker, keyed by its sha256): the bytes of the
    .onnx file, the runtime to build, the Inception preprocessing when asked, and the client's versions."""

    def __init__(self, data, sha256, runtime, precision, preprocess, expected):
        self.data, self.sha256, self.runtime, self.precision = data, sha256, runtime, precision
        self.preprocess, self.expected = preprocess, expected

    def _backend(self, worker):
        """The backend of this model in this worker process: built once from the bytes (through a temporary file in
        the worker's own folder, removed once loaded), with the worker's thread count."""
        key = (self.sha256, self.runtime, self.precision, worker.state.nthreads)
        with _BACKENDS_LOCK:
            if key in _BACKENDS:
                _BACKENDS.move_to_end(key)
                return _BACKENDS[key]
            import tempfile

            from common import infer

            handle, path = tempfile.mkstemp(prefix=f"model-{self.sha256[:16]}-", suffix=".onnx",
                                            dir=worker.local_directory)
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(memoryview(self.data))
                if self.runtime == "openvino":
                    backend = infer.OpenVinoBackend(path, self.precision, worker.state.nthreads)
                else:
                    backend = infer.OnnxRuntimeBackend(path, "cpu", 0, worker.state.nthreads)
            finally:
                os.unlink(path)
            _BACKENDS[key] = loaded = _Loaded(backend)
            while len(_BACKENDS) > BACKENDS_KEPT:
                _BACKENDS.popitem(last=False)
            return loaded

    def compute(self, feeds, run, warmup, loop):
        """One batch (arrays in input order): `warmup` untimed runs on this worker's first batch of `run`, then
        `loop` timed runs; the outputs of the last one, every compute time (ms), and where and when it ran."""
        from distributed import get_worker

        worker = get_worker()
        found = versions(self.expected)
        if found != self.expected:
            raise UserError(f"--cluster: worker {worker.address} has {_version_text(found)}, this client "
                            f"{_version_text(self.expected)}; install the same versions on every worker")
        if self.preprocess == "inception":
            from common import metrics

            feeds = [metrics.inception_input(feeds[0]).contiguous().numpy()]
        loaded = self._backend(worker)
        with loaded.lock:
            loaded.backend.prepare([f.shape for f in feeds])
            if run not in loaded.warmed:
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
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


class Session:
    """A client connected to a cluster whose workers run this client's code at its versions (see `connect`)."""

    def __init__(self, client, address, expected):
        self.client, self.address, self.expected = client, address, expected
        self.run_id = secrets.token_hex(6)
        self.submitted = 0
        self.workers = {}  # address -> per-worker figures of this run
        self.client_cpu_s = 0.0  # this process's CPU time (all its threads) in run(): reading, sending, writing

    def _ship_code(self):
        from distributed.diagnostics.plugin import UploadFile

        data, digest = _code_zip()
        self.plugin = f"gan-zoo-common-{digest[:16]}"
        zip_name = f"{self.plugin}.zip"
        with _temporary_folder() as folder:
            (folder / zip_name).write_bytes(data)
            self.client.register_plugin(UploadFile(str(folder / zip_name)), name=self.plugin)
        import cloudpickle

        module = sys.modules[__name__]
        cloudpickle.register_pickle_by_value(module)  # so that _prepare_worker travels as code, not as a name
        try:
            described = self.client.run(_prepare_worker, zip_name, list(self.expected))
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

    def model(self, path, runtime="onnxruntime", precision="f32", preprocess=None):
        """The model's future: its bytes scattered once to every worker, under a key made of its sha256."""
        import numpy as np

        data = Path(path).read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        key = f"gan-zoo-model-{sha256[:32]}-{runtime}-{precision}-{preprocess or 'none'}"
        # as a numpy array the bytes travel as one out-of-band buffer, not copied into a pickle
        model = _Model(np.frombuffer(data, dtype=np.uint8), sha256, runtime, precision, preprocess, self.expected)
        return self.client.scatter({key: model}, broadcast=True, hash=False)[key]

    def _window(self):
        return WINDOW_PER_WORKER * max(1, len(self.client.nthreads()))

    def run(self, model, items, consume, warmup=0, loop=1, total=None, desc="Inference", unit="batch",
            progress=True):
        """Compute `items` ((tag, feeds, weight) in input order; the progress bar counts weights) on the workers and
        call consume(tag, result) in input order, with at most a window of batches in flight. Per-worker figures
        are collected in self.workers."""
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
                    key = f"gan-zoo-batch-{self.run_id}-{self.submitted}"
                    self.submitted += 1
                    pending.append((tag, weight, self.client.submit(task, model, key=key, retries=0)))
                if not pending:
                    break
                tag, weight, future = pending.popleft()
                result = self._result(future)
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

        from common.cli import ReportedError

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


@contextlib.contextmanager
def _temporary_folder():
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="gan-zoo-cluster-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
    """A Session on `address` (a scheduler, or local:N started here): connected within `timeout` seconds, a worker
    present within as many more, this client's code on every worker and every worker's `packages` at this
    client's versions; closed at the end (and a local cluster stopped), pass or fail."""
    kind, value = parse_address(address)
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    expected = versions(packages)
    with _quiet_dask():
        import dask
        import distributed

        if kind == "tls":
            missing = [key for key in TLS_SETTINGS if not dask.config.get(key, None)]
            if missing:
                variable = "DASK_" + missing[0].upper().replace(".", "__").replace("-", "_")
                raise UserError(f"--cluster {address}: Dask's TLS settings lack {', '.join(missing)} (set them in "
                                f"Dask's configuration, e.g. {variable}=<file>; see README.md, 'Several machines')")

        cluster = client = None
        try:
            try:
                if kind == "local":
                    cluster = distributed.LocalCluster(
                        n_workers=value, threads_per_worker=max(1, (os.cpu_count() or 1) // value), processes=True,
                        host="127.0.0.1", dashboard_address=None, silence_logs=logging.CRITICAL + 1,
                        # no dashboard; the health and metrics pages Dask serves anyway, on loopback, any free port
                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
                client = distributed.Client(cluster or address, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError) as err:
                raise UserError(f"--cluster {address}: no Dask scheduler answered within {timeout} s "
                                f"({_reason(err)})") from None
            try:
                client.wait_for_workers(1, timeout=timeout)
            except (OSError, TimeoutError):
                raise UserError(f"--cluster {address}: the scheduler has no worker (waited {timeout} s); start some "
                                f"with `dask worker {address}`") from None
            session = Session(client, address, expected)
            described = session._ship_code()
            threads = sum(info["threads"] for info in described.values())
            print(f"[INFO] cluster {address}: {len(described)} worker(s), {threads} thread(s); "
                  f"{_version_text(expected)} on every one")
            try:
                yield session
            finally:
                if client.status == "running":  # else the call would wait `timeout` for a scheduler that is gone
                    with contextlib.suppress(Exception):
                        client.unregister_worker_plugin(session.plugin)
        finally:
            if client is not None:
                # A client whose scheduler is gone would spend `timeout` seconds trying to reconnect first.
                with contextlib.suppress(Exception):
                    client.close(timeout=timeout if client.status == "running" else 1)
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close(timeout=timeout)


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

        model = session.model(args.model, args.backend, args.precision)
        items = ((batch, source.feeds(batch), 1) for batch in source.batches)
        session.run(model, items, consume, args.warmup_count, args.loop, total=len(source.batches))
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

        model = session.model(net.onnx_path, net.backend, "f32", preprocess="inception")
        items = ((None, [np.asarray(batch, dtype=np.float32)], len(batch)) for batch in batches)
        session.run(model, items, consume, total=total, desc="Inception", unit="img", progress=progress)
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
