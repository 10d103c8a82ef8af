"""Make `common` and every model folder importable, as the scripts find them when run from their folder."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import driver  # noqa: E402

driver.put_model_folders_on_path()

# The project's caches (metrics.cache_folder: the trained stand-ins, the digit classifier, the Inception ONNX export):
# the tests keep theirs in a folder of their own process (scripts run as subprocesses inherit it), never in the
# user's ~/.cache/ganzoo, and remove it at the end.
_CACHE = tempfile.mkdtemp(prefix="ganzoo-test-cache-")
os.environ["GANZOO_CACHE"] = _CACHE


def pytest_unconfigure(config):
    shutil.rmtree(_CACHE, ignore_errors=True)


# The five driver chains are the longest tests (a minute or two each, every README step a subprocess): start
# them first, longest first, so that with two xdist workers the short tests fill the gaps instead of one worker
# finishing a chain alone at the end.
_LONGEST_FIRST = ("CycleGAN", "Pix2pixHD", "BigGAN", "DCGAN", "GAN")


def pytest_collection_modifyitems(items):
    def rank(item):
        if item.originalname == "test_model_chain_runs_as_the_readme_says":
            return _LONGEST_FIRST.index(item.callspec.params["model"])
        return len(_LONGEST_FIRST)
    items.sort(key=rank)  # stable: every other test keeps its order
