"""Spectral worker threads: chunked spectral functions, thread-local settings, concurrent Hessian passes.

Splitting a batch over threads must not change any value: every matrix is decomposed and rebuilt
by the same LAPACK/BLAS calls, so results equal the one-thread path (checked to 1e-13 in float64).
"""

import threading

import pytest
import torch

from spdnas.nas.model import net_config
from spdnas.nas.search import Architect, search
from spdnas.nas.supernet import SuperNet
from spdnas.spd import functional as F
from spdnas.spd import runtime as R

from helpers_spd import rand_spd, rand_sym

torch.set_num_threads(1)

N = 2 * R.EIGH_MIN_CHUNK + 3  # 10x10 matrices: enough work for two chunks (see runtime.map_rows)


def _count_eigh(monkeypatch):
    calls = []
    orig = R.spectral_eigh

    def counting(X):
        calls.append(X.shape[0])
        return orig(X)

    monkeypatch.setattr(R, "spectral_eigh", counting)
    return calls


CASES = [
    ("logm", lambda X: F.logm(X, check=False), True),
    ("expm", lambda X: F.expm(X, check=False), False),
    ("sqrtm", lambda X: F.sqrtm(X, check=False), True),
    ("invsqrtm", lambda X: F.invsqrtm(X, check=False), True),
    ("powm", lambda X: F.powm(X, 0.3, check=False), True),
    ("reeig", lambda X: F.reeig(X, 0.5, check=False), True),
    ("sqrtm_invsqrtm", lambda X: F.sqrtm_invsqrtm(X, check=False), True),
    ("spectral_functions", lambda X: F.spectral_functions(X, ("sqrt", "invsqrt", "log"), check=False), True),
]


@pytest.mark.parametrize("name,fn,spd", CASES, ids=[c[0] for c in CASES])
def test_two_workers_equal_one_worker_forward_and_backward(name, fn, spd, monkeypatch):
    g = torch.Generator().manual_seed(0)
    X = rand_spd(N, n=10, cond=30.0, gen=g) if spd else rand_sym(N, n=10)
    X = X.reshape(1, N, 10, 10)  # leading dims are flattened into the rows that are split
    out = {}
    for w in (1, 2):
        Xr = X.clone().requires_grad_()
        with F.eigh_workers(w):
            calls = _count_eigh(monkeypatch)
            Y = fn(Xr)
            Ys = Y if isinstance(Y, tuple) else (Y,)
            G = [torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(i))
                 for i, y in enumerate(Ys)]
            (dX,) = torch.autograd.grad(Ys, Xr, G)
            monkeypatch.undo()
        out[w] = ([y.detach() for y in Ys], dX, calls)
    for a, b in zip(out[1][0], out[2][0]):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(out[1][1], out[2][1], rtol=1e-13, atol=1e-13)
    # one eigendecomposition per matrix either way: one call, or one call per chunk
    assert out[1][2] == [N]
    assert len(out[2][2]) == 2 and sum(out[2][2]) == N


def test_small_batches_and_recorded_graphs_stay_inline(monkeypatch):
    X = rand_spd(R.EIGH_MIN_CHUNK, n=4, gen=torch.Generator().manual_seed(1))
    with F.eigh_workers(2):
        calls = _count_eigh(monkeypatch)
        F.logm(X, check=False)  # below two chunks' worth: not split
        assert calls == [R.EIGH_MIN_CHUNK]
    # double backward (create_graph) records the backward's ops: it runs inline and stays differentiable
    Xb = rand_spd(N, n=10, gen=torch.Generator().manual_seed(2)).requires_grad_()
    with F.eigh_workers(2):
        (g1,) = torch.autograd.grad(F.logm(Xb, check=False).pow(2).sum(), Xb, create_graph=True)
        (g2,) = torch.autograd.grad(g1.sum(), Xb)
    assert torch.isfinite(g2).all()


def test_errors_in_a_worker_chunk_reach_the_caller():
    X = rand_spd(N, n=10, gen=torch.Generator().manual_seed(3))
    X[-1] = float("nan")  # last chunk runs in the worker thread
    with F.eigh_workers(2), pytest.raises((ValueError, RuntimeError, torch.linalg.LinAlgError)):
        F.logm(X)  # checked call: NaN is reported, from the check or from LAPACK


