"""SPD network layers as ``torch.nn`` modules.

Tensors are batches of SPD matrices of shape (B, C, n, n) (C channels) or (B, n, n) (one
channel). Stiefel weights and SPD biases are geoopt ``ManifoldParameter``s; use
:func:`spdnas.spd.optim.riemannian_optimizer` so they stay on their manifolds.
"""

from __future__ import annotations

import contextlib
import threading

import geoopt
import torch
import torch.nn as nn
import torch.nn.functional as tF

from . import functional as F
from . import geometry as G
from . import products

__all__ = [
    "BiMap",
    "ReEig",
    "LogEig",
    "ExpEig",
    "VecUpper",
    "SPDBatchNorm",
    "batch_norm",
    "WeightedFrechetMean",
    "SPDPool2d",
    "SkipReduced",
    "stiefel_init",
    "frozen_running_stats",
    "running_stats_frozen",
    "apply_grouped",
]


def _as4d(X: torch.Tensor, channels: int, name: str):
    """Return (X as (B, C, n, n), was_3d) after checking the channel count."""
    if not isinstance(X, torch.Tensor) or X.dim() not in (3, 4):
        shape = tuple(X.shape) if isinstance(X, torch.Tensor) else type(X).__name__
        raise ValueError(f"{name}: expected input of shape (B, C, n, n) or (B, n, n), got {shape}")
    if X.shape[-1] != X.shape[-2]:
        raise ValueError(f"{name}: expected square matrices, got shape {tuple(X.shape)}")
    if X.dim() == 3:
        if channels != 1:
            raise ValueError(f"{name}: expects {channels} channels, got a 3-D (B, n, n) input")
        return X.unsqueeze(1), True
    if X.shape[1] != channels:
        raise ValueError(f"{name}: expects {channels} input channels, got {X.shape[1]}")
    return X, False


def stiefel_init(*shape: int, generator: torch.Generator | None = None, dtype=None) -> torch.Tensor:
    """Random points of the Stiefel manifold St(n, m), shape (..., n, m), via QR of a Gaussian."""
    A = torch.randn(*shape, generator=generator, dtype=dtype or torch.get_default_dtype())
    Q, R = torch.linalg.qr(A)
    sign = torch.sign(torch.diagonal(R, dim1=-2, dim2=-1))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    return Q * sign.unsqueeze(-2)


