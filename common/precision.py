"""Predict on a CPU what ATC's fp16 build of an ONNX model will compute, and write the --keep_dtype fix.

    python3 common/precision.py --model dcgan_sim_bs16.onnx --input ./prep_dataset --num 64 \
        --mode force_fp16 --threshold 0.99 --keep_dtype_out keep_dtype.cfg --report precision_bs16.json

ATC builds with --precision_mode=force_fp16 unless told otherwise: every operator runs in fp16 and stores its
tensors as fp16 (beyond +-65504 they become +-inf, below 2^-24 they become 0), while the arithmetic inside an
operator (the Cube unit's accumulation) stays fp32. The emulation rewrites the graph so that every float tensor
an fp16 operator reads or writes passes through Cast(float16)->Cast(float32) (initializers are rounded in
place), and runs it on ONNX Runtime's CPU provider next to the unchanged fp32 model on the same inputs.

Modes (as CANN documents them): force_fp16 (every operator in fp16), allow_fp32_to_fp16 (the matrix operators
Conv, ConvTranspose, MatMul, Gemm in fp16, the rest fp32), must_keep_origin_dtype (nothing changes: the
control). --keep_dtype FILE keeps the nodes it names (one per line, or OpType::<type>) in fp32, as ATC does.

When the prediction is below --threshold or not finite, the triage looks for the nodes responsible: first the
tensors an fp16 operator would push beyond the fp16 range (from an fp32 run with every intermediate exposed),
then the nodes whose fp16 rounding adds the most error; it verifies a small keep set by re-running the
emulation and writes it in ATC's --keep_dtype format. Exit status 0 when the prediction (with the keep list,
if one was needed) reaches the threshold, 1 when nothing does.

Beside the --report JSON goes the readable report (common/report.py; --no_html skips it): the figures, the
per-node error of the emulation along the graph on the first sample (where the drift enters), the keep list
and its effect, and the worst image samples.

The work is done by the package common/fp16/ (its __init__ maps the modules); the weights stay out of memory,
in two temporary files (as given and fp16-rounded) that every ONNX Runtime session maps.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli, report
from common.fp16 import graph, run
from common.fp16.evaluation import Evaluator, input_batches, verdict
from common.fp16.graph import emulate, session
from common.fp16.keeplist import KeepSet
from common.fp16.readable import drift_tensors, node_drift
from common.fp16.triage import overflow_nodes, triage

# What tests and benchmarks call as precision.<name>, besides the script's own main and build_parser.
__all__ = ["Evaluator", "KeepSet", "drift_tensors", "emulate", "input_batches", "node_drift", "overflow_nodes",
           "session", "triage", "verdict", "build_parser", "main"]


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0], prog="precision.py")
    p.add_argument("--model", "-m", required=True, type=cli.reads, help="ONNX model as the ATC step would receive it")
    p.add_argument("--input", "-i", type=cli.reads_list, default=None,
                   help="comma-separated folders, one per model input in order (or files), as common/infer.py "
                        "takes them; omitted = seeded random data shaped like the model's inputs")
    p.add_argument("--num", type=cli.positive_int, default=16, help="how many samples to compare")
    p.add_argument("--batchsize", type=cli.positive_int, default=None,
                   help="batch for a dynamic-batch model (default: as common/infer.py chooses it)")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the random data used without --input")
    p.add_argument("--mode", default="force_fp16", choices=graph.MODES, help="ATC --precision_mode to emulate")
    p.add_argument("--keep_dtype", type=cli.reads, default=None,
                   help="an existing ATC --keep_dtype file: the nodes it names (and OpType::<type> lines) stay fp32")
    p.add_argument("--threshold", type=cli.cosine_threshold, default=0.99,
                   help="cosine (mean over samples, worst output) the prediction must reach")
    p.add_argument("--keep_dtype_out", type=cli.writes, default="keep_dtype.cfg",
                   help="where the triage writes the keep list it found (only when one is needed)")
    p.add_argument("--by_type", action="store_true",
                   help="write the keep list as OpType::<type> lines (ATC's fallback when fused nodes are renamed)")
    p.add_argument("--no_triage", action="store_true", help="only predict; do not search for a keep list")
    p.add_argument("--report", type=cli.writes, default=None,
                   help="JSON report (the figures below, the keep list, the trials); beside it the readable report "
                        f"<report stem>{report.SUFFIX} and .png (headline, per-node error along the graph, keep "
                        "list, worst image samples)")
    p.add_argument("--no_html", action="store_true", help="write only the JSON --report, not its HTML and PNG")
    p.add_argument("--save_emulated", type=cli.writes, default=None,
                   help="also write the emulated graph (mode and --keep_dtype applied) as an ONNX file, to run "
                        "through common/infer.py and the folder's accuracy scripts")
    return p


def main(argv=None):
    return run.run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli.run(main))
