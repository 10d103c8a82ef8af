"""--cluster (common/cluster.py): the runner and the Inception step on a real Dask cluster, started as the README
says (`dask scheduler`, `dask worker`) as subprocesses on 127.0.0.1 only, against one-process runs of the same
models on the same files: byte-identical outputs, the same names and a valid summary; a worker killed mid-run,
the last worker killed, the scheduler killed, a closed port; local:N; IS/FID equal. Issue 23, rules 6 and 7: a
silent and a garbage listener as scheduler, bad local:N, host names and timeouts; two clients on one cluster at
once; local:N's private scratch folder; a model with external data. Issue 25, item 4: a second run on a kept
cluster sends no model.

Every process a test starts is stopped by its pid at the end, pass or fail (loopback.LoopbackProcesses). The
workers run without a nanny (`--no-nanny`), so that each `dask worker` process is the worker itself: killing it
by its pid kills the worker, and nothing is left running behind it.
"""
import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import loopback
from common import cluster, cluster_code, cluster_worker, inception, infer, metrics, npz
from common.errors import UserError

import biggan_eval_acc
import biggan_model
import biggan_preprocess
import biggan_pth2onnx
import dcgan_model
import dcgan_preprocess
import dcgan_pth2onnx

ROOT = Path(__file__).resolve().parents[1]
INFER = ROOT / "common" / "infer.py"


def run_infer(processes, argv):
    """infer.py as a subprocess against the cluster `processes` (stopped with it), stderr as bytes: a progress
    bar's \r stays a \r."""
    return processes.track(subprocess.Popen([sys.executable, str(INFER), *argv], stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE))


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    with loopback.LoopbackProcesses(tmp_path_factory.mktemp("dask")) as processes:
        address = processes.start_scheduler()
        assert address.startswith("tcp://127.0.0.1:")
        processes.add_workers(2)
        yield address


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """DCGAN (random checkpoint, 100 noise files) and BigGAN at G_ch 8 (2 inputs of noise and label), exported as
    the READMEs do, and a one-process run of each."""
    d = tmp_path_factory.mktemp("models")
    dcgan_pth2onnx.main([str(dcgan_model.random_checkpoint(d / "dcgan.pth")), str(d / "dcgan.onnx")])
    dcgan_preprocess.main([str(d / "prep_dataset"), "--num", "100"])
    biggan_pth2onnx.main(["--source", str(biggan_model.random_checkpoint(d / "G_ema.pth", 8, seed=0)),
                          "--target", str(d / "biggan.onnx")])
    biggan_preprocess.main(["--pth", str(d / "G_ema.pth"), "--num-inputs", "2", "--prep-noise", str(d / "prep_noise"),
                            "--prep-label", str(d / "prep_label"), "--gen-y", str(d / "gen_y.npz")])
    jobs = {"dcgan": ["--model", str(d / "dcgan.onnx"), "--input", str(d / "prep_dataset"), "--batchsize", "16"],
            "biggan": ["--model", str(d / "biggan.onnx"), "--input", f"{d / 'prep_noise'},{d / 'prep_label'}",
                       "--batchsize", "1"]}
    jobs["dcgan_openvino"] = [*jobs["dcgan"], "--backend", "openvino"]
    for name, argv in jobs.items():
        assert infer.main([*argv, "--output", str(d / "result"), "--output_dirname", f"{name}_one"]) == 0
    return d, jobs


def outputs_of(folder):
    """{name: bytes} of a result folder."""
    return {path.name: path.read_bytes() for path in sorted(Path(folder).iterdir())}


def assert_same_run(result, one, other):
    """Folder `other` holds the files of folder `one`, byte for byte, and its summary the same filesinfo."""
    assert outputs_of(result / other) == outputs_of(result / one)
    ours = json.loads((result / f"{other}_summary.json").read_text())
    theirs = json.loads((result / f"{one}_summary.json").read_text())
    assert json.dumps(ours["filesinfo"]).replace(f"/{other}/", f"/{one}/") == json.dumps(theirs["filesinfo"])
    return ours, theirs


