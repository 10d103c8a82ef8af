"""Label and instance maps -> the generator's input files, one per image, named after the label map.

    python3 pix2pixhd_preprocess.py ./pix2pixHD/datasets/cityscapes ./prep_datasets
    python3 pix2pixhd_preprocess.py ./pix2pixHD/datasets/cityscapes ./prep_compact --compact

Reads <dataset_dir>/test_label/*.png and <dataset_dir>/test_inst/*.png, paired by name
(X_gtFine_labelIds.png with X_gtFine_instanceIds.png; a missing partner is an error), and builds the input as
pix2pixHD does at test time: one-hot of the 35 label ids plus the instance-edge channel.

- default: <save_dir>/<label stem>.bin, (36, H, W) float32, the `input_concat` of pix2pixhd.onnx
  (301,989,888 bytes at 1024x2048, as the original preprocess wrote).
- --compact: <save_dir>/label/<label stem>.bin and <save_dir>/edge/<label stem>.bin, (1, H, W) uint8 each,
  the `label_map` and `edge_map` inputs of the --compact model (4,194,304 bytes per image at 1024x2048);
  the one-hot expansion happens inside that model.
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from tqdm import tqdm

from common import cli, fileio, staging
import pix2pixhd_data as data

COMPACT_DIRS = ("label", "edge")  # one folder per input of the --compact model, in input order


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("dataset_dir", type=cli.reads, help="folder holding test_label/ and test_inst/ (as datasets_deal.py makes it)")
    p.add_argument("save_dir", type=cli.writes_into, help="folder for the input files")
    p.add_argument("--compact", action="store_true",
                   help="write the uint8 label and edge maps for the --compact model instead of the "
                        "36-channel float32 input")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    pairs = data.paired_maps(args.dataset_dir)
    save_dir = Path(args.save_dir)
    shapes = set()
    if args.compact:
        # Both folders are filled under temporary names and appear together at the end.
        with staging.OutputSet("pix2pixhd_preprocess.py") as outputs:
            label_tmp = outputs.folder(save_dir / COMPACT_DIRS[0])
            edge_tmp = outputs.folder(save_dir / COMPACT_DIRS[1])
            for label_path, inst_path in tqdm(pairs, desc="Preprocess", unit="image"):
                label_ids, inst_ids = data.read_maps(label_path, inst_path)
                name = f"{fileio.stem(label_path)}.bin"
                fileio.write_array(label_tmp / name, label_ids[None], atomic=False)
                fileio.write_array(edge_tmp / name, data.edge_map(inst_ids)[None], atomic=False)
                shapes.add(label_ids.shape)
        written = f"{save_dir / COMPACT_DIRS[0]} and {save_dir / COMPACT_DIRS[1]}, (1, H, W) uint8 each"
    else:
        with staging.AtomicDir(save_dir) as tmp:
            for label_path, inst_path in tqdm(pairs, desc="Preprocess", unit="image"):
                label_ids, inst_ids = data.read_maps(label_path, inst_path)
                fileio.write_array(tmp / f"{fileio.stem(label_path)}.bin",
                                  data.input_concat(label_ids, data.edge_map(inst_ids)), atomic=False)
                shapes.add(label_ids.shape)
        written = f"{save_dir}, (36, H, W) float32"
    sizes = ", ".join(f"{h}x{w}" for h, w in sorted(shapes))
    print(f"{len(pairs)} images ({sizes}) -> {written}")
    if len(shapes) > 1:
        print("note: the images have different sizes; a model takes one size (pix2pixhd_pth2onnx.py "
              "--height/--width)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
