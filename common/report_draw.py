"""The pictures of a report (common/report.py): the header with the verdict, the histogram, the line charts, the
worst files' reference | offline | |difference| panels and the sample grid, each a PNG of the sheet's width.

matplotlib on the Agg backend, imported only when something is drawn; small images are scaled up with
nearest-neighbour so that pixels stay pixels; the |difference| panel is a heat map with its own colour bar in
output units.
"""
import io
import math

import numpy as np
from PIL import Image

from common import images, similarity

WIDTH_INCHES, DPI = 10.0, 100  # every part of the sheet is 1000 px wide
PNG_LEVEL = 3  # zlib level: a few % larger than the default 6, several times faster to write
MAX_TILED = 4  # samples of a batched file drawn in the worst list (its worst ones)


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


def samples(array):
    """(N, C, H, W) or (C, H, W) or (H, W) -> list of (C, H, W) / (H, W) samples."""
    array = np.asarray(array, dtype=np.float32)
    return list(array) if array.ndim == 4 else [array]


def _tile(pictures, padding, pad_value):
    n = len(pictures)
    return images.grid(pictures, nrow=max(1, math.ceil(math.sqrt(n))), padding=padding if n > 1 else 0,
                       pad_value=pad_value)


def panels(reference, offline):
    """uint8 pictures of both outputs and the float |difference| heat map (max over channels). Of a batched
    file, the MAX_TILED samples with the largest 1 - cosine are tiled (so they stay large enough to read).
    Returns (ref, off, diff, sample indices shown, number of samples)."""
    refs, offs = samples(reference), samples(offline)
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


def header(title, verdict, passed, headline):
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


def histogram(hist):
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


def lines(chart):
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


def worst(worst, offline_label, reference_label="PyTorch (reference)"):
    """One row per file: reference | offline | |difference| heat map with its colour bar in numbers. The
    pictures are placed pixel for pixel (figimage, scaled by _fit), the bars and labels by matplotlib."""
    plt = pyplot()
    from matplotlib import cm, colors, ticker

    panel_w, panel_h, margin, gap = 285, 400, 10, 10  # pixels; three panels, then the colour bar and its numbers
    label_h, title_h, row_gap = 30, 22, 18
    rows = []
    for item in worst:
        ref, off, diff, shown, total = panels(item.reference, item.offline)
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


def sample(pictures):
    """The sample grid, scaled up by a whole factor (nearest-neighbour) to at most the sheet's width."""
    sheet = images.grid(pictures, nrow=min(8, len(pictures)), padding=2, pad_value=255)
    width = int(WIDTH_INCHES * DPI)
    fitted = _fit(sheet, width - 20, 640)
    canvas = Image.new("RGB", (width, fitted.shape[0] + 20), "white")
    canvas.paste(Image.fromarray(fitted).convert("RGB"), ((width - fitted.shape[1]) // 2, 10))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def heading(text):
    plt = pyplot()
    fig = plt.figure(figsize=(WIDTH_INCHES, 0.45))
    fig.text(0.02, 0.4, text, fontsize=14, weight="bold", va="center")
    return _figure_png(fig)