class BiMap(nn.Module):
    """Bilinear map Y_o = Σ_c W_ocᵀ X_c W_oc with W_oc ∈ St(in_dim, out_dim).

    The weights live on geoopt's ``EuclideanStiefel`` (Riemannian gradient by projection,
    QR-type retraction), which keeps WᵀW = I to float32 round-off over thousands of steps;
    the Cayley retraction of the canonical metric drifts (≈1e-4 after 1000 float32 steps).
    """

    def __init__(self, in_dim: int, out_dim: int, in_channels: int = 1, out_channels: int = 1):
        super().__init__()
        if not (1 <= out_dim <= in_dim):
            raise ValueError(f"BiMap: need 1 <= out_dim <= in_dim (Stiefel), got {in_dim}->{out_dim}")
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"BiMap: channel counts must be >= 1, got {in_channels}, {out_channels}")
        self.in_dim, self.out_dim = in_dim, out_dim
        self.in_channels, self.out_channels = in_channels, out_channels
        self.weight = geoopt.ManifoldParameter(
            stiefel_init(out_channels, in_channels, in_dim, out_dim), manifold=geoopt.EuclideanStiefel()
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        X4, was3 = _as4d(X, self.in_channels, "BiMap")
        if X4.shape[-1] != self.in_dim:
            raise ValueError(f"BiMap: expects {self.in_dim}x{self.in_dim} matrices, got {X4.shape[-1]}")
        W = self.weight.to(X4.dtype)
        Wt, Xb = W.transpose(-1, -2).unsqueeze(0), X4.unsqueeze(1)
        if products.uses_numpy(Wt, Xb):  # NumPy's BLAS: one congruence per (item, Co, Ci), summed over Ci
            Y = products.congruence_numpy(Wt, Xb, symmetrize=True).sum(2)
        else:
            # (B, 1, Ci, n, n) @ (1, Co, Ci, n, m) -> (B, Co, Ci, n, m); then Wᵀ(.) and sum over Ci
            XW = Xb @ W.unsqueeze(0)
            Y = F.sym((Wt @ XW).sum(2))
        return Y.squeeze(1) if (was3 and self.out_channels == 1) else Y

    @staticmethod
    def complexity(in_dim, out_dim, in_channels=1, out_channels=1):
        """(params, flops) with flops = multiply-adds of the two matrix products per batch item."""
        params = out_channels * in_channels * in_dim * out_dim
        flops = out_channels * in_channels * (in_dim * in_dim * out_dim + in_dim * out_dim * out_dim)
        return params, flops

    def extra_repr(self):
        return f"{self.in_dim}->{self.out_dim}, channels {self.in_channels}->{self.out_channels}"


class ReEig(nn.Module):
    """Eigenvalue rectification max(λ, eps) (SPDNet's non-linearity)."""

    def __init__(self, eps: float = 1e-4):
        super().__init__()
        if not eps > 0:
            raise ValueError(f"ReEig: eps must be > 0, got {eps}")
        self.eps = float(eps)

    def forward(self, X):
        F.check_shape(X, "ReEig")
        return F.reeig(X, self.eps, check=False)

    def extra_repr(self):
        return f"eps={self.eps:g}"


class LogEig(nn.Module):
    """Matrix logarithm: SPD manifold → symmetric matrices (tangent space at I)."""

    def forward(self, X):
        F.check_shape(X, "LogEig")
        return F.logm(X, check=False)


class ExpEig(nn.Module):
    """Matrix exponential: symmetric matrices → SPD manifold."""

    def forward(self, X):
        F.check_shape(X, "ExpEig")
        return F.expm(X, check=False)


class VecUpper(nn.Module):
    """Flatten (B, C, n, n) symmetric matrices to (B, C·n(n+1)/2) with the √2 off-diagonal scaling."""

    def forward(self, X):
        return F.vec_upper(X).flatten(1)


class _Stats(threading.local):
    frozen = False


_STATS = _Stats()


@contextlib.contextmanager
def frozen_running_stats(frozen: bool = True):
    """In the current thread, training-mode :class:`SPDBatchNorm` layers normalise with batch
    statistics as usual but skip the running-mean update (e.g. for passes whose buffers are thrown
    away, like the architecture passes of a bilevel search). ``frozen=False`` lifts it for the block
    (a worker thread gets its caller's flag this way)."""
    old = _STATS.frozen
    _STATS.frozen = bool(frozen)
    try:
        yield
    finally:
        _STATS.frozen = old


def running_stats_frozen() -> bool:
    """Whether :func:`frozen_running_stats` is in force in the current thread."""
    return _STATS.frozen


class SPDBatchNorm(nn.Module):
    """Riemannian batch normalisation (Brooks et al. 2019).

    Training: batch Karcher mean G per channel (``karcher_iters`` flow steps from the arithmetic
    mean, as Brooks et al.), X ↦ B^{1/2} G^{-1/2} X G^{-1/2} B^{1/2}, running mean
    moved along the geodesic towards G by ``momentum``. Evaluation: the running mean replaces G.
    The running mean is a buffer (saved in ``state_dict``, moved by ``.to()``); the bias B is a
    learnable SPD matrix on geoopt's SPD manifold.
    """

    def __init__(self, n: int, channels: int = 1, momentum: float = 0.1, karcher_iters: int = 1,
                 detach_mean: bool = False):
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"SPDBatchNorm: momentum must be in [0, 1], got {momentum}")
        self.n, self.channels, self.momentum = n, channels, float(momentum)
        self.karcher_iters, self.detach_mean = int(karcher_iters), bool(detach_mean)
        eye = torch.eye(n).expand(channels, n, n).clone()
        self.register_buffer("running_mean", eye.clone())
        self.bias = geoopt.ManifoldParameter(eye, manifold=geoopt.SymmetricPositiveDefinite())

    def forward(self, X):
        X4, was3 = _as4d(X, self.channels, "SPDBatchNorm")
        if X4.shape[-1] != self.n:
            raise ValueError(f"SPDBatchNorm: expects {self.n}x{self.n} matrices, got {X4.shape[-1]}")
        if self.training and X4.shape[0] < 1:
            raise ValueError("SPDBatchNorm: empty batch")
        Y = self.normalize(X4)
        return Y.squeeze(1) if was3 else Y

    def normalize(self, X: torch.Tensor, running_mean: torch.Tensor | None = None,
                  bias: torch.Tensor | None = None) -> torch.Tensor:
        """:func:`batch_norm` of X (B, *channels, n, n) with this layer's mode and settings, and its own
        running mean and bias unless others are given (e.g. views of them for some of the channels)."""
        return batch_norm(X, self.running_mean if running_mean is None else running_mean,
                          self.bias if bias is None else bias, self.training, self.momentum, self.karcher_iters,
                          self.detach_mean)

    def extra_repr(self):
        return f"{self.n}, channels={self.channels}, momentum={self.momentum}, karcher_iters={self.karcher_iters}"


