"""The one error convention of the ``spdnas`` command lines: a bad input is one line on stderr, status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["BAD_INPUT", "ReportedError", "guarded"]

# A bad input: a value or file the caller gave is wrong, missing, or a path that cannot be used.
BAD_INPUT = (ValueError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)


class ReportedError(RuntimeError):
    """A run that failed for a reason its message fully explains (a notebook cell raised, models of a
    sweep failed): the command lines report it as one line, like a bad input, without a traceback."""


def guarded(run: Callable[[], int | None], prog: str | None = None) -> int:
    """Exit status of ``run()`` (None counts as 0); a bad input (:data:`BAD_INPUT`: ValueError, a
    missing file, a path that cannot be used) or a :class:`ReportedError` becomes one line
    ``[prog: ]error: …`` on stderr and status 2, without a traceback."""
    try:
        return int(run() or 0)
    except (*BAD_INPUT, ReportedError) as e:
        print(f"{prog + ': ' if prog else ''}error: {e}", file=sys.stderr)
        return 2
