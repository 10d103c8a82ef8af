import io
import json
import zipfile

import numpy as np
import pytest

from common import cli, fileio, npz, staging, tool_outputs
from common.errors import UserError


def touch(path, data=b"\0\0\0\0"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_list_data_files_natural_order_and_filter(tmp_path):
    for name in ["noise_10.bin", "noise_2.bin", "noise_1.NPY", "sumary.json", "notes.txt", "noise_3.BIN"]:
        touch(tmp_path / name)
    (tmp_path / "sub").mkdir()
    (tmp_path / ".noise_0.bin.ganzoo-run").write_text("{}")  # hidden: a record, never a data file
    names = [p.name for p in fileio.list_data_files(tmp_path)]
    assert names == ["noise_1.NPY", "noise_2.bin", "noise_3.BIN", "noise_10.bin"]


def test_list_data_files_errors(tmp_path):
    with pytest.raises(UserError, match=r"missing: no such folder"):
        fileio.list_data_files(tmp_path / "missing")
    touch(tmp_path / "a.json")
    with pytest.raises(UserError, match=r"no \.bin/\.npy files"):
        fileio.list_data_files(tmp_path)
    assert fileio.list_data_files(tmp_path, require=False) == []


@pytest.mark.parametrize("ext", [".bin", ".npy"])
def test_write_read_round_trip(tmp_path, ext):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 7.5
    path = fileio.write_array(tmp_path / f"x{ext}", x)
    assert np.array_equal(fileio.read_array(path, np.float32, (2, 3, 4)), x)
    assert np.array_equal(fileio.read_array(path, np.float32, (-1, 3, 4)), x)
    assert fileio.read_array(path).shape == ((24,) if ext == ".bin" else (2, 3, 4))
    assert [p.name for p in tmp_path.iterdir()] == [f"x{ext}"]  # no temporary left behind


def test_bin_is_raw_little_endian(tmp_path):
    x = np.array([1.0, -2.5], dtype=np.float32)
    fileio.write_array(tmp_path / "x.bin", x.astype(">f4"))
    assert (tmp_path / "x.bin").read_bytes() == x.astype("<f4").tobytes()
    u = np.array([0, 255, 7], dtype=np.uint8)
    fileio.write_array(tmp_path / "u.bin", u)
    assert np.array_equal(fileio.read_array(tmp_path / "u.bin", np.uint8, (3,)), u)


def test_write_txt_rows_like_ais_bench(tmp_path):
    fileio.write_array(tmp_path / "y.txt", np.array([[1.0, 2.0], [3.0, 4.5]], np.float32))
    assert (tmp_path / "y.txt").read_text().splitlines() == ["1.000000 2.000000", "3.000000 4.500000"]


def test_read_txt_outputs_of_msame_and_ais_bench(tmp_path):
    x = (np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) - 7.25) / 8
    fileio.write_array(tmp_path / "ais.txt", x)  # ais_bench / common/infer.py --outfmt TXT: a row per last dim
    assert np.array_equal(fileio.read_array(tmp_path / "ais.txt", np.float32, (-1, 3, 4)), x)
    # msame: space-separated, a newline after each innermost row and after each higher dimension
    text = "\n".join(" ".join(f"{v:g}" for v in row) + " " for row in x.reshape(-1, 4)) + "\n\n"
    (tmp_path / "msame.txt").write_text(text)
    assert np.array_equal(fileio.read_array(tmp_path / "msame.txt", np.float32, (2, 3, 4)), x)
    touch(tmp_path / "short.txt", b"1 2 3\n")
    with pytest.raises(UserError, match=r"short\.txt: 3 numbers, expected 24 numbers for \(2, 3, 4\) float32"):
        fileio.read_array(tmp_path / "short.txt", np.float32, (2, 3, 4))
    touch(tmp_path / "words.txt", b"1.0 nope\n")
    with pytest.raises(UserError, match=r"words\.txt: expected whitespace-separated numbers"):
        fileio.read_array(tmp_path / "words.txt")


