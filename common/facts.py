"""The types a model folder's facts are declared with (`<Model>/<model>_facts.py`), and the runner's tensor spec.

Each folder states its facts once, in a torch-free module holding one `FACTS = ModelFacts(...)`: the upstream
repository and pinned commit, the official checkpoint files and container, every ONNX graph's input and output
tensors, the opset and the accuracy bar. Its scripts, `chain.py`, the tests and the README check read them
from there. Importing a facts module loads neither torch nor onnx, so postprocess and accuracy steps that only
need names and shapes start fast.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

# The accuracy bar for float16 NPU builds (ONNX Runtime in float32 reaches 0.9999 or better).
DEFAULT_THRESHOLD = 0.99
# The exact (float32) engines a model's backend table may name; the first is the default where it names none.
EXACT_BACKENDS = ("onnxruntime", "openvino")
# CPU feature sets, widest first, each with the /proc/cpuinfo flags that define it.
CPU_FEATURE_SETS = (("amx", ("amx_tile", "amx_bf16", "avx512f")), ("avx512", ("avx512f",)),
                    ("avx2", ("avx2", "fma")))


def cpu_feature_set(cpuinfo="/proc/cpuinfo"):
    """This CPU's feature set key ("amx", "avx512", "avx2", else "baseline"), from the flags of `cpuinfo`'s first
    processor: the same CPU always gives the same key."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return "baseline"
    flags = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags = set(value.split())
            break
    return next((name for name, needs in CPU_FEATURE_SETS if flags.issuperset(needs)), "baseline")


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
    # (CPU feature set, exact engine) pairs: the engine benchmarks/run_all.py --write-backend-table measured
    # faster for this model on that feature set; the runner's default backend (--backend overrides it).
    backends: Tuple[Tuple[str, str], ...] = ()
    # The engines exact enough for this model's own checks: the only ones its backend table may name.
    exact_backends: Tuple[str, ...] = EXACT_BACKENDS

    def default_backend(self, feature_set=None):
        """The runner's default engine for this model on `feature_set` (this CPU's when None)."""
        engine = dict(self.backends).get(feature_set or cpu_feature_set())
        return engine if engine in self.exact_backends else self.exact_backends[0]

    @property
    def graph(self):
        """The only graph of a one-graph model."""
        (only,) = self.graphs
        return only


def folder_facts(root):
    """The FACTS of every model folder under `root` (the folder holding common/; a model folder holds a chain.py),
    from its `*_facts.py`."""
    found = []
    for path in sorted(p for chain in Path(root).glob("*/chain.py") for p in chain.parent.glob("*_facts.py")):
        spec = importlib.util.spec_from_file_location(f"_facts_{path.parent.name}_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if isinstance(getattr(module, "FACTS", None), ModelFacts):
            found.append(module.FACTS)
    return found


def facts_of_graph(all_facts, input_names, output_names):
    """The one model among `all_facts` with a graph of these input and output names (in order), else None."""
    signature = (tuple(input_names), tuple(output_names))
    matches = [f for f in all_facts
               if any((tuple(t.name for t in g.inputs), tuple(t.name for t in g.outputs)) == signature
                      for g in f.graphs)]
    return matches[0] if len(matches) == 1 else None
