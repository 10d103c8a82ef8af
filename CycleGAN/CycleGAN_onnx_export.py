"""CycleGAN_onnx_export.py: the first-generation name of CycleGAN_pth2onnx.py (same options, same files).

    python3 CycleGAN_onnx_export.py --model_ga_path=./checkpoints/maps_cycle_gan/latest_net_G_A.pth \\
        --model_gb_path=./checkpoints/maps_cycle_gan/latest_net_G_B.pth --onnx_path=./onnxmodel/ \\
        --model_ga_onnx_name=model_Ga.onnx --model_gb_onnx_name=model_Gb.onnx
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from CycleGAN_pth2onnx import main  # noqa: E402  (beside this file, first on sys.path when run)
from common import cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(cli.run(main))
