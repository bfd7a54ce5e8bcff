"""Generic short-recipe trainer used by sweeps: train on (x_train, y_train), report test error.

A recipe is a dict (unknown keys are errors)::

    epochs, lr, batch_size, weight_decay, optimizer ("sgd" | "adam" | "adamw"), momentum,
    nesterov, schedule ("cosine" | "constant"), warmup_epochs, max_train, max_test, eval_batch_size

Models may plug their own optimiser (e.g. a Riemannian one from geoopt for SPD weights) by
defining ``model.make_optimizer(recipe) -> torch.optim.Optimizer``; the learning-rate schedule
is applied on top of whatever optimiser is returned.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..core.trainer import SCHEDULES

DEFAULT_RECIPE = {
    "epochs": 2,
    "lr": 0.05,
    "batch_size": 64,
    "weight_decay": 5e-4,
    "optimizer": "sgd",
    "momentum": 0.9,
    "nesterov": True,
    "schedule": "cosine",
    "warmup_epochs": 0,
    "max_train": None,
    "max_test": None,
    "eval_batch_size": 512,
}
OPTIMIZERS = ("sgd", "adam", "adamw")


def normalize_recipe(recipe: dict | None) -> dict:
    """Fill defaults and validate a recipe; raises ValueError naming the bad key."""
    if recipe is None:
        recipe = {}
    if not isinstance(recipe, dict):
        raise ValueError(f"recipe must be a dict, got {type(recipe).__name__}")
    unknown = set(recipe) - set(DEFAULT_RECIPE)
    if unknown:
        raise ValueError(f"unknown recipe keys {sorted(unknown)}; known: {sorted(DEFAULT_RECIPE)}")
    r = {**DEFAULT_RECIPE, **recipe}

    def pos_int(k, allow_none=False, allow_zero=False):
        v = r[k]
        if v is None and allow_none:
            return
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (0 if allow_zero else 1):
            raise ValueError(f"recipe[{k!r}] must be a {'non-negative' if allow_zero else 'positive'} integer, got {v!r}")
        r[k] = int(v)

    def nonneg_float(k, positive=False):
        v = r[k]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) \
                or not math.isfinite(float(v)) or float(v) < 0 or (positive and float(v) == 0):
            raise ValueError(f"recipe[{k!r}] must be a finite {'positive' if positive else 'non-negative'} number, got {v!r}")
        r[k] = float(v)

    pos_int("epochs")
    pos_int("batch_size")
    pos_int("eval_batch_size")
    pos_int("warmup_epochs", allow_zero=True)
    pos_int("max_train", allow_none=True)
    pos_int("max_test", allow_none=True)
    nonneg_float("lr", positive=True)
    nonneg_float("weight_decay")
    nonneg_float("momentum")
    if r["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"recipe['optimizer'] must be one of {OPTIMIZERS}, got {r['optimizer']!r}")
    if r["schedule"] not in SCHEDULES:
        raise ValueError(f"recipe['schedule'] must be one of {SCHEDULES}, got {r['schedule']!r}")
    if not isinstance(r["nesterov"], bool):
        raise ValueError(f"recipe['nesterov'] must be a bool, got {r['nesterov']!r}")
    if r["warmup_epochs"] >= r["epochs"] and r["warmup_epochs"] > 0:
        raise ValueError("recipe['warmup_epochs'] must be smaller than recipe['epochs']")
    return r


def make_optimizer(model: nn.Module, recipe: dict) -> torch.optim.Optimizer:
    """Model's own ``make_optimizer(recipe)`` if defined, else SGD/Adam(W) from the recipe."""
    hook = getattr(model, "make_optimizer", None)
    if callable(hook):
        opt = hook(recipe)
        if not isinstance(opt, torch.optim.Optimizer):
            raise ValueError(f"model.make_optimizer must return a torch Optimizer, got {type(opt).__name__}")
        return opt
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    if recipe["optimizer"] == "sgd":
        nesterov = recipe["nesterov"] and recipe["momentum"] > 0
        return torch.optim.SGD(params, lr=recipe["lr"], momentum=recipe["momentum"],
                               weight_decay=recipe["weight_decay"], nesterov=nesterov)
    cls = torch.optim.Adam if recipe["optimizer"] == "adam" else torch.optim.AdamW
    return cls(params, lr=recipe["lr"], weight_decay=recipe["weight_decay"])


def _lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * t))


