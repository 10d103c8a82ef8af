"""A generic executor on a Dask cluster: place a model on the workers, run items through it, get the results back in
input order (Session.place, Session.run). It knows nothing of its callers: the runner (common/runner.py,
`--cluster ADDRESS` of common/infer.py) and the Inception step (common/inception.py) each hand it their model, their
items, what to do with each result and, for Inception, a preprocessing function.

    dask scheduler --host 10.0.0.1                       # on one machine
    dask worker tcp://10.0.0.1:8786 --nthreads 16        # on each machine
    python3 ../common/infer.py --model biggan_sim_bs1.onnx --input ./prep_noise,./prep_label \\
        --output ./result --output_dirname bs1 --outfmt BIN --batchsize 1 --cluster tcp://10.0.0.1:8786

ADDRESS is a Dask scheduler (tcp://host:port, tls://host:port with Dask's TLS settings) or local:N, a
LocalCluster of N worker processes on this machine (loopback only, no dashboard, its files in a private temporary
folder, all closed and removed at the end).

The client (this process) does all file I/O; the cluster only computes. The client reads the input files, sends
each batch as a task, receives its outputs and hands them, in input order, to the caller's own code (the
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
import collections
import contextlib
import operator
import secrets
import sys
import time

import cloudpickle
import dask
from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker
from tqdm import tqdm

from common import cluster_code
from common.cluster_code import (check_versions, code_plugin, code_zip, code_zip_name, cpu_description,
                                 describe_worker, version_text, versions)
from common.cluster_link import TLS_SETTINGS, close_client, local_cluster, open_client, quiet_dask, reason, within
from common.cluster_options import DEFAULT_TIMEOUT, parse_address
from common.cluster_worker import BACKENDS_KEPT, Model, Runner, holds, install, model_files
from common.errors import ReportedError, UserError

WINDOW_PER_WORKER = 2  # batches in flight per worker: one computing (on all its threads), one waiting beside it


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

        data, digest = code_zip()
        zip_name = code_zip_name(digest)
        module = cluster_code
        cloudpickle.register_pickle_by_value(module)  # the plugin and describe_worker travel as code, not as names
        try:
            self.plugin = f"gan-zoo-code-{digest[:16]}-{self.run_id}"  # this run's alone: no other run removes it
            self.client.register_plugin(code_plugin(zip_name, data), name=self.plugin)
            described = self.client.run(describe_worker, zip_name, list(self.expected))
        except (OSError, TimeoutError, RuntimeError, ImportError) as err:
            raise UserError(f"--cluster {self.address}: could not prepare the workers ({reason(err)})") from None
        finally:
            cloudpickle.unregister_pickle_by_value(module)
        check_versions(self.expected, described)
        here = cpu_description()
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
        its files' sha256) and the runner the batches' tasks call; `preprocess` (feeds -> feeds, a module-level
        function of common/ so that it travels by name) runs on the worker before the model."""
        files, digest = model_files(path)
        model, spec = Model(files, digest), (digest, runtime, precision)
        held = self.client.run(holds, spec)
        missing = sorted(address for address, kept in held.items() if not kept)
        self._send(model, spec, missing)
        size = f"{model.nbytes / 1e6:.0f} MB" if model.nbytes >= 1e6 else f"{model.nbytes:,} bytes"
        print(f"[INFO] cluster: model {digest[:12]} ({size}) " + (
            f"sent to {len(missing)} of {len(held)} worker(s)" if missing
            else f"kept by all {len(held)} worker(s) from an earlier run, not sent"))
        runner = self.client.scatter(Runner(spec, preprocess, self.expected), broadcast=True, hash=False)
        return _Placed(runner, model, spec)

    def _send(self, model, spec, addresses):
        if not addresses:
            return
        try:
            self.client.run(install, model, *spec[1:], workers=addresses)
        except Exception as err:  # the worker's own exception, re-raised here
            raise UserError(f"--cluster {self.address}: worker {addresses[0]} could not load the model "
                            f"({reason(err)})") from None

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
                            f"was written ({reason(err)})") from None
        except BaseException:
            bar.leave = False  # the error line alone, not a progress bar above it
            raise
        finally:
            bar.close()
            self.client_cpu_s += time.process_time() - cpu

    def _result(self, future):
        try:
            return future.result()
        except ReportedError:
            raise  # a worker's own one-line error (a version or input mistake)
        except KilledWorker as err:
            raise UserError(f"--cluster {self.address}: a batch was lost with every worker that ran it (Dask's "
                            f"allowed-failures); the run could not finish and nothing was written ({reason(err)})") \
                from None
        except (FutureCancelledError, OSError, TimeoutError) as err:  # CommClosedError is an OSError
            if isinstance(err, FutureCancelledError) and err.reason != "scheduler-connection-lost":
                what = "no worker left (the last copy of the model went with the last worker)"
            else:
                what = "the scheduler is gone"
            raise UserError(f"--cluster {self.address}: the run could not finish, {what}; nothing was written "
                            f"({reason(err)})") from None

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
def connect(address, timeout, packages):
    """A Session on `address` (a scheduler, or local:N started here): the scheduler reached and a worker found
    within `timeout` seconds, then this client's code on every worker and every worker's `packages` at this
    client's versions within as many more (each a one-line error when over, whatever the peer does); closed at the
    end (and a local cluster stopped and its files removed), pass or fail."""
    kind, value = parse_address(address)
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    expected = versions(packages)
    with quiet_dask(), contextlib.ExitStack() as stack:
        if kind == "tls":
            missing = [key for key in TLS_SETTINGS if not dask.config.get(key, None)]
            if missing:
                variable = "DASK_" + missing[0].upper().replace(".", "__").replace("-", "_")
                raise UserError(f"--cluster {address}: Dask's TLS settings lack {', '.join(missing)} (set them in "
                                f"Dask's configuration, e.g. {variable}=<file>; see README.md, 'Several machines')")
        target = stack.enter_context(local_cluster(value, timeout)) if kind == "local" else value
        deadline = time.monotonic() + timeout  # one for the probe, Dask's connection, a first worker and the watchdog
        client = within(deadline, lambda: open_client(kind, target, address, deadline, timeout), close_client,
                         f"--cluster {address}: no Dask scheduler answered within {timeout:g} s (the connection did "
                         f"not complete)")
        stack.callback(close_client, client, timeout)
        session = Session(client, address, expected)
        stack.callback(session.end)
        described = within(time.monotonic() + timeout, session.ship_code, lambda _: None,
                            f"--cluster {address}: the workers did not take this client's code within {timeout:g} s")
        threads = sum(info["threads"] for info in described.values())
        print(f"[INFO] cluster {address}: {len(described)} worker(s), {threads} thread(s); "
              f"{version_text(expected)} on every one")
        yield session


def print_workers(rows):
    """ais_bench's multi-device lines, a worker's address in place of device_<id>; returns the summed throughput."""
    for k, row in enumerate(rows):
        print(f"i:{k} {row['address']} throughput:{row['throughput']} start_time:{row['start_time']} "
              f"end_time:{row['end_time']}")
    total = float(sum(row["throughput"] for row in rows))
    print(f"[INFO] summary throughput:{total}")
    return total
