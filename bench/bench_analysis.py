"""Time every design-space statistic on a synthetic 25,000-model population (prints a table).

Usage: ``python bench/bench_analysis.py [--n 25000] [--seed 0]``. No asserts: timings on shared
machines are noisy; the target is a total under ~2 s.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from spdnas import analysis as A


def synthetic_population(n: int, seed: int = 0) -> dict:
    """Errors that fall with log-params plus noise, like an NDS sweep (numpy arrays)."""
    rng = np.random.default_rng(seed)
    params = np.exp(rng.uniform(np.log(2e4), np.log(9e5), n))
    flops = params * rng.uniform(80, 160, n)
    error = np.clip(18 - 2.2 * np.log10(params / 2e4) + rng.gamma(2.0, 1.0, n), 0.5, 99.0)
    return {"params": params, "flops": flops, "error": error}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=25_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pop = synthetic_population(args.n, args.seed)
    e, p, f = pop["error"], pop["params"], pop["flops"]
    half = args.n // 2
    rows = []

    def timed(name, fn):
        t0 = time.perf_counter()
        out = fn()
        rows.append((name, time.perf_counter() - t0))
        return out

    timed("edf (unnormalised)", lambda: A.edf(e))
    norm = timed("complexity_weights params (40 bins)", lambda: A.complexity_weights(p, 40))
    timed("normalized_edf params", lambda: A.normalized_edf(e, p, 40))
    timed("normalized_edf flops (log bins)", lambda: A.normalized_edf(e, f, 40, log_bins=True))
    timed("normalized_complexity_edf params", lambda: A.normalized_complexity_edf(p, 40))
    timed("distribution_area (100 eps)", lambda: A.distribution_area(e, np.linspace(1, 30, 100), norm.weights))
    timed("ks_test (scipy, 2 halves)", lambda: A.ks_test(e[:half], e[half:]))
    timed("ks_weighted (2 halves)", lambda: A.ks_weighted(e[:half], e[half:], norm.weights[:half], norm.weights[half:]))
    timed("rse_simulate (weighted, k=2^0..2^14)", lambda: A.rse_simulate(e, norm.weights))
    timed("rse_exact (weighted)", lambda: A.rse_exact(e, norm.weights))
    timed("ks_vs_sample_size (50 trials, ref 2^14)", lambda: A.ks_vs_sample_size(e, trials=50))
    timed("point_estimate (B=100, M=1000, 5000)", lambda: A.point_estimate(e, 100, 1000, 5000))
    core = sum(t for _, t in rows)
    timed("bootstrap_edf (200 resamples, strata)", lambda: A.bootstrap_edf(e, norm.weights, np.linspace(5, 30, 256), strata=norm.bin_index))
    timed("bootstrap_rse (100 resamples)", lambda: A.bootstrap_rse(e, norm.weights, n_boot=100, strata=norm.bin_index))
    total = sum(t for _, t in rows)
    width = max(len(r[0]) for r in rows) + 2
    print(f"design-space statistics on n = {args.n} models")
    print(f"{'statistic':<{width}}{'seconds':>9}")
    for name, t in rows:
        print(f"{name:<{width}}{t:9.3f}")
    print(f"{'total (paper statistics)':<{width}}{core:9.3f}")
    print(f"{'total (with bootstrap bands)':<{width}}{total:9.3f}")


if __name__ == "__main__":
    main()
