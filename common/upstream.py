"""Checking a folder's generator against the upstream code it reimplements (the `*_compare_upstream.py` tools).

Upstream code is never shipped here: the user clones the upstream repository at the pinned commit, applies
the folder's `.patch`, and points the compare tool at the checkout. These helpers check the checkout (one
"not a checkout" and one "not patched" refusal, both before anything of it runs), import from it without
leaving its modules behind, and give one verdict.
"""
import contextlib
import dataclasses
import importlib
import importlib.util
import sys
import tempfile
import types
from pathlib import Path
from typing import Callable, NamedTuple, Tuple

import numpy as np
import torch

from common import checkpoint, cli, similarity
from common.errors import CheckFailed, UserError


class Checkout(NamedTuple):
    """What a compare tool needs of an upstream checkout, declared once per script.

    `name` is the repository's name for messages; `patched` is the file (relative path) the folder's `patch`
    changes and `marker` text that only the patched file holds; `files` are other files that must be there;
    `commit` the pinned commit, for --help.
    """
    name: str
    patched: str
    marker: str
    patch: str
    files: Tuple[str, ...] = ()
    commit: str = ""

    @classmethod
    def of(cls, facts, marker, patched=None, files=()):
        """The checkout of a folder's `facts.upstream` (common.facts.Upstream): named after its repository,
        patched by its patch; `patched` defaults to the generator file."""
        return cls(facts.repository.rsplit("/", 1)[-1], patched or facts.generator, marker, facts.patch, tuple(files),
                   facts.short_commit)

    def add_option(self, parser):
        """--upstream, the option every compare tool takes."""
        at = f" at {self.commit}" if self.commit else ""
        parser.add_argument("--upstream", required=True, type=cli.reads, help=f"{self.name} checkout{at} with {self.patch} applied")

    def root(self, given):
        """The checkout `given` with --upstream, resolved, once it has the files and holds the patch: an
        unpatched checkout is refused before importing it can run anything (PyTorch-GAN's scripts train at
        import)."""
        root = Path(given).resolve()
        missing = [str(f) for f in (self.patched, *self.files) if not (root / f).is_file()]
        if missing:
            raise UserError(f"{root}: not a {self.name} checkout (no {', '.join(missing)}); --upstream must be a "
                            f"checkout of the upstream repository")
        if self.marker not in (root / self.patched).read_text(encoding="utf-8", errors="replace"):
            raise UserError(f"{root / self.patched}: not patched (no {self.marker!r}); run "
                            f"`git apply {self.patch}` in {root} first")
        return root

    def modules(self, given, names):
        """imported_from(root(given), names): a context manager yielding the modules."""
        return imported_from(self.root(given), names)

    def script(self, given, module_name):
        """The patched file itself imported as `module_name` (a single script, not registered in sys.modules)."""
        spec = importlib.util.spec_from_file_location(module_name, self.root(given) / self.patched)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def _top_level_names(root):
    """The names a checkout's root makes importable: its .py files and its folders (packages or namespaces)."""
    return {p.stem if p.suffix == ".py" else p.name for p in root.iterdir()
            if (p.suffix == ".py" and p.is_file()) or (p.is_dir() and p.name.isidentifier())}


@contextlib.contextmanager
def imported_from(root, names):
    """Import the modules `names` (dotted) from the checkout at `root`; yield them as a list.

    Inside the block the checkout is first on sys.path, so upstream's own absolute imports (BigGAN's
    `layers`, pix2pixHD's `models.models` importing lazily) find its files. Modules of the same top-level
    names imported earlier in this process (another checkout's, or a `models` package of ours) are set
    aside for the block and put back after it; what the checkout brought is forgotten, so a second checkout
    in the same process imports its own files. An exception while importing is the checkout's (a missing
    dependency, a broken file): one UserError line naming it.
    """
    root = Path(root).resolve()
    tops = _top_level_names(root) | {name.split(".")[0] for name in names}

    def shadowed(module_name):  # a module of a name the checkout provides
        return module_name.split(".")[0] in tops

    saved = {name: module for name, module in sys.modules.items() if shadowed(name)}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        try:
            modules = [importlib.import_module(name) for name in names]
        except Exception as err:  # whatever the checkout's imports raise, report it in one line
            raise UserError(f"{root}: importing upstream's {', '.join(names)} failed "
                            f"({type(err).__name__}: {(str(err).splitlines() or [''])[0]})") from None
        yield modules
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if shadowed(name)]:
            del sys.modules[name]
        sys.modules.update(saved)


