"""The first generation's AIPP/DVPP input path on a CPU: the 512x512 JPEG thumbnails, their .info file, and
the exact tensor the AIPP model computes from a thumbnail before its first layer.

The original (ModelZoo CycleGAN @init) fed 512x512 JPEG thumbnails to the benchmark tool with -useDvpp=true:
DVPP decodes each JPEG to YUV420SP, and the AIPP stage that ATC inserts (aipp_CycleGAN_pth.config) swaps the
chroma planes (rbuv_swap_switch), converts YUV -> RGB with the config's integer matrix (x 1/256, input_bias
subtracted), crops 256x256 at (load_start_pos_w, load_start_pos_h) and normalises (p - min_chn) * var_reci_chn.

The CPU emulation (an approximation of DVPP's decoder, exact for the AIPP arithmetic):
- decode: libjpeg through PIL in YCbCr mode (`draft('YCbCr')`, no RGB round trip), full-resolution planes;
- YUV420SP: chroma averaged over 2x2 blocks and rounded, packed as NV12 (U,V) or, with rbuv_swap_switch, NV21
  (V,U), so the swap restores (U,V) as AIPP's does;
- CSC: out_c = round(sum_k matrix[c][k] * (in_k - input_bias_k) / 256), clipped to 0..255 (uint8);
- crop, then (p - min_chn) * var_reci_chn in float32, giving the (1, 3, 256, 256) RGB input of the model.
DVPP's own decoder and chroma handling differ from libjpeg's by a few levels; the crop is the large effect:
it shows the model the pixels (16..271, 16..271) of the 512x512 thumbnail, a quarter of the image, where the
float path (CycleGAN_preprocess.py) resizes the whole 600x600 image to 256x256.
"""
import re
from pathlib import Path

import numpy as np

from common import fileio
from common.errors import UserError
from cyclegan_data import open_image

THUMBNAIL = (512, 512)
CONFIG = Path(__file__).resolve().with_name("aipp_CycleGAN_pth.config")
_LINE = re.compile(r"^\s*(\w+)\s*:\s*(\S+)\s*$")
_REQUIRED = ("input_format", "src_image_size_w", "src_image_size_h", "load_start_pos_w", "load_start_pos_h",
             "crop_size_w", "crop_size_h")


def read_config(path=CONFIG):
    """The `aipp_op { key : value }` settings of an ATC AIPP config, as {key: str | float | bool}."""
    path = Path(path)
    text = fileio.read_text(path, "config file for ATC's AIPP")
    settings = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line in ("}",) or line.startswith("aipp_op"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise UserError(f"{path}: line {raw.strip()!r} is not 'key : value'")
        key, value = match.groups()
        if value in ("true", "false"):
            settings[key] = value == "true"
        else:
            try:
                settings[key] = float(value)
            except ValueError:
                settings[key] = value
    missing = [k for k in _REQUIRED if k not in settings]
    if missing:
        raise UserError(f"{path}: no {missing[0]} setting; expected an ATC aipp_op config like aipp_CycleGAN_pth.config")
    if settings["input_format"] != "YUV420SP_U8" or not settings.get("csc_switch", False):
        raise UserError(f"{path}: input_format {settings['input_format']} with csc_switch "
                        f"{settings.get('csc_switch', False)}; this emulation covers YUV420SP_U8 with CSC (the DVPP path)")
    return settings


def write_thumbnail(src, dst):
    """The original's gen_dataset_info step for one image: PIL thumbnail to fit 512x512 (LANCZOS, the
    ANTIALIAS of old Pillow), saved as JPEG (Pillow's default quality). Returns (width, height)."""
    from PIL import Image

    image = open_image(src)
    image.thumbnail(THUMBNAIL, Image.LANCZOS)
    image.save(dst, format="JPEG")
    return image.size


def decode_yuv420sp(path, rbuv_swap):
    """A JPEG as DVPP hands it to AIPP: (Y plane (h, w) uint8, interleaved chroma (h/2, w/2, 2) uint8)."""
    ycbcr = np.asarray(open_image(path, "YCbCr"), dtype=np.float64)
    h, w = ycbcr.shape[0] // 2 * 2, ycbcr.shape[1] // 2 * 2  # YUV420SP needs even sizes
    ycbcr = ycbcr[:h, :w]
    chroma = ycbcr[..., 1:].reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3))
    chroma = np.clip(np.rint(chroma), 0, 255).astype(np.uint8)
    if rbuv_swap:
        chroma = chroma[..., ::-1]  # NV21: V then U
    return ycbcr[..., 0].astype(np.uint8), chroma


def aipp_input(path, config):
    """The (1, 3, crop_h, crop_w) float32 tensor the AIPP model computes from the JPEG at `path`."""
    y, chroma = decode_yuv420sp(path, config.get("rbuv_swap_switch", False))
    h, w = y.shape
    if (w, h) != (int(config["src_image_size_w"]), int(config["src_image_size_h"])):
        raise UserError(f"{path}: is {w}x{h}; the AIPP config expects {int(config['src_image_size_w'])}x"
                        f"{int(config['src_image_size_h'])} images (gen_dataset_info.py writes them)")
    if config.get("rbuv_swap_switch", False):
        chroma = chroma[..., ::-1]  # AIPP's swap: back to U, V
    yuv = np.stack([y, chroma[..., 0].repeat(2, 0).repeat(2, 1), chroma[..., 1].repeat(2, 0).repeat(2, 1)])
    if config.get("crop", False):
        top, left = int(config["load_start_pos_h"]), int(config["load_start_pos_w"])
        ch, cw = int(config["crop_size_h"]), int(config["crop_size_w"])
        if top + ch > h or left + cw > w:
            raise UserError(f"{path}: the crop {cw}x{ch} at ({left}, {top}) does not fit a {w}x{h} image")
        yuv = yuv[:, top:top + ch, left:left + cw]
    yuv = yuv.astype(np.int64)
    bias = np.array([int(config.get(f"input_bias_{k}", 0)) for k in range(3)]).reshape(3, 1, 1)
    matrix = np.array([[int(config.get(f"matrix_r{r}c{c}", 0)) for c in range(3)] for r in range(3)])
    rgb = np.einsum("rc,chw->rhw", matrix, yuv - bias)
    rgb = np.clip(np.floor(rgb / 256.0 + 0.5), 0, 255)  # round half up, as a fixed-point >> 8 with rounding
    mean = np.array([config.get(f"mean_chn_{k}", 0.0) + config.get(f"min_chn_{k}", 0.0) for k in range(3)])
    scale = np.array([config.get(f"var_reci_chn_{k}", 1.0) for k in range(3)])
    out = (rgb - mean.reshape(3, 1, 1)) * scale.reshape(3, 1, 1)
    return out[None].astype(np.float32)


def read_info(path):
    """The benchmark tool's .info file: [(index, image path, width, height)]; image paths relative to the
    current folder, as the tool reads them."""
    rows = []
    for number, raw in enumerate(fileio.read_text(path, ".info file (gen_dataset_info.py writes it)").splitlines(), 1):
        if not raw.strip():
            continue
        parts = raw.split()
        if len(parts) != 4 or not parts[0].isdigit() or not parts[2].isdigit() or not parts[3].isdigit():
            raise UserError(f"{path}: line {number} is {raw!r}; expected '<index> <image path> <width> <height>'")
        rows.append((int(parts[0]), Path(parts[1]), int(parts[2]), int(parts[3])))
    if not rows:
        raise UserError(f"{path}: holds no image lines")
    return rows
