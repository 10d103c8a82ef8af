"""BigGAN's README chain as one job, end to end: each stage's wall time against the compute it holds.

    python3 benchmarks/biggan_job.py                      # 2,000 images, G_ch 96, bs1 and the fastest batch size
    python3 benchmarks/biggan_job.py --images 20 --ch 8   # tiny

In a work folder laid out as ModelZoo's (BigGAN/ and common/ side by side, common/driver.py's copy) with a seeded
random G_ema.pth of G_ch --ch and stand-in Inception weights and moments, the README's commands run as written,
each a process of its own: pth2onnx, clip_edit and simplify as setup, then, timed, preprocess (--images inputs),
inference with files (common/infer.py on its default engine), postprocess (--save-img --save-npz) and IS/FID.
The Inception ONNX export is made once in setup, as any run after a person's first finds it cached.

The job is measured against its compute: the generator's bare call (session.run, or OpenVINO's infer where the
runner's default engine is OpenVINO) per batch, plus Inception's session.run per batch of 50 (biggan_eval_acc.py's
--inception-batch), medians of alternating runs taken before and after each job. The batch size besides bs1 is
the one whose bare call costs least per image (--batch-sizes, alternating). Each job also runs once at a tiny
size (10 images): a stage's fixed cost, so that the 50,000-image figure is the tiny run plus 49,990 images at the
per-image cost between the two sizes.
"""
import argparse
import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import driver, work_folder  # noqa: E402

driver.put_model_folders_on_path()

import numpy as np  # noqa: E402

from common import backends, cli, errors, fileio, inception, staging  # noqa: E402

STAGES = ("preprocess", "infer", "postprocess", "is_fid")
SETUP = ("pth2onnx", "clip_edit", "simplify")
INCEPTION_BATCH = 50  # biggan_eval_acc.py's default --inception-batch
TINY = 10  # images of the fixed-cost run (IS needs one per split)
BIG_JOB = 50000
GOAL = 1.15  # the whole job over the sum of its compute


def readme_steps(bs, num):
    """The README's commands (BigGAN/chain.py's STEPS) at this batch size and image count."""
    chain = driver.load_chain(driver.ROOT / "BigGAN")
    params = {**chain.README_PARAMS, "bs": bs, "num": num}
    return dict(driver.render(chain, params))


def run(command, cwd, log):
    argv = shlex.split(command)
    argv[0] = sys.executable
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - start
    log.write(f"$ {command}\n{proc.stdout}\n[exit {proc.returncode}, {seconds:.1f} s]\n\n")
    if proc.returncode:
        raise errors.CheckFailed(f"{command}: exit {proc.returncode} in {cwd}; output:\n{proc.stdout[-2000:]}")
    return seconds


def alternating_ms(functions, runs):
    """Median ms of each function, the functions alternating within each round after one untimed round."""
    times = {name: [] for name in functions}
    for round_ in range(runs + 1):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            if round_:
                times[name].append((time.perf_counter() - start) * 1000.0)
    return {name: statistics.median(values) for name, values in times.items()}


def generator_call(backend, bs):
    """The bare call of the generator's engine on one batch of seeded inputs (session.run, or OpenVINO's infer)."""
    import biggan_facts

    rng = np.random.default_rng(0)
    feeds = [rng.standard_normal((bs, *biggan_facts.NOISE_SHAPE), dtype=np.float32),
             rng.standard_normal((bs, *biggan_facts.LABEL_SHAPE), dtype=np.float32)]
    if isinstance(backend, backends.OnnxRuntimeBackend):
        named = {spec.name: array for spec, array in zip(backend.inputs, feeds)}
        return lambda: backend.session.run(None, named)
    backend.prepare([f.shape for f in feeds])
    return lambda: backend.request.infer({k: f for k, f in enumerate(feeds)})


def inception_call(onnx_path):
    from common import onnx_utils

    session = onnx_utils.make_session(onnx_path)
    images = np.tanh(np.random.default_rng(0).standard_normal((INCEPTION_BATCH, 3, 128, 128))).astype(np.float32)
    x = inception.inception_input(images).numpy()
    return lambda: session.run(None, {"image": x})


