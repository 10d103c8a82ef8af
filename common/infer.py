"""Offline inference with ais_bench's command line and file layout, on any machine.

    python3 common/infer.py --model dcgan_sim_bs4.onnx --input ./prep_dataset --output ./result \
        --output_dirname bs4 --outfmt BIN --batchsize 4

`.onnx` models run on ONNX Runtime or OpenVINO (common/backends.py; without --backend, the engine the model
folder's backend table names for this CPU), `.om` models through ais_bench where it is installed. What it reads
and writes is ais_bench's: one input folder per model input paired by position, files concatenated into batches
(common/sources.py), one output file per input file and a `<dirname>_summary.json` beside the folder
(common/runner.py); `--device 0,1` is ais_bench's multi-device mode, `--cluster` computes on Dask
(common/cluster.py) with the same files. docs/runner.md describes it for users; this module is its command line.
"""
import contextlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import backends, cli, cluster_options, fileio, onnx_utils, records, room, runner, sources, staging
from common.errors import UserError

# ais_bench warms up once; a warm-up is untimed, so more than this only delays the run
WARMUP_RUNS = cli.ranged_int(0, 1000, "untimed runs of the first batch")



def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0], prog="infer.py")
    p.add_argument("--model", "-m", "--om", required=True, type=cli.reads,
                   help=".onnx (ONNX Runtime) or .om (ais_bench) model")
    p.add_argument("--input", "-i", type=cli.reads_list, default=None,
                   help="comma-separated folders, one per model input in order (or files); omitted = pure "
                        "inference on --pure_data_type data")
    p.add_argument("--output", "-o", type=cli.writes_into, default=None,
                   help="folder for outputs; nothing is saved without it")
    p.add_argument("--output_dirname", type=cli.file_name, default=None,
                   help="subfolder of --output for this run (default: a YYYY_MM_DD-hh_mm_ss timestamp)")
    p.add_argument("--outfmt", default="BIN", choices=["BIN", "NPY", "TXT"], type=str.upper,
                   help="output file format")
    p.add_argument("--batchsize", type=cli.positive_int, default=None,
                   help="batch for a dynamic-batch model, and the batch used in the throughput figure "
                        "(default: the model's fixed batch, or the samples in one input-0 file)")
    p.add_argument("--loop", "-l", type=cli.positive_int, default=1, help="times each batch is run (timed every time)")
    p.add_argument("--warmup_count", type=WARMUP_RUNS, default=1, help="untimed runs of the first batch (at most 1000)")
    p.add_argument("--device", "-d", default="0",
                   help="device id for an accelerator provider or .om; a comma list such as 0,1 runs one worker "
                        "process per device (on a CPU each gets its share of the cores)")
    p.add_argument("--divide_input", action="store_true",
                   help="with several devices, deal the input batches out in disjoint shards, one per device "
                        "(without it every device runs all inputs, and outputs cannot be saved)")
    p.add_argument("--provider", default="cpu", help=f"ONNX Runtime provider: {', '.join(onnx_utils.PROVIDERS)} "
                                                     f"or a full provider name")
    p.add_argument("--backend", default=None, choices=backends.BACKENDS,
                   help="runtime for .onnx models (default: the one the model's facts name as the faster on this "
                        "CPU's feature set, else onnxruntime)")
    p.add_argument("--precision", default="f32", choices=backends.PRECISIONS,
                   help="inference precision (bf16/f16 with --backend openvino, where the CPU offers them)")
    p.add_argument("--pure_data_type", default="zero", choices=["zero", "random"],
                   help="data for pure inference (no --input); random is seeded with --seed")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of --pure_data_type random")
    p.add_argument("--output_batchsize_axis", type=cli.non_negative_int, default=0, help="axis along which outputs are split")
    p.add_argument("--display_all_summary", action="store_true",
                   help="accepted for ais_bench compatibility; ONNX Runtime has no separate H2D/D2H copy to time")
    p.add_argument("--debug", action="store_true", help="print the model's inputs and outputs")
    cluster_options.add_options(p)
    return p


def parse_devices(text):
    """'0' -> [0]; '0,1' -> [0, 1]; a clear error for anything else (ais_bench takes ids 0-255)."""
    try:
        devices = [int(d) for d in str(text).split(",") if d.strip() != ""]
    except ValueError:
        devices = []
    if not devices or any(not 0 <= d <= 255 for d in devices) or len(set(devices)) != len(devices):
        raise UserError(f"--device {text!r}: expected distinct device ids 0-255 such as 0 or 0,1")
    return devices


def check_cluster_args(args, devices):
    """What the runner's --cluster cannot be combined with."""
    cluster_options.parse_address(args.cluster)
    if len(devices) > 1:
        raise UserError(f"--cluster and --device {args.device} both spread the batches over several workers; "
                        f"give one of them")
    if Path(args.model).suffix.lower() != ".onnx":
        raise UserError(f"{args.model}: --cluster runs .onnx models (ONNX Runtime or OpenVINO on the workers); a .om "
                        f"model runs on an Ascend NPU through ais_bench")
    if args.provider != "cpu":
        raise UserError(f"--cluster runs the workers' CPUs; --provider {args.provider} is for this machine only")


def check_args(args, devices):
    """The option combinations the parser cannot refuse by itself."""
    if args.output_dirname and not args.output:
        raise UserError("--output_dirname needs --output")
    if args.cluster:
        check_cluster_args(args, devices)
    if len(devices) > 1 and args.output and not args.divide_input:
        raise UserError(f"--device {args.device} without --divide_input runs every input on every device, so "
                        f"their outputs would overwrite each other; add --divide_input, or drop --output")


def device_summary_name(dirname, device):
    return f"{dirname}_device_{device}_summary.json"


