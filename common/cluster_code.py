"""The code side of common/cluster.py: this client's `common/` package zipped (code_zip), stored in each worker's
folder under its sha256 and put first on sys.path (code_plugin, store_code, activate_code), the zips kept between
runs (CODE_KEPT, least recently used removed first); each worker described (describe_worker: its versions, its
CPU's kernel-selecting features) and its versions checked against the client's.

The functions a worker runs here travel pickled by value (they run before the code is there), so they import
what they need inside themselves; this module imports only the standard library, so that a worker imports it at
once, within the run's deadline (heavier modules, the runtimes, load with the model, outside it)."""
import contextlib
import hashlib
import io
import zipfile
from pathlib import Path

from common.errors import UserError

CODE_KEPT = 4  # zips of the project's code a worker keeps in its folder (least recently used removed first)
# CPU features whose presence changes the kernels ONNX Runtime's MLAS picks (and so, possibly, the last bits).
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
                "amx_tile", "amx_bf16", "amx_int8")


def code_zip():
    """This client's `common/` package as zip bytes (sorted names, fixed dates: the same files give the same bytes)
    and its sha256."""
    package = Path(__file__).resolve().parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.glob("*.py")):
            info = zipfile.ZipInfo(f"common/{path.name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def code_zip_name(digest):
    """The name a worker stores this client's code under: its sha256, so no other code is ever written there."""
    return f"gan-zoo-common-{digest}.zip"


def cpu_description():
    """This machine's CPU name and the KERNEL_FLAGS it has (Linux; empty elsewhere)."""
    name, flags = "", []
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not name:
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                present = set(line.split(":", 1)[1].split())
                flags = [flag for flag in KERNEL_FLAGS if flag in present]
                break
    return name, flags


def versions(packages):
    """{package: version} of the installed distributions that provide these importable packages, None for one that
    is not installed. Read from their metadata, not by importing them: a worker answers within the code-shipping
    deadline, and a first `import torch` on a loaded machine takes longer than that."""
    from importlib import metadata

    providers = metadata.packages_distributions()
    return {name: next((metadata.version(d) for d in sorted(providers.get(name, ()))), None) for name in packages}


def store_code(directory, zip_name, data, kept):
    """On a worker (pickled by value, as everything the code plugin calls: it runs before this module can be
    imported there): this client's `common/` zip stored under its sha256 name in the worker's folder, unless it is
    there already, written whole under a temporary name and hard-linked into place (never over an existing file, so
    never under a run that imports from it); the least recently used other zips beyond `kept` removed. Its path."""
    import contextlib
    import glob
    import hashlib
    import os
    import sys
    import tempfile

    path = os.path.join(directory, zip_name)
    if not os.path.exists(path):
        handle, temporary = tempfile.mkstemp(prefix=".gan-zoo-code-", suffix=".part", dir=directory)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):  # another run linked the same bytes first
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    with open(path, "rb") as handle:
        if f"gan-zoo-common-{hashlib.sha256(handle.read()).hexdigest()}.zip" != zip_name:
            raise RuntimeError(f"{path}: does not hold the code it is named after; remove it")
    os.utime(path)  # the most recently used
    others = sorted((p for p in glob.glob(os.path.join(directory, "gan-zoo-common-*.zip")) if p != path),
                    key=os.path.getmtime, reverse=True)
    for old in others[kept - 1:]:
        with contextlib.suppress(OSError):
            os.unlink(old)
        while old in sys.path:
            sys.path.remove(old)
    return path


def activate_code(path):
    """On a worker: the zip at `path` first on sys.path, every `common` module imported from anywhere else dropped
    (a long-lived worker's earlier run, or a copy of the project)."""
    import importlib
    import os
    import sys

    for name, module in list(sys.modules.items()):
        if (name == "common" or name.startswith("common.")) and \
                not str(getattr(module, "__file__", "") or "").startswith(path + os.sep):
            del sys.modules[name]
    if sys.path[:1] != [path]:
        while path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
        importlib.invalidate_caches()


def code_plugin(zip_name, data):
    """A Dask worker plugin that stores and activates this client's code on every worker of the cluster, those that
    join later too, while it is registered (for one run)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class CodePlugin(WorkerPlugin):
        def setup(self, worker):
            activate_code(store_code(worker.local_directory, zip_name, data, CODE_KEPT))

    return CodePlugin()


def describe_worker(zip_name, packages, dask_worker=None):
    """On a worker (through client.run, pickled by value): its description, once this client's code is the one it
    imports."""
    import importlib
    import os

    worker = dask_worker  # client.run passes the worker by this keyword
    module = importlib.import_module("common.cluster_code")
    zip_path = os.path.join(worker.local_directory, zip_name)
    if not str(module.__file__).startswith(zip_path + os.sep):
        raise RuntimeError(f"worker {worker.address} imports common/ from {module.__file__}, not {zip_path}")
    name, flags = module.cpu_description()
    return {"versions": module.versions(packages), "threads": worker.state.nthreads, "pid": os.getpid(),
            "cpu": name, "flags": flags}


def version_text(found):
    return ", ".join(f"{name} {version or '(not installed)'}" for name, version in found.items())


def check_versions(expected, workers):
    """Refuse (UserError) workers whose package versions differ from `expected` ({package: version});
    `workers` is {address: {"versions": {...}, ...}}."""
    wrong = {address: info["versions"] for address, info in workers.items() if info["versions"] != expected}
    if wrong:
        address, found = sorted(wrong.items())[0]
        more = f" (and {len(wrong) - 1} more worker(s))" if len(wrong) > 1 else ""
        raise UserError(f"--cluster: worker {address} has {version_text(found)}, this client {version_text(expected)}"
                        f"{more}; different versions may round differently and the files would not match a "
                        f"one-machine run: install the same versions on every worker")
