"""Cityscapes label and instance maps -> the generator's input, exactly as pix2pixHD builds it at test time.

Upstream (data/aligned_dataset.py and Pix2PixHDModel.encode_input/get_edges at 5a2c872, run with
`--resize_or_crop none`): both maps are resized with NEAREST to the nearest multiple of 32 (a no-op at
2048x1024), the label ids become a 35-channel one-hot map, and the instance map becomes one edge channel that
is 1 wherever a pixel's instance id differs from its left, right, upper or lower neighbour. Instance ids are
16-bit (labelId * 1000 + k, e.g. 33001 for a bicycle), so they are read at full width, never as 8-bit.
"""
from pathlib import Path

import numpy as np
from PIL import Image

from common import fileio, images, origins
from common.errors import UserError
from pix2pixhd_facts import LABEL_NC, SIZE_MULTIPLE

LABEL_DIR = "test_label"
INST_DIR = "test_inst"
LABEL_SUFFIX = "_gtFine_labelIds.png"
INST_SUFFIX = "_gtFine_instanceIds.png"
# PIL modes of single-channel maps: 8-bit, palette (its indices are the ids), 16-bit, 32-bit integer.
_LABEL_MODES = ("L", "P")
_INST_MODES = ("L", "P", "I;16", "I;16L", "I;16B", "I")


def inst_partner(label_name):
    """The instance map's file name for a label map's: Cityscapes names differ in the suffix, other pix2pixHD
    datasets use the same name in both folders."""
    if label_name.endswith(LABEL_SUFFIX):
        return label_name[:-len(LABEL_SUFFIX)] + INST_SUFFIX
    return label_name


def paired_maps(dataset_dir):
    """[(label png, inst png)] of <dataset_dir>/test_label and test_inst, paired by name, natural-sorted.

    A label map without its instance map, or an instance map without its label map, is an error: pairing by
    sorted position (as upstream and the original preprocess did) silently mixes images when one is missing.
    """
    dataset_dir = Path(dataset_dir)
    label_dir, inst_dir = dataset_dir / LABEL_DIR, dataset_dir / INST_DIR
    # Paired by name, with no run-record check: a dataset is the user's to edit by hand (upstream's own
    # datasets/cityscapes/test_label is filled that way), and maps of two different splits do not pair.
    for folder in (label_dir, inst_dir):
        if not folder.is_dir():
            raise UserError(f"{folder}: no such folder; expected {LABEL_DIR}/ and {INST_DIR}/ in {dataset_dir} "
                            f"{origins.hint(folder) or ' (datasets_deal.py makes them from gtFine/<split>)'}")
    return fileio.pair_by_name(label_dir, inst_dir, exts=(".png",), partner_name=inst_partner)


def check_size(height, width):
    """The generator halves the input 5 times and reflect-pads the result by 1, which needs 2 pixels."""
    if min(height, width) < 2 * SIZE_MULTIPLE or height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        raise UserError(f"image size {height}x{width}: height and width must be multiples of {SIZE_MULTIPLE}, "
                        f"at least {2 * SIZE_MULTIPLE}")


def target_size(width, height, base=SIZE_MULTIPLE):
    """upstream __make_power_2: each side rounded (Python round, half to even) to a multiple of `base`."""
    return int(round(width / base) * base), int(round(height / base) * base)


def _open(path, modes, what):
    image = images.open_image(path)
    if image.mode not in modes:
        raise UserError(f"{path}: PIL mode {image.mode!r}, expected a single-channel {what} "
                        f"(mode {' or '.join(modes)})")
    return image


def read_maps(label_path, inst_path):
    """(label ids (H, W) uint8, instance ids (H, W) int32), resized as upstream does."""
    label = _open(label_path, _LABEL_MODES, "8-bit label-id map")
    inst = _open(inst_path, _INST_MODES, "instance-id map")
    if label.size != inst.size:
        raise UserError(f"{inst_path}: {inst.size[0]}x{inst.size[1]} pixels, but its label map {label_path} is "
                        f"{label.size[0]}x{label.size[1]}")
    size = target_size(*label.size)
    if min(size) == 0:
        raise UserError(f"{label_path}: {label.size[0]}x{label.size[1]} pixels is too small; each side must "
                        f"round to at least {SIZE_MULTIPLE}")
    if size != label.size:  # upstream resizes both maps with NEAREST (never at Cityscapes' 2048x1024)
        label, inst = label.resize(size, Image.NEAREST), inst.resize(size, Image.NEAREST)
    label_ids = np.array(label, dtype=np.uint8)
    inst_ids = np.asarray(inst).astype(np.int32)
    top = int(label_ids.max())
    if top >= LABEL_NC:
        raise UserError(f"{label_path}: holds label id {top}; expected Cityscapes label ids below {LABEL_NC}")
    return label_ids, inst_ids


def edge_map(inst_ids):
    """upstream get_edges: 1 where a pixel's id differs from a 4-neighbour's (both pixels of each pair)."""
    edge = np.zeros(inst_ids.shape, dtype=bool)
    horizontal = inst_ids[:, 1:] != inst_ids[:, :-1]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    vertical = inst_ids[1:, :] != inst_ids[:-1, :]
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    return edge.astype(np.uint8)


def input_concat(label_ids, edges):
    """The (36, H, W) float32 input: one-hot of the 35 label ids, then the edge channel."""
    out = np.zeros((LABEL_NC + 1, *label_ids.shape), dtype=np.float32)
    rows, cols = np.indices(label_ids.shape, sparse=True)
    out[label_ids, rows, cols] = 1.0
    out[LABEL_NC] = edges
    return out
