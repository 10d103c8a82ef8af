"""How common/cluster.py reaches a cluster: the address probed before Dask talks to it (a peer that is not a Dask
scheduler is refused, never waited on), the client opened and a first worker found by one deadline under a
watchdog, local:N started on loopback with its files in a private folder, Dask's own logging silenced."""
import contextlib
import logging
import os
import shutil
import socket
import struct
import tempfile
import threading
import time

import dask
import distributed
from distributed.security import Security

from common.errors import UserError

LOCAL_START = 60  # seconds for a worker process of local:N to start (Dask's death_timeout)
HANDSHAKE_BYTES = 1 << 16  # a Dask handshake is a few hundred bytes; a peer announcing more is not a Dask scheduler
TLS_SETTINGS = ("distributed.comm.tls.ca-file", "distributed.comm.tls.client.cert")  # what tls:// needs at least


def reason(err):
    """The first line of what Dask said, for the one-line error."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:300]}" if text else type(err).__name__


def within(deadline, work, late, message):
    """work() in a thread of its own, until `deadline` (time.monotonic()): its result or its exception, or a
    UserError(message) when it has not finished by then. The thread is then abandoned (a daemon: it cannot keep
    the process alive), and what it returns late goes to late() (a client to close)."""
    box, lock, finished = {}, threading.Lock(), threading.Event()

    def target():
        try:
            value = work()
        except BaseException as err:  # handed to the caller's thread
            box["error"] = err
        else:
            with lock:
                if box.get("abandoned"):
                    with contextlib.suppress(Exception):
                        late(value)
                    return
                box["value"] = value
        finished.set()

    threading.Thread(target=target, name="gan-zoo-cluster-connect", daemon=True).start()
    if not finished.wait(max(deadline - time.monotonic(), 0)):
        with lock:
            if "value" not in box and "error" not in box:
                box["abandoned"] = True
                raise UserError(message)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _receive(sock, count, deadline):
    """Exactly `count` bytes from `sock` by `deadline` (time.monotonic()), or socket.timeout / ConnectionError."""

    data = bytearray()
    while len(data) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        sock.settimeout(left)
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the peer closed the connection")
        data += chunk
    return bytes(data)


def _probe(kind, host, port, address, deadline, timeout):
    """Before Dask talks to the peer: connect (retrying a refused connection until the deadline, as Dask does for a
    scheduler that is starting; TLS with Dask's own settings for tls://) and read the handshake a Dask scheduler
    sends first. A peer that stays silent, closes, or announces more than HANDSHAKE_BYTES (garbage, HTTP) is one
    line; Dask itself would wait for a silent peer without end and allocate whatever length a peer announces."""

    delay = 0.05
    while True:
        try:
            raw = socket.create_connection((host, port), timeout=max(deadline - time.monotonic(), 0.001))
            break
        except OSError as err:
            if isinstance(err, socket.gaierror) or deadline - time.monotonic() < delay:
                raise UserError(f"--cluster {address}: no Dask scheduler answered within {timeout:g} s "
                                f"({reason(err)})") from None
            time.sleep(delay)
            delay = min(2 * delay, 1.0)
    try:
        with raw:
            sock = raw
            if kind == "tls":
                context = Security().get_connection_args("client")["ssl_context"]
                raw.settimeout(max(deadline - time.monotonic(), 0.001))
                sock = context.wrap_socket(raw)  # Dask's context checks the certificate, not the host name
            (size,) = struct.unpack("Q", _receive(sock, struct.calcsize("Q"), deadline))
            if size > HANDSHAKE_BYTES:
                raise UserError(f"--cluster {address}: the peer is not a Dask scheduler (it announced a message of "
                                f"{size:,} bytes; a Dask handshake is a few hundred)")
            _receive(sock, size, deadline)
    except OSError as err:  # socket.timeout, ssl.SSLError and ConnectionError are OSErrors
        raise UserError(f"--cluster {address}: no Dask scheduler answered within {timeout:g} s "
                        f"({reason(err)})") from None


def close_client(client, timeout=1):
    # A client whose scheduler is gone would spend `timeout` seconds trying to reconnect first.
    with contextlib.suppress(Exception):
        client.close(timeout=timeout if client.status == "running" else 1)


def open_client(kind, target, address, deadline, timeout):
    """The client on `target` (an address, probed first, or a LocalCluster) and a first worker, by `deadline`."""

    if kind != "local":
        _probe(kind, *target, address, deadline, timeout)
        target = address
    try:
        client = distributed.Client(target, timeout=max(deadline - time.monotonic(), 0.001), set_as_default=False)
    except Exception as err:  # OSError, TimeoutError, and what a peer that is not Dask makes it raise
        raise UserError(f"--cluster {address}: no Dask scheduler answered within {timeout:g} s "
                        f"({reason(err)})") from None
    try:
        client.wait_for_workers(1, timeout=max(deadline - time.monotonic(), 0.001))
    except Exception:
        close_client(client)
        raise UserError(f"--cluster {address}: the scheduler has no worker (waited {timeout:g} s); start some "
                        f"with `dask worker {address}`") from None
    return client


@contextlib.contextmanager
def local_cluster(count, timeout):
    """local:N: a LocalCluster on 127.0.0.1 whose scheduler, nannies and workers keep their files in a private
    temporary folder (mkdtemp: mode 700, a name no one can predict), removed with the cluster; not Dask's shared,
    predictable /tmp/dask-scratch-space."""


    scratch = tempfile.mkdtemp(prefix="gan-zoo-dask-")
    try:
        with dask.config.set({"temporary-directory": scratch}):
            cluster = distributed.LocalCluster(
                n_workers=count, threads_per_worker=max(1, (os.cpu_count() or 1) // count), processes=True,
                host="127.0.0.1", dashboard_address=None, silence_logs=logging.CRITICAL + 1,
                local_directory=scratch, death_timeout=LOCAL_START,
                # no dashboard; the health and metrics pages Dask serves anyway, on loopback, any free port
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
        try:
            yield cluster
        finally:
            with contextlib.suppress(Exception):
                cluster.close(timeout=timeout)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def quiet_dask():
    """Dask's loggers say nothing in this process from now on (an error is our one line; a client that lost its
    scheduler keeps logging from its own thread after we are done with it), nor warns about the batches that
    travel inside the tasks (that is what lets the scheduler hand a lost worker's batch to another)."""

    for name in ["distributed", *logging.root.manager.loggerDict]:  # dask's config gives some their own level
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "64GB"}):
        yield
