"""The fp16 build preview's cost: emulation against the plain fp32 run, and the triage's time.

    python3 benchmarks/precision_benchmark.py                 # DCGAN full size, 64 samples in batches of 16
    python3 benchmarks/precision_benchmark.py --runs 9 --num 128

Exports DCGAN from a seeded random checkpoint, and times, alternately in one process, one pass over the same
input batches through the fp32 model and through its force_fp16 emulation (common/precision.py), both on
ONNX Runtime's CPU provider: median of --runs passes each (after one untimed pass), and their ratio. Then the
triage: on the collapsing graph of tests/test_precision.py (an overflow between two normalisations), and on
DCGAN with a threshold above what its fp16 build reaches (--triage_threshold), so that a keep list is searched
for. A measurement, not a test: timings depend on the machine's load.
"""
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import driver  # noqa: E402

driver.put_model_folders_on_path()
ROOT = driver.ROOT
sys.path.insert(0, str(ROOT / "tests"))  # test_precision's collapsing_model, shared with its tests

import numpy as np
import onnx
import torch

from common import cli, onnx_utils, precision
from dcgan_model import random_generator
from test_precision import collapsing_model


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def timed_triage(model, groups, names, threshold):
    start = time.perf_counter()
    evaluator = precision.Evaluator(model, groups, names, progress=False)
    first = evaluator.evaluate("force_fp16")
    added, report, _ = precision.triage(evaluator, "force_fp16", precision.KeepSet(), threshold, progress=False)
    seconds = time.perf_counter() - start
    return seconds, precision.verdict(first)[0], added, report, evaluator.trials


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--num", type=cli.positive_int, default=64, help="DCGAN samples (noise vectors), at least --batch")
    p.add_argument("--batch", type=cli.positive_int, default=16, help="DCGAN batch")
    p.add_argument("--runs", type=cli.positive_int, default=7,
                   help="timed passes of each variant (after one untimed)")
    p.add_argument("--triage_threshold", type=cli.cosine_threshold, default=0.9999999,
                   help="threshold for the DCGAN triage (above its force_fp16 cosine, so a search runs)")
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.num < args.batch:
        parser.error(f"--num {args.num} is below --batch {args.batch}: no whole batch to time")
    torch.set_num_threads(1)
    print(f"CPU: {cpu_name()}; onnxruntime CPU provider, default threads")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generator = random_generator()
        onnx_utils.export(generator, (torch.zeros(1, 100, 1, 1),), tmp / "dcgan.onnx", ["noise"], ["image"])
        model = onnx.load(tmp / "dcgan.onnx")
    rng = np.random.default_rng(0)
    groups = [([rng.standard_normal((args.batch, 100, 1, 1)).astype(np.float32)], args.batch)
              for _ in range(args.num // args.batch)]
    sessions = {"fp32": precision.session(model),
                "force_fp16 emulation": precision.session(precision.emulate(model, "force_fp16"))}
    times = {name: [] for name in sessions}
    for run in range(args.runs + 1):
        for name, sess in sessions.items():
            start = time.perf_counter()
            for feeds, _ in groups:
                sess.run(None, {"noise": feeds[0]})
            if run:
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"DCGAN full size, {len(groups) * args.batch} samples in batches of {args.batch}, median of {args.runs}:")
    for name, value in medians.items():
        print(f"  {name:<22} {value * 1000:8.1f} ms per pass")
    print(f"  ratio emulation / fp32: {medians['force_fp16 emulation'] / medians['fp32']:.2f}")

    collapse = collapsing_model()
    x = [([rng.standard_normal((2, 4, 8, 8)).astype(np.float32)], 2) for _ in range(2)]
    seconds, cos, added, report, trials = timed_triage(collapse, x, ["out"], 0.99)
    print(f"triage, collapsing graph (4 samples): {seconds * 1000:.0f} ms, {trials} emulation run(s); cosine "
          f"{cos:.4g} -> keep {added.lines() if added else None} -> {precision.verdict(report)[0]:.6f}")
    seconds, cos, added, report, trials = timed_triage(model, groups, ["image"], args.triage_threshold)
    kept = len(added.lines()) if added else None
    print(f"triage, DCGAN ({len(groups) * args.batch} samples, threshold {args.triage_threshold}): {seconds:.2f} s "
          f"including the fp32 reference, {trials} emulation run(s); cosine {cos:.8f} -> keep {kept} node(s) -> "
          f"{precision.verdict(report)[0]:.8f}" if added else f"no keep set found in {seconds:.2f} s")
    print(f"  (one fp32 pass: {medians['fp32']:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
