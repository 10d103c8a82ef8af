"""Offline outputs (<stem>_0.bin, or any tool's naming) -> images, with upstream's output mapping, plus a contact sheet.

Each (1, 3, 256, 256) output in [-1, 1] becomes <stem>_0.png through upstream's util.tensor2im,
((x + 1) / 2 * 255) truncated to uint8: the same fixed mapping for every image, so pictures compare. With
--dataroot (the raw testA or testB folder) every test image must have its output and every output its
image, as the original paired them (<n>_A.jpg -> <n>_A_0.bin, or the benchmark tool's <n>_A_1.bin, msame's
<n>_A_output_0.bin); a missing partner is an error.

    python3 CycleGAN_postprocess.py --dataroot=./datasets/maps/testA/ --npu_bin_file=./result/Abs1/ \\
        --bin2img_fie=./bin2imgfile/testA/
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli, images, tool_outputs
from cyclegan_data import list_images, outputs_of_images
from cyclegan_facts import SAMPLE_SHAPE


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--npu_bin_file", "--result_dir", dest="result_dir", type=cli.reads, default="./result/Abs1/",
                   help="offline outputs: the runner's output folder, an ais_bench --output folder with a "
                        "timestamped run, or a benchmark dumpOutput_device<d> parent")
    p.add_argument("--bin2img_fie", "--save_dir", dest="save_dir", type=cli.writes, default="./bin2imgfile/testA/",
                   help="folder for the images and grid.png")
    p.add_argument("--dataroot", "--image_dir", dest="dataroot", type=cli.reads, default=None,
                   help="raw test images the outputs belong to (testA or testB); checks that they pair up")
    p.add_argument("--ext", choices=["png", "jpg"], default="png", help="image format")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    result_dir = tool_outputs.resolve_result_dir(args.result_dir)
    if args.dataroot:
        outputs_of_images(list_images(args.dataroot), result_dir)
    count, grids = images.outputs_to_images(result_dir, args.save_dir, SAMPLE_SHAPE, ext=args.ext)
    print(f"{count} images in {args.save_dir} (contact sheet {grids[0] if grids else 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
