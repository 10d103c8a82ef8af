"""FID speed and agreement: common.metrics.frechet_distance vs the classic scipy sqrtm formula.

    python3 benchmarks/fid_benchmark.py                 # 2048-d statistics, 5 runs of ours, 3 of scipy's

Both take the same float64 statistics, dense and not commuting, with the spectrum of Inception pool features
(eigenvalues from 10 down to 1e-4, condition number 1e5). Prints the median time of each, their ratio and the
relative difference of the two FIDs, and checks ours against the closed form on diagonal statistics of the
same spectrum. A measurement, not a test: timings depend on the machine and its load.
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np

from common import cli, metrics


def spectrum(d):
    return 10.0 * (1e-5) ** (np.arange(d) / (d - 1))


def dense_statistics(d, seed):
    rng = np.random.default_rng(seed)
    stats = []
    for k in range(2):
        q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        values = spectrum(d) * (np.exp(rng.uniform(-0.5, 0.5, d)) if k else 1.0)
        sigma = (q * values) @ q.T
        stats += [rng.normal(0.3, 0.1, d), (sigma + sigma.T) / 2.0]
    return stats


def timed(function, args, repeats):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function(*args)
        times.append(time.perf_counter() - start)
    return value, statistics.median(times), times


def dimension(text):
    """argparse type of --dim: the spectrum runs from the first to the last of at least two dimensions."""
    import argparse

    value = cli.positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"{value} is below 2")
    return value


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--dim", type=dimension, default=2048, help="dimension of the statistics (at least 2)")
    p.add_argument("--repeats", type=cli.positive_int, default=5, help="runs of frechet_distance")
    p.add_argument("--scipy-repeats", type=cli.positive_int, default=3,
                   help="runs of the scipy sqrtm formula (slow)")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the statistics")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    d = args.dim
    stats = dense_statistics(d, args.seed)
    ours, t_ours, all_ours = timed(metrics.frechet_distance, stats, args.repeats)
    theirs, t_scipy, all_scipy = timed(metrics.scipy_frechet_distance, stats, args.scipy_repeats)
    rng = np.random.default_rng(args.seed + 1)
    a, b = spectrum(d), spectrum(d) * np.exp(rng.uniform(-0.5, 0.5, d))
    mu1, mu2 = rng.normal(0.3, 0.1, d), rng.normal(0.3, 0.1, d)
    closed = float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    diagonal = metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    print(f"dense {d}-d statistics (condition number 1e5), {os.cpu_count()} CPU(s)")
    print(f"  frechet_distance (Cholesky + eigvalsh): FID {ours:.12f}, median {t_ours:.3f} s "
          f"(runs {', '.join(f'{t:.2f}' for t in all_ours)})")
    print(f"  scipy sqrtm formula:                    FID {theirs:.12f}, median {t_scipy:.3f} s "
          f"(runs {', '.join(f'{t:.2f}' for t in all_scipy)})")
    print(f"  time ratio scipy / ours: {t_scipy / t_ours:.1f}x; relative difference {abs(ours - theirs) / theirs:.2e}")
    print(f"  diagonal statistics: closed form {closed:.12f}, ours {diagonal:.12f}, "
          f"relative error {abs(diagonal - closed) / closed:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
