"""Run a model chain's README commands in-process (for tests that inspect every file the steps write).

common/driver.py runs the same commands as subprocesses from a copy of the folder, as a user would; this
runs their `main` functions directly, which is faster and shows a failing step's traceback. Both take the
commands from the folder's chain.STEPS (driver.render): a fixture that needs some of a chain's steps runs them
with run_steps(chain, params, only=[...]) rather than typing their arguments again.
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


def call_script(argv):
    """Call the `main` of the script that `python3 <script> args...` names, in-process; return its exit status.
    A script under common/ is the `common` package's module, any other one the module of its name (conftest.py
    puts every model folder on sys.path). A `main` that returns None succeeded, as sys.exit(None) does."""
    script = Path(argv[1])
    module = importlib.import_module(f"common.{script.stem}" if script.parent.name == "common" else script.stem)
    status = module.main(argv[2:])
    return 0 if status is None else status


def run_steps(chain, params, only=None, extra=None):
    """Call each step's script `main` with the README's arguments (chain.STEPS formatted with `params`), from the
    current folder. `only` names the steps to run (in chain order; default all); `extra` appends arguments to
    named steps, {name: [args]}, for what a test changes (say, no warm-up run). The one way a test runs a chain's
    commands in-process: fixtures take their steps from here instead of retyping them."""
    steps = driver.render(chain, params)
    names = [name for name, _ in steps]
    unknown = sorted(set(only or ()) - set(names)) + sorted(set(extra or {}) - set(only or names))
    assert not unknown, f"not steps that run here: {unknown} (the chain has {names})"
    for name, command in steps:
        if only is None or name in only:
            argv = shlex.split(command) + [str(a) for a in (extra or {}).get(name, [])]
            assert call_script(argv) == 0, name


def upstream_mirror(repo):
    """The git directory of a fetched upstream repository ('owner+name'), for the opt-in upstream checks.

    Set UPSTREAM_MIRRORS to the folder holding `<owner>+<name>/repo`; tests that need a mirror skip without it
    (the path returned then names the variable to set, and never exists).
    """
    return Path(os.environ.get("UPSTREAM_MIRRORS", "<set UPSTREAM_MIRRORS>")) / repo / "repo"
