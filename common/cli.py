"""Command-line plumbing shared by every script: the exit-status contract, argparse help, checked option types."""
import argparse
import re
import sys

from common import staging
from common.errors import ReportedError, UserError


def run(main, argv=None):
    """Call ``main(argv)`` and turn the project's errors into one stderr line and an exit status.

    Used as ``sys.exit(cli.run(main))`` under ``if __name__ == "__main__":``. Tests call ``main`` directly and
    catch the exceptions, or call ``run`` to check the status and the message.
    """
    try:
        status = main(argv)
    except ReportedError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # the file system refused (permissions, a full disk, a path that is not a folder)
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    return 0 if status is None else int(status)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every option's default and keeps the description's line breaks. A required option has none to
    show, and an option without a default value (None or empty) whose help says what happens by default is
    not given a second, contradicting '(default: None)'."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        unset = action.default is None or (isinstance(action.default, (str, list)) and not action.default)
        if action.required or (unset and "default" in help_text.lower()):
            return help_text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with the project's error contract: a bad command line is one `error:` line and exit status 2
    (argparse's own usage dump is what --help is for). The options declared with `type=` reads, reads_list,
    writes or writes_into are kept in `path_options` and compared before the script does any work: no output may
    write over an input (common.staging.check_apart)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.path_options = []  # (option name, dest, kind) of each path option, in declaration order

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        kind = getattr(action.type, "kind", None)
        if kind is not None:
            name = action.option_strings[0] if action.option_strings else action.dest
            self.path_options.append((name, action.dest, kind))
        return action

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        staging.check_apart(**declared_paths(self, parsed))
        return parsed


# What a step does with a path option, declared as its argparse `type`. The value stays a plain str.
def reads(text):
    """A file or folder the step reads."""
    return text


def reads_list(text):
    """Comma-separated files or folders the step reads (ais_bench's --input)."""
    return text


def writes(text):
    """A file or folder the step writes (a folder is replaced as a whole)."""
    return text


def writes_into(text):
    """A folder the step writes named outputs into (what else it holds stays)."""
    return text


for _kind in (reads, reads_list, writes, writes_into):
    _kind.kind = _kind.__name__


def declared_paths(parser, namespace):
    """{"reads": [(option, path)], "writes": [...], "writes_into": [...]} of the path options `parser` declares
    (its path_options), as `namespace` holds them."""
    found = {"reads": [], "writes": [], "writes_into": []}
    for name, dest, kind in parser.path_options:
        value = getattr(namespace, dest, None)
        if value is None:
            continue
        for item in (value if isinstance(value, list) else [value]):
            paths = [p for p in item.split(",") if p.strip()] if kind == "reads_list" else [item]
            found["reads" if kind == "reads_list" else kind] += [(name, path) for path in paths]
    return found


def parser(description, prog=None):
    """An ArgumentParser whose --help lists each option's default and whose errors are one line."""
    return _Parser(description=description, prog=prog, formatter_class=_HelpFormatter)


def _shown(text):
    """A number as an error line shows it: a 400-digit one by its first digits and its length."""
    return text if len(text) <= 24 else f"{text[:12]}... ({len(text)} characters)"


def _ranged(convert, accepts, outside, doc, most=None):
    """An argparse type: the text as `convert` (int or float) makes it, refused unless `accepts(value)` (NaN
    fails every comparison, so it is refused too) and, for a whole number, unless it is at most `most`: the
    bound keeps every product a step computes from it (in Python integers: sizes, counts of runs) within what
    the memory and disk checks and a float can state."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:  # Python refuses to convert whole numbers of more than 4300 digits
            digits = convert is int and re.fullmatch(r"\s*[+-]?[0-9_]+\s*", text)
            reason = f"is far outside this option's range (at most {most})" if digits and most is not None else \
                f"is not a {'whole ' if convert is int else ''}number"
            raise argparse.ArgumentTypeError(f"{_shown(repr(text))} {reason}") from None
        if not accepts(value):
            raise argparse.ArgumentTypeError(f"{_shown(text)} {outside}")
        if most is not None and value > most:
            raise argparse.ArgumentTypeError(f"{_shown(text)} is more than {most}")
        return value
    parse.__doc__ = doc
    return parse


def ranged_int(low, high, doc, below=None):
    """An argparse type for a whole number from `low` to `high`, which it carries as `bounds` (the tests give
    every such option the values outside them)."""
    parse = _ranged(int, lambda v: v >= low, below or f"is less than {low}", doc, most=high)
    parse.bounds = (low, high)
    return parse


# A count beyond any memory or disk even at one byte an item; the memory and disk checks state the real limit.
MAX_COUNT = 10 ** 12

seed = ranged_int(0, 2 ** 32 - 1, "--seed: a whole number from 0 to 2**32 - 1 (what numpy's and torch's generators "
                  "take)", below="is outside 0 .. 4294967295")
positive_int = ranged_int(1, MAX_COUNT, "a count that must be at least 1 (files, grid sizes, runs)",
                          below="is not a positive whole number")
non_negative_int = ranged_int(0, MAX_COUNT, "a count that may be 0 ('all', pictures)", below="is negative")
cosine_threshold = _ranged(float, lambda v: 0.0 < v <= 1.0, "is not a cosine bar in (0, 1]",
                           "a cosine bar: -5 would pass anything, 2 and NaN fail everything")
tolerance = _ranged(float, lambda v: 0.0 <= v < float("inf"), "is not a finite tolerance of 0 or more",
                    "an absolute tolerance: finite, at least 0")


def file_name(text):
    """argparse type of a name inside a folder given by another option: no folders in it, not . or .."""
    if not text or "/" in text or "\\" in text or text in (".", ".."):
        raise argparse.ArgumentTypeError(f"{text!r} is not a bare name (the folder is another option)")
    return text


def parse_shape(text, what="shape"):
    """'1,3,256,256' -> [1, 3, 256, 256]; a clear error otherwise."""
    try:
        dims = [int(d) for d in text.split(",") if d.strip() != ""]
    except ValueError:
        raise UserError(f"{what} {text!r}: expected comma-separated integers such as 1,3,256,256") from None
    if not dims or any(not 0 < d <= MAX_COUNT for d in dims):
        raise UserError(f"{what} {_shown(repr(text))}: expected positive comma-separated integers up to {MAX_COUNT} "
                        f"such as 1,3,256,256")
    return dims


def parse_named_shapes(items, what="--input-shape"):
    """['noise:1,1,20', 'label:1,5,148'] (or one 'a:..;b:..' string) -> {'noise': [1,1,20], ...}."""
    shapes = {}
    for item in items:
        for part in item.split(";"):
            if not part.strip():
                continue
            name, sep, dims = part.rpartition(":")
            if not sep or not name:
                raise UserError(f"{what} {part!r}: expected name:dims such as noise:1,100,1,1")
            shapes[name] = parse_shape(dims, f"{what} {name}")
    return shapes