def test_output_files_detects_each_tools_naming(tmp_path):
    def folder(name, files):
        for f in files:
            touch(tmp_path / name / f)
        return tool_outputs.output_files(tmp_path / name)

    ais = folder("bs1", ["n_2_0.bin", "n_10_0.bin", "n_2_1.bin", "n_10_1.bin", "n_1_0.npy"])
    assert {k: p.name for k, p in ais.items()} == {"n_1": "n_1_0.npy", "n_2": "n_2_0.bin", "n_10": "n_10_0.bin"}
    assert list(ais) == ["n_1", "n_2", "n_10"]  # natural order
    assert tool_outputs.output_files(tmp_path / "bs1", index=1)["n_2"].name == "n_2_1.bin"
    bench = folder("dumpOutput_device1", ["noise_0000_1.bin", "noise_0001_1.bin"])  # first output is _1
    assert {k: p.name for k, p in bench.items()} == {"noise_0000": "noise_0000_1.bin", "noise_0001": "noise_0001_1.bin"}
    msame = folder("2021118_17_5_9_123456", ["7_output_0.txt", "12_output_0.txt", "12_output_1.txt"])
    assert {k: p.name for k, p in msame.items()} == {"7": "7_output_0.txt", "12": "12_output_0.txt"}
    assert folder("txt", ["a_A_0.txt", "notes.txt"]) == {"a_A": tmp_path / "txt" / "a_A_0.txt"}  # a log is not an output

    with pytest.raises(UserError, match=r"mixed/x_0\.bin: .*mixes msame outputs \(x_output_0\.bin\)"):
        folder("mixed", ["x_output_0.bin", "x_0.bin"])
    with pytest.raises(UserError, match=r"twice/x_0\.npy: a second file for output 0 of sample 'x' \(the other is x_0\.bin\)"):
        folder("twice", ["x_0.bin", "x_0.npy"])
    with pytest.raises(UserError, match=r"plain/x\.bin: not an output file name of ais_bench"):
        folder("plain", ["x.bin"])
    with pytest.raises(UserError, match=r"dumpOutput_device0/x_0\.bin: not an output file name of benchmark"):
        folder("dumpOutput_device0", ["x_0.bin"])


def test_pair_outputs_by_stem_across_tools(tmp_path):
    for i in range(3):
        touch(tmp_path / "pth" / f"n_{i}_0.bin")
        touch(tmp_path / "dumpOutput_device0" / f"n_{i}_1.bin")
        touch(tmp_path / "npy" / f"n_{i}_0.npy")
    pairs = tool_outputs.pair_outputs(tmp_path / "pth", tmp_path / "dumpOutput_device0")
    assert [(a.name, b.name) for a, b in pairs] == [(f"n_{i}_0.bin", f"n_{i}_1.bin") for i in range(3)]
    assert [b.name for _, b in tool_outputs.pair_outputs(tmp_path / "pth", tmp_path / "npy")] == [
        f"n_{i}_0.npy" for i in range(3)]
    (tmp_path / "npy" / "n_1_0.npy").unlink()
    with pytest.raises(UserError, match=r"npy/n_1_0\.npy: missing, expected as the partner of .*pth/n_1_0\.bin"):
        tool_outputs.pair_outputs(tmp_path / "pth", tmp_path / "npy")
    (tmp_path / "dumpOutput_device0" / "n_2_1.bin").unlink()
    with pytest.raises(UserError, match=r"dumpOutput_device0/n_2_1\.bin: missing, expected as the partner"):
        tool_outputs.pair_outputs(tmp_path / "pth", tmp_path / "dumpOutput_device0")
    with pytest.raises(UserError, match=r"pth/n_2_0\.bin: has no partner in .*dumpOutput_device0"):
        tool_outputs.pair_outputs(tmp_path / "dumpOutput_device0", tmp_path / "pth")
    assert len(tool_outputs.pair_outputs(tmp_path / "dumpOutput_device0", tmp_path / "pth", subset=True)) == 2


def test_read_array_size_errors_name_file_and_expectation(tmp_path):
    path = touch(tmp_path / "bad.bin", b"\0" * 12)
    with pytest.raises(UserError, match=r"bad\.bin: 12 bytes, expected 16 bytes for \(4,\) float32"):
        fileio.read_array(path, np.float32, (4,))
    with pytest.raises(UserError, match=r"bad\.bin: 12 bytes is not a whole number of samples of \(8,\) float32"):
        fileio.read_array(path, np.float32, (-1, 8))
    odd = touch(tmp_path / "odd.bin", b"\0" * 5)
    with pytest.raises(UserError, match=r"odd\.bin: 5 bytes is not a whole number of float32 values"):
        fileio.read_array(odd)
    with pytest.raises(UserError, match=r"nope\.bin: no such file"):
        fileio.read_array(tmp_path / "nope.bin")