@pytest.mark.parametrize("name", ["dcgan", "biggan", "dcgan_openvino"])
def test_cluster_writes_the_files_of_a_one_process_run(models, dask_cluster, name, capsys):
    d, jobs = models
    capsys.readouterr()
    assert infer.main([*jobs[name], "--output", str(d / "result"), "--output_dirname", f"{name}_cluster",
                       "--cluster", dask_cluster]) == 0
    printed = capsys.readouterr().out
    ours, theirs = assert_same_run(d / "result", f"{name}_one", f"{name}_cluster")

    batches = 2 if name == "biggan" else 7  # 2 files at 1 a batch; 100 at 16, the last padded
    assert len(ours["filesinfo"]) == len(theirs["filesinfo"]) == (2 if name == "biggan" else 100)
    assert ours["cluster"] == dask_cluster and len(ours["npu_compute_time_list"]) == batches
    assert ours["NPU_compute_time"]["count"] == batches and ours["non_finite_batches"] == 0
    assert ours["backend"] == theirs["backend"] and ours["precision"] == theirs["precision"] == "f32"
    workers = ours["workers"]
    assert sum(w["batches"] for w in workers) == batches and all(w["threads"] == 1 for w in workers)
    assert all(w["address"].startswith("tcp://127.0.0.1:") and w["compute_ms"] > 0 for w in workers)
    assert ours["throughput"] == pytest.approx(sum(w["throughput"] for w in workers))
    for w in workers:
        assert w["throughput"] == pytest.approx(1000.0 * ours["batchsize"] * w["batches"] / w["compute_ms"])
    # the runner's Performance Summary, then ais_bench's multi-device lines, a worker's address for a device
    assert "[INFO] -----------------Performance Summary------------------" in printed
    lines = [line for line in printed.splitlines() if line.startswith("i:")]
    assert len(lines) == len(workers)
    for k, (line, w) in enumerate(zip(lines, workers)):
        assert re.fullmatch(rf"i:{k} {re.escape(w['address'])} throughput:[0-9.e+-]+ start_time:[0-9.]+ "
                            rf"end_time:[0-9.]+", line), line
    assert f"[INFO] summary throughput:{ours['throughput']}" in printed


def worker_code(address):
    """{worker: the places its `common` modules were imported from} (a zip's path ends in .zip)."""
    import distributed

    def origins():
        return sorted({str(getattr(m, "__file__", "")).split("/common/")[0] for name, m in list(sys.modules.items())
                       if name == "common" or name.startswith("common.")})

    with distributed.Client(address, timeout=60, set_as_default=False) as client:
        return client.run(origins)


