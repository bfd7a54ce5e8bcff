"""Readers of a search's ``search_metrics.json``: per-epoch curves and mixing-weight history."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.io import read_json
from .ops import NORMAL_OPS, REDUCE_OPS

__all__ = ["search_history", "alpha_history"]


def _read(path, allow_partial: bool) -> dict:
    data = read_json(Path(path), "search metrics")
    if isinstance(data, dict) and data.get("complete") is False and not allow_partial:
        raise ValueError(f"{path} was written before its search finished ({data.get('epochs_done')} of "
                         f"{data.get('epochs')} epochs); pass allow_partial=True to read it anyway")
    return data


def search_history(path: str | os.PathLike, allow_partial: bool = False) -> pd.DataFrame:
    """Per-epoch search curves (train/val accuracy and loss, and ``alpha_max_change`` /
    ``alpha_entropy`` where every epoch has them) from ``search_metrics.json`` (one of an
    unfinished search only with ``allow_partial``)."""
    data = _read(path, allow_partial)
    hist = data.get("history") if isinstance(data, dict) else None
    if not isinstance(hist, list) or not hist:
        raise ValueError(f"{path}: no search history")
    cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "time_s"]
    cols += [c for c in ("alpha_max_change", "alpha_entropy") if all(isinstance(h, dict) and c in h for h in hist)]
    try:
        return pd.DataFrame([{c: h[c] for c in cols} for h in hist])
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: malformed history entry ({e})") from None


def alpha_history(path: str | os.PathLike, allow_partial: bool = False) -> pd.DataFrame:
    """Long table (epoch, cell, edge, op, weight) of the mixing weights after every search epoch
    (of an unfinished search only with ``allow_partial``)."""
    data = _read(path, allow_partial)
    hist = data.get("history") if isinstance(data, dict) else None
    if not isinstance(hist, list) or not hist:
        raise ValueError(f"{path}: no search history")
    rows = []
    for h in hist:
        aw = h.get("arch_weights")
        if not isinstance(aw, dict):
            raise ValueError(f"{path}: epoch {h.get('epoch')} has no arch_weights")
        for cell, W in aw.items():
            W = np.asarray(W, dtype=float)
            if W.ndim != 2 or W.shape[1] != len(NORMAL_OPS) or not np.isfinite(W).all():
                raise ValueError(f"{path}: arch_weights[{cell!r}] must be a finite (edges, 6) array")
            steps = 0
            while sum(i + 2 for i in range(steps)) < W.shape[0]:
                steps += 1
            edge_inputs = [(i, j) for i in range(steps) for j in range(i + 2)]
            for e, (node, j) in enumerate(edge_inputs):
                names = REDUCE_OPS if (cell == "reduce" and j < 2) else NORMAL_OPS
                for o, op in enumerate(names):
                    rows.append({"epoch": int(h["epoch"]), "cell": cell, "edge": f"{j}->{node + 2}",
                                 "op": op, "weight": float(W[e, o])})
    return pd.DataFrame(rows)
