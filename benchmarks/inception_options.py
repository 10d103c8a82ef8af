"""Inception v3 on ONNX Runtime: what session settings and batch splitting change, on the machine at hand.

    python3 benchmarks/inception_options.py                 # batch 16, medians of 3 rounds
    python3 benchmarks/inception_options.py --batch 48 --chunks 8,16

Runs the cached ONNX export of seeded random Inception weights (common.metrics, verified against torchvision on
open) on one preprocessed batch, in variants that alternate within each round so that a change of load hits all
alike: the default session (what InceptionFeatures uses), intra-op threads = cores, spinning off,
session.dynamic_block_base 4, graph optimisation EXTENDED instead of ALL (no NCHWc layout), the batch split into
chunks, and OpenVINO f32 on the same file. Prints images/s and the ratio to the default of each. A measurement,
not a test.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np

from common import backends, cli, inception


def session(path, threads=0, config=None, level=None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    if level is not None:
        options.graph_optimization_level = level
    for key, value in (config or {}).items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def variants(path, batch, chunks):
    import onnxruntime as ort

    def on(sess, size=batch):
        return lambda x: [sess.run(None, {"image": x[i:i + size]}) for i in range(0, len(x), size)]

    default = session(path)
    found = {"default session": on(default),
             f"intra-op threads = {os.cpu_count()}": on(session(path, threads=os.cpu_count())),
             "spinning off": on(session(path, config={"session.intra_op.allow_spinning": "0"})),
             "dynamic_block_base 4": on(session(path, config={"session.dynamic_block_base": "4"})),
             "graph level EXTENDED": on(session(path, level=ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED))}
    for size in chunks:
        found[f"chunks of {size}"] = on(default, size)
    ov = backends.OpenVinoBackend(path, "f32")
    found["OpenVINO f32"] = lambda x: ov.run([x])
    return found


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=cli.positive_int, default=16, help="images per batch")
    p.add_argument("--chunks", default="4,8", help="comma list of chunk sizes to split the batch into")
    p.add_argument("--runs", type=cli.positive_int, default=3, help="timed rounds (after one untimed)")
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        chunks = [cli.positive_int(c) for c in args.chunks.split(",") if c.strip()]
    except argparse.ArgumentTypeError as err:
        parser.error(f"argument --chunks: {err}")
    with tempfile.TemporaryDirectory() as tmp:
        weights = inception.write_random_inception_weights(Path(tmp) / "inception_v3_google.pth")
        net = inception.InceptionFeatures(weights)  # exports, caches and verifies the ONNX file
        images = np.tanh(np.random.default_rng(0).standard_normal((args.batch, 3, 128, 128))).astype(np.float32)
        x = net._preprocess(images).numpy()
        functions = variants(net.onnx_path, args.batch, chunks)
        times = {name: [] for name in functions}
        for round_ in range(args.runs + 1):
            for name, function in functions.items():
                start = time.perf_counter()
                function(x)
                if round_:
                    times[name].append(time.perf_counter() - start)
    rates = {name: args.batch / statistics.median(t) for name, t in times.items()}
    print(f"Inception v3, batch {args.batch} at 299², {os.cpu_count()} CPU(s), medians of {args.runs} alternating "
          f"rounds, load average {os.getloadavg()[0]:.2f} at the end:")
    for name, rate in rates.items():
        print(f"  {name:<26} {rate:6.2f} images/s  {rate / rates['default session']:.2f}x the default")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
