"""One report a person opens per accuracy check: `<name>_report.html` (self-contained) and `<name>_report.png`.

The HTML embeds its pictures as data: URIs and loads nothing else, so it opens from a file in any browser,
offline; the PNG sheet holds the same content for terminals and issue comments. Both are written together
(both or neither) by write_report, from a Report that says what goes in:

    report.write_report("acc_report.html", report.Report(
        "DCGAN: PyTorch vs offline", "PASS: ...", passed=True, headline=[("mean cosine", "0.999999998")],
        histogram=Histogram(...), worst=Worst([WorstFile("noise_7_0.bin", "cosine 0.999999990", reference, offline)],
                                              offline_label="offline (onnxruntime 1.20 CPUExecutionProvider)"),
        sample=[...], weights=origins.weights()))

A paired PyTorch-vs-offline check fills its Report with common.accuracy.paired_report; other checks (IS/FID, the
precision preview) fill their own headline, Histogram, LineCharts (the precision preview's per-node error along
the graph) and Tables. A run on stand-in weights (Report.weights) says so first in the title line of both files.
The pictures are drawn by common.report_draw; format_figure is the one formatting rule for the figures a report
and a test compare.
"""
import base64
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from common import cli, origins, staging
from common import report_draw as draw
from common.errors import UserError

MAX_WORST = 12
SUFFIX = "_report.html"


def default_path(log_path):
    """The report beside a log: acc.log -> acc_report.html (and acc_report.png)."""
    log_path = Path(log_path)
    return log_path.with_name(log_path.name.split(".")[0] + SUFFIX)


def add_options(parser):
    """--report PATH and --no_report, the same in every accuracy script."""
    parser.add_argument("--report", type=cli.writes, default=None,
                        help="HTML report to write, its PNG sheet beside it (default: beside the log, "
                             f"<log name>{SUFFIX} and .png)")
    parser.add_argument("--no_report", action="store_true", help="write no report")


def target(args, log_path):
    """The report path the options ask for (None with --no_report); a name not ending in .html is an error."""
    if args.no_report:
        return None
    path = Path(args.report) if args.report else default_path(log_path)
    _check_suffix(path)
    return path


def _check_suffix(path):
    if Path(path).suffix.lower() not in (".html", ".htm"):
        raise UserError(f"{path}: a report is written as .html (its PNG sheet beside it); give a .html name")


def png_path(html_path):
    return Path(html_path).with_suffix(".png")


def format_figure(key, value):
    """The text a report shows for figure `key`: cosines to 9 decimals (a float32 backend differs from PyTorch
    in the 8th), differences in 3-digit scientific notation, PSNR in dB to 2 decimals, counts as integers,
    IS and FID as the original's result line. Values may be JSON's "inf"/"nan" strings."""
    if isinstance(value, str):
        value = float(value)
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if "psnr" in key:
        if math.isinf(value):
            return "inf dB (identical)" if value > 0 else "-inf dB (not finite)"
        return f"{value:.2f} dB"
    if "one_minus" in key or "abs" in key or "rel_l2" in key or "mse" in key:
        return f"{value:.3e}"
    if "cosine" in key:
        return f"{value:.9f}"
    if key == "acc":
        return f"{value:.7f} %"
    if key in ("is", "fid"):  # as the original's result line: IS %3.3f, FID %5.4f
        return f"{value:.3f}" if key == "is" else f"{value:.4f}"
    return f"{value:.6g}"


@dataclass
class Histogram:
    """values: one per file (or split); marker: a vertical line (the threshold) at that x, or None."""
    values: Sequence[float]
    xlabel: str
    marker: Optional[float] = None
    marker_label: str = ""
    log: bool = False  # log x axis (used only when every value is positive)
    heading: str = "Per-file figure"
    ylabel: str = "files"


