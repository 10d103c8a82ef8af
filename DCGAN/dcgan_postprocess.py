"""Turn DCGAN offline outputs (.bin/.npy, (1, 32, 32) float32 per sample) into PNG images and a grid.

    python3 dcgan_postprocess.py --benchmark_result_path=./result/bs16 --save_path=./postprocess_img

Every output file becomes <stem>.png (a file holding several samples: <stem>_<j>.png), mapped with the fixed
(x + 1) / 2 * 255 of the generator's tanh range, plus grid.png of the first --grid_size images. --minmax
stretches each image to its own range instead, as the original's save_image(normalize=True) did.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli, images, tool_outputs
from dcgan_facts import IMAGE_SHAPE


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--benchmark_result_path", "--result_path", dest="result_path", type=cli.reads, default="./result/",
                   help="offline output folder (result/<dirname>, an ais_bench --output folder with timestamped "
                        "runs, or result/ holding dumpOutput_device0)")
    p.add_argument("--save_path", type=cli.writes, default="./postprocess_img/", help="folder for the PNG images")
    p.add_argument("--grid_size", type=cli.positive_int, default=64, help="images in grid.png")
    p.add_argument("--minmax", action="store_true", help="stretch each image to its own min-max range")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    result_dir = tool_outputs.resolve_result_dir(args.result_path)
    count, grids = images.outputs_to_images(result_dir, args.save_path, IMAGE_SHAPE, ext=".png", minmax=args.minmax,
                                            grid_limit=args.grid_size)
    print(f"{count} images in {args.save_path}; grid: {', '.join(str(g) for g in grids)}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