def call_on_stand_in(cls, method, attributes, *args, **kwargs):
    """Call `cls.method` with `self` a stand-in holding only `attributes`, without constructing `cls`.

    Upstream model classes cannot be built outside their training setup (options objects, GPU ids), yet
    some of their methods are the reference for a step (pytorch-CycleGAN-and-pix2pix's
    BaseModel.load_networks). Those methods call the class's private methods as `self.__name`, which Python
    stores as `_<Class>__name`: the stand-in gets each of them bound to itself, so the method runs unchanged.
    Returns (the method's result, the stand-in).
    """
    stand_in = types.SimpleNamespace(**attributes)
    for klass in cls.__mro__:
        prefix = f"_{klass.__name__}__"
        for name, value in vars(klass).items():
            if name.startswith(prefix) and not name.endswith("__") and callable(value):
                setattr(stand_in, name, types.MethodType(value, stand_in))
    return getattr(cls, method)(stand_in, *args, **kwargs), stand_in


@dataclasses.dataclass(frozen=True)
class ScriptGeneratorComparison:
    """The compare tool of a folder whose upstream generator is the `Generator` class of one script, built
    without arguments (PyTorch-GAN's dcgan.py and gan.py), declared once per tool: the same checkpoint is loaded
    strictly into upstream's Generator and through `load_ours`, both run in eval mode on the same seeded
    normal inputs of (--num, *sample_shape), and the outputs are compared.

    checkout: the Checkout whose patched file is the script, imported as `module_name`. container_keys: the
    checkpoint's container (common.checkpoint.load_into). load_ours: checkpoint path -> our generator.
    write_random(path, seed=...): writes a seeded random checkpoint in the official format. ours: our class,
    named in the report.
    """
    checkout: Checkout
    module_name: str
    sample_shape: Tuple[int, ...]
    container_keys: Tuple[str, ...]
    load_ours: Callable
    write_random: Callable
    ours: str

    def add_options(self, parser, checkpoint_example):
        self.checkout.add_option(parser)
        parser.add_argument("--checkpoint", type=cli.reads, default=None, help=f"checkpoint to compare on, e.g. {checkpoint_example} "
                                                               f"(default: seeded random weights in the official format)")
        parser.add_argument("--num", type=cli.positive_int, default=64, help="input samples")
        parser.add_argument("--seed", type=cli.seed, default=0, help="seed of the inputs and of the random checkpoint")
        parser.add_argument("--atol", type=cli.tolerance, default=1e-5, help="largest accepted |upstream - ours|")

    def run(self, args):
        """The comparison the options ask for; prints its figures and the verdict (CheckFailed above --atol)."""
        module = self.checkout.script(args.upstream, self.module_name)
        with tempfile.TemporaryDirectory() as tmp:
            path = args.checkpoint or self.write_random(Path(tmp) / "random.pth", seed=args.seed)
            theirs = module.Generator()
            checkpoint.load_into(theirs, path, container_keys=self.container_keys)
            figures = compare_generators(theirs, self.load_ours(path),
                                         [seeded_normal((args.num, *self.sample_shape), args.seed)])
        what = args.checkpoint or f"seeded random checkpoint (seed {args.seed}, official format)"
        report(f"upstream {self.checkout.patched} vs {self.ours} on {args.num} samples, {what}:", figures, args.atol)
        return 0


def compare_generators(upstream, ours, inputs):
    """Run both generators in eval mode without autograd on the same inputs; similarity figures of the outputs."""
    upstream.eval()
    ours.eval()
    with torch.no_grad():
        expected = upstream(*inputs).numpy()
        actual = ours(*inputs).numpy()
    return similarity.compare(expected, actual)


def seeded_normal(shape, seed):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def verdict(diffs, atol, passed=None):
    """The one verdict: `diffs` maps what was compared to its max |ours - upstream|. CheckFailed (exit
    status 1) when any exceeds `atol` (NaN included), naming the worst and, when several were compared,
    which; otherwise prints `passed` (when given) and returns the worst difference."""
    worst = max(diffs.values(), key=lambda d: d if d == d else float("inf"))
    over = [str(name) for name, diff in diffs.items() if not diff <= atol]
    if over:
        which = f"; {len(over)} of {len(diffs)}: {', '.join(over)}" if len(diffs) > 1 else ""
        raise CheckFailed(f"outputs differ from upstream by {worst:.3g} (max abs), tolerance {atol:g}{which}")
    if passed:
        print(passed)
    return worst


def report(header, figures, atol):
    """Print one comparison's figures and give the verdict on its max |difference|."""
    print(header)
    print(f"  max abs diff {figures['max_abs']:.3g}, mean abs diff {figures['mean_abs']:.3g}, "
          f"1 - cosine {figures['one_minus_cosine']:.3g}")
    verdict({"output": figures["max_abs"]}, atol, f"PASS: max abs diff <= {atol:g}")
