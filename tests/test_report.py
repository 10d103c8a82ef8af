"""The accuracy reports: self-contained HTML and a PNG sheet, holding the JSON's figures and worst files.

The folder-comparing accuracy scripts run here in-process on synthetic output folders of each model's real
shapes (no model needed); Pix2pixHD's (which runs its generator) and BigGAN's IS/FID report are checked where
their tests already run those scripts, with check_accuracy_report / check_report_file from here.
"""
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import biggan_cosine_acc
import biggan_facts
import CycleGAN_eval_acc
import cyclegan_facts
import dcgan_acc_eval
import dcgan_facts
import GAN_eval_acc
import GAN_facts
from common import accuracy, cli, fileio, report, report_draw, tool_outputs
from common.errors import UserError


class _Parsed(HTMLParser):
    """Every tag's attributes, the text of each table (by id) as rows of cells, and all text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.attrs, self.tables, self.text = [], {}, []
        self._table, self._row, self._cell = None, None, None

    def handle_starttag(self, tag, attrs):
        self.attrs.append((tag, dict(attrs)))
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id", f"table{len(self.tables)}"), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def check_report_file(html_path):
    """The HTML parses, loads nothing from outside (no http:, every src a data: URI, no link or script
    resource) and its PNG sheet opens with Pillow and is at least 800 px wide. Returns the parsed document."""
    html_path = Path(html_path)
    text = html_path.read_text(encoding="utf-8")
    parsed = _Parsed()
    parsed.feed(text)
    parsed.close()
    assert parsed.attrs and parsed.attrs[0][0] == "html"
    assert "http:" not in text and "https:" not in text and "url(" not in text
    for tag, attrs in parsed.attrs:
        assert tag not in ("link", "script", "iframe"), tag
        for name, value in attrs.items():
            if name in ("src", "href"):
                assert value.startswith("data:image/png;base64,"), (tag, name, value[:40])
    assert any(tag == "img" for tag, _ in parsed.attrs)
    with Image.open(report.png_path(html_path)) as sheet:
        sheet.load()
        assert sheet.format == "PNG" and sheet.width >= 800
    return parsed


def check_accuracy_report(html_path, json_path):
    """check_report_file, plus: the headline holds the JSON's aggregate figures (same values, formatted by the
    report's rule) and the worst-file table lists the JSON's lowest-figure files, lowest first."""
    parsed = check_report_file(html_path)
    saved = json.loads(Path(json_path).read_text())
    assert saved["report"] == str(html_path)
    headline = dict(parsed.tables["headline"])
    shown = [key for key in accuracy.HEADLINE if key in saved["aggregate"] and accuracy.HEADLINE[key] in headline]
    assert {"mean_cosine", "min_cosine", "max_abs", "psnr", "count"} <= set(shown)
    for key in shown:
        assert headline[accuracy.HEADLINE[key]] == report.format_figure(key, saved["aggregate"][key])
    assert str(saved["threshold"]) in "".join(parsed.text)
    key = accuracy.per_file_key(saved["metric"], saved["files"][0])
    lowest = sorted(saved["files"], key=lambda f: f[key])[:report.MAX_WORST]
    rows = parsed.tables["worst"][1:]
    assert [row[0] for row in rows] == [f["file"] for f in lowest]
    assert [row[1] for row in rows] == [report.format_figure(key, f[key]) for f in lowest]
    return parsed


def write_pair(tmp_path, shape, n, per_file=1):
    """Reference and offline folders of `n` files of `per_file` samples; file k's offline output differs by
    noise of a size that is not monotonic in k, so the worst-first order is not the file order."""
    rng = np.random.default_rng(0)
    scales = rng.permutation(n) + 1
    ref_dir, off_dir = tmp_path / "pth_result", tmp_path / "result" / "bs1"
    ref_dir.mkdir(parents=True)
    off_dir.mkdir(parents=True)
    for k in range(n):
        name = f"input_{k}_0.bin"
        ref = np.tanh(rng.standard_normal((per_file, *shape))).astype(np.float32)
        off = np.clip(ref + 1e-4 * scales[k] * rng.standard_normal(ref.shape), -1, 1).astype(np.float32)
        fileio.write_array(ref_dir / name, ref)
        fileio.write_array(off_dir / name, off)
    fileio.write_json(off_dir.parent / "bs1_summary.json", {"backend": "onnxruntime test CPUExecutionProvider"})
    return ref_dir, off_dir


def test_dcgan_report_beside_the_log(tmp_path):
    ref, off = write_pair(tmp_path, dcgan_facts.IMAGE_SHAPE, 14)
    log = tmp_path / "dcgan_acc_eval_bs1.log"
    assert dcgan_acc_eval.main([f"--pth_result_path={ref}", f"--om_result_path={off}", f"--log_save_name={log}",
                                "--pictures", ""]) == 0
    html = tmp_path / "dcgan_acc_eval_bs1_report.html"
    parsed = check_accuracy_report(html, log.with_suffix(".json"))
    saved = json.loads(log.with_suffix(".json").read_text())
    assert dict(parsed.tables["headline"])["acc"] == report.format_figure("acc", saved["acc"])
    assert "offline (onnxruntime test CPUExecutionProvider)" in html.read_text()
    assert len(parsed.tables["worst"]) - 1 == report.MAX_WORST  # 14 files, a dozen drawn


def test_gan_report_of_batched_files_and_no_report(tmp_path):
    ref, off = write_pair(tmp_path, GAN_facts.IMAGE_SHAPE, 3, per_file=64)
    log = tmp_path / "GAN_eval_acc_bs64.log"
    argv = [f"--pth_result_path={ref}", f"--om_result_path={off}", f"--log_save_name={log}", "--pictures", ""]
    assert GAN_eval_acc.main([*argv, "--report", str(tmp_path / "out" / "gan.html")]) == 0
    check_accuracy_report(tmp_path / "out" / "gan.html", log.with_suffix(".json"))

    assert GAN_eval_acc.main([*argv, "--no_report"]) == 0
    assert json.loads(log.with_suffix(".json").read_text())["report"] is None
    assert not list(tmp_path.glob("*_report.*"))
    with pytest.raises(UserError, match=r"gan\.txt: a report is written as \.html"):
        GAN_eval_acc.main([*argv, "--report", str(tmp_path / "gan.txt")])


def test_cyclegan_report_of_a_failed_check(tmp_path, capsys):
    ref, off = write_pair(tmp_path, cyclegan_facts.SAMPLE_SHAPE, 3)
    out = tmp_path / "acc_result"
    argv = [f"--pth_result={ref}", f"--npu_bin_file={off}", f"--out_dir={out}", "--metric", "pixel_cosine",
            "--threshold", "1", "--pictures", "0"]
    assert cli.run(CycleGAN_eval_acc.main, argv) == 1  # a failing check writes its report too
    assert "error: FAIL: mean_pixel_cosine" in capsys.readouterr().err
    parsed = check_accuracy_report(out / "bs1_report.html", out / "bs1.json")
    assert parsed.tables["worst"][0][:2] == ["file", "pixel_cosine"]
    assert 'class="verdict fail"' in (out / "bs1_report.html").read_text()


def test_biggan_cosine_report_of_a_reference_subset(tmp_path):
    ref, off = write_pair(tmp_path, biggan_facts.OUTPUT_SHAPE, 2)
    fileio.write_array(off / "input_2_0.bin", np.zeros((1, *biggan_facts.OUTPUT_SHAPE), np.float32))
    assert biggan_cosine_acc.main(["--reference", str(ref), "--result-path", str(off), "--log",
                                   str(tmp_path / "cos.log"), "--json", str(tmp_path / "cos.json"),
                                   "--pictures", str(tmp_path / "compare")]) == 0
    parsed = check_accuracy_report(tmp_path / "cos_report.html", tmp_path / "cos.json")
    assert dict(parsed.tables["headline"])["offline files"] == "3"


def test_format_figure_rule():
    assert report.format_figure("mean_cosine", 0.99999999812) == "0.999999998"
    assert report.format_figure("max_abs", 1.52e-5) == "1.520e-05"
    assert report.format_figure("psnr", "inf") == "inf dB (identical)"
    assert report.format_figure("psnr", 101.234) == "101.23 dB"
    assert report.format_figure("psnr", "-inf") == "-inf dB (not finite)"
    assert report.format_figure("count", 40) == "40"
    assert report.format_figure("is", 1.23456) == "1.235" and report.format_figure("fid", 12.3) == "12.3000"


def test_write_report_writes_both_or_neither(tmp_path):
    target = tmp_path / "x_report.html"
    with pytest.raises(ValueError):  # a sample of unequal pictures fails while drawing: nothing is written
        report.write_report(target, report.Report("t", "v", sample=[np.zeros((4, 4), np.uint8),
                                                                    np.zeros((5, 4), np.uint8)]))
    assert not list(tmp_path.iterdir())
    html_path, png = report.write_report(target, report.Report("t", "v", headline=[("a", "1")],
                                                               sample=[np.zeros((4, 4), np.uint8)] * 3))
    assert (html_path, png) == (target, tmp_path / "x_report.png")
    check_report_file(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_report.html", "x_report.png"]
    assert report.default_path("a/b/acc_bs16.log") == Path("a/b/acc_bs16_report.html")


def test_a_batched_file_shows_its_worst_samples():
    rng = np.random.default_rng(0)
    reference = np.tanh(rng.standard_normal((10, 1, 6, 6))).astype(np.float32)
    offline = reference.copy()
    for k, size in ((7, 0.3), (2, 0.2), (9, 0.1), (0, 0.05), (4, 0.01)):
        offline[k] += size * rng.standard_normal((1, 6, 6)).astype(np.float32)
    ref, off, diff, shown, total = report_draw.panels(reference, offline)
    assert shown == [0, 2, 7, 9] and total == 10
    assert ref.shape == off.shape == diff.shape == (18, 18)  # 2 x 2 tiles of 6 x 6, 2 pixels around each
    assert np.nanmax(diff) == pytest.approx(np.abs(offline[[0, 2, 7, 9]] - reference[[0, 2, 7, 9]]).max())


def test_report_draws_files_the_tools_named_differently(tmp_path):
    """The old benchmark tool names the first output <stem>_1.bin: the report's panels come from the files the
    comparison paired, not from the reference's names."""
    rng = np.random.default_rng(2)
    (tmp_path / "ref").mkdir()
    (tmp_path / "result" / "dumpOutput_device0").mkdir(parents=True)
    for i in range(3):
        x = np.tanh(rng.standard_normal((1, 1, 32, 32))).astype(np.float32)
        fileio.write_array(tmp_path / "ref" / f"noise_{i:04d}_0.bin", x)
        fileio.write_array(tmp_path / "result" / "dumpOutput_device0" / f"noise_{i:04d}_1.bin", x + 1e-3 * i)
    offline = tool_outputs.resolve_result_dir(tmp_path / "result")  # the old tool's dumpOutput_device0
    accuracy.check_against_reference(accuracy.AccuracyCheck((1, 32, 32)), tmp_path / "ref", offline,
                                     json_path=tmp_path / "acc.json", report_path=tmp_path / "acc_report.html")
    check_accuracy_report(tmp_path / "acc_report.html", tmp_path / "acc.json")