def test_read_npy_dtype_is_checked(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(3, np.float64))
    with pytest.raises(UserError, match=r"x\.npy: holds float64 data, expected float32"):
        fileio.read_array(tmp_path / "x.npy", np.float32)


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    def interrupted(src, dst):  # the data is written, the process dies before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fileio.write_array(tmp_path / "x.bin", np.zeros(4, np.float32))
    assert list(tmp_path.iterdir()) == []


def test_output_names_follow_ais_bench():
    assert fileio.output_name("prep/input_00000.bin", 0) == "input_00000_0.bin"
    assert fileio.output_name("noise_0001.bin", 1, "NPY") == "noise_0001_1.npy"
    assert fileio.output_name("d/1_A.bin", 0) == "1_A_0.bin"
    assert fileio.output_name("a.b.bin", 2) == "a_2.bin"


def test_pair_by_name(tmp_path):
    for name in ["n_1_0.bin", "n_2_0.bin"]:
        touch(tmp_path / "ref" / name)
        touch(tmp_path / "off" / name)
    pairs = fileio.pair_by_name(tmp_path / "ref", tmp_path / "off")
    assert [(a.name, b.name) for a, b in pairs] == [("n_1_0.bin", "n_1_0.bin"), ("n_2_0.bin", "n_2_0.bin")]

    touch(tmp_path / "ref" / "n_3_0.bin")
    with pytest.raises(UserError, match=r"off/n_3_0\.bin: missing, expected as the partner of .*ref/n_3_0\.bin"):
        fileio.pair_by_name(tmp_path / "ref", tmp_path / "off")
    touch(tmp_path / "off" / "n_3_0.bin")
    touch(tmp_path / "off" / "n_4_0.bin")
    with pytest.raises(UserError, match=r"off/n_4_0\.bin: has no partner in .*ref"):
        fileio.pair_by_name(tmp_path / "ref", tmp_path / "off")


def test_pair_by_position(tmp_path):
    for i in (1, 2, 10):
        touch(tmp_path / "noise" / f"input_{i}.bin")
        touch(tmp_path / "label" / f"input_{i}.bin")
    lists = fileio.pair_by_position([tmp_path / "noise", tmp_path / "label"])
    assert [[p.name for p in files] for files in lists] == [["input_1.bin", "input_2.bin", "input_10.bin"]] * 2

    touch(tmp_path / "label" / "input_11.bin")
    with pytest.raises(UserError, match=r"label: holds 4 files but .*noise holds 3"):
        fileio.pair_by_position([tmp_path / "noise", tmp_path / "label"])
    (tmp_path / "label" / "input_11.bin").unlink()
    (tmp_path / "label" / "input_10.bin").rename(tmp_path / "label" / "input_9.bin")
    with pytest.raises(UserError, match=r"input_10\.bin: pairs by position with .*input_9\.bin|"
                                        r"input_9\.bin: pairs by position with .*input_(10|2)\.bin"):
        fileio.pair_by_position([tmp_path / "noise", tmp_path / "label"])


def test_resolve_result_dir(tmp_path):
    touch(tmp_path / "bs1" / "x_0.bin")
    assert tool_outputs.resolve_result_dir(tmp_path / "bs1") == tmp_path / "bs1"

    touch(tmp_path / "out" / "2022_12_17-07_37_18" / "x_0.bin")
    touch(tmp_path / "out" / "2023_01_02-00_00_00" / "x_0.bin")
    touch(tmp_path / "out" / "2023_01_02-00_00_00_summary.json")
    assert tool_outputs.resolve_result_dir(tmp_path / "out").name == "2023_01_02-00_00_00"

    touch(tmp_path / "old" / "dumpOutput_device0" / "x_1.bin")
    assert tool_outputs.resolve_result_dir(tmp_path / "old").name == "dumpOutput_device0"

    touch(tmp_path / "result" / "bs1" / "x_0.bin")
    with pytest.raises(UserError, match=r"result: no \.bin/\.npy/\.txt outputs here.*did you mean .*bs1"):
        tool_outputs.resolve_result_dir(tmp_path / "result")
    with pytest.raises(UserError, match=r"nowhere: no such folder"):
        tool_outputs.resolve_result_dir(tmp_path / "nowhere")


