"""Copy the Cityscapes label and instance maps of one gtFine split into pix2pixHD's test_label/ and test_inst/.

    python3 datasets_deal.py ./pix2pixHD/datasets/cityscapes/test_inst ./pix2pixHD/datasets/cityscapes/test_label ./datasets/gtFine/val

Every *_gtFine_instanceIds.png and *_gtFine_labelIds.png of the split's city folders is copied (other gtFine
files, such as *_color.png and *_polygons.json, are not). Each label map must have its instance map and the
other way round; otherwise nothing is written. Keep test_inst and test_label side by side in one folder:
that folder is what pix2pixhd_preprocess.py reads.
"""
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli, fileio, staging
from common.errors import UserError
from pix2pixhd_data import INST_SUFFIX, LABEL_SUFFIX


def collect(split_dir):
    """{label file name: (label path, inst path)} of all city folders of `split_dir`, checked for pairs."""
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise UserError(f"{split_dir}: no such folder; expected a Cityscapes gtFine split such as "
                        f"./datasets/gtFine/val")
    cities = sorted((p for p in split_dir.iterdir() if p.is_dir()), key=lambda p: fileio.natural_key(p.name))
    labels, insts = {}, {}
    for city in cities:
        for path in city.iterdir():
            for suffix, found in ((LABEL_SUFFIX, labels), (INST_SUFFIX, insts)):
                if path.name.endswith(suffix):
                    frame = path.name[:-len(suffix)]
                    if frame in found:
                        raise UserError(f"{path}: {frame}{suffix} also exists in {found[frame].parent}; "
                                        f"frame names must be unique across the city folders")
                    found[frame] = path
    if not labels and not insts:
        raise UserError(f"{split_dir}: no <city>/*{LABEL_SUFFIX} or *{INST_SUFFIX} files in its city folders")
    for frame in sorted(set(labels) ^ set(insts), key=fileio.natural_key):
        have, want = (labels[frame], INST_SUFFIX) if frame in labels else (insts[frame], LABEL_SUFFIX)
        raise UserError(f"{have}: its partner {have.parent / (frame + want)} is missing; every label map "
                        f"needs its instance map")
    return {frame: (labels[frame], insts[frame]) for frame in sorted(labels, key=fileio.natural_key)}


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("test_inst", type=cli.writes, help="folder to fill with the *_gtFine_instanceIds.png maps (named test_inst)")
    p.add_argument("test_label", type=cli.writes, help="folder to fill with the *_gtFine_labelIds.png maps (named test_label)")
    p.add_argument("split_dir", type=cli.reads, help="the Cityscapes split folder holding one folder per city, e.g. "
                                     "./datasets/gtFine/val")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    pairs = collect(args.split_dir)
    # Both folders are filled under temporary names and appear together when complete; a folder holding
    # anything but .png files is refused untouched.
    with staging.OutputSet() as outputs:
        inst_tmp = outputs.folder(args.test_inst, replaceable=(".png",))
        label_tmp = outputs.folder(args.test_label, replaceable=(".png",))
        for label, inst in pairs.values():
            shutil.copyfile(label, label_tmp / label.name)
            shutil.copyfile(inst, inst_tmp / inst.name)
    print(f"{len(pairs)} label/instance pairs copied to {args.test_label} and {args.test_inst}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
