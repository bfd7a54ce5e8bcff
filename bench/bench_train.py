"""Training step of the trained networks against the eigendecompositions it needs.

Usage: ``python bench/bench_train.py [--repeats 15] [--threads 1] [--device cpu|cuda] [--out FILE]``.

For each network of the experiments (derived SPDNetNAS cells on RADAR-sized and HDM05-sized
inputs, SPDNet, SPDNetBN; batch 30, float64, one torch thread by default as on the experiment
workers) it times one training step as ``spdnas.core.trainer.fit`` runs it (zero_grad, forward,
cross-entropy, backward, Riemannian SGD step) and one evaluation forward, and records every
eigendecomposition the step makes (``spectral_eigh`` calls of the spectral functions, and the
``eigvalsh`` of the input check). The *eigh floor* replays exactly those calls (same shapes, same
backend) on SPD matrices; steps and floor alternate round by round and the ratio is the median of
the per-round ratios (drifting load hits both alike). The *products floor* replays, the same way,
every matrix product the step makes (``bmm``/``mm``/``baddbmm``/``addmm`` operand shapes from the torch
profiler) with torch and with NumPy: (eigh floor + products) / eigh floor is a lower bound of the
ratio for a step made of these decompositions and products (recorded with the product backend
'torch', so that the congruences that the default backend computes in NumPy are among them). The
step is also timed with every congruence through ``torch.matmul`` (product backend 'torch'), to show
what :mod:`spdnas.spd.products` saves, and, for the derived cells, edge by edge (``grouped = False``:
each edge and node mean its own spectral calls) to show what the grouped rounds of
:class:`spdnas.nas.model.DiscreteCell` save. Numbers only, no asserts.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as tF

# the default profile's radar sparsemax cell (tables/search_genotypes.csv) and SPDNetNAS (R) seed 0's
SEARCHED = {"normal": [["Skip", 0], ["WeightedPooling", 1], ["Skip", 0], ["Skip", 2]],
            "reduce": [["Skip_reduced", 0], ["Skip_reduced", 1], ["Skip_reduced", 0], ["Skip_reduced", 1]],
            "normal_concat": [2, 3], "reduce_concat": [2, 3]}


def _spd(shape, dtype, device, rng):
    n = shape[-1]
    A = torch.as_tensor(rng.standard_normal((*shape[:-2], n, n + 2)), dtype=dtype, device=device)
    return A @ A.mT / (n + 2) + 1e-3 * torch.eye(n, dtype=dtype, device=device)


DATASETS = (("radar_sim", 20, 3), ("hdm05", 93, 11))


def genotype_label(path: str) -> str:
    """'<dataset>/<weighting>' of a search's genotype.json (its two parent folders), else the file stem."""
    p = Path(path)
    return "/".join(p.parent.parts[-2:]) if p.name == "genotype.json" else p.stem


def networks(device: str, genotypes=(), genotype_dataset: str = "radar_sim"):
    """(name, model, X, y) of every benchmarked network (batch 30); ``genotypes``: genotype.json
    files (e.g. a paper run's searched cells) benchmarked on ``genotype_dataset``'s input size
    in place of the built-in cells."""
    from spdnas.experiments.setup import baseline_dims, net_for
    from spdnas.nas import build_network, load_genotype, sample_genotype
    from spdnas.spd import SPDNet

    rng = np.random.default_rng(0)
    out = []
    for ds, n, k in DATASETS:
        X = _spd((30, n, n), torch.float64, device, rng)
        y = torch.as_tensor(rng.integers(0, k, 30), device=device)
        net = net_for(ds, n, k)
        if genotypes:
            if ds == genotype_dataset:
                for path in genotypes:
                    g = load_genotype(path)
                    out.append((f"SPDNetNAS {genotype_label(path)} cell, {ds} {n}x{n}",
                                build_network(g, net, seed=0).to(device), X, y))
            continue
        cells = [("random cell", sample_genotype(np.random.default_rng(10_000), net["steps"]))]
        if ds == "radar_sim":
            cells.insert(0, ("searched cell", SEARCHED))
        for label, g in cells:
            out.append((f"SPDNetNAS {label}, {ds} {n}x{n}", build_network(g, net, seed=0).to(device), X, y))
        for bn in (False, True):
            torch.manual_seed(0)
            m = SPDNet(baseline_dims(ds, n), k, batchnorm=bn).double().to(device)
            out.append((f"{'SPDNetBN' if bn else 'SPDNet'}, {ds} {n}x{n}", m, X, y))
    return out


