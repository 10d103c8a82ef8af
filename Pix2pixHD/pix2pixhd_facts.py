"""Pix2pixHD's (label2city 1024p) facts, stated once (types in common/facts.py; no torch here)."""
from common.facts import Graph, ModelFacts, Upstream, batched

LABEL_NC = 35            # Cityscapes label ids 0..33 plus one unused id, as upstream's --label_nc
INPUT_NC = LABEL_NC + 1  # one-hot labels + the instance-edge channel
OUTPUT_NC = 3
SIZE_MULTIPLE = 32       # 2**n_downsample_global * 2**n_local_enhancers: H and W must be multiples of it
HEIGHT, WIDTH = 1024, 2048  # the README's size (--height/--width of the export)
CHECKPOINT_NAME = "{epoch}_net_G.pth"  # upstream save_network's name, e.g. latest_net_G.pth

FULL = Graph("pix2pixhd.onnx", inputs=(batched("input_concat", INPUT_NC, HEIGHT, WIDTH),),
             outputs=(batched("fake_image", OUTPUT_NC, HEIGHT, WIDTH),))
# --compact: label ids and the instance-edge map as uint8, the one-hot map built inside the graph
COMPACT = Graph("pix2pixhd_compact.onnx",
                inputs=(batched("label_map", 1, HEIGHT, WIDTH, dtype="uint8"),
                        batched("edge_map", 1, HEIGHT, WIDTH, dtype="uint8")),
                outputs=FULL.outputs)

# On OpenVINO the compact graph's outputs differ from the 36-channel graph's by up to 7.7e-5
# (tests/test_pix2pixhd.py holds them within 1e-5; bit-identical on ONNX Runtime), so the two inputs would no
# longer give the same images: ONNX Runtime is the only exact engine here, though OpenVINO measured faster
# (benchmarks/RESULTS.md).
EXACT_BACKENDS = ("onnxruntime",)
# The faster exact engine per CPU feature set (common/facts.py), written by
# `python3 benchmarks/run_all.py --write-backend-table`: the runner's default backend.
BACKENDS = (('avx2', 'onnxruntime'),)

FACTS = ModelFacts(
    name="Pix2pixHD",
    upstream=Upstream("https://github.com/NVIDIA/pix2pixHD", "5a2c87201c5957e2bf51d79b8acddb9cc1920b26",
                      generator="models/networks.py", patch="pix2pixhd.patch"),
    checkpoints=(CHECKPOINT_NAME.format(epoch="latest"),),
    container_keys=(),  # a plain state_dict, as upstream's save_network writes it
    graphs=(FULL, COMPACT),
    metric="cosine vs PyTorch (pix2pixhd_eval_acc.py)",
    backends=BACKENDS,
    exact_backends=EXACT_BACKENDS,
)

# Where the README's steps find their inputs (common/origins.py: missing-input errors, stand-in records): the
# official files a person downloads (README 5.1; python3 ../common/make_standin.py writes stand-ins there), and
# for each other input (a path in this folder, a glob) the command that makes it and its README section.
DOWNLOADS = ("pix2pixHD/checkpoints/label2city_1024p/latest_net_G.pth",)
MADE_BY = (("datasets/gtFine*", "the Cityscapes download", "5.2"),
           ("pix2pixHD/datasets/cityscapes*", "datasets_deal.py", "5.2"),
           ("prep_datasets", "pix2pixhd_preprocess.py", "5.2"),
           ("pix2pixhd.onnx", "pix2pixhd_pth2onnx.py", "5.3"),
           ("result*", "../common/infer.py", "5.4"))
