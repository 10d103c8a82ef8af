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

# Where the README's steps find their inputs (common/origins.py: missing-input errors, stand-in records): the
# official files a person downloads (README 5.1; python3 ../common/make_standin.py writes stand-ins there), and
# for each other input (a path in this folder, a glob) the command that makes it and its README section.
DOWNLOADS = ("generator_8p_0.0008_128.pth",)
MADE_BY = (("vectors", "GAN_preprocess.py", "5.2"),
           ("images", "GAN_preprocess.py", "5.2"),
           ("GAN.onnx", "GAN_pth2onnx.py", "5.3"),
           ("GAN_sim_bs*.onnx", "../common/simplify.py", "5.3"),
           ("result*", "../common/infer.py", "5.4"),
           ("pth_result", "GAN_pth_result.py", "6"))
