"""The runner's engine: run an input source's batches on a backend, in this process, in one worker process per
device (ais_bench's multi-device mode) or on a Dask cluster, and write each batch's outputs as ais_bench names
them. Each way returns a RunResult; common/infer.py is the command line around it."""
import concurrent.futures
import multiprocessing
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from common import backends, fileio, optional
from common.errors import UserError


@dataclass(frozen=True)
class Engine:
    """What opens a model's backend, here or in a worker process: the model file and the runtime's settings."""
    model: str
    provider: str = "cpu"
    backend: str = "onnxruntime"
    precision: str = "f32"

    def open(self, device=0, threads=0):
        return backends.open_backend(self.model, self.provider, device, self.backend, self.precision, threads)


@dataclass(frozen=True)
class OutputTarget:
    """Where a run's output files go: `folder`, the folder being written now (a staged one; None saves nothing),
    `named`, the folder the summary lists them in (--output/<output_dirname>), and how outputs become files."""
    folder: Optional[Path] = None
    named: Optional[Path] = None
    outfmt: str = "BIN"
    axis: int = 0  # --output_batchsize_axis


@dataclass(frozen=True)
class Schedule:
    """How often each batch runs: `warmup` untimed runs of the first batch, then `loop` timed runs of every batch."""
    warmup: int = 1
    loop: int = 1


@dataclass
class RunResult:
    """What a run gives back, however it ran: every compute time (ms), the files written per sample (numbered from
    0), the batches with NaN/Inf outputs, the throughput, and, for several devices or workers, their rows."""
    times: list
    filesinfo: dict
    non_finite: int
    throughput: float = 0.0
    devices: list = field(default_factory=list)  # per device: its times, files and figures (run_devices)
    workers: list = field(default_factory=list)  # per cluster worker: its figures (run_cluster)
    client_ms: float = 0.0  # on a cluster: this process's CPU time per batch (reading, sending, writing)


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