def test_workers_run_the_code_of_the_client_at_hand(models, dask_cluster, tmp_path):
    """A long-lived worker that ran another copy of common/ (here: one comment more) runs the next client's own."""
    d, jobs = models
    other = tmp_path / "other"
    (other / "common").mkdir(parents=True)
    for path in (ROOT / "common").glob("*.py"):
        (other / "common" / path.name).write_bytes(path.read_bytes())
    with open(other / "common" / "facts.py", "a") as handle:
        handle.write("# another version of the project\n")
    done = subprocess.run([sys.executable, str(other / "common" / "infer.py"), *jobs["dcgan"], "--output",
                           str(d / "result"), "--output_dirname", "dcgan_other", "--cluster", dask_cluster],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert_same_run(d / "result", "dcgan_one", "dcgan_other")
    theirs = worker_code(dask_cluster)
    assert infer.main([*jobs["dcgan"], "--output", str(d / "result"), "--output_dirname", "dcgan_ours",
                       "--cluster", dask_cluster]) == 0
    ours = worker_code(dask_cluster)
    mine = cluster_code.code_zip_name(cluster_code.code_zip()[1])
    assert len(ours) == 2 and all(len(places) == 1 and places[0].endswith(mine) for places in ours.values()), ours
    assert all(len(places) == 1 and places[0].endswith(".zip") and not places[0].endswith(mine)
               for places in theirs.values()), theirs


def external_data_copy(model, folder):
    """`model` saved again with its weights in an external data file beside it (`<name>.data`), as exporters write
    models past 2 GB; the copy's path."""
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{model.stem}_external.onnx"
    onnx.save(onnx.load(str(model)), str(target), save_as_external_data=True, all_tensors_to_one_file=True,
              location=f"{target.name}.data", size_threshold=0)
    assert (folder / f"{target.name}.data").stat().st_size > target.stat().st_size  # the weights are outside
    return target


@pytest.fixture()
def private_tmp(tmp_path, monkeypatch):
    """A temporary folder of this test's own as the system's (tempfile.gettempdir and $TMPDIR, which Dask's
    processes inherit): what a run leaves there is seen."""
    import tempfile

    scratch = tmp_path / "system_tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))
    return scratch


def test_local_cluster_runs_a_model_with_external_data_as_one_process_does(models, tmp_path, private_tmp):
    """Issue 23, rule 7: a model whose weights are in a `.onnx.data` file beside it runs on local:2 and gives the
    files of the one-process run on the same files (itself those of the one-file model); local:N's files stay in a
    private folder that is gone at the end."""
    d, jobs = models
    model = external_data_copy(d / "dcgan.onnx", tmp_path / "external")
    job = [*jobs["dcgan"], "--model", str(model), "--output", str(tmp_path / "result")]
    assert infer.main([*job, "--output_dirname", "one"]) == 0
    assert outputs_of(tmp_path / "result" / "one") == outputs_of(d / "result" / "dcgan_one")
    assert infer.main([*job, "--output_dirname", "local", "--cluster", "local:2"]) == 0
    ours, _ = assert_same_run(tmp_path / "result", "one", "local")
    assert ours["cluster"] == "local:2" and len(ours["workers"]) == 2
    assert all(w["address"].startswith("tcp://127.0.0.1:") for w in ours["workers"])
    # no dask-scratch-space, no model folder: only what importing onnxruntime leaves in any process (its .ses)
    assert [p.name for p in private_tmp.iterdir() if p.name != ".ses"] == []
    assert sorted(p.name for p in model.parent.iterdir()) == [model.name, f"{model.name}.data"]


def test_the_files_a_worker_gets_are_those_one_process_reads(models, tmp_path):
    """cluster_worker.model_files: the .onnx alone, or with the external data file its tensors name; a location outside the
    model's folder, or a missing file, is one line."""
    import onnx

    d, _ = models
    files, digest = cluster_worker.model_files(d / "dcgan.onnx")
    assert list(files) == ["dcgan.onnx"] and files["dcgan.onnx"] == (d / "dcgan.onnx").read_bytes()
    model = external_data_copy(d / "dcgan.onnx", tmp_path / "external")
    files, other = cluster_worker.model_files(model)
    assert list(files) == [model.name, f"{model.name}.data"] and other != digest
    proto = onnx.load(str(model), load_external_data=False)
    for location, message in (("../outside.data", "is not a file inside the model's folder"),
                              ("/etc/hostname", "is not a file inside the model's folder"),
                              ("missing.data", "missing.data: no such external data file")):
        for tensor in proto.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
        onnx.save(proto, str(tmp_path / "external" / "moved.onnx"))
        with pytest.raises(UserError, match=message):
            cluster_worker.model_files(tmp_path / "external" / "moved.onnx")


def test_local_cluster_keeps_its_files_in_a_private_folder_removed_at_the_end(private_tmp):
    """Issue 23, rule 7: local:N's scheduler and workers keep their files (where the workers import the client's
    code from) in one mkdtemp folder (mode 700), not in the shared, predictable /tmp/dask-scratch-space."""
    with cluster.connect("local:2", 60, ["numpy"]) as session:
        folders = session.client.run(lambda dask_worker: dask_worker.local_directory)
        tops = {Path(folder).relative_to(private_tmp).parts[0] for folder in folders.values()}
        assert len(folders) == 2 and len(tops) == 1, folders
        top = private_tmp / tops.pop()
        assert top.name.startswith("gan-zoo-dask-") and (top.stat().st_mode & 0o777) == 0o700
        assert [p.name for p in private_tmp.iterdir() if p.name != ".ses"] == [top.name]
        zips = session.client.run(lambda dask_worker: sorted(p.name for p in Path(dask_worker.local_directory).iterdir()
                                                             if p.suffix in (".zip", ".part")))
        assert all(names == [cluster_code.code_zip_name(cluster_code.code_zip()[1])] for names in zips.values()), zips
    assert [p.name for p in private_tmp.iterdir() if p.name != ".ses"] == []


def test_code_is_stored_once_under_its_digest_never_rewritten(tmp_path, monkeypatch):
    """Issue 23, rule 7: the worker side of the code plugin. The zip lands whole under its sha256 name; a second
    store (another run, at once or later) finds it and writes nothing (here: writing would fail); a file under that
    name with other bytes is refused; past CODE_KEPT zips the least recently used other ones are removed."""
    import tempfile

    data, digest = cluster_code.code_zip()
    name = cluster_code.code_zip_name(digest)
    path = cluster_code.store_code(str(tmp_path), name, data, 4)
    assert Path(path) == tmp_path / name and Path(path).read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary left
    inode = os.stat(path).st_ino
    with monkeypatch.context() as patch:
        patch.setattr(tempfile, "mkstemp", lambda *a, **k: pytest.fail("the stored code was written again"))
        assert cluster_code.store_code(str(tmp_path), name, data, 4) == path
    assert os.stat(path).st_ino == inode and Path(path).read_bytes() == data

    forged = cluster_code.code_zip_name("0" * 64)
    (tmp_path / forged).write_bytes(data)
    with pytest.raises(RuntimeError, match="does not hold the code it is named after"):
        cluster_code.store_code(str(tmp_path), forged, data, 4)
    (tmp_path / forged).unlink()

    others = []
    for k in range(4):  # older zips of other code, the oldest first
        other = b"other code %d" % k
        others.append(cluster_code.code_zip_name(hashlib.sha256(other).hexdigest()))
        (tmp_path / others[-1]).write_bytes(other)
        os.utime(tmp_path / others[-1], (1000 + k, 1000 + k))
    cluster_code.store_code(str(tmp_path), name, data, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, *others[1:]])  # the oldest removed


