"""Inception Score (10 splits) and FID of the generated images, as BigGAN-PyTorch computes them.

    python3 biggan_eval_acc.py --num-inception-images 50000 --batch-size 1 --dataset I128

Reads the raw outputs written by biggan_postprocess.py --save-npz (gen_img_bs<B>.npz, key 'x') and the labels
of biggan_preprocess.py (gen_y.npz, key 'y'; only their count is checked), runs torchvision's Inception v3
with the weights of --inception-weights (never downloaded) and compares the pool features with
<dataset>_inception_moments.npz. FID is exact (float64, see common/metrics.py). The numbers are BigGAN-PyTorch's
"PYTORCH UNOFFICIAL" ones: not comparable with TF-Inception IS/FID. Prints the original's result line and
writes it to a log and a JSON file, and a report (HTML and PNG) of the scores per split and a grid of the first
images. With --cluster, Inception runs on a Dask cluster's workers (this process reads the images and gathers
the features; the scores are those of a one-process run).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np

from common import cache, cli, cluster_options, fileio, images, metrics, npz, origins, records, report, staging
from common.errors import UserError


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--num-inception-images", type=cli.positive_int, default=50000, help="number of images to evaluate (the first N)")
    p.add_argument("--batch-size", type=cli.positive_int, default=1,
                   help="batch size of the run; names gen_img_bs<B>.npz and the log/JSON files")
    p.add_argument("--dataset", default="I128", help="reference statistics: <dataset>_inception_moments.npz")
    p.add_argument("--gen-img", type=cli.reads, default=None, help="generated images npz (default ./gen_img_bs<B>.npz)")
    p.add_argument("--gen-y", type=cli.reads, default="./gen_y.npz", help="labels npz of the same run (key 'y')")
    p.add_argument("--inception-weights", type=cli.reads, default="./inception_v3_google.pth",
                   help="torchvision Inception v3 weights (state_dict)")
    p.add_argument("--moments", type=cli.reads, default=None, help="reference moments npz, keys mu and sigma "
                                                   "(default ./<dataset>_inception_moments.npz)")
    p.add_argument("--num-splits", type=cli.positive_int, default=10, help="Inception Score splits")
    p.add_argument("--inception-batch", type=cli.positive_int, default=50, help="images per Inception forward pass")
    p.add_argument("--cache", type=cli.writes_into, default=None,
                   help=f"folder for the ONNX export of --inception-weights, made once per weights file (default "
                        f"${cache.CACHE_VARIABLE}, else $XDG_CACHE_HOME/ganzoo, else ~/.cache/ganzoo; never beside "
                        f"the weights)")
    p.add_argument("--log", type=cli.writes, default=None, help="result log (default ./biggan_acc_eval_bs<B>.log)")
    p.add_argument("--json", type=cli.writes, default=None, help="results as JSON (default ./biggan_acc_eval_bs<B>.json)")
    report.add_options(p)
    cluster_options.add_options(p, "-")
    return p


def check_images(path, labels_path, wanted):
    """The images' count, checked against the request, their shape and the labels of the same run."""
    shape, dtype = npz.npz_array_info(path, "x")
    if len(shape) != 4 or shape[1] != 3 or dtype != np.float32:
        raise UserError(f"{path}: array 'x' is {dtype} {shape}; expected float32 (N, 3, H, W) outputs in [-1, 1]")
    if shape[0] < wanted:
        raise UserError(f"{path}: holds {shape[0]} images, fewer than --num-inception-images {wanted}")
    labels_shape, _ = npz.npz_array_info(labels_path, "y")
    if labels_shape[0] != shape[0]:
        raise UserError(f"{labels_path}: holds {labels_shape[0]} labels but {path} holds {shape[0]} images; "
                        f"they are not from the same run")
    return shape[0]


def write_report(path, args, scores, images_path, notes, weights):
    """Scores, their spread over the splits and a grid of the first images (no threshold: IS/FID are read
    against the paper's figures, not judged here). scores: (count, IS mean, IS std, FID, per-split IS)."""
    count, is_mean, is_std, fid, split_scores = scores
    size = count // args.num_splits
    grid = [images.to_uint8(x) for batch in npz.iter_npz_batches(images_path, "x", 64, limit=min(count, 64))
            for x in batch]
    inception_score = f"{report.format_figure('is', is_mean)} +/- {report.format_figure('is', is_std)}"
    report.write_report(path, report.Report(
        "BigGAN: Inception Score and FID",
        f"IS {inception_score}, FID {report.format_figure('fid', fid)} over {count} images "
        f"(PYTORCH UNOFFICIAL; no threshold)",
        headline=[("Inception Score", inception_score), ("FID", report.format_figure("fid", fid)),
                  ("images", str(count)), ("splits", f"{args.num_splits} of about {size} images")],
        histogram=report.Histogram(split_scores, f"Inception Score per split ({args.num_splits} splits)",
                                   heading="Per-split figure", ylabel="splits"),
        sample=grid, sample_caption=f"The first {len(grid)} generated images, mapped [-1, 1] -> [0, 255].",
        tables=[report.Table(["split", "Inception Score"],
                             [[str(k), report.format_figure("is", s)] for k, s in enumerate(split_scores)],
                             caption="Inception Score per split", id="splits")],
        notes=notes, weights=weights))