def batch_norm(X: torch.Tensor, running_mean: torch.Tensor, bias: torch.Tensor, training: bool,
               momentum: float = 0.1, karcher_iters: int = 1, detach_mean: bool = False) -> torch.Tensor:
    """Functional :class:`SPDBatchNorm` of X (B, *channels, n, n) with ``running_mean`` and ``bias``
    of shape (*channels, n, n); in training (and outside :func:`frozen_running_stats`) the running
    mean is updated in place."""
    if training:
        mean = G.frechet_mean(X, dim=0, iters=karcher_iters, init="arithmetic", check=False, detach=detach_mean)
        if not _STATS.frozen:
            with torch.no_grad():
                new = G.geodesic(running_mean.to(X.dtype), mean.detach(), momentum, check=False)
                running_mean.copy_(new.to(running_mean.dtype))
    else:
        mean = running_mean.to(X.dtype)
    Si = F.invsqrtm(mean, check=False)
    Bs = F.sqrtm(bias.to(X.dtype), check=False)
    return G.congruence(Bs @ Si, X)


class WeightedFrechetMean(nn.Module):
    """Learned convex combination of channels: output o = Fréchet mean of inputs with weights softmax(θ_o)."""

    def __init__(self, in_channels: int, out_channels: int | None = None, iters: int = 1,
                 weighting: str = "softmax"):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        if weighting not in ("softmax", "sparsemax"):
            raise ValueError(f"WeightedFrechetMean: weighting must be 'softmax' or 'sparsemax', got {weighting!r}")
        self.in_channels, self.out_channels, self.iters, self.weighting = in_channels, out_channels, iters, weighting
        self.logits = nn.Parameter(torch.zeros(out_channels, in_channels) + 0.01 * torch.randn(out_channels, in_channels))

    def weights(self) -> torch.Tensor:
        if self.weighting == "softmax":
            return torch.softmax(self.logits, dim=-1)
        return sparsemax(self.logits, dim=-1)

    def forward(self, X):
        X4, was3 = _as4d(X, self.in_channels, "WeightedFrechetMean")
        w = self.weights().to(X4.dtype).unsqueeze(0)  # (1, Co, Ci)
        Y = G.frechet_mean(X4.unsqueeze(1), weights=w, dim=2, iters=self.iters, check=False)
        return Y.squeeze(1) if (was3 and self.out_channels == 1) else Y