def test_two_clients_at_once_on_one_cluster_write_the_files_of_one_process(models, dask_cluster, tmp_path):
    """Issue 23, rule 7: two runs at once on one cluster (the same code, stored under one name that neither
    rewrites), both byte-identical to one process."""
    d, jobs = models
    runs = {name: subprocess.Popen([sys.executable, str(INFER), *jobs[name], "--output", str(tmp_path / "result"),
                                    "--output_dirname", f"{name}_together", "--cluster", dask_cluster],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for name in ("dcgan", "biggan")}
    try:
        done = {name: run.communicate(timeout=300) for name, run in runs.items()}
    finally:
        for run in runs.values():
            if run.poll() is None:
                run.kill()
                run.wait(timeout=15)
    for name, run in runs.items():
        assert run.returncode == 0, done[name][1].decode()
        assert outputs_of(tmp_path / "result" / f"{name}_together") == outputs_of(d / "result" / f"{name}_one")


def worker_backends(address):
    """{worker: {model sha256: id of the backend its process keeps}} (common.cluster_worker as the worker imported
    it)."""
    import distributed

    def kept():
        from common import cluster_worker as worker_side

        return {key[0]: id(loaded.backend) for key, loaded in worker_side._BACKENDS.items()}

    with distributed.Client(address, timeout=60, set_as_default=False) as client:
        return client.run(kept)


def test_a_second_run_on_a_kept_cluster_sends_no_model(models, tmp_path, capsys):
    """Issue 25, item 4: the first run on a fresh cluster sends the model to both workers; the second sends none (the
    same backend objects serve it); a worker that joins later gets it from the next run, alone."""
    d, jobs = models
    job = [*jobs["biggan"], "--output", str(tmp_path / "result")]
    digest = cluster_worker.model_files(d / "biggan.onnx")[1]
    with loopback.LoopbackProcesses(tmp_path / "dask") as processes:
        address = processes.start_scheduler()
        processes.add_workers(2)
        printed = []
        for k in range(3):
            if k == 2:
                processes.add_workers(1)
            capsys.readouterr()
            assert infer.main([*job, "--output_dirname", f"run{k}", "--cluster", address]) == 0
            printed.append([line for line in capsys.readouterr().out.splitlines() if "[INFO] cluster: model" in line])
            assert outputs_of(tmp_path / "result" / f"run{k}") == outputs_of(d / "result" / "biggan_one")
            if k == 0:
                first = worker_backends(address)
                assert len(first) == 2 and all(list(kept) == [digest] for kept in first.values()), first
            if k == 1:
                assert worker_backends(address) == first  # the very objects of the first run: nothing sent
    assert len(printed[0]) == 1 and re.fullmatch(rf"\[INFO\] cluster: model {digest[:12]} \([0-9,]+ (MB|bytes)\) "
                                                 rf"sent to 2 of 2 worker\(s\)", printed[0][0]), printed
    assert printed[1][0].endswith("kept by all 2 worker(s) from an earlier run, not sent"), printed
    assert printed[2][0].endswith("sent to 1 of 3 worker(s)"), printed


def test_inception_scores_on_the_cluster_equal_one_process(dask_cluster, tmp_path):
    """biggan_eval_acc.py with and without --cluster on seeded random Inception weights: the same IS and FID."""
    rng = np.random.default_rng(0)
    npz.write_npz(tmp_path / "gen.npz", x=np.tanh(rng.standard_normal((10, 3, 128, 128))).astype(np.float32))
    npz.write_npz(tmp_path / "y.npz", y=np.arange(10))
    metrics.save_moments(tmp_path / "m.npz", rng.standard_normal(2048) * 0.1, np.diag(rng.uniform(0.5, 1.5, 2048)))
    inception.write_random_inception_weights(tmp_path / "inception.pth")
    common = ["--gen-img", str(tmp_path / "gen.npz"), "--gen-y", str(tmp_path / "y.npz"), "--moments",
              str(tmp_path / "m.npz"), "--inception-weights", str(tmp_path / "inception.pth"),
              "--num-inception-images", "10", "--num-splits", "2", "--inception-batch", "4", "--no_report"]
    scores = {}
    for how, extra in (("one", []), ("cluster", ["--cluster", dask_cluster])):
        assert biggan_eval_acc.main([*common, *extra, "--log", str(tmp_path / f"{how}.log"),
                                     "--json", str(tmp_path / f"{how}.json")]) == 0
        scores[how] = json.loads((tmp_path / f"{how}.json").read_text())
    for key in ("is_mean", "is_std", "fid"):
        assert scores["cluster"][key] == pytest.approx(scores["one"][key], rel=1e-9, abs=0), key
    assert scores["cluster"]["is_splits"] == pytest.approx(scores["one"]["is_splits"], rel=1e-9, abs=0)
    assert (tmp_path / "cluster.log").read_text() == (tmp_path / "one.log").read_text()


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on leaving: nothing listens there


class Listener:
    """A TCP listener on 127.0.0.1 that plays a scheduler gone wrong: it accepts, sends `answer` (nothing: it stays
    silent; None: it closes at once) and keeps the connection open until the listener is closed."""

    def __init__(self, answer):
        import threading

        self.answer, self.connections = answer, []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:  # closed
                return
            if self.answer is None:
                connection.close()
                continue
            self.connections.append(connection)
            with contextlib.suppress(OSError):
                connection.sendall(self.answer)

    def close(self):
        self.sock.close()
        for connection in self.connections:
            connection.close()
        self.thread.join(timeout=10)


@pytest.mark.parametrize("answer, message", [
    # accepts, never answers: the probe's deadline or the watchdog's, whichever says so first
    (b"", "no Dask scheduler answered within 3 s ("),
    (None, "no Dask scheduler answered within 3 s (ConnectionError: the peer closed the connection)"),
    (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "the peer is not a Dask scheduler (it announced a "
                                                                "message of 3,543,824,036,068,086,856 bytes"),
    (bytes(range(7, 71)), "the peer is not a Dask scheduler (it announced a message of 1,012,478,732,780,767,239 "
                          "bytes"),
    (struct.pack("Q", 200) + b"\x00" * 20, "no Dask scheduler answered within 3 s ("),  # 20 bytes of 200
    ("closed port", "no Dask scheduler answered within 3 s ("),  # refused until the deadline
], ids=["silent", "closes", "http", "garbage", "short", "closed_port"])
def test_a_scheduler_that_is_not_one_is_one_error_line_within_the_timeout(models, tmp_path, answer, message):
    """Issue 23, rule 6: whatever listens (or nothing), the runner ends within --cluster_timeout after its imports
    (bounded here by the subprocess's own timeout: a hang fails the test) with one line and no output."""
    d, jobs = models
    listener = None if answer == "closed port" else Listener(answer)
    address = listener.address if listener else f"tcp://127.0.0.1:{closed_port()}"
    try:
        done = subprocess.run([sys.executable, str(INFER), *jobs["dcgan"], "--output", str(tmp_path / "result"),
                               "--cluster", address, "--cluster_timeout", "3"], capture_output=True, text=True,
                              timeout=120)
    finally:
        if listener:
            listener.close()
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: --cluster {address}: {message}"), done.stderr
    assert not (tmp_path / "result").exists()


@pytest.mark.parametrize("extra, message", [
    (["--cluster", "local:²"], r"--cluster 'local:²': local:N needs a number of worker processes from 1 to this "
                                r"machine's \d+ cores"),
    (["--cluster", "local:٢"], "local:N needs a number of worker processes"),
    (["--cluster", f"local:{(os.cpu_count() or 1) + 1}"], "local:N needs a number of worker processes"),
    (["--cluster", "local:" + "9" * 400], "local:N needs a number of worker processes"),
    (["--cluster", "local:-1"], "local:N needs a number of worker processes"),
    (["--cluster", "tcp://" + "a" * 300 + ":8786"], "expected a Dask scheduler address tcp://host:port"),
    (["--cluster", "tcp://" + ".".join(["a" * 63] * 4) + ":8786"], "expected a Dask scheduler address"),
    (["--cluster", "tcp://schéduler:8786"], "expected a Dask scheduler address"),
    (["--cluster", "tcp://10.0.0.1:99999"], "expected a Dask scheduler address"),
    (["--cluster", "tcp://[::g]:8786"], "expected a Dask scheduler address"),
])
def test_bad_cluster_addresses_are_refused_before_any_work(models, tmp_path, extra, message):
    d, jobs = models
    with pytest.raises(UserError, match=message):
        infer.main([*jobs["dcgan"], "--output", str(tmp_path / "result"), *extra])
    assert not (tmp_path / "result").exists()


@pytest.mark.parametrize("value", ["0", "3601", "10" + "0" * 12, "inf", "nan", "1e3", "-1", "١٠", ""])
def test_cluster_timeout_is_bounded(models, tmp_path, value, capsys):
    d, jobs = models
    with pytest.raises(SystemExit) as raised:
        infer.main([*jobs["dcgan"], "--output", str(tmp_path / "result"), "--cluster", "local:1",
                    "--cluster_timeout", value])
    err = capsys.readouterr().err
    assert raised.value.code == 2 and err.count("\n") == 1 and "--cluster_timeout" in err, err
    assert not (tmp_path / "result").exists()


@pytest.mark.parametrize("extra, message", [
    (["--cluster", "10.0.0.1"], r"--cluster '10\.0\.0\.1': expected a Dask scheduler address tcp://host:port"),
    (["--cluster", "http://127.0.0.1:8786"], "expected a Dask scheduler address"),
    (["--cluster", "local:0"], "local:N needs a number of worker processes from 1 to this machine's"),
    (["--cluster", "tls://127.0.0.1:1"], "Dask's TLS settings lack distributed.comm.tls.ca-file, "
                                         "distributed.comm.tls.client.cert"),
    (["--cluster", "local:2", "--device", "0,1", "--divide_input"], "--cluster and --device 0,1 both spread"),
    (["--cluster", "local:2", "--provider", "cuda"], "--cluster runs the workers' CPUs; --provider cuda"),
])
def test_cluster_options_that_cannot_work_are_refused(models, tmp_path, extra, message):
    d, jobs = models
    with pytest.raises(UserError, match=message):
        infer.main([*jobs["dcgan"], "--output", str(tmp_path / "result"), *extra])
    assert not (tmp_path / "result").exists()


def test_a_om_model_is_refused_on_a_cluster(tmp_path):
    (tmp_path / "m.om").write_bytes(b"om")
    with pytest.raises(UserError, match=r"m\.om: --cluster runs \.onnx models"):
        infer.main(["--model", str(tmp_path / "m.om"), "--cluster", "local:1"])


def test_versions_are_read_without_importing_the_packages():
    """A worker's version check runs inside the code-shipping deadline: reading torch's version must not import
    torch (seconds on a loaded machine); an absent package is None."""
    code = ("import sys; from common import cluster_code; "
            "v = cluster_code.versions(['torch', 'numpy', 'no_such_package_here']); "
            "print(v['torch'], v['numpy'], v['no_such_package_here'], 'torch' in sys.modules, 'numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    torch_version, numpy_version, absent, torch_imported, numpy_imported = done.stdout.split()
    assert (absent, torch_imported, numpy_imported) == ("None", "False", "False"), done.stderr
    import torch

    assert torch.__version__.startswith(torch_version) and numpy_version == np.__version__


def test_workers_with_other_versions_are_refused_by_name():
    here = {"numpy": "2.4.6", "onnxruntime": "1.32.0"}
    workers = {"tcp://10.0.0.2:4000": {"versions": here},
               "tcp://10.0.0.3:4000": {"versions": {"numpy": "2.4.6", "onnxruntime": "1.31.0"}}}
    with pytest.raises(UserError, match=r"^--cluster: worker tcp://10\.0\.0\.3:4000 has numpy 2\.4\.6, "
                                        r"onnxruntime 1\.31\.0, this client numpy 2\.4\.6, onnxruntime 1\.32\.0; "
                                        r"different versions"):
        cluster_code.check_versions(here, workers)
    cluster_code.check_versions(here, {"tcp://10.0.0.2:4000": {"versions": here}})


def wait_for_files(folder, dirname, count, process, deadline=60):
    """Until `process` has written `count` output files of the run `dirname` in `folder` (in its staged, hidden
    folder, whose name holds the final one)."""
    end = time.monotonic() + deadline
    while len([p for p in Path(folder).rglob("*.bin") if dirname in p.parent.name]) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < end, "the run wrote too few files in time"
        time.sleep(0.05)


def test_faults_a_lost_worker_is_replaced_and_a_lost_cluster_writes_nothing(models, tmp_path):
    """On a cluster of its own: a worker killed mid-run (the run completes with the same files), then the last
    worker killed mid-run (no worker left), then, with a new worker, the scheduler killed mid-run: exit status 2,
    one line, and no output folder."""
    d, jobs = models
    # DCGAN's 7 batches, each run 60 times: a few seconds, long enough to kill a process in the middle
    long_job = [*jobs["dcgan"], "--loop", "60", "--output", str(tmp_path / "result")]
    with loopback.LoopbackProcesses(tmp_path / "dask") as processes:
        address = processes.start_scheduler()
        first, second = processes.add_workers(2)

        run = run_infer(processes, [*long_job, "--output_dirname", "survived", "--cluster", address])
        wait_for_files(tmp_path / "result", "survived", 32, run)  # two batches written
        os.kill(first.pid, signal.SIGKILL)
        err = run.communicate(timeout=120)[1].decode()
        assert run.returncode == 0, err
        assert outputs_of(tmp_path / "result" / "survived") == outputs_of(d / "result" / "dcgan_one")
        summary = json.loads((tmp_path / "result" / "survived_summary.json").read_text())
        assert sum(w["batches"] for w in summary["workers"]) == 7

        for kill, name, why in ((second.pid, "no_worker", "no worker left"),
                                (None, "no_scheduler", "the scheduler is gone")):
            if kill is None:
                processes.add_workers(1)
                kill = processes.scheduler.pid
            run = run_infer(processes, [*long_job, "--output_dirname", name, "--cluster", address])
            wait_for_files(tmp_path / "result", name, 16, run)
            os.kill(kill, signal.SIGKILL)
            err = run.communicate(timeout=120)[1].decode()
            # one line: the progress bar above it was erased (\r, blanks, \r)
            last = err.split("\r")[-1]
            assert run.returncode == 2 and err.count("\n") == 1 and last.startswith(
                f"error: --cluster {address}: the run could not finish, {why}"), err
            assert "nothing was written" in last
            assert not (tmp_path / "result" / name).exists()
            assert not list((tmp_path / "result").glob(f"{name}_summary*"))
            assert not [p for p in (tmp_path / "result").iterdir() if name in p.name]  # no staged leftovers
