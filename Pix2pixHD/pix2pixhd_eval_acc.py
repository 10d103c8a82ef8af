"""Accuracy of the offline outputs: the PyTorch generator on the same input files, compared image by image.

    python3 pix2pixhd_eval_acc.py --load_pretrain ./pix2pixHD/checkpoints/label2city_1024p/ --input ./prep_datasets/ --result ./result/bs1

The checkpoint runs in PyTorch on every input file of --input (or the first --num), one image at a time and
without autograd, so a 1024x2048 image fits in a few GB of memory on a CPU, and writes its fake_image to
--pth_result as <label stem>_0.bin, where the offline run wrote its own. Each pair gives cosine, max
|difference| and PSNR; the per-image lines and the verdict go to the log, everything to the JSON, and
reference | offline | difference pictures of the first images to --pictures. The exit status is 1 when the mean cosine is below
--threshold (0.99, the bar for float16 NPU builds; ONNX Runtime in float32 reaches 0.9999 or better).
Give --input as the runner got it: one folder (input_concat) or label,edge folders (the --compact model).
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np

from common import accuracy, cli, reference, report, tool_outputs
from common.errors import UserError
import pix2pixhd_model as p2p
from pix2pixhd_data import check_size
from pix2pixhd_facts import COMPACT, FACTS, FULL, OUTPUT_NC


def image_line(figures):
    return (f"{figures['file']} : cos ==> {figures['cosine']:.6f} , max ==> {figures['max_abs']:.3g} , "
            f"PSNR ==> {figures['psnr']:.2f} dB")


def summary_line(agg):
    checked = f"{agg['count']}" + (f" of {agg['offline_files']}" if agg["offline_files"] != agg["count"] else "")
    return (f"mean cosine {agg['mean_cosine']:.6f} (min {agg['min_cosine']:.6f}) over {checked} images, "
            f"max abs diff {agg['max_abs']:.3g}, PSNR {agg['psnr']:.2f} dB (min {agg['min_psnr']:.2f} dB)")


# label2city_1024p's image (the defaults of --height/--width, which main applies), --n_pictures the pictures,
# --num reference_subset
CHECK = accuracy.AccuracyCheck(FULL.output.sample_shape, title=f"{FACTS.name}: PyTorch vs offline",
                               threshold=FACTS.threshold, line=image_line,
                               summary_line=summary_line)


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--load_pretrain", required=True, type=cli.reads,
                   help="folder holding <which_epoch>_net_G.pth, or the .pth file (as for pix2pixhd_pth2onnx.py)")
    p.add_argument("--which_epoch", default="latest", help="checkpoint epoch name inside the --load_pretrain folder")
    p.add_argument("--input", required=True, type=cli.reads_list,
                   help="the offline run's input: the preprocessed folder, or label,edge folders for --compact")
    p.add_argument("--result", required=True, type=cli.reads, help="the offline outputs (e.g. ./result/bs1)")
    p.add_argument("--pth_result", type=cli.writes, default="./pth_result", help="folder for the PyTorch outputs")
    p.add_argument("--num", type=cli.positive_int, default=None,
                   help="check only the first NUM input files (natural order; about 30 s each at 1024x2048 on "
                        "a 2-core CPU); default: all")
    p.add_argument("--height", type=cli.positive_int, default=CHECK.sample_shape[1], help="image height of the input files")
    p.add_argument("--width", type=cli.positive_int, default=CHECK.sample_shape[2], help="image width of the input files")
    p.add_argument("--threshold", type=cli.cosine_threshold, default=CHECK.threshold,
                   help="lowest accepted mean cosine")
    p.add_argument("--log", type=cli.writes, default="pix2pixhd_acc.log", help="per-image figures and the verdict")
    p.add_argument("--json", type=cli.writes, default="pix2pixhd_acc.json", help="all figures as JSON")
    p.add_argument("--pictures", type=cli.writes, default="./acc_compare", help="folder for reference | offline | difference pictures")
    p.add_argument("--n_pictures", type=cli.non_negative_int, default=4, help="number of comparison pictures")
    report.add_options(p)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    check_size(args.height, args.width)
    input_dirs = [Path(d) for d in args.input.split(",") if d.strip()]
    if len(input_dirs) not in (1, 2):
        raise UserError(f"--input {args.input!r}: expected one folder (input_concat) or two, label,edge "
                        f"(the --compact model's label_map and edge_map)")
    report_path = report.target(args, args.log)
    compact = len(input_dirs) == 2
    size = (args.height, args.width)
    model = p2p.load_generator(args.load_pretrain, args.which_epoch, compact=compact)
    inputs = (COMPACT if compact else FULL).inputs
    shapes, dtypes = [(t.shape[1], *size) for t in inputs], [np.dtype(t.dtype) for t in inputs]
    count = reference.write_reference_outputs(model, input_dirs, args.pth_result, shapes, dtypes, limit=args.num)
    print(f"{count} PyTorch outputs in {args.pth_result}")
    extra = {"checkpoint": str(p2p.checkpoint_path(args.load_pretrain, args.which_epoch)),
             "input": [str(d) for d in input_dirs], "compact": compact}
    check = CHECK.but(sample_shape=(OUTPUT_NC, *size), n_pictures=args.n_pictures,
                      reference_subset=args.num is not None)
    accuracy.check_against_reference(check, args.pth_result, tool_outputs.resolve_result_dir(args.result),
                                     threshold=args.threshold,
                                     log_path=args.log, json_path=args.json, pictures_dir=args.pictures,
                                     report_path=report_path, extra=extra)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
