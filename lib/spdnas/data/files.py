"""Reading users' NumPy files (.npy / .npz) safely: never unpickled, errors name the file.

numpy's own message for a file that is not plain array data suggests loading it with
``allow_pickle=True``, which would run code from the file; these readers say what is wrong instead.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["read_npy", "read_npz"]

_PICKLED = "holds pickled Python objects, which spdnas never loads"


def _problem(exc: Exception, kind: str) -> str:
    msg = str(exc)
    if "pickle" in msg.lower():  # a non-NumPy file (numpy falls back to pickle) or object arrays
        return f"not a plain {kind} array file (another format, or it {_PICKLED})"
    return f"unreadable {kind} file ({type(exc).__name__}: {msg})"


def read_npy(path: str | os.PathLike) -> np.ndarray:
    """The array of a ``.npy`` file; ValueError naming the file when it is not plain array data."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # ValueError (pickled / bad header), OSError, EOFError, ...
        raise ValueError(f"{path}: {_problem(exc, '.npy')}") from None
    if not isinstance(arr, np.ndarray):
        if hasattr(arr, "close"):
            arr.close()
        raise ValueError(f"{path}: a .npz archive, expected a single .npy array")
    return arr


def read_npz(path: str | os.PathLike, required=(), optional=()) -> dict[str, np.ndarray]:
    """Arrays ``required`` (ValueError naming the missing ones) and those of ``optional`` present in
    the ``.npz`` archive ``path``; ValueError naming the file (and array) when it is not plain data."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"{path}: {_problem(exc, '.npz')}") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single .npy array, expected a .npz archive with arrays {sorted(required)}")
    with z:
        missing = set(required) - set(z.files)
        if missing:
            raise ValueError(f"{path}: missing arrays {sorted(missing)} (has {sorted(z.files)})")
        out = {}
        for name in (*required, *(k for k in optional if k in z.files)):
            try:
                out[name] = z[name]
            except ValueError as exc:
                if "pickle" in str(exc).lower():
                    raise ValueError(f"{path}: array {name!r} {_PICKLED}") from None
                raise ValueError(f"{path}: array {name!r} is unreadable ({exc})") from None
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ValueError(f"{path}: array {name!r} is unreadable ({type(exc).__name__}: {exc})") from None
    return out