def setup(work, ch, log):
    """The work folder, the weights, the ONNX model (pth2onnx, clip_edit) and the cached Inception export."""
    import biggan_model

    model_dir = work_folder.prepare_workdir(work, driver.ROOT / "BigGAN")
    chain = driver.load_chain(driver.ROOT / "BigGAN")
    biggan_model.random_checkpoint(model_dir / "G_ema.pth", ch, seed=0)
    weights = inception.write_random_inception_weights(model_dir / chain.INCEPTION, seed=0)
    chain.synthetic_moments(model_dir / chain.MOMENTS)
    seconds = {}
    steps = readme_steps(1, TINY)
    for name in SETUP[:2]:
        seconds[name] = run(steps[name], model_dir, log)
    start = time.perf_counter()
    inception.InceptionFeatures(weights)  # exports, caches and verifies
    seconds["inception_export"] = time.perf_counter() - start
    return model_dir, inception.inception_onnx_path(weights), seconds


def fastest_batch(model_dir, engine, sizes, runs):
    """The batch size whose bare generator call costs least per image (the dynamic-batch new_biggan.onnx)."""
    opened = {bs: backends.open_backend(str(model_dir / "new_biggan.onnx"), backend=engine) for bs in sizes}
    ms = alternating_ms({bs: generator_call(opened[bs], bs) for bs in sizes}, runs)
    per_image = {bs: ms[bs] / bs for bs in sizes}
    return min(sizes, key=lambda bs: (per_image[bs], bs)), per_image


def job(model_dir, bs, num, engine, inception_onnx, runs, log, measure=True):
    """One job of `num` images at batch size `bs`: the four stages' seconds and (`measure`) the compute they hold."""
    steps = readme_steps(bs, num)
    model = model_dir / f"biggan_sim_bs{bs}.onnx"
    if not model.is_file():
        run(steps["simplify"], model_dir, log)
    calls = {"generator": generator_call(backends.open_backend(str(model), backend=engine), bs),
             "inception": inception_call(inception_onnx)} if measure else {}
    before = alternating_ms(calls, runs)
    seconds = {}
    for stage in STAGES:
        seconds[stage] = run(steps[stage], model_dir, log)
    after = alternating_ms(calls, runs)
    summary = json.loads((model_dir / "result" / f"bs{bs}_summary.json").read_text())
    row = {"bs": bs, "images": num, "stages_s": seconds, "job_s": sum(seconds.values()),
           "runner_compute_s": sum(summary["npu_compute_time_list"]) / 1000.0, "backend": summary["backend"]}
    if measure:
        row["generator_ms"] = statistics.median([before["generator"], after["generator"]])
        row["inception_ms"] = statistics.median([before["inception"], after["inception"]])
        row["compute_s"] = {"generator": math.ceil(num / bs) * row["generator_ms"] / 1000.0,
                            "inception": num / INCEPTION_BATCH * row["inception_ms"] / 1000.0}
        row["compute_sum_s"] = sum(row["compute_s"].values())
        row["ratio"] = row["job_s"] / row["compute_sum_s"]
    for path in [model_dir / "result" / f"bs{bs}", model_dir / f"gen_img_bs{bs}.npz",
                 model_dir / "postprocess_img" / f"img_bs{bs}", model_dir / "prep_noise", model_dir / "prep_label",
                 model_dir / "gen_y.npz"]:  # free the disk (and let the next job's preprocess write anew)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    return row


def project(tiny, big, target=BIG_JOB):
    """Seconds per stage at `target` images: the tiny run's (its fixed cost) plus the per-image cost between the
    two sizes."""
    out = {}
    for stage in STAGES:
        per_image = (big["stages_s"][stage] - tiny["stages_s"][stage]) / (big["images"] - tiny["images"])
        out[stage] = tiny["stages_s"][stage] + (target - tiny["images"]) * max(per_image, 0.0)
    compute = big["compute_sum_s"] * target / big["images"]
    return {"images": target, "stages_s": out, "job_s": sum(out.values()), "compute_sum_s": compute,
            "ratio": sum(out.values()) / compute, "hours": sum(out.values()) / 3600.0}


