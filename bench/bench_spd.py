"""Benchmark the SPD layer library against raw eigh, plain autograd and spd-learn, in one run.

Prints ratios (never asserts): each spectral function's forward+backward time divided by
``torch.linalg.eigh`` forward alone (target <= 1.3), and SPDNet / SPDNetBN training steps
(HDM05-like 93→70→50→30, batch 30) against spd-learn's equivalent models (target: ours faster);
SPDNetBN also with ``detach_mean=True``, the computation spd-learn's batch norm does (no gradient
through the batch Karcher mean; ours differentiates through it by default).
With ``--threads`` t (a thread budget), the peers (raw eigh, autograd, spd-learn) run with t
torch intra-op threads, spdnas with t spectral worker threads and one intra-op thread
(``spdnas.spd.functional.eigh_workers``); torch's own batched ``eigh`` stays a serial loop.
Each timed call alternates with its reference (``eigh`` forward / the spd-learn step) round by round,
and the ratio is the median of the per-round ratios, so drifting machine load hits both alike.
Ratios are also given against the fastest reference time over all budgets ("vs best").

    python bench/bench_spd.py [--quick] [--threads 1 2] [--out metrics/bench_spd.json]

The same code runs on CUDA with ``--device cuda``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

warnings.filterwarnings("ignore", category=DeprecationWarning)

import spdnas.spd as S  # noqa: E402
from spdnas.core.io import atomic_write_text

SHAPES = [(256, 20), (64, 93), (8, 400)]
FUNCS = {
    "logm": S.logm,
    "expm": S.expm,
    "sqrtm": S.sqrtm,
    "invsqrtm": S.invsqrtm,
    "powm(0.5)": lambda X, check=False: S.powm(X, 0.5, check=check),
    "reeig": lambda X, check=False: S.reeig(X, 1e-4, check=check),
}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def paired(fn, ref, device, repeats: int, warmup: int = 2):
    """Time fn and its reference alternately, round by round, so that drifting machine load hits
    both alike. Returns (median fn seconds, median of the per-round ratios fn/ref, the ref times)."""
    for _ in range(warmup):
        ref()
        fn()
    _sync(device)
    t_fn, t_ref = [], []
    for _ in range(repeats):
        for f, out in ((ref, t_ref), (fn, t_fn)):
            t0 = time.perf_counter()
            f()
            _sync(device)
            out.append(time.perf_counter() - t0)
    return statistics.median(t_fn), statistics.median(a / b for a, b in zip(t_fn, t_ref)), t_ref


_THREADS = 1


@contextlib.contextmanager
def ours_threads():
    """spdnas's configuration for the current thread budget: _THREADS spectral worker threads and
    one intra-op thread (OpenMP only slows these small batched matrices); the peers get torch's
    only knob, _THREADS intra-op threads."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with S.functional.eigh_workers(_THREADS):
            yield
    finally:
        torch.set_num_threads(old)


def rand_spd(B, n, dtype, device, gen):
    A = torch.randn(B, n, n, dtype=torch.float64, generator=gen)
    X = A @ A.transpose(-1, -2) / n + 0.1 * torch.eye(n, dtype=torch.float64)
    return X.to(dtype=dtype, device=device)


def bench_functions(dtype, device, repeats, gen, shapes):
    """Rows of (function, shape, seconds, ratio to eigh forward)."""
    import spd_learn.functional as SL

    peers = {"logm": SL.matrix_log, "expm": SL.matrix_exp, "sqrtm": SL.matrix_sqrt,
             "invsqrtm": SL.matrix_inv_sqrt}
    rows = []
    for B, n in shapes:
        X = rand_spd(B, n, dtype, device, gen)
        G = torch.randn_like(X)
        shape = f"{B}x{n}²"

        def eigh():
            torch.linalg.eigh(X)

        ref_times = []

        def add(op, fn):
            t, ratio, refs = paired(fn, eigh, device, repeats)
            ref_times.extend(refs)
            rows.append({"op": op, "shape": shape, "seconds": t, "ratio": ratio})

        if S.small_eigh.supports(X):
            # the eigensolver our functions use for small CPU matrices (compiled kernel, one thread)
            add("eigh (spdnas small-matrix kernel)", lambda: S.small_eigh.eigh(X))

        def naive():
            Xr = X.detach().requires_grad_()
            L, U = torch.linalg.eigh(Xr)
            Y = (U * torch.log(L).unsqueeze(-2)) @ U.transpose(-1, -2)
            Y.backward(G)

        add("logm via autograd(eigh)", naive)
        for name, f in FUNCS.items():
            def run(f=f):
                Xr = X.detach().requires_grad_()
                with ours_threads():
                    f(Xr, check=False).backward(G)

            add(f"{name} fwd+bwd (spdnas)", run)
            if name in peers:
                def run_peer(p=peers[name]):
                    Xr = X.detach().requires_grad_()
                    p.apply(Xr).backward(G)

                add(f"{name} fwd+bwd (spd-learn)", run_peer)
        # the reference row: every eigh time measured for this shape
        rows.insert(len(rows) - sum(r["shape"] == shape for r in rows),
                    {"op": "eigh (forward only)", "shape": shape, "seconds": statistics.median(ref_times),
                     "ratio": 1.0, "ref": True})
    return rows


