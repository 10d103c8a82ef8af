"""ONNX export, checking, simplification and numeric verification (the graph edits are in common/graph_edits.py).

Every export and every simplification verifies itself: ONNX Runtime is run on a seeded input and compared
with PyTorch (or with the graph before simplification), and a difference above tolerance is an error.
"""
import inspect
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnx
from onnx import helper

from common import cli, fileio
from common.staging import atomic_path
from common.errors import CheckFailed, UserError

DEFAULT_OPSET = 11  # what ATC accepts
# --opset of the export scripts: what the TorchScript exporter (dynamo=False) of torch 2.x writes
opset = cli.ranged_int(7, 20, "an ONNX opset the TorchScript exporter writes (7 .. 20; ATC takes 11)")
_TWO_GB = 2 ** 31

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "cann": "CANNExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
}

# Tensor type names -> numpy dtype names, as ONNX Runtime ('tensor(float)') and ACL / ais_bench ('dtype.float32')
# spell them: the one table every backend of the runner reads its tensor types through (numpy_dtype).
_TENSOR_TYPES = {
    "float": "float32", "float32": "float32", "float16": "float16", "double": "float64", "float64": "float64",
    "uint8": "uint8", "int8": "int8", "int32": "int32", "int64": "int64", "bool": "bool",
}


def save(model, path):
    """Save a ModelProto atomically as one file (external data only past protobuf's 2 GB limit)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if model.ByteSize() >= _TWO_GB:
            onnx.save(model, tmp, save_as_external_data=True, all_tensors_to_one_file=True,
                      location=path.name + ".data")
        else:
            onnx.save(model, tmp)
    return path


def load(path):
    path = fileio.require_file(path, "ONNX file")
    try:
        return onnx.load(str(path))
    except Exception as err:  # protobuf raises several unrelated types for a corrupt file
        raise UserError(f"{path}: not a readable ONNX model ({type(err).__name__}: {err})") from None


def check(path):
    """onnx.checker on a file (the path form also works past 2 GB)."""
    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as err:
        raise CheckFailed(f"{path}: onnx.checker rejected the model: {str(err).splitlines()[0]}") from None


def export(model, args, path, input_names, output_names, opset=DEFAULT_OPSET, dynamic_batch=True):
    """Export `model` in eval mode with the TorchScript exporter, then run onnx.checker.

    Axis 0 of every input and output is named 'batch' when `dynamic_batch` is set. The file is written under a
    temporary name and renamed into place only once it exports and checks cleanly.
    """
    import torch

    path = Path(path)
    model.eval()
    dynamic_axes = {name: {0: "batch"} for name in (*input_names, *output_names)} if dynamic_batch else None
    # torch >= 2.5 takes `dynamo` (and defaults it to True from 2.9); older releases only have this exporter.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        # The legacy exporter is the point (opset 11 for ATC); its deprecation notice is noise here.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*instance_norm.*")
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")  # reflect pads
        torch.onnx.export(model, tuple(args), str(tmp), **legacy, opset_version=opset,
                          input_names=list(input_names), output_names=list(output_names),
                          dynamic_axes=dynamic_axes, do_constant_folding=True)
        check(tmp)
    return path


def make_session(path, provider="cpu", device_id=0, threads=0):
    """An ONNX Runtime session on exactly the requested provider.

    ONNX Runtime silently falls back to the CPU when a requested accelerator cannot start (it even lists
    CANN as available without the CANN toolkit); here that is an error, never a quiet CPU run.
    """
    import onnxruntime as ort

    path = fileio.require_file(path, "ONNX file")
    name = PROVIDERS.get(provider.lower(), provider)
    available = ort.get_available_providers()
    if name not in available:
        raise UserError(f"provider {provider!r} ({name}) is not in this onnxruntime build; available: "
                        f"{', '.join(available)} (install onnxruntime-gpu or onnxruntime-cann for accelerators)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    providers = [name] if name == "CPUExecutionProvider" else [(name, {"device_id": int(device_id)})]
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as err:  # ORT raises its own exception classes for unreadable or invalid models
        raise UserError(f"{path}: ONNX Runtime could not load it ({str(err).splitlines()[0]})") from None
    if session.get_providers()[0] != name:
        raise UserError(f"provider {name} could not start (ONNX Runtime fell back to "
                        f"{session.get_providers()[0]}); check the device and its runtime installation")
    return session


def numpy_dtype(type_name):
    """numpy dtype for a tensor type named as ONNX Runtime ('tensor(float)') or ACL ('dtype.float32') names it."""
    for word in re.findall(r"[a-z]+[0-9]*", str(type_name).lower()):
        if word in _TENSOR_TYPES:
            return np.dtype(_TENSOR_TYPES[word])
    raise UserError(f"unsupported tensor type {type_name}")


def run(path_or_session, feeds):
    """Run a model on `feeds` ({name: array}) on the CPU and return the outputs as a list."""
    session = make_session(path_or_session) if isinstance(path_or_session, (str, Path)) else path_or_session
    return session.run(None, feeds)


def seeded_feeds(shapes, seed=0, dtypes=None, int_high=None):
    """Seeded inputs for verification: standard normal floats, or integers in [0, int_high[name])."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, shape in shapes.items():
        dtype = np.dtype((dtypes or {}).get(name, np.float32))
        if np.issubdtype(dtype, np.floating):
            feeds[name] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[name] = rng.integers(0, (int_high or {}).get(name, 2), size=shape).astype(dtype)
    return feeds


