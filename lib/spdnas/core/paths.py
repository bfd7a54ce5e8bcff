"""The workbench root: the folder holding dvc.yaml and pyproject.toml."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repo_root"]

_MARKERS = ("dvc.yaml", "pyproject.toml")


def repo_root(start: str | os.PathLike | None = None) -> Path:
    """Return the workbench root (folder holding dvc.yaml and pyproject.toml).

    Resolution order: ``$SPDNAS_ROOT``, then the first parent of ``start`` (default: cwd) holding
    both marker files, then the parents of this package file (editable install). Papermill runs
    notebooks in the process cwd while nbval runs them in the notebook folder; resolving from here
    makes both behave the same.
    """
    env = os.environ.get("SPDNAS_ROOT")
    if env:
        return Path(env).resolve()
    candidates = [Path(start or os.getcwd()).resolve(), Path(__file__).resolve().parent]
    for base in candidates:
        for p in (base, *base.parents):
            if all((p / m).exists() for m in _MARKERS):
                return p
    raise FileNotFoundError(
        "cannot locate the spdnas workbench root (a folder with dvc.yaml and pyproject.toml); "
        "set SPDNAS_ROOT"
    )
