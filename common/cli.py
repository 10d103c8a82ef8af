"""Command-line plumbing shared by every script: the error types, the exit-status contract, argparse help."""
import argparse
import sys


class ReportedError(Exception):
    """An error reported to the user as one line on stderr, without a traceback."""

    exit_code = 1


class UserError(ReportedError):
    """A mistake in what the user gave us (missing file, wrong size, no partner...): exit status 2."""

    exit_code = 2


class CheckFailed(ReportedError):
    """A numeric check that did not pass (export verification, accuracy below threshold): exit status 1."""

    exit_code = 1


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
    (argparse's own usage dump is what --help is for)."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def parser(description, prog=None):
    """An ArgumentParser whose --help lists each option's default and whose errors are one line."""
    return _Parser(description=description, prog=prog, formatter_class=_HelpFormatter)


def seed(text):
    """argparse type of --seed: a whole number from 0 to 2**32 - 1 (what numpy's and torch's generators take)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"{value} is outside 0 .. 4294967295")
    return value


def positive_int(text):
    """argparse type of a count that must be at least 1 (grid sizes, runs, repeats)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return value


def parse_shape(text, what="shape"):
    """'1,3,256,256' -> [1, 3, 256, 256]; a clear error otherwise."""
    try:
        dims = [int(d) for d in text.split(",") if d.strip() != ""]
    except ValueError:
        raise UserError(f"{what} {text!r}: expected comma-separated integers such as 1,3,256,256") from None
    if not dims or any(d <= 0 for d in dims):
        raise UserError(f"{what} {text!r}: expected positive comma-separated integers such as 1,3,256,256")
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
