"""Model outputs to pictures: the fixed [-1, 1] -> uint8 mapping, image files, grids, comparison pictures."""
import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from common import staging, tool_outputs
from common.errors import UserError
from common.staging import write_bytes


def to_uint8(image, minmax=False):
    """A (C, H, W) or (H, W) float image -> (H, W, C) or (H, W) uint8.

    The fixed mapping is upstream's tensor2im: clip((x + 1) / 2 * 255, 0, 255) truncated to uint8, the same
    for every image, so pictures can be compared. `minmax` stretches each image to its own range instead
    (torchvision save_image(normalize=True), which the Ascend originals used): brighter, but not faithful.
    """
    x = np.asarray(image, dtype=np.float32)
    if x.ndim == 3:
        x = np.transpose(x, (1, 2, 0))
        if x.shape[2] == 1:
            x = x[:, :, 0]
    elif x.ndim != 2:
        raise ValueError(f"expected a (C, H, W) or (H, W) image, got shape {x.shape}")
    if minmax:
        low, high = float(x.min()), float(x.max())
        x = (x - low) / max(high - low, 1e-5)
        return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.clip((x + 1.0) / 2.0 * 255.0, 0, 255).astype(np.uint8)


def open_image(path, mode=None):
    """The image at `path`, decoded (and converted to `mode` if given); a file that is not a readable image, or
    one too large to decode safely (PIL's decompression-bomb limit), is an error naming it. For a JPEG, mode
    'YCbCr' is libjpeg's own YCbCr output (no round trip through RGB)."""
    try:
        with Image.open(path) as image:
            if mode == "YCbCr":
                image.draft("YCbCr", image.size)
            return image.convert(mode) if mode else image.copy()
    except Image.DecompressionBombError as err:
        raise UserError(f"{path}: too large to decode safely ({str(err).split('could')[0].strip()}); expected an "
                        f"image of at most {Image.MAX_IMAGE_PIXELS * 2} pixels") from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise UserError(f"{path}: not a readable image ({type(err).__name__}: {str(err).splitlines()[0]})") \
            from None


def save_image(path, image, ext=None, atomic=True):
    """Write a uint8 (H, W) or (H, W, 3) array as PNG or JPEG (by `ext`, else the extension), atomically unless
    `path` is already a temporary one (inside an AtomicDir, or an OutputSet part)."""
    path = Path(path)
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}.get((ext or path.suffix).lower())
    if fmt is None:
        raise ValueError(f"{path}: unsupported image extension (use .png or .jpg)")
    buffer = io.BytesIO()
    options = {"quality": 95} if fmt == "JPEG" else {}
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format=fmt, **options)
    if not atomic:
        path.write_bytes(buffer.getvalue())
        return path
    return write_bytes(path, buffer.getvalue())


