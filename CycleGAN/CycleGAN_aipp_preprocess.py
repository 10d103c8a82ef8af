"""A benchmark .info file of JPEG thumbnails -> the input tensors the AIPP .om model computes from them.

On Ascend, `benchmark -useDvpp=true` decodes each JPEG with DVPP and the .om's AIPP stage (aipp_CycleGAN_pth.config)
converts YUV420SP to RGB, crops and normalises. This script computes that tensor on a CPU (see cyclegan_aipp.py
for the emulation and its approximation) and writes it as <stem>.bin, one (1, 3, 256, 256) float32 array per
image, for ../common/infer.py with the ONNX model (which has no AIPP stage). The folder is written whole or
not at all.

    python3 CycleGAN_aipp_preprocess.py --info=testA_prep.info --save_path=./datasetsDst/maps/testA_aipp/
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from tqdm import tqdm

from common import cli, fileio, staging
from common.errors import UserError
from cyclegan_aipp import CONFIG, aipp_input, read_config, read_info


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--info", "--input_text_path", dest="info", type=cli.reads, default="testA_prep.info",
                   help="the .info file gen_dataset_info.py wrote (the benchmark tool's -input_text_path)")
    p.add_argument("--aipp_config", "--insert_op_conf", dest="config", type=cli.reads, default=str(CONFIG.name),
                   help=f"the AIPP config the .om was built with (atc --insert_op_conf); when the current folder "
                        f"has no {CONFIG.name}, the copy beside this script is read")
    p.add_argument("--save_path", type=cli.writes, default="./datasetsDst/maps/testA_aipp/", help="folder for the .bin files")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    default = args.config == CONFIG.name and not os.path.exists(args.config)
    config = read_config(CONFIG if default else args.config)
    rows = read_info(args.info)
    stems = {}
    for _, path, _, _ in rows:
        other = stems.setdefault(fileio.stem(path), path)
        if other != path:
            raise UserError(f"{args.info}: {path} and {other} would both be written as {fileio.stem(path)}.bin")
    with staging.AtomicDir(args.save_path, replaceable=(".bin",)) as tmp:
        for _, path, _, _ in tqdm(rows, desc=f"AIPP inputs of {args.info}", unit="image"):
            fileio.write_array(tmp / f"{fileio.stem(path)}.bin", aipp_input(path, config), atomic=False)
    print(f"{len(rows)} images of {args.info} -> {args.save_path}: (1, 3, {int(config['crop_size_h'])}, "
          f"{int(config['crop_size_w'])}) float32, as the AIPP of {args.config} computes them")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
