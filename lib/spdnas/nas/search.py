"""Bilevel architecture search (DARTS) for the SPDNetNAS supernet, and training of derived nets.

Weights w (Stiefel BiMaps, SPD batch-norm biases, Euclidean head) are trained on the training
loss by Riemannian SGD; the architecture parameters α only on the validation loss by Adam
(lr 3e-4, betas (0.5, 0.999), weight decay 1e-3). Second order uses the paper's Riemannian
virtual step (eq. 9–10):

    w' = R_w(−ξ grad_w L_train(w, α))       (Riemannian gradient, retraction; Euclidean params: SGD)
    ∇_α ≈ ∇_α L_val(w', α) − ξ [∇_α L_train(w⁺, α) − ∇_α L_train(w⁻, α)] / 2ε,
    w^± = R_w(±ε v),  v = P_w(grad_{w'} L_val(w', α)),  ε = 0.01 / ‖v‖

(P_w: projection onto T_w as vector transport). All architecture passes run through
``torch.func.functional_call`` with cloned buffers (and skip the running-mean updates, which would
be discarded), so batch-norm running statistics only ever see training batches of the weight step,
and the model parameters are never modified in place. That makes the two Hessian-vector passes
independent: with ``threads`` ≥ 2 they run concurrently, with the serial result; the other passes
then split each cell into two concurrent branches (see :mod:`spdnas.nas.supernet`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import time
import warnings
from pathlib import Path

import geoopt
import torch
import torch.nn.functional as tF
from torch.func import functional_call

from ..spd import functional as F
from ..spd.modules import frozen_running_stats
from ..spd.optim import riemannian_optimizer
from ..core.trainer import (
    as_tensors,
    batches,
    evaluate,
    fit,
    load_checkpoint,
    num_threads,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from ..core.trainer import select_epoch as select_trained_epoch
from ..core.io import write_json
from ..core.progress import progress_bar as _progress
from ..data.splits import stratified_split
from .genotype import normalize_genotype, save_genotype
from .model import build_network, net_config
from .supernet import WEIGHTINGS, SuperNet, edge_entropy, zero_one_loss

__all__ = ["SEARCH_DEFAULTS", "SELECT_RULES", "search_config", "Architect", "search", "train_genotype",
           "resolve_data", "infer_net_config", "write_search_files", "arch_diagnostics", "select_epoch"]

# ``select``: which epoch's genotype a search reports -- 'last' (the genotype after the last epoch)
# or 'val' (the epoch of highest supernet validation accuracy; the paper's "final architecture
# selected on validation performance"; see :func:`select_epoch`)
SEARCH_DEFAULTS = dict(
    net=None, weighting="sparsemax", order=2, epochs=20, batch_size=30, lr=0.025, momentum=0.9,
    weight_decay=3e-4, grad_clip=5.0, arch_lr=3e-4, arch_betas=[0.5, 0.999], arch_weight_decay=1e-3,
    zero_one_weight=10.0, seed=0, split_seed=0, fractions=[0.5, 0.25, 0.25], threads=2, max_steps=None,
    select="last",
)

SELECT_RULES = ("last", "val")


def search_config(**overrides) -> dict:
    """Validated search config (JSON-able); ``net`` is a :func:`net_config` dict or preset name."""
    unknown = set(overrides) - set(SEARCH_DEFAULTS)
    if unknown:
        raise ValueError(f"search config: unknown keys {sorted(unknown)}; allowed: {sorted(SEARCH_DEFAULTS)}")
    cfg = dict(SEARCH_DEFAULTS, **overrides)
    if cfg["weighting"] not in WEIGHTINGS:
        raise ValueError(f"search config: weighting must be one of {WEIGHTINGS}, got {cfg['weighting']!r}")
    if cfg["order"] not in (1, 2):
        raise ValueError(f"search config: order must be 1 (first order) or 2 (second order), got {cfg['order']!r}")
    if cfg["select"] not in SELECT_RULES:
        raise ValueError(f"search config: select must be one of {SELECT_RULES} (the epoch whose genotype is "
                         f"reported), got {cfg['select']!r}")
    for k in ("epochs", "batch_size", "threads"):
        v = cfg[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if k == "epochs" else 1):
            raise ValueError(f"search config: {k} must be a positive int, got {v!r}")
    if cfg["max_steps"] is not None and (not isinstance(cfg["max_steps"], int) or cfg["max_steps"] < 1):
        raise ValueError(f"search config: max_steps must be None or a positive int, got {cfg['max_steps']!r}")
    for k in ("lr", "arch_lr"):
        if not (isinstance(cfg[k], (int, float)) and math.isfinite(cfg[k]) and cfg[k] > 0):
            raise ValueError(f"search config: {k} must be a positive number, got {cfg[k]!r}")
    for k in ("momentum", "weight_decay", "grad_clip", "arch_weight_decay", "zero_one_weight"):
        if not (isinstance(cfg[k], (int, float)) and math.isfinite(cfg[k]) and cfg[k] >= 0):
            raise ValueError(f"search config: {k} must be a number >= 0, got {cfg[k]!r}")
    b = list(cfg["arch_betas"])
    if len(b) != 2 or not all(0 <= x < 1 for x in b):
        raise ValueError(f"search config: arch_betas must be two numbers in [0, 1), got {cfg['arch_betas']!r}")
    cfg["arch_betas"] = [float(x) for x in b]
    f = [float(x) for x in cfg["fractions"]]
    if len(f) not in (2, 3) or any(x < 0 for x in f) or not math.isclose(sum(f), 1.0, abs_tol=1e-9) or f[0] <= 0 or f[1] <= 0:
        raise ValueError(f"search config: fractions must be 2 or 3 non-negative numbers summing to 1, got {cfg['fractions']!r}")
    cfg["fractions"] = f
    if isinstance(cfg["net"], str):
        cfg["net"] = net_config(cfg["net"])
    elif cfg["net"] is not None:
        cfg["net"] = net_config(**cfg["net"])
    return cfg


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def resolve_data(data, seed: int = 0, fractions=(0.5, 0.25, 0.25)) -> dict:
    """{'train': (X, y), 'val': (X, y), 'test': (X, y) or None} from a dataset or tensors.

    Accepts a ``spdnas.data`` dataset (``.split(seed, fractions)`` + ``.tensors(idx)``), an object
    with ``.X``/``.y``, a pair ``(X, y)`` (stratified split by ``fractions``) or a dict with
    'train'/'val' (and optionally 'test') pairs.
    """
    if isinstance(data, dict):
        if "train" not in data or "val" not in data:
            raise ValueError("data dict needs 'train' and 'val' entries (pairs (X, y))")
        out = {k: as_tensors(*data[k], name=k) for k in ("train", "val")}
        out["test"] = as_tensors(*data["test"], name="test") if data.get("test") is not None else None
        return out
    if hasattr(data, "split") and hasattr(data, "tensors"):
        sp = data.split(seed, tuple(fractions))
        parts = [data.tensors(i) if len(i) else None for i in sp]
        return {"train": as_tensors(*parts[0], name="train"), "val": as_tensors(*parts[1], name="val"),
                "test": as_tensors(*parts[2], name="test") if len(parts) > 2 and parts[2] is not None else None}
    if hasattr(data, "X") and hasattr(data, "y"):
        X, y = data.X, data.y
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = data
    else:
        raise ValueError("data must be a dataset, a pair (X, y) or a dict of pairs")
    X, y = as_tensors(X, y)
    fractions = tuple(fractions)
    # (train, val) or (train, val, test) shares; the one stratified split of spdnas.data
    parts = stratified_split(y.numpy(), seed, fractions + (0.0,) * (3 - len(fractions)))
    if len(parts[0]) == 0 or len(parts[1]) == 0:
        raise ValueError("data: too few samples for a train/val split")
    out = {"train": (X[parts[0]], y[parts[0]]), "val": (X[parts[1]], y[parts[1]]), "test": None}
    if len(parts) > 2 and len(parts[2]):
        out["test"] = (X[parts[2]], y[parts[2]])
    return out


# ---------------------------------------------------------------------------------------------
# Architect
# ---------------------------------------------------------------------------------------------


def warn_if_ill_conditioned(X: torch.Tensor, dtype: torch.dtype, name: str = "inputs",
                            limit: float = 1e-2) -> float:
    """Warn when cond(X)·eps(dtype) > ``limit``: the smallest eigenvalues then keep (almost) no
    correct digits in ``dtype``, and log/inverse-square-root layers can turn them into NaN
    (e.g. HDM05 covariances, cond ≈ 1e6, in float32). Returns the largest condition number."""
    L = torch.linalg.eigvalsh(X.detach().double())
    kappa = float((L[..., -1] / L[..., 0]).max())
    eps = torch.finfo(dtype).eps
    if kappa * eps > limit:
        warnings.warn(f"{name}: condition numbers up to {kappa:.3g}, so cond·eps = {kappa * eps:.2g} in {dtype}; "
                      "the smallest eigenvalues lose their accuracy and the search may diverge. Use "
                      "dtype='float64' or regularise the matrices (e.g. shrinkage towards a scaled identity).",
                      RuntimeWarning, stacklevel=3)
    return kappa


def _grad(loss, inputs):
    """autograd.grad with zeros for inputs the loss does not use (e.g. alphas of an absent cell type)."""
    g = torch.autograd.grad(loss, inputs, allow_unused=True)
    return [torch.zeros_like(x) if gx is None else gx for x, gx in zip(inputs, g)]


def _manifold(p):
    return p.manifold if isinstance(p, geoopt.ManifoldParameter) else None


class Architect:
    """Updates the architecture parameters of a :class:`SuperNet` on the validation loss."""

    def __init__(self, model: SuperNet, order: int = 2, lr: float = 3e-4, betas=(0.5, 0.999),
                 weight_decay: float = 1e-3, network_weight_decay: float = 3e-4, zero_one_weight: float = 10.0):
        if order not in (1, 2):
            raise ValueError(f"Architect: order must be 1 or 2, got {order!r}")
        self.model, self.order = model, order
        self.network_weight_decay = float(network_weight_decay)
        self.zero_one_weight = float(zero_one_weight) if model.weighting == "sigmoid" else 0.0
        self.optimizer = torch.optim.Adam(model.arch_parameters(), lr=lr, betas=tuple(betas),
                                          weight_decay=weight_decay)
        self.names = [n for n, _ in model.named_weights()]
        self._shadow = None
        self.manifolds = [_manifold(p) for _, p in model.named_weights()]

    def shadow(self):
        """A structural copy of the model for a second thread (``functional_call`` swaps a module's
        tensors while it runs, so two threads cannot call the same module); its own tensors are never used."""
        if self._shadow is None:
            self._shadow = copy.deepcopy(self.model)
        self._shadow.train(self.model.training)
        return self._shadow

    def loss(self, weights, alphas, x, y, model=None):
        """Cross-entropy of the model (or of ``model``, a structural copy) at the given weights/alphas
        (train-mode BN on cloned buffers)."""
        params = dict(zip(self.names, weights))
        params.update(zip(self.model.ARCH_NAMES, alphas))
        params.update({n: b.clone() for n, b in self.model.named_buffers()})
        with frozen_running_stats():  # the cloned statistics are discarded: skip their updates
            return tF.cross_entropy(functional_call(self.model if model is None else model, params, (x,)), y)

    def _rgrad(self, man, p, g):
        return man.egrad2rgrad(p, g) if man is not None else g

    def _retr(self, man, p, v, t):
        return man.retr(p, t * v) if man is not None else p + t * v

    def virtual_step(self, x, y, eta):
        """w' = R_w(−η grad L_train(w)) (Euclidean params: SGD step with weight decay)."""
        W = [p for p in self.model.weights()]
        alphas = [a.detach() for a in self.model.arch_parameters()]
        g = _grad(self.loss(W, alphas, x, y), W)
        with torch.no_grad():
            out = []
            for man, p, gp in zip(self.manifolds, W, g):
                if man is None:
                    out.append(p - eta * (gp + self.network_weight_decay * p))
                else:
                    out.append(man.retr(p, -eta * man.egrad2rgrad(p, gp)))
        return out

    def arch_grads(self, xt, yt, xv, yv, eta):
        """Gradient of the (first- or second-order) validation objective w.r.t. the alphas."""
        alphas = list(self.model.arch_parameters())
        if self.order == 1:
            W = [p.detach() for p in self.model.weights()]
            grads = _grad(self.loss(W, alphas, xv, yv), alphas)
        else:
            W = [p.detach() for p in self.model.weights()]
            W1 = [w.requires_grad_() for w in self.virtual_step(xt, yt, eta)]
            g = _grad(self.loss(W1, alphas, xv, yv), W1 + alphas)
            gW1, grads = g[:len(W1)], list(g[len(W1):])
            with torch.no_grad():
                V = []
                for man, p, p1, gw in zip(self.manifolds, W, W1, gW1):
                    v = self._rgrad(man, p1, gw)
                    V.append(man.proju(p, v) if man is not None else v)
                norm = torch.sqrt(sum((v * v).sum() for v in V))
                eps = 0.01 / norm.clamp_min(1e-12)
                Wp = [self._retr(m, p, v, eps) for m, p, v in zip(self.manifolds, W, V)]
                Wm = [self._retr(m, p, v, -eps) for m, p, v in zip(self.manifolds, W, V)]
            gp, gm = self._hessian_passes(Wp, Wm, alphas, xt, yt)
            grads = [ga - eta * (a - b) / (2 * eps) for ga, a, b in zip(grads, gp, gm)]
        if self.zero_one_weight > 0:
            z = _grad(self.zero_one_weight * zero_one_loss(alphas), alphas)
            grads = [g + zg for g, zg in zip(grads, z)]
        return grads

    def _hessian_passes(self, Wp, Wm, alphas, xt, yt):
        """∇_α L_train at w⁺ and w⁻; run concurrently in two threads when there are ≥ 2 spectral workers.

        Both passes are pure functions of their inputs (functional calls on cloned buffers), so
        the concurrent result is identical to the serial one; the second thread calls a structural
        copy of the model because ``functional_call`` swaps a module's tensors while it runs.
        """
        if F.thread_settings()["workers"] < 2 or xt.device.type != "cpu":
            return (_grad(self.loss(Wp, alphas, xt, yt), alphas),
                    _grad(self.loss(Wm, alphas, xt, yt), alphas))
        shadow = self.shadow()
        gp, gm = F.run_concurrently([lambda: _grad(self.loss(Wp, alphas, xt, yt), alphas),
                                     lambda: _grad(self.loss(Wm, alphas, xt, yt, model=shadow), alphas)])
        return gp, gm

    def step(self, xt, yt, xv, yv, eta):
        """One Adam step on the alphas."""
        grads = self.arch_grads(xt, yt, xv, yv, eta)
        self.optimizer.zero_grad(set_to_none=True)
        for a, g in zip(self.model.arch_parameters(), grads):
            a.grad = g.detach().clone()
        self.optimizer.step()