@dataclass
class LineChart:
    """Series over the same ordered positions (e.g. the nodes of a graph, in order), one line each, on a log
    y axis: a value of 0 is drawn at the floor, a non-finite one (inf, NaN) as a red x at the top. `marked`:
    positions drawn with a shaded band (named by marked_label); `labels`: the positions' names (ticks when
    few)."""
    series: dict  # label -> values
    xlabel: str
    ylabel: str
    labels: Sequence[str] = ()
    marked: Sequence[int] = ()
    marked_label: str = ""
    heading: str = "Chart"
    caption: str = ""
    table: Optional["Table"] = None  # shown under the chart in the HTML


@dataclass
class WorstFile:
    """One file of the worst list: its name, the figure that ranked it, the two (N, C, H, W) or (C, H, W)
    outputs."""
    name: str
    caption: str
    reference: np.ndarray
    offline: np.ndarray


@dataclass
class Table:
    columns: List[str]
    rows: List[List[str]]
    caption: str = ""
    id: str = ""


@dataclass
class Worst:
    """The worst files, worst first (the first MAX_WORST are drawn), under `heading`: one row each of panels
    titled reference_label | offline_label | |difference|, followed in the HTML by `table` (their figures)."""
    files: Sequence[WorstFile]
    heading: str = "The worst files, worst first"
    table: Optional[Table] = None
    reference_label: str = "PyTorch (reference)"
    offline_label: str = "offline"


@dataclass
class Report:
    """What a report says; write_report draws it. headline: [(label, text)] under the verdict (texts formatted
    with format_figure); passed: colours the verdict (None: neither pass nor fail). histogram: of the per-file
    figure; charts: LineCharts (each with its Table under it in the HTML). sample: uint8 pictures (H, W) or
    (H, W, 3) of one shape, tiled as a grid. tables: more Tables (in the HTML; the PNG holds the pictures).
    notes: lines naming the inputs and the other outputs. weights: what the run's weights are when they are not
    the official ones ("random stand-in", common.origins), said first in the title line."""
    title: str
    verdict: str
    passed: Optional[bool] = None
    headline: Sequence[Tuple[str, str]] = ()
    histogram: Optional[Histogram] = None
    charts: Sequence[LineChart] = ()
    worst: Optional[Worst] = None
    sample: Sequence[np.ndarray] = ()
    sample_caption: str = ""
    tables: Sequence[Table] = ()
    notes: Sequence[str] = ()
    weights: Optional[str] = None

    def heading(self):
        """The title line: the title, after the weights' provenance when they are stand-ins."""
        return f"{origins.banner(self.weights)} | {self.title}" if self.weights else self.title


@dataclass
class _Part:
    heading: str
    png: bytes
    caption: str = ""
    tables: List[Table] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ output

_CSS = """body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1040px;margin:1.5em auto;
padding:0 1em;color:#1f2328}h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;
border-bottom:1px solid #d0d7de;padding-bottom:.2em}.verdict{font-size:1.2em;font-weight:bold;padding:.4em .7em;
border-radius:6px;display:inline-block}.pass{background:#dafbe1;color:#1a7f37}.fail{background:#ffebe9;
color:#cf222e}.info{background:#eaeef2;color:#444}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left}td.num{font-family:monospace;text-align:right}
img{max-width:100%;height:auto;image-rendering:pixelated}.caption{color:#57606a;font-size:.92em}
.notes{color:#57606a;font-size:.9em;font-family:monospace;white-space:pre-wrap}"""


