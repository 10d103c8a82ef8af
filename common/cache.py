"""The project's cache folder, for what it derives from read-only inputs and keeps between runs (the Inception ONNX
export, the trained stand-ins, the digit classifier): never beside a person's files."""
import os
from pathlib import Path

CACHE_VARIABLE = "GANZOO_CACHE"  # the environment variable naming the project's cache folder


def cache_folder(override=None):
    """The project's own folder for caches derived from read-only inputs (the Inception ONNX export): `override`
    (biggan_eval_acc.py --cache), else $GANZOO_CACHE, else $XDG_CACHE_HOME/ganzoo, else ~/.cache/ganzoo."""
    if override:
        return Path(override)
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "ganzoo"  # XDG: a relative one is ignored
