"""Resumable units of work: a unit's key, its folder and ``record.json``, and a stage's ``plan.json``."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from ..core.io import read_json
from ..core.io import atomic_write_text
from ..core.io import write_json

__all__ = ["unit_key", "finished_record", "claim_folder", "slug", "read_plan", "read_records", "write_plan",
           "EPOCH_FILES", "epoch_history"]

#: per unit kind with epochs: the metrics file each epoch writes (after its checkpoint) and that checkpoint
EPOCH_FILES = {"search": ("search_metrics.json", "search_checkpoint.pt"), "train": ("metrics.json", "checkpoint.pt")}


def unit_key(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def finished_record(folder: Path, key: str) -> dict | None:
    """The finished record in ``folder`` when it was written for the same unit key."""
    p = folder / "record.json"
    if not p.is_file():
        return None
    try:
        rec = json.loads(p.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return rec if isinstance(rec, dict) and rec.get("key") == key and rec.get("status") == "ok" else None


def claim_folder(folder: Path, key: str) -> bool:
    """Mark ``folder`` as holding unit ``key``; False (start afresh) when it held another unit."""
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "unit_key"
    same = p.is_file() and p.read_text().strip() == key
    if not same:
        for f in ("record.json", *(ckpt for _, ckpt in EPOCH_FILES.values())):
            (folder / f).unlink(missing_ok=True)
        atomic_write_text(p, key + "\n")
    return same


def epoch_history(folder: str | os.PathLike, kind: str) -> list:
    """The per-epoch history a ``kind`` ("search" / "train") unit in ``folder`` has written so far
    ([] when it has not started, or its metrics file is missing or unreadable)."""
    p = Path(folder) / EPOCH_FILES[kind][0]
    try:
        hist = json.loads(p.read_text())["history"] if p.is_file() else []
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return []
    return hist if isinstance(hist, list) else []


def slug(method: str) -> str:
    """Folder-safe method name ('SPDNetNAS (R)' -> 'SPDNetNAS-R')."""
    return method.replace(" (", "-").replace(")", "").replace(" ", "_")


def read_plan(folder: str | os.PathLike) -> pd.DataFrame:
    """The records of a compute stage folder (``plan.json``) as a DataFrame."""
    p = Path(folder) / "plan.json"
    data = read_json(p, "experiment plan (run its compute stage first)")
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise ValueError(f"{p}: expected {{'records': [...]}}")
    df = pd.DataFrame(data["records"])
    if len(df) and "status" not in df.columns:
        raise ValueError(f"{p}: records lack a 'status' field")
    return df


def read_records(folder: str | os.PathLike) -> pd.DataFrame:
    """All ``record.json`` files under ``folder`` (finished units), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"experiment folder not found: {folder}")
    rows = []
    for p in sorted(folder.rglob("record.json")):
        rows.append(read_json(p, "record"))
    return pd.DataFrame(rows)


def write_plan(out: Path, kind: str, cfg: dict, records: list[dict]) -> Path:
    return write_json(out / "plan.json", {"stage": kind, "config": cfg, "records": records})
