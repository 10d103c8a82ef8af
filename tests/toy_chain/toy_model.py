"""A tiny generator used to test the driver and common/: z (8) -> tanh(linear) viewed as a 1x4x4 image."""
import torch

from common import checkpoint
from toy_facts import FACTS, IMAGE_SHAPE, LATENT_DIM


class ToyGenerator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(LATENT_DIM, 16)
        self.bn = torch.nn.BatchNorm1d(16)

    def forward(self, z):
        return torch.tanh(self.bn(self.l1(z.view(z.size(0), -1)))).view(-1, *IMAGE_SHAPE)


def load_generator(path):
    model = ToyGenerator()
    checkpoint.load_into(model, path, container_keys=FACTS.container_keys)
    return model.eval()


def random_checkpoint(path, seed=0):
    """Seeded random weights in a DCGAN-like container {'G': state_dict}, with non-default BN stats. Returns
    `path`."""
    torch.manual_seed(seed)
    model = ToyGenerator()
    model.bn.running_mean.uniform_(-0.5, 0.5)
    model.bn.running_var.uniform_(0.5, 2.0)
    torch.save({"epoch": 1, "G": {"module." + k: v for k, v in model.state_dict().items()}}, path)
    return path
