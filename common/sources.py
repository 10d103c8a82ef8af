"""The runner's input sources, as ais_bench reads its inputs: FileInputs (--input: one folder per model input, the
i-th file of every folder forming sample i, files concatenated to fill a batch, a short last batch padded with
copies of its first file) and PureInputs (no --input: one batch of zero or seeded random data)."""
import copy
import math
from pathlib import Path
from typing import NamedTuple, Tuple

import numpy as np

from common import fileio, onnx_utils, origins, room
from common.errors import UserError

PURE_INFER_STEM = "pure_infer_data"


def resolve_shapes(inputs, batchsize, first_file_bytes=None, first_file=None):
    """Fix every input's shape (`inputs`: the backend's TensorSpecs): static dims from the model, a dynamic
    batch from --batchsize.

    With a dynamic batch and no --batchsize, each file of input 0 is taken to hold one batch, so the batch
    is the number of samples in it (`first_file`, of `first_file_bytes`, named in the error if it is not).
    """
    shapes = []
    batch = None
    for k, spec in enumerate(inputs):
        dims, dtype = list(spec.shape), np.dtype(spec.dtype)
        if any(d is None for d in dims[1:]):
            raise UserError(f"model input {spec.name!r} has dynamic dims {dims} beyond the batch axis; export or "
                            f"simplify it with a fixed shape (common/simplify.py)")
        if dims and dims[0] is None:
            if batch is None:
                if batchsize:
                    batch = batchsize
                elif first_file_bytes is not None and k == 0:
                    per_sample = math.prod(dims[1:]) * dtype.itemsize
                    if first_file_bytes % per_sample:
                        raise UserError(f"{first_file or f'input files of {spec.name!r}'}: {first_file_bytes} "
                                        f"bytes, not a whole number of {per_sample}-byte samples of {dims[1:]} "
                                        f"{dtype.name} (model input {spec.name!r})")
                    batch = first_file_bytes // per_sample
                else:
                    batch = 1
            dims = [batch, *dims[1:]]
        shapes.append([int(d) for d in dims])
    model_batch = shapes[0][0] if shapes and shapes[0] else 1
    if batchsize and inputs and inputs[0].shape and inputs[0].shape[0] is not None and batchsize != model_batch:
        raise UserError(f"--batchsize {batchsize} but the model's batch is fixed at {model_batch}")
    room.check_memory(sum(math.prod(shape) * np.dtype(spec.dtype).itemsize  # Python ints never wrap
                             for spec, shape in zip(inputs, shapes)),
                         f"a batch of {model_batch} ({'--batchsize' if batchsize else 'the shapes the model states'})")
    return shapes, model_batch


def collect_inputs(text, inputs):
    """--input -> one list of files per model input (`inputs`: TensorSpecs), checked for count and names."""
    entries = [Path(e) for e in text.split(",") if e.strip()]
    n_inputs = len(inputs)
    if all(e.is_dir() for e in entries):
        if len(entries) != n_inputs:
            raise UserError(f"--input names {len(entries)} folder(s) but the model has {n_inputs} input(s) "
                            f"({', '.join(spec.name for spec in inputs)}); give one folder per input, in order")
        return fileio.pair_by_position(entries)
    missing = next((e for e in entries if not e.exists()), None)
    if missing is not None:
        raise UserError(f"{missing}: no such file or folder (from --input){origins.hint(missing)}")
    odd = next((e for e in entries if not e.is_file() and not e.is_dir()), None)
    if odd is not None:
        raise UserError(f"{odd}: not a regular file or folder (from --input)")
    if not all(e.is_file() for e in entries):
        raise UserError("--input mixes files and folders; give one folder per model input, or only files")
    if len(entries) % n_inputs:
        raise UserError(f"--input names {len(entries)} file(s), not a multiple of the model's {n_inputs} input(s)")
    per = len(entries) // n_inputs
    return [entries[k * per:(k + 1) * per] for k in range(n_inputs)]


def _file_nbytes(path, dtype):
    if path.suffix.lower() == ".npy":
        return fileio.read_array(path, dtype).nbytes
    return path.stat().st_size


def files_per_batch(lists, inputs, shapes):
    """How many files fill one batch (the same for every input), checking every file's size."""
    factor = None
    for files, spec, shape in zip(lists, inputs, shapes):
        name, dtype = spec.name, np.dtype(spec.dtype)
        tensor_bytes = math.prod(shape) * dtype.itemsize
        sample_bytes = tensor_bytes // shape[0] if shape else tensor_bytes
        size = _file_nbytes(files[0], dtype)
        if size == 0 or tensor_bytes % size:
            raise UserError(f"{files[0]}: {size} bytes does not divide the input {name!r} of "
                            f"{tuple(shape)} {dtype.name} ({tensor_bytes} bytes)")
        if size % sample_bytes:  # ais_bench would only fail later, when splitting the outputs
            raise UserError(f"{files[0]}: {size} bytes is not a whole number of samples of input {name!r} "
                            f"({tuple(shape[1:])} {dtype.name}, {sample_bytes} bytes each)")
        for path in files[1:]:
            if _file_nbytes(path, dtype) != size:
                raise UserError(f"{path}: {_file_nbytes(path, dtype)} bytes, expected {size} like {files[0]}")
        k = tensor_bytes // size
        if factor is not None and k != factor:
            raise UserError(f"input {name!r}: {k} files fill a batch, but {factor} for the first input; the "
                            f"files of all inputs must hold the same number of samples")
        factor = k
    return factor