def sparsemax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Sparsemax (Martins & Astudillo 2016): Euclidean projection onto the simplex, closed form, batched."""
    z = z.transpose(dim, -1)
    zs, _ = torch.sort(z, dim=-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    cs = zs.cumsum(-1)
    support = (1 + k * zs) > cs
    # at least one support element, so NaN input propagates as NaN instead of an index error
    k_z = support.to(z.dtype).sum(-1, keepdim=True).clamp_min(1)
    tau = (torch.gather(cs, -1, k_z.long() - 1) - 1) / k_z
    return torch.clamp_min(z - tau, 0).transpose(dim, -1)


class SPDPool2d(nn.Module):
    """Pooling in the log domain: LogEig → 2-D average/max pooling of the matrix → ExpEig.

    With ``out_dim`` the pooling is adaptive (square windows, output out_dim×out_dim); otherwise
    ``kernel_size``/``stride`` as in ``nn.AvgPool2d``. Square windows on a symmetric matrix keep it
    symmetric, so ExpEig returns SPD matrices.
    """

    def __init__(self, mode: str = "avg", out_dim: int | None = None, kernel_size: int = 2, stride: int | None = None):
        super().__init__()
        if mode not in ("avg", "max"):
            raise ValueError(f"SPDPool2d: mode must be 'avg' or 'max', got {mode!r}")
        self.mode, self.out_dim, self.kernel_size, self.stride = mode, out_dim, kernel_size, stride or kernel_size

    def forward(self, X):
        F.check_shape(X, "SPDPool2d")
        X4, was3 = (X.unsqueeze(1), True) if X.dim() == 3 else (X, False)
        L = F.logm(X4, check=False)
        if self.out_dim is not None:
            pool = tF.adaptive_avg_pool2d if self.mode == "avg" else tF.adaptive_max_pool2d
            P = pool(L, self.out_dim)
        else:
            pool = tF.avg_pool2d if self.mode == "avg" else tF.max_pool2d
            P = pool(L, self.kernel_size, self.stride)
        Y = F.expm(F.sym(P), check=False)
        return Y.squeeze(1) if was3 else Y


class SkipReduced(nn.Module):
    """Reduction skip: block-diagonal diag(BiMap₁(X), BiMap₂(X)) of two trained BiMaps, size out_dim."""

    def __init__(self, in_dim: int, out_dim: int, channels: int = 1):
        super().__init__()
        if out_dim < 2:
            raise ValueError(f"SkipReduced: out_dim must be >= 2, got {out_dim}")
        a = out_dim // 2
        self.bimap1 = BiMap(in_dim, a, channels, channels)
        self.bimap2 = BiMap(in_dim, out_dim - a, channels, channels)
        self.out_dim, self.channels = out_dim, channels

    def forward(self, X):
        X4, was3 = _as4d(X, self.channels, "SkipReduced")
        A, B = self.bimap1(X4), self.bimap2(X4)
        Z = torch.zeros(*A.shape[:-1], B.shape[-1], dtype=A.dtype, device=A.device)
        top = torch.cat([A, Z], dim=-1)
        bottom = torch.cat([Z.transpose(-1, -2), B], dim=-1)
        Y = torch.cat([top, bottom], dim=-2)
        return Y.squeeze(1) if was3 else Y


def _concatenable(Xs) -> bool:
    """Whether the tensors are (B, C_i, n, n) stacks that differ at most in their channel counts."""
    a = Xs[0]
    return all(isinstance(X, torch.Tensor) and X.dim() == 4 and X.shape[0] == a.shape[0]
               and X.shape[-1] == a.shape[-1] and X.dtype == a.dtype and X.device == a.device for X in Xs)


def _same_settings(mods, *names) -> bool:
    return all(getattr(m, k) == getattr(mods[0], k) for m in mods for k in names)


def _reeig_group(mods, Xs):
    if all(X is Xs[0] for X in Xs):  # one input (e.g. both preprocessings of a network's first cell)
        return [mods[0](Xs[0])] * len(Xs)
    sizes = [X.shape[1] for X in Xs]
    return list(F.reeig(torch.cat(Xs, dim=1), mods[0].eps, check=False).split(sizes, dim=1))


def _batch_norm_group(mods, Xs):
    for m, X in zip(mods, Xs):
        _as4d(X, m.channels, "SPDBatchNorm")
    sizes = [m.channels for m in mods]
    running = torch.cat([m.running_mean for m in mods])
    Y = mods[0].normalize(torch.cat(Xs, dim=1), running, torch.cat([m.bias for m in mods]))
    if mods[0].training and not _STATS.frozen:
        with torch.no_grad():
            for m, r in zip(mods, running.split(sizes)):
                m.running_mean.copy_(r)
    return list(Y.split(sizes, dim=1))


def _weighted_mean_group(mods, Xs):
    for m, X in zip(mods, Xs):
        _as4d(X, m.in_channels, "WeightedFrechetMean")
    m0 = mods[0]
    w = torch.stack([m.weights() for m in mods]).to(Xs[0].dtype).unsqueeze(0)  # (1, k, Co, Ci)
    if all(X is Xs[0] for X in Xs):  # one input: broadcast it instead of repeating its matrices
        X = Xs[0].unsqueeze(1).unsqueeze(1)
    else:
        X = torch.stack(Xs, dim=1).unsqueeze(2)  # (B, k, 1, Ci, n, n)
    return list(G.frechet_mean(X, weights=w, dim=3, iters=m0.iters, check=False).unbind(1))


def _pool_group(mods, Xs):
    sizes = [X.shape[1] for X in Xs]
    return list(mods[0](torch.cat(Xs, dim=1)).split(sizes, dim=1))


_GROUPS = (
    (ReEig, ("eps",), _reeig_group),
    (SPDBatchNorm, ("n", "momentum", "karcher_iters", "detach_mean", "training"), _batch_norm_group),
    (WeightedFrechetMean, ("in_channels", "out_channels", "iters"), _weighted_mean_group),
    (SPDPool2d, ("mode", "out_dim", "kernel_size", "stride"), _pool_group),
)


def apply_grouped(mods, Xs) -> list[torch.Tensor]:
    """``[mods[i](Xs[i])]`` with the spectral work of same-kind layers done as one batched call.

    ``mods`` are layers of one kind (or ``nn.Sequential`` stacks of the same layer kinds, run stage
    by stage) and ``Xs`` their (B, C_i, n, n) inputs. ReEig, SPDBatchNorm (over the channel
    concatenation: its own statistics per channel, running means written back per layer),
    WeightedFrechetMean and SPDPool2d layers with the same settings on inputs of one matrix size
    make one set of eigendecompositions instead of one per layer; other layers, and inputs of
    different sizes, run one by one. Same values as the one-by-one calls (to round-off).
    """
    mods, Xs = list(mods), list(Xs)
    if len(mods) != len(Xs):
        raise ValueError(f"apply_grouped: {len(mods)} layers for {len(Xs)} inputs")
    if not mods:
        return []
    kind = type(mods[0])
    if any(type(m) is not kind for m in mods):
        raise ValueError(f"apply_grouped: layers of different kinds {sorted({type(m).__name__ for m in mods})}")
    if kind is nn.Sequential:
        if any(len(m) != len(mods[0]) for m in mods):
            raise ValueError("apply_grouped: nn.Sequential layers of different lengths")
        for stage in range(len(mods[0])):
            Xs = apply_grouped([m[stage] for m in mods], Xs)
        return Xs
    if len(mods) > 1 and _concatenable(Xs):
        for cls, settings, run in _GROUPS:
            if kind is cls and _same_settings(mods, *settings):
                return run(mods, Xs)
    return [m(X) for m, X in zip(mods, Xs)]
