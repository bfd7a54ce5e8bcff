"""Run-time settings of the spectral functions, their worker threads and their eigensolver backend.

Each setting has a global default and a per-thread override: value checks (:func:`set_checks`,
:func:`checks`), the fast divided differences (:func:`set_fast_divided_differences`,
:func:`fast_divided_differences`), the eigensolver (:func:`set_eigh_backend`, :func:`eigh_backend`;
the environment variable ``SPDNAS_EIGH=torch`` sets the global default) and the number of worker
threads (:func:`set_eigh_workers`, :func:`eigh_workers`), and the backend of the batched congruences
A X Aᵀ of :mod:`spdnas.spd.products` (:func:`set_product_backend`, :func:`product_backend`; the
environment variable ``SPDNAS_PRODUCTS=torch`` sets the global default). The context managers act on the calling
thread only; :func:`thread_settings` / :func:`use_settings` hand them to another thread.
:func:`spectral_eigh` decomposes with the chosen backend: on the CPU, matrices up to 24×24 by a
compiled batched kernel (:mod:`spdnas.spd.small_eigh`, numba; about twice as fast as torch's loop
of LAPACK calls), larger ones and every other device by ``torch.linalg.eigh``. :func:`map_rows`
splits large CPU batches over the worker threads (same values), :func:`fan_out` and
:func:`run_concurrently` run independent callables in them. Everything here is re-exported by
:mod:`spdnas.spd.functional`, whose spectral functions read these settings.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading

import torch

from . import small_eigh

__all__ = [
    "set_checks",
    "checks",
    "checks_enabled",
    "set_fast_divided_differences",
    "fast_divided_differences",
    "fast_divided_differences_enabled",
    "set_eigh_workers",
    "eigh_workers",
    "workers",
    "set_eigh_backend",
    "eigh_backend",
    "EIGH_BACKENDS",
    "set_product_backend",
    "product_backend",
    "product_backend_name",
    "PRODUCT_BACKENDS",
    "spectral_eigh",
    "thread_settings",
    "use_settings",
    "EIGH_MIN_CHUNK",
    "map_rows",
    "fan_out",
    "run_concurrently",
]

_CHECKS = True
_FAST_DD = False
_EIGH_WORKERS = 1
EIGH_BACKENDS = ("auto", "torch")
_EIGH_POOL = None
PRODUCT_BACKENDS = ("auto", "torch")
EIGH_MIN_CHUNK = 64  # 10x10 matrices per worker below which splitting does not pay
_CHUNK_MIN_WORK = EIGH_MIN_CHUNK * 10 ** 3  # the same in units of n^3 (eigh cost grows like n^3)


class _ThreadSettings(threading.local):
    """Per-thread overrides set by the context managers (None: use the global setting)."""

    checks = None
    fast = None
    workers = None
    backend = None
    products = None


_LOCAL = _ThreadSettings()


def checks_enabled() -> bool:
    """Whether value checks run in the current thread (context override, else the global setting)."""
    v = _LOCAL.checks
    return _CHECKS if v is None else v


def set_checks(enabled: bool) -> None:
    """Globally enable or disable value checks (NaN/Inf, symmetry, positive definiteness)."""
    global _CHECKS
    _CHECKS = bool(enabled)


@contextlib.contextmanager
def _thread_override(name: str, value):
    """Set the current thread's setting ``name`` for the block, then restore it."""
    old = getattr(_LOCAL, name)
    setattr(_LOCAL, name, value)
    try:
        yield
    finally:
        setattr(_LOCAL, name, old)


def checks(enabled: bool):
    """Temporarily enable/disable value checks in the current thread (overrides :func:`set_checks`)."""
    return _thread_override("checks", bool(enabled))


def set_fast_divided_differences(enabled: bool) -> None:
    """Use the closed forms below for the log/exp Loewner matrices of backward passes (default off).

    log: K_ij = 2 atanh(r)/(r (λ_i + λ_j)), r = (λ_i − λ_j)/(λ_i + λ_j) (exact identity for λ > 0);
    exp: K_ij = exp((λ_i + λ_j)/2) sinh(h)/h, h = (λ_i − λ_j)/2. Both are free of cancellation for
    close eigenvalues without a near-pair switch, and take about a third of the elementwise passes
    (``fast=True`` of :func:`spdnas.spd.functional.loewner`). The choice is recorded at forward
    time, so a backward pass follows the forward's setting. The compiled CPU backward
    (:mod:`spdnas.spd.loewner_kernel`) always uses the accurate forms (it is faster than either
    torch form), so the setting matters on other devices and for double backward.
    """
    global _FAST_DD
    _FAST_DD = bool(enabled)