class Batch(NamedTuple):
    """One run of the model: the file numbers that fill it, and how many of them are real; the rest pad a short
    last batch with copies of its first file, and their outputs are dropped."""
    indices: Tuple[int, ...]
    n_real: int


def batches(lists, factor):
    """Group file numbers by batch, `factor` files each; a short last group is padded with its own first."""
    count = len(lists[0])
    for start in range(0, count, factor):
        real = tuple(range(start, min(start + factor, count)))
        yield Batch(real + (real[0],) * (factor - len(real)), len(real))


def load_batch(lists, indices, inputs, shapes):
    feeds = []
    for files, spec, shape in zip(lists, inputs, shapes):
        parts = [fileio.read_array(files[i], spec.dtype).ravel() for i in indices]
        feeds.append(np.concatenate(parts).reshape(shape))
    return feeds


def pure_data(inputs, shapes, kind, seed=0):
    """--pure_data_type: zeros, or the seeded inputs the export checks use (onnx_utils.seeded_feeds)."""
    if kind == "zero":
        return [np.zeros(shape, spec.dtype) for spec, shape in zip(inputs, shapes)]
    feeds = onnx_utils.seeded_feeds({spec.name: shape for spec, shape in zip(inputs, shapes)}, seed,
                                    dtypes={spec.name: spec.dtype for spec in inputs})
    return list(feeds.values())


class FileInputs:
    """The runner's input source for --input: one list of files per model input, the i-th file of every list
    forming sample i, `factor` files filling a batch.

    The interface the batch loop uses, shared with PureInputs: `shapes` (the static input shapes of a batch),
    `model_batch` (its samples), `factor` (files per batch: each output is split into that many files),
    `batches` (Batch list), `feeds(batch)` (arrays in input order), `stems(batch)` (output name stem of each
    real file), `infiles(batch, j)` (the input files of its j-th real file, as the summary lists them) and
    `where(batch)` (what a warning about the batch names). It holds no runtime, so a worker process can take it.
    """

    def __init__(self, text, inputs, batchsize=None):
        self.inputs = list(inputs)
        self.lists = collect_inputs(text, self.inputs)
        fileio.check_unique_stems(self.lists[0], lambda stem: f"{stem}_<i>.<ext>")  # ais_bench's output names
        first = self.lists[0][0]
        self.shapes, self.model_batch = resolve_shapes(self.inputs, batchsize,
                                                       _file_nbytes(first, self.inputs[0].dtype), first)
        self.factor = files_per_batch(self.lists, self.inputs, self.shapes)
        self.batches = list(batches(self.lists, self.factor))

    @property
    def files(self):
        """Files per input."""
        return len(self.lists[0])

    def first(self, n_files):
        """The same source over only the first `n_files` files of every input."""
        head = copy.copy(self)
        head.lists = [files[:n_files] for files in self.lists]
        head.batches = list(batches(head.lists, self.factor))
        return head

    def feeds(self, batch):
        return load_batch(self.lists, batch.indices, self.inputs, self.shapes)

    def stems(self, batch):
        return [fileio.stem(self.lists[0][i]) for i in batch.indices[:batch.n_real]]

    def infiles(self, batch, j):
        return [str(files[batch.indices[j]]) for files in self.lists]

    def where(self, batch):
        return self.lists[0][batch.indices[0]]


class PureInputs:
    """The runner's input source without --input: one batch of zero (or seeded random) data, whose outputs are
    `pure_infer_data_<i>`. Same interface as FileInputs."""

    factor = 1

    def __init__(self, inputs, batchsize=None, kind="zero", seed=0):
        self.inputs, self.kind, self.seed = list(inputs), kind, seed
        self.shapes, self.model_batch = resolve_shapes(self.inputs, batchsize)
        self.batches = [Batch((0,), 1)]

    def feeds(self, batch):
        return pure_data(self.inputs, self.shapes, self.kind, self.seed)

    def stems(self, batch):
        return [PURE_INFER_STEM]

    def infiles(self, batch, j):
        return []

    def where(self, batch):
        return "pure inference data"


def input_source(args, inputs):
    """FileInputs for --input, else PureInputs."""
    if args.input:
        return FileInputs(args.input, inputs, args.batchsize)
    return PureInputs(inputs, args.batchsize, args.pure_data_type, args.seed)
