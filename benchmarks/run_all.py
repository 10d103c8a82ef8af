"""Where the time of a seed-scale run goes, measured on the machine at hand in one run.

    python3 benchmarks/run_all.py              # every generator at its README size, medians of 5 runs
    python3 benchmarks/run_all.py --quick      # CI-sized: fewer runs, fewer files, small preprocessing job
    python3 benchmarks/run_all.py --full       # adds Pix2pixHD at 1024x2048 (the README size; slow)
    python3 benchmarks/run_all.py --only inception   # one step (generators by name, fid, inception, preprocess,
                                                     # cluster, job)
    python3 benchmarks/run_all.py --write-results --write-backend-table   # RESULTS.md and the backend tables

First the float32 GEMM ceiling: the best of the GEMMs at hand (ONNX Runtime's and OpenVINO's MatMul, torch's,
numpy's without the OpenBLAS core-type override, ONNX Runtime's on one thread times the cores), beside the ISA's
theoretical peak from /proc/cpuinfo's flags at the clock a core measurably runs at (cpu_clock.py). Per generator (seeded random weights of the official shapes: BigGAN G_ch 96
bs1, DCGAN bs64, GAN bs64, CycleGAN 256x256 bs1, Pix2pixHD at 256x512 bs1, and 1024x2048 with --full): PyTorch
eager, a bare ONNX Runtime session.run, our runner (common/infer.py) in pure-inference mode (its compute time),
the runner over input files (wall time per batch, reading and writing files included), OpenVINO f32 (alternating
with session.run; the faster exact engine is what --write-backend-table keeps in the model's facts), and the
achieved GFLOP/s of the bare run with its share of the ceiling. Then FID (common.metrics vs scipy's sqrtm formula
on 2048-d statistics), Inception v3 images/s by backend (torchvision eager NCHW and channels_last, ONNX Runtime,
OpenVINO f32, alternating), BigGAN preprocessing (biggan_preprocess.py vs the original per-file algorithm), the
cost of --cluster on the same cores (a BigGAN job in one process and on a 2-worker loopback Dask cluster,
alternating, with the bytes a batch moves and what that means for 8 machines), and BigGAN's README chain end to
end (benchmarks/biggan_job.py). Every figure is a median of several runs; ratios within this run are what carry
over to another machine. Writes run_all.json and run_all.md into --out (and, with --write-results, the sections
of benchmarks/RESULTS.md this run measured, each stamped with the machine and the command; the others are kept),
prints the table and the machine's description.
"""
import ast
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import driver  # noqa: E402

driver.put_model_folders_on_path()
ROOT = driver.ROOT

import numpy as np
from tqdm import tqdm

from common import backends, cli, errors, facts, fileio, inception, infer, metrics, onnx_utils, staging

sys.path.insert(0, str(ROOT / "tests"))
import loopback  # noqa: E402  (the tests' loopback Dask cluster)

sys.path.insert(0, str(ROOT / "benchmarks"))  # this folder, also when run_all is imported by the tests
import cpu_clock  # noqa: E402

ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile",
             "amx_bf16", "amx_int8")