def store_batch(source, batch, outputs, target, names, filesinfo):
    """What the runner does with one batch's outputs, wherever they were computed (here, in a device worker, or on a
    cluster): warn about NaN/Inf, save the real samples' files into `target.folder` (when given) and add their
    entries to `filesinfo`. Returns whether the outputs held NaN/Inf."""
    non_finite = _warn_non_finite(outputs, names, source.where(batch))
    if target.folder is None:
        return non_finite
    saved = save_outputs(target.folder, outputs, source.stems(batch), source.factor, batch.n_real, target.outfmt,
                         target.axis, names)
    # Each file's shape (the batch split along axis 0), so that the steps reading the outputs can insist on
    # exactly these samples; with another batch axis the files are not sample-major and no shape is kept.
    outshapes = ([[np.shape(a)[0] // source.factor, *np.shape(a)[1:]] for a in outputs]
                 if target.axis == 0 else None)
    for j, outfiles in enumerate(saved):
        info = {"infiles": source.infiles(batch, j), "outfiles": [str(target.named / p.name) for p in outfiles]}
        if outshapes is not None:
            info["outshapes"] = outshapes
        filesinfo[len(filesinfo)] = info
    return non_finite


def run_batches(backend, source, batches, target, schedule, progress=True):
    """Run `batches` of `source` (FileInputs or PureInputs) on `backend`, saving their outputs to `target`.

    Returns (compute times in ms, filesinfo {sample number: {infiles, outfiles, outshapes}} numbered from 0,
    number of batches whose outputs held NaN/Inf)."""
    times, filesinfo, non_finite = [], {}, 0
    names = backend.output_names
    # The bar counts every run, warm-up and --loop included, so that a long --loop shows its pace and its end.
    runs = schedule.warmup + len(batches) * schedule.loop
    # A batch's files are written on one thread while the next batch computes (numpy's writes release the GIL):
    # one batch in flight, in order, its error raised here.
    with tqdm(total=runs, desc="Inference", unit="run", disable=not progress or runs <= 2) as bar, \
            ThreadPoolExecutor(max_workers=1) as writer:
        pending = None
        for g, batch in enumerate(batches):
            feeds = source.feeds(batch)
            for _ in range(schedule.warmup if g == 0 else 0):
                backend.run(feeds)
                bar.update()
            for _ in range(schedule.loop):
                outputs, ms = backend.run(feeds)
                times.append(ms)
                bar.update()
            non_finite += pending.result() if pending else 0
            pending = writer.submit(store_batch, source, batch, outputs, target, names, filesinfo)
        non_finite += pending.result() if pending else 0
    return times, filesinfo, non_finite


def run_here(backend, source, target, schedule, batchsize):
    """Every batch in this process, on `backend` (prepared for the source's shapes)."""
    times, filesinfo, non_finite = run_batches(backend, source, source.batches, target, schedule)
    return RunResult(times, filesinfo, non_finite, print_summary(statistics(times), batchsize))


def _device_worker(engine, device, threads, source, batches, target, schedule):
    """One device's share (`batches` of `source`) of a multi-device run, in its own process."""
    backend = engine.open(device, threads)
    backend.prepare(source.shapes)
    start = time.time()
    times, filesinfo, non_finite = run_batches(backend, source, batches, target, schedule, progress=False)
    return {"device": device, "times": times, "filesinfo": filesinfo, "non_finite": non_finite, "start_time": start,
            "end_time": time.time(), "pid": os.getpid()}


def shards(groups, count):
    """Contiguous, disjoint runs of batches, as even as possible (the first shards one batch longer)."""
    base, extra = divmod(len(groups), count)
    parts, start = [], 0
    for k in range(count):
        size = base + (k < extra)
        parts.append(groups[start:start + size])
        start += size
    return parts


def device_threads(provider, count):
    """Each device worker's share of a CPU's cores (0, the runtime's default, for an accelerator)."""
    return max(1, (os.cpu_count() or 1) // count) if provider == "cpu" else 0


def run_devices(engine, devices, source, target, schedule, batchsize, divide):
    """ais_bench's multidevice mode: one worker process per device (each with its share of the CPU's cores), every
    batch on every device or, with `divide`, disjoint shards; per-device and total throughput printed as ais_bench
    prints them. RunResult.devices holds each device's times, files, figures and throughput."""
    threads = device_threads(engine.provider, len(devices))
    groups = source.batches
    parts = shards(groups, len(devices)) if divide else [groups] * len(devices)
    print(f"[INFO] multidevice:{devices} run begin ({len(groups)} batch(es)"
          f"{', divided' if divide else ' on every device'}; {threads or 'default'} thread(s) each)")
    # spawn: a worker must not inherit the parent's runtime thread pools (fork after ONNX Runtime is unsafe).
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(len(devices), mp_context=context) as pool:
        futures = [pool.submit(_device_worker, engine, device, threads, source, part, target, schedule)
                   for device, part in zip(devices, parts)]
        results = [future.result() for future in futures]
    merged, times = {}, []
    for result in results:
        result["stats"] = statistics(result["times"])
        result["throughput"] = print_summary(result["stats"], batchsize)
        times += result["times"]
        for info in result["filesinfo"].values():
            merged[len(merged)] = info
    # As ais_bench's multidevice_run: each worker puts two messages on a queue and `result = 0 if 2 *
    # len(device_list) == msgq.qsize() else 1` (also its exit status), so a complete run prints result:0. The
    # sample output in ais_bench's README shows "qsize:4 result:1" for two devices, which that code cannot
    # print. Here a failed worker raises (one error line, non-zero exit) before this line, so it is always 0.
    print(f"[INFO] multidevice run end qsize:{2 * len(results)} result:0")
    for k, result in enumerate(results):
        print(f"i:{k} device_{result['device']} throughput:{result['throughput']} "
              f"start_time:{result['start_time']} end_time:{result['end_time']}")
    total = float(sum(result["throughput"] for result in results))
    print(f"[INFO] summary throughput:{total}")
    return RunResult(times, merged, sum(r["non_finite"] for r in results), total, devices=results)


def run_cluster(engine, where, source, target, schedule, names, batchsize):
    """The batches computed on the Dask cluster `where` ((address, timeout): common/cluster.py), their outputs (named
    `names`) written here, in input order, by store_batch: the same files as a one-process run. RunResult.workers
    holds the per-worker rows."""
    optional.require_dask()
    from common import cluster  # Dask only for a run that asks for a cluster (common/optional.py)

    address, timeout = where
    packages = ["numpy", "onnxruntime"] + (["openvino"] if engine.backend == "openvino" else [])
    times, filesinfo, non_finite = [], {}, 0
    with cluster.connect(address, timeout, packages) as session:
        def consume(batch, result):
            nonlocal non_finite
            times.extend(result["times"])
            non_finite += store_batch(source, batch, result["outputs"], target, names, filesinfo)

        placed = session.place(engine.model, engine.backend, engine.precision)
        items = ((batch, source.feeds(batch), 1) for batch in source.batches)
        session.run(placed, items, consume, schedule.warmup, schedule.loop, total=len(source.batches))
        client_ms = 1000.0 * session.client_cpu_s / max(1, len(source.batches))
        workers = session.summary(batchsize)
    print_summary(statistics(times), batchsize)
    throughput = cluster.print_workers(workers)
    return RunResult(times, filesinfo, non_finite, throughput, workers=workers, client_ms=client_ms)
