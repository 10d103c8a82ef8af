"""Every step with several outputs, killed (SIGKILL) or interrupted (SIGINT) at each rename of its commit and
while it is still writing. Ctrl-C never splits a commit: the old set or the new one stays. A kill in the middle
of the renames leaves some parts new and some old: the next step that reads them either sees a whole set, the
old or the new, or refuses the mix in one line, and it changes nothing on disk; the step's next run writes the
whole set again and removes what the dead run left.

Each interrupted run is a fork of this process running the script's real `main`, with os.replace wrapped so
that the process dies (os._exit, as SIGKILL leaves it) or receives SIGINT exactly before the k-th rename.
One case also kills a real script process from outside while it writes.

Issue 23's tables: a person's file saved into every output folder of each writer before each of its renames,
while it writes and inside its commit window (rule 1: kept, never deleted), and the runner's inputs rewritten
while it runs (rule 4: refused, nothing committed). The moment is set by the same wrapped os.replace (or the
runner's per-batch hook), never by sleeping.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import biggan_model
import biggan_postprocess
import biggan_preprocess
import CycleGAN_preprocess
import datasets_deal
import GAN_facts
import GAN_model
import GAN_preprocess
import GAN_pth2onnx
import gen_dataset_info
import pix2pixhd_data
import pix2pixhd_preprocess
from common import cli, errors, fileio, infer, records, runner, staging, tool_outputs
from cyclegan_data import write_synthetic_maps
from pix2pixhd_synthetic import write_cityscapes

ROOT = Path(__file__).resolve().parents[1]


def snapshot(parts):
    """{part: content digest} of a set of output files and folders (None for a missing part). Paths in text
    files (.info files name their images) are digested without the folder they were written in."""
    def digest(path):
        data = path.read_bytes()
        if path.suffix == ".info":
            data = re.sub(rb"\S*/(test[AB]/)", rb"\1", data)
        if path.suffix == ".json":  # a runner summary: the files it describes (its timings differ every run)
            files = json.loads(data)["filesinfo"].values()
            data = repr([[Path(p).name for p in (*info["infiles"], *info["outfiles"])] for info in files]).encode()
        return hashlib.sha1(data).hexdigest()
    shot = {}
    for part in parts:
        if part.is_dir():
            shot[part.name] = sorted((p.name, digest(p)) for p in part.iterdir())
        else:
            shot[part.name] = digest(part) if part.exists() else None
    return shot


def leftovers(parts):
    """Hidden entries beside the parts other than their run records: what a dead run left."""
    folders = {part.parent for part in parts}
    return sorted(str(p) for folder in folders for p in folder.iterdir()
                  if p.name.startswith(".") and not p.name.endswith(records.RECORD_SUFFIX))


def tree(folder):
    """Everything under `folder`, hidden entries included, for 'a reader changed nothing'."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else p.is_dir() for p in folder.rglob("*")}


# Each case: (main, argv(work, variant), the parts, the next step's reading of them). The two variants write
# different contents into the same paths.

def biggan_case(data):
    pth = biggan_model.random_checkpoint(data / "G_ema.pth", 8, seed=0)

    def argv(work, variant):
        return ["--pth", str(pth), "--prep-noise", str(work / "prep_noise"), "--prep-label", str(work / "prep_label"),
                "--gen-y", str(work / "gen_y.npz"), "--num-inputs", "4", "--seed", str(variant)]

    def next_step(work):  # what the runner and biggan_eval_acc.py read
        fileio.pair_by_position([work / "prep_noise", work / "prep_label"])
        records.check_same_run(work / "gen_y.npz")
    return biggan_preprocess.main, argv, ("prep_noise", "prep_label", "gen_y.npz"), next_step


def gan_case(data):
    pth = data / "generator.pth"
    GAN_model.random_checkpoint(pth, seed=0)

    def argv(work, variant):
        return ["--offline_path", str(work / "vectors"), "--online_path", str(work / "images"), "--pth_path", str(pth),
                "--iters", "2", "--batch_size", "2", "--seed", str(variant)]

    def next_step(work):
        fileio.pair_by_position([work / "vectors"])
        records.check_same_run(work / "images")
    return GAN_preprocess.main, argv, ("vectors", "images"), next_step