def fast_divided_differences(enabled: bool = True):
    """Use (or not) the fast forms in the current thread for the block (overrides the global setting)."""
    return _thread_override("fast", bool(enabled))


def fast_divided_differences_enabled() -> bool:
    """Whether the fast forms are used in the current thread (context override, else the global setting)."""
    v = _LOCAL.fast
    return _FAST_DD if v is None else v


def workers() -> int:
    """Number of spectral worker threads in the current thread (context override, else the global setting)."""
    v = _LOCAL.workers
    return _EIGH_WORKERS if v is None else v


def _ensure_pool(n: int) -> None:
    global _EIGH_POOL
    if n > 1 and (_EIGH_POOL is None or _EIGH_POOL._max_workers < n - 1):
        from concurrent.futures import ThreadPoolExecutor

        _EIGH_POOL = ThreadPoolExecutor(max_workers=n - 1, thread_name_prefix="spdnas-eigh")


def _forget_pool_in_child() -> None:
    # a forked child inherits the executor object but not its threads: work submitted to it would
    # never run, so the child starts a fresh pool on first use
    global _EIGH_POOL
    _EIGH_POOL = None


os.register_at_fork(after_in_child=_forget_pool_in_child)


def _check_workers(n, name):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name}: n must be a positive int, got {n!r}")


def set_eigh_workers(n: int) -> None:
    """Split the batched CPU work of the spectral functions over n threads (global default).

    torch runs a batched CPU ``eigh`` as a serial loop of LAPACK calls. With n > 1, a spectral
    function on a large CPU batch cuts it into n chunks and runs each chunk's eigendecomposition,
    reconstruction and (in the backward pass) Daleckii–Krein product in its own thread (torch
    releases the GIL), with identical results. Only without gradient recording inside the chunk
    (always the case in forward/backward of the functions, not under ``create_graph``). Default 1.
    """
    global _EIGH_WORKERS
    _check_workers(n, "set_eigh_workers")
    _EIGH_WORKERS = n


def eigh_workers(n: int):
    """Use n spectral worker threads in the current thread for the duration of the block."""
    _check_workers(n, "eigh_workers")
    return _thread_override("workers", n)


class _Backend:
    """A backend choice: global default (from environment variable ``env`` if set), per-thread override."""

    def __init__(self, attr: str, choices: tuple, what: str, env: str):
        self.attr, self.choices, self.what = attr, choices, what
        value = os.environ.get(env, "").strip()
        if value:
            self.check(value, f"environment variable {env}")
        self.default = value or "auto"

    def check(self, name, where: str) -> None:
        if name not in self.choices:
            raise ValueError(f"{where}: unknown {self.what} {name!r}; choose from {self.choices}")

    def set(self, name, where: str) -> None:
        self.check(name, where)
        self.default = name

    def override(self, name, where: str):
        self.check(name, where)
        return _thread_override(self.attr, name)

    def current(self) -> str:
        v = getattr(_LOCAL, self.attr)
        return self.default if v is None else v


_EIGH_BACKEND = _Backend("backend", EIGH_BACKENDS, "eigensolver backend", "SPDNAS_EIGH")
_PRODUCT_BACKEND = _Backend("products", PRODUCT_BACKENDS, "product backend", "SPDNAS_PRODUCTS")


def set_eigh_backend(name: str) -> None:
    """Global eigensolver choice: 'auto' (compiled kernel for small CPU matrices when numba is
    installed, else ``torch.linalg.eigh``) or 'torch' (always ``torch.linalg.eigh``)."""
    _EIGH_BACKEND.set(name, "set_eigh_backend")


def eigh_backend(name: str):
    """Use eigensolver backend ``name`` ('auto' or 'torch') in the current thread for the block."""
    return _EIGH_BACKEND.override(name, "eigh_backend")


def _backend() -> str:
    return _EIGH_BACKEND.current()


def set_product_backend(name: str) -> None:
    """Global backend of the batched congruences: 'auto' (NumPy's BLAS for float32/float64 CPU
    tensors, torch otherwise) or 'torch' (always ``torch.matmul``)."""
    _PRODUCT_BACKEND.set(name, "set_product_backend")


