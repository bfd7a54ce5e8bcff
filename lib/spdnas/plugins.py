"""Optional plugin modules (spaces, datasets, CLI commands) imported by dotted name when present."""

from __future__ import annotations

import importlib
import importlib.util


def import_optional(module: str) -> bool:
    """Import ``module`` if it can be found; returns whether it was. Errors inside it propagate."""
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        found = False
    if found:
        importlib.import_module(module)
    return found