def cyclegan_case(data):
    sources = [write_synthetic_maps(data / f"maps{variant}", 1, seed=variant, size=300) for variant in (0, 1)]

    def argv(work, variant):
        return ["--src_path_testA", str(sources[variant] / "testA"), "--save_pathTestA_dst", str(work / "testA"),
                "--src_path_testB", str(sources[variant] / "testB"), "--save_pathTestB_dst", str(work / "testB")]

    def next_step(work):
        fileio.pair_by_position([work / "testA"])
        fileio.pair_by_position([work / "testB"])
    return CycleGAN_preprocess.main, argv, ("testA", "testB"), next_step


def gen_dataset_info_case(data):
    main, base_argv, _, _ = cyclegan_case(data)

    def argv(work, variant):
        return base_argv(work, variant) + ["--dataTestA_infoName", str(work / "testA_prep.info"),
                                           "--dataTestB_infoName", str(work / "testB_prep.info")]

    def next_step(work):
        records.check_same_run(work / "testA", work / "testB_prep.info")
    return gen_dataset_info.main, argv, ("testA", "testB", "testA_prep.info", "testB_prep.info"), next_step


def cityscapes(data):
    roots = []
    for variant in (0, 1):
        write_cityscapes(data / f"city{variant}", cities=("aachen",), per_city=2, height=32, width=64, seed=variant)
        roots.append(data / f"city{variant}" / "gtFine" / "val")
    return roots


def datasets_deal_case(data):
    """Its reader pairs the maps by name and checks no run records (a dataset is the user's to edit by hand),
    so a kill between its renames can leave same-named maps of the two test splits: for it, only Ctrl-C and
    kills outside the renames are held to 'old or new', and its next run to 'new'."""
    splits = cityscapes(data)

    def argv(work, variant):
        return [str(work / "test_inst"), str(work / "test_label"), str(splits[variant])]
    return datasets_deal.main, argv, ("test_inst", "test_label"), pix2pixhd_data.paired_maps


def pix2pixhd_compact_case(data):
    datasets = []
    for variant, split in enumerate(cityscapes(data)):
        datasets.append(data / f"dataset{variant}")
        assert datasets_deal.main([str(datasets[-1] / "test_inst"), str(datasets[-1] / "test_label"), str(split)]) == 0

    def argv(work, variant):
        return [str(datasets[variant]), str(work), "--compact"]

    def next_step(work):
        fileio.pair_by_position([work / "label", work / "edge"])
    return pix2pixhd_preprocess.main, argv, ("label", "edge"), next_step


def infer_case(data):
    pth, onnx_file = data / "generator.pth", data / "gan.onnx"
    GAN_model.random_checkpoint(pth, seed=0)
    assert GAN_pth2onnx.main(["--input_file", str(pth), "--output_file", str(onnx_file)]) == 0
    for variant in (0, 1):
        assert GAN_preprocess.main(["--offline_path", str(data / f"vectors{variant}"), "--iters", "3",
                                    "--batch_size", "2", "--seed", str(variant)]) == 0

    def argv(work, variant):
        return ["--model", str(onnx_file), "--input", str(data / f"vectors{variant}"), "--output", str(work),
                "--output_dirname", "bs2"]

    def next_step(work):  # what a postprocess reads: the folder and, through it, the summary's shapes
        tool_outputs.read_output(tool_outputs.resolve_result_dir(work / "bs2") / "0_0.bin", GAN_facts.IMAGE_SHAPE)
    return infer.main, argv, ("bs2", "bs2_summary.json"), next_step


def synthetic_outputs(data, names, shape):
    """Two runs' outputs, result0/ and result1/ under `data`: the files `names`, seeded tanh noise of `shape`."""
    for variant in (0, 1):
        rng = np.random.default_rng(variant)
        for name in names:
            fileio.write_array(data / f"result{variant}" / name, np.tanh(rng.standard_normal(shape)).astype(np.float32))


def biggan_postprocess_case(data):
    synthetic_outputs(data, [f"input_{i:05d}_0.bin" for i in range(3)], (1, 3, 128, 128))

    def argv(work, variant):
        return ["--result-path", str(data / f"result{variant}"), "--save-path", str(work), "--save-img",
                "--save-npz", "--gen-img", str(work / "gen_img_bs1.npz")]

    def next_step(work):  # what biggan_eval_acc.py reads
        records.check_same_run(work / "gen_img_bs1.npz")
    return biggan_postprocess.main, argv, ("img_bs1", "grid_bs1.png", "gen_img_bs1.npz"), next_step


