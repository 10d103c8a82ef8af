"""The original name of GAN_postprocess.py (same options): offline outputs to images.

    python3 GAN_txt2jpg.py --txt_path=./result/bs64 --infer_results_path=genimg
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # common/ beside this folder

from common import cli
from GAN_postprocess import main

if __name__ == "__main__":
    sys.exit(cli.run(main))