def weight_step(model: SuperNet, optimizer, x, y, grad_clip: float):
    """One Riemannian SGD step on the network weights (alphas untouched); returns detached logits, loss."""
    model.train()
    W = model.weights()
    optimizer.zero_grad(set_to_none=True)
    logits = model(x)
    loss = tF.cross_entropy(logits, y)
    for p, g in zip(W, _grad(loss, W)):
        p.grad = g
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(W, grad_clip)
    optimizer.step()
    return logits.detach(), loss.detach()


# ---------------------------------------------------------------------------------------------
# Search driver
# ---------------------------------------------------------------------------------------------


def infer_net_config(cfg, data):
    """The net config of ``cfg['net']`` completed from the data (input size, class count)."""
    X, y = data["train"]
    n = int(X.shape[-1])
    k = int(max(int(data["train"][1].max()), int(data["val"][1].max())) + 1)
    if cfg["net"] is None:
        return net_config(in_dim=n, num_classes=k)
    net = dict(cfg["net"])
    if net["in_dim"] != n:
        raise ValueError(f"net config in_dim={net['in_dim']} but the data holds {n}x{n} matrices")
    if net["num_classes"] < k:
        raise ValueError(f"net config num_classes={net['num_classes']} but labels go up to {k - 1}")
    return net_config(**net)


