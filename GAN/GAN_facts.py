"""GAN's facts, stated once (types in common/facts.py; no torch here)."""
from common.facts import Graph, ModelFacts, Upstream, batched

LATENT_DIM = 100
IMAGE_SHAPE = (1, 28, 28)

# The faster exact engine per CPU feature set (common/facts.py), written by
# `python3 benchmarks/run_all.py --write-backend-table`: the runner's default backend.
BACKENDS = (('avx2', 'onnxruntime'),)

FACTS = ModelFacts(
    name="GAN",
    upstream=Upstream("https://github.com/eriklindernoren/PyTorch-GAN", "36d3c77e5ff20ebe0aeefd322326a134a279b93e",
                      generator="implementations/gan/gan.py", patch="GAN.patch"),
    checkpoints=("generator_8p_0.0008_128.pth",),
    container_keys=(),  # a plain state_dict (with the module. prefixes of 8p DDP training)
    graphs=(Graph("GAN.onnx", inputs=(batched("Z", LATENT_DIM),), outputs=(batched("generateimg", *IMAGE_SHAPE),)),),
    metric="cosine vs PyTorch (GAN_eval_acc.py)",
    backends=BACKENDS,
)
