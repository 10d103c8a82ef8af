"""The original name of GAN_postprocess.py (same options): offline outputs to images.

    python3 GAN_txt2jpg.py --txt_path=out --infer_results_path=genimg

--txt_path takes the original's msame output folder (out/<timestamp>/<i>_output_0.txt or .bin) as well as
ais_bench's and common/infer.py's (TXT, BIN or NPY).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import cli
from GAN_postprocess import main

if __name__ == "__main__":
    sys.exit(cli.run(main))