CASES = {"biggan_preprocess": biggan_case, "infer": infer_case, "biggan_postprocess": biggan_postprocess_case, "GAN_preprocess": gan_case, "CycleGAN_preprocess": cyclegan_case,
         "gen_dataset_info": gen_dataset_info_case, "datasets_deal": datasets_deal_case,
         "pix2pixhd_preprocess --compact": pix2pixhd_compact_case}


def count_renames(main, argv, monkeypatch):
    """(number of os.replace calls of a run, index of the first rename of its commit: the first that moves a
    part out of or into a final place, not from one staging name to another)."""
    calls = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda *a: (calls.append(tuple(map(str, a[:2]))), real(*a))[1])
    assert main(argv) == 0
    monkeypatch.setattr(os, "replace", real)
    return len(calls), min(i for i, names in enumerate(calls) if any(staging.STAGING_PREFIX not in n for n in names))


def run_interrupted(main, argv, at, how):
    """Fork; the child runs main(argv) and dies (how="kill") or gets SIGINT (how="int") just before its
    at-th call of os.replace. Returns the child's exit status."""
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery from here on, only os._exit
        try:
            torch.set_num_threads(1)  # the parent's thread pool did not survive the fork: stay on this thread
            # Ctrl-C as a terminal delivers it to Python's own handler (a test run started in the background
            # by a shell inherits SIGINT ignored)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            real, calls = os.replace, [0]

            def replace(*args):
                if calls[0] == at:
                    if how == "kill":
                        os._exit(137)
                    os.kill(os.getpid(), signal.SIGINT)
                calls[0] += 1
                return real(*args)
            os.replace = replace
            os._exit(cli.run(main, argv))
        except BaseException:
            os._exit(99)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.parametrize("name", CASES)
