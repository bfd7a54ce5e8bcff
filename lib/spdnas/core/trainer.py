"""Seeded training / evaluation loops for SPD classifiers with crash-safe checkpoints.

Works for any ``nn.Module`` mapping SPD batches ``(B, n, n)`` to logits (SPDNet, derived
SPDNetNAS networks, Euclidean baselines). Weights are optimised with Riemannian SGD/Adam
(:func:`spdnas.spd.riemannian_optimizer`). After every epoch a checkpoint with the model,
optimiser, RNG states and metrics is written atomically (``torch.save`` to memory, then
temp file + ``os.replace``); :func:`fit` resumes from it (``torch.load(weights_only=True)``), and
a resumed run reproduces an uninterrupted one bit for bit: the data order of epoch e depends
only on (seed, e). The reported epoch is chosen on validation only (:func:`select_epoch`).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as tF

from ..spd.optim import riemannian_optimizer
from .io import atomic_write_bytes, write_json
from .progress import progress_bar

__all__ = [
    "TRAIN_DEFAULTS",
    "train_config",
    "fit",
    "evaluate",
    "save_checkpoint",
    "load_checkpoint",
    "batches",
    "as_tensors",
    "num_threads",
    "select_epoch",
    "SCHEDULES",
    "OPTIMIZERS",
    "SELECTION",
]

# Learning-rate schedules (one vocabulary for this trainer and the sweep recipes).
SCHEDULES = ("constant", "cosine")

# Optimisers of fit (spdnas.spd.riemannian_optimizer: Riemannian SGD / Adam).
OPTIMIZERS = ("sgd", "adam")

# How fit picks the reported epoch (``selected_by`` of its result) with and without a val set.
SELECTION = ("val_acc, ties: lower val_loss, then earlier epoch", "last epoch (no validation set)")

TRAIN_DEFAULTS = dict(
    epochs=100, batch_size=30, optimizer="sgd", lr=0.025, lr_min=0.0, schedule="constant", momentum=0.9,
    weight_decay=3e-4, grad_clip=5.0, seed=0, threads=1, eval_batch_size=256,
)


def train_config(**overrides) -> dict:
    """Validated training config: defaults of :data:`TRAIN_DEFAULTS` updated by ``overrides``."""
    unknown = set(overrides) - set(TRAIN_DEFAULTS)
    if unknown:
        raise ValueError(f"train config: unknown keys {sorted(unknown)}; allowed: {sorted(TRAIN_DEFAULTS)}")
    cfg = dict(TRAIN_DEFAULTS, **overrides)
    for k in ("epochs", "batch_size", "threads", "eval_batch_size"):
        v = cfg[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if k == "epochs" else 1):
            raise ValueError(f"train config: {k} must be a {'non-negative' if k == 'epochs' else 'positive'} int, got {v!r}")
    for k in ("lr", "lr_min", "momentum", "weight_decay", "grad_clip"):
        v = cfg[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"train config: {k} must be a finite number >= 0, got {v!r}")
    if cfg["lr"] <= 0:
        raise ValueError(f"train config: lr must be > 0, got {cfg['lr']!r}")
    if cfg["schedule"] not in SCHEDULES:
        raise ValueError(f"train config: schedule must be one of {SCHEDULES}, got {cfg['schedule']!r}")
    if cfg["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"train config: optimizer must be 'sgd' or 'adam', got {cfg['optimizer']!r}")
    if isinstance(cfg["seed"], bool) or not isinstance(cfg["seed"], int):
        raise ValueError(f"train config: seed must be an int, got {cfg['seed']!r}")
    return cfg


@contextlib.contextmanager
def num_threads(n: int | None):
    """Temporarily set torch's intra-op threads. Small batched matrices run fastest (and do not
    fight other processes) on one thread; ``None`` leaves the setting alone."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def as_tensors(X, y, name: str = "data") -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a (matrices, labels) pair and return tensors (X float, y int64)."""
    if X is None or y is None:
        raise ValueError(f"{name}: X and y are required")
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    if X.dim() not in (3, 4) or X.shape[-1] != X.shape[-2]:
        raise ValueError(f"{name}: X must have shape (N, n, n) or (N, 1, n, n), got {tuple(X.shape)}")
    if not X.dtype.is_floating_point:
        raise ValueError(f"{name}: X must be floating point, got {X.dtype}")
    if y.dim() != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{name}: y must have shape ({X.shape[0]},), got {tuple(y.shape)}")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: empty data set")
    if y.dtype.is_floating_point:
        if not bool(torch.all(y == torch.round(y))):
            raise ValueError(f"{name}: labels must be integers")
    y = y.long()
    if bool((y < 0).any()):
        raise ValueError(f"{name}: labels must be >= 0")
    if not bool(torch.isfinite(X).all()):
        raise ValueError(f"{name}: X contains NaN or Inf")
    return X, y


