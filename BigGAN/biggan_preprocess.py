"""Generate seeded BigGAN inputs: prep_noise/ and prep_label/ .bin files and the class labels in gen_y.npz.

    python3 biggan_preprocess.py --num-inputs 50000

z ~ N(0, 1) (optionally truncated) and uniform classes y are drawn with --seed; file i of prep_noise holds
z chunk 0 (batch, 1, 20) and file i of prep_label holds [shared(y) | z chunk k+1] for k = 0..4
(batch, 5, 148), float32, with shared = the checkpoint's class embedding. Same seed, same files, byte for
byte; the first k samples do not depend on --num-inputs. The three outputs are written under temporary names
and appear together once complete, or not at all.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

import numpy as np
from tqdm import tqdm

import biggan_model
from common import cli, fileio, npz, room, staging
from common.errors import UserError

FILES_PER_BLOCK = 4096  # inputs are built in blocks of this many files, then written one file at a time


def build_parser():
    p = cli.parser(__doc__.split("\n\n")[0])
    p.add_argument("--pth", type=cli.reads, default="./G_ema.pth", help="BigGAN generator checkpoint (its class embedding is used)")
    p.add_argument("--prep-noise", type=cli.writes, default="./prep_noise", help="folder for the noise .bin files")
    p.add_argument("--prep-label", type=cli.writes, default="./prep_label", help="folder for the label .bin files")
    p.add_argument("--gen-y", type=cli.writes, default="./gen_y.npz", help="npz file for the class labels (key 'y')")
    p.add_argument("--batch-size", type=cli.positive_int, default=1, help="samples per .bin file")
    p.add_argument("--num-inputs", type=cli.positive_int, default=50000, help="number of samples")
    p.add_argument("--seed", type=cli.seed, default=0, help="random seed")
    p.add_argument("--truncation", type=float, default=None,
                   help="draw z from the normal truncated at this threshold (truncation trick, e.g. 0.5); off by "
                        "default, as in the original")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.num_inputs % args.batch_size:
        raise UserError(f"--num-inputs {args.num_inputs} is not a multiple of --batch-size {args.batch_size}; "
                        f"every file holds one whole batch")
    state_dict = biggan_model.load_state_dict_file(args.pth)
    config = biggan_model.config_from_state_dict(state_dict, args.pth)
    shared = state_dict["shared.weight"].float().numpy()

    num_files = args.num_inputs // args.batch_size
    per_sample = 4 * (int(np.prod(config.noise_shape)) + int(np.prod(config.label_shape)))
    room.check_room(args.prep_noise, args.num_inputs * per_sample, f"--num-inputs {args.num_inputs}",
                     in_memory=args.num_inputs * 4 * config.dim_z)
    block = FILES_PER_BLOCK * args.batch_size
    # The three outputs are committed together, each with a record of this run, so that the runner and
    # biggan_eval_acc.py can refuse noise, labels and classes that come from different runs.
    with staging.OutputSet("biggan_preprocess.py") as outputs:
        noise_dir = outputs.folder(args.prep_noise, replaceable=(".bin",))
        label_dir = outputs.folder(args.prep_label, replaceable=(".bin",))
        gen_y_path = outputs.file(args.gen_y)
        z, y = biggan_model.sample_latents(args.num_inputs, config, args.seed, args.truncation)
        with tqdm(total=num_files, desc="Writing inputs", unit="file") as bar:
            for start in range(0, args.num_inputs, block):
                noise, label = biggan_model.make_inputs(z[start:start + block], shared[y[start:start + block]],
                                                        config)
                for j in range(0, noise.shape[0], args.batch_size):
                    name = f"input_{(start + j) // args.batch_size:05d}.bin"
                    fileio.write_array(noise_dir / name, noise[j:j + args.batch_size], atomic=False)
                    fileio.write_array(label_dir / name, label[j:j + args.batch_size], atomic=False)
                bar.update(noise.shape[0] // args.batch_size)
        npz.write_npz(gen_y_path, atomic=False, y=y)
    truncation = f", z truncated at {args.truncation:g}" if args.truncation is not None else ""
    print(f"{num_files} file(s) of {args.batch_size} sample(s) in {args.prep_noise} (noise {config.noise_shape}) "
          f"and {args.prep_label} (label {config.label_shape}); labels in {args.gen_y} "
          f"(an npz, key 'y'; the original README's 'gen_y.npy' is a typo for it); seed {args.seed}{truncation}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