def compare_outputs(reference, candidate, names, what, atol):
    """Max |difference| per output; CheckFailed naming `what` when any exceeds `atol`."""
    report = {}
    for name, ref, cand in zip(names, reference, candidate):
        ref = np.asarray(ref, dtype=np.float64)
        cand = np.asarray(cand, dtype=np.float64)
        if ref.shape != cand.shape:
            raise CheckFailed(f"{what}: output {name!r} has shape {cand.shape}, expected {ref.shape}")
        if not np.all(np.isfinite(cand)):
            raise CheckFailed(f"{what}: output {name!r} holds NaN or Inf")
        diff = float(np.max(np.abs(ref - cand))) if ref.size else 0.0
        report[name] = diff
        if not diff <= atol:
            raise CheckFailed(f"{what}: output {name!r} differs from the reference by {diff:.3g} (max abs), "
                              f"tolerance {atol:g}")
    return report


def export_verified(model, args, path, input_names, output_names, feeds, atol=1e-4, **options):
    """export(), then verify_against_torch() on `feeds`, both before the file gets its name: a failed or
    interrupted verification leaves nothing at `path` (nor an earlier file there replaced). `options` go to
    export (opset, dynamic_batch). Returns {output name: max abs difference}."""
    path = Path(path)
    with atomic_path(path) as tmp:
        export(model, args, tmp, input_names, output_names, **options)
        return verify_against_torch(tmp, model, feeds, atol, name=path)


def verify_against_torch(path, model, feeds, atol=1e-4, name=None):
    """Run the ONNX file with ONNX Runtime and `model` with PyTorch on the same `feeds`; compare outputs.

    Returns {output name: max abs difference}; raises CheckFailed above `atol`. `name` is the file named in
    messages (the final name, when `path` is a temporary one).
    """
    import torch

    session = make_session(path)
    names = [o.name for o in session.get_outputs()]
    onnx_out = session.run(None, feeds)
    model.eval()
    with torch.no_grad():
        torch_out = model(*[torch.from_numpy(feeds[i.name]) for i in session.get_inputs()])
    if isinstance(torch_out, torch.Tensor):
        torch_out = [torch_out]
    return compare_outputs([t.numpy() for t in torch_out], onnx_out, names, f"{name or path} vs PyTorch", atol)


def input_shapes(model):
    """{input name: [dims]} of a ModelProto, with symbolic dims as strings (initializers excluded)."""
    initializers = {init.name for init in model.graph.initializer}
    shapes = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
    return shapes


def input_dtypes(model):
    return {v.name: helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type) for v in model.graph.input}


def verification_feeds(session, shapes=None, seed=0):
    """The seeded inputs an edited graph is checked on, chosen one way for every edit: each input of
    `session` (an ONNX Runtime session of the graph before the edit) at its shape in `shapes` when given
    there, else at its declared shape with each free axis (a symbolic or unknown dimension: the dynamic
    batch) set to 1; of its declared dtype; seeded_feeds values."""
    full = {}
    for value in session.get_inputs():
        dims = (shapes or {}).get(value.name, value.shape)
        full[value.name] = [d if isinstance(d, int) and d > 0 else 1 for d in dims]
    return seeded_feeds(full, seed, dtypes={v.name: numpy_dtype(v.type) for v in session.get_inputs()})


