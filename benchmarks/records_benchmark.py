"""What checking a run record costs (records.check_same_run), before and after stat data came first.

    python3 benchmarks/records_benchmark.py                  # 50,000 files of 64 bytes, 3 runs
    python3 benchmarks/records_benchmark.py --files 5000 --size 4096 --runs 5

Writes a result folder of --files small files through staging.OutputSet (so it gets its run record), then times,
alternately in one process (median of --runs, files in the page cache for all three):
- listing: os.scandir of the folder and an lstat of every file, the floor;
- before: the previous check, a digest of every byte of every file (the record's old "digest" field);
- after: records.check_same_run as it is now: the stat data of every file against its record (like git's
  index), a digest only of the files whose stat data differ (none here).
Then one file is rewritten (same size, other bytes) and the check must refuse it: the speed-up is not bought by
not looking. A measurement, not a test: timings depend on the machine's load.
"""
import hashlib
import os
import stat
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np  # noqa: E402

from common import cli, errors, records, staging  # noqa: E402


def digest_every_byte(path):
    """The previous record check: one SHA-256 over every name, type, size and byte of the folder."""
    digest = hashlib.sha256()
    for root, folders, files in os.walk(path):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(n for n in files if not n.startswith(".")):
            file = os.path.join(root, name)
            info = os.lstat(file)
            digest.update(f"{os.path.relpath(file, path)}\0{stat.S_IFMT(info.st_mode)}\0{info.st_size}\0".encode())
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def listing(path):
    return [entry.stat(follow_symlinks=False).st_size for entry in os.scandir(path)]


def median_ms(function, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main(argv=None):
    parser = cli.parser(__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=cli.positive_int, default=50000, help="files in the result folder")
    parser.add_argument("--size", type=cli.positive_int, default=64, help="bytes per file")
    parser.add_argument("--runs", type=cli.positive_int, default=3, help="timed runs of each check (median)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "bs1"
        data = np.random.default_rng(0).integers(0, 256, (args.files, args.size), dtype=np.uint8)
        start = time.perf_counter()
        with staging.OutputSet("records_benchmark.py") as outputs:
            folder = outputs.folder(result, replaceable=(".bin",))
            for i, row in enumerate(data):
                (folder / f"input_{i:05d}_0.bin").write_bytes(row.tobytes())
        write_s = time.perf_counter() - start
        record_bytes = (result.parent / f".{result.name}{records.RECORD_SUFFIX}").stat().st_size
        marks = {"listing": [], "before": [], "after": []}
        for _ in range(args.runs):  # alternately, so that the machine's load falls on all three alike
            marks["listing"].append(median_ms(lambda: listing(result), 1))
            marks["before"].append(median_ms(lambda: digest_every_byte(result), 1))
            marks["after"].append(median_ms(lambda: records.check_same_run(result), 1))
        listing_ms, before_ms, after_ms = (statistics.median(marks[k]) for k in ("listing", "before", "after"))
        (result / "input_00007_0.bin").write_bytes(bytes(255 - b for b in data[7]))  # same size, other bytes
        try:
            records.check_same_run(result)
            refused = False
        except errors.UserError:
            refused = True
    print(f"{args.files} files of {args.size} bytes (written with their record in {write_s:.1f} s; record "
          f"{record_bytes / 2 ** 20:.1f} MiB), median of {args.runs} runs:")
    print(f"  listing (scandir + lstat)        {listing_ms:9.1f} ms")
    print(f"  before: digest of every byte     {before_ms:9.1f} ms")
    print(f"  after:  check_same_run, stat     {after_ms:9.1f} ms")
    print(f"  before/after {before_ms / after_ms:.1f}x; after/listing {after_ms / listing_ms:.1f}x; "
          f"one rewritten file refused: {refused}")
    return 0 if refused else 1


if __name__ == "__main__":
    sys.exit(cli.run(main))