def _weights_json(model):
    with torch.no_grad():
        w = model.arch_weights()
    return {k: v.double().tolist() for k, v in w.items()}


def arch_diagnostics(model, alpha0) -> dict:
    """Whether α moved and how mixed its weights are, for a supernet (SPD or Euclidean).

    ``alpha_max_change``: max |α − α₀| over all architecture parameters (``alpha0``: their values
    after initialisation, in the order of ``model.arch_parameters()``); ``alpha_entropy_edges``:
    entropy (nats) of every edge's mixing weights as the model mixes them, normal cell then
    reduction cell (:func:`~spdnas.nas.supernet.edge_entropy`: sigmoid weights normalised to sum 1
    first, 0·log 0 = 0); ``alpha_entropy``: their mean.
    """
    alphas = list(model.arch_parameters())
    alpha0 = list(alpha0)
    if len(alpha0) != len(alphas) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(alphas, alpha0)):
        raise ValueError("arch_diagnostics: alpha0 must hold one tensor per architecture parameter, same shapes")
    with torch.no_grad():
        change = max(float((a.detach().double() - torch.as_tensor(b).double()).abs().max())
                     for a, b in zip(alphas, alpha0))
        w = model.arch_weights()
        H = torch.cat([edge_entropy(w["normal"]), edge_entropy(w["reduce"])])
    return {"alpha_max_change": change, "alpha_entropy": float(H.mean()), "alpha_entropy_edges": H.tolist()}


