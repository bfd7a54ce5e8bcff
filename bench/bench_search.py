"""Per-step time of the SPDNetNAS search: this package's batched supernet vs the official approach.

    python bench/bench_search.py [--batch 30] [--repeats 5] [--threads 1 2] [--backends auto torch]
                                 [--products auto] [--dtypes float64 float32] [--out FILE]

"Official approach" is a minimal re-implementation, inside this file, of how the official code
(rheasukthanker/SPDNetNAS) evaluates the same RADAR supernet (20x20 -> 10x10, cells reduce/normal
with 2/4 channels, 5 edges x 6 ops per cell): eigen-functions by a Python loop of per-matrix SVDs
(autograd through each SVD), BiMaps looped over channels, Fréchet means looped over channels,
and sparsemax solved per row by an iterative Python projection (in place of a cvxpy layer, which
is not installed). Its DARTS step times are counted in forward+backward passes: first order =
2 passes (α on val, w on train), second order = 5 (virtual step, val at w', two Hessian-vector
passes, weight step). Our steps are measured end to end (Architect.step + weight step), in
float64 and float32.

Times are wall-clock medians; the configurations — thread budgets (``--threads``: t spectral worker
threads; for t > 1 the two Hessian-vector passes of a second-order step run concurrently and every
other pass splits each cell into two concurrent branches, as ``spdnas.nas.search`` does with its
default ``threads=2``) times eigensolvers (``--backends``: 'auto',
the compiled small-matrix kernel of ``spdnas.spd.small_eigh``, and 'torch', LAPACK through
``torch.linalg.eigh``) times product backends (``--products``: 'auto', the congruences of
``spdnas.spd.products`` in NumPy's BLAS, the default; 'torch', ``torch.matmul``) — are measured
interleaved round by round, so load drifting on a shared machine hits them alike. The table also
gives eigendecompositions (SVDs for the official style) per forward pass and the eigh floor:
matrices per pass x the per-matrix eigensolver time (of the configuration's backend) measured in
the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as tF

from spdnas.nas.model import net_config
from spdnas.nas.search import Architect, weight_step
from spdnas.nas.supernet import SuperNet
from spdnas.core.io import atomic_write_text
from spdnas.spd import functional as SF
from spdnas.spd import runtime as SR
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


class count_eigh:
    """Counts matrices passed to torch.linalg.eigh / torch.linalg.svd (per size) while active."""

    def __enter__(self):
        self.counts, self._orig = {}, (torch.linalg.eigh, torch.linalg.svd)

        def wrap(fn):
            def inner(A, *a, **k):
                c = self.counts.setdefault(int(A.shape[-1]), [0, 0])
                c[0] += 1
                c[1] += math.prod(A.shape[:-2])
                return fn(A, *a, **k)
            return inner

        torch.linalg.eigh, torch.linalg.svd = wrap(self._orig[0]), wrap(self._orig[1])
        return self

    def __exit__(self, *exc):
        torch.linalg.eigh, torch.linalg.svd = self._orig

    def summary(self):
        return {f"{n}x{n}": {"calls": c, "matrices": m} for n, (c, m) in sorted(self.counts.items())}


def timed(fn, repeats, clock):
    """Median and min of ``repeats`` timings of fn() (after one warm-up call)."""
    fn()
    ts = []
    for _ in range(repeats):
        t = clock()
        fn()
        ts.append(clock() - t)
    return statistics.median(ts), min(ts)


def eigh_unit_times(dtype, clock, backend="torch", repeats=5):
    """Per-matrix batched eigh time (s) for 10x10 and 20x20 SPD matrices: LAPACK through
    ``torch.linalg.eigh`` (backend 'torch') or the eigensolver the spectral functions use ('auto')."""
    out = {}
    for n, N in ((10, 2000), (20, 300)):
        A = torch.randn(N, n, 2 * n, dtype=torch.float64)
        X = (A @ A.transpose(-1, -2) / (2 * n)).to(dtype)
        with SF.eigh_backend(backend):
            out[n] = timed(lambda: SR.spectral_eigh(X), repeats, clock)[0] / N
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--official-repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="spectral worker threads of our supernet, one measurement each (intra-op: 1, as the search)")
    ap.add_argument("--backends", nargs="+", default=list(SF.EIGH_BACKENDS), choices=SF.EIGH_BACKENDS,
                    help="eigensolvers of our supernet ('auto': compiled kernel for small matrices, 'torch': LAPACK)")
    ap.add_argument("--products", nargs="+", default=["auto"], choices=SF.PRODUCT_BACKENDS,
                    help="backends of the congruences ('auto': NumPy's BLAS on the CPU, 'torch': torch.matmul)")
    ap.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    ap.add_argument("--skip-official", action="store_true", help="only measure this package's supernet")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    if a.batch < 1 or a.repeats < 1 or min(a.threads) < 1:
        raise ValueError("--batch, --repeats and --threads must be positive")
    torch.set_num_threads(1)
    X, y = radar_like(2 * a.batch)
    xt, yt, xv, yv = X[:a.batch], y[:a.batch], X[a.batch:], y[a.batch:]
    steps = (1500 // 30) * 20  # RADAR protocol: 1500 training samples, batch 30, 20 search epochs
    configs = [(t, b, p) for t in a.threads for b in a.backends for p in a.products]
    res = {"batch": a.batch, "threads": a.threads, "backends": a.backends, "products": a.products,
           "repeats": a.repeats, "clock": "perf_counter",
           "load_average_start": os.getloadavg()[0], "ours": {}}

    models = {}
    for dtype in ("float64", "float32"):  # float32 starts from the float64 net's weights
        torch.manual_seed(0)
        net = SuperNet(net_config("radar", dtype=dtype))
        if dtype == "float32":  # identical weights to the float64 net
            net.load_state_dict({k: v.float() if v.is_floating_point() else v
                                 for k, v in models["float64"].state_dict().items()})
        models[dtype] = net
    # float32 accuracy: second-order α-gradients at identical weights vs float64 (before any timed step)
    g = {}
    for dtype, net in models.items():
        torch.manual_seed(1)
        dt = net.head_dtype()
        with SF.checks(False):
            g[dtype] = Architect(net, 2).arch_grads(xt.to(dt), yt, xv.to(dt), yv, 0.025)
    num = sum(float((a64 - a32.double()).norm() ** 2) for a64, a32 in zip(g["float64"], g["float32"]))
    den = sum(float(a64.norm() ** 2) for a64 in g["float64"])
    res["float32_second_order_alpha_grad_rel_err"] = math.sqrt(num / den)

    for dtype, net in ((d, m) for d, m in models.items() if d in a.dtypes):
        dt = net.head_dtype()
        xt_, xv_ = xt.to(dt), xv.to(dt)
        opt = riemannian_optimizer(net.weights(), "sgd", lr=0.025, momentum=0.9)
        arches = {o: Architect(net, o) for o in (1, 2)}

        def our_pass():
            net.train()
            net.zero_grad(set_to_none=True)
            tF.cross_entropy(net(xt_), yt).backward()

        def our_step(order):
            with SF.checks(False):  # as in spdnas.nas.search.run_search: inputs validated once
                arches[order].step(xt_, yt, xv_, yv, 0.025)
                weight_step(net, opt, xt_, yt, 5.0)

        jobs = {"pass": our_pass, "first_order_step": lambda: our_step(1), "second_order_step": lambda: our_step(2)}
        # configurations (thread budget, eigensolver) interleaved round by round, so drifting
        # machine load hits them alike
        times = {c: {k: [] for k in jobs} for c in configs}
        for t, b, p in configs:
            with SF.eigh_workers(t), SF.eigh_backend(b), SF.product_backend(p):
                for fn in jobs.values():
                    fn()  # warm-up (also compiles the eigensolver kernel)
        for _ in range(a.repeats):
            for t, b, p in configs:
                with SF.eigh_workers(t), SF.eigh_backend(b), SF.product_backend(p):
                    for k, fn in jobs.items():
                        t0 = time.perf_counter()
                        fn()
                        times[(t, b, p)][k].append(time.perf_counter() - t0)
        with count_eigh() as ce, SF.eigh_backend("torch"):  # every decomposition through torch.linalg.eigh
            our_pass()
        per_pass = ce.summary()
        units = {b: eigh_unit_times(dt, time.perf_counter, b) for b in a.backends}
        for t, b, p in configs:
            unit = units[b]
            floor = sum(v["matrices"] * unit[int(k.split("x")[0])] for k, v in per_pass.items())
            r = {"eigh_per_pass": per_pass, "eigh_unit_s": {f"{n}x{n}": u for n, u in unit.items()},
                 "eigh_floor_pass_s": floor, "eigh_floor_second_order_step_s": 5 * floor}
            for k, v in times[(t, b, p)].items():
                r[f"{k}_s"], r[f"{k}_min_s"] = statistics.median(v), min(v)
            r["radar_full_search_projection_min"] = steps * r["second_order_step_s"] / 60
            res["ours"][f"{dtype}/{t}t/{b}" + ("" if p == "auto" else f"/{p}-products")] = r

    if not a.skip_official:
        torch.manual_seed(0)
        off = OfficialStyleNet()

        def off_pass():
            off.zero_grad(set_to_none=True)
            tF.cross_entropy(off(xt), yt).backward()

        with count_eigh() as ce:
            off_pass()
        res["official_svd_per_pass"] = ce.summary()
        res["official_pass_s"], _ = timed(off_pass, a.official_repeats, time.perf_counter)
        res["official_first_order_step_s"] = 2 * res["official_pass_s"]
        res["official_second_order_step_s"] = 5 * res["official_pass_s"]
        res["official_radar_full_search_projection_min"] = steps * res["official_second_order_step_s"] / 60
        for order in ("first", "second"):  # against our fastest configuration
            key = f"{order}_order_step_s"
            res[f"speedup_{order}_order"] = res[f"official_{key}"] / min(r[key] for r in res["ours"].values())
    res["load_average_end"] = os.getloadavg()[0]

    def mats(d):
        return " + ".join(f"{v['matrices']} ({k})" for k, v in d.items())

    cols = list(res["ours"])
    off_ok = not a.skip_official
    print(f"RADAR supernet, batch {a.batch}, wall-time medians of {a.repeats} (thread budgets interleaved); "
          f"load average {res['load_average_start']:.1f} -> {res['load_average_end']:.1f}")
    head = f"{'':36s} {'official-style':>15s}" + "".join(f" {c:>15s}" for c in cols)
    print(head)
    print("-" * len(head))
    rows = [("fwd+bwd pass (s)", "pass"), ("first-order step (s)", "first_order_step"),
            ("second-order step (s)", "second_order_step")]
    for label, key in rows:
        o = f"{res[f'official_{key}_s']:15.3f}" if off_ok else f"{'-':>15s}"
        print(f"{label:36s} {o}" + "".join(f" {res['ours'][c][f'{key}_s']:15.3f}" for c in cols))
    o = f"{res['official_radar_full_search_projection_min']:15.1f}" if off_ok else f"{'-':>15s}"
    print(f"{'full RADAR search, 1000 steps (min)':36s} {o}"
          + "".join(f" {res['ours'][c]['radar_full_search_projection_min']:15.1f}" for c in cols))
    print(f"{'eigh floor, second-order step (s)':36s} {'-':>15s}"
          + "".join(f" {res['ours'][c]['eigh_floor_second_order_step_s']:15.3f}" for c in cols))
    if off_ok:
        o64 = res["ours"][cols[0]]
        print(f"eigendecompositions per pass: official-style {mats(res['official_svd_per_pass'])} SVDs; "
              f"ours ({cols[0]}) {mats(o64['eigh_per_pass'])} matrices in "
              f"{sum(v['calls'] for v in o64['eigh_per_pass'].values())} batched eigh calls")
        print(f"speed-up vs official style (best of ours): first order {res['speedup_first_order']:.1f}x, "
              f"second order {res['speedup_second_order']:.1f}x")
    print(f"float32 second-order alpha-gradient relative error vs float64: "
          f"{res['float32_second_order_alpha_grad_rel_err']:.1e}")
    if a.out:
        atomic_write_text(a.out, json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