def markdown(report):
    lines = [f"BigGAN's README chain end to end (G_ch {report['ch']}, {report['images']:,} images, stand-in "
             f"weights; the runner's default engine {report['engine']}): command `{report['command']}`; load "
             f"average {report['load_average_at_start']:.2f} at start, {report['load_average_at_end']:.2f} at end.",
             "", "Bare generator call per image by batch size (alternating medians): "
             + ", ".join(f"bs{bs} {ms:.1f} ms" for bs, ms in sorted(report["per_image_ms"].items(), key=lambda kv:
                                                                     int(kv[0]))) + f"; fastest bs{report['best_bs']}.",
             ""]
    header = "| stage | " + " | ".join(f"bs{r['bs']} s | share" for r in report["jobs"]) + " |"
    lines += [header, "|---|" + "---|---|" * len(report["jobs"])]
    for stage in STAGES:
        lines.append(f"| {stage} | " + " | ".join(
            f"{r['stages_s'][stage]:.1f} | {100 * r['stages_s'][stage] / r['job_s']:.0f}%" for r in report["jobs"])
            + " |")
    lines.append("| **whole job** | " + " | ".join(f"{r['job_s']:.1f} | 100%" for r in report["jobs"]) + " |")
    lines.append("| compute (generator + Inception) | " + " | ".join(
        f"{r['compute_sum_s']:.1f} ({r['compute_s']['generator']:.1f} + {r['compute_s']['inception']:.1f}) | "
        f"{100 * r['compute_sum_s'] / r['job_s']:.0f}%" for r in report["jobs"]) + " |")
    lines.append("")
    for r in report["jobs"]:
        p = r["projection"]
        lines.append(f"bs{r['bs']}: whole job {r['ratio']:.2f}x its compute ({'within' if r['ratio'] <= GOAL else 'above'}"
                     f" the {GOAL:.2f}x goal); the runner's own compute time {r['runner_compute_s']:.1f} s; "
                     f"{p['images']:,} images projected at {p['job_s']:.0f} s ({p['hours']:.1f} h, {p['ratio']:.2f}x "
                     f"its compute: " + ", ".join(f"{s} {p['stages_s'][s]:.0f} s" for s in STAGES) + ").")
    lines.append("Setup, once: " + ", ".join(f"{k} {v:.1f} s" for k, v in report["setup_s"].items()) + ".")
    return "\n".join(lines) + "\n"


def images_count(text):
    """argparse type of --images: more than the fixed-cost run's TINY images."""
    count = cli.positive_int(text)
    if count <= TINY:
        raise argparse.ArgumentTypeError(f"{text} is not more than {TINY} (the fixed-cost run's size)")
    return count


def batch_sizes(text):
    """argparse type of --batch-sizes: '1,2,4' -> [1, 2, 4], sorted, each at least 1."""
    try:
        sizes = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of positive whole numbers such as 1,4,8")
    return sizes


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--images", type=images_count, default=2000, help=f"images of the job (more than {TINY})")
    p.add_argument("--ch", type=cli.positive_int, default=96, help="the generator's G_ch (96: the released model)")
    p.add_argument("--batch-sizes", type=batch_sizes, default="1,2,4,8,16",
                   help="comma list the fastest batch size is chosen from")
    p.add_argument("--runs", type=cli.positive_int, default=5, help="alternating runs per compute figure")
    p.add_argument("--out", default="./biggan_job_results", help="folder for biggan_job.json and biggan_job.md")
    p.add_argument("--keep", default=None, help="keep the work folder here (default: a temporary folder)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    sizes = args.batch_sizes
    report = {"command": "python3 benchmarks/biggan_job.py" + "".join(
        f" {a}" for a in (sys.argv[1:] if argv is None else argv)), "ch": args.ch, "images": args.images,
              "load_average_at_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep) if args.keep else Path(tmp) / "work"
        with open(Path(tmp) / "job.log", "w", encoding="utf-8") as log:
            model_dir, inception_onnx, report["setup_s"] = setup(work, args.ch, log)
            engine = backends.default_backend(str(model_dir / "new_biggan.onnx"))
            report["engine"] = engine
            best, per_image = fastest_batch(model_dir, engine, sizes, args.runs)
            report["best_bs"], report["per_image_ms"] = best, per_image
            report["jobs"] = []
            for bs in sorted({1, best}):
                tiny = job(model_dir, bs, TINY, engine, inception_onnx, args.runs, log, measure=False)
                row = job(model_dir, bs, args.images, engine, inception_onnx, args.runs, log)
                row["tiny"] = tiny
                row["projection"] = project(tiny, row)
                report["jobs"].append(row)
    report["load_average_at_end"] = os.getloadavg()[0]
    text = markdown(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fileio.write_json(out / "biggan_job.json", report)
    staging.write_text(out / "biggan_job.md", text)
    print(text)
    print(f"written: {out / 'biggan_job.json'}, {out / 'biggan_job.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
