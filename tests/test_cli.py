"""Every script's --help: built by common.cli.parser, each option's default said once."""
import argparse
import importlib.util
import re

import pytest

from common import cli, driver, errors

ROOT = driver.ROOT
SCRIPTS = sorted(p for folder in [*driver.model_folders(), ROOT / "common", ROOT / "benchmarks"]
                 for p in folder.glob("*.py") if "\ndef build_parser(" in p.read_text(encoding="utf-8"))


def load_parser(path):
    spec = importlib.util.spec_from_file_location(f"help_of_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_parser()


def rendered_help(parser, action):
    return parser._get_formatter()._get_help_string(action) or ""


def test_scripts_are_found():
    names = {p.name for p in SCRIPTS}
    assert {"infer.py", "dcgan_compare_upstream.py", "biggan_eval_acc.py", "run_all.py"} <= names
    assert len(SCRIPTS) >= 40


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_help_states_each_default_once(path):
    parser = load_parser(path)
    assert parser.formatter_class.__name__ == "_HelpFormatter"  # cli.parser, not a bare argparse parser
    twice, unstated = [], []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.required or not action.option_strings:
            continue
        text = rendered_help(parser, action)
        if text.lower().count("default") > 1 + text.count("%(default)s"):
            twice.append(action.option_strings[0])
        if "default" not in text.lower():
            unstated.append(action.option_strings[0])
    assert twice == [] and unstated == []


def test_the_formatter_shows_a_default_or_what_happens_without_one():
    p = cli.parser("demo")
    p.add_argument("--stated", default=None, help="file to read (default: the newest one)")
    p.add_argument("--plain", default=None, help="file to write")
    p.add_argument("--number", type=int, default=3, help="how many")
    p.add_argument("--need", required=True, help="must be given")
    text = " ".join(p.format_help().split())
    assert "(default: the newest one) " in text and "(default: the newest one) (default" not in text
    assert "file to write (default: None)" in text and "how many (default: 3)" in text
    assert "must be given (default" not in text


def test_whole_numbers_are_bounded_and_say_so():
    """cli.ranged_int: the bounds as an attribute (the tests read them), a one-line message on either side, a
    number of thousands of digits (which Python will not convert) named by its length, not as 'not a number'."""
    opset = cli.ranged_int(7, 20, "an opset")
    assert opset.bounds == (7, 20) and opset("11") == 11
    for text, message in [("6", "6 is less than 7"), ("21", "21 is more than 20"), ("x", "'x' is not a whole number"),
                          ("1.5", "'1.5' is not a whole number")]:
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
            opset(text)
    assert cli.positive_int.bounds == (1, cli.MAX_COUNT) and cli.positive_int(str(cli.MAX_COUNT)) == cli.MAX_COUNT
    with pytest.raises(argparse.ArgumentTypeError, match=r"^0 is not a positive whole number$"):
        cli.positive_int("0")
    with pytest.raises(argparse.ArgumentTypeError, match=r"^999999999999\.\.\. \(400 characters\) is more than 10{12}$"):
        cli.positive_int("9" * 400)
    with pytest.raises(argparse.ArgumentTypeError, match=r"\(5002 characters\) is far outside this option's range"):
        cli.non_negative_int("9" * 5000)
    with pytest.raises(argparse.ArgumentTypeError, match=r"4294967296 is more than 4294967295"):
        cli.seed(str(2 ** 32))


def test_shapes_are_bounded():
    assert cli.parse_shape("1,3,256,256") == [1, 3, 256, 256]
    for text in ["0,3", "1," + "9" * 13, "9" * 400]:
        with pytest.raises(errors.UserError, match=r"expected positive comma-separated integers up to 1000000000000"):
            cli.parse_shape(text)