def _img(png, alt):
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _table_html(table):
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = []
    for row in table.rows:
        cells = "".join(f'<td class="{"num" if j else "name"}">{html.escape(str(v))}</td>' for j, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    ident = f' id="{html.escape(table.id)}"' if table.id else ""
    return f"<table{ident}><tr>{head}</tr>{''.join(body)}</table>"


def _html(title, verdict, passed, headline, parts, notes):
    css_class = {True: "pass", False: "fail", None: "info"}[passed]
    head_rows = "".join(f'<tr><th>{html.escape(label)}</th><td class="num">{html.escape(text)}</td></tr>'
                        for label, text in headline)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>", f'<p class="verdict {css_class}">{html.escape(verdict)}</p>',
           f'<table id="headline">{head_rows}</table>']
    for part in parts:
        out.append(f"<h2>{html.escape(part.heading)}</h2>")
        if part.caption:
            out.append(f'<p class="caption">{html.escape(part.caption)}</p>')
        if part.png:
            out.append(_img(part.png, part.heading))
        for table in part.tables:  # under a picture, a table says what it is; alone, the heading does
            if part.png and table.caption:
                out.append(f'<p class="caption">{html.escape(table.caption)}</p>')
            out.append(_table_html(table))
    if notes:
        out.append("<h2>Files</h2>")
        out.append(f'<p class="notes">{html.escape(chr(10).join(notes))}</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _sheet(pngs):
    """Stack the parts' pictures into one white PNG sheet."""
    pictures = [Image.open(io.BytesIO(p)).convert("RGB") for p in pngs]
    width = max(p.width for p in pictures)
    sheet = Image.new("RGB", (width, sum(p.height for p in pictures)), "white")
    y = 0
    for p in pictures:
        sheet.paste(p, (0, y))
        y += p.height
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", compress_level=draw.PNG_LEVEL)
    return buffer.getvalue()


def write_report(path, content, staged=None):
    """Write the Report `content` as `path` (.html) and the PNG sheet beside it (same name, .png): both or
    neither. staged: the (html, png) temporary paths of a staging.OutputSet to write instead, when the report is
    one of several outputs of a step (report_parts gives them). Returns (html path, png path)."""
    path = Path(path)
    _check_suffix(path)
    heading = content.heading()
    headline = [(str(label), str(text)) for label, text in content.headline]
    parts = _parts(content)
    pngs = [draw.header(heading, content.verdict, content.passed, headline)]
    for part in parts:
        if part.png:
            pngs += [draw.heading(part.heading), part.png]
    document = _html(heading, content.verdict, content.passed, headline, parts, list(content.notes))
    sheet = _sheet(pngs)
    if staged is not None:
        Path(staged[1]).write_bytes(sheet)
        Path(staged[0]).write_text(document, encoding="utf-8")
        return path, png_path(path)
    with staging.OutputSet() as outputs:
        tmp_html, tmp_png = report_parts(outputs, path)
        Path(tmp_png).write_bytes(sheet)
        Path(tmp_html).write_text(document, encoding="utf-8")
    return path, png_path(path)


def _parts(content):
    """The report's drawn sections, in order: histogram, charts, worst files, sample, more tables."""
    parts = []
    histogram, worst = content.histogram, content.worst
    if histogram is not None and len(histogram.values):
        parts.append(_Part(histogram.heading, draw.histogram(histogram),
                           f"{len(histogram.values)} {histogram.ylabel}"
                           + (f"; {histogram.marker_label}." if histogram.marker is not None else ".")))
    for chart in content.charts:
        parts.append(_Part(chart.heading, draw.lines(chart), chart.caption, [chart.table] if chart.table else []))
    files = list(worst.files)[:MAX_WORST] if worst is not None else []
    if files:
        parts.append(_Part(worst.heading, draw.worst(files, worst.offline_label, worst.reference_label),
                           f"Each row: the {worst.reference_label} output, the {worst.offline_label} output and "
                           "their absolute difference as a "
                           "heat map (largest over the colour channels), with its colour scale in output units "
                           "(outputs span [-1, 1]). Small images are scaled up with nearest-neighbour.",
                           [worst.table] if worst.table else []))
    if content.sample:
        parts.append(_Part("A sample of the outputs", draw.sample(list(content.sample)), content.sample_caption))
    for table in content.tables:
        parts.append(_Part(table.caption or "Table", b"", "", [table]))  # the caption is the heading
    return parts


def report_parts(outputs, path):
    """Stage the report's two files (.html and its .png sheet) in the staging.OutputSet `outputs`."""
    _check_suffix(Path(path))
    return outputs.file(path), outputs.file(png_path(path))