BAR_OVERHEAD = 0.05  # runner compute time over bare session.run
# OpenVINO becomes a model's default engine only when it is this much faster than the runner on ONNX Runtime: a
# tie within the noise keeps ONNX Runtime, so two runs of --write-backend-table on one machine agree.
BACKEND_MARGIN = 0.05
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine():
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "flags": []}
    cpu = {"cores": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():  # the first processor's block
            key, _, value = (part.strip() for part in line.partition(":"))
            if not key and "all_flags" in cpu:
                break
            if key == "model name":
                info["cpu"] = value
            elif key == "vendor_id":
                cpu["vendor"] = value
            elif key == "cpu family":
                cpu["family"] = int(value)
            elif key == "cpu MHz":
                cpu["mhz"] = float(value)
            elif key == "flags":
                cpu["all_flags"] = value.split()
                info["flags"] = [f for f in ISA_FLAGS if f in cpu["all_flags"]]
    except (OSError, ValueError):
        pass
    info["feature_set"] = facts.cpu_feature_set()
    cpu["measured_ghz"] = cpu_clock.measured_ghz()
    info["isa_peak"] = isa_peak(cpu)
    import onnxruntime
    import openvino
    import torch

    info["onnxruntime"] = onnxruntime.__version__
    info["openvino"] = openvino.__version__
    info["openvino_capabilities"] = list(openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    info["torch"] = torch.__version__
    info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    info["numpy"] = np.__version__
    info["python"] = platform.python_version()
    info["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    info["load_average_at_start"] = list(os.getloadavg())
    return info


def median_ms(function, runs, warmup=1):
    for _ in range(warmup):
        function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


GEMM_ENGINES = ("onnxruntime", "openvino", "torch", "numpy", "onnxruntime_per_core")
# A multi-threaded GEMM on a loaded machine loses most at its thread barriers; one thread times the cores does not,
# and bounds what all cores can do (they share the memory and, with turbo, the clock), so it may set the ceiling.
GEMM_LABELS = {"onnxruntime_per_core": "ONNX Runtime on 1 thread x cores"}
# Environment variables that pin OpenBLAS to an older core's kernels (e.g. AVX2 on an AVX-512 CPU); numpy's
# GEMM is measured in a subprocess without them, so the ceiling is what the machine can do.
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE",)
_NUMPY_GEMM = """
import sys, time
import numpy as np
n, runs = int(sys.argv[1]), int(sys.argv[2])
a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
times = []
for _ in range(runs + 1):
    start = time.perf_counter()
    a @ b
    times.append(time.perf_counter() - start)
print(min(times[1:]))
"""


def _matmul_onnx(path, n):
    import onnx
    from onnx import TensorProto, helper

    spec = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in "abc"]
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul", spec[:2], spec[2:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def isa_peak(info):
    """The float32 peak the ISA allows: cores x FMA units x vector lanes x 2 (an FMA is two FLOPs) x clock, from
    /proc/cpuinfo's flags. FMA units per core are not reported by the CPU: 2 is assumed (every x86 core with AVX2
    since Haswell and Zen 2), 1 for 512-bit FMAs on AMD family 25 (Zen 4 splits them over its two 256-bit pipes).
    The clock is the higher of the measured one (benchmarks/cpu_clock.py: a hypervisor reports the nominal clock
    while the cores boost past it) and the reported one, so the peak bounds every measurement."""
    flags = set(info.get("all_flags", ()))
    lanes = 16 if "avx512f" in flags else 8 if "avx" in flags else 4
    units = 1 if lanes == 16 and info.get("vendor") == "AuthenticAMD" and info.get("family") == 25 else 2
    flops_per_fma = 2 if "fma" in flags or lanes == 16 else 1  # without FMA a multiply and an add, one each
    reported, measured = info.get("mhz", 0.0) / 1000.0, info.get("measured_ghz")
    ghz, source = (measured, "measured") if measured and measured > reported else (reported, "reported")
    return {"cores": info["cores"], "fma_units": units, "lanes": lanes, "ghz": ghz, "clock": source,
            "reported_ghz": reported, "gflops": info["cores"] * units * lanes * flops_per_fma * ghz}


def gemm_ceiling(tmp, runs, n=2048, budget=2.0, previous=None):
    """float32 n x n matmul GFLOP/s of every GEMM at hand: ONNX Runtime's and OpenVINO's MatMul (f32 pinned) and
    torch's on all cores, ONNX Runtime's on one thread times the cores, and numpy's in a subprocess without the
    OpenBLAS core-type override. The in-process ones alternate within each round, one untimed round first, for at
    least `runs` rounds and `budget` seconds; each figure is its engine's best run (a peak: load only slows a
    run down). The ceiling is the best engine's; with `previous` (an earlier measurement of this run), each
    engine's figure is the better of the two, so a ceiling measured again between the models catches the quiet
    moments the models were measured in."""
    import subprocess

    import torch

    cores = os.cpu_count() or 1
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    path = _matmul_onnx(tmp / "matmul.onnx", n)
    session, single = onnx_utils.make_session(path), onnx_utils.make_session(path, threads=1)
    openvino = backends.OpenVinoBackend(path, "f32")
    openvino.prepare([a.shape, b.shape])
    functions = {"onnxruntime": lambda: session.run(None, {"a": a, "b": b}),
                 "openvino": lambda: openvino.request.infer({0: a, 1: b}), "torch": lambda: torch.matmul(ta, tb),
                 "onnxruntime_per_core": lambda: single.run(None, {"a": a, "b": b})}
    times = {name: [] for name in functions}
    start_all, round_ = time.perf_counter(), 0
    while round_ <= runs or time.perf_counter() - start_all < budget:
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            if round_:
                times[name].append(time.perf_counter() - start)
        round_ += 1
    times["onnxruntime_per_core"] = [t / cores for t in times["onnxruntime_per_core"]]
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_OVERRIDES}
    proc = subprocess.run([sys.executable, "-c", _NUMPY_GEMM, str(n), str(round_ - 1)], env=env, check=True,
                          stdout=subprocess.PIPE, text=True)
    times["numpy"] = [float(proc.stdout.split()[-1])]
    flops = 2.0 * n ** 3
    result = {"n": n, "rounds": round_ - 1, **{name: flops / min(times[name]) / 1e9 for name in GEMM_ENGINES},
              "lifted_overrides": sorted(set(os.environ) & set(OPENBLAS_OVERRIDES))}
    if previous:
        result.update({name: max(result[name], previous[name]) for name in GEMM_ENGINES},
                      rounds=result["rounds"] + previous["rounds"])
    result["source"] = max(GEMM_ENGINES, key=lambda name: result[name])
    result["ceiling"] = result[result["source"]]
    return result


# ------------------------------------------------------------------------------------------ generators

def _biggan(tmp, quick):
    import torch

    import biggan_facts
    import biggan_model

    path = biggan_model.random_checkpoint(tmp / "G_ema.pth", ch=96, seed=0)
    model = biggan_model.load_generator(path)
    noise, label = biggan_model.seeded_inputs(model, 1)
    return model, [torch.from_numpy(noise), torch.from_numpy(label)], biggan_facts.FACTS.graph, \
        "BigGAN G_ch 96, bs1", path


def _dcgan(tmp, quick):
    import torch

    import dcgan_facts
    import dcgan_model

    model = dcgan_model.load_generator(dcgan_model.random_checkpoint(tmp / "dcgan.pth"))
    return model, [torch.randn(64, *dcgan_facts.NOISE_SHAPE)], dcgan_facts.FACTS.graph, "DCGAN bs64", None


def _gan(tmp, quick):
    import torch

    import GAN_facts
    import GAN_model

    model = GAN_model.load_generator(GAN_model.random_checkpoint(tmp / "gan.pth"))
    return model, [torch.randn(64, GAN_facts.LATENT_DIM)], GAN_facts.FACTS.graph, "GAN bs64", None


def _cyclegan(tmp, quick):
    import torch

    import cyclegan_facts
    import cyclegan_model

    model = cyclegan_model.load_generator(cyclegan_model.random_checkpoint(tmp / "latest_net_G_A.pth"))
    return model, [torch.randn(1, *cyclegan_facts.SAMPLE_SHAPE)], cyclegan_facts.GRAPH_A, \
        "CycleGAN 256x256, bs1", None


def _pix2pixhd(height, width):
    def build(tmp, quick):
        import torch

        import pix2pixhd_facts
        import pix2pixhd_model as p2p

        p2p.random_checkpoint(tmp / "latest_net_G.pth")
        model = p2p.load_generator(tmp)
        return model, [torch.randn(1, pix2pixhd_facts.INPUT_NC, height, width)], pix2pixhd_facts.FULL, \
            f"Pix2pixHD {height}x{width}, bs1", None
    return build


def _export(model, args, path, graph, label):
    if label.startswith("Pix2pixHD"):  # traced at a small size, declared at the run size
        from pix2pixhd_pth2onnx import export

        export(model, path, args[0].shape[2], args[0].shape[3], compact=False)
    else:
        onnx_utils.export(model, args, path, [t.name for t in graph.inputs], [t.name for t in graph.outputs])


def faster_engine(onnxruntime_ms, openvino_ms, exact=facts.EXACT_BACKENDS):
    """The engine a model's backend table names: OpenVINO f32 where it beats ONNX Runtime by the margin and is
    one of the model's `exact` engines (its facts' exact_backends), else ONNX Runtime."""
    faster = "openvino" in exact and openvino_ms < (1.0 - BACKEND_MARGIN) * onnxruntime_ms
    return "openvino" if faster else "onnxruntime"


def write_backend_table(path, feature_set, engine):
    """Set `feature_set`'s entry of the `BACKENDS = (...)` line of a facts module, the other feature sets' entries
    kept; sorted, so the same table is always the same bytes. Returns True when the file changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    match = re.search(r"^BACKENDS = (.*)$", text, re.MULTILINE)
    if match is None:
        raise errors.CheckFailed(f"{path}: no 'BACKENDS = (...)' line to write the backend table into")
    table = dict(ast.literal_eval(match.group(1)))
    table[feature_set] = engine
    new = text[:match.start()] + f"BACKENDS = {tuple(sorted(table.items()))!r}" + text[match.end():]
    if new != text:
        staging.write_text(path, new)
    return new != text


def flop_count(model, args):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(*args)
    return counter.get_total_flops()


def bench_generator(build, tmp, runs, files, ceiling, exact=facts.EXACT_BACKENDS):
    import torch

    model, args, graph, label, checkpoint = build(tmp, False)
    names_in = [t.name for t in graph.inputs]
    model.eval()
    onnx_path = tmp / "model.onnx"
    _export(model, args, onnx_path, graph, label)
    feeds = {name: a.numpy() for name, a in zip(names_in, args)}
    batch = int(args[0].shape[0])
    row = {"model": label, "batch": batch}
    with torch.inference_mode():
        row["eager_ms"] = median_ms(lambda: model(*args), runs)
    session = onnx_utils.make_session(onnx_path)

    # The runner's compute time is OnnxRuntimeBackend.run around session.run, OpenVINO's OpenVinoBackend.run: the
    # bare call, the runner's and OpenVINO's alternate within each round, so load drifts hit all alike.
    backend = backends.OnnxRuntimeBackend(onnx_path)
    openvino = backends.OpenVinoBackend(onnx_path, "f32")
    ordered = [feeds[n] for n in names_in]
    openvino.prepare([a.shape for a in ordered])
    bare, wrapped, ov = [], [], []
    for _ in range(runs + 1):
        start = time.perf_counter()
        backend.session.run(None, feeds)
        bare.append((time.perf_counter() - start) * 1000.0)
        wrapped.append(backend.run(ordered)[1])
        ov.append(openvino.run(ordered)[1])
    row["session_run_ms"] = statistics.median(bare[1:])
    row["runner_overhead"] = statistics.median(wrapped[1:]) / row["session_run_ms"] - 1.0
    row["openvino_f32_ms"] = statistics.median(ov[1:])
    row["openvino_max_abs_diff"] = float(np.max(np.abs(openvino.run(ordered)[0][0] - session.run(None, feeds)[0])))
    row["exact_backends"] = list(exact)
    row["faster_engine"] = faster_engine(statistics.median(wrapped[1:]), row["openvino_f32_ms"], exact)
    del openvino
    # The runner from its command line, pure inference: its own compute-time median over --loop runs.
    out = tmp / "runner"
    infer.main(["--model", str(onnx_path), "--batchsize", str(batch), "--loop", str(runs), "--output", str(out),
                "--output_dirname", "pure", "--pure_data_type", "random", "--backend", "onnxruntime"])
    row["runner_ms"] = json.loads((out / "pure_summary.json").read_text())["NPU_compute_time"]["median"]
    del backend

    # The runner over input files, as the README's job runs it: wall time per batch, files included.
    inputs = []
    for k, name in enumerate(names_in):
        folder = tmp / f"in_{name}"
        folder.mkdir()
        for i in range(files):
            fileio.write_array(folder / f"input_{i:05d}.bin", args[k].numpy(), atomic=False)
        inputs.append(str(folder))
    start = time.perf_counter()
    infer.main(["--model", str(onnx_path), "--input", ",".join(inputs), "--output", str(out),
                "--output_dirname", "files", "--batchsize", str(batch), "--backend", "onnxruntime"])
    row["runner_files_ms_per_batch"] = (time.perf_counter() - start) * 1000.0 / files
    row["files"] = files

    row["gflop"] = flop_count(model, args) / 1e9
    row["gflops_per_s"] = row["gflop"] / (row["session_run_ms"] / 1000.0)
    row["share_of_gemm_ceiling"] = row["gflops_per_s"] / ceiling
    row["_checkpoint"] = checkpoint
    return row


# ------------------------------------------------------------------------------------------ metrics

def bench_fid(runs, dim):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import fid_benchmark

    stats = fid_benchmark.dense_statistics(dim, 0)
    ours, t_ours, _ = fid_benchmark.timed(metrics.frechet_distance, stats, runs)
    theirs, t_scipy, _ = fid_benchmark.timed(metrics.scipy_frechet_distance, stats, max(1, runs // 2))
    return {"dim": dim, "ours_s": t_ours, "scipy_sqrtm_s": t_scipy, "ratio": t_scipy / t_ours,
            "relative_difference": abs(ours - theirs) / abs(theirs)}


INCEPTION_VARIANTS = ("torch eager NCHW", "torch eager channels_last", "ONNX Runtime", "OpenVINO f32")


def bench_inception(tmp, runs, batch, ceiling):
    """Inception v3 images/s of 128² images in [-1, 1] (BigGAN's), preprocessing included, by backend:
    torchvision eager in NCHW as BigGAN-PyTorch's WrapInception runs it, then InceptionFeatures' backends:
    "torch" (eager channels_last), "onnxruntime" (the default) and "openvino" (f32, the same cached ONNX file).
    The variants alternate within each round, so a change of load hits all alike; medians of `runs` rounds after
    one untimed round. Also the achieved GFLOP/s and its share of the GEMM ceiling."""
    import torch

    weights = inception.write_random_inception_weights(tmp / "inception_v3_google.pth")
    images = np.tanh(np.random.default_rng(0).standard_normal((batch, 3, 128, 128))).astype(np.float32)
    nets = [inception.InceptionFeatures(weights, backend=name) for name in ("torch", "onnxruntime", "openvino")]
    plain = inception.load_inception(weights)

    def nchw():
        with torch.inference_mode():
            return inception._pool_and_logits(plain, nets[0]._preprocess(images))

    functions = dict(zip(INCEPTION_VARIANTS, [nchw] + [lambda net=net: net(images) for net in nets]))
    times = {name: [] for name in functions}
    for round_ in range(runs + 1):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            if round_:
                times[name].append(time.perf_counter() - start)
    one = torch.zeros(1, 3, inception.INCEPTION_SIZE, inception.INCEPTION_SIZE)
    gflop = flop_count(inception._pool_logits_module(plain), (one,)) / 1e9
    rows = []
    for name in INCEPTION_VARIANTS:
        rate = batch / statistics.median(times[name])
        rows.append({"backend": name, "images_per_s": rate, "gflops_per_s": rate * gflop,
                     "share_of_gemm_ceiling": rate * gflop / ceiling})
    rate = {row["backend"]: row["images_per_s"] for row in rows}
    best = max(rows[2:], key=lambda row: row["images_per_s"])
    return {"batch": batch, "image_size": 128, "gflop_per_image": gflop, "rows": rows,
            "onnxruntime_over_torch": rate["ONNX Runtime"] / rate["torch eager channels_last"],
            "onnxruntime_over_torch_nchw": rate["ONNX Runtime"] / rate["torch eager NCHW"],
            "best_exact": best["backend"], "best_over_torch": best["images_per_s"] / rate["torch eager channels_last"]}


# ------------------------------------------------------------------------------------------ preprocessing

def original_biggan_preprocess(pth, noise_dir, label_dir, num_inputs):
    """The Ascend script's algorithm (modelzoo-originals §1.3): per file torch.randn z, an embedding lookup,
    np.split into six chunks, concatenation, one tofile per folder; unseeded in the original, seeded here."""
    import torch

    state = torch.load(pth, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    embedding = torch.nn.Embedding(1000, 128, _weight=state["shared.weight"])
    torch.manual_seed(0)
    noise_dir.mkdir()
    label_dir.mkdir()
    for i in range(num_inputs):
        z = torch.randn(1, 120).normal_(0, 1)
        y = torch.zeros(1).random_(0, 1000).long()
        with torch.no_grad():
            emb = embedding(y).numpy()
        chunks = np.split(z.numpy(), 6, 1)
        noise = np.expand_dims(chunks[0], axis=1)
        label = np.stack([np.concatenate([emb, c], axis=1) for c in chunks[1:]]).transpose(1, 0, 2)
        noise.tofile(noise_dir / f"input_{i:05d}.bin")
        np.ascontiguousarray(label).tofile(label_dir / f"input_{i:05d}.bin")


def bench_preprocess(tmp, pth, count):
    import biggan_preprocess

    start = time.perf_counter()
    original_biggan_preprocess(pth, tmp / "orig_noise", tmp / "orig_label", count)
    original = time.perf_counter() - start
    start = time.perf_counter()
    biggan_preprocess.main(["--pth", str(pth), "--num-inputs", str(count), "--prep-noise", str(tmp / "noise"),
                            "--prep-label", str(tmp / "label"), "--gen-y", str(tmp / "gen_y.npz")])
    ours = time.perf_counter() - start
    return {"inputs": count, "original_s": original, "ours_s": ours, "ratio": original / ours}


# ------------------------------------------------------------------------------------------ cluster

CLUSTER_WORKERS = 2
CLUSTER_MACHINES = 8  # the scale-out the report's arithmetic is stated for
CLUSTER_BAR = 0.90  # cluster throughput over one process on the same cores
BIG_JOB = 50000  # the seed-scale job the fixed cost of a cluster run is spread over


def bench_cluster(tmp, runs, inputs, ch):
    """The same BigGAN job (G_ch `ch`, `inputs` inputs of noise and label, bs1, files in and out) through
    common/infer.py in this process on all cores, and with --cluster on a loopback Dask cluster of CLUSTER_WORKERS
    workers with one thread each on the same cores (loopback.LoopbackProcesses: `dask scheduler`, `dask worker
    --nthreads 1`). Each of `runs` rounds starts a fresh cluster and times its first run (the code and the model
    sent to every worker) and its second (the workers keep both: the batches alone), and the one process, whose
    place alternates (before the two, after them), after one untimed one-process run; medians of the wall times.
    Also each run's per-batch compute time, the workers the model was sent to (the runner's `[INFO] cluster: model`
    line), the bytes a batch moves (its input and output files: client -> scheduler -> worker and back), the
    model's bytes and the client's CPU time per batch in its batch loop (summary "client_cpu_ms_per_batch")."""
    import contextlib
    import io
    import re

    import biggan_model
    import biggan_preprocess
    import biggan_pth2onnx

    biggan_pth2onnx.main(["--source", str(biggan_model.random_checkpoint(tmp / "G_ema.pth", ch=ch, seed=0)),
                          "--target", str(tmp / "biggan.onnx")])
    biggan_preprocess.main(["--pth", str(tmp / "G_ema.pth"), "--num-inputs", str(inputs), "--prep-noise",
                            str(tmp / "prep_noise"), "--prep-label", str(tmp / "prep_label"), "--gen-y",
                            str(tmp / "gen_y.npz")])
    job = ["--model", str(tmp / "biggan.onnx"), "--input", f"{tmp / 'prep_noise'},{tmp / 'prep_label'}",
           "--output", str(tmp / "result"), "--batchsize", "1", "--outfmt", "BIN"]
    opening = median_ms(lambda: backends.open_backend(str(tmp / "biggan.onnx")), 3) / 1000.0  # an ORT session, all cores
    modes = ("one", "first", "second")
    wall, compute, fixed, sent = ({mode: [] for mode in modes} for _ in range(4))
    client_ms = []  # the client's CPU time per batch in its batch loop (reading, sending, receiving, writing)

    def run(name, address=None):
        """One run of the job: its wall time, summary and the number of workers the model was sent to."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            start = time.perf_counter()
            infer.main([*job, "--output_dirname", name] + (["--cluster", address] if address else []))
            seconds = time.perf_counter() - start
        line = re.search(r"\[INFO\] cluster: model \S+ \(.*\) (sent to (\d+) of|kept by all)", out.getvalue())
        return seconds, json.loads((tmp / "result" / f"{name}_summary.json").read_text()), \
            line and int(line.group(2) or 0)

    run("warmup")
    shutil.rmtree(tmp / "result" / "warmup")
    for round_ in range(runs):
        with loopback.LoopbackProcesses(tmp / f"dask{round_}", threads=1) as processes:
            address = processes.start_scheduler()
            processes.add_workers(CLUSTER_WORKERS)
            for mode in (modes if round_ % 2 == 0 else modes[1:] + modes[:1]):
                name = f"{mode}{round_}"
                seconds, summary, workers_sent = run(name, None if mode == "one" else address)
                wall[mode].append(seconds)
                compute[mode].append(statistics.median(summary["npu_compute_time_list"]))
                if mode != "one":
                    client_ms.append(summary["client_cpu_ms_per_batch"])
                    sent[mode].append(workers_sent)
                    workers = summary["workers"]
                    fixed[mode].append(seconds - (max(w["end_time"] for w in workers)
                                                  - min(w["start_time"] for w in workers)))
        theirs = tmp / "result" / f"one{round_}"
        for mode in ("first", "second"):
            ours = tmp / "result" / f"{mode}{round_}"
            same = sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir()) and all(
                (ours / p.name).read_bytes() == p.read_bytes() for p in theirs.iterdir())
            if not same:
                raise errors.CheckFailed(f"{ours}: the cluster's files differ from the one-process run's {theirs}")
            shutil.rmtree(ours)
        shutil.rmtree(theirs)
    noise, label = sorted((tmp / "prep_noise").iterdir())[0], sorted((tmp / "prep_label").iterdir())[0]
    one_s = statistics.median(wall["one"])
    row = {"model": f"BigGAN G_ch {ch}, bs1", "inputs": inputs, "workers": CLUSTER_WORKERS, "threads_per_worker": 1,
           "one_process_s": one_s, "one_process_per_s": inputs / one_s,
           "one_process_compute_ms": statistics.median(compute["one"]),
           "worker_compute_ms": statistics.median(compute["first"] + compute["second"]),
           "input_bytes_per_batch": noise.stat().st_size + label.stat().st_size,
           "output_bytes_per_batch": 3 * 128 * 128 * 4, "model_bytes": (tmp / "biggan.onnx").stat().st_size,
           "client_cpu_ms_per_batch": statistics.median(client_ms), "bar": CLUSTER_BAR,
           "one_process_runs_s": wall["one"], "one_process_fixed_s": opening}
    for mode in ("first", "second"):  # a fresh cluster's first run; a kept cluster's next ones
        seconds = statistics.median(wall[mode])
        row[mode] = {"s": seconds, "per_s": inputs / seconds, "ratio": one_s / seconds, "runs_s": wall[mode],
                     "fixed_s": statistics.median(fixed[mode]), "model_sent_to": sent[mode]}
    # A job of BIG_JOB inputs on a fresh cluster pays the first run's fixed cost once (the cluster's wall time
    # outside its workers' batches), the one process its opening of the model (before its first batch).
    first = row["first"]
    row["big_job"] = BIG_JOB
    row["big_job_ratio"] = ((opening + BIG_JOB * (one_s - opening) / inputs)
                            / (first["fixed_s"] + BIG_JOB * (first["s"] - first["fixed_s"]) / inputs))
    # N machines of this kind, one worker each with both cores (its batch as fast as this process's): batches per
    # second, and the payload the scheduler relays (each byte in and out of it) and the client reads and writes.
    rate = CLUSTER_MACHINES * 1000.0 / row["one_process_compute_ms"]
    row["machines"] = CLUSTER_MACHINES
    row["machines_batches_per_s"] = rate
    row["machines_mb_per_s"] = rate * (row["input_bytes_per_batch"] + row["output_bytes_per_batch"]) / 1e6
    row["machines_client_cpu_share"] = rate * row["client_cpu_ms_per_batch"] / 1000.0
    return row