def batches(n: int, batch_size: int, seed: int | None, epoch: int, drop_last: bool = True):
    """Index batches of one epoch; the order depends only on (seed, epoch) (None: sequential)."""
    if seed is None:
        order = torch.arange(n)
    else:
        g = torch.Generator().manual_seed(int(seed) * 100003 + int(epoch))
        order = torch.randperm(n, generator=g)
    if drop_last and n >= batch_size:
        stop = (n // batch_size) * batch_size
    else:
        stop = n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]


def _model_dtype(model: nn.Module):
    for p in model.parameters():
        if p.dtype.is_floating_point:
            return p.dtype
    return torch.get_default_dtype()


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> dict:
    """Mean cross-entropy and accuracy in eval mode; restores the model's train/eval mode."""
    X, y = as_tensors(X, y, "evaluate")
    was = model.training
    model.eval()
    dtype = _model_dtype(model)
    loss = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.int64)
    try:
        for idx in batches(X.shape[0], batch_size, None, 0, drop_last=False):
            logits = model(X[idx].to(dtype))
            loss += tF.cross_entropy(logits, y[idx], reduction="sum").double()
            correct += (logits.argmax(1) == y[idx]).sum()
    finally:
        model.train(was)
    n = X.shape[0]
    return {"loss": float(loss) / n, "acc": float(correct) / n}


