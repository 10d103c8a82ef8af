"""Make `common` and every model folder importable, as the scripts find them when run from their folder."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder holding common/

from common import driver  # noqa: E402

driver.put_model_folders_on_path()

# The project's caches (cache.cache_folder: the trained stand-ins, the digit classifier, the Inception ONNX export):
# the tests keep theirs in a folder of this test run's own (scripts run as subprocesses inherit it), never in the
# user's ~/.cache/ganzoo, and its creator removes it at the end. The xdist workers inherit the controller's
# environment: they share its folder, so that each cached file is made once per run, not once per worker (every
# cache file is written atomically; the tests of a cache itself use a folder of their own).
_SHARED = "GANZOO_TEST_CACHE"  # the folder of the process that made it, for its xdist workers
if os.environ.get("PYTEST_XDIST_WORKER") and os.path.isdir(os.environ.get(_SHARED, "")):
    _CACHE, _OWNED = os.environ[_SHARED], False
else:
    _CACHE, _OWNED = tempfile.mkdtemp(prefix="ganzoo-test-cache-"), True
    os.environ[_SHARED] = _CACHE
os.environ["GANZOO_CACHE"] = _CACHE


def pytest_unconfigure(config):
    if _OWNED:
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


# The tiers (CONTRIBUTING.md, "Tests"): `python3 -m pytest -m common` is the fast tier a developer runs after a change
# to common/; `-m models` adds each folder's own tests; `-m chains` holds the whole-chain runs (every README step,
# the seeds replayed, Dask clusters, the benchmarks' own runs). CI runs them all. Each file is in exactly one.
TIERS = {
    "common": ("test_accuracy", "test_checkpoint", "test_cli", "test_default_backend", "test_digits", "test_fileio",
               "test_images", "test_infer", "test_interruption", "test_metrics", "test_onnx_utils", "test_precision",
               "test_report", "test_similarity", "test_structure"),
    "models": ("test_bad_input", "test_biggan", "test_bootstrap", "test_cyclegan", "test_dcgan", "test_facts",
               "test_gan", "test_make_standin", "test_origins", "test_pix2pixhd", "test_pix2pixhd_data", "test_seeds",
               "test_upstream"),
    "chains": ("test_benchmarks", "test_biggan_chain", "test_cluster", "test_cyclegan_chain", "test_cyclegan_seed",
               "test_driver", "test_readme_walk"),
}


def tier_of(module_name):
    return next((tier for tier, names in TIERS.items() if module_name in names), None)


def pytest_configure(config):
    for tier in TIERS:
        config.addinivalue_line("markers", f"{tier}: a test of the '{tier}' tier (tests/conftest.py, TIERS)")


def pytest_itemcollected(item):
    tier = tier_of(item.module.__name__.rpartition(".")[2])
    if tier is None:
        raise ValueError(f"{item.module.__file__}: in no tier; add it to TIERS in tests/conftest.py")
    item.add_marker(tier)