def test_resolve_result_dir_finds_msame_runs_by_parsed_time(tmp_path, capsys):
    import os
    import time

    out = tmp_path / "out"
    # string order would pick 2021118 (Nov 8 or Jan 18); 20211110 (10 Nov) and 2021119_9 are later than both
    for name in ["2021118_17_5_9_123456", "2021119_9_0_0_1", "2021119_10_0_0_2", "20211110_1_2_3_4"]:
        touch(out / name / "0_output_0.txt", b"0 ")
    now = time.mktime((2021, 11, 20, 0, 0, 0, 0, 0, -1))
    for d in out.iterdir():
        os.utime(d, (now, now))  # a November run: 2021118 reads as 8 Nov, 2021119 as 9 Nov
    assert tool_outputs.resolve_result_dir(out).name == "20211110_1_2_3_4"
    assert capsys.readouterr().err.strip().splitlines() == [
        f"note: using {out / '20211110_1_2_3_4'} (the newest of 4 timestamped runs)"]
    (out / "20211110_1_2_3_4" / "0_output_0.txt").unlink()
    (out / "20211110_1_2_3_4").rmdir()
    assert tool_outputs.resolve_result_dir(out).name == "2021119_10_0_0_2"  # hour 10 after hour 9, unpadded


def test_resolve_result_dir_falls_back_from_a_missing_dump_folder(tmp_path, capsys):
    touch(tmp_path / "result" / "2022_12_17-07_37_18" / "noise_0000_0.bin")
    touch(tmp_path / "result" / "2022_12_17-07_37_18_summary.json")
    chosen = tool_outputs.resolve_result_dir(tmp_path / "result" / "dumpOutput_device0")
    assert chosen == tmp_path / "result" / "2022_12_17-07_37_18"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dumpOutput_device0 does not exist" in err[0] and str(chosen) in err[0]
    with pytest.raises(UserError, match=r"empty/dumpOutput_device0: no such folder, and no run folder"):
        (tmp_path / "empty").mkdir()
        tool_outputs.resolve_result_dir(tmp_path / "empty" / "dumpOutput_device0")


def test_atomic_dir_replaces_a_previous_run_as_a_whole(tmp_path):
    final = tmp_path / "prep"
    with staging.AtomicDir(final) as tmp:
        for i in range(3):
            fileio.write_array(tmp / f"n_{i}.bin", np.full(2, i, np.float32), atomic=False)
        assert not final.exists()
    with staging.AtomicDir(final) as tmp:
        fileio.write_array(tmp / "n_0.bin", np.full(2, 9, np.float32), atomic=False)
    assert [p.name for p in final.iterdir()] == ["n_0.bin"]  # no stale n_1, n_2 from the bigger run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prep"]


def test_atomic_dir_interrupted_keeps_old_and_leaves_no_partial(tmp_path):
    final = tmp_path / "prep"
    with staging.AtomicDir(final) as tmp:
        fileio.write_array(tmp / "old.bin", np.zeros(1, np.float32), atomic=False)
    with pytest.raises(KeyboardInterrupt):
        with staging.AtomicDir(final) as tmp:
            fileio.write_array(tmp / "new.bin", np.zeros(1, np.float32), atomic=False)
            raise KeyboardInterrupt
    assert [p.name for p in final.iterdir()] == ["old.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prep"]


def test_atomic_dir_refuses_a_folder_holding_other_files(tmp_path):
    touch(tmp_path / "prep" / "thesis.tex")
    with pytest.raises(UserError, match=r"prep: folder already holds 'thesis\.tex'"):
        with staging.AtomicDir(tmp_path / "prep"):
            pass
    assert (tmp_path / "prep" / "thesis.tex").exists()


def test_write_json_handles_non_finite(tmp_path):
    fileio.write_json(tmp_path / "r.json", {"psnr": float("inf"), "x": np.float32(0.5), "n": np.int64(3)})
    assert json.loads((tmp_path / "r.json").read_text()) == {"psnr": "inf", "x": 0.5, "n": 3}


