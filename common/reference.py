"""PyTorch reference outputs for the same input files the offline run reads, named as the runner names them.

Each model's `*_pth_result.py` is a thin script around write_reference_outputs: the generator runs in eval
mode without autograd, one input file (one sample or one batch) at a time, so even a full-resolution
Pix2pixHD image fits in memory, and output k of `<stem>.bin` is written as `<stem>_<k>.bin`, exactly where
the offline run writes its own, so the accuracy step pairs the two folders by name.
"""
import numpy as np
import torch
from tqdm import tqdm

from common import binio
from common.cli import UserError


def write_reference_outputs(model, input_dirs, output_dir, sample_shapes, dtypes=None, convert=None):
    """Run `model` over the paired files of `input_dirs` and write its outputs to `output_dir`.

    sample_shapes: per input, the shape of one sample; a file may hold one or several samples.
    dtypes: per input, the file's dtype (float32 by default).
    convert: optional callable turning the list of numpy inputs into the model's arguments (tensors).
    Returns the number of files written. The folder is written under a temporary name and renamed when done.
    """
    input_dirs = list(input_dirs)
    dtypes = list(dtypes or [np.float32] * len(input_dirs))
    lists = binio.pair_by_position(input_dirs)
    model.eval()
    written = 0
    with binio.AtomicDir(output_dir) as tmp, torch.no_grad():
        for files in tqdm(list(zip(*lists)), desc="PyTorch reference", unit="file"):
            arrays = [binio.read_array(path, dtype, (-1, *shape))
                      for path, dtype, shape in zip(files, dtypes, sample_shapes)]
            counts = {a.shape[0] for a in arrays}
            if len(counts) != 1:
                raise UserError(f"{files[0]}: its sample count differs from that of {files[1:]}")
            args = convert(arrays) if convert else [torch.from_numpy(a) for a in arrays]
            outputs = model(*args)
            if isinstance(outputs, torch.Tensor):
                outputs = [outputs]
            for k, output in enumerate(outputs):
                binio.write_array(tmp / binio.output_name(files[0], k), output.numpy(), atomic=False)
                written += 1
    return written
