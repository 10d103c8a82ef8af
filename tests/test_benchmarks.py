"""benchmarks/: run_all.py's --quick mode on tiny sizes (what it writes is what it printed), and every
benchmark's counts must be positive. No timed assertions: the figures are checked for consistency only."""
import dataclasses
import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name):
    """A benchmark script as a module (each puts the folders it needs on sys.path when imported)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_all_quick_writes_the_rows_and_ratios_it_printed(tmp_path, capsys):
    run_all = _script("run_all")
    out = tmp_path / "results"
    argv = ["--quick", "--only", "dcgan,gan,fid,preprocess", "--runs", "1", "--files", "1", "--preprocess-inputs",
            "8", "--out", str(out)]
    assert run_all.main(argv) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "run_all.json").read_text())
    text = (out / "run_all.md").read_text()
    assert text in printed  # the table printed is the Markdown written
    assert report["command"] == "python3 benchmarks/run_all.py " + " ".join(argv)
    assert report["steps"] == ["dcgan", "gan", "fid", "preprocess"] and "inception" not in report
    gemm = report["gemm"]
    assert gemm["n"] == 1024 and gemm["ceiling"] == max(gemm[name] for name in run_all.GEMM_ENGINES)
    assert gemm["ceiling"] == gemm[gemm["source"]] and gemm["rounds"] >= 1
    assert (f"float32 GEMM ceiling: {gemm['ceiling']:.0f} GFLOP/s, set by "
            f"{run_all.GEMM_LABELS.get(gemm['source'], gemm['source'])}") in text
    peak = report["machine"]["isa_peak"]
    assert peak["gflops"] == pytest.approx(peak["cores"] * peak["fma_units"] * peak["lanes"] * 2 * peak["ghz"])
    assert f"ISA peak {peak['gflops']:.0f} GFLOP/s" in text
    # The yardstick is the machine's limit: no model computes faster than the best GEMM at hand.
    # Against the ISA's theoretical peak no measurement can exceed 100% (above it, the flop count or the peak's
    # arithmetic would be wrong). The measured GEMM ceiling is held to the same only by run_all itself: two timings
    # compared inside a loaded test run are a timed assert, which the suite does not make.
    assert all(0 < r["gflops_per_s"] <= peak["gflops"] for r in report["generators"]), report["generators"]
    assert all(0 < gemm[name] <= peak["gflops"] for name in run_all.GEMM_ENGINES), (gemm, peak)
    assert all(r["share_of_gemm_ceiling"] == pytest.approx(r["gflops_per_s"] / gemm["ceiling"])
               for r in report["generators"])

    dcgan, row = report["generators"]
    assert dcgan["model"] == "DCGAN bs64" and dcgan["faster_engine"] in ("onnxruntime", "openvino")
    assert row["model"] == "GAN bs64" and row["batch"] == 64 and row["files"] == 1
    assert row["gflops_per_s"] == pytest.approx(row["gflop"] / (row["session_run_ms"] / 1000.0))
    assert row["share_of_gemm_ceiling"] == pytest.approx(row["gflops_per_s"] / report["gemm"]["ceiling"])
    assert (f"| GAN bs64 | {row['eager_ms']:.1f} ms | {row['session_run_ms']:.1f} ms | {row['runner_ms']:.1f} ms "
            f"| {100 * row['runner_overhead']:+.1f}% |") in text
    assert row["openvino_max_abs_diff"] < 1e-4  # OpenVINO f32 computed the same images as ONNX Runtime
    assert report["worst_overhead"] == max(row["runner_overhead"], dcgan["runner_overhead"])
    assert report["overhead_bar_met"] == (report["worst_overhead"] <= run_all.BAR_OVERHEAD)
    assert f"{'met' if report['overhead_bar_met'] else 'NOT met'} (worst {100 * report['worst_overhead']:+.1f}%)" in text

    fid, pre = report["fid"], report["preprocess"]
    assert fid["dim"] == 256 and fid["ratio"] == pytest.approx(fid["scipy_sqrtm_s"] / fid["ours_s"])
    assert fid["relative_difference"] < 1e-10
    assert f"scipy sqrtm {fid['scipy_sqrtm_s']:.2f} s ({fid['ratio']:.1f}x)" in text
    assert pre["inputs"] == 8 and pre["ratio"] == pytest.approx(pre["original_s"] / pre["ours_s"])
    assert f"biggan_preprocess.py {pre['ours_s']:.1f} s ({pre['ratio']:.1f}x)" in text
    assert "Inception" not in text


MACHINE = {"cpu": "c", "cores": 2, "flags": [], "feature_set": "avx2", "openvino_capabilities": ["FP32"],
           "onnxruntime": "1", "openvino": "2", "torch": "3", "numpy": "4", "python": "3.11", "date": "d",
           "isa_peak": {"cores": 2, "fma_units": 2, "lanes": 8, "ghz": 2.5, "gflops": 160.0},
           "load_average_at_start": [0.5], "load_average_at_end": [0.5]}
GEMM = {"n": 2, "rounds": 3, "onnxruntime": 3.0, "openvino": 2.0, "torch": 1.0, "numpy": 2.0,
        "onnxruntime_per_core": 4.0, "source": "onnxruntime_per_core", "ceiling": 4.0, "lifted_overrides": []}


def test_run_all_ceiling_line_names_its_source_and_the_isa_peak():
    run_all = _script("run_all")
    text = run_all.markdown({"command": "x", "generators": [], "gemm": GEMM, "machine": MACHINE})
    assert ("float32 GEMM ceiling: 4 GFLOP/s, set by ONNX Runtime on 1 thread x cores (best of 3 runs of a 2² "
            "matmul, before and between the models: onnxruntime 3, openvino 2, torch 1, numpy 2, ONNX Runtime on 1 thread x cores 4 GFLOP/s). ISA "
            "peak 160 GFLOP/s (2 cores x 2 FMA units x 8 float32 lanes x 2 x 2.50 GHz): the ceiling is 2% of it."
            ) in text
    measured = {**MACHINE, "isa_peak": {**MACHINE["isa_peak"], "clock": "measured", "reported_ghz": 2.0}}
    assert "x 2.50 GHz measured, the kernel reports 2.00): the ceiling" in run_all.markdown(
        {"command": "x", "generators": [], "gemm": GEMM, "machine": measured})
    lifted = run_all.markdown({"command": "x", "generators": [], "machine": MACHINE,
                               "gemm": {**GEMM, "lifted_overrides": ["OPENBLAS_CORETYPE"]}})
    assert "4 GFLOP/s; numpy without OPENBLAS_CORETYPE)." in lifted


def test_isa_peak_from_what_the_cpu_reports():
    run_all = _script("run_all")
    avx2 = {"cores": 2, "vendor": "AuthenticAMD", "family": 25, "mhz": 2445.0, "all_flags": ["avx", "avx2", "fma"]}
    assert run_all.isa_peak(avx2)["gflops"] == pytest.approx(2 * 2 * 8 * 2 * 2.445)
    boosted = run_all.isa_peak({**avx2, "measured_ghz": 3.24})  # a hypervisor reports the nominal clock
    assert boosted["gflops"] == pytest.approx(2 * 2 * 8 * 2 * 3.24) and boosted["clock"] == "measured"
    assert run_all.isa_peak({**avx2, "measured_ghz": 1.2})["ghz"] == 2.445  # the higher clock: a bound
    assert run_all.isa_peak({**avx2, "measured_ghz": None})["clock"] == "reported"
    zen4 = {**avx2, "all_flags": ["avx", "avx2", "fma", "avx512f"]}  # 512-bit FMAs over two 256-bit pipes
    assert run_all.isa_peak(zen4)["gflops"] == pytest.approx(2 * 1 * 16 * 2 * 2.445)
    xeon = {**zen4, "vendor": "GenuineIntel", "family": 6}
    assert run_all.isa_peak(xeon)["gflops"] == pytest.approx(2 * 2 * 16 * 2 * 2.445)


def test_cpu_clock_counts_the_cycles_of_its_add_chain():
    cpu_clock = _script("cpu_clock")
    ghz = cpu_clock.measured_ghz(runs=5)
    if ghz is None:
        pytest.skip("no executable memory or not Linux on x86-64: the reported clock is used")
    # one add per cycle: a clock any x86-64 core of the last two decades runs at, however loaded the machine
    assert 0.3 < ghz < 7.0


def test_run_all_inception_table(capsys):
    """The Inception part of the report from a made-up measurement: rows, ratios and the fastest exact backend."""
    run_all = _script("run_all")
    rows = [{"backend": name, "images_per_s": rate, "gflops_per_s": rate * 11.4, "share_of_gemm_ceiling": rate / 10}
            for name, rate in zip(run_all.INCEPTION_VARIANTS, (5.0, 7.0, 12.0, 11.0))]
    report = {"command": "x", "generators": [], "gemm": GEMM, "machine": MACHINE,
              "inception": {"batch": 4, "image_size": 128, "gflop_per_image": 11.43, "rows": rows,
                            "onnxruntime_over_torch": 12 / 7, "onnxruntime_over_torch_nchw": 12 / 5,
                            "best_exact": "ONNX Runtime", "best_over_torch": 12 / 7}}
    text = run_all.markdown(report)
    assert "| ONNX Runtime | 12.00 | 137 | 120% |" in text and "| torch eager NCHW | 5.00 | 57 | 50% |" in text
    assert "1.71x channels_last, 2.40x NCHW; fastest exact backend: ONNX Runtime (1.71x eager channels_last)." in text
    assert "Runner overhead" not in text  # no generator ran


def test_run_all_cluster_line():
    """The cluster step's line from a made-up measurement: the first and the second run, the second's ratio against
    its bar, and the 8-machine arithmetic."""
    run_all = _script("run_all")
    row = {"model": "BigGAN G_ch 96, bs1", "inputs": 32, "workers": 2, "threads_per_worker": 1,
           "one_process_s": 10.0, "one_process_per_s": 3.2,
           "first": {"s": 12.5, "per_s": 2.56, "ratio": 0.8, "fixed_s": 3.5, "model_sent_to": [2, 2, 2]},
           "second": {"s": 8.0, "per_s": 4.0, "ratio": 1.25, "fixed_s": 0.5, "model_sent_to": [0, 0, 0]},
           "one_process_compute_ms": 300.0, "worker_compute_ms": 400.0, "input_bytes_per_batch": 3040,
           "output_bytes_per_batch": 196608, "model_bytes": 281e6, "client_cpu_ms_per_batch": 5.0, "bar": 0.9,
           "machines": 8, "machines_batches_per_s": 8 * 1000 / 300.0,
           "machines_mb_per_s": 8 * 1000 / 300.0 * (3040 + 196608) / 1e6, "machines_client_cpu_share": 8 / 300 * 5,
           "big_job": 50000, "big_job_ratio": 1.6}
    report = {"command": "x", "runs": 3, "generators": [], "gemm": GEMM, "machine": MACHINE, "cluster": row}
    text = run_all.markdown(report)
    assert "one process 10.00 s (3.20 inputs/s, 300.0 ms per batch on all cores)" in text
    assert "first run 12.50 s (2.56 inputs/s, 0.80x; the model sent to 2/2/2 workers; 3.5 s outside" in text
    assert "second run 8.00 s (4.00 inputs/s, 1.25x, meets the 0.90 bar; the model sent to 0/0/0 workers" in text
    assert "pays the first run's fixed cost once: 1.60x." in text
    assert "8 machines of this kind at 300 ms a batch: 26.7 batches/s, 5.3 MB/s" in text and "13% of one client" in text
    slow = {**row, "second": {**row["second"], "ratio": 0.8}}
    assert run_all.markdown({**report, "cluster": slow}).count("below the 0.90 bar") == 1


def test_results_md_replaces_the_sections_a_run_measured_and_keeps_the_others():
    """run_all --write-results --only job must not wipe the generators' table another run measured."""
    run_all = _script("run_all")
    fid = {"dim": 8, "ours_s": 1.0, "scipy_sqrtm_s": 3.0, "ratio": 3.0, "relative_difference": 1e-12}
    pre = {"inputs": 10, "original_s": 4.0, "ours_s": 1.0, "ratio": 4.0}
    first = run_all.results_text({"command": "first", "generators": [], "gemm": GEMM, "machine": MACHINE,
                                  "fid": fid, "preprocess": pre})
    assert first.count("Command: `first`") == 2 and "## FID arithmetic" in first and "## BigGAN preprocessing" in first
    again = {**MACHINE, "date": "later"}
    second = run_all.results_text({"command": "second", "generators": [], "gemm": GEMM, "machine": again,
                                   "fid": {**fid, "ours_s": 0.5, "ratio": 6.0}}, first)
    fid_part, pre_part = second.split("## BigGAN preprocessing")
    assert "Command: `second`" in fid_part and "common.metrics 0.50 s" in fid_part and "1.00 s" not in fid_part
    assert "Command: `first`" in pre_part and "biggan_preprocess.py 1.0 s (4.0x)" in pre_part  # kept as it was
    assert second.index("## FID arithmetic") < second.index("## BigGAN preprocessing")  # the sections' order
    assert run_all.results_text({"command": "second", "generators": [], "gemm": GEMM, "machine": again,
                                 "fid": {**fid, "ours_s": 0.5, "ratio": 6.0}}, second) == second


