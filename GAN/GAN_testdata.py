"""The original name of GAN_preprocess.py (same options): input vectors <i>.bin and online pictures.

    python3 GAN_testdata.py --online_path=images --offline_path=vectors \
        --pth_path=generator_8p_0.0008_128.pth --iters 100 --batch_size 64
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli
from GAN_preprocess import main

if __name__ == "__main__":
    sys.exit(cli.run(main))
