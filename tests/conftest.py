"""Make `common` and every model folder importable, as the scripts find them when run from their folder."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import driver  # noqa: E402

driver.put_model_folders_on_path()


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


@pytest.fixture(autouse=True, scope="session")
def _project_cache(tmp_path_factory):
    """The project's caches (metrics.cache_folder: the Inception ONNX export) in the session's temporary folder,
    not in the home of whoever runs the tests; scripts run as subprocesses inherit it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANZOO_CACHE", str(tmp_path_factory.mktemp("ganzoo_cache")))
        yield