def check_data(data: dict) -> dict:
    """Validate a dataset dict (x/y train/test tensors + info with num_classes)."""
    if not isinstance(data, dict):
        raise ValueError(f"data must be a dict, got {type(data).__name__}")
    for k in ("x_train", "y_train", "x_test", "y_test", "info"):
        if k not in data:
            raise ValueError(f"data is missing {k!r}")
    info = data["info"]
    if not isinstance(info, dict) or "num_classes" not in info:
        raise ValueError("data['info'] must be a dict with 'num_classes'")
    k = int(info["num_classes"])
    for split in ("train", "test"):
        x, y = data[f"x_{split}"], data[f"y_{split}"]
        if not torch.is_tensor(x) or not torch.is_tensor(y):
            raise ValueError(f"x_{split}/y_{split} must be torch tensors")
        if len(x) == 0 or len(x) != len(y):
            raise ValueError(f"x_{split} and y_{split} must be non-empty with equal length, got {len(x)} and {len(y)}")
        if y.dtype != torch.int64 or y.ndim != 1:
            raise ValueError(f"y_{split} must be a 1-D int64 tensor")
        if int(y.min()) < 0 or int(y.max()) >= k:
            raise ValueError(f"y_{split} labels must lie in [0, {k})")
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise ValueError(f"x_{split} contains NaN or Inf")
    return data


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> tuple[float, float]:
    """Return (top-1 error in percent, mean cross-entropy) of ``model`` on (x, y)."""
    model.eval()
    wrong, loss = 0, 0.0
    for i in range(0, len(x), batch_size):
        out = model(x[i: i + batch_size])
        yb = y[i: i + batch_size]
        loss += float(nn.functional.cross_entropy(out.float(), yb, reduction="sum"))
        wrong += int((out.argmax(1) != yb).sum())
    return 100.0 * wrong / len(x), loss / len(x)


def train_eval(model: nn.Module, data: dict, recipe: dict | None = None, seed: int = 0,
               progress: bool = False) -> dict:
    """Train ``model`` with ``recipe`` on ``data`` and return its test error.

    Returns ``{"error": percent, "test_loss", "train_time": seconds, "curve": per-epoch mean
    training loss, "diverged": bool}``. Training stops early (``diverged=True``) when the loss
    becomes NaN/Inf. Mini-batch order is seeded by ``seed``.
    """
    r = normalize_recipe(recipe)
    check_data(data)
    x_tr, y_tr, x_te, y_te = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    if r["max_train"] is not None:
        x_tr, y_tr = x_tr[: r["max_train"]], y_tr[: r["max_train"]]
    if r["max_test"] is not None:
        x_te, y_te = x_te[: r["max_test"]], y_te[: r["max_test"]]
    gen = torch.Generator().manual_seed(int(seed))
    opt = make_optimizer(model, r)
    steps_per_epoch = math.ceil(len(x_tr) / r["batch_size"])
    total = r["epochs"] * steps_per_epoch
    warm = r["warmup_epochs"] * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: _lr_factor(s, total, warm, r["schedule"])
    )
    curve, diverged = [], False
    t0 = time.perf_counter()
    bar = tqdm(total=total, desc="train", unit="step", disable=not progress, leave=False)
    for _ in range(r["epochs"]):
        model.train()
        perm = torch.randperm(len(x_tr), generator=gen)
        tot, cnt = 0.0, 0
        for i in range(0, len(x_tr), r["batch_size"]):
            idx = perm[i: i + r["batch_size"]]
            if len(idx) < 2 and len(x_tr) > 1:
                idx = perm[-2:]  # BatchNorm needs >1 sample per batch
            loss = nn.functional.cross_entropy(model(x_tr[idx]).float(), y_tr[idx])
            if not torch.isfinite(loss):
                diverged = True
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
            cnt += len(idx)
            bar.update(1)
        curve.append(tot / cnt if cnt else float("nan"))
        if diverged:
            break
    bar.close()
    train_time = time.perf_counter() - t0
    error, test_loss = evaluate(model, x_te, y_te, r["eval_batch_size"])
    if diverged or not math.isfinite(test_loss):
        diverged = True
    return {"error": float(error), "test_loss": float(test_loss) if math.isfinite(test_loss) else None,
            "train_time": float(train_time),
            "curve": [float(c) if math.isfinite(c) else None for c in curve], "diverged": diverged}