def finite_batches(path, batches):
    """The image batches, refusing the first that holds NaN or Inf (naming the file and the image)."""
    start = 0
    for batch in batches:
        finite = np.isfinite(batch).reshape(len(batch), -1).all(axis=1)
        if not finite.all():
            raise UserError(f"{path}: image {start + int(np.argmin(finite))} (of key 'x') holds NaN or Inf; "
                            f"expected finite generator outputs")
        start += len(batch)
        yield batch


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.num_inception_images < args.num_splits:
        raise UserError(f"--num-inception-images ({args.num_inception_images}) must be at least --num-splits "
                        f"({args.num_splits})")
    if args.cluster:
        cluster_options.parse_address(args.cluster)  # a mistyped address is refused before the Inception export
    images_path = args.gen_img or f"./gen_img_bs{args.batch_size}.npz"
    moments_path = args.moments or f"./{args.dataset}_inception_moments.npz"
    log_path = args.log or f"./biggan_acc_eval_bs{args.batch_size}.log"
    json_path = args.json or f"./biggan_acc_eval_bs{args.batch_size}.json"
    report_path = report.target(args, log_path)
    staging.check_apart(  # the defaults derived from --batch-size and --dataset too
        reads=[("--gen-img", images_path), ("--gen-y", args.gen_y), ("--moments", moments_path),
               ("--inception-weights", args.inception_weights)],
        writes=[("--log", log_path), ("--json", json_path), ("--report", report_path),
                ("--report", report_path and report.png_path(report_path))])
    count = args.num_inception_images
    # the classes of the run that made the inputs, and images from one postprocess run
    records.check_same_run(args.gen_y, images_path)
    available = check_images(images_path, args.gen_y, count)
    mu_ref, sigma_ref = metrics.load_moments(moments_path)
    from common import inception  # torch, once every input is checked (a mistake is one line, at once)

    net = inception.InceptionFeatures(args.inception_weights, cache=args.cache)
    if count < mu_ref.size:
        print(f"warning: {count} images give a rank-deficient covariance of the {mu_ref.size}-d features; "
              f"FID is then exact for these samples but strongly biased upwards (use 50,000)", file=sys.stderr)

    print("Calculating Inception metrics...")
    start = time.perf_counter()
    pool, logits = inception.inception_features(
        net, finite_batches(images_path, npz.iter_npz_batches(images_path, "x", args.inception_batch, limit=count)),
        total=count, cluster=args.cluster, cluster_timeout=args.cluster_timeout)
    if pool.shape[1] != mu_ref.size:
        raise UserError(f"{moments_path}: statistics of {mu_ref.size} dimensions, the Inception pool has {pool.shape[1]}")
    is_mean, is_std = metrics.inception_score(logits, args.num_splits)
    split_scores = metrics.inception_split_scores(logits, args.num_splits)
    fid = metrics.fid_from_features(pool, mu_ref, sigma_ref, details=True)
    seconds = time.perf_counter() - start
    line = (f"Noise variance {1.0:3.3f}, over {count} images, PYTORCH UNOFFICIAL Inception Score is "
            f"{is_mean:3.3f} +/- {is_std:3.3f}, PYTORCH UNOFFICIAL FID is {fid['fid']:5.4f}")
    print(line)
    weights = origins.weights()  # stand-in generator or Inception weights are said first in every output
    if report_path is not None:
        write_report(report_path, args, (count, is_mean, is_std, fid["fid"], split_scores), images_path,
                     [f"images:  {images_path}", f"moments: {moments_path}",
                      f"Inception weights: {args.inception_weights}", f"log: {log_path}", f"JSON: {json_path}"],
                     weights)
    staging.write_text(log_path, "\n".join([*origins.log_lines(weights), line]) + "\n")
    fileio.write_json(json_path, {
        **origins.json_fields(weights),
        "is_mean": is_mean, "is_std": is_std, "fid": fid["fid"], "num_images": count, "images_available": available,
        "num_splits": args.num_splits, "images": images_path, "labels": args.gen_y, "moments": moments_path,
        "inception_weights": args.inception_weights, "fid_details": fid, "seconds": seconds,
        "is_splits": split_scores, "report": None if report_path is None else str(report_path),
        "inception": "torchvision inception_v3, (x+1)/2, ImageNet mean/std, bilinear 299 align_corners=True, "
                     "2048-d pool, 1000-way logits with bias (BigGAN-PyTorch's PYTORCH UNOFFICIAL metrics)",
    })
    print(f"written: {log_path}, {json_path}" + (f", {report_path} (and .png)" if report_path else ""))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