def test_interrupted_commit_leaves_old_or_new_set(name, tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    main, argv, part_names, next_step = CASES[name](tmp_path / "data")
    old_work, new_work = tmp_path / "old", tmp_path / "new"
    assert main(argv(old_work, 0)) == 0
    shutil.copytree(old_work, new_work, symlinks=True)
    renames, commit = count_renames(main, argv(new_work, 1), monkeypatch)  # over an old set, as below
    old, new = (snapshot([w / n for n in part_names]) for w in (old_work, new_work))
    assert old != new and None not in old.values()
    for how in ("kill", "int"):
        for at in range(renames + 1):
            work = tmp_path / f"{how}{at}"
            shutil.copytree(old_work, work, symlinks=True)
            status = run_interrupted(main, argv(work, 1), at, how)
            assert status == (0 if at == renames else 130 if how == "int" else 137)
            parts = [work / n for n in part_names]
            before = tree(work)
            try:
                next_step(work)
                refused = None
            except errors.UserError as err:
                refused = str(err)
            assert tree(work) == before, f"{how} before rename {at}: the reading step changed the disk"
            after = snapshot(parts)
            if how == "int" or at < commit or at == renames:  # Ctrl-C waits for the commit; a kill before it
                assert refused is None, f"{how} before rename {at}: {refused}"
                assert after == (new if at >= commit else old), f"{how} before rename {at} of {renames}"
            elif name != "datasets_deal":  # killed in the middle of the renames: the mix refused, or all old or new
                present = {name: shot for name, shot in after.items() if shot is not None}  # a part between renames
                assert refused is not None or any(present.items() <= whole.items() for whole in (old, new)), \
                    f"kill before rename {at}: a mix was read"
                assert refused is None or "again" in refused or "no such" in refused, refused
            assert main(argv(work, 1)) == 0  # the step's next run writes the whole set and clears the rest
            next_step(work)
            assert snapshot(parts) == new
            assert not leftovers(parts), f"{how} before rename {at}: {leftovers(parts)}"


def test_parts_of_different_runs_are_refused(tmp_path):
    (tmp_path / "data").mkdir()
    main, argv, _, next_step = biggan_case(tmp_path / "data")
    for variant in (0, 1):
        assert main(argv(tmp_path / f"run{variant}", variant)) == 0
    shutil.rmtree(tmp_path / "run0" / "prep_label")
    shutil.copytree(tmp_path / "run1" / "prep_label", tmp_path / "run0" / "prep_label")
    with pytest.raises(errors.UserError, match="prep_noise: written by biggan_preprocess.py together with .*prep_label, "
                                            "which now holds the output of another run"):
        next_step(tmp_path / "run0")
    assert main(argv(tmp_path / "run0", 0)) == 0  # a rerun writes them together again
    next_step(tmp_path / "run0")
    os.rename(tmp_path / "run0", tmp_path / "moved")  # the records name their partners relative to themselves
    next_step(tmp_path / "moved")
    shutil.copytree(tmp_path / "moved", tmp_path / "copied")  # and so does a copy of the whole set
    next_step(tmp_path / "copied")


def test_sigkill_while_writing_leaves_the_old_set_and_the_next_run_cleans_up(tmp_path):
    (tmp_path / "data").mkdir()
    main, argv, part_names, next_step = biggan_case(tmp_path / "data")
    work = tmp_path / "work"
    assert main(argv(work, 0)) == 0
    old = snapshot([work / n for n in part_names])
    command = [sys.executable, str(ROOT / "BigGAN" / "biggan_preprocess.py"), *argv(work, 1)]
    command[command.index("4")] = "40000"  # long enough to be killed while it writes
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def staged_labels():
        return [p for p in work.glob(f"{staging.STAGING_PREFIX}*/new/prep_label") if any(p.iterdir())]
    deadline = time.monotonic() + 120
    try:
        while not staged_labels() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
    assert staged_labels(), "the run ended before it could be killed while writing"
    assert snapshot([work / n for n in part_names]) == old
    before = tree(work)
    next_step(work)  # a reader leaves the dead run's staging folder alone
    assert tree(work) == before
    assert main(argv(work, 0)) == 0  # the next run removes what the dead one left
    assert not leftovers([work / n for n in part_names])
    next_step(work)


def test_same_path_for_two_outputs_is_refused_and_touches_nothing(tmp_path):
    (tmp_path / "data").mkdir()
    main, argv, _, _ = biggan_case(tmp_path / "data")
    work = tmp_path / "work"
    assert main(argv(work, 0)) == 0
    before = snapshot([work / "prep_noise", work / "prep_label", work / "gen_y.npz"])
    same = argv(work, 1)
    same[same.index("--prep-label") + 1] = str(work / "prep_noise")
    with pytest.raises(errors.UserError, match="prep_noise: given for two outputs"):
        main(same)
    assert snapshot([work / "prep_noise", work / "prep_label", work / "gen_y.npz"]) == before
    assert not leftovers([work / "prep_noise"])
    np.testing.assert_array_equal(np.load(work / "gen_y.npz")["y"].shape, (4,))


def test_run_records_check_in_another_process(tmp_path):
    """The record's fingerprint must not depend on the process (Python's hash seed, say)."""
    with staging.OutputSet("demo.py") as outputs:
        folder = outputs.folder(tmp_path / "a")
        for i in range(7):
            fileio.write_array(folder / f"x_{i}.bin", np.full(3, i, np.float32), atomic=False)
        outputs.file(tmp_path / "b.npz").write_bytes(b"b")
    check = f"from common import records; records.check_same_run({str(tmp_path / 'a')!r}, {str(tmp_path / 'b.npz')!r})"
    for seed in ("1", "2"):
        subprocess.run([sys.executable, "-c", check], cwd=ROOT, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})
    # Every byte of every file counts: the second of seven files (neither first, middle nor last) swapped for
    # one of the same size
    (tmp_path / "a" / "x_1.bin").write_bytes(np.full(3, 9, np.float32).tobytes())
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1 and "a: changed after demo.py wrote it" in done.stderr, done.stderr


def test_concurrent_commits_into_one_set_take_turns(tmp_path, monkeypatch):
    """Run A (a fork) pauses in the middle of its commit, after its first rename; run B commits the same three
    outputs meanwhile. B must wait for A's commit to end (the folder lock), so the set is wholly B's, never
    B's noise beside A's labels."""
    (tmp_path / "data").mkdir()
    main, argv, part_names, next_step = biggan_case(tmp_path / "data")
    work, reference = tmp_path / "work", tmp_path / "reference"
    assert main(argv(reference, 1)) == 0
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            torch.set_num_threads(1)
            real, moves = os.replace, [0]

            def replace(*args):
                real(*args)
                if staging.STAGING_PREFIX not in str(args[1]):  # the commit's renames into final places
                    moves[0] += 1
                    if moves[0] == 1:
                        os.write(write, b"x")  # inside the commit now
                        time.sleep(1.5)
            os.replace = replace
            os._exit(cli.run(main, argv(work, 0)))
        except BaseException:
            os._exit(99)
    assert os.read(read, 1) == b"x"
    assert main(argv(work, 1)) == 0  # waits for A's commit, then replaces the whole set
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    next_step(work)
    assert snapshot([work / n for n in part_names]) == snapshot([reference / n for n in part_names])


