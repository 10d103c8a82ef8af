"""Room for a step's work: refuse, before anything is allocated or written, what the disk or the memory of this
machine cannot hold (one line naming the need and what there is)."""
import os
import shutil
from pathlib import Path

from common.errors import UserError


def size_text(nbytes):
    for unit, size in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} bytes"


def check_room(path, nbytes, what, in_memory=0):
    """Refuse, before anything is allocated or written, a request whose output (`nbytes`) does not fit on
    the disk that holds `path`, or whose arrays (`in_memory` bytes) do not fit in this machine's memory."""
    folder = next(parent for parent in Path(path).absolute().parents if parent.exists())
    free = shutil.disk_usage(folder).free
    if nbytes > free:
        raise UserError(f"{path}: {what} needs {size_text(nbytes)} of output, and {folder} has "
                        f"{size_text(free)} free")
    check_memory(in_memory, what)


def check_memory(nbytes, what):
    """Refuse, before it is allocated, a request for more memory than this machine has."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if nbytes > memory:
        raise UserError(f"{what} needs {size_text(nbytes)} of memory, and this machine has {size_text(memory)}")
