"""Dask clusters started as separate processes on 127.0.0.1, for the cluster tests and the benchmark."""
import os
import sys
import time
from pathlib import Path


class LoopbackProcesses:
    """A Dask cluster on this machine the way the README starts one, for the tests and the benchmark:
    `dask scheduler --host 127.0.0.1 --port 0` and `dask worker --host 127.0.0.1 --nthreads <threads>` as
    subprocesses of this Python (`python -m distributed.cli.dask_*`), their dashboards and HTTP pages on loopback
    too, their files in `folder`. Workers run without a nanny, so that each process is the worker itself and
    killing it by its pid kills the worker. stop() (or leaving the `with` block) kills every process it started,
    and those given to track(), by pid."""

    START_DEADLINE = 60  # seconds for a scheduler or a worker to come up on a loaded machine
    LOOPBACK_HTTP = ("--no-dashboard", "--dashboard-address", "127.0.0.1:0")  # else Dask's HTTP binds 0.0.0.0

    def __init__(self, folder, threads=1):
        self.folder, self.threads = Path(folder), threads
        self.folder.mkdir(parents=True, exist_ok=True)
        self.scheduler_file = self.folder / "scheduler.json"
        self.env = {**os.environ, "DASK_TEMPORARY_DIRECTORY": str(self.folder)}
        self.scheduler, self.workers, self.others, self.address = None, [], [], None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _start(self, module, *argv, log):
        import subprocess

        with open(self.folder / log, "wb") as out:
            return subprocess.Popen([sys.executable, "-m", module, *argv], stdout=out, stderr=subprocess.STDOUT,
                                    cwd=self.folder, env=self.env)

    def start_scheduler(self):
        """Start the scheduler; its address (read from its scheduler file)."""
        import json

        self.scheduler = self._start("distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                     "--scheduler-file", str(self.scheduler_file), *self.LOOPBACK_HTTP,
                                     "--idle-timeout", "900", log="scheduler.log")
        deadline = time.monotonic() + self.START_DEADLINE
        while not self.scheduler_file.is_file() or not self.scheduler_file.read_text().strip().endswith("}"):
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the scheduler did not start: {(self.folder / 'scheduler.log').read_text()}")
            time.sleep(0.1)
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        return self.address

    def add_workers(self, count):
        """Start `count` workers and wait until the scheduler has all live ones; the new processes."""
        started = []
        for _ in range(count):
            k = len(self.workers)
            self.workers.append(self._start(
                "distributed.cli.dask_worker", "--scheduler-file", str(self.scheduler_file), "--host", "127.0.0.1",
                "--nthreads", str(self.threads), *self.LOOPBACK_HTTP, "--no-nanny",
                "--local-directory", str(self.folder / f"worker{k}"), "--death-timeout", "60", log=f"worker{k}.log"))
            started.append(self.workers[-1])
        self.wait_for_workers(sum(p.poll() is None for p in self.workers))
        return started

    def wait_for_workers(self, count):
        import distributed

        with distributed.Client(self.address, timeout=self.START_DEADLINE, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=self.START_DEADLINE)

    def track(self, process):
        """Stop `process` (a subprocess.Popen run against this cluster) with the cluster."""
        self.others.append(process)
        return process

    def stop(self):
        processes = [p for p in (*self.others, *self.workers, self.scheduler) if p is not None]
        for process in processes:
            if process.poll() is None:
                process.kill()
        for process in processes:
            process.wait(timeout=15)
