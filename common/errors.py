"""The project's error types, which every module may import (it imports nothing of the project).

A ReportedError is shown to the user as one `error:` line on stderr with its exit status (cli.run does that)."""


class ReportedError(Exception):
    """An error reported to the user as one line on stderr, without a traceback."""

    exit_code = 1


class UserError(ReportedError):
    """A mistake in what the user gave us (missing file, wrong size, no partner...): exit status 2."""

    exit_code = 2


class CheckFailed(ReportedError):
    """A numeric check that did not pass (export verification, accuracy below threshold): exit status 1."""

    exit_code = 1
