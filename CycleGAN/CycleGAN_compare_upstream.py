"""Check our generator against upstream's patched code: same checkpoint and input, same output.

Imports models/networks.py and models/base_model.py from a checkout of junyanz/pytorch-CycleGAN-and-pix2pix
(commit 9bcef69 with CycleGAN.patch applied), builds upstream's generator as its test.py does
(define_G(3, 3, 64, 'resnet_9blocks', 'instance', use_dropout=False)), loads each checkpoint with upstream's
own BaseModel.load_networks (which drops legacy InstanceNorm keys), and compares its output with ours on a
seeded input. Without --checkpoint it writes two seeded random checkpoints: a plain one and one in the legacy
layout. Then it exports upstream's generator to ONNX (opset 11, as the patch intends): the graph must hold no
reflect-mode Pad, and ONNX Runtime's output must match our PyTorch output.

    git clone https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix ../pytorch-CycleGAN-and-pix2pix
    git -C ../pytorch-CycleGAN-and-pix2pix checkout 9bcef69d5b39385d18afad3d5a839a02ae0b43e7
    git -C ../pytorch-CycleGAN-and-pix2pix apply ../CycleGAN/CycleGAN.patch
    python3 CycleGAN_compare_upstream.py --upstream ../pytorch-CycleGAN-and-pix2pix
"""
import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import torch

from common import checkpoint, cli, graph_edits, onnx_utils, upstream
from common.errors import CheckFailed
from cyclegan_facts import FACTS
from cyclegan_model import ResnetGenerator, load_generator, random_checkpoint


# CycleGAN.patch gives networks.py a ReflectionPad2d that exports as Slice + Concat.
UPSTREAM = upstream.Checkout.of(FACTS.upstream, marker="class ReflectionPad2d(nn.ReflectionPad2d)",
                                files=("models/base_model.py",))


def load_upstream(networks, base_model, pth):
    """Upstream's generator with `pth` loaded by upstream's BaseModel.load_networks, in eval mode."""
    quiet = contextlib.redirect_stdout(io.StringIO())  # upstream prints its init and loading steps
    with quiet, tempfile.TemporaryDirectory() as tmp:
        net = networks.define_G(3, 3, 64, "resnet_9blocks", "instance", False, "normal", 0.02, [])
        # load_networks reads <save_dir>/<epoch>_net_<name>.pth into self.net<name>; BaseModel itself cannot be
        # built without upstream's options, so it runs on a stand-in holding what it reads (and its private
        # __patch_instance_norm_state_dict, which drops the legacy InstanceNorm keys)
        os.symlink(Path(pth).resolve(), Path(tmp) / "latest_net_G.pth")
        upstream.call_on_stand_in(base_model.BaseModel, "load_networks",
                                  dict(model_names=["G"], save_dir=tmp, device=torch.device("cpu"), netG=net),
                                  "latest")
    return net.eval()


def compare_torch(ours, theirs, x):
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    return float((a.double() - b.double()).abs().max()), a


def check_export(theirs, ours_output, x, folder, atol):
    """Export upstream's generator; no reflect Pad allowed; ONNX Runtime vs our PyTorch output."""
    path = Path(folder) / "upstream_G.onnx"
    photo, maps = FACTS.graphs[0].input.name, FACTS.graphs[0].output.name  # G_A's
    onnx_utils.export(theirs, (x[:1],), path, [photo], [maps])
    model = onnx_utils.load(path)
    reflect = graph_edits.reflect_pads(model)
    if reflect:
        raise CheckFailed(f"upstream's export still holds {len(reflect)} reflect-mode Pad node(s): apply "
                          f"CycleGAN.patch to the checkout (git apply CycleGAN.patch)")
    onnx_out = onnx_utils.run(path, {photo: x.numpy()})
    diff = onnx_utils.compare_outputs([ours_output.numpy()], onnx_out, [maps], "upstream ONNX vs our PyTorch",
                                      atol)
    ops = onnx_utils.count_ops(model)
    return diff[maps], ops


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    UPSTREAM.add_option(p)
    p.add_argument("--checkpoint", nargs="*", type=cli.reads, default=[],
                   help="checkpoints to compare on (default: two seeded random ones, plain and legacy layout)")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the random checkpoints and the input")
    p.add_argument("--batch", type=cli.positive_int, default=2, help="images in the seeded input")
    p.add_argument("--atol", type=cli.tolerance, default=1e-5, help="largest accepted |ours - upstream| in PyTorch")
    p.add_argument("--onnx-atol", type=cli.tolerance, default=1e-4,
                   help="largest accepted |upstream ONNX Runtime - our PyTorch|")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    generator = torch.Generator().manual_seed(args.seed)
    x = torch.rand((args.batch, 3, 256, 256), generator=generator) * 2 - 1
    legacy_keys = checkpoint.instance_norm_legacy_keys(ResnetGenerator())
    with UPSTREAM.modules(args.upstream, ["models.networks", "models.base_model"]) as (networks, base_model), \
            tempfile.TemporaryDirectory() as tmp:
        if args.checkpoint:
            paths = [(Path(p), str(p)) for p in args.checkpoint]
        else:
            paths = [(random_checkpoint(Path(tmp) / "plain.pth", args.seed), f"random seed {args.seed}, plain"),
                     (random_checkpoint(Path(tmp) / "legacy.pth", args.seed + 1, legacy=True),
                      f"random seed {args.seed + 1}, {len(legacy_keys)} legacy InstanceNorm keys")]
        diffs, first = {}, None
        for path, label in paths:
            ours = load_generator(path)
            theirs = load_upstream(networks, base_model, path)
            diffs[label], output = compare_torch(ours, theirs, x)
            first = first or (theirs, output)
            print(f"checkpoint {label}: max |ours - upstream| = {diffs[label]:.3g} on a seeded {tuple(x.shape)} input")
        worst = upstream.verdict(diffs, args.atol)  # its PASS line comes after the export check
        onnx_diff, ops = check_export(*first, x, tmp, args.onnx_atol)
    print(f"upstream ONNX export (opset 11): no reflect Pad; Pad {ops['Pad']}, Slice {ops['Slice']}, "
          f"Concat {ops['Concat']}; ONNX Runtime vs our PyTorch max abs diff {onnx_diff:.2g}")
    print(f"PASS: upstream at {Path(args.upstream).resolve()} computes what our generator computes "
          f"(max abs {worst:.3g} <= {args.atol:g})")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
