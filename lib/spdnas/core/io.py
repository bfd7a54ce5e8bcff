"""Reading and writing result files: atomic writes, and readers that name what is missing or corrupt."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import yaml

__all__ = ["atomic_write_bytes", "atomic_write_text", "write_json", "json_default", "read_json", "read_config"]


def read_json(path: str | os.PathLike, what: str):
    """Parsed JSON of ``path``; ``FileNotFoundError`` / ``ValueError`` naming ``what`` and the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what} {path} is corrupt: {e}") from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` via a temp file + rename, so readers never see half a file.

    ``mode``: permission bits of the new file (e.g. ``0o600`` for a secret), set when the temp file
    is created, so the data is never readable with wider permissions; default: 0o666 less the umask.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        if mode is not None:  # a fresh file: a leftover one may be open elsewhere or wider
            tmp.unlink(missing_ok=True)
            flags |= os.O_EXCL
        with open(os.open(tmp, flags, 0o666 if mode is None else mode), "wb") as fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)  # exactly ``mode``, whatever the umask
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: str | os.PathLike, text: str, mode: int | None = None) -> Path:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"), mode)


def write_json(path, obj) -> Path:
    """Atomic pretty JSON."""
    return atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True, default=json_default) + "\n")


def json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray) or (hasattr(o, "tolist") and hasattr(o, "shape")):  # arrays, tensors
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_config(path: str | os.PathLike, what: str = "config file") -> dict:
    """A YAML or JSON mapping from ``path`` (by suffix; YAML otherwise); errors name ``what`` and the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        text = path.read_text()
        obj = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as e:
        raise ValueError(f"{what} {path} is corrupt: {e}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{what} {path} must hold a mapping")
    return obj
