"""The status text of results that could not be computed: ``"not run: <reason>"``."""

from __future__ import annotations

__all__ = ["NOT_RUN", "not_run", "is_not_run"]

NOT_RUN = "not run"


def not_run(reason: str) -> str:
    """Status text ``"not run: <reason>"`` for results whose inputs are missing."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("a 'not run' entry needs a non-empty reason")
    return f"{NOT_RUN}: {reason.strip()}"


def is_not_run(value) -> bool:
    """Whether ``value`` is a ``"not run: ..."`` status string."""
    return isinstance(value, str) and value.startswith(NOT_RUN + ":")