@pytest.mark.parametrize("script, argv", [
    ("run_all", ["--runs", "0"]), ("run_all", ["--files", "0"]), ("run_all", ["--preprocess-inputs", "-1"]),
    ("run_all", ["--inception-batch", "0"]), ("run_all", ["--cluster-inputs", "0"]),
    ("fid_benchmark", ["--dim", "0"]), ("fid_benchmark", ["--dim", "1"]), ("fid_benchmark", ["--repeats", "0"]),
    ("fid_benchmark", ["--scipy-repeats", "0"]),
    ("pix2pixhd_input_benchmark", ["--runs", "0"]),
    ("precision_benchmark", ["--runs", "0"]), ("precision_benchmark", ["--batch", "0"]),
    ("precision_benchmark", ["--num", "4", "--batch", "8"]),
    ("inception_options", ["--runs", "0"]), ("inception_options", ["--batch", "0"]),
    ("inception_options", ["--chunks", "4,0"]),
    ("records_benchmark", ["--files", "0"]), ("records_benchmark", ["--runs", "0"]),
    ("run_all", ["--job-images", "0"]), ("biggan_job", ["--images", "0"]), ("biggan_job", ["--images", "10"]),
    ("biggan_job", ["--runs", "0"]), ("biggan_job", ["--batch-sizes", "1,x"]), ("biggan_job", ["--batch-sizes", "0"]),
    ("standin_benchmark", ["--samples", "0"]), ("standin_benchmark", ["--fp16_samples", "0"]),
])
def test_benchmark_counts_must_be_positive(script, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _script(script).main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and argv[0] in err, err


def test_run_all_only_names_what_it_knows():
    from common.errors import UserError

    with pytest.raises(UserError, match=r"--only gan,incepton: unknown step\(s\) incepton; expected some of biggan"):
        _script("run_all").main(["--only", "gan,incepton"])


def test_records_benchmark_quick(capsys):
    """The record check's benchmark on a few files: its three timings printed, and a rewritten file refused."""
    assert _script("records_benchmark").main(["--files", "40", "--size", "16", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "40 files of 16 bytes" in out and "one rewritten file refused: True" in out
    assert re.search(r"before/after \d+\.\dx; after/listing \d+\.\dx", out), out


def test_backend_table_is_written_sorted_and_keeps_other_feature_sets(tmp_path):
    run_all = _script("run_all")
    facts = tmp_path / "m_facts.py"
    import re

    original = re.sub(r"\nBACKENDS = .*", "\nBACKENDS = ()", (ROOT / "DCGAN" / "dcgan_facts.py").read_text())
    facts.write_text(original.replace("\nBACKENDS = ()", "\nBACKENDS = (('avx512', 'openvino'),)"))
    assert run_all.write_backend_table(facts, "avx2", "onnxruntime")
    first = facts.read_bytes()
    assert "\nBACKENDS = (('avx2', 'onnxruntime'), ('avx512', 'openvino'))\n" in first.decode()
    assert not run_all.write_backend_table(facts, "avx2", "onnxruntime")  # the same table: the same bytes
    assert facts.read_bytes() == first
    assert run_all.write_backend_table(facts, "avx512", "onnxruntime")
    assert "\nBACKENDS = (('avx2', 'onnxruntime'), ('avx512', 'onnxruntime'))\n" in facts.read_text()
    assert facts.read_text().replace(
        "\nBACKENDS = (('avx2', 'onnxruntime'), ('avx512', 'onnxruntime'))", "\nBACKENDS = ()") == original
    (tmp_path / "none.py").write_text("FACTS = None\n")
    from common.errors import CheckFailed

    with pytest.raises(CheckFailed, match="none.py: no 'BACKENDS = "):
        run_all.write_backend_table(tmp_path / "none.py", "avx2", "openvino")


def test_faster_engine_needs_the_margin():
    run_all = _script("run_all")
    assert run_all.faster_engine(100.0, 100.0 * (1 - run_all.BACKEND_MARGIN) - 0.1) == "openvino"
    assert run_all.faster_engine(100.0, 100.0 * (1 - run_all.BACKEND_MARGIN) + 0.1) == "onnxruntime"
    assert run_all.faster_engine(100.0, 120.0) == "onnxruntime"


def test_biggan_job_tiny_times_every_stage_against_its_compute(tmp_path):
    """The whole job at a tiny size (G_ch 8, 11 images): every stage timed, the ratio and the projection follow
    from the figures written, and the table printed holds them."""
    job = _script("biggan_job")
    out = tmp_path / "out"
    assert job.main(["--images", "11", "--ch", "8", "--batch-sizes", "1", "--runs", "1", "--out", str(out)]) == 0
    report = json.loads((out / "biggan_job.json").read_text())
    text = (out / "biggan_job.md").read_text()
    assert report["best_bs"] == 1 and list(report["per_image_ms"]) == ["1"] and [r["bs"] for r in report["jobs"]] == [1]
    for row in report["jobs"]:
        assert row["images"] == 11 and row["tiny"]["images"] == job.TINY
        assert set(row["stages_s"]) == set(job.STAGES) and all(t > 0 for t in row["stages_s"].values())
        assert row["job_s"] == pytest.approx(sum(row["stages_s"].values()))
        assert row["compute_s"]["generator"] == pytest.approx(-(-11 // row["bs"]) * row["generator_ms"] / 1000)
        assert row["compute_s"]["inception"] == pytest.approx(11 / job.INCEPTION_BATCH * row["inception_ms"] / 1000)
        assert row["ratio"] == pytest.approx(row["job_s"] / row["compute_sum_s"])
        assert row["backend"].startswith(report["engine"] + " ")  # the runner ran on the engine measured
        projection = row["projection"]
        for stage in job.STAGES:
            slope = max(0.0, (row["stages_s"][stage] - row["tiny"]["stages_s"][stage]) / (11 - job.TINY))
            assert projection["stages_s"][stage] == pytest.approx(row["tiny"]["stages_s"][stage]
                                                                  + (job.BIG_JOB - job.TINY) * slope)
        assert f"bs{row['bs']}: whole job {row['ratio']:.2f}x its compute" in text
    assert f"| **whole job** | {report['jobs'][0]['job_s']:.1f} | 100% |" in text


def test_the_backend_table_names_only_an_engine_exact_for_the_model():
    run_all = _script("run_all")
    assert run_all.faster_engine(100.0, 50.0) == "openvino"
    assert run_all.faster_engine(100.0, 97.0) == "onnxruntime"  # within the margin: the default stays
    pix2pixhd = run_all.model_facts("pix2pixhd")  # OpenVINO's compact and 36-channel graphs differ by 7.7e-5
    assert pix2pixhd.exact_backends == ("onnxruntime",)
    assert run_all.faster_engine(100.0, 50.0, pix2pixhd.exact_backends) == "onnxruntime"
    assert dataclasses.replace(pix2pixhd, backends=(("avx2", "openvino"),)).default_backend("avx2") == "onnxruntime"
    row = {"faster_engine": "onnxruntime", "exact_backends": ["onnxruntime"]}
    assert run_all.engine_cell(row) == "onnxruntime (the only exact one here)"
    assert run_all.engine_cell({**row, "exact_backends": ["onnxruntime", "openvino"]}) == "onnxruntime"
