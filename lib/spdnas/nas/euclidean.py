"""Euclidean NAS baselines of the paper: DARTS and FairDARTS on log-map images.

SPD inputs X are mapped to their matrix logarithm (log-Euclidean embedding) and treated as
``1 × n × n`` images. The search space is the DARTS CNN cell space; the op modules and the
derived-network builder come from :mod:`spdnas.models` (``OPS``, ``build_cell_network``),
this module adds the continuous relaxation (mixed ops, supernet). DARTS mixes ops with softmax
weights, FairDARTS with independent sigmoids plus the zero-one loss (``weighting='sigmoid'``).
The bilevel loop, checkpoints and resume are those of :func:`spdnas.nas.search.run_search`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..models.cnn_ops import DARTS_OPS, OPS, FactorizedReduce, ReLUConvBN
from ..models.darts import build_cell_network, check_cnn_genotype, reduction_layers
from ..spd import functional as F
from ..core.trainer import fit
from ..core.io import write_json
from .search import infer_net_config, resolve_data, run_search, search_config
from .supernet import mix_weights

__all__ = ["LogMapImage", "euclidean_net_config", "EuclideanSuperNet", "derive_darts_genotype",
           "search_euclidean", "build_euclidean_network", "train_euclidean_genotype"]


class LogMapImage(nn.Module):
    """SPD (B, n, n) -> log-map image (B, 1, n, n), validated once at the entry."""

    def __init__(self, in_dim: int):
        super().__init__()
        self.in_dim = int(in_dim)

    def forward(self, X):
        if not isinstance(X, torch.Tensor) or X.dim() not in (3, 4) or X.shape[-1] != self.in_dim \
                or X.shape[-2] != self.in_dim or (X.dim() == 4 and X.shape[1] != 1):
            shape = tuple(X.shape) if isinstance(X, torch.Tensor) else type(X).__name__
            raise ValueError(f"expected SPD input (B, {self.in_dim}, {self.in_dim}), got {shape}")
        F.check_spd(X, "log-map input")
        L = F.logm(X, check=False)
        return L if L.dim() == 4 else L.unsqueeze(1)


def euclidean_net_config(in_dim: int, num_classes: int, C: int = 4, layers: int = 2, steps: int = 2,
                         stem_multiplier: int = 3, ops=None) -> dict:
    """Validated config of the Euclidean (DARTS-space) supernet / derived network."""
    for k, v in (("in_dim", in_dim), ("num_classes", num_classes), ("C", C), ("layers", layers),
                 ("steps", steps), ("stem_multiplier", stem_multiplier)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"euclidean net config: {k} must be a positive int, got {v!r}")
    if C < 2:
        raise ValueError(f"euclidean net config: C must be >= 2, got {C}")
    ops = list(DARTS_OPS if ops is None else ops)
    bad = [o for o in ops if o not in OPS]
    if bad or "none" not in ops or len(ops) < 2:
        raise ValueError(f"euclidean net config: ops must include 'none' and known ops, unknown: {bad}")
    return dict(in_dim=in_dim, num_classes=num_classes, C=C, layers=layers, steps=steps,
                stem_multiplier=stem_multiplier, ops=ops)


class _MixedCell(nn.Module):
    """DARTS search cell: every edge Σ_o w_o op_o(x), node = sum of its incoming edges."""

    def __init__(self, ops, steps, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        self.reduction, self.steps = reduction, steps
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1)
        self.pre1 = ReLUConvBN(c_p, c, 1)
        self.edges = nn.ModuleList()
        for i in range(steps):
            for j in range(i + 2):
                stride = 2 if reduction and j < 2 else 1
                self.edges.append(nn.ModuleList(OPS[o][0](c, stride) for o in ops))

    def forward(self, s0, s1, w):
        states = [self.pre0(s0), self.pre1(s1)]
        e = 0
        for i in range(self.steps):
            acc = 0
            for j, h in enumerate(states):
                acc = acc + sum(w[e, k] * op(h) for k, op in enumerate(self.edges[e]))
                e += 1
            states.append(acc)
        return torch.cat(states[2:], dim=1)


class EuclideanSuperNet(nn.Module):
    """DARTS supernet on log-map images; interface compatible with :class:`~spdnas.nas.search.Architect`."""

    ARCH_NAMES = ("alphas_normal", "alphas_reduce")

    def __init__(self, cfg: dict, weighting: str = "softmax"):
        super().__init__()
        self.config = euclidean_net_config(**cfg)
        self.weighting = weighting
        mix_weights(torch.zeros(1, 2), weighting)  # validates the name
        c, ops, steps = self.config["C"], self.config["ops"], self.config["steps"]
        c_curr = self.config["stem_multiplier"] * c
        self.logmap = LogMapImage(self.config["in_dim"])
        self.stem = nn.Sequential(nn.Conv2d(1, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, c
        self.cells = nn.ModuleList()
        red_prev = False
        for i in range(self.config["layers"]):
            red = i in reduction_layers(self.config["layers"])
            c_curr = c_curr * 2 if red else c_curr
            self.cells.append(_MixedCell(ops, steps, c_pp, c_p, c_curr, red, red_prev))
            red_prev = red
            c_pp, c_p = c_p, steps * c_curr
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_p, self.config["num_classes"])
        E = sum(i + 2 for i in range(steps))
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(E, len(ops)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(E, len(ops)))

    def arch_parameters(self):
        return [self.alphas_normal, self.alphas_reduce]

    def named_weights(self):
        return [(n, p) for n, p in self.named_parameters() if n not in self.ARCH_NAMES]

    def weights(self):
        return [p for _, p in self.named_weights()]

    def head_dtype(self):
        return self.fc.weight.dtype

    def arch_weights(self) -> dict:
        return {"normal": mix_weights(self.alphas_normal, self.weighting),
                "reduce": mix_weights(self.alphas_reduce, self.weighting)}

    def forward(self, X):
        x = self.logmap(X).to(self.fc.weight.dtype)
        w = self.arch_weights()
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w["reduce" if cell.reduction else "normal"])
        return self.fc(self.pool(s1).flatten(1))

    def genotype(self) -> dict:
        with torch.no_grad():
            w = self.arch_weights()
        return derive_darts_genotype(w["normal"], w["reduce"], self.config["ops"], self.config["steps"])


def derive_darts_genotype(w_normal, w_reduce, ops, steps: int) -> dict:
    """DARTS rule (top-2 non-none edges per node, best non-none op) for the CNN cell space."""
    ops = list(ops)
    none = ops.index("none")
    out = {}
    for cell, W in (("normal", w_normal), ("reduce", w_reduce)):
        W = np.asarray(W.detach().cpu().double().numpy() if hasattr(W, "detach") else W, dtype=np.float64).copy()
        if W.shape != (sum(i + 2 for i in range(steps)), len(ops)):
            raise ValueError(f"derive: weights of shape {W.shape} do not match {steps} nodes and {len(ops)} ops")
        W[:, none] = -np.inf
        pairs, start = [], 0
        for i in range(steps):
            block = W[start:start + i + 2]
            order = sorted(range(i + 2), key=lambda j: (-block[j].max(), j))[:2]
            pairs += [[ops[int(np.argmax(block[j]))], int(j)] for j in order]
            start += i + 2
        out[cell], out[f"{cell}_concat"] = pairs, list(range(2, steps + 2))
    return check_cnn_genotype(out)


def build_euclidean_network(genotype, cfg: dict, seed: int | None = None) -> nn.Module:
    """Log-map input + :func:`spdnas.models.build_cell_network` (1 input channel)."""
    cfg = euclidean_net_config(**cfg)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(int(seed))
        net = build_cell_network(genotype, cfg["C"], cfg["layers"], cfg["num_classes"], in_channels=1,
                                 stem_multiplier=cfg["stem_multiplier"])
    return nn.Sequential(LogMapImage(cfg["in_dim"]), _Cast(), net)


class _Cast(nn.Module):
    """Cast the image to the dtype of the following layers."""

    def forward(self, x):
        return x.float() if x.dtype != torch.float32 else x


def _euclid_cfg(data, config):
    config = dict(config or {})
    net = config.pop("net", None) or {}
    config.setdefault("weighting", "softmax")
    cfg = search_config(**config)
    d = resolve_data(data, cfg["split_seed"], cfg["fractions"])
    spd_net = infer_net_config(dict(cfg, net=None), d)
    cfg["net"] = euclidean_net_config(**dict(dict(in_dim=spd_net["in_dim"], num_classes=spd_net["num_classes"]), **net))
    return cfg, d


def search_euclidean(data, config: dict | None = None, out=None, *, resume: bool = True, progress: bool = True,
                     stop_after: int | None = None) -> dict:
    """DARTS (``weighting='softmax'``) or FairDARTS (``'sigmoid'``) search on log-map images.

    ``config``: search settings as :data:`~spdnas.nas.search.SEARCH_DEFAULTS` with ``net`` a dict
    of :func:`euclidean_net_config` keys (C, layers, steps, ops; size/classes from the data).
    """
    cfg, d = _euclid_cfg(data, config)
    return run_search(lambda: EuclideanSuperNet(cfg["net"], cfg["weighting"]), cfg, d, out, resume=resume,
                      progress=progress, stop_after=stop_after)


def train_euclidean_genotype(genotype, data, net: dict | None = None, config: dict | None = None, out=None, *,
                             resume: bool = True, progress: bool = True, split_seed: int = 0,
                             fractions=(0.5, 0.25, 0.25)) -> dict:
    """Train a derived DARTS-space CNN on log-map images from scratch (see :func:`spdnas.core.trainer.fit`)."""
    d = resolve_data(data, split_seed, fractions)
    spd_net = infer_net_config(dict(net=None), d)
    ncfg = euclidean_net_config(**dict(dict(in_dim=spd_net["in_dim"], num_classes=spd_net["num_classes"]), **(net or {})))
    tcfg = dict(config or {})
    model = build_euclidean_network(genotype, ncfg, seed=int(tcfg.get("seed", 0)))
    res = fit(model, d["train"], d["val"], d["test"], tcfg, out, resume=resume, progress=progress)
    res.update(genotype=check_cnn_genotype(genotype), net=ncfg, model=model,
               params=sum(p.numel() for p in model.parameters()))
    if out is not None:
        write_json(Path(out) / "result.json", {k: v for k, v in res.items() if k != "model"})
    return res
