"""The weights of the model under preview on disk, once as given and once fp16-rounded, where every session maps
them from: Python holds the graph only, and no session copies the weights through a serialised model."""
import tempfile
from pathlib import Path

import numpy as np
from onnx import TensorProto, external_data_helper, numpy_helper

from common import room
from common.fp16.graph import ROUNDED_SUFFIX, copy_model, point_external, session

DATA = "weights.bin"
_SMALL = 1024  # initializers below this many bytes stay in the graph (as onnx's own external-data threshold)
_ALIGN = 4096  # page-aligned offsets, so that ONNX Runtime can map the data instead of reading it


class ModelFiles:
    """A private temporary folder holding `model`'s float initializers in DATA and, fp16-rounded at the same
    offsets, in DATA + ROUNDED_SUFFIX (graph.emulate points a rounded initializer there). `model` is handed
    over: its initializers are moved out in place; `graph` is a fresh copy of what is left, the graph itself.
    The folder goes with close() (or the object)."""

    def __init__(self, model):
        sizes = [_padded(init) for init in _movable(model)]
        self._folder = tempfile.TemporaryDirectory(prefix="precision-weights-")
        self.folder = Path(self._folder.name)
        try:
            room.check_room(self.folder / DATA, 2 * sum(sizes),
                               "the fp16 preview's weight files (in the temporary folder; TMPDIR chooses it)")
            with open(self.folder / DATA, "wb") as given, open(self.folder / (DATA + ROUNDED_SUFFIX), "wb") as rounded:
                for init in _movable(model):
                    _move_out(init, given, rounded)
        except BaseException:
            self.close()
            raise
        self.graph = copy_model(model)  # the copy owns no memory of the weights the original held

    def session(self, model):
        """An ONNX Runtime session of `model` (this graph or a rewrite of it) on these files."""
        return session(model, self.folder)

    def values(self, init):
        """An initializer's values (read from these files when stored here)."""
        return numpy_helper.to_array(init, base_dir=str(self.folder))

    def embedded(self, model):
        """A copy of `model` with its initializers back inside it (to save as one ONNX file)."""
        model = copy_model(model)
        external_data_helper.load_external_data_for_model(model, str(self.folder))
        for init in model.graph.initializer:  # the bytes of the tensor before it moved out: no explicit default
            if init.data_location == TensorProto.DEFAULT:
                init.ClearField("data_location")
        return model

    def close(self):
        self._folder.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _movable(model):
    return [init for init in model.graph.initializer if init.data_type == TensorProto.FLOAT
            and init.data_location != TensorProto.EXTERNAL and 4 * int(np.prod(init.dims)) >= _SMALL]


def _padded(init):
    return -(-4 * int(np.prod(init.dims)) // _ALIGN) * _ALIGN


def _move_out(init, given, rounded):
    """Append `init`'s values to `given` and their fp16 rounding to `rounded` (same offset), and point it there."""
    values = numpy_helper.to_array(init).astype("<f4")
    offset = given.tell()
    with np.errstate(over="ignore"):  # overflow to inf is the point
        rounded.write(values.astype(np.float16).astype("<f4").tobytes())
    given.write(values.tobytes())
    padding = b"\0" * (_padded(init) - values.nbytes)
    given.write(padding)
    rounded.write(padding)
    point_external(init, DATA, offset, values.nbytes)
