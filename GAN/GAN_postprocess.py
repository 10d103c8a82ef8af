"""Turn GAN offline outputs ((1, 28, 28) float32 per sample) into PNG images and grids.

    python3 GAN_postprocess.py --txt_path=./result/bs64 --infer_results_path=genimg

Outputs are read as ais_bench or common/infer.py (<i>_0.bin|.npy|.txt), msame (<i>_output_0.bin|.txt, also
its timestamped run folders) or the benchmark tool (dumpOutput_device0/<i>_1.bin) write them; a summary or
log beside them is ignored. A file holding one sample
becomes <stem>.png; a file holding a batch becomes <stem>_<j>.png for each sample plus <stem>_grid.png, the
picture of the whole batch (the original's one picture per file), so no two names collide. With one sample
per file, grid.png shows the first --grid_size images. Pixels use the fixed (x + 1) / 2 * 255 of the tanh
range; --minmax stretches each image to its own range, as the original's save_image(normalize=True) did.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli, images, tool_outputs
from common.errors import UserError
from GAN_facts import IMAGE_SHAPE


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--txt_path", "--result_path", dest="result_path", type=cli.reads, default="./result",
                   help="offline output folder (result/<dirname>; or an ais_bench or msame --output folder: the "
                        "newest timestamped run in it is used)")
    p.add_argument("--infer_results_path", "--save_path", dest="save_path", type=cli.writes, default="genimg",
                   help="folder for the PNG images")
    p.add_argument("--grid_size", type=cli.positive_int, default=64, help="images in grid.png when files hold one sample")
    p.add_argument("--minmax", action="store_true", help="stretch each image to its own min-max range")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    result_dir = tool_outputs.resolve_result_dir(args.result_path)
    first = next(iter(tool_outputs.output_files(result_dir).values()), None)
    if first is None:
        raise UserError(f"{result_dir}: holds no output 0 files")
    per_file = tool_outputs.read_output(first, IMAGE_SHAPE).shape[0]
    count, grids = images.outputs_to_images(result_dir, args.save_path, IMAGE_SHAPE, ext=".png",
                                            minmax=args.minmax, grid_limit=args.grid_size,
                                            grid_per_file=per_file > 1)
    grid_note = f"{len(grids)} batch grids" if per_file > 1 else f"grid {grids[0]}"
    print(f"{count} images in {args.save_path} ({per_file} per output file); {grid_note}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
