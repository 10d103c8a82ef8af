"""The types a model folder's facts are declared with (`<Model>/<model>_facts.py`), and the runner's tensor spec.

Each folder states its facts once, in a torch-free module holding one `FACTS = ModelFacts(...)`: the upstream
repository and pinned commit, the official checkpoint files and container, every ONNX graph's input and output
tensors, the opset and the accuracy bar. Its scripts, `chain.py`, the tests and the README check read them
from there. Importing a facts module loads neither torch nor onnx, so postprocess and accuracy steps that only
need names and shapes start fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

# The accuracy bar for float16 NPU builds (ONNX Runtime in float32 reaches 0.9999 or better).
DEFAULT_THRESHOLD = 0.99


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a graph. `shape` is the whole tensor's: None marks a free (dynamic) axis,
    normally the batch axis 0. `dtype` is a numpy dtype name."""
    name: str
    shape: Tuple[Optional[int], ...]
    dtype: str = "float32"

    @property
    def sample_shape(self):
        """The shape of one sample: everything after the batch axis."""
        return tuple(self.shape[1:])


def batched(name, *sample_shape, dtype="float32"):
    """A TensorSpec with a dynamic batch axis in front of `sample_shape`."""
    return TensorSpec(name, (None, *sample_shape), dtype)


@dataclass(frozen=True)
class Upstream:
    """The repository a folder reimplements, at the commit its `.patch` applies to."""
    repository: str     # https://github.com/<owner>/<name>
    commit: str         # 40 hex digits
    generator: str      # the file defining the generator, relative to the checkout
    patch: str          # this folder's patch file for that checkout

    @property
    def short_commit(self):
        return self.commit[:7]


@dataclass(frozen=True)
class Graph:
    """One exported ONNX graph: the original's file name and its tensors, in order."""
    onnx_file: str
    inputs: Tuple[TensorSpec, ...]
    outputs: Tuple[TensorSpec, ...]

    @property
    def input(self):
        """The only input of a one-input graph."""
        (only,) = self.inputs
        return only

    @property
    def output(self):
        (only,) = self.outputs
        return only


@dataclass(frozen=True)
class ModelFacts:
    name: str                           # the folder name, as in ModelZoo
    upstream: Optional[Upstream]      # None only for the tests' toy chain
    checkpoints: Tuple[str, ...]        # official checkpoint file names
    container_keys: Tuple[str, ...]     # keys a container dict may wrap the generator's state_dict in
    graphs: Tuple[Graph, ...]
    metric: str                         # the accuracy check the README's accuracy step runs
    threshold: float = DEFAULT_THRESHOLD  # the bar of its PyTorch-vs-offline check (the accuracy scripts' --threshold)
    opset: int = 11                     # what ATC accepts

    @property
    def graph(self):
        """The only graph of a one-graph model."""
        (only,) = self.graphs
        return only
