"""Run a model chain's README commands in-process (for tests that inspect every file the steps write).

common/driver.py runs the same commands as subprocesses from a copy of the folder, as a user would; this
runs their `main` functions directly, which is faster and shows a failing step's traceback.
"""
import contextlib
import importlib
import os
import shlex
from pathlib import Path

from common import driver


@contextlib.contextmanager
def working_directory(folder):
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield Path(folder)
    finally:
        os.chdir(previous)


def run_steps(chain, params):
    """Call each step's script `main` with the README's arguments, from the current folder."""
    for name, command in driver.render(chain, params):
        argv = shlex.split(command)
        script = Path(argv[1])
        module = importlib.import_module(f"common.{script.stem}" if script.parent.name == "common" else script.stem)
        assert module.main(argv[2:]) == 0, name


def upstream_mirror(repo):
    """The git directory of a fetched upstream repository ('owner+name'), for the opt-in upstream checks.

    Set UPSTREAM_MIRRORS to the folder holding `<owner>+<name>/repo`; tests that need a mirror skip without it
    (the path returned then names the variable to set, and never exists).
    """
    return Path(os.environ.get("UPSTREAM_MIRRORS", "<set UPSTREAM_MIRRORS>")) / repo / "repo"
