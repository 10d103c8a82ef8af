"""One report a person opens per accuracy check: `<name>_report.html` (self-contained) and `<name>_report.png`.

The HTML embeds its pictures as data: URIs and loads nothing else, so it opens from a file in any browser,
offline; the PNG sheet holds the same content for terminals and issue comments. Both are written together
(both or neither) by write_report, from a Report that says what goes in:

    report.write_report("acc_report.html", report.Report(
        "DCGAN: PyTorch vs offline", "PASS: ...", passed=True, headline=[("mean cosine", "0.999999998")],
        histogram=Histogram(...), worst=Worst([WorstFile("noise_7_0.bin", "cosine 0.999999990", reference, offline)],
                                              offline_label="offline (onnxruntime 1.20 CPUExecutionProvider)"),
        sample=[...], weights=origins.weights()))

A paired PyTorch-vs-offline check fills its Report with paired_report (common.accuracy does, for every
--report); other checks (IS/FID, the precision preview) fill their own headline, Histogram, LineCharts (the
precision preview's per-node error along the graph) and Tables. A run on stand-in weights (Report.weights) says
so first in the title line of both files.

Charts are matplotlib (Agg backend, imported only when a report is drawn); small images are scaled up with
nearest-neighbour so that pixels stay pixels; the |difference| panel is a heat map with its own colour bar in
output units. format_figure is the one formatting rule for the figures a report and a test compare.
"""
import base64
import dataclasses
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from common import cli, fileio, images, origins, similarity, staging
from common.errors import UserError

WIDTH_INCHES, DPI = 10.0, 100  # every part of the sheet is 1000 px wide
MAX_WORST = 12
PNG_LEVEL = 3  # zlib level: a few % larger than the default 6, several times faster to write
MAX_TILED = 4  # samples of a batched file drawn in the worst list (its worst ones)
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


# ------------------------------------------------------------------------------------------------ drawing

def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported only when something is drawn."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _figure_png(fig):
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white", pil_kwargs={"compress_level": PNG_LEVEL})
    plt.close(fig)
    return buffer.getvalue()


def _samples(array):
    """(N, C, H, W) or (C, H, W) or (H, W) -> list of (C, H, W) / (H, W) samples."""
    array = np.asarray(array, dtype=np.float32)
    return list(array) if array.ndim == 4 else [array]


def _tile(pictures, padding, pad_value):
    n = len(pictures)
    return images.grid(pictures, nrow=max(1, math.ceil(math.sqrt(n))), padding=padding if n > 1 else 0,
                       pad_value=pad_value)


def _panels(reference, offline):
    """uint8 pictures of both outputs and the float |difference| heat map (max over channels). Of a batched
    file, the MAX_TILED samples with the largest 1 - cosine are tiled (so they stay large enough to read).
    Returns (ref, off, diff, sample indices shown, number of samples)."""
    refs, offs = _samples(reference), _samples(offline)
    total = len(refs)
    shown = list(range(total))
    if total > MAX_TILED:
        badness = [similarity.one_minus_cosine(r, o) for r, o in zip(refs, offs)]
        shown = sorted(sorted(shown, key=lambda k: -badness[k])[:MAX_TILED])
    diffs = []
    for k in shown:
        d = np.abs(refs[k].astype(np.float64) - offs[k].astype(np.float64))
        diffs.append((d.max(axis=0) if d.ndim == 3 else d).astype(np.float32))
    return (_tile([images.to_uint8(refs[k]) for k in shown], 2, 255),
            _tile([images.to_uint8(offs[k]) for k in shown], 2, 255), _tile(diffs, 2, np.nan), shown, total)


def _fit(picture, width, height):
    """Scale a uint8 (H, W) or (H, W, 3) picture into a width x height box (pixels): up by a whole factor with
    nearest-neighbour, so that small outputs keep sharp square pixels, or down with a box filter."""
    h, w = picture.shape[:2]
    scale = min(width / w, height / h)
    image = Image.fromarray(np.ascontiguousarray(picture)).convert("RGB")  # grey shown as grey, not colour-mapped
    if scale >= 2:
        factor = int(scale)
        return np.asarray(image.resize((w * factor, h * factor), Image.NEAREST))
    if scale >= 1:
        return np.asarray(image)
    return np.asarray(image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BOX))


