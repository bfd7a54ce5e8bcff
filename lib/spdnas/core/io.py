"""Reading and writing result files: atomic writes, and readers that name what is missing or corrupt."""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["read_json"]


def read_json(path: str | os.PathLike, what: str):
    """Parsed JSON of ``path``; ``FileNotFoundError`` / ``ValueError`` naming ``what`` and the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what} {path} is corrupt: {e}") from None
