"""benchmarks/: run_all.py's --quick mode on tiny sizes (what it writes is what it printed), and every
benchmark's counts must be positive. No timed assertions: the figures are checked for consistency only."""
import importlib.util
import json
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
    argv = ["--quick", "--only", "gan,fid,preprocess", "--runs", "1", "--files", "1", "--preprocess-inputs", "8",
            "--out", str(out)]
    assert run_all.main(argv) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "run_all.json").read_text())
    text = (out / "run_all.md").read_text()
    assert text in printed  # the table printed is the Markdown written
    assert report["command"] == "python3 benchmarks/run_all.py " + " ".join(argv)
    assert report["steps"] == ["gan", "fid", "preprocess"] and "inception" not in report
    assert report["gemm"]["n"] == 1024 and report["gemm"]["ceiling"] == max(report["gemm"]["torch"],
                                                                            report["gemm"]["numpy"])

    [row] = report["generators"]
    assert row["model"] == "GAN bs64" and row["batch"] == 64 and row["files"] == 1
    assert row["gflops_per_s"] == pytest.approx(row["gflop"] / (row["session_run_ms"] / 1000.0))
    assert row["share_of_gemm_ceiling"] == pytest.approx(row["gflops_per_s"] / report["gemm"]["ceiling"])
    assert (f"| GAN bs64 | {row['eager_ms']:.1f} ms | {row['session_run_ms']:.1f} ms | {row['runner_ms']:.1f} ms "
            f"| {100 * row['runner_overhead']:+.1f}% |") in text
    assert row["openvino_max_abs_diff"] < 1e-4  # OpenVINO f32 computed the same images as ONNX Runtime
    assert report["worst_overhead"] == row["runner_overhead"]
    assert report["overhead_bar_met"] == (row["runner_overhead"] <= run_all.BAR_OVERHEAD)
    assert f"{'met' if report['overhead_bar_met'] else 'NOT met'} (worst {100 * row['runner_overhead']:+.1f}%)" in text

    fid, pre = report["fid"], report["preprocess"]
    assert fid["dim"] == 256 and fid["ratio"] == pytest.approx(fid["scipy_sqrtm_s"] / fid["ours_s"])
    assert fid["relative_difference"] < 1e-10
    assert f"scipy sqrtm {fid['scipy_sqrtm_s']:.2f} s ({fid['ratio']:.1f}x)" in text
    assert pre["inputs"] == 8 and pre["ratio"] == pytest.approx(pre["original_s"] / pre["ours_s"])
    assert f"biggan_preprocess.py {pre['ours_s']:.1f} s ({pre['ratio']:.1f}x)" in text
    assert "Inception" not in text


def test_run_all_inception_table(capsys):
    """The Inception part of the report from a made-up measurement: rows, ratios and the fastest exact backend."""
    run_all = _script("run_all")
    rows = [{"backend": name, "images_per_s": rate, "gflops_per_s": rate * 11.4, "share_of_gemm_ceiling": rate / 10}
            for name, rate in zip(run_all.INCEPTION_VARIANTS, (5.0, 7.0, 12.0, 11.0))]
    report = {"command": "x", "generators": [], "gemm": {"n": 2, "torch": 1.0, "numpy": 2.0},
              "machine": {"cpu": "c", "cores": 2, "flags": [], "openvino_capabilities": ["FP32"],
                          "load_average_at_start": [0.5], "load_average_at_end": [0.5]},
              "inception": {"batch": 4, "image_size": 128, "gflop_per_image": 11.43, "rows": rows,
                            "onnxruntime_over_torch": 12 / 7, "onnxruntime_over_torch_nchw": 12 / 5,
                            "best_exact": "ONNX Runtime", "best_over_torch": 12 / 7}}
    text = run_all.markdown(report)
    assert "| ONNX Runtime | 12.00 | 137 | 120% |" in text and "| torch eager NCHW | 5.00 | 57 | 50% |" in text
    assert "1.71x channels_last, 2.40x NCHW; fastest exact backend: ONNX Runtime (1.71x eager channels_last)." in text
    assert "Runner overhead" not in text  # no generator ran


def test_run_all_cluster_line():
    """The cluster step's line from a made-up measurement: the ratio against its bar and the 8-machine arithmetic."""
    run_all = _script("run_all")
    row = {"model": "BigGAN G_ch 96, bs1", "inputs": 32, "workers": 2, "threads_per_worker": 1,
           "one_process_s": 10.0, "cluster_s": 8.0, "one_process_per_s": 3.2, "cluster_per_s": 4.0, "ratio": 1.25,
           "one_process_compute_ms": 300.0, "worker_compute_ms": 400.0, "input_bytes_per_batch": 3040,
           "output_bytes_per_batch": 196608, "model_bytes": 281e6, "client_cpu_ms_per_batch": 5.0, "bar": 0.9,
           "machines": 8, "machines_batches_per_s": 8 * 1000 / 300.0,
           "machines_mb_per_s": 8 * 1000 / 300.0 * (3040 + 196608) / 1e6, "machines_client_cpu_share": 8 / 300 * 5,
           "cluster_fixed_s": 2.5, "big_job": 50000, "big_job_ratio": 1.6}
    report = {"command": "x", "runs": 3, "generators": [], "gemm": {"n": 2, "torch": 1.0, "numpy": 2.0},
              "machine": {"cpu": "c", "cores": 2, "flags": [], "openvino_capabilities": ["FP32"],
                          "load_average_at_start": [0.5], "load_average_at_end": [0.5]}, "cluster": row}
    text = run_all.markdown(report)
    assert "one process 10.00 s (3.20 inputs/s, 300.0 ms per batch on all cores)" in text
    assert "1 thread 8.00 s (4.00 inputs/s, 400.0 ms per batch on a worker): 1.25x (meets the 0.90 bar); 2.5 s" in text
    assert "which 50,000 inputs would pay once: 1.60x." in text
    assert "8 machines of this kind at 300 ms a batch: 26.7 batches/s, 5.3 MB/s" in text and "13% of one client" in text
    assert run_all.markdown({**report, "cluster": {**row, "ratio": 0.8}}).count("(below the 0.90 bar)") == 1


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
    ("standin_benchmark", ["--samples", "0"]), ("standin_benchmark", ["--fp16_samples", "0"]),
])
def test_benchmark_counts_must_be_positive(script, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _script(script).main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and argv[0] in err, err


def test_run_all_only_names_what_it_knows():
    from common.cli import UserError

    with pytest.raises(UserError, match=r"--only gan,incepton: unknown step\(s\) incepton; expected some of biggan"):
        _script("run_all").main(["--only", "gan,incepton"])
