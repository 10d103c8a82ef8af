"""Write stand-in weights where a model folder's README expects the official ones, to walk it without downloads.

    cd DCGAN && python3 ../common/make_standin.py                  # DCGAN, GAN: trained on digit scans
    cd BigGAN && python3 ../common/make_standin.py                 # others: seeded random weights
    python3 ../common/make_standin.py --standin random             # no training, seconds
    cd Pix2pixHD && python3 ../common/make_standin.py --width 32   # the released file's width (731 MB)

It writes what the driver puts in its work folder when no --checkpoint is given (the chain's prepare() with
driver.stand_in's weights): the checkpoint in the official container, and for BigGAN the Inception weights and
reference moments the IS/FID step reads. A random BigGAN, Pix2pixHD or CycleGAN generator is as narrow as the
driver's (the chain's standin_width; every script reads the width from the checkpoint's tensors), so the README's
commands run in seconds; --width gives another, the released one included. All appear together or none does. A
file already there is replaced only if this command wrote it and nobody changed it since (the run record beside it
says so); anything else, such as the official weights, stays and the command refuses.
"""
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli, driver, origins, records, staging  # noqa: E402
from common.errors import UserError  # noqa: E402

STEP = "make_standin.py"  # the step its run records name: how a later run knows a stand-in as its own


def check_replaceable(path):
    """Refuse a file at `path` that is not a stand-in this command wrote, unchanged since."""
    if os.path.lexists(path) and not records.written_by(path, STEP):
        raise UserError(f"{path}: already there and not a stand-in written by make_standin.py, so it stays (the "
                        f"README's commands read it as the weights); move it away to write a stand-in")


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0], prog="make_standin.py")
    p.add_argument("folder", nargs="?", type=cli.writes_into, default=".",
                   help="the model folder (one holding chain.py); the README runs this from it")
    p.add_argument("--standin", choices=("trained", "random"), default=None,
                   help="'trained' (learned from real digit scans, cached; DCGAN and GAN) or 'random' (seeded "
                        "random weights); by default trained where the model has it, random elsewhere")
    p.add_argument("--epochs", type=cli.positive_int, default=None,
                   help="a trained stand-in's passes over the digit scans (default: the driver's; fewer train faster "
                        "and draw worse digits)")
    p.add_argument("--width", type=cli.positive_int, default=None,
                   help="a random stand-in's width: BigGAN's G_ch, Pix2pixHD's and CycleGAN's ngf (the released "
                        "files have 96, 32 and 64); default: the driver's narrow one (8, 4 and 8)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    folder = Path(args.folder).resolve()
    if not (folder / "chain.py").is_file():
        raise UserError(f"{args.folder}: not a model folder (no chain.py); run this from one, e.g. "
                        f"cd DCGAN && python3 ../common/make_standin.py")
    chain = driver.load_chain(folder)
    trained = hasattr(chain, "trained_standin") and args.standin != "random"
    if args.standin == "trained" and not trained:
        raise UserError(f"--standin trained: {folder.name} has no trained stand-in; use --standin random")
    if args.epochs is not None and not trained:
        raise UserError(f"--epochs: only for a trained stand-in, and {folder.name}'s is random here")
    params = dict(chain.DRIVER_PARAMS)
    if args.width is not None:
        if trained or "standin_width" not in params:
            raise UserError(f"--width: {folder.name}'s {'trained' if trained else 'random'} stand-in has the "
                            f"official width only (--width is for BigGAN, Pix2pixHD and CycleGAN)")
        params["standin_width"] = args.width
    check_replaceable(folder / chain.CHECKPOINT)  # before any training
    if args.epochs is not None:
        params["standin_epochs"] = args.epochs
    checkpoint, weights = driver.stand_in(chain, params, args.standin)
    with tempfile.TemporaryDirectory(prefix="ganzoo-standin-") as scratch:
        chain.prepare(scratch, params, checkpoint)
        origins.mark_folder(scratch, weights, facts_from=folder)  # what the steps' reports say first
        made = sorted(Path(scratch).iterdir())
        with staging.OutputSet(STEP) as outputs:
            for path in made:
                shutil.move(str(path), str(outputs.file(folder / path.name)))
            for path in made:  # again just before the renames: a file saved meanwhile stays
                check_replaceable(folder / path.name)
    shown = [path.name for path in made if not path.name.startswith(".")]
    what = ("TRAINED on real digit scans (scikit-learn's)" if weights == "trained stand-in"
            else "SEEDED RANDOM (pictures will be noise)")
    print("=" * 78)
    print(f"  STAND-IN WEIGHTS, not the official ones: {chain.CHECKPOINT} is {what}.")
    print("  Every file below is a stand-in; scores computed from them say nothing of the real model.")
    print("=" * 78)
    for name in shown:
        print(f"wrote {folder / name}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