def _spdlearn_net(dims, num_classes, bn, dtype, device):
    import spd_learn.modules as M

    layers = []
    for i, (a, b) in enumerate(zip(dims, dims[1:])):
        layers.append(M.BiMap(a, b, dtype=dtype, device=device))
        if bn:
            layers.append(M.SPDBatchNormMean(b, dtype=dtype, device=device))
        if i < len(dims) - 2:
            layers.append(M.ReEig(dtype=dtype, device=device))
    layers.append(M.LogEig(upper=True, flatten=True, dtype=dtype, device=device))
    layers.append(torch.nn.Linear(dims[-1] * (dims[-1] + 1) // 2, num_classes, dtype=dtype, device=device))
    return torch.nn.Sequential(*layers)


def bench_models(dtype, device, repeats, gen, batch=30, dims=(93, 70, 50, 30), num_classes=117):
    """Training-step time (forward + backward + optimiser step) of ours vs spd-learn."""
    X = rand_spd(batch, dims[0], dtype, device, gen).unsqueeze(1)
    y = torch.randint(0, num_classes, (batch,), generator=gen).to(device)
    rows = []
    # SPDNetBN twice: ours by default differentiates through the batch Karcher mean; spd-learn's
    # SPDBatchNormMean detaches it, which ``detach_mean=True`` matches (the same computation)
    peer_times = {}
    for bn, detach in ((False, False), (True, False), (True, True)):
        name = "SPDNetBN" if bn else "SPDNet"
        ref = f"{name} train step (spd-learn)"
        if not detach:
            peer = _spdlearn_net(dims, num_classes, bn, dtype, device)
            popt = torch.optim.SGD(peer.parameters(), lr=1e-2)

            def step_peer(peer=peer, popt=popt):
                popt.zero_grad()
                torch.nn.functional.cross_entropy(peer(X[:, 0]), y).backward()
                popt.step()

        ours = (S.SPDNetBN(dims, num_classes, detach_mean=detach) if bn else S.SPDNet(dims, num_classes))
        ours = ours.to(device=device, dtype=dtype)
        opt = S.riemannian_optimizer(ours, "sgd", lr=1e-2)

        def step_ours(ours=ours, opt=opt):
            with S.checks(False), ours_threads():
                opt.zero_grad()
                torch.nn.functional.cross_entropy(ours(X), y).backward()
                opt.step()

        t_ours, ratio, refs = paired(step_ours, step_peer, device, repeats)
        peer_times.setdefault(ref, []).extend(refs)
        label = f"{name} train step (spdnas)" if not detach else f"{name} train step, mean detached (spdnas)"
        rows.append({"op": label, "shape": f"{batch}x{dims[0]}²", "seconds": t_ours, "ratio": ratio, "ref_op": ref})
    for ref, ts in peer_times.items():  # the reference rows: every time of that spd-learn step
        at = next(i for i, r in enumerate(rows) if r["ref_op"] == ref)
        rows.insert(at, {"op": ref, "shape": f"{batch}x{dims[0]}²", "seconds": statistics.median(ts), "ratio": 1.0,
                         "ref": True, "ref_op": ref})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="skip the 8x400² shape")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None, help="write results as JSON (atomic)")
    ap.add_argument("--table", type=Path, default=None, help="write a markdown summary table (atomic)")
    ap.add_argument("--from-params", action="store_true",
                    help="take threads/dtypes/repeats/quick from params.yaml section bench_spd (active profile)")
    args = ap.parse_args(argv)
    if args.from_params:
        from spdnas.core.params import stage_params

        p = stage_params("bench_spd")
        args.threads, args.dtypes, args.repeats, args.quick = p["threads"], p["dtypes"], p["repeats"], p["quick"]
    device = torch.device(args.device)
    repeats = args.repeats
    shapes = SHAPES[:2] if args.quick else SHAPES
    results = []
    global _THREADS
    for threads in args.threads:
        torch.set_num_threads(threads)
        _THREADS = threads
        for dt in args.dtypes:
            dtype = getattr(torch, dt)
            gen = torch.Generator().manual_seed(0)
            for row in bench_functions(dtype, device, repeats, gen, shapes) + bench_models(dtype, device, repeats, gen):
                row.update(threads=threads, dtype=dt, device=str(device))
                results.append(row)
                print(f"{threads}t {dt:7s} {row['shape']:>9s}  {row['op']:32s} {row['seconds'] * 1e3:9.2f} ms"
                      f"  ratio {row['ratio']:6.2f}", flush=True)
    # ratios against the best peer time over all thread budgets of this run: more intra-op threads
    # can make torch's eigh and spd-learn slower, which would flatter the per-budget ratio
    best = {}
    for r in results:
        if r.get("ref"):  # the reference rows: eigh forward, spd-learn steps
            k = (r["dtype"], r["shape"], r["op"])
            best[k] = min(best.get(k, float("inf")), r["seconds"])
    for r in results:
        ref = r.get("ref_op", "eigh (forward only)")
        r["ratio_best"] = r["seconds"] / best[(r["dtype"], r["shape"], ref)]
    meta = {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor(), "device": str(device)}
    if args.out:
        atomic_write_text(args.out, json.dumps({"meta": meta, "results": results}, indent=1))
    if args.table:
        atomic_write_text(args.table, markdown_table(results, meta))
    return results


def markdown_table(results, meta) -> str:
    """Markdown table of the results (ratios: to eigh forward for functions, to spd-learn for models)."""
    lines = [f"torch {meta['torch']}, {meta['device']}, {meta['machine']}", "",
             "ratio: to the reference (eigh forward / spd-learn step) measured with the same thread budget; "
             "best: to the reference's fastest time over all budgets of the run.", "",
             "| threads | dtype | shape | op | ms | ratio | ratio vs best |", "|---|---|---|---|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['threads']} | {r['dtype']} | {r['shape']} | {r['op']} | {r['seconds'] * 1e3:.2f} | "
                     f"{r['ratio']:.2f} | {r['ratio_best']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