# ------------------------------------------------------------------------------------------ report

def engine_cell(row):
    """The faster-engine cell: the engine, and that it was the only candidate where OpenVINO is not exact for the
    model."""
    if "openvino" not in row.get("exact_backends", facts.EXACT_BACKENDS):
        return f"{row['faster_engine']} (the only exact one here)"
    return row["faster_engine"]


def clock_note(peak):
    """How the ISA peak's clock was found, for its line in the report."""
    if peak.get("clock") == "measured":
        return f" measured, the kernel reports {peak['reported_ghz']:.2f}"
    return " as the kernel reports it" if "clock" in peak else ""


def machine_line(report):
    """What a figure was measured on, and with which command."""
    m = report["machine"]
    return (f"Machine: {m['cpu']}, {m['cores']} cores, ISA flags {' '.join(m['flags'])} (feature set "
            f"{m['feature_set']}); OpenVINO CPU capabilities {', '.join(m['openvino_capabilities'])}; onnxruntime "
            f"{m['onnxruntime']}, openvino {m['openvino']}, torch {m['torch']}, numpy {m['numpy']}, Python "
            f"{m['python']}; {m['date']}; load average {m['load_average_at_start'][0]:.2f} at start, "
            f"{m['load_average_at_end'][0]:.2f} at end. Command: `{report['command']}`.")


