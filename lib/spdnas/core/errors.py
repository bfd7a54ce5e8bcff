"""The one error convention of the ``spdnas`` command lines: a bad input is one line on stderr, status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["guarded"]


def guarded(run: Callable[[], int | None], prog: str | None = None) -> int:
    """Exit status of ``run()`` (None counts as 0); a bad input (ValueError, FileNotFoundError)
    becomes one line ``[prog: ]error: …`` on stderr and status 2, without a traceback."""
    try:
        return int(run() or 0)
    except (ValueError, FileNotFoundError) as e:
        print(f"{prog + ': ' if prog else ''}error: {e}", file=sys.stderr)
        return 2
