"""Maps test images -> 512x512 JPEG thumbnails and the benchmark tool's .info files (the original's AIPP path).

As the first-generation original: every image of each folder becomes a PIL thumbnail fitting 512x512 (600x600
-> 512x512), saved as <dst>/<stem>.jpeg, and the .info file lists one '<i> <dst>/<stem>.jpeg <w> <h>' line per
image (i from 0, images in natural order), which `benchmark -input_text_path=... -useDvpp=true` reads. On a
CPU, CycleGAN_aipp_preprocess.py turns the same .info file into the tensors the AIPP model computes.
Beside each thumbnail it also writes <stem>.bin, the float path's input (exactly what CycleGAN_preprocess.py
writes), so the same folder serves our chain (../common/infer.py --input ./datasetsDst/maps/testA/ reads the
.bin files only). Each folder is written whole or not at all; each .info file atomically, after its folder.

    python3 gen_dataset_info.py --src_path_testA=./datasets/maps/testA/ --save_pathTestA_dst=datasetsDst/maps/testA/ \\
        --dataTestA_infoName=testA_prep.info --src_path_testB=./datasets/maps/testB/ \\
        --save_pathTestB_dst=./datasetsDst/maps/testB/ --dataTestB_infoName=testB_prep.info
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from tqdm import tqdm

from common import cli, fileio, staging
from cyclegan_aipp import write_thumbnail
from cyclegan_data import add_split_arguments, list_images, load_image


def thumbnails(src, dst, staged_dst, staged_info):
    """All images of `src` -> <stem>.jpeg thumbnails and <stem>.bin float inputs in `staged_dst` (to become
    `dst`), and the .info file listing the thumbnails (under their final names) at `staged_info`."""
    files = list_images(src)
    lines = []
    for i, path in enumerate(tqdm(files, desc=f"Thumbnails of {src}", unit="image")):
        name = f"{fileio.stem(path)}.jpeg"
        width, height = write_thumbnail(path, staged_dst / name)
        lines.append(f"{i} {Path(dst) / name} {width} {height}")
        fileio.write_array(staged_dst / f"{fileio.stem(path)}.bin", load_image(path), atomic=False)
    Path(staged_info).write_text("\n".join(lines) + "\n")
    return len(files)


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    add_split_arguments(p, "thumbnails and .bin files", dst_a="datasetsDst/maps/testA/")  # the original's defaults
    p.add_argument("--dataTestA_infoName", "--info-a", dest="info_a", type=cli.writes, default="testA_prep.info",
                   help="the testA .info file")
    p.add_argument("--dataTestB_infoName", "--info-b", dest="info_b", type=cli.writes, default="testB_prep.info",
                   help="the testB .info file")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    list_images(args.src_b)  # check both folders before writing anything
    # Both folders and both .info files appear together, or none of them does.
    with staging.OutputSet("gen_dataset_info.py") as outputs:
        staged = [(outputs.folder(dst, replaceable=(".jpeg", ".bin")), outputs.file(info))
                  for dst, info in ((args.dst_a, args.info_a), (args.dst_b, args.info_b))]
        counts = [thumbnails(src, dst, *parts) for src, dst, parts in
                  zip((args.src_a, args.src_b), (args.dst_a, args.dst_b), staged)]
    for src, dst, info, count in zip((args.src_a, args.src_b), (args.dst_a, args.dst_b), (args.info_a, args.info_b),
                                     counts):
        print(f"{count} images of {src} -> {dst} (512x512 JPEG thumbnails listed in {info}, "
              f"and the float path's .bin inputs)")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
