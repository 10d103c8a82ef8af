"""Offline inference outputs -> images, with pix2pixHD's own tensor2im mapping.

    python3 pix2pixhd_postprocess.py ./result/bs1 ./result/bs1generated

Every .bin of <bin_dir> (or .npy, from --outfmt NPY; other files, such as a summary JSON, are ignored) must
hold one (3, H, W) float32 fake_image; it becomes <save_dir>/<bin stem>.jpg with clip((x + 1) / 2 * 255, 0, 255) truncated to uint8,
as upstream util.tensor2im (the same fixed mapping for every image, so pictures compare). grid.jpg shows the
first four. <bin_dir> may also be an ais_bench --output folder holding timestamped runs (the newest is used).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np
from common import cli, images, tool_outputs
from common.errors import UserError
from pix2pixhd_data import check_size
from pix2pixhd_facts import HEIGHT, OUTPUT_NC, WIDTH


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("bin_dir", type=cli.reads, help="folder of the offline outputs (<label stem>_0.bin)")
    p.add_argument("save_dir", type=cli.writes, help="folder for the images")
    p.add_argument("--height", type=cli.positive_int, default=HEIGHT, help="image height the model was exported with")
    p.add_argument("--width", type=cli.positive_int, default=WIDTH, help="image width the model was exported with")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    check_size(args.height, args.width)
    bin_dir = tool_outputs.resolve_result_dir(args.bin_dir)
    expected = OUTPUT_NC * args.height * args.width * np.dtype(np.float32).itemsize
    for path in tool_outputs.output_files(bin_dir).values():
        if path.suffix.lower() == ".bin" and path.stat().st_size != expected:  # one image per file, as ais_bench splits a batch's outputs
            raise UserError(f"{path}: {path.stat().st_size} bytes, expected {expected} for one "
                            f"({OUTPUT_NC}, {args.height}, {args.width}) float32 image (--height/--width)")
    count, grids = images.outputs_to_images(bin_dir, args.save_dir, (OUTPUT_NC, args.height, args.width),
                                            ext=".jpg", grid_name="grid.jpg", grid_limit=4, nrow=2)
    print(f"{count} images in {args.save_dir} (grid: {', '.join(str(g) for g in grids)})")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
