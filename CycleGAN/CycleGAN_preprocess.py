"""Maps test images -> generator input .bin files, with upstream's test-time transform.

Every image of testA (aerial photos, G_A's input) and of testB (maps, G_B's input) is read as RGB, resized
to 256x256 with bicubic interpolation (PIL, as upstream's transforms.Resize), scaled to [-1, 1], and written
as <stem>.bin, one (1, 3, 256, 256) float32 array per image (1_A.jpg -> 1_A.bin). A folder that holds
anything but images, or an image that cannot be read, is an error.

    python3 CycleGAN_preprocess.py --src_path_testA=./datasets/maps/testA/ --save_pathTestA_dst=./datasetsDst/maps/testA/ \\
        --src_path_testB=./datasets/maps/testB/ --save_pathTestB_dst=./datasetsDst/maps/testB/
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from tqdm import tqdm

from common import cli, fileio, staging
from cyclegan_data import add_split_arguments, list_images, load_image


def convert_folder(src, staged):
    """All images of `src` -> `staged`/<stem>.bin."""
    files = list_images(src)
    for path in tqdm(files, desc=f"Preprocessing {src}", unit="image"):
        fileio.write_array(staged / f"{fileio.stem(path)}.bin", load_image(path), atomic=False)
    return len(files)


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    add_split_arguments(p, ".bin files")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    list_images(args.src_b)  # check both folders before writing anything
    # Both folders appear together when every image of both is converted, or neither does.
    with staging.OutputSet("CycleGAN_preprocess.py") as outputs:
        staged = [outputs.folder(args.dst_a, replaceable=(".bin",)), outputs.folder(args.dst_b, replaceable=(".bin",))]
        counts = [convert_folder(args.src_a, staged[0]), convert_folder(args.src_b, staged[1])]
    for src, dst, count in zip((args.src_a, args.src_b), (args.dst_a, args.dst_b), counts):
        print(f"{count} images of {src} -> {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
