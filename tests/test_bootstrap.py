"""Scripts find common/ one way: the same first line in every script, nothing in the modules they import."""
import re
import subprocess
import sys

from common import driver

ROOT = driver.ROOT
BOOTSTRAP = ("sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))"
             "  # the folder holding common/")
# Imports from a folder that is not the script's own: a chain folder (the driver), an upstream checkout, the
# benchmarks' neighbours, the zip of the client's common/ on a Dask worker (cluster_code). Each is one call, in these
# files only.
PATH_CHANGES_ALLOWED = {"common/driver.py", "common/upstream.py", "common/cluster_code.py",
                        "benchmarks/precision_benchmark.py", "benchmarks/run_all.py"}
SOURCES = sorted(p for folder in [*driver.model_folders(), ROOT / "common", ROOT / "benchmarks", ROOT / "tests" / "toy_chain"]
                 for p in folder.glob("*.py"))


def test_every_script_and_only_scripts_bootstrap():
    wrong = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        is_script = re.search(r'^if __name__ == "__main__":', text, re.M) is not None
        if text.count(BOOTSTRAP) != int(is_script):
            wrong.append(f"{path.relative_to(ROOT)}: {text.count(BOOTSTRAP)} bootstrap lines, "
                         f"{'a script' if is_script else 'a module'}")
        others = [line for line in text.splitlines() if "sys.path" in line and line != BOOTSTRAP
                  and re.search(r"sys\.path\.(insert|append|remove)|sys\.path\[", line)]
        if others and path.relative_to(ROOT).as_posix() not in PATH_CHANGES_ALLOWED:
            wrong.append(f"{path.relative_to(ROOT)}: changes sys.path: {others}")
    assert not wrong, "\n".join(wrong)


def test_a_script_finds_common_from_any_folder(tmp_path):
    """Run as `python3 <Model>/<script>.py` from elsewhere, each folder's scripts import common/ and its facts."""
    for folder in driver.model_folders():
        script = sorted(folder.glob("*_postprocess.py"))[0]
        done = subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0 and "usage:" in done.stdout, (script, done.stderr)
