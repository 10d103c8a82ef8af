"""--cluster and --cluster_timeout, as the runner and the Inception step take them, checked without Dask (which
common/cluster.py imports only when a run asks for a cluster)."""
import argparse
import ipaddress
import os
import re

from common.errors import UserError

DEFAULT_TIMEOUT = 10  # seconds to reach the scheduler and a first worker, and again for the workers to take the code
MAX_TIMEOUT = 3600  # --cluster_timeout's upper bound: a wait longer than an hour is a mistake, not a network


def timeout_seconds(text):
    """--cluster_timeout: seconds in (0, MAX_TIMEOUT], in ASCII digits (float() would take '١٠', 'inf', '1e9')."""
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds such as 10 or 2.5")
    if not 0 < float(text) <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"{text} is outside (0, {MAX_TIMEOUT}] seconds")
    return float(text)


def add_options(parser, sep="_"):
    """--cluster and --cluster<sep>timeout (infer.py spells its options with '_', the Inception steps with '-')."""
    parser.add_argument("--cluster", default=None, metavar="ADDRESS",
                        help="compute on a Dask cluster: a scheduler (tcp://host:port, or tls://host:port with "
                             "Dask's TLS settings) or local:N (N worker processes on this machine, N at most its "
                             "cores); this process still reads and writes every file, and the results are those of "
                             "a one-process run; default: no cluster, this process computes")
    parser.add_argument(f"--cluster{sep}timeout", type=timeout_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"seconds allowed to reach the --cluster scheduler and find a first worker there, and "
                             f"as many again for the workers to take this client's code; at most {MAX_TIMEOUT}")


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"  # a host name's label (RFC 1123), ASCII only
_ADDRESS = re.compile(rf"(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|{_LABEL}(?:\.{_LABEL})*\.?):([0-9]{{1,5}})")


def parse_address(text):
    """'local:N' -> ('local', N); 'tcp://host:port' or 'tls://host:port' -> (scheme, (host, port)); else a
    UserError. Only ASCII digits and host names (Dask would hand a 300-character or non-ASCII name to idna)."""
    if text.startswith("local:"):
        cores = os.cpu_count() or 1
        count = text[len("local:"):]
        if not re.fullmatch(r"[0-9]{1,4}", count) or not 1 <= int(count) <= cores:
            raise UserError(f"--cluster {text!r}: local:N needs a number of worker processes from 1 to this machine's "
                            f"{cores} cores, such as local:{min(2, cores)}")
        return "local", int(count)
    match = _ADDRESS.fullmatch(text)
    host = match.group(2) if match else ""
    if host.startswith("["):  # an IPv6 literal
        try:
            host = str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            host = ""
    if not host or len(host) > 253 or not 1 <= int(match.group(3)) <= 65535:
        raise UserError(f"--cluster {text[:100]!r}: expected a Dask scheduler address tcp://host:port (or "
                        f"tls://host:port; an ASCII host name of at most 253 characters or an IP address, a port "
                        f"from 1 to 65535), or local:N")
    return match.group(1), (host, int(match.group(3)))
