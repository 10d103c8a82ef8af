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

# Where the README's steps find their inputs (common/origins.py: missing-input errors, stand-in records): the
# official files a person downloads (README 5.1; python3 ../common/make_standin.py writes stand-ins there), and
# for each other input (a path in this folder, a glob) the command that makes it and its README section.
DOWNLOADS = ("checkpoint-amp-epoch_200.pth",)
MADE_BY = (("prep_dataset", "dcgan_preprocess.py", "5.2"),
           ("dcgan.onnx", "dcgan_pth2onnx.py", "5.3"),
           ("dcgan_sim_bs*.onnx", "../common/simplify.py", "5.3"),
           ("result*", "../common/infer.py", "5.4"),
           ("pth_result", "dcgan_pth_result.py", "6"))
