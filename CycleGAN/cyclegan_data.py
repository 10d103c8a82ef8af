"""The maps test images: listing, upstream's test-time transform, and a synthetic maps-like dataset.

The maps dataset (efrosgans.eecs.berkeley.edu/cyclegan/datasets/maps.zip) holds 600x600 JPEGs:
testA/<n>_A.jpg (aerial photos, G_A's input) and testB/<n>_B.jpg (maps, G_B's input), 1098 each.
"""
from pathlib import Path

import numpy as np

from common import cli, fileio, images, tool_outputs
from common.errors import UserError
from cyclegan_facts import SIZE

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


def add_split_arguments(parser, what, dst_a="./datasetsDst/maps/testA/"):
    """The originals' --src_path_testA / --save_pathTestA_dst / --src_path_testB / --save_pathTestB_dst options
    (dests src_a, dst_a, src_b, dst_b), shared by CycleGAN_preprocess.py and gen_dataset_info.py; `what` names
    what the dst folders receive."""
    for side, role, dst in (("A", "aerial photos), G_A's input", dst_a),
                            ("B", "maps), G_B's input", "./datasetsDst/maps/testB/")):
        key = side.lower()
        parser.add_argument(f"--src_path_test{side}", f"--src-{key}", dest=f"src_{key}", type=cli.reads,
                            default=f"./datasets/maps/test{side}/", help=f"test{side} images ({role}")
        parser.add_argument(f"--save_pathTest{side}_dst", f"--dst-{key}", dest=f"dst_{key}", type=cli.writes,
                            default=dst, help=f"folder for the test{side} {what}")


def list_images(folder):
    """The image files of `folder`, natural-sorted. Any other file is an error (hidden files aside): a
    stray file means the folder is not what the user thinks, and skipping it would hide that."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder (expected test images such as testA/1_A.jpg)")
    files = sorted((p for p in folder.iterdir() if not p.name.startswith(".")),
                   key=lambda p: fileio.natural_key(p.name))
    for path in files:
        fileio.check_name(path)
        if not path.is_file() or path.suffix.lower() not in IMAGE_EXTS:
            raise UserError(f"{path}: not an image file; {folder} must hold only "
                            f"{'/'.join(IMAGE_EXTS)} images")
    if not files:
        raise UserError(f"{folder}: no image files in this folder")
    fileio.check_unique_stems(files, lambda stem: f"{stem}.bin")
    return files


def outputs_of_images(images, result_dir):
    """{image stem: output file} for the test `images` in `result_dir`, whatever tool named the outputs
    (tool_outputs.output_files); every image must have its output and every output its image."""
    outputs = tool_outputs.output_files(result_dir)
    stems = [fileio.stem(p) for p in images]
    missing = [p for p, s in zip(images, stems) if s not in outputs]
    if missing:
        raise UserError(f"{result_dir}: no output for {missing[0]} ({len(missing)} of {len(stems)} images have "
                        f"none); expected one output per test image")
    extra = sorted(set(outputs) - set(stems), key=fileio.natural_key)
    if extra:
        raise UserError(f"{outputs[extra[0]]}: has no image in {Path(images[0]).parent} ({len(extra)} unpaired "
                        f"output(s)); the run did not see these test images")
    return {s: outputs[s] for s in stems}


def open_image(path, mode="RGB"):
    """The image at `path` in `mode` (RGB by default, as upstream reads it): common.images.open_image."""
    return images.open_image(path, mode)


def load_image(path):
    """Upstream's test-time input for one image: a (1, 3, 256, 256) float32 array in [-1, 1].

    data/base_dataset.py get_transform at test time (preprocess resize_and_crop, load_size = crop_size = 256,
    no_flip): Image.open().convert('RGB') -> transforms.Resize([256, 256], bicubic), which on a PIL image is
    PIL's antialiased bicubic resize -> the 256 crop (a no-op) -> ToTensor -> Normalize((0.5,)*3, (0.5,)*3).
    The same float32 operations here in PIL and NumPy, bit for bit (tests/test_cyclegan.py holds them to
    torchvision's): importing torchvision for them cost the preprocess 5 s of start-up.
    """
    from PIL import Image

    pixels = np.asarray(open_image(path).resize((SIZE, SIZE), Image.BICUBIC), dtype=np.uint8)
    x = pixels.transpose(2, 0, 1).astype(np.float32) / np.float32(255)  # ToTensor
    return ((x - np.float32(0.5)) / np.float32(0.5))[None]  # Normalize


# ------------------------------------------------------------------------------------ synthetic dataset

_MAP = {"ground": (242, 239, 233), "park": (200, 230, 190), "water": (170, 211, 223),
        "block": (232, 228, 220), "road": (255, 255, 255), "major": (252, 214, 112), "edge": (200, 196, 190)}
_AERIAL = {"ground": (86, 98, 70), "park": (52, 84, 44), "water": (38, 58, 66),
           "block": (150, 140, 128), "road": (118, 118, 112), "major": (128, 126, 118), "edge": (90, 92, 84)}


def _draw(layout, palette, size, rng=None):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), palette["ground"])
    draw = ImageDraw.Draw(image)
    for kind, box in layout["areas"]:
        if kind == "water":
            draw.ellipse(box, fill=palette["water"])
        else:
            draw.rectangle(box, fill=palette[kind])
    for (x0, y0, x1, y1), major in layout["roads"]:
        width = 14 if major else 8
        draw.line((x0, y0, x1, y1), fill=palette["edge"], width=width + 4)
        draw.line((x0, y0, x1, y1), fill=palette["major" if major else "road"], width=width)
    pixels = np.asarray(image, dtype=np.float32)
    if rng is not None:  # aerial photos have texture; maps are flat colours
        pixels = pixels + rng.normal(0.0, 12.0, pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def write_synthetic_maps(root, count, seed=0, size=600):
    """A maps-like dataset in the real layout: root/testA/<n>_A.jpg and root/testB/<n>_B.jpg, n = 1..count.

    Each pair shares one seeded street layout (blocks, parks, water, roads), drawn as a flat-coloured map
    (B) and as a textured aerial photo (A), like the real paired test split. Same seed, same bytes.
    """
    from common import images

    rng = np.random.default_rng(seed)
    root = Path(root)
    for side in ("testA", "testB"):
        (root / side).mkdir(parents=True, exist_ok=True)
    for n in range(1, count + 1):
        areas = []
        for _ in range(int(rng.integers(6, 14))):
            x, y = rng.integers(0, size, 2)
            w, h = rng.integers(40, size // 3, 2)
            kind = str(rng.choice(["block", "block", "park", "water"]))
            areas.append((kind, (int(x), int(y), int(x + w), int(y + h))))
        roads = []
        for _ in range(int(rng.integers(4, 9))):
            if rng.random() < 0.5:
                y0, y1 = rng.integers(0, size, 2)
                line = (0, int(y0), size, int(y1))
            else:
                x0, x1 = rng.integers(0, size, 2)
                line = (int(x0), 0, int(x1), size)
            roads.append((line, bool(rng.random() < 0.3)))
        layout = {"areas": areas, "roads": roads}
        images.save_image(root / "testA" / f"{n}_A.jpg", _draw(layout, _AERIAL, size, rng))
        images.save_image(root / "testB" / f"{n}_B.jpg", _draw(layout, _MAP, size))
    return root
