"""The one place the project imports what a run needs only when asked: OpenVINO (--backend openvino), ais_bench
(.om models, Ascend only, not on PyPI) and Dask (--cluster). Each is imported on first use, so a plain run neither
pays for them nor needs them, and a missing one is a one-line error that says how to get it. (Dask is imported
by common/cluster*.py themselves, which are imported only for a cluster run: see require_dask.)"""
import importlib
import importlib.util

from common.errors import UserError


def openvino():
    """The openvino module (--backend openvino, the speed benchmark)."""
    try:
        return importlib.import_module("openvino")
    except ImportError:
        raise UserError("--backend openvino needs the openvino package (pip install openvino)") from None


def ais_bench_session(path):
    """ais_bench's InferSession class (ais_bench/infer/interface.py), for the .om model at `path`."""
    try:
        return importlib.import_module("ais_bench.infer.interface").InferSession
    except ImportError:
        raise UserError(f"{path}: .om models run on an Ascend NPU through ais_bench, which is not installed "
                        f"here; run the .onnx with ONNX Runtime instead, or install ais_bench and "
                        f"aclruntime from Ascend/tools") from None


def require_dask():
    """Refuse --cluster in one line where Dask is not installed. common/cluster.py and its two modules import
    dask at their top; the runner and the Inception step import them only for a run that asks for a cluster,
    after this check."""
    if importlib.util.find_spec("distributed") is None or importlib.util.find_spec("dask") is None:
        raise UserError("--cluster needs Dask: pip install 'dask[distributed]'")
