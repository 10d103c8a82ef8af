"""A seeded synthetic dataset in the Cityscapes gtFine layout, for running the chain without Cityscapes.

    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png     8-bit label ids (mode L)
    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png  16-bit instance ids (mode I;16)
    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_color.png        (ignored by datasets_deal.py, as there)

Stuff regions carry their label id as instance id; objects of the Cityscapes "thing" classes (person ...
bicycle, ids 24..33) carry labelId * 1000 + k, so bicycles (33) give ids above 32767, the case that needs
16-bit reading. The same seed gives byte-identical files.
"""
import io
from pathlib import Path

import numpy as np
from PIL import Image

from common import images, staging

STUFF_IDS = (0, 4, 6, 7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23)
THING_IDS = tuple(range(24, 34))


def synthetic_maps(height, width, rng, objects=8):
    """(label ids uint8, instance ids uint16) of one frame: blocky stuff regions plus rectangular objects."""
    cell = max(height, width) // 8
    coarse = rng.choice(STUFF_IDS, size=(-(-height // cell), -(-width // cell)))
    label = np.kron(coarse, np.ones((cell, cell), dtype=np.int64))[:height, :width]
    inst = label.copy()
    for k in range(objects):
        cls = int(rng.choice(THING_IDS)) if k else 33  # always at least one bicycle (ids above 32767)
        h, w = (int(rng.integers(max(2, height // 10), max(3, height // 3))),
                int(rng.integers(max(2, width // 10), max(3, width // 3))))
        y, x = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        label[y:y + h, x:x + w] = cls
        inst[y:y + h, x:x + w] = cls * 1000 + k
    return label.astype(np.uint8), inst.astype(np.uint16)


def write_cityscapes(root, split="val", cities=("frankfurt", "lindau"), per_city=2, height=1024, width=2048,
                     seed=0):
    """Write the synthetic frames under <root>/gtFine/<split>/<city>/ and return the label-map paths."""
    rng = np.random.default_rng(seed)
    written = []
    for city in cities:
        folder = Path(root) / "gtFine" / split / city
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_city):
            label, inst = synthetic_maps(height, width, rng)
            prefix = folder / f"{city}_{i:06d}_{19 + 17 * i:06d}_gtFine"
            images.save_image(f"{prefix}_labelIds.png", label)
            _save_16bit(f"{prefix}_instanceIds.png", inst)
            images.save_image(f"{prefix}_color.png", np.stack([label * 7, label * 3, label * 5], axis=-1))
            written.append(Path(f"{prefix}_labelIds.png"))
    return written


def _save_16bit(path, array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")  # uint16 -> mode I;16 -> a 16-bit grayscale PNG
    staging.write_bytes(path, buffer.getvalue())
