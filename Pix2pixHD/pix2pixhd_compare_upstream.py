"""Check this folder against the upstream code: same input tensors, same generator outputs, same pictures.

    python3 pix2pixhd_compare_upstream.py --upstream ./pix2pixHD

--upstream is a NVIDIA/pix2pixHD checkout at 5a2c872 with pix2pixhd.patch applied (CPU-only). Upstream's own
test path runs as scripts/test_1024p.sh configures it (TestOptions with --netG local --ngf 32
--resize_or_crop none, its AlignedDataset, InferenceModel.inference: encode_input + netG) on a seeded random
latest_net_G.pth that upstream's load_network reads, and so does ours (pix2pixhd_data + LocalEnhancer, and the
--compact model). Per image it prints whether the 36-channel inputs are identical, the largest output
difference of both of our models from upstream's, and how many values of our picture (the postprocess
mapping) differ from upstream's tensor2im picture; it fails (exit status 1) when an input differs or an
output differs by more than --atol.

Without --dataroot the data is a synthetic gtFine-like set written to a temporary folder: frames at
--height x --width and one frame of a size that is not a multiple of 32, which both sides resize with NEAREST.
"""
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np
import torch

from common import cli, images, upstream
from common.errors import CheckFailed
import pix2pixhd_data as data
import pix2pixhd_model as p2p
from pix2pixhd_facts import FACTS
from pix2pixhd_synthetic import write_cityscapes

# pix2pixhd.patch makes upstream's test path run on the CPU (its loader needs CUDA otherwise) and adds
# TestOptions --load_pretrain.
UPSTREAM = upstream.Checkout.of(FACTS.upstream, patched="options/test_options.py", marker="load_pretrain",
                                files=(FACTS.upstream.generator,))


def upstream_outputs(root, dataroot, checkpoints_dir):
    """[(label path, input_concat, fake_image, tensor2im picture)] from upstream's own test path at `root`."""
    names = ["data.data_loader", "models.models", "options.test_options", "util.util"]
    with upstream.imported_from(root, names) as (data_loader, models, test_options, util):
        from torch.autograd import Variable

        argv = ["test.py", "--name", "label2city_1024p", "--netG", "local", "--ngf", "32", "--resize_or_crop",
                "none", "--dataroot", str(dataroot), "--checkpoints_dir", str(checkpoints_dir),
                "--load_pretrain", str(Path(checkpoints_dir) / "label2city_1024p"), "--how_many", "1000000"]
        saved_argv, sys.argv = sys.argv, argv
        try:
            opt = test_options.TestOptions().parse(save=False)
        finally:
            sys.argv = saved_argv
        opt.nThreads, opt.batchSize, opt.serial_batches, opt.no_flip = 0, 1, True, True  # as test.py (in-process)
        model = models.create_model(opt)
        results = []
        with torch.no_grad():
            for item in data_loader.CreateDataLoader(opt).load_data():
                label, inst = Variable(item["label"]), Variable(item["inst"])
                input_concat = model.encode_input(label, inst, None, infer=True)[0]
                fake = model.inference(item["label"], item["inst"], item["image"])
                results.append((Path(item["path"][0]), input_concat.numpy(), fake.numpy(),
                                util.tensor2im(fake.data[0])))
    return results


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    UPSTREAM.add_option(p)
    p.add_argument("--dataroot", type=cli.reads, default=None,
                   help="folder with test_label/ and test_inst/ (e.g. the checkout's datasets/cityscapes, 15 "
                        "frames of 1024x2048: about a minute each); default: synthetic frames")
    p.add_argument("--height", type=cli.positive_int, default=64, help="height of the synthetic frames")
    p.add_argument("--width", type=cli.positive_int, default=128, help="width of the synthetic frames")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the random checkpoint and the synthetic frames")
    p.add_argument("--atol", type=cli.tolerance, default=1e-4, help="largest accepted |ours - upstream| of an output")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    root = UPSTREAM.root(args.upstream)  # refused before anything is written
    work = Path(tempfile.mkdtemp(prefix="pix2pixhd_compare_"))
    try:
        ckpt_dir = work / "checkpoints" / "label2city_1024p"
        p2p.random_checkpoint(ckpt_dir / "latest_net_G.pth", seed=args.seed)
        dataroot = Path(args.dataroot) if args.dataroot else work / "cityscapes"
        if args.dataroot is None:
            gtfine = work / "gtfine"
            frames = write_cityscapes(gtfine, cities=("frankfurt",), height=args.height, width=args.width,
                                      seed=args.seed)
            # 1.25x the size: upstream rounds each side to a multiple of 32 (half to even) and resizes.
            frames += write_cityscapes(gtfine, cities=("lindau",), per_city=1, height=args.height * 5 // 4,
                                       width=args.width * 5 // 4 + 8, seed=args.seed + 1)
            for folder in (dataroot / data.LABEL_DIR, dataroot / data.INST_DIR):
                folder.mkdir(parents=True)
            for label in frames:
                shutil.copyfile(label, dataroot / data.LABEL_DIR / label.name)
                inst = label.with_name(data.inst_partner(label.name))
                shutil.copyfile(inst, dataroot / data.INST_DIR / inst.name)
        theirs = upstream_outputs(root, dataroot, work / "checkpoints")
        full = p2p.load_generator(ckpt_dir)
        compact = p2p.CompactInputGenerator(full).eval()
        ours = {label.name: (label, inst) for label, inst in data.paired_maps(dataroot)}
        diffs, different_inputs = {}, []
        with torch.no_grad():
            for label_path, their_input, their_fake, their_picture in theirs:
                label_ids, inst_ids = data.read_maps(*ours[label_path.name])
                edges = data.edge_map(inst_ids)
                our_input = data.input_concat(label_ids, edges)[None]
                same_input = our_input.shape == their_input.shape and np.array_equal(our_input, their_input)
                fake_full = full(torch.from_numpy(our_input)).numpy()
                fake_compact = compact(torch.from_numpy(label_ids[None, None]),
                                       torch.from_numpy(edges[None, None])).numpy()
                diff_full = float(np.abs(fake_full - their_fake).max())
                diff_compact = float(np.abs(fake_compact - their_fake).max())
                pixels = int(np.count_nonzero(images.to_uint8(fake_full[0]) != their_picture))
                print(f"{label_path.name} {their_input.shape[2]}x{their_input.shape[3]}: input "
                      f"{'identical' if same_input else 'DIFFERENT'}, max |ours - upstream| {diff_full:.3g} "
                      f"(compact {diff_compact:.3g}), uint8 values differing {pixels} of {their_fake[0].size}")
                diffs[label_path.name] = max(diff_full, diff_compact)
                if not same_input:
                    different_inputs.append(label_path.name)
        if len(theirs) != len(ours):
            raise CheckFailed(f"upstream read {len(theirs)} frames from {dataroot}, ours {len(ours)}")
        if different_inputs:
            raise CheckFailed(f"{len(different_inputs)} of {len(theirs)} frames get a different input from "
                              f"upstream's: {', '.join(different_inputs)}")
        upstream.verdict(diffs, args.atol, f"all {len(theirs)} frames agree with upstream {args.upstream} "
                                           f"(atol {args.atol:g})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