def _plain(obj):
    """Recursively convert tensor subclasses (e.g. geoopt ManifoldTensor) to plain tensors."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().as_subclass(torch.Tensor) if type(obj) is not torch.Tensor else obj.detach()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    return obj


def rng_state() -> dict:
    """torch, numpy and python RNG states (plain tensors / lists for weights_only loading)."""
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
            "python": json.dumps(random.getstate())}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), int(n[2]), int(n[3]), float(n[4])))
    py = json.loads(state["python"])
    random.setstate((py[0], tuple(py[1]), py[2]))


def save_checkpoint(path, **payload) -> Path:
    """``torch.save`` a dict of state dicts/metrics to ``path`` atomically (plain tensors only)."""
    buf = io.BytesIO()
    torch.save(_plain(payload), buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt / truncated / foreign pickle
        raise ValueError(f"checkpoint {p} is corrupt or not a spdnas checkpoint: {e}") from None


def lr_at(cfg: dict, epoch: int) -> float:
    """Learning rate of an epoch (constant or cosine from lr to lr_min)."""
    if cfg["schedule"] == "constant" or cfg["epochs"] <= 1:
        return float(cfg["lr"])
    t = epoch / cfg["epochs"]
    return float(cfg["lr_min"] + 0.5 * (cfg["lr"] - cfg["lr_min"]) * (1 + math.cos(math.pi * t)))


def select_epoch(history: list[dict]) -> tuple[int | None, str]:
    """``(selected epoch, selected_by)``: highest val_acc, ties on lower val_loss, then the earlier epoch.

    Test metrics are never read. Without ``val_acc`` in the history the last epoch is selected and
    ``selected_by`` says so; an empty history gives ``(None, ...)``.
    """
    if not isinstance(history, (list, tuple)):
        raise ValueError(f"select_epoch: history must be a list of epoch records, got {type(history).__name__}")
    if not history:
        return None, SELECTION[1]
    for i, r in enumerate(history):
        if not isinstance(r, dict) or "epoch" not in r:
            raise ValueError(f"select_epoch: history[{i}] is not an epoch record with an 'epoch' field: {r!r}")
    if not all("val_acc" in r for r in history):
        return int(history[-1]["epoch"]), SELECTION[1]

    def rank(r):
        acc, loss = float(r["val_acc"]), float(r.get("val_loss", math.inf))
        return (-acc if math.isfinite(acc) else math.inf, loss if math.isfinite(loss) else math.inf, int(r["epoch"]))

    return int(min(history, key=rank)["epoch"]), SELECTION[0]


def _selection(history: list[dict]) -> dict:
    epoch, by = select_epoch(history)
    best = next((r for r in history if r["epoch"] == epoch), None)
    return {"best": best, "selected_epoch": epoch, "selected_by": by}


def fit(model: nn.Module, train, val=None, test=None, config: dict | None = None, out=None, *,
        resume: bool = True, progress: bool = True, stop_after: int | None = None) -> dict:
    """Train ``model`` on ``train`` = (X, y); evaluate on ``val`` every epoch and on ``test`` at the
    epochs that can be reported: each epoch that is the validation-selected one so far
    (:func:`select_epoch`) and the last (the test set is read no more than that, and the test
    evaluations of the other epochs — 10-15 % of an SPDNetNAS epoch — are saved).

    Args:
        config: see :data:`TRAIN_DEFAULTS` (epochs, batch_size, optimizer, lr, schedule, momentum,
            weight_decay (Euclidean params only), grad_clip, seed, threads).
        out: folder for ``checkpoint.pt`` and ``metrics.json`` (written every epoch); None: no files.
        resume: continue from ``out/checkpoint.pt`` when present (same config required).
        stop_after: stop after this many epochs in total (to emulate an interruption).
    Returns: {'history': [per-epoch metrics], 'final': last epoch's metrics, 'best': the metrics of
    the validation-selected epoch (:func:`select_epoch`; the last epoch without ``val``),
    'selected_epoch', 'selected_by', 'config': cfg}; ``metrics.json`` holds the same fields.
    """
    cfg = train_config(**(config or {}))
    Xtr, ytr = as_tensors(*train, name="train")
    sets = {"val": val, "test": test}
    sets = {k: as_tensors(*v, name=k) for k, v in sets.items() if v is not None}
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("fit: model has no trainable parameters")
    dtype = _model_dtype(model)
    with num_threads(cfg["threads"]):
        opt_kw = {"momentum": cfg["momentum"]} if cfg["optimizer"] == "sgd" else {}
        optimizer = riemannian_optimizer(model, cfg["optimizer"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                                         **opt_kw)
        history, start = [], 0
        ckpt = Path(out) / "checkpoint.pt" if out is not None else None
        if ckpt is not None and resume and ckpt.is_file():
            state = load_checkpoint(ckpt)
            if state.get("config") != json.loads(json.dumps(cfg)):
                raise ValueError(f"checkpoint {ckpt} was written with a different config; use resume=False or another out")
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            set_rng_state(state["rng"])
            history, start = list(state["history"]), int(state["epoch"])
        else:
            torch.manual_seed(cfg["seed"])
        params = [p for p in model.parameters() if p.requires_grad]
        end = cfg["epochs"] if stop_after is None else min(cfg["epochs"], int(stop_after))
        for epoch in range(start, end):
            t0 = time.perf_counter()
            lr = lr_at(cfg, epoch)
            for g in optimizer.param_groups:
                g["lr"] = lr
            model.train()
            loss_sum = torch.zeros((), dtype=torch.float64)
            correct = torch.zeros((), dtype=torch.int64)
            seen = 0
            bl = batches(Xtr.shape[0], cfg["batch_size"], cfg["seed"], epoch)
            for idx in progress_bar(bl, progress, f"train {epoch + 1}/{cfg['epochs']}"):
                xb, yb = Xtr[idx].to(dtype), ytr[idx]
                optimizer.zero_grad(set_to_none=True)
                logits = model(xb)
                loss = tF.cross_entropy(logits, yb)
                loss.backward()
                if cfg["grad_clip"] > 0:
                    nn.utils.clip_grad_norm_(params, cfg["grad_clip"])
                optimizer.step()
                loss_sum += loss.detach().double() * len(idx)
                correct += (logits.detach().argmax(1) == yb).sum()
                seen += len(idx)
            rec = {"epoch": epoch + 1, "lr": lr, "train_loss": float(loss_sum) / seen,
                   "train_acc": float(correct) / seen}
            for k, (X, y) in sets.items():
                if k == "test" and not (epoch + 1 == cfg["epochs"] or select_epoch(history + [rec])[0] == epoch + 1):
                    continue  # test only where it can be reported: the selected-so-far and the last epoch
                m = evaluate(model, X, y, cfg["eval_batch_size"])
                rec[f"{k}_loss"], rec[f"{k}_acc"] = m["loss"], m["acc"]
            rec["time_s"] = time.perf_counter() - t0
            history.append(rec)
            if ckpt is not None:
                save_checkpoint(ckpt, model=model.state_dict(), optimizer=optimizer.state_dict(), rng=rng_state(),
                                history=history, epoch=epoch + 1, config=json.loads(json.dumps(cfg)))
                # "complete" marks a run that has not reached its last epoch yet (killed or stopped)
                write_json(Path(out) / "metrics.json", {"config": cfg, "history": history, **_selection(history),
                                                        "complete": epoch + 1 >= cfg["epochs"]})
    return {"history": history, "final": history[-1] if history else None, **_selection(history), "config": cfg}
