"""Compare this folder's generator with upstream BigGAN-PyTorch (patched with biggan.patch) on one checkpoint.

    python3 biggan_compare_upstream.py --upstream ./BigGAN-PyTorch                   # seeded random full-size weights
    python3 biggan_compare_upstream.py --upstream ./BigGAN-PyTorch --pth ./G_ema.pth

Imports BigGAN.py from --upstream (a checkout of 98459431 with biggan.patch applied), loads the same
checkpoint file into upstream's Generator (torch.load + strict load_state_dict, eval mode) and into
biggan_model (folded and unfolded spectral norm), and runs all of them on the same seeded inputs built as
biggan_preprocess.py builds them. Prints max |difference| of each against upstream's own forward(z, shared(y)),
next to the float32 rounding level (upstream in float32 vs float64); fails above --atol.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import torch

import biggan_model
from biggan_facts import FACTS
from common import cli, upstream

# biggan.patch adds forward_export (the export layout); upstream's forward(z, shared(y)) stays as it was.
UPSTREAM = upstream.Checkout.of(FACTS.upstream, marker="def forward_export(", files=("layers.py",))


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    UPSTREAM.add_option(p)
    p.add_argument("--pth", type=cli.reads, default=None, help="checkpoint to compare on (default: seeded random weights)")
    p.add_argument("--G-ch", "--g-ch", dest="g_ch", type=cli.positive_int, default=96, help="width of the random weights")
    p.add_argument("--batch", type=cli.positive_int, default=2, help="number of samples")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the random weights and of the inputs")
    p.add_argument("--atol", type=cli.tolerance, default=1e-5, help="largest accepted max |ours - upstream|")
    return p


def upstream_generator(module, path, config):
    """Upstream's Generator as the released model is configured, loaded the upstream way."""
    net = module.Generator(G_ch=config.ch, dim_z=config.dim_z, shared_dim=config.shared_dim, hier=True,
                           n_classes=config.n_classes, SN_eps=biggan_model.SN_EPS, skip_init=True, no_optim=True)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return net.eval()


def compare(module, pth, batch, seed):
    ours = biggan_model.load_generator(pth)
    ours_sn = biggan_model.load_generator(pth, fold_sn=False)
    config = ours.config
    net = upstream_generator(module, pth, config)
    z, y = biggan_model.sample_latents(batch, config, seed)
    z = torch.from_numpy(z)
    with torch.no_grad():
        embedded = net.shared(torch.from_numpy(y))
        noise, label = biggan_model.make_inputs(z, embedded, config)
        reference = net(z, embedded)
        results = {
            "upstream forward_export(noise, label)": net(noise, label),
            "ours, spectral norm folded": ours(noise, label),
            "ours, spectral norm in the graph": ours_sn(noise, label),
        }
        rounding = (net.double()(z.double(), embedded.double()) - reference.double()).abs().max().item()
    diffs = {name: (out - reference).abs().max().item() for name, out in results.items()}
    return config, diffs, rounding


def main(argv=None):
    args = build_parser().parse_args(argv)
    with UPSTREAM.modules(args.upstream, ["BigGAN"]) as (module,), tempfile.TemporaryDirectory() as tmp:
        pth = args.pth
        if pth is None:
            pth = os.path.join(tmp, "G_ema_random.pth")
            biggan_model.random_checkpoint(pth, args.g_ch, args.seed)
        config, diffs, rounding = compare(module, pth, args.batch, args.seed)
    what = args.pth or f"seeded random weights (seed {args.seed})"
    print(f"checkpoint: {what}, G_ch {config.ch}; {args.batch} seeded sample(s); "
          f"reference: upstream forward(z, shared(y)) in float32")
    for name, diff in diffs.items():
        print(f"  {name:<40} max |diff| {diff:.3g}")
    print(f"  {'float32 rounding (upstream fp64 vs fp32)':<40} max |diff| {rounding:.3g}")
    upstream.verdict(diffs, args.atol, f"PASS: every output within {args.atol:g} of upstream")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
