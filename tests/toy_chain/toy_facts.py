"""The toy chain's facts, stated once (types in common/facts.py; no torch here). A real folder also declares
its upstream (repository, pinned commit, generator file, patch); the toy has none."""
from common.facts import Graph, ModelFacts, batched

LATENT_DIM = 8
IMAGE_SHAPE = (1, 4, 4)

FACTS = ModelFacts(
    name="toy",
    upstream=None,
    checkpoints=("toy.pth",),
    container_keys=("G",),
    graphs=(Graph("toy.onnx", inputs=(batched("z", LATENT_DIM),), outputs=(batched("image", *IMAGE_SHAPE),)),),
    metric="cosine vs PyTorch (toy_acc.py)",
)
