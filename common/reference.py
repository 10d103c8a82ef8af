"""PyTorch reference outputs for the same input files the offline run reads, named as the runner names them.

Each model's `*_pth_result.py` is a thin script around write_reference_outputs: the generator runs in eval
mode without autograd, one input file (one sample or one batch) at a time, so even a full-resolution
Pix2pixHD image fits in memory, and output k of `<stem>.bin` is written as `<stem>_<k>.bin`, exactly where
the offline run writes its own, so the accuracy step pairs the two folders by name.
"""
import numpy as np
import torch
from tqdm import tqdm

from common import fileio, staging
from common.errors import UserError


def write_reference_outputs(model, input_dirs, output_dir, sample_shapes, dtypes=None, convert=None,
                            files_per_batch=1, limit=None):
    """Run `model` over the paired files of `input_dirs` and write its outputs to `output_dir`.

    sample_shapes: per input, the shape of one sample; a file may hold one or several samples.
    dtypes: per input, the file's dtype (float32 by default).
    convert: optional callable turning the list of numpy inputs into the model's arguments (tensors).
    files_per_batch: how many files go through the model in one forward pass (their samples concatenated,
    the outputs split back per file): thousands of one-sample files run in seconds instead of minutes. Keep
    1 where one sample is already large (Pix2pixHD at full resolution).
    limit: only the first `limit` input files (natural order), for a reference of part of a large run.
    Returns the number of files written. The folder is written under a temporary name and renamed when done.
    """
    input_dirs = list(input_dirs)
    dtypes = list(dtypes or [np.float32] * len(input_dirs))
    samples = list(zip(*fileio.pair_by_position(input_dirs)))[:limit]
    groups = [samples[i:i + files_per_batch] for i in range(0, len(samples), files_per_batch)]
    model.eval()
    written = 0
    with staging.AtomicDir(output_dir) as tmp, torch.no_grad(), \
            tqdm(total=len(samples), desc="PyTorch reference", unit="file") as bar:
        for group in groups:
            per_file = [_read_sample_files(files, dtypes, sample_shapes) for files in group]
            arrays = [np.concatenate(parts) for parts in zip(*per_file)]
            args = convert(arrays) if convert else [torch.from_numpy(a) for a in arrays]
            outputs = model(*args)
            if isinstance(outputs, torch.Tensor):
                outputs = [outputs]
            counts = [parts[0].shape[0] for parts in per_file]
            for k, output in enumerate(outputs):
                if not torch.isfinite(output).all():  # NaN weights or inputs: no reference to compare with
                    bad = next(files[0] for files, piece in zip(group, torch.split(output, counts))
                               if not torch.isfinite(piece).all())
                    raise UserError(f"{bad}: the PyTorch reference output {k} of this input holds NaN or Inf; "
                                    f"the checkpoint or the input is broken (nothing written)")
                pieces = torch.split(output, counts)
                for files, piece in zip(group, pieces):
                    fileio.write_array(tmp / fileio.output_name(files[0], k), piece.numpy(), atomic=False)
                    written += 1
            bar.update(len(group))
    return written


def _read_sample_files(files, dtypes, sample_shapes):
    """The arrays of one sample's files (one per model input), which must hold the same number of samples."""
    arrays = [fileio.read_array(path, dtype, (-1, *shape)) for path, dtype, shape in zip(files, dtypes, sample_shapes)]
    if len({a.shape[0] for a in arrays}) != 1:
        raise UserError(f"{files[0]}: its sample count differs from that of {', '.join(map(str, files[1:]))}")
    return arrays
