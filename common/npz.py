"""Large arrays in .npz files, streamed: BigGAN's 50,000 outputs are 9.8 GB of float32, more than a step should
hold in memory. Written whole under a temporary name and renamed into place (common.staging), read a batch at a
time."""
import contextlib
import io
import math
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

from common import staging
from common.errors import UserError
from common.fileio import require_file

class NpzArrayWriter:
    """Stream one array of known shape into an uncompressed .npz, in chunks, without holding it in memory.

    50,000 BigGAN outputs are 9.8 GB of float32: np.savez would need all of them in memory at once. The file
    is written under a temporary name and renamed into place only when every row has been written.

        with NpzArrayWriter("gen_img_bs1.npz", "x", (50000, 3, 128, 128)) as writer:
            writer.write(batch)          # (k, 3, 128, 128) float32, in order
    """

    def __init__(self, path, key, shape, dtype=np.float32, staged=None):
        """`staged`: a path from staging.OutputSet.file to write instead; the set then commits it with the others."""
        self.path = Path(path)
        self.key = key
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self.staged = staged
        self.commit = contextlib.ExitStack()  # staging.atomic_path of the file, when it is not a staged part

    def __enter__(self):
        tmp = self.staged if self.staged is not None else self.commit.enter_context(staging.atomic_path(self.path))
        self.zip = zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self.member = self.zip.open(f"{self.key}.npy", "w", force_zip64=True)
        npformat.write_array_header_2_0(self.member, {"descr": npformat.dtype_to_descr(self.dtype),
                                                      "fortran_order": False, "shape": self.shape})
        return self

    def write(self, rows):
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.shape[1:] or self.rows + rows.shape[0] > self.shape[0]:
            raise ValueError(f"{self.path}: rows of shape {rows.shape} do not fit the declared {self.shape} "
                             f"after {self.rows} rows")
        self.member.write(rows.tobytes())
        self.rows += rows.shape[0]

    def __exit__(self, exc_type, exc, tb):
        try:
            self.member.close()
            self.zip.close()
            if exc_type is None and self.rows != self.shape[0]:
                raise ValueError(f"{self.path}: {self.rows} rows written, {self.shape[0]} declared")
        except BaseException as err:
            self.commit.__exit__(type(err), err, err.__traceback__)  # the temporary file goes, nothing is renamed
            raise
        self.commit.__exit__(exc_type, exc, tb)
        return False


def npz_array_info(path, key):
    """(shape, dtype) of array `key` of an .npz, read from its header only."""
    with _open_npz_member(path, key) as (shape, dtype, _):
        return shape, dtype


class _open_npz_member:
    def __init__(self, path, key):
        self.path, self.key = Path(path), key

    def __enter__(self):
        require_file(self.path, "npz file")
        try:
            self.zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as err:
            raise UserError(f"{self.path}: not a readable npz file ({err})") from None
        names = [n[:-4] for n in self.zip.namelist() if n.endswith(".npy")]
        if self.key not in names:
            self.zip.close()
            raise UserError(f"{self.path}: expected an array {self.key!r}, found "
                            f"{', '.join(repr(n) for n in names) or 'none'}")
        self.member = self.zip.open(f"{self.key}.npy")
        try:
            version = npformat.read_magic(self.member)
            read_header = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
            shape, fortran, dtype = read_header(self.member)
        except ValueError as err:
            self.__exit__(None, None, None)
            raise UserError(f"{self.path}: array {self.key!r} has an unreadable header ({err})") from None
        if fortran or dtype.hasobject or not shape:
            self.__exit__(None, None, None)
            raise UserError(f"{self.path}: array {self.key!r} must be a C-ordered numeric array of samples")
        return shape, dtype, self.member

    def __exit__(self, exc_type, exc, tb):
        self.member.close()
        self.zip.close()
        return False


def iter_npz_batches(path, key, batch_size, limit=None):
    """Yield the first `limit` rows (all by default) of array `key` of an .npz in batches, streaming from disk."""
    with _open_npz_member(path, key) as (shape, dtype, member):
        count = shape[0] if limit is None else limit
        row_bytes = math.prod(shape[1:]) * dtype.itemsize
        done = 0
        while done < count:
            k = min(batch_size, count - done)
            data = member.read(k * row_bytes)
            if len(data) != k * row_bytes:
                raise UserError(f"{path}: array {key!r} ends after {done} of its {shape[0]} declared rows")
            yield np.frombuffer(bytearray(data), dtype=dtype).reshape(k, *shape[1:])
            done += k


def write_npz(path, atomic=True, **arrays):
    """Write `arrays` as an uncompressed .npz at exactly `path` (np.savez adds .npz to a name without it);
    atomically unless the path is already a temporary one (an staging.OutputSet part). An array too large for
    memory goes through NpzArrayWriter instead."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    if not atomic:
        Path(path).write_bytes(buffer.getvalue())
        return Path(path)
    return staging.write_bytes(path, buffer.getvalue())