def select_epoch(history: list, select: str = "val") -> int | None:
    """The epoch (1-based ``epoch`` of a history record) whose genotype a search reports; None
    for an empty history.

    ``'last'``: the last epoch. ``'val'``: the highest supernet ``val_acc``; ties go to the lower
    ``val_loss`` (non-finite counts as worst), then to the earlier epoch. Test data is never used.
    """
    if select not in SELECT_RULES:
        raise ValueError(f"select must be one of {SELECT_RULES}, got {select!r}")
    if not history:
        return None
    try:
        if select == "last":
            return int(history[-1]["epoch"])
        for h in history:  # a search always evaluates its supernet: all three fields are required
            float(h["val_acc"]), float(h["val_loss"]), int(h["epoch"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"select_epoch: history records need epoch, val_acc and val_loss ({e!r})") from None
    return select_trained_epoch(list(history))[0]  # the trainer's rule, one implementation


def _search_part(cfg) -> dict | None:
    """A search config without ``select``, which only picks the reported epoch (a checkpoint
    resumes under another rule, and one written before the key existed resumes too)."""
    return {k: v for k, v in cfg.items() if k != "select"} if isinstance(cfg, dict) else cfg


def _at_epoch(history: list, epoch: int) -> dict:
    """The history record of ``epoch``."""
    for h in history:
        if int(h["epoch"]) == epoch:
            return h
    raise ValueError(f"search history has no epoch {epoch}")


def search(data, config: dict | None = None, out=None, *, resume: bool = True, progress: bool = True,
           stop_after: int | None = None) -> dict:
    """Run the SPDNetNAS bilevel search.

    Args:
        data: dataset or tensors (see :func:`resolve_data`); train half for w, val quarter for α.
        config: see :data:`SEARCH_DEFAULTS` (weighting, order, epochs, batch_size, lr, ...); ``threads``
            (default 2) sets the spectral worker threads (:func:`spdnas.spd.functional.eigh_workers`,
            which also run the two Hessian-vector passes of a second-order step concurrently) and
            torch's intra-op threads, the latter capped by the model's ``intra_op_threads`` (1 for
            the SPD supernet, whose small batched matrices run slower with OpenMP).
        out: folder for ``search_checkpoint.pt`` (every epoch), ``search_metrics.json`` and
            ``genotype.json``; resume from the checkpoint when ``resume``.
        stop_after: stop after this many epochs in total (emulates an interruption).
    Every history record holds the epoch's curves, genotype, mixing weights and the
    :func:`arch_diagnostics` (``alpha_max_change`` from α right after initialisation, kept in the
    checkpoint, and the per-edge entropies). ``config['select']`` picks the reported genotype
    (:func:`select_epoch`): ``'last'`` (default) or ``'val'`` (the paper's validation selection).

    Returns: {'genotype' (of ``selected_epoch``), 'selected_epoch', 'genotype_last' (after the last
    epoch run), 'history', 'arch_weights' (last epoch), 'config', 'net', 'model'} (model = the
    supernet after the last epoch).
    """
    cfg = search_config(**(config or {}))
    d = resolve_data(data, cfg["split_seed"], cfg["fractions"])
    cfg["net"] = infer_net_config(cfg, d)
    return run_search(lambda: SuperNet(cfg["net"], cfg["weighting"]), cfg, d, out, resume=resume,
                      progress=progress, stop_after=stop_after)


def run_search(make_model, cfg: dict, d: dict, out=None, *, resume: bool = True, progress: bool = True,
               stop_after: int | None = None) -> dict:
    """Search loop shared by the SPD and the Euclidean supernets (``make_model()`` builds the net)."""
    net = cfg["net"]
    Xtr, ytr = d["train"]
    Xv, yv = d["val"]
    with F.eigh_workers(cfg["threads"]), contextlib.ExitStack() as stack:
        torch.manual_seed(cfg["seed"])
        model = make_model()
        alpha0 = [a.detach().clone() for a in model.arch_parameters()]
        stack.enter_context(num_threads(min(cfg["threads"], getattr(model, "intra_op_threads", cfg["threads"]))))
        dtype = model.head_dtype()
        # validate the inputs once; the loop then runs without per-pass value checks (host syncs)
        F.check_spd(Xtr.to(dtype), "training inputs")
        F.check_spd(Xv.to(dtype), "validation inputs")
        warn_if_ill_conditioned(Xtr, dtype, "training inputs")
        w_opt = riemannian_optimizer(model.weights(), "sgd", lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                                     momentum=cfg["momentum"])
        arch = Architect(model, cfg["order"], cfg["arch_lr"], cfg["arch_betas"], cfg["arch_weight_decay"],
                         cfg["weight_decay"], cfg["zero_one_weight"])
        history, start = [], 0
        ckpt = Path(out) / "search_checkpoint.pt" if out is not None else None
        cfg_json = json.loads(json.dumps(cfg))
        if ckpt is not None and resume and ckpt.is_file():
            st = load_checkpoint(ckpt)
            if _search_part(st.get("config")) != _search_part(cfg_json):
                raise ValueError(f"checkpoint {ckpt} was written with a different search config; "
                                 "use resume=False or another out folder")
            model.load_state_dict(st["model"])
            w_opt.load_state_dict(st["weight_optimizer"])
            arch.optimizer.load_state_dict(st["arch_optimizer"])
            set_rng_state(st["rng"])
            history, start = list(st["history"]), int(st["epoch"])
            if "alpha0" in st:  # (the same seed re-draws the same α₀ for older checkpoints)
                alpha0 = [st["alpha0"][n].clone() for n in model.ARCH_NAMES]
        end = cfg["epochs"] if stop_after is None else min(cfg["epochs"], int(stop_after))
        if out is not None and start == 0:  # a run from scratch: an older run's final genotype is stale
            (Path(out) / "genotype.json").unlink(missing_ok=True)
        for epoch in range(start, end):
            t0 = time.perf_counter()
            tb = batches(Xtr.shape[0], cfg["batch_size"], cfg["seed"], 2 * epoch)
            vb = batches(Xv.shape[0], cfg["batch_size"], cfg["seed"], 2 * epoch + 1)
            if cfg["max_steps"] is not None:
                tb = tb[: cfg["max_steps"]]
            loss_sum = torch.zeros((), dtype=torch.float64)
            correct = torch.zeros((), dtype=torch.int64)
            seen = 0
            for s, idx in enumerate(_progress(tb, progress, f"search {epoch + 1}/{cfg['epochs']}")):
                vidx = vb[s % len(vb)]
                xt, yt = Xtr[idx].to(dtype), ytr[idx]
                xv, yvb = Xv[vidx].to(dtype), yv[vidx]
                with F.checks(False):
                    arch.step(xt, yt, xv, yvb, cfg["lr"])
                    logits, loss = weight_step(model, w_opt, xt, yt, cfg["grad_clip"])
                loss_sum += loss.double() * len(idx)
                correct += (logits.argmax(1) == yt).sum()
                seen += len(idx)
            if not math.isfinite(float(loss_sum)) or not all(bool(torch.isfinite(a).all())
                                                              for a in model.arch_parameters()):
                raise ValueError(f"search diverged in epoch {epoch + 1}: non-finite training loss or architecture "
                                 f"weights (dtype {model.head_dtype()}); use float64 or a smaller lr / arch_lr")
            m = evaluate(model, Xv, yv, 256)
            rec = {"epoch": epoch + 1, "train_loss": float(loss_sum) / seen, "train_acc": float(correct) / seen,
                   "val_loss": m["loss"], "val_acc": m["acc"], "genotype": model.genotype(),
                   "arch_weights": _weights_json(model), **arch_diagnostics(model, alpha0),
                   "time_s": time.perf_counter() - t0}
            history.append(rec)
            if ckpt is not None:
                save_checkpoint(ckpt, model=model.state_dict(), weight_optimizer=w_opt.state_dict(),
                                arch_optimizer=arch.optimizer.state_dict(), rng=rng_state(), history=history,
                                epoch=epoch + 1, config=cfg_json, alpha0=dict(zip(model.ARCH_NAMES, alpha0)))
                write_search_files(out, cfg_json, history, cfg["epochs"])
        if ckpt is not None and history and start >= end:  # nothing ran: the files follow this call's select
            write_search_files(out, cfg_json, history, cfg["epochs"])
    genotype_last = model.genotype()
    selected = select_epoch(history, cfg["select"])
    last = int(history[-1]["epoch"]) if history else None
    genotype = genotype_last if selected == last else _at_epoch(history, selected)["genotype"]
    return {"genotype": genotype, "selected_epoch": selected, "genotype_last": genotype_last, "history": history,
            "arch_weights": _weights_json(model), "config": cfg_json, "net": net, "model": model}


def write_search_files(out, config: dict, history: list, epochs: int) -> None:
    """The result files of a search after an epoch: ``search_metrics.json`` (``complete`` says
    whether all ``epochs`` ran; ``selected_epoch``: the epoch ``config['select']`` picks among those
    run) and, once complete, ``genotype.json`` (the genotype of the selected epoch); before that the
    current genotype goes to ``genotype.partial.json``, marked incomplete, which consumers refuse
    unless asked to (``load_genotype(..., allow_partial=True)``, ``--allow-partial``)."""
    out = Path(out)
    done = len(history)
    complete = done >= epochs
    rule = config.get("select", "last")
    selected = select_epoch(history, rule)
    write_json(out / "search_metrics.json", {"config": config, "history": history, "complete": complete,
                                             "epochs_done": done, "epochs": epochs, "select": rule,
                                             "selected_epoch": selected})
    partial = out / "genotype.partial.json"
    if complete:
        write_json(out / "genotype.json", _at_epoch(history, selected)["genotype"])
        partial.unlink(missing_ok=True)
    else:
        write_json(partial, {"genotype": history[-1]["genotype"], "complete": False, "epoch": done,
                             "epochs": epochs})


def train_genotype(genotype, data, net: dict | str | None = None, config: dict | None = None, out=None, *,
                   resume: bool = True, progress: bool = True, stop_after: int | None = None,
                   split_seed: int = 0, fractions=(0.5, 0.25, 0.25)) -> dict:
    """Train a derived network from scratch with Riemannian SGD (see :func:`spdnas.core.trainer.fit`).

    ``net``: network config dict, preset name, or None to infer size and classes from the data.
    Returns fit's result plus 'genotype', 'net', 'complexity' and 'model'; with ``out`` also writes
    ``genotype.json`` and ``result.json``.
    """
    g = normalize_genotype(genotype)
    d = resolve_data(data, split_seed, fractions)
    if isinstance(net, str):
        net = net_config(net)
    ncfg = infer_net_config({"net": net}, d)
    if len(g["normal"]) // 2 != ncfg["steps"]:
        ncfg = net_config(**dict(ncfg, steps=len(g["normal"]) // 2))
    tcfg = dict(config or {})
    model = build_network(g, ncfg, seed=int(tcfg.get("seed", 0)))
    res = fit(model, d["train"], d["val"], d["test"], tcfg, out, resume=resume, progress=progress,
              stop_after=stop_after)
    res.update(genotype=g, net=ncfg, complexity=model.complexity(), model=model)
    if out is not None:
        save_genotype(g, Path(out) / "genotype.json")
        write_json(Path(out) / "result.json", {k: v for k, v in res.items() if k != "model"})
    return res