def _heat(diff, vmax):
    """|difference| (float, NaN padding) -> RGB uint8 through matplotlib's inferno colour map; padding white."""
    import matplotlib

    rgb = matplotlib.colormaps["inferno"](np.clip(np.nan_to_num(diff) / (vmax if vmax > 0 else 1.0), 0, 1))
    rgb = (rgb[..., :3] * 255 + 0.5).astype(np.uint8)
    rgb[np.isnan(diff)] = 255
    return rgb


def _draw_header(title, verdict, passed, headline):
    plt = pyplot()
    rows = math.ceil(len(headline) / 2)
    fig = plt.figure(figsize=(WIDTH_INCHES, 1.25 + 0.3 * rows))
    fig.text(0.02, 1 - 0.42 / fig.get_figheight(), title, fontsize=17, weight="bold", va="center")
    colour = {True: "#1a7f37", False: "#cf222e", None: "#444444"}[passed]
    fig.text(0.02, 1 - 0.9 / fig.get_figheight(), verdict, fontsize=13, weight="bold", color=colour, va="center")
    for k, (label, text) in enumerate(headline):
        column, row = divmod(k, rows)
        y = 1 - (1.3 + 0.3 * row) / fig.get_figheight()
        x = 0.02 + 0.5 * column
        fig.text(x, y, f"{label}:", fontsize=11, va="center", color="#333333")
        fig.text(x + 0.25, y, text, fontsize=11, va="center", family="monospace")
    return _figure_png(fig)


def _draw_histogram(hist):
    """The histogram; the marker (threshold) is drawn when it is near the values, else named as off the scale
    (a float32 run's 1 - cosine of 1e-13 against a threshold at 1e-2 would squeeze every bar into one)."""
    plt = pyplot()
    from matplotlib import ticker

    values = np.asarray(hist.values, dtype=np.float64)
    low, high, marker = float(values.min()), float(values.max()), hist.marker
    fig, ax = plt.subplots(figsize=(WIDTH_INCHES, 3.2))
    positive = hist.log and bool(np.all(values > 0))
    if positive:
        near = marker is not None and marker > 0 and low / 100 <= marker <= high * 100
    else:
        near = marker is not None and low - 2 * ((high - low) or 1.0) <= marker <= high + 2 * ((high - low) or 1.0)
    if near:
        low, high = min(low, marker), max(high, marker)
    log = positive and high / low >= 10  # a narrower spread reads better on a linear axis
    if log:
        bins = np.geomspace(low / 1.2, high * 1.2, 31)
        ax.set_xscale("log")
    else:
        span = (high - low) or abs(high) or 1.0
        bins = np.linspace(low - 0.05 * span, high + 0.05 * span, 31)
    ax.hist(values, bins=bins, color="#4c72b0", edgecolor="white")
    if near:
        ax.axvline(marker, color="#cf222e", linestyle="--", label=hist.marker_label)
        ax.legend(loc="best")
    elif marker is not None:
        side = "right" if marker > high else "left"
        ratio = f", {marker / high:.1e} x the largest value" if positive and marker > high else ""
        ax.set_title(f"{hist.marker_label}: off the scale to the {side}{ratio}", loc=side, color="#cf222e",
                     fontsize=10)
    ax.set_xlabel(hist.xlabel + (" (log scale)" if log else ""))
    ax.set_ylabel(hist.ylabel)
    ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))  # counts
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _figure_png(fig)


