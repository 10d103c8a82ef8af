"""The DCGAN and GAN stand-ins trained on real digits: training time, digit score and FID, fp16 preview.

    python3 benchmarks/standin_benchmark.py
    python3 benchmarks/standin_benchmark.py --samples 1024 --fp16_samples 64

Per model: the trained stand-in (the folder's trainer with its default settings, read from the cache folder, or
trained first, timed, when the cache lacks it: set GANZOO_CACHE to an empty folder to time a training); the
digit score and digit FID (common/digits.py) of --samples generated images, of the real held-out half and of
the seeded random stand-in; then common/precision.py, run as its command runs, on the exported trained and
random generators (force_fp16, --fp16_samples seeded noise vectors): its predicted 1 - cosine, PyTorch's own
float16 run on the CPU (`.half()`) on the same vectors for comparison, and its keep list at the README's
threshold (0.99) and at a threshold set halfway between its prediction and 1 (a forced triage), trained
against random. A measurement, not a test.
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import driver  # noqa: E402

driver.put_model_folders_on_path()

import numpy as np
import torch

from common import cli, digits, errors, fileio, onnx_utils, precision, similarity

import dcgan_model
import dcgan_train_standin
import GAN_model
import GAN_train_standin

MODELS = {"DCGAN": (dcgan_model, dcgan_train_standin, (100, 1, 1), "noise", "image"),
          "GAN": (GAN_model, GAN_train_standin, (100,), "Z", "generateimg")}


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=cli.positive_int, default=1024, help="generated images scored per generator")
    p.add_argument("--fp16_samples", type=cli.positive_int, default=64, help="noise vectors of the fp16 preview")
    p.add_argument("--models", default="DCGAN,GAN", help="which stand-ins (comma list of DCGAN, GAN)")
    return p


def fp16_preview(generator, shape, names, count, folder):
    """precision.py's force_fp16 prediction at 0.99 and forced, and PyTorch's .half() 1 - cosine."""
    folder.mkdir(parents=True)
    z = np.random.default_rng(0).standard_normal((count, *shape)).astype(np.float32)
    fileio.write_array(folder / "inputs" / "z_0.bin", z)
    model = folder / "g.onnx"
    onnx_utils.export(generator, (torch.zeros(1, *shape),), model, [names[0]], [names[1]])
    common = ["--model", str(model), "--input", str(folder / "inputs"), "--num", str(count), "--batchsize",
              str(count), "--mode", "force_fp16", "--no_html", "--keep_dtype_out", str(folder / "keep.cfg")]
    precision.main([*common, "--threshold", "0.99", "--report", str(folder / "p.json")])
    report = json.loads((folder / "p.json").read_text())
    forced = 1 - (1 - report["cosine"]) / 2
    precision.main([*common, "--threshold", f"{forced:.12f}", "--report", str(folder / "forced.json")])
    forced_report = json.loads((folder / "forced.json").read_text())
    with torch.no_grad():
        fp32 = generator(torch.from_numpy(z)).numpy()
        half = generator.half()(torch.from_numpy(z).half()).float().numpy()
        generator.float()
    torch_gap = float(np.mean([similarity.one_minus_cosine(a, b) for a, b in zip(fp32, half)]))
    return {"predicted_1_minus_cos": 1 - report["cosine"], "torch_half_1_minus_cos": torch_gap,
            "ratio": (1 - report["cosine"]) / torch_gap, "keep_at_0.99": report["keep"],
            "forced_threshold": forced, "forced_keep": forced_report["keep"]}


def main(argv=None):
    args = build_parser().parse_args(argv)
    chosen = [m.strip() for m in args.models.split(",")]
    unknown = [m for m in chosen if m not in MODELS]
    if unknown or not chosen:
        raise errors.UserError(f"--models {args.models}: expected some of {', '.join(MODELS)}")
    net = digits.classifier()
    print(f"digit classifier: held-out accuracy {net.accuracy:.4f}; torch threads {torch.get_num_threads()}")
    results = {}
    for name in chosen:
        model, trainer, shape, *names = MODELS[name]
        start = time.perf_counter()
        path, trained = trainer.trained_checkpoint()
        seconds = time.perf_counter() - start
        print(f"{name}: stand-in {path} ({f'trained in {seconds:.1f} s' if trained else 'from the cache'})")
        z = torch.from_numpy(np.random.default_rng(1).standard_normal((args.samples, *shape)).astype(np.float32))
        generators = {"trained": model.load_generator(path), "random": model.random_generator(0)}
        row = {"training_seconds": seconds if trained else None}
        real, _ = digits.scans(generators["trained"](z[:2]).shape[-1], "held_out")
        row["real"] = digits.judge(real, net)
        for label, generator in generators.items():
            with torch.no_grad():
                row[label] = digits.judge(generator(z).numpy(), net)
            with tempfile.TemporaryDirectory() as tmp:
                row[label]["fp16"] = fp16_preview(generator, shape, names, args.fp16_samples, Path(tmp) / label)
        results[name] = row
    print(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