class _Recorder:
    """Records the shapes of every eigendecomposition made while active."""

    def __init__(self):
        from spdnas.spd import runtime

        self.runtime, self.calls = runtime, []

    def __enter__(self):
        self._eigh, self._evals = self.runtime.spectral_eigh, torch.linalg.eigvalsh
        rec = self.calls

        def eigh(X):
            rec.append(("eigh", tuple(X.shape)))
            return self._eigh(X)

        def eigvalsh(X, *a, **kw):
            rec.append(("eigvalsh", tuple(X.shape)))
            return self._evals(X, *a, **kw)

        self.runtime.spectral_eigh, torch.linalg.eigvalsh = eigh, eigvalsh
        return self

    def __exit__(self, *exc):
        self.runtime.spectral_eigh, torch.linalg.eigvalsh = self._eigh, self._evals


PRODUCTS = {"aten::bmm": (0, 1), "aten::mm": (0, 1), "aten::baddbmm": (1, 2), "aten::addmm": (1, 2)}


def _products(step) -> list[tuple[tuple, tuple]]:
    """The operand shapes of every matrix product (bmm / mm / baddbmm / addmm) one call of ``step`` makes."""
    from torch.profiler import profile

    with profile(record_shapes=True) as p:
        step()
    out = []
    for e in p.events():
        if e.name in PRODUCTS:
            i, j = PRODUCTS[e.name]
            out.append((tuple(e.input_shapes[i]), tuple(e.input_shapes[j])))
    return out


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def bench_network(name, model, X, y, repeats: int, device: str) -> dict:
    from spdnas.nas.model import DiscreteCell
    from spdnas.spd import runtime
    from spdnas.spd.optim import riemannian_optimizer

    opt = riemannian_optimizer(model, "sgd", lr=1e-3, weight_decay=3e-4, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = tF.cross_entropy(model(X), y)
        loss.backward()
        opt.step()
        _sync(device)

    def evaluate():
        with torch.no_grad():
            model(X)
        _sync(device)

    model.train()
    step()
    with _Recorder() as r:
        step()
    model.eval()
    with _Recorder() as re_:
        evaluate()
    def step_torch_products():  # the same step with every congruence through torch.matmul (MKL)
        with runtime.product_backend("torch"):
            step()

    cells = [m for m in model.modules() if isinstance(m, DiscreteCell)]

    def step_edge_by_edge():  # derived cells: the same step with each edge and node computed on its own
        for c in cells:
            c.grouped = False
        try:
            step()
        finally:
            for c in cells:
                del c.grouped

    model.train()
    with _Recorder() as r_edge:
        step_edge_by_edge()

    model.train()
    with runtime.product_backend("torch"):  # every product of the step as a torch product, to replay
        prods = _products(step)
    rng = np.random.default_rng(1)
    pairs = [(torch.as_tensor(rng.standard_normal(a), dtype=X.dtype, device=device),
              torch.as_tensor(rng.standard_normal(b), dtype=X.dtype, device=device)) for a, b in prods]
    np_pairs = [(x.cpu().numpy(), y.cpu().numpy()) for x, y in pairs]

    def products_torch():
        for x, y in pairs:
            torch.bmm(x, y) if x.dim() == 3 else torch.mm(x, y)
        _sync(device)

    def products_numpy():
        for x, y in np_pairs:
            np.matmul(x, y)
    mats = [(kind, _spd(shape, X.dtype, device, rng)) for kind, shape in r.calls]
    eval_mats = [(kind, _spd(shape, X.dtype, device, rng)) for kind, shape in re_.calls]

    def floor(ms):
        def run():
            for kind, M in ms:
                runtime.spectral_eigh(M) if kind == "eigh" else torch.linalg.eigvalsh(M)
            _sync(device)
        return run

    def timed(f):
        t0 = time.perf_counter()
        f()
        return time.perf_counter() - t0

    rows = []
    f_step, f_eval = floor(mats), floor(eval_mats)
    for _ in range(repeats):
        ts, te = timed(step), timed(f_step)
        tp, tn = timed(products_torch), (timed(products_numpy) if device == "cpu" else float("nan"))
        model.eval()
        tv, tve = timed(evaluate), timed(f_eval)
        model.train()
        tt = timed(step_torch_products)
        tg = timed(step_edge_by_edge) if cells else float("nan")
        rows.append((ts, te, tv, tve, tp, tn, tt, tg))
    a = np.array(rows)
    return {"network": name, "step_ms": 1e3 * float(np.median(a[:, 0])), "eigh_floor_ms": 1e3 * float(np.median(a[:, 1])),
            "ratio": float(np.median(a[:, 0] / a[:, 1])),
            "step_torch_products_ms": 1e3 * float(np.median(a[:, 6])),
            "ratio_torch_products": float(np.median(a[:, 6] / a[:, 1])),
            "step_edge_by_edge_ms": 1e3 * float(np.median(a[:, 7])),
            "grouping_speedup": float(np.median(a[:, 7] / a[:, 0])), "eigh_calls_edge_by_edge": len(r_edge.calls), "eval_ms": 1e3 * float(np.median(a[:, 2])),
            "eval_eigh_floor_ms": 1e3 * float(np.median(a[:, 3])), "eval_ratio": float(np.median(a[:, 2] / a[:, 3])),
            "products": len(prods), "products_ms": 1e3 * float(np.median(a[:, 4])),
            "products_numpy_ms": 1e3 * float(np.median(a[:, 5])),
            # lower bound of the step's ratio: its eigendecompositions plus its matrix products alone
            "floor_ratio": float(np.median((a[:, 1] + a[:, 4]) / a[:, 1])),
            "floor_ratio_numpy": float(np.median((a[:, 1] + a[:, 5]) / a[:, 1])),
            "eigh_calls": len(r.calls), "matrices": int(sum(np.prod(s[:-2]) for _, s in r.calls)),
            "sizes": dict(Counter(s[-1] for _, s in r.calls))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--only", default=None, help="substring of the network names to run")
    ap.add_argument("--genotype", nargs="+", default=[], metavar="GENOTYPE_JSON",
                    help="benchmark these genotype files (e.g. a paper run's search/<dataset>/<weighting>/genotype.json) "
                         "instead of the built-in networks")
    ap.add_argument("--genotype-dataset", default="radar_sim", choices=[d for d, _, _ in DATASETS],
                    help="input size and classes of the --genotype networks")
    ap.add_argument("--out", default=None, help="optional JSON file for the numbers")
    a = ap.parse_args(argv)
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here")
    torch.set_num_threads(a.threads)
    rows = []
    print(f"{'network':42s} {'step ms':>8s} {'eigh ms':>8s} {'ratio':>6s} {'torch-products step ms (ratio)':>31s} | "
          f"{'eval ms':>8s} {'eigh ms':>8s} "
          f"{'ratio':>6s} | products: n, ms MKL / OpenBLAS, (eigh+products)/eigh MKL / OpenBLAS | eigh calls (matrices)")
    for name, model, X, y in networks(a.device, a.genotype, a.genotype_dataset):
        if a.only and a.only not in name:
            continue
        row = bench_network(name, model, X, y, a.repeats, a.device)
        rows.append(row)
        tp = f"{row['step_torch_products_ms']:.1f} ({row['ratio_torch_products']:.2f})"
        print(f"{name:42s} {row['step_ms']:8.1f} {row['eigh_floor_ms']:8.1f} {row['ratio']:6.2f} {tp:>31s} | "
              f"{row['eval_ms']:8.1f} {row['eval_eigh_floor_ms']:8.1f} {row['eval_ratio']:6.2f} | "
              f"{row['products']} {row['products_ms']:.1f} / {row['products_numpy_ms']:.1f} ms, "
              f"{row['floor_ratio']:.2f} / {row['floor_ratio_numpy']:.2f} | "
              f"{row['eigh_calls']} ({row['matrices']}, sizes {row['sizes']})", flush=True)
        if row["eigh_calls_edge_by_edge"] != row["eigh_calls"]:
            print(f"{'':42s} edge by edge (cells not grouped): step {row['step_edge_by_edge_ms']:.1f} ms, "
                  f"grouped {row['grouping_speedup']:.3f}x faster, eigh calls {row['eigh_calls_edge_by_edge']}",
                  flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps({"device": a.device, "threads": a.threads, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