def _draw_lines(chart):
    """The LineChart: log y axis; zeros at the floor, non-finite values as red x marks at the top."""
    plt = pyplot()

    series = {label: np.asarray(values, dtype=np.float64) for label, values in chart.series.items()}
    every = np.concatenate([v for v in series.values()]) if series else np.zeros(0)
    positive = every[np.isfinite(every) & (every > 0)]
    floor = float(positive.min()) / 3 if positive.size else 1e-12
    ceiling = float(positive.max()) * 3 if positive.size else 1.0
    ticks = chart.labels if chart.labels and len(chart.labels) <= 40 else ()
    ticks = [t if len(t) <= 28 else "\u2026" + t[-27:] for t in ticks]  # the tail of a long name tells it apart
    fig, ax = plt.subplots(figsize=(WIDTH_INCHES, 3.4 + 0.07 * max(map(len, ticks), default=0)))
    n = max((len(v) for v in series.values()), default=0)
    for k in chart.marked:
        ax.axvspan(k - 0.5, k + 0.5, color="#f2cc60", alpha=0.45, lw=0,
                   label=chart.marked_label if k == chart.marked[0] else None)
    styles = [("#4c72b0", "o"), ("#1a7f37", "s"), ("#8250df", "^")]
    for j, (label, values) in enumerate(series.items()):
        colour, marker = styles[j % len(styles)]
        x = np.arange(len(values))
        shown = np.where(np.isfinite(values), np.maximum(values, floor), np.nan)
        ax.plot(x, shown, color=colour, marker=marker, markersize=3 if n > 60 else 5, lw=1.2, label=label)
        bad = ~np.isfinite(values)
        if bad.any():
            ax.plot(x[bad], np.full(bad.sum(), ceiling), linestyle="none", marker="x", color="#cf222e",
                    markersize=8, label=f"{label}: not finite (drawn at the top)")
    ax.set_yscale("log")
    ax.set_ylim(floor / 1.5, ceiling * 1.5)
    if ticks:
        ax.set_xticks(range(len(ticks)))
        ax.set_xticklabels(ticks, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_xlabel(chart.xlabel)
    ax.set_ylabel(chart.ylabel + ", log")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    fig.tight_layout()
    return _figure_png(fig)


def _draw_worst(worst, offline_label, reference_label="PyTorch (reference)"):
    """One row per file: reference | offline | |difference| heat map with its colour bar in numbers. The
    pictures are placed pixel for pixel (figimage, scaled by _fit), the bars and labels by matplotlib."""
    plt = pyplot()
    from matplotlib import cm, colors, ticker

    panel_w, panel_h, margin, gap = 285, 400, 10, 10  # pixels; three panels, then the colour bar and its numbers
    label_h, title_h, row_gap = 30, 22, 18
    rows = []
    for item in worst:
        ref, off, diff, shown, total = _panels(item.reference, item.offline)
        vmax = float(np.nanmax(diff)) if np.any(np.isfinite(diff)) else 0.0
        pictures = [_fit(p, panel_w, panel_h) for p in (ref, off, _heat(diff, vmax))]
        rows.append((item, pictures, vmax, shown, total))
    width = int(WIDTH_INCHES * DPI)
    height = sum(label_h + title_h + r[1][0].shape[0] + row_gap for r in rows) + 5
    fig = plt.figure(figsize=(WIDTH_INCHES, height / DPI))
    top = height - 5
    for k, (item, pictures, vmax, shown, total) in enumerate(rows):
        batch = (f"  (its {len(shown)} worst of {total} samples: {', '.join(map(str, shown))})"
                 if total > len(shown) else (f"  ({total} samples)" if total > 1 else ""))
        fig.text(margin / width, (top - label_h / 2) / height, f"{k + 1}. {item.name}  —  {item.caption}{batch}",
                 fontsize=11, weight="bold", va="center")
        h = pictures[0].shape[0]
        bottom = top - label_h - title_h - h
        titles = [reference_label, offline_label, f"|difference|, largest {vmax:.2e}"]
        for j, (picture, title) in enumerate(zip(pictures, titles)):
            x = margin + j * (panel_w + gap) + (panel_w - picture.shape[1]) // 2
            fig.figimage(picture, xo=x, yo=bottom, origin="upper")
            fig.text((margin + j * (panel_w + gap) + panel_w / 2) / width, (bottom + h + title_h / 2) / height,
                     title, fontsize=9.5, ha="center", va="center")
        bar_x = margin + 3 * panel_w + 2 * gap + 8
        bar = fig.colorbar(cm.ScalarMappable(colors.Normalize(0.0, vmax if vmax > 0 else 1.0), "inferno"),
                           cax=fig.add_axes([bar_x / width, bottom / height, 14 / width, h / height]))
        bar.ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%.1e"))
        bar.ax.tick_params(labelsize=8)
        top = bottom - row_gap
    return _figure_png(fig)


def _draw_sample(pictures):
    """The sample grid, scaled up by a whole factor (nearest-neighbour) to at most the sheet's width."""
    sheet = images.grid(pictures, nrow=min(8, len(pictures)), padding=2, pad_value=255)
    width = int(WIDTH_INCHES * DPI)
    fitted = _fit(sheet, width - 20, 640)
    canvas = Image.new("RGB", (width, fitted.shape[0] + 20), "white")
    canvas.paste(Image.fromarray(fitted).convert("RGB"), ((width - fitted.shape[1]) // 2, 10))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def _draw_heading(text):
    plt = pyplot()
    fig = plt.figure(figsize=(WIDTH_INCHES, 0.45))
    fig.text(0.02, 0.4, text, fontsize=14, weight="bold", va="center")
    return _figure_png(fig)


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
    sheet.save(buffer, format="PNG", compress_level=PNG_LEVEL)
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
    pngs = [_draw_header(heading, content.verdict, content.passed, headline)]
    for part in parts:
        if part.png:
            pngs += [_draw_heading(part.heading), part.png]
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
        parts.append(_Part(histogram.heading, _draw_histogram(histogram),
                           f"{len(histogram.values)} {histogram.ylabel}"
                           + (f"; {histogram.marker_label}." if histogram.marker is not None else ".")))
    for chart in content.charts:
        parts.append(_Part(chart.heading, _draw_lines(chart), chart.caption, [chart.table] if chart.table else []))
    files = list(worst.files)[:MAX_WORST] if worst is not None else []
    if files:
        parts.append(_Part(worst.heading, _draw_worst(files, worst.offline_label, worst.reference_label),
                           f"Each row: the {worst.reference_label} output, the {worst.offline_label} output and "
                           "their absolute difference as a "
                           "heat map (largest over the colour channels), with its colour scale in output units "
                           "(outputs span [-1, 1]). Small images are scaled up with nearest-neighbour.",
                           [worst.table] if worst.table else []))
    if content.sample:
        parts.append(_Part("A sample of the outputs", _draw_sample(list(content.sample)), content.sample_caption))
    for table in content.tables:
        parts.append(_Part(table.caption or "Table", b"", "", [table]))  # the caption is the heading
    return parts


def report_parts(outputs, path):
    """Stage the report's two files (.html and its .png sheet) in the staging.OutputSet `outputs`."""
    _check_suffix(Path(path))
    return outputs.file(path), outputs.file(png_path(path))


# ------------------------------------------------------------------------------------------ accuracy checks

HEADLINE = {  # aggregate figure -> label, in the order shown
    "mean_cosine": "mean cosine", "min_cosine": "lowest cosine (worst file)",
    "max_one_minus_cosine": "largest 1 - cosine", "mean_pixel_cosine": "mean per-pixel cosine",
    "min_pixel_cosine": "lowest per-pixel cosine", "mean_abs": "mean |difference|", "max_abs": "max |difference|",
    "psnr": "PSNR (all files)", "min_psnr": "lowest PSNR (worst file)", "count": "files compared",
    "offline_files": "offline files",
}
MAX_SAMPLE = 16


def per_file_key(metric, figures):
    """The per-file figure behind an aggregate metric: mean_cosine/min_cosine -> cosine, and so on."""
    for prefix in ("mean_", "min_", "max_"):
        if metric.startswith(prefix) and metric[len(prefix):] in figures:
            return metric[len(prefix):]
    return "cosine"


def worst_files(per_file, key):
    """The per-file figures, lowest `key` first (ties keep the files' order), at most MAX_WORST."""
    return sorted(per_file, key=lambda f: f[key])[:MAX_WORST]


def offline_label(offline_dir):
    """'offline (<backend>)' from the runner's <folder>_summary.json beside the offline folder, if it says."""
    try:
        import json

        backend = json.loads(fileio.run_summary_path(offline_dir).read_text(encoding="utf-8")).get("backend")
    except (OSError, ValueError, AttributeError):
        backend = None
    return f"offline ({backend})" if backend else "offline"


def headline_figures(agg, extra=None):
    """[(label, text)] of the aggregate figures (and numeric extra fields such as DCGAN's acc)."""
    rows = [(label, format_figure(key, agg[key])) for key, label in HEADLINE.items()
            if key in agg and not (key == "offline_files" and agg[key] == agg.get("count"))]
    for key, value in (extra or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((key, format_figure(key, value)))
    return rows


def paired_report(base, per_file, metric, threshold, read_pair, label="offline", read_sample=None):
    """The Report of a paired PyTorch-vs-offline check (common.accuracy): `base` (title, verdict, headline,
    notes, weights) with the histogram of the per-file figure behind `metric` (marked at `threshold`), the worst
    files drawn from `read_pair(figures) -> (reference, offline)` (figures: one entry of `per_file`, naming both
    paired files; their offline panels titled `label`), and a sample grid of the offline outputs of the first
    files (`read_sample(figures)`, default the offline half of read_pair)."""
    key = per_file_key(metric, per_file[0])
    sample = _first_outputs(per_file, read_sample or (lambda figures: read_pair(figures)[1]))
    return dataclasses.replace(
        base, histogram=_per_file_histogram(per_file, key, metric, threshold),
        worst=_worst_of(per_file, key, read_pair, label), sample=sample,
        sample_caption=f"The offline outputs of the first files ({len(sample)} "
                       f"image{'s' if len(sample) > 1 else ''}), mapped [-1, 1] -> [0, 255].")


def _per_file_histogram(per_file, key, metric, threshold):
    values = np.array([f[key] for f in per_file], dtype=np.float64)
    if "cosine" not in key:
        return Histogram(values, f"{key} per file", marker=threshold, marker_label=f"threshold {threshold}")
    one_minus = (np.array([f["one_minus_cosine"] for f in per_file]) if key == "cosine"
                 else np.maximum(1.0 - values, 0.0))
    return Histogram(one_minus, f"1 - {key.replace('_', ' ')} per file: further right is worse",
                     marker=1.0 - threshold,
                     marker_label=f"threshold: {metric} {threshold} (1 - cos = {1.0 - threshold:.3g})", log=True)


def _worst_of(per_file, key, read_pair, label):
    """The Worst section of the files lowest in `key`, with their figures' table."""
    lowest = worst_files(per_file, key)
    files = []
    for figures in lowest:
        reference, offline = read_pair(figures)
        caption = ("" if key == "cosine" else f"{key.replace('_', ' ')} {format_figure(key, figures[key])}, ") + (
                   f"1 - cosine {format_figure('one_minus_cosine', figures['one_minus_cosine'])}, "
                   f"max |diff| {format_figure('max_abs', figures['max_abs'])}, "
                   f"PSNR {format_figure('psnr', figures['psnr'])}")
        files.append(WorstFile(figures["file"], caption, reference, offline))
    table = Table(["file", key, "1 - cosine", "max |diff|", "PSNR"],
                  [[f["file"], format_figure(key, f[key]), format_figure("one_minus_cosine", f["one_minus_cosine"]),
                    format_figure("max_abs", f["max_abs"]), format_figure("psnr", f["psnr"])] for f in lowest],
                  caption=f"Their figures ({key} lowest first; all {len(per_file)} files in the JSON)", id="worst")
    heading = ("The only file" if len(per_file) == 1 else
               f"All {len(per_file)} files, worst first" if len(files) == len(per_file) else
               f"The {len(files)} worst of {len(per_file)} files, worst first")
    return Worst(files, heading, table, offline_label=label)


def _first_outputs(per_file, read_sample):
    """uint8 pictures of the first files' outputs: MAX_SAMPLE of them, 4 when an output is larger than 512."""
    sample, limit = [], MAX_SAMPLE
    for figures in per_file:
        for output in _samples(read_sample(figures)):
            if max(output.shape[-2:]) > 512:
                limit = 4
            sample.append(images.to_uint8(output))
        if len(sample) >= limit:
            break
    return sample[:limit]
