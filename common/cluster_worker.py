"""The model side of common/cluster.py, what runs in a Dask worker process once it has the code
(common/cluster_code.py):

- the model: its files (model_files) sent to a worker process once and its backend (common.backends) built from
  them and kept between runs (BACKENDS_KEPT, least recently used dropped first), keyed by their sha256;
- the task: Runner.compute, one batch on the kept backend, after the preprocessing callable the caller gives, if
  any (a module-level function of common/, pickled by reference)."""
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path, PurePosixPath

import numpy as np
import onnx
from distributed import get_worker

from common import backends, fileio
from common.cluster_code import version_text, versions
from common.cluster_link import reason
from common.errors import UserError

BACKENDS_KEPT = 4  # models whose backend a worker process keeps between runs (least recently used dropped first)


# -------------------------------------------------------------------------------------------------- the model's files

def _external_locations(model):
    """The external data files the tensors of an onnx ModelProto name (their `location`s), sorted."""

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


    path = Path(path)
    data = path.read_bytes()
    files = {path.name: data}
    # A tensor's external data is named by a "location" entry, whose key is in the file's bytes: without it, no
    # parse (a third of a second for 281 MB).
    try:
        locations = _external_locations(onnx.load_model_from_string(data)) if b"location" in data else []
    except Exception as err:  # protobuf's DecodeError and its kin
        raise UserError(f"{path}: not a readable ONNX model ({reason(err)})") from None
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


# ----------------------------------------------------------------------------- the model's backend, kept between runs

_BACKENDS = OrderedDict()  # on a worker: (sha256, runtime, precision, threads) -> _Loaded, least recently used first
_BACKENDS_LOCK = threading.Lock()


class _Loaded:
    """A worker's backend for one model, with a lock (one batch at a time uses all its threads) and the runs whose
    warm-up it has done."""

    def __init__(self, backend):
        self.backend, self.lock, self.warmed = backend, threading.Lock(), set()


class Model:
    """A model's files as a worker receives them, once per worker process (Session.place): {name: bytes as a numpy
    array, so that they travel as out-of-band buffers} and their sha256."""

    def __init__(self, files, sha256):
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
                    backend = backends.OpenVinoBackend(path, precision, worker.state.nthreads)
                else:
                    backend = backends.OnnxRuntimeBackend(path, "cpu", 0, worker.state.nthreads)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            _BACKENDS[key] = _Loaded(backend)
            while len(_BACKENDS) > BACKENDS_KEPT:
                _BACKENDS.popitem(last=False)


def holds(spec, dask_worker=None):
    """On a worker (client.run): whether its process keeps the backend of `spec` (sha256, runtime, precision)."""
    with _BACKENDS_LOCK:
        return (*spec, dask_worker.state.nthreads) in _BACKENDS


async def install(model, runtime, precision, dask_worker=None):
    """On a worker (client.run): model.install in a thread, so that the worker keeps answering its scheduler while
    a large model loads."""
    import asyncio

    await asyncio.get_running_loop().run_in_executor(None, model.install, dask_worker, runtime, precision)


class Runner:
    """What every batch's task calls, small (a future of a few hundred bytes): the model's key, the caller's
    preprocessing (feeds -> feeds, or None) and the client's versions; the model is in the worker's process already."""

    def __init__(self, spec, preprocess, expected):
        self.spec, self.preprocess, self.expected = spec, preprocess, expected

    def compute(self, feeds, run, warmup, loop):
        """One batch (arrays in input order): `warmup` untimed runs on this worker's first batch of `run`, then
        `loop` timed runs; the outputs of the last one, every compute time (ms), and where and when it ran; or
        {"missing": address} when this worker process lacks the model (the client sends it, then the batch again)."""
        worker = get_worker()
        found = versions(self.expected)
        if found != self.expected:
            raise UserError(f"--cluster: worker {worker.address} has {version_text(found)}, this client "
                            f"{version_text(self.expected)}; install the same versions on every worker")
        key = (*self.spec, worker.state.nthreads)
        with _BACKENDS_LOCK:
            loaded = _BACKENDS.get(key)
            if loaded is not None:
                _BACKENDS.move_to_end(key)
        if loaded is None:
            return {"missing": worker.address}
        if self.preprocess is not None:
            feeds = self.preprocess(feeds)
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