def product_backend(name: str):
    """Use product backend ``name`` ('auto' or 'torch') in the current thread for the block."""
    return _PRODUCT_BACKEND.override(name, "product_backend")


def product_backend_name() -> str:
    """The product backend of the current thread (context override, else the global setting)."""
    return _PRODUCT_BACKEND.current()


def spectral_eigh(X: torch.Tensor):
    """Eigendecomposition used by the spectral functions (lower triangle, no autograd needed)."""
    if _backend() == "auto" and small_eigh.supports(X):
        return small_eigh.eigh(X)
    return torch.linalg.eigh(X)


def thread_settings() -> dict:
    """The current thread's effective settings (checks, fast divided differences, eigh workers,
    eigensolver backend, product backend).

    Pass them to :func:`use_settings` in a worker thread so it computes as the caller would.
    """
    return {"checks": checks_enabled(), "fast": fast_divided_differences_enabled(), "workers": workers(),
            "backend": _backend(), "products": product_backend_name()}


@contextlib.contextmanager
def use_settings(settings: dict):
    """Apply settings from :func:`thread_settings` to the current thread for the block."""
    backend = settings.get("backend", _backend())
    _EIGH_BACKEND.check(backend, "use_settings")
    products = settings.get("products", product_backend_name())
    _PRODUCT_BACKEND.check(products, "use_settings")
    old = (_LOCAL.checks, _LOCAL.fast, _LOCAL.workers, _LOCAL.backend, _LOCAL.products)
    _LOCAL.checks, _LOCAL.fast, _LOCAL.workers, _LOCAL.backend, _LOCAL.products = (
        bool(settings["checks"]), bool(settings["fast"]), int(settings["workers"]), backend, products)
    try:
        yield
    finally:
        _LOCAL.checks, _LOCAL.fast, _LOCAL.workers, _LOCAL.backend, _LOCAL.products = old


def _chunks(count: int, n: int, device) -> int:
    """Number of thread chunks for a batch of ``count`` n×n matrices (1 = run inline): each chunk
    must hold at least the work of 64 decompositions of 10×10 (e.g. 8 of 20×20, 1 of 40×40)."""
    if device.type != "cpu" or torch.is_grad_enabled():
        return 1
    return max(1, min(workers(), count, count * n ** 3 // _CHUNK_MIN_WORK))


def _call_no_grad(fn, args):
    with torch.no_grad():
        return fn(*args)


def fan_out(calls) -> list:
    """Run zero-argument callables at the same time: the first in the calling thread, the others in
    the worker pool (created on first use, and anew in a forked child); results in order."""
    _ensure_pool(len(calls))
    futures = [_EIGH_POOL.submit(c) for c in calls[1:]]
    try:
        first = calls[0]()
    finally:
        rest = [f.result() for f in futures]
    return [first, *rest]


def run_concurrently(calls) -> list:
    """Run zero-argument callables concurrently in the spectral worker threads, each with the
    caller's settings (:func:`thread_settings`) but one worker, so they do not split their batches
    further; results in the order of ``calls``. Use it for independent passes of a model."""
    calls = list(calls)
    if not calls or not all(callable(c) for c in calls):
        raise ValueError("run_concurrently: calls must be a non-empty sequence of zero-argument callables")
    settings = dict(thread_settings(), workers=1)

    def with_settings(call):
        def run():
            with use_settings(settings):
                return call()
        return run

    return fan_out([with_settings(c) for c in calls])


def map_rows(fn, *tensors):
    """``fn(*tensors)`` computed over row chunks (dim 0) in the spectral worker threads.

    All tensors share their dim-0 length (the number of matrices); ``fn`` returns a tuple of
    tensors with the same rows, which are concatenated. Runs inline for small batches, on CUDA,
    with one worker, or while gradients are being recorded.
    """
    parts = _chunks(tensors[0].shape[0], tensors[0].shape[-1], tensors[0].device)
    if parts <= 1:
        return fn(*tensors)
    split = [torch.tensor_split(t, parts) for t in tensors]
    res = fan_out([functools.partial(_call_no_grad, fn, [c[i] for c in split]) for i in range(parts)])
    return tuple(torch.cat([r[j] for r in res]) for j in range(len(res[0])))