def ceiling_line(report):
    g, peak = report["gemm"], report["machine"]["isa_peak"]
    return (f"float32 GEMM ceiling: {g['ceiling']:.0f} GFLOP/s, set by {GEMM_LABELS.get(g['source'], g['source'])} "
            f"(best of {g['rounds']} runs of a {g['n']}² matmul, before and between the models: "
            + ", ".join(f"{GEMM_LABELS.get(name, name)} {g[name]:.0f}" for name in GEMM_ENGINES) + " GFLOP/s"
            + (f"; numpy without {', '.join(g['lifted_overrides'])}" if g["lifted_overrides"] else "") + "). "
            f"ISA peak {peak['gflops']:.0f} GFLOP/s ({peak['cores']} cores x {peak['fma_units']} FMA units x "
            f"{peak['lanes']} float32 lanes x 2 x {peak['ghz']:.2f} GHz{clock_note(peak)}): the ceiling is "
            f"{100 * g['ceiling'] / peak['gflops']:.0f}% of it.")


def generators_section(report):
    """The generators' table, its GEMM ceiling and bars (sections() calls it only when generators ran)."""
    m = report["machine"]
    lines = [ceiling_line(report), "",
             "| model | PyTorch eager | session.run | runner (compute) | runner overhead on session.run "
             "| runner with files (per batch) | OpenVINO f32 | faster engine | GFLOP/batch | GFLOP/s "
             "| share of GEMM ceiling |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["generators"]:
        lines.append(f"| {r['model']} | {r['eager_ms']:.1f} ms | {r['session_run_ms']:.1f} ms | {r['runner_ms']:.1f} ms "
                     f"| {100 * r['runner_overhead']:+.1f}% | {r['runner_files_ms_per_batch']:.1f} ms ({r['files']} files) "
                     f"| {r['openvino_f32_ms']:.1f} ms | {engine_cell(r)} | {r['gflop']:.2f} | {r['gflops_per_s']:.0f} "
                     f"| {100 * r['share_of_gemm_ceiling']:.0f}% |")
    lines += ["",
              f"Runner overhead bar (<= {100 * BAR_OVERHEAD:.0f}% over session.run): "
              f"{'met' if report['overhead_bar_met'] else 'NOT met'} (worst {100 * report['worst_overhead']:+.1f}%).",
              f"Faster engine: OpenVINO f32 where its median beats the runner on ONNX Runtime by "
              f"{100 * BACKEND_MARGIN:.0f}% (alternating runs) and is exact for the model (its facts' "
              f"exact_backends), else ONNX Runtime."]
    if report.get("backend_table"):
        lines.append(f"Backend table written for feature set {m['feature_set']} (the runner's default engine): "
                     + ", ".join(f"{path} {engine}" for path, engine in sorted(report["backend_table"].items())) + ".")
    return lines


def inception_section(report):
    inc = report["inception"]
    return [ceiling_line(report), "",
            f"Inception v3, batches of {inc['batch']} {inc['image_size']}² images resized to 299² "
            f"({inc['gflop_per_image']:.2f} GFLOP per image), variants alternating:", "",
            "| backend | images/s | GFLOP/s | share of GEMM ceiling |", "|---|---|---|---|",
            *[f"| {r['backend']} | {r['images_per_s']:.2f} | {r['gflops_per_s']:.0f} "
              f"| {100 * r['share_of_gemm_ceiling']:.0f}% |" for r in inc["rows"]], "",
            f"ONNX Runtime over torch eager: {inc['onnxruntime_over_torch']:.2f}x channels_last, "
            f"{inc['onnxruntime_over_torch_nchw']:.2f}x NCHW; fastest exact backend: {inc['best_exact']} "
            f"({inc['best_over_torch']:.2f}x eager channels_last)."]


def fid_section(report):
    f = report["fid"]
    return [f"FID on {f['dim']}-d statistics: common.metrics {f['ours_s']:.2f} s, scipy sqrtm "
            f"{f['scipy_sqrtm_s']:.2f} s ({f['ratio']:.1f}x), relative difference {f['relative_difference']:.1e}."]


def preprocess_section(report):
    pre = report["preprocess"]
    return [f"BigGAN preprocessing of {pre['inputs']:,} inputs: original algorithm {pre['original_s']:.1f} s, "
            f"biggan_preprocess.py {pre['ours_s']:.1f} s ({pre['ratio']:.1f}x)."]


def cluster_section(report):
    c = report["cluster"]
    first, second = c["first"], c["second"]

    def sent(runs):
        return "/".join(str(count) for count in runs)

    return [
        f"Cluster ({c['model']}, {c['inputs']} inputs, files in and out; medians of {report['runs']} rounds, each "
        f"on a fresh cluster): one process {c['one_process_s']:.2f} s ({c['one_process_per_s']:.2f} inputs/s, "
        f"{c['one_process_compute_ms']:.1f} ms per batch on all cores); --cluster on {c['workers']} loopback "
        f"workers of {c['threads_per_worker']} thread ({c['worker_compute_ms']:.1f} ms per batch on a worker): "
        f"first run {first['s']:.2f} s ({first['per_s']:.2f} inputs/s, {first['ratio']:.2f}x; the model sent to "
        f"{sent(first['model_sent_to'])} workers; {first['fixed_s']:.1f} s outside the workers' batches: "
        f"connecting, sending the code and the model), second run {second['s']:.2f} s ({second['per_s']:.2f} "
        f"inputs/s, {second['ratio']:.2f}x, {'meets' if second['ratio'] >= c['bar'] else 'below'} the "
        f"{c['bar']:.2f} bar; the model sent to {sent(second['model_sent_to'])} workers, kept from the first; "
        f"{second['fixed_s']:.1f} s outside the batches). A {c['big_job']:,}-input job on a fresh cluster pays "
        f"the first run's fixed cost once: {c['big_job_ratio']:.2f}x. A batch moves "
        f"{c['input_bytes_per_batch']:,} bytes in and {c['output_bytes_per_batch']:,} out (the model, "
        f"{c['model_bytes'] / 1e6:.0f} MB, once per worker process that lacks it); the client spent "
        f"{c['client_cpu_ms_per_batch']:.1f} ms of CPU per batch. {c['machines']} machines of this kind at "
        f"{c['one_process_compute_ms']:.0f} ms a batch: {c['machines_batches_per_s']:.1f} batches/s, "
        f"{c['machines_mb_per_s']:.1f} MB/s through the scheduler and the client, "
        f"{100 * c['machines_client_cpu_share']:.0f}% of one client core."]


def job_section(report):
    import biggan_job

    return [biggan_job.markdown(report["job"]).rstrip("\n")]


# RESULTS.md's sections in their order: (the report key that holds it, its title, its Markdown lines).
SECTIONS = (("generators", "The generators", generators_section),
            ("inception", "Inception v3 (IS/FID)", inception_section),
            ("fid", "FID arithmetic", fid_section),
            ("preprocess", "BigGAN preprocessing", preprocess_section),
            ("cluster", "A Dask cluster on one machine", cluster_section),
            ("job", "BigGAN's whole job, end to end", job_section))


def sections(report):
    """{key: Markdown} of the sections this run measured."""
    return {key: "\n".join(build(report)).rstrip("\n") + "\n" for key, _, build in SECTIONS if report.get(key)}


def markdown(report):
    """The run's report: what it ran on, the GEMM ceiling, and each section it measured."""
    parts = [machine_line(report)]
    if not report.get("generators") and not report.get("inception"):
        parts.append(ceiling_line(report))  # measured every run; the two sections that use it carry it
    parts += sections(report).values()
    return "\n\n".join(part.rstrip("\n") for part in parts) + "\n"


SECTION_MARK = "<!-- run_all section: {} -->"


def results_text(report, previous=""):
    """RESULTS.md with this run's sections replaced and the others kept from `previous` (its earlier text): each
    section says what it was measured on and with which command, so sections of different runs stand together."""
    kept = {}
    marks = [(m.start(), m.group(1)) for m in re.finditer(r"^<!-- run_all section: (\w+) -->$", previous, re.M)]
    for (start, key), (end, _) in zip(marks, marks[1:] + [(len(previous), None)]):
        kept[key] = previous[start:end].rstrip("\n") + "\n"
    for key, text in sections(report).items():
        title = next(t for k, t, _ in SECTIONS if k == key)
        kept[key] = f"{SECTION_MARK.format(key)}\n## {title}\n\n{machine_line(report)}\n\n{text}"
    body = "\n".join(kept[key] for key, *_ in SECTIONS if key in kept)
    return ("# Benchmark results\n\nWritten by `benchmarks/run_all.py --write-results`, one section per step it "
            "ran (the others kept); ratios within one run carry over to another machine, absolute figures do "
            "not.\n\n" + body)


GENERATORS = ("biggan", "dcgan", "gan", "cyclegan", "pix2pixhd")
# Each generator's facts module, where --write-backend-table keeps its faster engine (Pix2pixHD's README size,
# measured with --full, is written after the 256x512 one and so wins).
FACTS_FILES = {"biggan": "BigGAN/biggan_facts.py", "dcgan": "DCGAN/dcgan_facts.py", "gan": "GAN/GAN_facts.py",
               "cyclegan": "CycleGAN/cyclegan_facts.py", "pix2pixhd": "Pix2pixHD/pix2pixhd_facts.py",
               "pix2pixhd_full": "Pix2pixHD/pix2pixhd_facts.py"}


def model_facts(name):
    """The FACTS of a generator benchmarked under `name` (its facts module is importable: the model folders are on
    sys.path)."""
    import importlib

    return importlib.import_module(Path(FACTS_FILES[name]).stem).FACTS


STEPS = ("fid", "inception", "preprocess", "cluster", "job")  # after the generators; the GEMM ceiling always runs


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CI-sized run: 2 runs, 2 files, 500 preprocessed inputs, "
                                                             "256-d FID, Inception batch 2, 1024² GEMM, cluster "
                                                             "step at G_ch 8")
    p.add_argument("--full", action="store_true", help="also Pix2pixHD at 1024x2048")
    p.add_argument("--runs", type=cli.positive_int, default=None,
                   help="timed runs per figure (default 5, 2 with --quick)")
    p.add_argument("--files", type=cli.positive_int, default=None,
                   help="input files for the runner-with-files figure (default 16, 2 with --quick)")
    p.add_argument("--preprocess-inputs", type=cli.positive_int, default=None,
                   help="BigGAN inputs to preprocess (default 50000, 500 with --quick)")
    p.add_argument("--inception-batch", type=cli.positive_int, default=None,
                   help="images per Inception forward pass (default 50 as biggan_eval_acc.py, 2 with --quick)")
    p.add_argument("--only", default=None,
                   help=f"comma list of what to run (default all): generators {','.join(GENERATORS)} "
                        f"(and pix2pixhd_full with --full), steps {','.join(STEPS)}")
    p.add_argument("--cluster-inputs", type=cli.positive_int, default=None,
                   help="BigGAN inputs of the cluster step (default 32 at G_ch 96; 4 at G_ch 8 with --quick)")
    p.add_argument("--job-images", type=cli.positive_int, default=None,
                   help="images of the whole-job step (benchmarks/biggan_job.py; default 2000 at G_ch 96, 12 at "
                        "G_ch 8 with --quick)")
    p.add_argument("--out", default="./run_all_results", help="folder for run_all.json and run_all.md")
    p.add_argument("--write-results", action="store_true", help=f"also write the sections this run measured into "
                                                                f"{RESULTS.name} beside this script, keeping the "
                                                                f"others (the figures the READMEs quote)")
    p.add_argument("--write-backend-table", action="store_true",
                   help="write each measured generator's faster exact engine for this CPU's feature set into its "
                        "<model>_facts.py (BACKENDS): the engine the runner takes without --backend")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    runs = args.runs or (2 if args.quick else 5)
    files = args.files or (2 if args.quick else 16)
    count = args.preprocess_inputs or (500 if args.quick else 50000)
    inception_batch = args.inception_batch or (2 if args.quick else 50)
    generators = {"biggan": _biggan, "dcgan": _dcgan, "gan": _gan, "cyclegan": _cyclegan,
                  "pix2pixhd": _pix2pixhd(256, 512)}
    if args.full:
        generators["pix2pixhd_full"] = _pix2pixhd(1024, 2048)
    steps = [*generators, *STEPS]
    if args.only:
        wanted = [name for name in args.only.split(",") if name]
        unknown = sorted(set(wanted) - set(steps))
        if unknown or not wanted:
            raise errors.UserError(f"--only {args.only}: unknown step(s) {', '.join(unknown) or '(none given)'}; "
                                f"expected some of {', '.join(steps)}")
        steps = [name for name in steps if name in wanted]
    generators = {k: v for k, v in generators.items() if k in steps}
    report = {"command": "python3 benchmarks/run_all.py" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None
                                                                                      else argv)),
              "machine": machine(), "runs": runs, "steps": steps}
    biggan_pth = None
    with tempfile.TemporaryDirectory() as tmp, tqdm(total=len(steps) + 1, desc="run_all", unit="step") as bar:
        tmp = Path(tmp)
        report["gemm"] = gemm_ceiling(tmp, runs, 1024 if args.quick else 2048, 2.0 if args.quick else 10.0)
        bar.update()
        report["generators"] = []
        for name, build in generators.items():
            bar.set_postfix_str(name)
            folder = tmp / name
            folder.mkdir()
            row = bench_generator(build, folder, runs, files, report["gemm"]["ceiling"], model_facts(name).exact_backends)
            row["name"] = name
            checkpoint = row.pop("_checkpoint")
            if checkpoint:  # BigGAN's, reused by the preprocessing benchmark
                biggan_pth = checkpoint
            for path in folder.iterdir():  # free the disk: exported models and outputs are large
                if path.is_dir():
                    shutil.rmtree(path)
                elif path != checkpoint:
                    path.unlink()
            report["generators"].append(row)
            report["gemm"] = gemm_ceiling(tmp, 1, report["gemm"]["n"], 1.0, previous=report["gemm"])
            bar.update()
        for row in report["generators"]:  # against the ceiling of the whole run
            row["share_of_gemm_ceiling"] = row["gflops_per_s"] / report["gemm"]["ceiling"]
        if "fid" in steps:
            bar.set_postfix_str("fid")
            report["fid"] = bench_fid(runs, 256 if args.quick else inception.POOL_DIM)
            bar.update()
        if "inception" in steps:
            bar.set_postfix_str("inception")
            (tmp / "inception").mkdir()
            report["inception"] = bench_inception(tmp / "inception", runs, inception_batch, report["gemm"]["ceiling"])
            bar.update()
        if "cluster" in steps:
            bar.set_postfix_str("cluster")
            (tmp / "cluster").mkdir()
            report["cluster"] = bench_cluster(tmp / "cluster", runs, args.cluster_inputs or (4 if args.quick else 32),
                                              8 if args.quick else 96)
            bar.update()
        if "preprocess" in steps:
            bar.set_postfix_str("preprocess")
            if biggan_pth is None:  # preprocessing reads only the class embedding: its cost does not depend on G_ch
                import biggan_model

                biggan_pth = biggan_model.random_checkpoint(tmp / "G_ema.pth", ch=8 if args.quick else 96,
                                                                 seed=0)
            (tmp / "pre").mkdir()
            report["preprocess"] = bench_preprocess(tmp / "pre", biggan_pth, count)
            bar.update()
        if "job" in steps:  # BigGAN's README chain end to end (writes biggan_job.json and .md into --out too)
            bar.set_postfix_str("job")
            import biggan_job

            biggan_job.main(["--images", str(args.job_images or (12 if args.quick else 2000)), "--runs", str(runs),
                             "--out", args.out] + (["--ch", "8", "--batch-sizes", "1,2"] if args.quick else []))
            report["job"] = json.loads((Path(args.out) / "biggan_job.json").read_text())
            bar.update()
    report["machine"]["load_average_at_end"] = list(os.getloadavg())
    if report["generators"]:
        report["worst_overhead"] = max(r["runner_overhead"] for r in report["generators"])
        report["overhead_bar_met"] = report["worst_overhead"] <= BAR_OVERHEAD
    if args.write_backend_table:
        feature_set = report["machine"]["feature_set"]
        report["backend_table"] = {}
        for row in report["generators"]:
            path = ROOT / FACTS_FILES[row["name"]]
            write_backend_table(path, feature_set, row["faster_engine"])
            report["backend_table"][FACTS_FILES[row["name"]]] = row["faster_engine"]
    text = markdown(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fileio.write_json(out / "run_all.json", report)
    staging.write_text(out / "run_all.md", text)
    print(text)
    print(f"written: {out / 'run_all.json'}, {out / 'run_all.md'}")
    if args.write_results:
        previous = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else ""
        staging.write_text(RESULTS, results_text(report, previous))
        print(f"written: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