# --- Issue 23, rule 1: what a step replaces, it re-checks at the moment of replacing ------------------------
# A person saves `thesis.tex` into every output folder that exists, during a run over an old set: as the step
# starts writing, and just before each rename of its commit (for these writers every rename is the commit's).
# The step either refuses in one line (the old folder put back, nothing committed) or, where the folder was
# already the new one, keeps the file in it; the file is never lost and the set read next is whole.

def dcgan_preprocess_case(data):
    import dcgan_preprocess

    def argv(work, variant):
        return [str(work / "prep"), "--num", "3", "--seed", str(variant)]

    def next_step(work):
        fileio.pair_by_position([work / "prep"])
    return dcgan_preprocess.main, argv, ("prep",), next_step


def dcgan_postprocess_case(data):
    import dcgan_postprocess

    synthetic_outputs(data, [f"noise_{i:04d}_0.bin" for i in range(2)], (1, 3, 64, 64))

    def argv(work, variant):
        return ["--benchmark_result_path", str(data / f"result{variant}"), "--save_path", str(work / "img")]

    def next_step(work):
        assert {p.suffix for p in (work / "img").iterdir()} == {".png"}
    return dcgan_postprocess.main, argv, ("img",), next_step


WRITERS = {**CASES, "dcgan_preprocess": dcgan_preprocess_case, "dcgan_postprocess": dcgan_postprocess_case}


def save_notes(work, part_names, tag):
    """A person's file saved into every output folder that exists now; returns {path: content}."""
    notes = {}
    for name in part_names:
        if (work / name).is_dir():
            notes[work / name / "thesis.tex"] = f"chapter {tag}\n"
            (work / name / "thesis.tex").write_text(notes[work / name / "thesis.tex"])
    return notes


@pytest.mark.parametrize("name", WRITERS)
def test_a_file_saved_into_an_output_folder_during_the_run_is_kept(name, tmp_path, monkeypatch, capsys):
    (tmp_path / "data").mkdir()
    main, argv, part_names, next_step = WRITERS[name](tmp_path / "data")
    old_work = tmp_path / "old"
    assert main(argv(old_work, 0)) == 0
    shutil.copytree(old_work, tmp_path / "count", symlinks=True)
    renames, commit = count_renames(main, argv(tmp_path / "count", 1), monkeypatch)  # over an old set, as below
    old, new = (snapshot([w / n for n in part_names]) for w in (old_work, tmp_path / "count"))
    real_replace, real_folder = os.replace, staging.OutputSet.folder
    outcomes = set()
    for at in range(-1, renames):  # -1: as the step starts writing its first staged folder
        work = tmp_path / f"at{at}"
        shutil.copytree(old_work, work, symlinks=True)
        calls, notes = [0], {}

        def replace(*args):
            if calls[0] == at:
                notes.update(save_notes(work, part_names, at))
            calls[0] += 1
            return real_replace(*args)

        def folder(outputs, *args, **kwargs):
            staged = real_folder(outputs, *args, **kwargs)
            if not notes:
                notes.update(save_notes(work, part_names, at))
            return staged
        if at < 0:
            monkeypatch.setattr(staging.OutputSet, "folder", folder)
        else:
            monkeypatch.setattr(os, "replace", replace)
        capsys.readouterr()
        status = cli.run(main, argv(work, 1))
        monkeypatch.setattr(os, "replace", real_replace)
        monkeypatch.setattr(staging.OutputSet, "folder", real_folder)
        err = capsys.readouterr().err
        for note, text in notes.items():  # every saved file where the person saved it, as they wrote it
            assert note.read_text() == text, f"rename {at}: {note}"
        assert "Traceback" not in err
        if status == 2:
            errors = [line for line in err.splitlines() if line.startswith("error:")]
            # found at the commit, or, for a second folder of the step, when that one is staged
            assert len(errors) == 1 and re.search(r"'thesis.tex' appeared in it while this step ran|"
                                                  r"folder already holds 'thesis.tex'", errors[0]), err
        else:
            assert status == 0, err
        for note in notes:
            note.unlink()
        next_step(work)  # the set read next is whole: the old one (refused) or the new one
        assert snapshot([work / n for n in part_names]) == (old if status == 2 else new), f"rename {at}"
        assert not leftovers([work / n for n in part_names]), f"rename {at}"
        outcomes.add((at >= commit, bool(notes), status))
    assert (False, True, 2) in outcomes, f"no refusal of a file saved while the step wrote: {outcomes}"
    assert (True, True, 2) in outcomes, f"no refusal inside the commit window: {outcomes}"
    assert not any(saved is False and status != 0 for _, saved, status in outcomes), outcomes