def test_cli_run_reports_one_line_and_status(capsys):
    def main(argv):
        raise UserError("x.bin: 3 bytes, expected 4")

    assert cli.run(main, []) == 2
    assert capsys.readouterr().err == "error: x.bin: 3 bytes, expected 4\n"
    assert cli.run(lambda argv: None, []) == 0


def test_parse_named_shapes():
    assert cli.parse_named_shapes(["noise:1,1,20", "label:1,5,148"]) == {"noise": [1, 1, 20], "label": [1, 5, 148]}
    assert cli.parse_named_shapes(["a:1,2;b:3"]) == {"a": [1, 2], "b": [3]}
    with pytest.raises(UserError, match="expected name:dims"):
        cli.parse_named_shapes(["1,2"])
    with pytest.raises(UserError, match="expected comma-separated integers"):
        cli.parse_named_shapes(["a:1,x"])
    with pytest.raises(UserError, match="expected positive comma-separated integers"):
        cli.parse_named_shapes(["a:1,0"])


def test_npz_writer_streams_an_array_that_numpy_reads(tmp_path):
    rng = np.random.default_rng(7)
    data = rng.standard_normal((7, 3, 4, 4)).astype(np.float32)
    path = tmp_path / "x.npz"
    with npz.NpzArrayWriter(path, "x", data.shape) as writer:
        writer.write(data[:3])
        writer.write(data[3:])
    with np.load(path) as loaded:
        np.testing.assert_array_equal(loaded["x"], data)
    batches = list(npz.iter_npz_batches(path, "x", 3))
    assert [len(b) for b in batches] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(batches), data)
    assert [len(b) for b in npz.iter_npz_batches(path, "x", 4, limit=5)] == [4, 1]
    # Files written by numpy (compressed too) stream the same way.
    np.savez_compressed(tmp_path / "c.npz", x=data, y=np.arange(7))
    np.testing.assert_array_equal(np.concatenate(list(npz.iter_npz_batches(tmp_path / "c.npz", "x", 2))), data)
    assert npz.npz_array_info(tmp_path / "c.npz", "y") == ((7,), np.dtype(np.int64))


def test_npz_writer_leaves_nothing_behind_when_incomplete(tmp_path):
    path = tmp_path / "x.npz"
    with pytest.raises(ValueError, match="2 rows written, 3 declared"):
        with npz.NpzArrayWriter(path, "x", (3, 2)) as writer:
            writer.write(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="do not fit"):
        with npz.NpzArrayWriter(path, "x", (3, 2)) as writer:
            writer.write(np.zeros((4, 2)))
    assert list(tmp_path.iterdir()) == []


def test_npz_reading_errors_name_the_file(tmp_path):
    np.savez(tmp_path / "a.npz", y=np.zeros(3))
    with pytest.raises(UserError, match=r"a.npz: expected an array 'x', found 'y'"):
        npz.npz_array_info(tmp_path / "a.npz", "x")
    with pytest.raises(UserError, match="no such npz file"):
        npz.npz_array_info(tmp_path / "b.npz", "x")
    # A truncated member: the header promises more rows than the data holds.
    buffer = io.BytesIO()
    np.lib.format.write_array_header_2_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": (4, 2)})
    with zipfile.ZipFile(tmp_path / "short.npz", "w") as archive:
        archive.writestr("x.npy", buffer.getvalue() + np.zeros((2, 2), np.float32).tobytes())
    with pytest.raises(UserError, match=r"short.npz: array 'x' ends after 2 of its 4 declared rows"):
        list(npz.iter_npz_batches(tmp_path / "short.npz", "x", 2))


def test_command_line_mistakes_are_one_line(capsys):
    p = cli.parser("demo", prog="demo.py")
    p.add_argument("--seed", type=cli.seed, default=0)
    p.add_argument("--num", type=int, required=True)
    assert p.parse_args(["--seed", "4294967295", "--num", "1"]).seed == 4294967295
    for argv, expected in ((["--seed", "-1", "--num", "1"], "argument --seed: -1 is outside 0 .. 4294967295"),
                           (["--seed", "x", "--num", "1"], "argument --seed: 'x' is not a whole number"),
                           ([], "the following arguments are required: --num")):
        with pytest.raises(SystemExit) as stop:
            p.parse_args(argv)
        assert stop.value.code == 2
        assert capsys.readouterr().err == f"error: demo.py: {expected} (see --help)\n"
