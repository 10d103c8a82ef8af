"""DCGAN's facts, stated once (types in common/facts.py; no torch here)."""
from common.facts import Graph, ModelFacts, Upstream, batched

LATENT_DIM = 100
NOISE_SHAPE = (LATENT_DIM, 1, 1)  # one sample as the Ascend scripts store it
IMAGE_SHAPE = (1, 32, 32)

# The faster exact engine per CPU feature set (common/facts.py), written by
# `python3 benchmarks/run_all.py --write-backend-table`: the runner's default backend.
BACKENDS = (('avx2', 'onnxruntime'),)

FACTS = ModelFacts(
    name="DCGAN",
    upstream=Upstream("https://github.com/eriklindernoren/PyTorch-GAN", "36d3c77e5ff20ebe0aeefd322326a134a279b93e",
                      generator="implementations/dcgan/dcgan.py", patch="dcgan.patch"),
    checkpoints=("checkpoint-amp-epoch_200.pth",),
    # Ascend's training main.py saves {'epoch', 'arch', 'G', 'D', 'optimizer_G', 'optimizer_D', 'amp'}.
    container_keys=("G",),
    graphs=(Graph("dcgan.onnx", inputs=(batched("noise", *NOISE_SHAPE),), outputs=(batched("image", *IMAGE_SHAPE),)),),
    metric="cosine vs PyTorch (dcgan_acc_eval.py)",
    backends=BACKENDS,
)