# --- Issue 23, rule 4: an input set is the same at the end of a run as at its start ------------------------
# The runner reads the GAN vectors; after its first batch, something rewrites what it reads. It refuses in one
# line, writes nothing (an old result stays as it was), and leaves no staging folder. Stat data only: nothing is
# read twice. A hidden file beside the inputs and an untouched set pass.

def rewrite_by_another_run(data, vectors, model):
    assert GAN_preprocess.main(["--offline_path", str(vectors), "--iters", "3", "--batch_size", "2",
                                "--seed", "7"]) == 0


CHANGED = r"error: \S*/(vectors1|gan.onnx): --(input|model) changed while this step read it"
REWRITES = {  # (the change, the error line expected; None: exit 0)
    "another run rewrites the folder": (rewrite_by_another_run, CHANGED),
    "a file rewritten in place, same size": (lambda d, v, m: (v / "1.bin").write_bytes((v / "0.bin").read_bytes()),
                                             CHANGED),
    "a file added": (lambda d, v, m: shutil.copy(v / "0.bin", v / "3.bin"), CHANGED),
    "a file removed": (lambda d, v, m: (v / "2.bin").unlink(), rf"{CHANGED}|error: \S*/vectors1/2.bin: no such file"),
    "the model replaced": (lambda d, v, m: (shutil.copy(m, d / "copy.onnx"), os.replace(d / "copy.onnx", m)), CHANGED),
    "a hidden file added (not an input)": (lambda d, v, m: (v / ".DS_Store").write_bytes(b"x"), None),
    "untouched": (lambda d, v, m: None, None),
}


@pytest.mark.parametrize("how", REWRITES)
def test_inputs_rewritten_during_the_run_are_refused(how, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    data.mkdir()
    main, argv, part_names, next_step = infer_case(data)
    work = tmp_path / "work"
    assert main(argv(work, 0)) == 0
    old = snapshot([work / n for n in part_names])
    vectors, model = data / "vectors1", data / "gan.onnx"
    rewrite, expected = REWRITES[how]
    real_store, done = runner.store_batch, []

    def store_batch(*args, **kwargs):
        if not done:
            done.append(rewrite(data, vectors, model))
        return real_store(*args, **kwargs)
    monkeypatch.setattr(runner, "store_batch", store_batch)
    capsys.readouterr()
    status = cli.run(main, argv(work, 1))
    err = capsys.readouterr().err
    assert done and status == (0 if expected is None else 2) and "Traceback" not in err, err
    if expected is not None:
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err
        assert re.match(expected, errors[0]), errors[0]
        assert snapshot([work / n for n in part_names]) == old
    else:
        assert snapshot([work / n for n in part_names]) != old
    next_step(work)
    assert not leftovers([work / n for n in part_names])


def test_a_folder_that_cannot_go_back_is_kept_beside_never_removed(tmp_path, monkeypatch, capsys):
    """The person saves thesis.tex into prep/ just before the commit moves prep aside, and makes a new prep/ of
    their own right after: the old folder (with thesis.tex) cannot go back, so it is kept beside, not removed."""
    main, argv, _, _ = dcgan_preprocess_case(tmp_path)
    work = tmp_path / "work"
    assert main(argv(work, 0)) == 0
    real = os.replace

    def replace(source, target):
        if Path(source) == work / "prep":  # the commit moving the old folder aside
            (work / "prep" / "thesis.tex").write_text("chapter 1")
            real(source, target)
            (work / "prep").mkdir()
            (work / "prep" / "draft.txt").write_text("chapter 2")
            return None
        return real(source, target)
    monkeypatch.setattr(os, "replace", replace)
    capsys.readouterr()
    status = cli.run(main, argv(work, 1))
    monkeypatch.setattr(os, "replace", real)
    err = capsys.readouterr().err
    [kept] = work.glob("prep.kept-*")
    assert status == 2 and "Traceback" not in err and err.count("error:") == 1, err
    assert f"that is now {kept}" in err
    assert (kept / "thesis.tex").read_text() == "chapter 1" and len(list(kept.glob("noise_*.bin"))) == 3
    assert (work / "prep" / "draft.txt").read_text() == "chapter 2"
    assert not leftovers([work / "prep"])
