"""Repository-rooted paths and the configurable location of external data."""

from __future__ import annotations

import os
from pathlib import Path

_MARKERS = ("dvc.yaml", "pyproject.toml")
SHARED_DATA_ENV = "SPDNAS_DATA"


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


def shared_data_root(path: str | os.PathLike | None = None) -> Path:
    """Folder of external real data (HDM05 subset, NAS-Bench-Macro, user datasets).

    ``path`` wins, then ``$SPDNAS_DATA``, then ``<repo>/../shared/data``. The folder may not exist:
    loaders check and explain what is missing.
    """
    if path is not None:
        return Path(path).expanduser().resolve()
    env = os.environ.get(SHARED_DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    try:
        return (repo_root() / ".." / "shared" / "data").resolve()
    except FileNotFoundError:
        return (Path.cwd() / ".." / "shared" / "data").resolve()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file + rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))
