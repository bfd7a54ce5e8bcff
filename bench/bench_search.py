"""Per-step time of the SPDNetNAS search: this package's batched supernet vs the official approach.

    python bench/bench_search.py [--batch 30] [--repeats 3] [--out metrics/bench_search.json]

"Official approach" is a minimal re-implementation, inside this file, of how the official code
(rheasukthanker/SPDNetNAS) evaluates the same RADAR supernet (20x20 -> 10x10, cells reduce/normal
with 2/4 channels, 5 edges x 6 ops per cell): eigen-functions by a Python loop of per-matrix SVDs
(autograd through each SVD), BiMaps looped over channels, Fréchet means looped over channels,
and sparsemax solved per row by an iterative Python projection (in place of a cvxpy layer, which
is not installed). Its DARTS step times are counted in forward+backward passes: first order =
2 passes (α on val, w on train), second order = 5 (virtual step, val at w', two Hessian-vector
passes, weight step). Our steps are measured end to end (Architect.step + weight step).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as tF

from spdnas.nas.model import net_config
from spdnas.nas.search import Architect, weight_step
from spdnas.nas.supernet import SuperNet
from spdnas.paths import atomic_write_text
from spdnas.spd import riemannian_optimizer, stiefel_init

# ------------------------------------------------------------------------------------------
# Official-style supernet (per-matrix loops)
# ------------------------------------------------------------------------------------------


def eig_loop(P, f):
    """U f(S) Uᵀ by one SVD per matrix in a Python loop (the official functional.py approach)."""
    shape = P.shape
    flat = P.reshape(-1, shape[-2], shape[-1])
    outs = []
    for i in range(flat.shape[0]):
        U, S, _ = torch.linalg.svd(flat[i])
        outs.append((U * f(S)) @ U.t())
    return torch.stack(outs).reshape(shape)


def logm_l(P):
    return eig_loop(P, torch.log)


def expm_l(P):
    return eig_loop(P, torch.exp)


def reeig_l(P):
    return eig_loop(P, lambda s: torch.clamp_min(s, 1e-4))


def sqrt_l(P):
    return eig_loop(P, torch.sqrt)


def isqrt_l(P):
    return eig_loop(P, torch.rsqrt)


def bimap_l(X, W):
    """X (B, Ci, n, n), W (Co, Ci, n, m): loops over channels (official nn.BiMap)."""
    Co, Ci = W.shape[:2]
    outs = []
    for o in range(Co):
        acc = 0
        for c in range(Ci):
            acc = acc + W[o, c].t() @ X[:, c] @ W[o, c]
        outs.append(acc)
    return torch.stack(outs, dim=1)


def bary_l(X, w):
    """Weighted Karcher mean of X (B, K, n, n) with weights w (B, K): arithmetic init + 1 step."""
    G = (X * w[:, :, None, None]).sum(1, keepdim=True)
    Gs, Gi = sqrt_l(G), isqrt_l(G)
    T = (logm_l(Gi @ X @ Gi) * w[:, :, None, None]).sum(1, keepdim=True)
    return Gs @ expm_l(T) @ Gs


def sparsemax_rows(z):
    """Per-row iterative simplex projection in Python (stand-in for a cvxpy layer per call)."""
    rows = []
    for r in range(z.shape[0]):
        v = z[r]
        lo, hi = float(v.detach().min()) - 1.0, float(v.detach().max())
        for _ in range(60):
            tau = 0.5 * (lo + hi)
            if float(torch.clamp_min(v.detach() - tau, 0).sum()) > 1:
                lo = tau
            else:
                hi = tau
        rows.append(torch.clamp_min(v - 0.5 * (lo + hi), 0))
    return torch.stack(rows)


class BNL(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.bias = nn.Parameter(torch.eye(n, dtype=torch.float64))

    def forward(self, X):  # (B, C, n, n): batch mean per channel
        outs = []
        for c in range(X.shape[1]):
            Xc = X[:, c].unsqueeze(0)
            G = bary_l(Xc, torch.full((1, X.shape[0]), 1.0 / X.shape[0], dtype=X.dtype))[0, 0]
            Gi = isqrt_l(G.unsqueeze(0))[0]
            Bs = sqrt_l(self.bias.unsqueeze(0))[0]
            outs.append(Bs @ Gi @ X[:, c] @ Gi @ Bs)
        return torch.stack(outs, 1)


def _w(Co, Ci, n, m):
    return nn.Parameter(stiefel_init(Co, Ci, n, m, dtype=torch.float64))


class OpsL(nn.Module):
    """The six candidates of one edge, official style."""

    def __init__(self, kind, C, n, m):
        super().__init__()
        self.kind, self.m = kind, m
        if kind == "normal":
            self.w = nn.ParameterList([_w(C, C, n, m) for _ in range(3)])
            self.bn = nn.ModuleList(BNL(m) for _ in range(3))
            self.pool = nn.Parameter(torch.rand(C, C, dtype=torch.float64))
        else:
            self.w = nn.ParameterList([_w(C, C, n, m) for _ in range(2)])
            self.bn = nn.ModuleList(BNL(m) for _ in range(4))
            self.s1, self.s2 = _w(C, C, n, m // 2), _w(C, C, n, m - m // 2)

    def forward(self, X):
        B, C = X.shape[:2]
        eye = torch.eye(self.m, dtype=X.dtype).expand(B, C, self.m, self.m)
        if self.kind == "normal":
            pw = sparsemax_rows(self.pool)
            wp = torch.cat([bary_l(X, pw[c].expand(B, C)) for c in range(C)], 1)
            b0 = self.bn[0](bimap_l(X, self.w[0]))
            b1 = reeig_l(self.bn[1](bimap_l(X, self.w[1])))
            b2 = self.bn[2](bimap_l(reeig_l(X), self.w[2]))
            return [eye, wp, b0, b1, b2, X]
        L = logm_l(X)
        avg = self.bn[0](expm_l(tF.adaptive_avg_pool2d(L, self.m)))
        mx = self.bn[1](expm_l(tF.adaptive_max_pool2d(L, self.m)))
        b1 = reeig_l(self.bn[2](bimap_l(X, self.w[0])))
        b2 = self.bn[3](bimap_l(reeig_l(X), self.w[1]))
        A, Bm = bimap_l(X, self.s1), bimap_l(X, self.s2)
        skip = torch.zeros(B, C, self.m, self.m, dtype=X.dtype)
        a = A.shape[-1]
        skip = torch.cat([torch.cat([A, skip[..., :a, a:]], -1), torch.cat([skip[..., a:, :a], Bm], -1)], -2)
        return [eye, avg, mx, b1, b2, skip]


def mixed_l(outs, w):
    """Official MixedOp: per channel, Karcher mean over the six candidates."""
    B, C = outs[0].shape[:2]
    res = []
    for c in range(C):
        S = torch.stack([o[:, c] for o in outs], 1)
        res.append(bary_l(S, w.expand(B, -1)))
    return torch.cat(res, 1)


class CellL(nn.Module):
    def __init__(self, kind, s0, s1, C, n, m):
        super().__init__()
        self.kind = kind
        self.p0w, self.p1w = _w(C, s0[1], s0[0], n), _w(C, s1[1], s1[0], n)
        self.p0bn, self.p1bn = BNL(n), BNL(n)
        self.edges = nn.ModuleList()
        for i in range(2):
            for j in range(i + 2):
                red = kind == "reduce" and j < 2
                self.edges.append(OpsL("reduce" if red else "normal", C, n if red else m, m))

    def forward(self, s0, s1, W):
        st = [self.p0bn(bimap_l(reeig_l(s0), self.p0w)), self.p1bn(bimap_l(reeig_l(s1), self.p1w))]
        e = 0
        for i in range(2):
            hs = []
            for j, h in enumerate(st):
                hs.append(mixed_l(self.edges[e](h), W[e:e + 1]))
                e += 1
            B, C = hs[0].shape[:2]
            k = len(hs)
            st.append(torch.cat([bary_l(torch.stack([h[:, c] for h in hs], 1),
                                        torch.full((B, k), 1.0 / k, dtype=hs[0].dtype)) for c in range(C)], 1))
        return torch.cat(st[2:], 1)


class OfficialStyleNet(nn.Module):
    def __init__(self, n=20, m=10, classes=3):
        super().__init__()
        self.stem_w, self.stem_bn = _w(1, 1, n, n), BNL(n)
        self.c0 = CellL("reduce", (n, 1), (n, 1), 2, n, m)
        self.c1 = CellL("normal", (n, 1), (m, 4), 4, m, m)
        self.fc = nn.Linear(8 * m * m, classes).double()
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(5, 6, dtype=torch.float64))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(5, 6, dtype=torch.float64))

    def forward(self, X):
        s = self.stem_bn(bimap_l(X.unsqueeze(1), self.stem_w))
        s0, s1 = s, self.c0(s, s, sparsemax_rows(self.alphas_reduce))
        s2 = self.c1(s0, s1, sparsemax_rows(self.alphas_normal))
        return self.fc(logm_l(s2).flatten(1))


# ------------------------------------------------------------------------------------------


def radar_like(B, n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(B, n, 2 * n, generator=g, dtype=torch.float64)
    return A @ A.transpose(-1, -2) / (2 * n) + 1e-3 * torch.eye(n, dtype=torch.float64), torch.arange(B) % 3


def timed(fn, repeats):
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts), ts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--official-repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    X, y = radar_like(2 * a.batch)
    xt, yt, xv, yv = X[:a.batch], y[:a.batch], X[a.batch:], y[a.batch:]
    res = {"batch": a.batch, "threads": a.threads, "dtype": a.dtype}

    torch.manual_seed(0)
    ours = SuperNet(net_config("radar", dtype=a.dtype))
    dt = ours.head_dtype()
    xt_, xv_ = xt.to(dt), xv.to(dt)
    opt = riemannian_optimizer(ours.weights(), "sgd", lr=0.025, momentum=0.9)
    arches = {o: Architect(ours, o) for o in (1, 2)}

    def our_pass():
        ours.train()
        tF.cross_entropy(ours(xt_), yt).backward()

    def our_step(order):
        arches[order].step(xt_, yt, xv_, yv, 0.025)
        weight_step(ours, opt, xt_, yt, 5.0)

    our_pass()  # warm-up
    res["ours_pass_s"], _ = timed(our_pass, a.repeats)
    res["ours_first_order_step_s"], _ = timed(lambda: our_step(1), a.repeats)
    res["ours_second_order_step_s"], _ = timed(lambda: our_step(2), a.repeats)

    torch.manual_seed(0)
    off = OfficialStyleNet()

    def off_pass():
        tF.cross_entropy(off(xt), yt).backward()

    res["official_pass_s"], _ = timed(off_pass, a.official_repeats)
    res["official_first_order_step_s"] = 2 * res["official_pass_s"]
    res["official_second_order_step_s"] = 5 * res["official_pass_s"]
    res["speedup_first_order"] = res["official_first_order_step_s"] / res["ours_first_order_step_s"]
    res["speedup_second_order"] = res["official_second_order_step_s"] / res["ours_second_order_step_s"]
    steps = (1500 // 30) * 20  # RADAR protocol: 1500 training samples, batch 30, 20 search epochs
    res["radar_full_search_projection_min"] = steps * res["ours_second_order_step_s"] / 60
    rows = [("fwd+bwd pass", "pass"), ("first-order step", "first_order_step"), ("second-order step", "second_order_step")]
    print(f"{'':20s} {'official-style (s)':>18s} {'ours (s)':>10s} {'ratio':>8s}")
    for label, key in rows:
        o, u = res[f"official_{key}_s"], res[f"ours_{key}_s"]
        print(f"{label:20s} {o:18.3f} {u:10.3f} {o / u:8.1f}x")
    print(f"projected full RADAR search (1000 second-order steps): {res['radar_full_search_projection_min']:.1f} min")
    if a.out:
        atomic_write_text(a.out, json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