class VerifiedEdit(NamedTuple):
    diffs: dict       # {output name: max |edited - original|} on the verification input
    reference: list   # the original graph's outputs there
    edited: list      # the edited graph's outputs there


def save_verified_edit(original, edited, path, atol, shapes=None, seed=0, feeds=None):
    """Save the edited ModelProto `edited` of the graph in file `original` to `path`, checked and verified.

    The file is written under a temporary name (path may be `original`: an edit in place) and gets its name
    only once onnx.checker accepts it and ONNX Runtime computes on it what `original` computes, output by
    output within `atol` on seeded inputs (`feeds`, or verification_feeds(shapes, seed)); a failure is one
    CheckFailed line naming both files, and nothing is written. An edit that changes the outputs on purpose
    states atol=inf: shapes and finiteness are still checked, and the caller reads the outputs returned.
    """
    path = Path(path)
    reference_session = make_session(original)
    if feeds is None:
        feeds = verification_feeds(reference_session, shapes, seed)
    names = [o.name for o in reference_session.get_outputs()]
    with atomic_path(path) as tmp:
        save(edited, tmp)
        check(tmp)
        reference, candidate = run(reference_session, feeds), run(tmp, feeds)
        diffs = compare_outputs(reference, candidate, names, f"{path} vs {original}", atol)
    return VerifiedEdit(diffs, reference, candidate)


def simplify(src, dst, shapes, atol=1e-4, feeds=None, seed=0):
    """onnxsim with fixed input shapes, then a check that the result computes what the source did.

    `shapes` maps every input name to its fixed shape. `feeds` gives the verification inputs (default: seeded
    ones at `shapes`; save_verified_edit writes and verifies). Errors name the file: an unknown input name, an
    onnxsim failure, a numeric drift.
    """
    import onnxsim

    src, dst = Path(src), Path(dst)
    model = load(src)
    declared = input_shapes(model)
    unknown = sorted(set(shapes) - set(declared))
    if unknown:
        raise UserError(f"{src}: has no input named {unknown[0]!r}; its inputs are {', '.join(declared)}")
    missing = [name for name, dims in declared.items()
               if name not in shapes and not all(isinstance(d, int) and d > 0 for d in dims)]
    if missing:
        raise UserError(f"{src}: input {missing[0]!r} has a dynamic shape {declared[missing[0]]}; "
                        f"give it with --input-shape {missing[0]}:<dims>")
    for name, dims in shapes.items():
        if len(dims) != len(declared[name]) or any(
                isinstance(d, int) and d > 0 and d != s for d, s in zip(declared[name], dims)):
            raise UserError(f"{src}: input {name!r} is {declared[name]}, cannot be fixed to {dims}")
    fixed = {}  # a symbolic dimension the inputs share (the batch) must get one size
    for name, dims in shapes.items():
        for axis, (symbol, size) in enumerate(zip(declared[name], dims)):
            if isinstance(symbol, str) and symbol not in ("", "?"):
                first = fixed.setdefault(symbol, (name, size))
                if first[1] != size:
                    raise UserError(f"{src}: input {name!r} axis {axis} ({symbol!r}) fixed to {size}, but "
                                    f"{first[0]!r} shares that dimension and is fixed to {first[1]}; give "
                                    f"both the same size")
    try:
        simplified, ok = onnxsim.simplify(model, overwrite_input_shapes=dict(shapes), check_n=0)
    except Exception as err:  # onnxsim surfaces errors from several layers (onnx, ORT, its C++ core)
        raise CheckFailed(f"{src}: onnxsim failed ({type(err).__name__}: {str(err).splitlines()[0]})") from None
    if not ok:
        raise CheckFailed(f"{src}: onnxsim could not validate the simplified model")
    save_verified_edit(src, simplified, dst, atol, shapes=shapes, seed=seed, feeds=feeds)
    return count_ops(model), count_ops(simplified)


def count_ops(model):
    return Counter(node.op_type for node in model.graph.node)
