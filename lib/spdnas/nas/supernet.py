"""SPDNetNAS supernet: mixed operations as weighted Fréchet means, batched over edges.

Speed design: the candidate ops of all edges that read the same kind of input are evaluated in
stacked tensor ops. For a group of k edges the BiMaps of all BiMap-type candidates form one
Stiefel tensor ``(k, J, C, C, n, m)``, their batch-norms one :class:`SPDBatchNorm` with
``k * J * C`` channels, the pooling candidates share one LogEig and one ExpEig, and the mixed
operation of all k edges is one batched weighted Karcher flow (one eigh per step over every
candidate). No Python loop runs over matrices or samples, and the forward pass has no host sync.
With two or more spectral worker threads (:func:`spdnas.spd.functional.eigh_workers`, the search's
``threads``) the edges reading a cell's first input and those reading its second input, each with
their input's preprocessing and mixed operations, run as two concurrent branches with their own
autograd graphs (:func:`spdnas.spd.parallel.branches`), in the backward pass as well: same values,
about 2× faster on that part of the pass.

Weights of the mixture (``weighting``): 'sparsemax' (the paper), 'softmax' (DARTS) or 'sigmoid'
(FairDARTS; normalised inside the Fréchet mean, add :func:`zero_one_loss` to the architecture
objective).
"""

from __future__ import annotations

import geoopt
import torch
import torch.nn as nn
import torch.nn.functional as tF

from ..spd import functional as F
from ..spd import geometry as G
from ..spd import products
from ..spd.modules import SPDBatchNorm, sparsemax, stiefel_init
from ..spd.parallel import branches, parallel_branches_enabled
from .genotype import derive_genotype
from .model import Head, Preprocess, Stem, DTYPES, cell_plan, net_config, prepare_input, reproject_
from .ops import NORMAL_OPS, REDUCE_OPS, make_op

__all__ = ["EdgeGroup", "MixedCell", "SuperNet", "mix_weights", "edge_entropy", "zero_one_loss", "WEIGHTINGS"]

WEIGHTINGS = ("sparsemax", "softmax", "sigmoid")


def mix_weights(alphas: torch.Tensor, weighting: str) -> torch.Tensor:
    """Mixture weights from architecture parameters (rows = edges)."""
    if weighting == "sparsemax":
        return sparsemax(alphas, dim=-1)
    if weighting == "softmax":
        return torch.softmax(alphas, dim=-1)
    if weighting == "sigmoid":
        return torch.sigmoid(alphas)
    raise ValueError(f"unknown weighting {weighting!r}; choose from {WEIGHTINGS}")


def edge_entropy(weights) -> torch.Tensor:
    """Entropy (nats, float64) of each row of non-negative mixture weights ``(edges, ops)``.

    Rows are normalised to sum 1 first: sparsemax / softmax rows already do; sigmoid (FairDARTS)
    weights are independent gates, so their entropy is that of their shares w / Σw (the weights the
    SPD supernet's Fréchet mean uses). Zero weights contribute 0 (0·log 0 = 0): log k for uniform
    weights over k ops, 0 for one-hot rows.
    """
    w = torch.as_tensor(weights.detach() if isinstance(weights, torch.Tensor) else weights, dtype=torch.float64)
    if w.dim() != 2 or w.shape[1] < 1:
        raise ValueError(f"edge_entropy: weights must be a 2-d (edges, ops) array, got shape {tuple(w.shape)}")
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or bool((w.sum(-1) <= 0).any()):
        raise ValueError("edge_entropy: weights must be finite, non-negative, with a positive sum per edge")
    p = w / w.sum(-1, keepdim=True)
    return -torch.where(p > 0, p * torch.log(p.clamp_min(1e-300)), torch.zeros_like(p)).sum(-1)


def zero_one_loss(alphas) -> torch.Tensor:
    """FairDARTS zero-one loss −mean((σ(α) − ½)²): pushes sigmoid weights towards 0 or 1."""
    a = torch.cat([x.reshape(-1) for x in alphas])
    return -torch.mean((torch.sigmoid(a) - 0.5) ** 2)