def test_settings_are_thread_local_and_can_be_handed_over():
    seen = {}
    with F.checks(False), F.fast_divided_differences(True), F.eigh_workers(2), F.eigh_backend("torch"), \
            F.product_backend("torch"):
        mine = F.thread_settings()

        def other():
            seen["plain"] = F.thread_settings()
            with F.use_settings(mine):
                seen["handed"] = F.thread_settings()
            seen["after"] = F.thread_settings()

        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert mine == {"checks": False, "fast": True, "workers": 2, "backend": "torch", "products": "torch"}
    defaults = {"checks": True, "fast": False, "workers": 1, "backend": "auto", "products": "auto"}
    assert seen["plain"] == defaults  # the global defaults
    assert seen["handed"] == mine and seen["after"] == seen["plain"]
    assert F.thread_settings() == defaults
    with pytest.raises(ValueError, match="positive int"):
        with F.eigh_workers(0):
            pass
    with pytest.raises(ValueError, match="unknown eigensolver backend 'lapack'"):
        with F.eigh_backend("lapack"):
            pass


def _radar_batch(B, seed):
    g = torch.Generator().manual_seed(seed)
    X = rand_spd(B, n=20, cond=20.0, gen=g)
    y = torch.arange(B) % 3
    return X, y


def test_concurrent_hessian_passes_equal_serial_second_order_grads():
    torch.manual_seed(0)
    net = SuperNet(net_config("radar", C=1))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    X, y = _radar_batch(12, 4)
    grads = {}
    for w in (1, 2):
        arch = Architect(net, order=2)
        with F.checks(False), F.eigh_workers(w):
            grads[w] = arch.arch_grads(X[:6], y[:6], X[6:], y[6:], 0.025)
    for a, b in zip(grads[1], grads[2]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)
    # architecture passes are pure: parameters and running statistics untouched
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_search_with_two_threads_matches_one_thread():
    X, y = _radar_batch(36, 5)
    cfg = dict(net=net_config("radar", C=1), epochs=1, batch_size=6, order=2, max_steps=2, seed=0)
    r1 = search((X, y), dict(cfg, threads=1), progress=False)
    r2 = search((X, y), dict(cfg, threads=2), progress=False)
    assert r1["genotype"] == r2["genotype"]
    for k in ("normal", "reduce"):
        torch.testing.assert_close(torch.tensor(r1["arch_weights"][k]), torch.tensor(r2["arch_weights"][k]),
                                   rtol=1e-9, atol=1e-12)


def test_frozen_running_stats_skips_only_the_running_mean_update():
    from spdnas.spd import SPDBatchNorm
    from spdnas.spd.modules import frozen_running_stats

    torch.manual_seed(0)
    bn = SPDBatchNorm(4, 2).double()
    X = rand_spd(6, 2, n=4, cond=5.0, gen=torch.Generator().manual_seed(6))
    rm0 = bn.running_mean.clone()
    with frozen_running_stats():
        Y_frozen = bn(X)
    assert torch.equal(bn.running_mean, rm0)
    Y = bn(X)  # same normalisation with batch statistics, and now the running mean moves
    torch.testing.assert_close(Y_frozen, Y, rtol=0, atol=0)
    assert not torch.allclose(bn.running_mean, rm0)


def test_forked_child_gets_a_working_pool():
    import multiprocessing as mp

    with F.eigh_workers(2):
        F.logm(rand_spd(N, n=10, gen=torch.Generator().manual_seed(9)), check=False)  # pool now exists
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        ok = pool.apply_async(_child_logm).get(timeout=60)  # a hang here would mean a dead pool
    assert ok


def _child_logm():
    with F.eigh_workers(2):
        X = rand_spd(N, n=10, gen=torch.Generator().manual_seed(10))
        Y = F.logm(X, check=False)
    return bool(torch.isfinite(Y).all())


def test_run_concurrently_hands_over_settings_and_checks_its_input():
    with F.checks(False), F.eigh_workers(2), F.eigh_backend("torch"):
        seen = F.run_concurrently([F.thread_settings, F.thread_settings, lambda: threading.current_thread().name])
    assert seen[0] == seen[1] == {"checks": False, "fast": False, "workers": 1, "backend": "torch", "products": "auto"}
    assert seen[2].startswith("spdnas-eigh")  # the last call ran in a worker thread
    for bad in ([], [1, 2]):
        with pytest.raises(ValueError, match="zero-argument callables"):
            F.run_concurrently(bad)
