"""Stand-in weights learned from real digits: upstream's GAN training loop on scikit-learn's scans, cached.

No official checkpoint can be downloaded here, and seeded random weights draw noise. The two MNIST-sized
generators (DCGAN 32x32, GAN 28x28, both from PyTorch-GAN) learn the training half of the digit scans
(common/digits.py) on a CPU in a minute or two. `train` is PyTorch-GAN's loop at the pinned commit (dcgan.py
and gan.py share it): per batch of real images, one generator step (BCE of D(G(z)) against "real"), then one
discriminator step (the mean of BCE on the real batch and on the detached fakes), both with Adam (lr 2e-4,
betas (0.5, 0.999)), z ~ N(0, 1), batches of 64 drawn in a fresh shuffled order every epoch. What differs:
the data (the scans, not MNIST), the number of epochs (the Recipe's, chosen for the time), seeding, and how it
runs: one torch thread (on the shared 2-core machine two were 2x to 13x slower per step) and channels_last
convolutions (the same arithmetic, 20-30% less CPU time per DCGAN step).

`cached_checkpoint` keeps the result in the cache folder (common.digits.cache_dir: $GANZOO_CACHE, else
$XDG_CACHE_HOME/ganzoo or ~/.cache/ganzoo), under a name holding the digest of the Recipe, so a later run with
the same settings reads it instead of training.
"""
import dataclasses
import shutil
import time
from typing import Tuple

import torch
from torch import nn
from tqdm import tqdm

from common import cli, digits, staging
from common.errors import UserError

VERSION = 2  # bump when the loop changes what a Recipe trains: older cache files are then not found


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything a trained stand-in depends on (the cache key)."""
    model: str
    size: int
    epochs: int
    batch_size: int = 64
    lr: float = 2e-4
    betas: Tuple[float, float] = (0.5, 0.999)
    latent_dim: int = 100
    seed: int = 0

    def but(self, **changes):
        return dataclasses.replace(self, **changes)

    def steps(self):
        count = len(digits.scans(self.size)[0])
        return self.epochs * -(-count // self.batch_size)

    def file_name(self):
        return f"{self.model}-standin-{digits.cache_key({**dataclasses.asdict(self), 'version': VERSION})}.pth"


def train(recipe, generator, discriminator, progress=True):
    """Train `generator` against `discriminator` (which ends in a Sigmoid) on the training half of the scans at
    recipe.size, in place, on one torch thread. Returns {'epochs', 'steps', 'seconds', 'cpu_seconds', 'd_loss',
    'g_loss'} (wall and CPU time, the last step's losses)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see the module docstring
    try:
        return _train(recipe, generator, discriminator, progress)
    finally:
        torch.set_num_threads(threads)


def _train(recipe, generator, discriminator, progress):
    torch.manual_seed(recipe.seed)
    real_all = torch.from_numpy(digits.scans(recipe.size)[0])
    # channels_last: oneDNN's CPU convolutions need no layout reorders (the GAN's MLP is unaffected)
    generator.to(memory_format=torch.channels_last)
    discriminator.to(memory_format=torch.channels_last)
    order = torch.Generator().manual_seed(recipe.seed)
    bce = nn.BCELoss()
    opt_g = torch.optim.Adam(generator.parameters(), lr=recipe.lr, betas=recipe.betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=recipe.lr, betas=recipe.betas)
    generator.train()
    discriminator.train()
    start, cpu, steps, d_loss, g_loss = time.perf_counter(), time.process_time(), 0, float("nan"), float("nan")
    bar = tqdm(total=recipe.steps(), desc=f"training the {recipe.model} stand-in", unit="step", disable=not progress)
    for _ in range(recipe.epochs):
        for batch in torch.randperm(len(real_all), generator=order).split(recipe.batch_size):
            if len(batch) < 2:
                continue  # BatchNorm's training statistics need two samples
            real = real_all[batch]
            ones, zeros = torch.ones(len(batch), 1), torch.zeros(len(batch), 1)

            opt_g.zero_grad()
            fake = generator(torch.randn(len(batch), recipe.latent_dim))
            loss_g = bce(discriminator(fake), ones)
            loss_g.backward()
            opt_g.step()

            opt_d.zero_grad()
            loss_d = (bce(discriminator(real), ones) + bce(discriminator(fake.detach()), zeros)) / 2
            loss_d.backward()
            opt_d.step()

            steps += 1
            d_loss, g_loss = loss_d.item(), loss_g.item()
            bar.set_postfix(d_loss=f"{d_loss:.3f}", g_loss=f"{g_loss:.3f}", refresh=False)
            bar.update()
    bar.close()
    generator.to(memory_format=torch.contiguous_format)  # the checkpoint's tensors as an untrained model's
    discriminator.to(memory_format=torch.contiguous_format)
    generator.eval()
    discriminator.eval()
    return {"epochs": recipe.epochs, "steps": steps, "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu, "d_loss": d_loss, "g_loss": g_loss}


def cached_checkpoint(recipe, build, save, progress=True):
    """(path, trained): the cached checkpoint of `recipe`, trained first when the cache lacks it.

    build() -> (generator, discriminator), fresh modules (torch's RNG is seeded with recipe.seed first);
    save(generator, discriminator, path, stats) writes the model's official container to `path`.
    """
    if recipe.epochs < 1:
        raise UserError(f"the {recipe.model} stand-in: {recipe.epochs} epochs; expected at least 1")

    def make(path):
        torch.manual_seed(recipe.seed)
        generator, discriminator = build()
        stats = train(recipe, generator, discriminator, progress)
        save(generator, discriminator, path, stats)
        if progress:
            print(f"trained the {recipe.model} stand-in: {stats['steps']} steps in {stats['seconds']:.1f} s "
                  f"({stats['cpu_seconds']:.1f} s of CPU time) "
                  f"(last D loss {stats['d_loss']:.3f}, G loss {stats['g_loss']:.3f})")

    return digits.cached_file(recipe.file_name(), make)


def write_checkpoint(output, recipe, build, save):
    """The trainer scripts' step: the cached checkpoint of `recipe` (trained first when missing) copied to
    `output`, atomically."""
    with staging.OutputSet() as outputs:
        temporary = outputs.file(output)  # a folder, or a path under a file, is refused before any training
        path, trained = cached_checkpoint(recipe, build, save)
        shutil.copyfile(path, temporary)
    print(f"{output}: {recipe.model} stand-in, {recipe.epochs} epochs on the digit scans, seed {recipe.seed} "
          f"({'trained now' if trained else 'from the cache'}: {path})")
    return path


def trainer_parser(recipe, description, default_output):
    """The command line of a folder's trainer script (dcgan_train_standin.py, GAN_train_standin.py)."""
    p = cli.parser(description)
    p.add_argument("output", nargs="?", type=cli.writes, default=default_output, help="checkpoint file to write")
    p.add_argument("--epochs", type=cli.positive_int, default=recipe.epochs,
                   help=f"passes over the {recipe.size}x{recipe.size} training scans (upstream: 200 over MNIST)")
    p.add_argument("--seed", type=cli.seed, default=0, help="seed of the initial weights, the order and the noise")
    return p


def run_trainer(parser, argv, recipe, build, save):
    """A trainer script's main: the checkpoint of `recipe` with the given epochs and seed, written as asked."""
    args = parser.parse_args(argv)
    write_checkpoint(args.output, recipe.but(epochs=args.epochs, seed=args.seed), build, save)
    return 0
