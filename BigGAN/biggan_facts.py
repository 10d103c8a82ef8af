"""BigGAN's facts, stated once (types in common/facts.py; no torch here)."""
from common.facts import Graph, ModelFacts, Upstream, batched

RESOLUTION = 128
# The export layout (biggan.patch): z (B, 120) in 6 chunks of 20; `noise` is chunk 0, `label` holds for each of
# the 5 blocks [shared(y) (128) | its z chunk (20)].
NOISE_SHAPE = (1, 20)
LABEL_SHAPE = (5, 148)
OUTPUT_SHAPE = (3, RESOLUTION, RESOLUTION)

# The faster exact engine per CPU feature set (common/facts.py), written by
# `python3 benchmarks/run_all.py --write-backend-table`: the runner's default backend.
BACKENDS = (('avx2', 'onnxruntime'),)

FACTS = ModelFacts(
    name="BigGAN",
    upstream=Upstream("https://github.com/ajbrock/BigGAN-PyTorch", "98459431a5d618d644d54cd1e9fceb1e5045648d",
                      generator="BigGAN.py", patch="biggan.patch"),
    checkpoints=("G_ema.pth",),
    container_keys=("state_dict",),
    graphs=(Graph("biggan.onnx", inputs=(batched("noise", *NOISE_SHAPE), batched("label", *LABEL_SHAPE)),
                  outputs=(batched("image", *OUTPUT_SHAPE),)),),
    metric="IS and FID (biggan_eval_acc.py; read against published figures), cosine vs PyTorch (biggan_cosine_acc.py)",
    backends=BACKENDS,
)

# Where the README's steps find their inputs (common/origins.py: missing-input errors, stand-in records): the
# official files a person downloads (README 5.1; python3 ../common/make_standin.py writes stand-ins there), and
# for each other input (a path in this folder, a glob) the command that makes it and its README section.
DOWNLOADS = ("G_ema.pth", "inception_v3_google.pth", "I128_inception_moments.npz")
MADE_BY = (("prep_noise", "biggan_preprocess.py", "5.2"),
           ("prep_label", "biggan_preprocess.py", "5.2"),
           ("gen_y.npz", "biggan_preprocess.py", "5.2"),
           ("biggan.onnx", "biggan_pth2onnx.py", "5.3"),
           ("new_biggan.onnx", "clip_edit.py", "5.3"),
           ("biggan_sim_bs*.onnx", "../common/simplify.py", "5.3"),
           ("result*", "../common/infer.py", "5.4"),
           ("gen_img_bs*.npz", "biggan_postprocess.py --save-npz", "5.5"),
           ("pth_result", "biggan_pth_result.py", "6"))
