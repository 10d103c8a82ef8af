"""Pix2pixHD's two input variants compared on the same frame: bytes per image and time per image.

    python3 benchmarks/pix2pixhd_input_benchmark.py                      # 256x512, 5 timed runs each
    python3 benchmarks/pix2pixhd_input_benchmark.py --height 1024 --width 2048 --runs 3

Exports the 36-channel model (input_concat, float32) and the compact one (label_map + edge_map, uint8) from
one seeded random checkpoint, writes one synthetic frame in each layout, and times, alternately in one
process, what an offline run does per image: read the input file(s) and run ONNX Runtime (CPU). Prints the
median of the runs of each, their ratio, the file sizes and the largest output difference (the outputs must
agree: the variants compute the same thing). A measurement, not a test: timings depend on the machine's load.
"""
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import driver  # noqa: E402

driver.put_model_folders_on_path()

import numpy as np

import pix2pixhd_model as p2p
from pix2pixhd_facts import INPUT_NC
from common import cli, fileio, onnx_utils
from pix2pixhd_data import check_size, edge_map, input_concat
from pix2pixhd_pth2onnx import export
from pix2pixhd_synthetic import synthetic_maps


def timed(session, paths, dtype, shapes):
    start = time.perf_counter()
    feeds = {i.name: fileio.read_array(path, dtype, shape)
             for i, path, shape in zip(session.get_inputs(), paths, shapes)}
    output = session.run(None, feeds)[0]
    return time.perf_counter() - start, output


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--height", type=cli.positive_int, default=256, help="frame height, a multiple of 32")
    p.add_argument("--width", type=cli.positive_int, default=512, help="frame width, a multiple of 32")
    p.add_argument("--runs", type=cli.positive_int, default=5, help="timed runs of each variant (after one untimed)")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the weights and of the frame")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    check_size(args.height, args.width)
    h, w = args.height, args.width
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        p2p.random_checkpoint(tmp / "latest_net_G.pth", seed=args.seed)
        for compact in (False, True):
            export(p2p.load_generator(tmp, compact=compact), tmp / f"compact{int(compact)}.onnx", h, w, compact)
        labels, instances = synthetic_maps(h, w, np.random.default_rng(args.seed))
        edges = edge_map(instances)
        fileio.write_array(tmp / "frame.bin", input_concat(labels, edges))
        fileio.write_array(tmp / "label.bin", labels.astype(np.uint8))
        fileio.write_array(tmp / "edge.bin", edges.astype(np.uint8))
        variants = {
            "36-channel float32 input": (onnx_utils.make_session(tmp / "compact0.onnx"), [tmp / "frame.bin"],
                                         np.float32, [(1, INPUT_NC, h, w)]),
            "compact uint8 inputs": (onnx_utils.make_session(tmp / "compact1.onnx"),
                                     [tmp / "label.bin", tmp / "edge.bin"], np.uint8, [(1, 1, h, w)] * 2),
        }
        sizes = {name: sum(os.path.getsize(path) for path in paths) for name, (_, paths, _, _) in variants.items()}
        times = {name: [] for name in variants}
        outputs = {}
        for run in range(args.runs + 1):
            for name, (session, paths, dtype, shapes) in variants.items():
                seconds, outputs[name] = timed(session, paths, dtype, shapes)
                if run:  # the first run of each warms up ONNX Runtime
                    times[name].append(seconds)
    full, compact = variants
    print(f"Pix2pixHD at {h}x{w}, one frame, ONNX Runtime CPU, {args.runs} timed runs each (read input + run):")
    for name in variants:
        runs = ", ".join(f"{t:.3f}" for t in times[name])
        print(f"  {name:<26} {sizes[name]:>12,} bytes, median {statistics.median(times[name]):.3f} s ({runs})")
    print(f"  bytes ratio full / compact: {sizes[full] / sizes[compact]:.1f}x; time ratio full / compact: "
          f"{statistics.median(times[full]) / statistics.median(times[compact]):.2f}x")
    print(f"  max |difference| between the two outputs: {np.max(np.abs(outputs[full] - outputs[compact])):.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