def grid(images, nrow=8, padding=2, pad_value=0):
    """Tile equally sized images (HW or HWC; uint8, or float with e.g. NaN padding) into one contact sheet,
    `nrow` images per row."""
    images = [np.asarray(im) for im in images]
    if not images:
        raise ValueError("no images to tile")
    first = images[0]
    if any(im.shape != first.shape for im in images):
        raise ValueError("all images of a grid must have the same shape")
    h, w = first.shape[:2]
    channels = first.shape[2:] if first.ndim == 3 else ()
    ncol = min(nrow, len(images))
    nrows = -(-len(images) // ncol)
    sheet = np.full((nrows * (h + padding) + padding, ncol * (w + padding) + padding, *channels),
                    pad_value, dtype=first.dtype)
    for k, im in enumerate(images):
        r, c = divmod(k, ncol)
        y, x = padding + r * (h + padding), padding + c * (w + padding)
        sheet[y:y + h, x:x + w] = im
    return sheet


def side_by_side(reference, candidate, minmax=False):
    """reference | candidate | |difference| for two (C, H, W) float outputs.

    The difference panel is stretched so that the largest difference is white: at float32 rounding level
    the panel shows where the differences are, and the returned max_abs says how large they are.
    Returns (uint8 picture, max_abs).
    """
    reference = np.asarray(reference, dtype=np.float32)
    candidate = np.asarray(candidate, dtype=np.float32)
    diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
    max_abs = float(diff.max()) if diff.size else 0.0
    diff_image = (diff / max_abs * 255.0 if max_abs > 0 else diff).astype(np.uint8)
    diff_image = np.transpose(diff_image, (1, 2, 0)) if diff_image.ndim == 3 else diff_image
    if diff_image.ndim == 3 and diff_image.shape[2] == 1:
        diff_image = diff_image[:, :, 0]
    panels = [to_uint8(reference, minmax), to_uint8(candidate, minmax), diff_image]
    return grid(panels, nrow=3, padding=4, pad_value=255), max_abs


def save_pictures(samples, folder, names, minmax=False, sheet=None, sheet_limit=0):
    """Save each (C, H, W) sample in [-1, 1] as `folder/<name>` (to_uint8's mapping) inside a folder being
    staged, and add the first pictures to `sheet` until it holds `sheet_limit`. Returns the pictures."""
    pictures = [to_uint8(sample, minmax) for sample in samples]
    for name, picture in zip(names, pictures):
        save_image(Path(folder) / name, picture, atomic=False)
    if sheet is not None and len(sheet) < sheet_limit:
        sheet.extend(pictures[:sheet_limit - len(sheet)])
    return pictures


def outputs_to_images(result_dir, save_dir, sample_shape, ext=".png", minmax=False, grid_name="grid.png",
                      grid_limit=64, nrow=8, grid_per_file=False, index=0):
    """Turn output `index` of every sample in `result_dir` (the folder tool_outputs.resolve_result_dir found; the
    script resolves the one the user named, once) into image files in `save_dir`.

    The outputs are found whatever tool wrote them (tool_outputs.output_files: ais_bench, msame, the benchmark tool;
    .bin, .npy or .txt) and named as ais_bench names them, `<stem>_<index>`. Each file holds one or more
    samples of `sample_shape` ((C, H, W) in [-1, 1]). A file with one sample becomes `<stem>_<index>.<ext>`,
    a file with several `<stem>_<index>_<j>.<ext>`, so names never collide. A contact sheet
    of the first `grid_limit` images is written as `grid_name` (or, with `grid_per_file`, one
    `<stem>_grid.<ext>` per file). A progress bar runs over the files. The folder is filled under a temporary
    name and renamed when complete.
    Returns (number of images, list of grid paths).
    """
    result_dir = Path(result_dir)
    files = tool_outputs.output_files(result_dir, index)
    if not files:
        raise UserError(f"{result_dir}: holds no output {index} files")
    ext = ext if ext.startswith(".") else "." + ext
    count, sheet, grids = 0, [], []
    save_dir = Path(save_dir)
    with staging.AtomicDir(save_dir, replaceable=(".png", ".jpg", ".jpeg")) as tmp:
        for sample, path in tqdm(files.items(), desc="Images", unit="file", disable=len(files) < 2):
            samples = tool_outputs.read_output(path, sample_shape)
            stem = f"{sample}_{index}"
            names = [f"{stem}{ext}"] if len(samples) == 1 else [f"{stem}_{j}{ext}" for j in range(len(samples))]
            pictures = save_pictures(samples, tmp, names, minmax, None if grid_per_file else sheet, grid_limit)
            count += len(pictures)
            if grid_per_file:
                save_image(tmp / f"{stem}_grid{ext}", grid(pictures, nrow), atomic=False)
                grids.append(save_dir / f"{stem}_grid{ext}")
        if sheet and grid_name:
            save_image(tmp / grid_name, grid(sheet, nrow), atomic=False)
            grids.append(save_dir / grid_name)
    return count, grids
