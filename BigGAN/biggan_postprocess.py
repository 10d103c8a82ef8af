"""Turn offline BigGAN outputs into images, a contact sheet, and the npz of raw outputs for IS/FID.

    python3 biggan_postprocess.py --result-path ./result/bs1 --save-path ./postprocess_img --batch-size 1 --save-img --save-npz

Only the first output of each sample is read (input_00000_0.bin as ais_bench and common/infer.py write it,
.bin, .npy or .txt; also msame's input_00000_output_0 and the benchmark tool's dumpOutput_device0/input_00000_1),
in natural order (input_2 before input_10), each holding one or more (3, 128, 128) float32 outputs in [-1, 1]. --save-img writes <save-path>/img_bs<B>/<file stem>_<k>.jpg
(k = sample index, which is also the index of the sample's class in gen_y.npz) with the fixed
[-1, 1] -> [0, 255] mapping, and <save-path>/grid_bs<B>.png; --save-npz writes the raw outputs, key 'x'
(N, 3, 128, 128) float32, streamed to disk (50,000 outputs are 9.8 GB).
"""
import contextlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np
from tqdm import tqdm

from biggan_facts import OUTPUT_SHAPE
from common import cli, fileio, images, npz, staging, tool_outputs
from common.errors import UserError

SAMPLE_BYTES = int(np.prod(OUTPUT_SHAPE)) * 4


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--result-path", type=cli.reads, default="./result/bs1",
                   help="offline result folder (or an ais_bench --output folder holding timestamped runs)")
    p.add_argument("--save-path", type=cli.writes_into, default="./postprocess_img", help="folder for the images")
    p.add_argument("--batch-size", type=cli.positive_int, default=1, help="batch size of the run; names img_bs<B> and gen_img_bs<B>.npz")
    p.add_argument("--save-img", action="store_true", help="write the images and the contact sheet")
    p.add_argument("--save-npz", action="store_true", help="write the raw outputs as an npz for biggan_eval_acc.py")
    p.add_argument("--gen-img", type=cli.writes, default=None, help="npz file to write (default ./gen_img_bs<B>.npz)")
    p.add_argument("--minmax", action="store_true",
                   help="stretch each image to its own min..max as the original did (save_image(normalize=True)); "
                        "brighter, but not the model's colours")
    p.add_argument("--grid-size", type=cli.positive_int, default=64, help="images on the contact sheet")
    return p


def list_outputs(result_path):
    """The outputs (tool_outputs.output_files: any tool's naming and format) in natural order and the number of samples
    they hold, checked before anything is written."""
    result_dir = tool_outputs.resolve_result_dir(result_path)
    files = list(tool_outputs.output_files(result_dir).items())
    if not files:
        raise UserError(f"{result_dir}: holds no output 0 files")
    counts = []
    for _, path in files:
        if path.suffix.lower() != ".bin":
            counts.append(fileio.read_array(path, np.float32, (-1, *OUTPUT_SHAPE)).shape[0])
            continue
        size = path.stat().st_size
        if size == 0 or size % SAMPLE_BYTES:
            raise UserError(f"{path}: {size} bytes is not a whole number of (3, 128, 128) float32 images "
                            f"({SAMPLE_BYTES} bytes each)")
        counts.append(size // SAMPLE_BYTES)
    return files, counts


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not (args.save_img or args.save_npz):
        raise UserError("nothing to do: give --save-img and/or --save-npz")
    img_dir = os.path.join(args.save_path, f"img_bs{args.batch_size}")
    npz_path = args.gen_img or f"./gen_img_bs{args.batch_size}.npz"
    grid_path = os.path.join(args.save_path, f"grid_bs{args.batch_size}.png")
    staging.check_apart(reads=[("--result-path", args.result_path)],
                        writes=[("--gen-img", npz_path), ("--save-path", img_dir), ("--save-path", grid_path)])
    files, counts = list_outputs(args.result_path)
    total = sum(counts)
    sheet = []
    # The images, the contact sheet and the npz appear together, or none of them does.
    with staging.OutputSet("biggan_postprocess.py") as outputs, contextlib.ExitStack() as stack:
        tmp = outputs.folder(img_dir, replaceable=(".jpg", ".png")) if args.save_img else None
        grid_tmp = outputs.file(grid_path) if args.save_img else None
        writer = (stack.enter_context(npz.NpzArrayWriter(npz_path, "x", (total, *OUTPUT_SHAPE),
                                                           staged=outputs.file(npz_path)))
                  if args.save_npz else None)
        index = 0
        for (sample_stem, path), count in zip(tqdm(files, desc="Postprocess", unit="file"), counts):
            samples = tool_outputs.read_output(path, OUTPUT_SHAPE, count=count)
            if writer is not None:
                writer.write(samples)
            if tmp is not None:  # named by the sample's index in gen_y.npz
                names = [f"{sample_stem}_0_{index + k}.jpg" for k in range(len(samples))]
                images.save_pictures(samples, tmp, names, args.minmax, sheet, args.grid_size)
            index += len(samples)
        if grid_tmp is not None:
            images.save_image(grid_tmp, images.grid(sheet, nrow=8), atomic=False, ext=".png")
    if args.save_img:
        mapping = "per-image min-max" if args.minmax else "fixed [-1, 1] mapping"
        print(f"{total} image(s) in {img_dir} ({mapping}); contact sheet {grid_path}")
    if args.save_npz:
        print(f"{total} raw output(s) in {npz_path} (key 'x', float32 {(total, *OUTPUT_SHAPE)})")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
