"""The preview's inputs, the fp32 model's outputs on them, and the fp16 emulation's agreement with those."""
import math

import numpy as np
from tqdm import tqdm

from common import room, similarity, sources
from common.errors import UserError
from common.fp16.graph import emulate, expose_intermediates, name_nodes
from common.fp16.weights import ModelFiles


def input_batches(backend, spec, num, batchsize=None, seed=0):
    """Batches of feeds as the runner reads them (same pairing and size checks), covering `num` samples.

    Returns (list of (feeds, number of real samples in it), description of the data)."""
    if spec:
        source = sources.FileInputs(spec, backend.inputs, batchsize)
        per_file = max(1, source.model_batch // source.factor)
        n_files = min(source.files, max(1, math.ceil(num / per_file)))
        source = source.first(n_files)
        check_held(backend, source.shapes, len(source.batches), f"--num {num}")
        groups = [(source.feeds(batch), batch.n_real * per_file) for batch in source.batches]
        return groups, f"{n_files} file(s) of {spec}"
    shapes, batch = sources.resolve_shapes(backend.inputs, batchsize)
    check_held(backend, shapes, math.ceil(num / batch), f"--num {num}")
    groups = [(sources.pure_data(backend.inputs, shapes, "random", seed + b), min(batch, num - b * batch))
              for b in range(math.ceil(num / batch))]
    return groups, f"seeded random data (seed {seed})"


def check_held(backend, shapes, n_batches, what):
    """The evaluation holds every batch's inputs, its fp32 outputs and its emulated ones at once: refuse, before
    any is read or made, what this machine cannot hold (sizes in Python integers; an output axis the model
    leaves free beyond the batch counts as 1)."""
    batch = shapes[0][0] if shapes and shapes[0] else 1
    inputs = sum(math.prod(shape) * np.dtype(spec.dtype).itemsize for spec, shape in zip(backend.inputs, shapes))
    outputs = sum(math.prod(batch if k == 0 and d is None else d or 1 for k, d in enumerate(spec.shape))
                  * np.dtype(spec.dtype).itemsize for spec in backend.outputs)
    room.check_memory(n_batches * (inputs + 2 * outputs), f"{what} ({n_batches} batch(es) of {batch})")


def first_sample(v):
    v = np.asarray(v)
    return v[:1].copy() if v.ndim else v


class _Agreement:
    """One output's agreement figures, accumulated batch by batch (the emulated batches are not kept)."""

    def __init__(self):
        self.cosines, self.gaps, self.sq, self.count, self.worst, self.finite = [], [], 0.0, 0, 0.0, True

    def add(self, ref, emu):
        ok = bool(np.all(np.isfinite(emu)))
        self.finite &= ok
        for r, e in zip(ref, emu):
            ok_e = bool(np.all(np.isfinite(e)))
            self.cosines.append(similarity.cosine(r, e) if ok_e else math.nan)
            self.gaps.append(similarity.one_minus_cosine(r, e) if ok_e else math.nan)
        if ok:
            diff = ref.astype(np.float64) - emu.astype(np.float64)
            self.worst = max(self.worst, float(np.max(np.abs(diff))) if diff.size else 0.0)
            self.sq += float(np.sum(diff ** 2))
            self.count += diff.size

    def entry(self, image):
        cos, finite = np.array(self.cosines), self.finite
        entry = {"mean_cosine": float(np.mean(cos)), "min_cosine": float(np.min(cos)),
                 "mean_one_minus_cosine": float(np.mean(self.gaps)),
                 "max_abs": self.worst if finite else math.inf, "finite": finite, "samples": len(self.cosines)}
        if image:  # PSNR over the [-1, 1] range
            mse = self.sq / self.count if self.count else math.nan
            entry["psnr"] = (math.inf if mse == 0.0 else 10.0 * math.log10(4.0 / mse)) if finite else -math.inf
        return entry


class Evaluator:
    """The fp32 model's outputs on fixed inputs, and the emulation's agreement with them for any keep set.

    The model is handed over: its nodes are named in place and its weights move to `files` (a ModelFiles made
    here unless given), which every session maps; `model` is then the graph alone."""

    def __init__(self, model, groups, output_names, progress=True, reference_session=None, files=None):
        self.files = files or ModelFiles(name_nodes(model))
        self.model = name_nodes(self.files.graph)
        self.groups = groups
        self.output_names = output_names
        self.input_names = [i.name for i in self.model.graph.input
                            if i.name not in {t.name for t in self.model.graph.initializer}]
        self.progress = progress
        reference = reference_session or self.files.session(self.model)
        self.reference = [self.run(reference, feeds) for feeds, _ in self._iter(groups, "fp32 reference")]
        self.trials = 0
        self.retained = None  # the emulated outputs of the last evaluate(retain=True)
        self.exposed = None  # the first sample's exposed tensors of the last outputs(expose=...)

    def _iter(self, items, desc):
        return tqdm(items, desc=desc, unit="batch", disable=not self.progress or len(items) < 2, leave=False)

    def run(self, sess, feeds, names=None):
        """`sess` on one batch's feeds: the outputs `names` (default all)."""
        return sess.run(names, dict(zip(self.input_names, feeds)))

    def _emulated(self, mode, keep, expose=()):
        """The emulated outputs, batch by batch. With `expose` (tensor names), the same session also returns
        those tensors on the first batch, whose first sample stays in self.exposed (for the per-node errors)."""
        emulated = emulate(self.model, mode, keep)
        sess = self.files.session(expose_intermediates(emulated, expose) if expose else emulated)
        order = [o.name for o in sess.get_outputs()]
        wanted = order[:len(self.output_names)]  # exposed tensors come after
        for b, (feeds, _) in enumerate(self._iter(self.groups, f"fp16 emulation ({mode})")):
            if b == 0 and expose:
                values = self.run(sess, feeds)
                named = dict(zip(order, values))
                self.exposed = {t: first_sample(named[t]) for t in expose}
                yield values[:len(wanted)]
            else:
                yield self.run(sess, feeds, wanted)

    def outputs(self, mode, keep, expose=()):
        """The emulated outputs per batch (expose: as in _emulated)."""
        return list(self._emulated(mode, keep, expose))

    def evaluate(self, mode, keep=None, retain=False, expose=()):
        """Per output: mean/min per-sample flattened cosine, max |diff|, PSNR (4-D outputs), finite. With
        `retain`, the emulated outputs stay in self.retained (for the report's worst samples); `expose`: as
        in outputs()."""
        self.trials += 1
        agreement = [_Agreement() for _ in self.output_names]
        retained = []
        for b, emu_batch in enumerate(self._emulated(mode, keep, expose)):
            n_real = self.groups[b][1]
            for k, figures in enumerate(agreement):
                figures.add(np.asarray(self.reference[b][k])[:n_real], np.asarray(emu_batch[k])[:n_real])
            if retain:
                retained.append(emu_batch)
        if retain:
            self.retained = retained
        return {name: figures.entry(np.asarray(self.reference[0][k]).ndim == 4)
                for k, (name, figures) in enumerate(zip(self.output_names, agreement))}


def check_finite_reference(evaluator, model_path, described):
    """The fp32 model's own outputs must be finite: NaN or Inf there is no fp16 effect, and no keep list fixes it."""
    for k, name in enumerate(evaluator.output_names):
        bad = sum(not np.all(np.isfinite(outputs[k])) for outputs in evaluator.reference)
        if bad:
            raise UserError(f"{model_path}: output {name!r} of the fp32 model holds NaN or Inf ({bad} of "
                            f"{len(evaluator.reference)} batch(es) of {described}); the model itself is not finite, "
                            f"so no fp16 build can be judged against it")


def verdict(per_output):
    """(cosine = min over outputs of the mean cosine, finite, max_abs) of a per-output report."""
    cos = min(e["mean_cosine"] for e in per_output.values())
    finite = all(e["finite"] for e in per_output.values())
    return (cos if finite else math.nan), finite, max(e["max_abs"] for e in per_output.values())


def passes(per_output, threshold):
    cos, finite, _ = verdict(per_output)
    return finite and cos >= threshold  # NaN fails


def print_table(title, per_output):
    print(title)
    print(f"  {'output':<20} {'mean cos':>12} {'min cos':>12} {'max |diff|':>11} {'PSNR dB':>8}  finite")
    for name, e in per_output.items():
        psnr = f"{e['psnr']:8.2f}" if "psnr" in e else f"{'-':>8}"
        print(f"  {name:<20} {e['mean_cosine']:12.8f} {e['min_cosine']:12.8f} {e['max_abs']:11.4g} {psnr}  "
              f"{'yes' if e['finite'] else 'NO'}")