def _stiefel(*shape):
    return geoopt.ManifoldParameter(stiefel_init(*shape), manifold=geoopt.EuclideanStiefel())


def bimap(W: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
    """Batched BiMap: W (..., Co, Ci, n, m), Z (..., B, Ci, n, n) -> (..., B, Co, m, m).

    Leading dims broadcast. On the CPU one congruence per (lead, batch item, output, input channel)
    in NumPy's BLAS (:mod:`spdnas.spd.products`), summed over input channels; otherwise two einsum
    contractions, each one GEMM per (lead, channel): Z W over the input channel's rows, then Wᵀ(.)
    summed over input channels; no broadcast copies of Z.
    """
    Wt = W.transpose(-1, -2).unsqueeze(-5)
    Zb = Z.unsqueeze(-4)
    if products.uses_numpy(Wt, Zb):
        return products.congruence_numpy(Wt, Zb, symmetrize=True).sum(-3)
    ZW = torch.einsum("...bcij,...ocjm->...bocim", Z, W)
    return F.sym(torch.einsum("...ocim,...bocin->...bomn", W, ZW))


def _batchnorm(bn: SPDBatchNorm, Y: torch.Tensor, running_mean: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Batch-norm Y (k, J, B, C, m, m) with the settings of ``bn`` and its statistics/bias for these
    k edges, ``running_mean``/``bias`` (k, J, C, m, m): statistics per (edge, op, channel)."""
    return bn.normalize(Y.permute(2, 0, 1, 3, 4, 5), running_mean, bias).permute(1, 2, 0, 3, 4, 5)


class EdgeGroup(nn.Module):
    """All candidate ops of k edges of one kind; forward (k, B, C, n, n) -> (k, B, C, 6, m, m)."""

    def __init__(self, kind: str, k: int, C: int, n: int, m: int, eps: float = 1e-4, bn_momentum: float = 0.1,
                 karcher_iters: int = 1):
        super().__init__()
        if kind not in ("normal", "reduce"):
            raise ValueError(f"EdgeGroup: kind must be 'normal' or 'reduce', got {kind!r}")
        if kind == "normal" and n != m:
            raise ValueError(f"EdgeGroup: normal edges keep the size, got {n}->{m}")
        self.kind, self.k, self.C, self.n, self.m = kind, k, C, n, m
        self.eps, self.bn_momentum, self.iters = float(eps), float(bn_momentum), int(karcher_iters)
        if kind == "normal":
            # BiMap_0, BiMap_1 (inputs X), BiMap_2 (input ReEig(X))
            self.weight = _stiefel(k, 3, C, C, n, m)
            self.bn = SPDBatchNorm(m, k * 3 * C, momentum=bn_momentum, karcher_iters=karcher_iters)
            self.pool_logits = nn.Parameter(torch.zeros(k, C, C) + 0.01 * torch.randn(k, C, C))
        else:
            # BN over [AvgPooling, MaxPooling, BiMap_1_reduced, BiMap_2_reduced]
            self.weight = _stiefel(k, 2, C, C, n, m)
            self.bn = SPDBatchNorm(m, k * 4 * C, momentum=bn_momentum, karcher_iters=karcher_iters)
            a = m // 2
            self.skip1 = _stiefel(k, C, C, n, a)
            self.skip2 = _stiefel(k, C, C, n, m - a)

    @property
    def names(self):
        return NORMAL_OPS if self.kind == "normal" else REDUCE_OPS

    def parts(self, edges: slice = slice(None)) -> dict:
        """The group's tensors restricted to ``edges`` (differentiable views of the parameters; the
        batch-norm running means as views that the forward updates in place)."""
        J, C, m = (3 if self.kind == "normal" else 4), self.C, self.m
        P = {"weight": self.weight[edges], "bn_mean": self.bn.running_mean.view(self.k, J, C, m, m)[edges],
             "bn_bias": self.bn.bias.view(self.k, J, C, m, m)[edges]}
        if self.kind == "normal":
            P["pool_logits"] = self.pool_logits[edges]
        else:
            P["skip1"], P["skip2"] = self.skip1[edges], self.skip2[edges]
        return P

    def _bimap_candidates(self, X, weight, bn_mean, bn_bias):
        """BiMap_0, BiMap_1, BiMap_2 of a normal group for inputs X (u, B, C, n, n): (k, B, C, m, m) each."""
        u, B, C, n, _ = X.shape
        k, m = weight.shape[0], self.m
        R = F.reeig(X, self.eps, check=False)
        Y = bimap(weight.reshape(k // u, u, 3, C, C, n, m), torch.stack([X, X, R], dim=1).unsqueeze(0))
        Y = _batchnorm(self.bn, Y.reshape(k, 3, B, C, m, m), bn_mean, bn_bias)
        return Y[:, 0], F.reeig(Y[:, 1], self.eps, check=False), Y[:, 2]

    def _normal_part(self, which, X, *tensors):
        """One of the two independent parts of a normal group: 'bimaps' (weight, BN mean, BN bias) or
        'pooling' (WeightedPooling logits; returns (k/u, u, B, C, n, n))."""
        if which == "bimaps":
            return self._bimap_candidates(X, *tensors)
        u, C = X.shape[0], X.shape[2]
        w = sparsemax(tensors[0], dim=-1).to(X.dtype).reshape(-1, u, 1, C, C)  # (.., Co, Ci)
        # X (1, u, B, 1, Ci, n, n), w (s, u, 1, Co, Ci) -> (s, u, B, Co, n, n); log X once per distinct input
        return G.frechet_mean(X[None, :, :, None], weights=w, dim=4, iters=self.iters, init="logeuclid", check=False)

    def forward(self, X: torch.Tensor, parts: dict | None = None) -> torch.Tensor:
        """Candidates of all k edges from u distinct inputs X (u, B, C, n, n); edge e reads X[e % u].

        Input-only work (ReEig of BiMap_2, LogEig/ExpEig of the poolings, the log-Euclidean start of
        WeightedPooling) runs once per distinct input; the BiMaps of all edges reading the same
        input share one GEMM. ``parts``: the tensors of the edges to compute (:meth:`parts`, default
        all k), passed explicitly so that the computation is a pure function of its arguments (see
        :func:`spdnas.spd.parallel.branches`). Returns (k', B, C, 6, m, m) in the order of :attr:`names`.
        """
        P = self.parts() if parts is None else parts
        u, B, C, n, _ = X.shape
        k, m = P["weight"].shape[0], self.m
        if u < 1 or k % u:
            raise ValueError(f"EdgeGroup: {k} edges cannot read {u} inputs cyclically (need k % u == 0)")
        s = k // u
        eye = torch.eye(m, dtype=X.dtype, device=X.device).expand(k, B, C, m, m)
        if self.kind == "normal":
            if C == 1:  # the Fréchet mean of one matrix is the matrix
                Y0, b1, Y2 = self._bimap_candidates(X, P["weight"], P["bn_mean"], P["bn_bias"])
                wp = X.expand(s, *X.shape)
            else:  # BiMaps and WeightedPooling are independent: concurrent branches with >= 2 workers
                (Y0, b1, Y2), wp = branches(self._normal_part, [
                    ("bimaps", X, P["weight"], P["bn_mean"], P["bn_bias"]), ("pooling", X, P["pool_logits"])])
            outs = [eye, wp.reshape(k, B, C, m, m), Y0, b1, Y2, X.expand(s, *X.shape).reshape(k, B, C, n, n)]
        else:
            R = F.reeig(X, self.eps, check=False)
            L = F.logm(X, check=False).reshape(u * B, C, n, n)
            Pl = torch.stack([tF.adaptive_avg_pool2d(L, m), tF.adaptive_max_pool2d(L, m)], dim=0)
            Pl = F.expm(F.sym(Pl), check=False).reshape(2, u, B, C, m, m).transpose(0, 1)
            Yb = bimap(P["weight"].reshape(s, u, 2, C, C, n, m), torch.stack([X, R], dim=1).unsqueeze(0))
            T = torch.cat([Pl.expand(s, *Pl.shape), Yb], dim=2).reshape(k, 4, B, C, m, m)
            T = _batchnorm(self.bn, T, P["bn_mean"], P["bn_bias"])
            b1 = F.reeig(T[:, 2], self.eps, check=False)
            a = m // 2
            A = bimap(P["skip1"].reshape(s, u, C, C, n, a), X[None]).reshape(k, B, C, a, a)
            Bm = bimap(P["skip2"].reshape(s, u, C, C, n, m - a), X[None]).reshape(k, B, C, m - a, m - a)
            Z = torch.zeros(*A.shape[:-1], Bm.shape[-1], dtype=X.dtype, device=X.device)
            skip = torch.cat([torch.cat([A, Z], -1), torch.cat([Z.transpose(-1, -2), Bm], -1)], -2)
            outs = [eye, T[:, 0], T[:, 1], b1, T[:, 3], skip]
        return torch.stack(outs, dim=3)

    @torch.no_grad()
    def extract(self, e: int, name: str) -> nn.Module:
        """Discrete op module (see :func:`spdnas.nas.ops.make_op`) holding edge ``e``'s parameters."""
        if not 0 <= e < self.k:
            raise ValueError(f"extract: edge {e} out of range [0, {self.k})")
        op = make_op(self.kind, name, self.C, self.n, self.m, self.eps, self.bn_momentum, self.iters)
        op.to(self.weight.dtype)
        C, m = self.C, self.m

        def copy_bn(dst: SPDBatchNorm, j: int, J: int):
            dst.bias.copy_(self.bn.bias.view(self.k, J, C, m, m)[e, j])
            dst.running_mean.copy_(self.bn.running_mean.view(self.k, J, C, m, m)[e, j])

        if self.kind == "normal":
            if name in ("BiMap_0", "BiMap_1", "BiMap_2"):
                j = int(name[-1])
                bm, bn = (op[1], op[2]) if name == "BiMap_2" else (op[0], op[1])
                bm.weight.copy_(self.weight[e, j])
                copy_bn(bn, j, 3)
            elif name == "WeightedPooling":
                op.logits.copy_(self.pool_logits[e])
        else:
            if name in ("AvgPooling", "MaxPooling"):
                copy_bn(op[1], 0 if name == "AvgPooling" else 1, 4)
            elif name == "BiMap_1_reduced":
                op[0].weight.copy_(self.weight[e, 0])
                copy_bn(op[1], 2, 4)
            elif name == "BiMap_2_reduced":
                op[1].weight.copy_(self.weight[e, 1])
                copy_bn(op[2], 3, 4)
            elif name == "Skip_reduced":
                op.bimap1.weight.copy_(self.skip1[e])
                op.bimap2.weight.copy_(self.skip2[e])
        return op


def karcher_mean(X: torch.Tensor, w: torch.Tensor, dim: int, iters: int = 1) -> torch.Tensor:
    """Weighted Fréchet mean over ``dim`` by ``iters`` Karcher-flow steps started at the weighted
    arithmetic mean (as the official code); one batched eigh over all inputs per step.

    ``w``: non-negative weights broadcastable to X.shape[:-2] (normalised along ``dim``).
    """
    w = w / w.sum(dim=dim, keepdim=True)
    wx = w[..., None, None]
    M = (wx * X).sum(dim)
    for _ in range(iters):
        S, Si = F.sqrtm_invsqrtm(M, check=False)
        T = (wx * F.logm(G.sandwich(Si.unsqueeze(dim), X), check=False)).sum(dim)
        M = G.congruence(S, F.expm(T, check=False))
    return M


def _mix(cands: torch.Tensor, w: torch.Tensor, iters: int) -> torch.Tensor:
    """Weighted Fréchet mean over the op axis: cands (E, B, C, K, m, m), w (E, K) -> (E, B, C, m, m).

    Slot 0 must be the ``none`` candidate (the identity). Same result as :func:`karcher_mean`
    over all K slots, with K − 1 eigendecompositions per step: the identity needs none, as
    log(M^{-1/2} I M^{-1/2}) = −log M comes from the eigendecomposition of M that also gives M^{±1/2}.
    """
    w = w.to(cands.dtype)
    w = w / w.sum(dim=-1, keepdim=True)
    w0 = w[:, 0, None, None, None, None]  # (E, 1, 1, 1, 1)
    wx = w[:, None, None, 1:, None, None]  # (E, 1, 1, K-1, 1, 1)
    X = cands[:, :, :, 1:]
    m = X.shape[-1]
    eye = torch.eye(m, dtype=X.dtype, device=X.device)
    M = (wx * X).sum(3) + w0 * eye
    for _ in range(iters):
        S, Si, LM = F.spectral_functions(M, ("sqrt", "invsqrt", "log"), check=False)
        T = (wx * F.logm(G.sandwich(Si.unsqueeze(3), X), check=False)).sum(3) - w0 * LM
        M = G.congruence(S, F.expm(T, check=False))
    return M


class MixedCell(nn.Module):
    """Supernet cell: every edge a mixed op, every node the Fréchet mean of its incoming edges."""

    def __init__(self, plan: dict, cfg: dict):
        super().__init__()
        C, d_in, d_out, kind, steps = plan["C"], plan["dim_in"], plan["dim_out"], plan["kind"], cfg["steps"]
        kw = dict(eps=cfg["eps"], bn_momentum=cfg["bn_momentum"], karcher_iters=cfg["karcher_iters"])
        pre = dict(eps=cfg["eps"], momentum=cfg["bn_momentum"], karcher_iters=cfg["karcher_iters"])
        self.kind, self.steps, self.iters = kind, steps, cfg["karcher_iters"]
        self.pre0 = Preprocess(plan["s0"][0], d_in, plan["s0"][1], C, **pre)
        self.pre1 = Preprocess(plan["s1"][0], d_in, plan["s1"][1], C, **pre)
        # edges reading the two cell inputs, for all nodes at once (ordered node-major)
        self.inputs = EdgeGroup(kind if kind == "reduce" else "normal", 2 * steps, C, d_in, d_out, **kw)
        # edges reading intermediate nodes 0..i-1, one group per node i >= 1
        self.inner = nn.ModuleList(EdgeGroup("normal", i, C, d_out, d_out, **kw) for i in range(1, steps))
        self._part_names = tuple(self.inputs.parts())

    def edge_index(self, node: int, j: int) -> int:
        """Row of the architecture parameters for the edge j -> node (DARTS order)."""
        return sum(i + 2 for i in range(node)) + j

    @staticmethod
    def _reeig(pre, s, cache):
        """ReEig of a cell input, shared by every reader of ``s`` via ``cache``."""
        hit = cache.get(id(s))
        if hit is not None and hit[0] is s:
            return hit[1]
        R = F.reeig(s, pre[0].eps, check=False)
        cache[id(s)] = (s, R)
        return R

    def _input_branch(self, bn, R, w_pre, mean_pre, bias_pre, w_mix, *tensors):
        """Edges reading one cell input, as a pure function of its tensors: BiMap -> BN of the
        preprocessing (settings of the module ``bn``), the candidates of those edges, their mixes."""
        X = bn.normalize(bimap(w_pre, R), mean_pre, bias_pre)
        return _mix(self.inputs(X[None], dict(zip(self._part_names, tensors))), w_mix, self.iters)

    def forward(self, s0, s1, weights, cache: dict | None = None):
        """Cell output (B, steps*C, m, m); ``cache`` (a dict kept for one network pass) shares ReEigs of inputs.

        With two or more spectral worker threads on the CPU the edges reading s0 and those reading s1
        (each with its input's preprocessing) run as two concurrent branches
        (:func:`spdnas.spd.parallel.branches`); otherwise all four in one batched computation.
        """
        cache = {} if cache is None else cache
        R = [self._reeig(self.pre0, s0, cache), self._reeig(self.pre1, s1, cache)]
        rows_in = [self.edge_index(i, j) for i in range(self.steps) for j in (0, 1)]
        if parallel_branches_enabled(*R):
            args = []
            for j, pre in enumerate((self.pre0, self.pre1)):
                parts = self.inputs.parts(slice(j, None, 2))
                args.append((pre[2], R[j], pre[1].weight, pre[2].running_mean, pre[2].bias, weights[rows_in[j::2]],
                             *(parts[name] for name in self._part_names)))
            H = branches(self._input_branch, args)  # per input: (steps, B, C, m, m), edges of nodes 0..steps-1
            h_in = torch.stack(H, dim=1).flatten(0, 1)  # edge 2*i + j reads input j
        else:
            s0, s1 = (pre[2](bimap(pre[1].weight, r)) for pre, r in zip((self.pre0, self.pre1), R))
            h_in = _mix(self.inputs(torch.stack([s0, s1], dim=0)), weights[rows_in], self.iters)  # (2*steps, B, C, m, m)
        nodes = []
        for i in range(self.steps):
            hs = h_in[2 * i: 2 * i + 2]
            if i > 0:
                rows = [self.edge_index(i, 2 + j) for j in range(i)]
                h_inner = _mix(self.inner[i - 1](torch.stack(nodes, dim=0)), weights[rows], self.iters)
                hs = torch.cat([hs, h_inner], dim=0)
            nodes.append(karcher_mean(hs, hs.new_ones(hs.shape[0], 1, 1), 0, self.iters))
        return torch.cat(nodes, dim=1)

    def edge_op(self, node: int, j: int, name: str) -> nn.Module:
        """Discrete op with the supernet parameters of edge j -> node."""
        if j < 2:
            return self.inputs.extract(2 * node + j, name)
        return self.inner[node - 1].extract(j - 2, name)


class SuperNet(nn.Module):
    """SPDNetNAS supernet over a network config (see :func:`spdnas.nas.model.net_config`).

    Architecture parameters ``alphas_normal``/``alphas_reduce`` (num_edges, 6), initialised
    1e-3·N(0, 1) as in DARTS; all other parameters are network weights.
    """

    def __init__(self, cfg: dict, weighting: str = "sparsemax"):
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ValueError(f"unknown weighting {weighting!r}; choose from {WEIGHTINGS}")
        self.config = net_config(**cfg)
        self.weighting = weighting
        plan = cell_plan(self.config)
        self.stem = Stem(self.config["in_dim"], self.config["C"], self.config["bn_momentum"],
                         self.config["karcher_iters"])
        self.cells = nn.ModuleList(MixedCell(p, self.config) for p in plan)
        self.head = Head(plan[-1]["out_channels"], plan[-1]["dim_out"], self.config["num_classes"])
        E = sum(i + 2 for i in range(self.config["steps"]))
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(E, len(NORMAL_OPS)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(E, len(REDUCE_OPS)))
        self.to(DTYPES[self.config["dtype"]])
        reproject_(self)

    ARCH_NAMES = ("alphas_normal", "alphas_reduce")
    #: torch intra-op threads the search uses at most (OpenMP only slows these small batched matrices;
    #: the search's spectral worker threads use the second core instead)
    intra_op_threads = 1

    def arch_parameters(self) -> list:
        return [self.alphas_normal, self.alphas_reduce]

    def named_weights(self):
        """(name, parameter) of all network weights (everything except the architecture parameters)."""
        return [(n, p) for n, p in self.named_parameters() if n not in self.ARCH_NAMES]

    def weights(self) -> list:
        return [p for _, p in self.named_weights()]

    def arch_weights(self) -> dict:
        """Mixture weights {'normal', 'reduce'} of shape (num_edges, 6)."""
        return {"normal": mix_weights(self.alphas_normal, self.weighting),
                "reduce": mix_weights(self.alphas_reduce, self.weighting)}

    def forward(self, X):
        X = prepare_input(X, self.config["in_dim"], self.head.fc.weight.dtype)
        # atanh/sinh Loewner forms in the backward where the torch forms run (non-CPU devices, no numba);
        # the CPU backward uses the compiled pass of spdnas.spd.loewner_kernel either way
        with F.fast_divided_differences(True):
            w = self.arch_weights()
            s0 = s1 = self.stem(X)
            cache: dict = {}
            for cell in self.cells:
                s0, s1 = s1, cell(s0, s1, w[cell.kind], cache)
            return self.head(s1)

    def head_dtype(self):
        return self.head.fc.weight.dtype

    def genotype(self) -> dict:
        """Discrete architecture by the DARTS rule on the current mixture weights."""
        with torch.no_grad():
            w = self.arch_weights()
        return derive_genotype(w["normal"], w["reduce"], self.config["steps"])