def summary_names(dirname, devices):
    """The summary files a run writes beside its output folder (a multi-device run's per-device ones too)."""
    per_device = devices if len(devices) > 1 else []
    return [f"{dirname}_summary.json"] + [device_summary_name(dirname, d) for d in per_device]


def summary(argv, times, filesinfo, backend, batchsize, throughput):
    """A summary file's content, as ais_bench writes it."""
    return {"filesinfo": filesinfo, "args": sys.argv if argv is None else ["infer.py", *argv],
            "NPU_compute_time": runner.statistics(times), "throughput": throughput, "npu_compute_time_list": times,
            "pid": os.getpid(), "backend": backend.label, "precision": backend.precision, "batchsize": batchsize}


def summaries(args, argv, result, backend, batchsize, dirname):
    """{file name: content} of the run's summaries: the merged one, and each device's for several devices."""
    files = {}
    for device in result.devices:
        files[device_summary_name(dirname, device["device"])] = {
            **summary(argv, device["times"], device["filesinfo"], backend, batchsize, device["throughput"]),
            "pid": device["pid"], "device": device["device"], "start_time": device["start_time"],
            "end_time": device["end_time"]}
    extra = {}
    if result.workers:  # every worker ran at this precision (the OpenVINO backend refuses any other)
        extra = {"cluster": args.cluster, "workers": result.workers, "client_cpu_ms_per_batch": result.client_ms,
                 "precision": args.precision}
    elif result.devices:  # each worker checked that it compiled at this precision
        extra = {"devices": [{key: device[key] for key in ("device", "throughput", "start_time", "end_time")}
                             for device in result.devices], "precision": args.precision}
    files[f"{dirname}_summary.json"] = {
        **summary(argv, result.times, result.filesinfo, backend, batchsize, result.throughput), **extra,
        "non_finite_batches": result.non_finite}
    return files


def run(args, devices, backend, source, target):
    """The batches of `source` here, on each device, or on the cluster: a runner.RunResult."""
    engine = runner.Engine(args.model, args.provider, args.backend, args.precision)
    schedule = runner.Schedule(args.warmup_count, args.loop)
    batchsize = args.batchsize or source.model_batch
    if args.cluster:
        return runner.run_cluster(engine, (args.cluster, args.cluster_timeout), source, target, schedule,
                                  backend.output_names, batchsize)
    if len(devices) > 1:
        return runner.run_devices(engine, devices, source, target, schedule, batchsize, args.divide_input)
    return runner.run_here(backend, source, target, schedule, batchsize)


def open_source(args, devices):
    """The backend (on the first device) and the input source, checked and ready (prepared for a run here)."""
    threads = runner.device_threads(args.provider, len(devices)) if len(devices) > 1 else 0
    backend = backends.open_backend(args.model, args.provider, devices[0], args.backend, args.precision, threads)
    source = sources.input_source(args, backend.inputs)
    if len(devices) == 1 and not args.cluster:  # the workers prepare their own
        backend.prepare(source.shapes)
    if args.debug:
        for spec, shape in zip(backend.inputs, source.shapes):
            print(f"[DEBUG] input {spec.name}: model {list(spec.shape)} {spec.dtype}, run as {shape}")
        print(f"[DEBUG] outputs: {', '.join(backend.output_names)}; backend {backend.label}")
    if len(devices) > 1 and args.divide_input and len(source.batches) < len(devices):
        raise UserError(f"--divide_input over {len(devices)} devices needs at least {len(devices)} batches; "
                        f"the input makes {len(source.batches)}")
    # every timed run keeps its time (a Python float in a list: about 32 bytes)
    room.check_memory(32 * len(source.batches) * args.loop, f"--loop {args.loop} over {len(source.batches)} batch(es)")
    print(f"[INFO] backend {backend.label}, precision {backend.precision or args.precision}")
    return backend, source


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    devices = parse_devices(args.device)
    check_args(args, devices)
    dirname = args.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    out_parent = Path(args.output) if args.output else None
    reads = cli.declared_paths(parser, args)["reads"]
    if out_parent is not None:  # the run's folder and summaries inside --output, apart from the inputs
        staging.check_apart(reads=reads, writes=[("--output_dirname", out_parent / name)
                                                 for name in (dirname, *summary_names(dirname, devices))])
    inputs = records.Inputs(reads) if out_parent else None  # what it reads now must still be so at the commit
    args.backend = args.backend or backends.default_backend(args.model, args.provider, args.precision)
    backend, source = open_source(args, devices)

    # The output folder and its summaries are written under temporary names and appear together when the run
    # completes (a summary beside a folder always describes that folder).
    with staging.OutputSet("infer.py", inputs) if out_parent else contextlib.nullcontext() as outputs:
        folder = outputs.folder(out_parent / dirname, replaceable=(".bin", ".npy", ".txt")) if outputs else None
        target = runner.OutputTarget(folder, out_parent / dirname if out_parent else None, args.outfmt,
                                     args.output_batchsize_axis)
        result = run(args, devices, backend, source, target)
        if result.non_finite:
            print(f"warning: {result.non_finite} of {len(source.batches)} batch(es) gave NaN/Inf outputs; the steps "
                  f"that read them will refuse those files", file=sys.stderr)
        if outputs:
            batchsize = args.batchsize or source.model_batch
            for name, content in summaries(args, argv, result, backend, batchsize, dirname).items():
                fileio.write_json(outputs.file(out_parent / name), content, atomic=False)
    if out_parent is not None:
        written = sum(len(info["outfiles"]) for info in result.filesinfo.values())
        print(f"[INFO] {written} output file(s) in {out_parent / dirname}; "
              f"summary in {out_parent / (dirname + '_summary.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
