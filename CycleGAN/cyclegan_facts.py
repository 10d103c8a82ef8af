"""CycleGAN's (maps) facts, stated once (types in common/facts.py; no torch here)."""
from collections import namedtuple

from common.facts import Graph, ModelFacts, Upstream, batched

SIZE = 256  # upstream's test-time load_size = crop_size
SAMPLE_SHAPE = (3, SIZE, SIZE)

# The names the Ascend ModelZoo export used: G_A turns an aerial photo into a map, G_B a map into a photo.
GRAPH_A = Graph("model_Ga.onnx", inputs=(batched("img_sat_maps", *SAMPLE_SHAPE),), outputs=(batched("maps", *SAMPLE_SHAPE),))
GRAPH_B = Graph("model_Gb.onnx", inputs=(batched("img_maps_sat", *SAMPLE_SHAPE),), outputs=(batched("sat", *SAMPLE_SHAPE),))

# The faster exact engine per CPU feature set (common/facts.py), written by
# `python3 benchmarks/run_all.py --write-backend-table`: the runner's default backend.
BACKENDS = (('avx2', 'onnxruntime'),)

FACTS = ModelFacts(
    name="CycleGAN",
    upstream=Upstream("https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix",
                      "9bcef69d5b39385d18afad3d5a839a02ae0b43e7", generator="models/networks.py", patch="CycleGAN.patch"),
    checkpoints=("latest_net_G_A.pth", "latest_net_G_B.pth"),
    container_keys=(),  # plain state_dicts, as upstream's save_networks writes them
    graphs=(GRAPH_A, GRAPH_B),
    metric="cosine vs PyTorch (CycleGAN_eval_acc.py)",
    backends=BACKENDS,
)

# net, ONNX input and output names, and the original's ONNX file name, by test split: testA holds aerial photos
# (G_A's input), testB maps (G_B's input).
Direction = namedtuple("Direction", "net input output onnx_file")
DIRECTIONS = {side: Direction(net, graph.input.name, graph.output.name, graph.onnx_file)
              for side, net, graph in (("A", "G_A", GRAPH_A), ("B", "G_B", GRAPH_B))}

# Where the README's steps find their inputs (common/origins.py: missing-input errors, stand-in records): the
# official files a person downloads (README 5.1; python3 ../common/make_standin.py writes stand-ins there), and
# for each other input (a path in this folder, a glob) the command that makes it and its README section.
DOWNLOADS = ("checkpoints/maps_cycle_gan/latest_net_G_A.pth", "checkpoints/maps_cycle_gan/latest_net_G_B.pth")
MADE_BY = (("datasets/maps*", "the maps dataset download", "5.2"),
           ("datasetsDst/maps*", "CycleGAN_preprocess.py", "5.2"),
           ("onnxmodel/model_G?.onnx", "CycleGAN_pth2onnx.py", "5.3"),
           ("onnxmodel/model_G?_bs*_exact.onnx", "CycleGAN_ReflectpadDeal.py", "5.3"),
           ("onnxmodel/model_G?_bs*.onnx", "../common/simplify.py", "5.3"),
           ("result*", "../common/infer.py", "5.4"),
           ("pth_result*", "CycleGAN_pth_result.py", "6"))
