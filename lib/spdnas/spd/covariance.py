"""Covariance pooling: multichannel (real or complex) signals -> SPD matrices.

Conventions
-----------
* Signals are channels-first: ``x`` has shape ``(..., d, T)`` (``d`` channels, ``T`` samples).
* ``center=True`` subtracts the per-channel mean and divides by ``T - 1`` (unbiased, same as
  ``numpy.cov``); ``center=False`` is the raw second moment ``x xᴴ / T``.
* Shrinkage towards the scaled identity ``μ I`` with ``μ = tr(S) / d``:
  ``(1 - α) S + α μ I``. ``α`` is a float in [0, 1], ``"lw"`` (Ledoit–Wolf 2004) or ``"oas"``
  (Chen et al. 2010). The data-driven coefficients are computed from the ``1/T`` moment of the
  (centred) samples, as in scikit-learn, and then applied to ``S``.
* Complex signals give a Hermitian PSD ``C``. Two *real* SPD representations are offered:
  ``complex_mode="real"`` returns ``Re C`` (symmetric PSD, since ``Im C`` is antisymmetric and
  ``Re C = (C + C̄) / 2``); ``complex_mode="embed"`` returns the ``2d x 2d`` real embedding
  ``[[Re C, -Im C], [Im C, Re C]]``, symmetric PSD with every eigenvalue of ``C`` doubled
  (same information as ``C``). ``complex_mode`` is ignored for real input.
* ``eps`` adds ``eps * I`` at the end (a ridge guaranteeing positive definiteness).

Everything is differentiable with plain autograd (products and sums only), batched, and keeps
the dtype/device of the input.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from .functional import checks_enabled

__all__ = [
    "covariance",
    "frame_signal",
    "windowed_covariance",
    "shrinkage_coefficient",
    "complex_to_real_spd",
    "CovPool",
    "WindowedCovPool",
]

_COMPLEX_MODES = ("real", "embed")
_SHRINK_NAMES = ("lw", "oas")


def _as_signal(x, name: str = "x", check: bool = True) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except Exception as exc:  # pragma: no cover - torch message is enough context
            raise ValueError(f"{name}: cannot convert {type(x).__name__} to a tensor ({exc})") from exc
    if not (x.is_floating_point() or x.is_complex()):
        raise ValueError(f"{name}: expected a floating or complex tensor, got dtype {x.dtype}")
    if check and checks_enabled() and x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: contains NaN or Inf values")
    return x


def _check_shrinkage(shrinkage):
    if isinstance(shrinkage, str):
        if shrinkage.lower() not in _SHRINK_NAMES:
            raise ValueError(
                f"unknown shrinkage {shrinkage!r}: use a float in [0, 1], 'lw' or 'oas'"
            )
        return shrinkage.lower()
    if isinstance(shrinkage, bool) or not isinstance(shrinkage, numbers.Real):
        raise ValueError(f"shrinkage must be a float in [0, 1], 'lw' or 'oas'; got {shrinkage!r}")
    a = float(shrinkage)
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"shrinkage must lie in [0, 1], got {a}")
    return a


def _check_complex_mode(mode: str) -> str:
    if mode not in _COMPLEX_MODES:
        raise ValueError(f"unknown complex_mode {mode!r}: use one of {_COMPLEX_MODES}")
    return mode


def _check_eps(eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps >= 0.0:
        raise ValueError(f"eps must be a non-negative float, got {eps!r}")
    if eps == float("inf"):
        raise ValueError("eps must be finite")
    return float(eps)


def _eye_like(c: torch.Tensor) -> torch.Tensor:
    return torch.eye(c.shape[-1], dtype=c.dtype, device=c.device)


def shrinkage_coefficient(xc: torch.Tensor, method: str) -> torch.Tensor:
    """Data-driven shrinkage coefficient ``α`` of centred signals ``xc`` (..., d, T).

    Args:
        xc: centred (or raw second-moment) signals, real or complex, channels-first.
        method: ``"lw"`` (Ledoit–Wolf) or ``"oas"`` (oracle approximating shrinkage).
    Returns the batch of coefficients, shape ``xc.shape[:-2]``, clipped to [0, 1].
    """
    method = _check_shrinkage(method)
    if not isinstance(method, str):
        raise ValueError("shrinkage_coefficient needs method 'lw' or 'oas'")
    d, t = xc.shape[-2], xc.shape[-1]
    s = xc @ xc.conj().transpose(-1, -2) / t  # 1/T moment (Hermitian)
    mu = torch.diagonal(s, dim1=-2, dim2=-1).real.sum(-1) / d
    fro2 = (s.abs() ** 2).sum((-2, -1))  # ||S||_F^2
    if method == "oas":
        # Chen, Wiesel, Eldar & Hero (2010), in the form with mean squared entries
        m2 = fro2 / d**2
        num = m2 + mu**2
        den = (t + 1) * (m2 - mu**2 / d)
        safe = torch.where(den > 0, den, torch.ones_like(den))
        alpha = torch.where(den > 0, num / safe, torch.ones_like(num))
    else:
        # Ledoit & Wolf (2004): alpha = min(beta, delta) / delta with
        # delta = ||S - mu I||^2 / d, beta = (mean_k ||x_k||^4 - ||S||^2) / (T d)
        norms4 = ((xc.abs() ** 2).sum(-2) ** 2).sum(-1)
        beta = (norms4 / t - fro2) / (t * d)
        delta = (fro2 - d * mu**2) / d
        beta = torch.minimum(beta, delta)
        safe = torch.where(delta > 0, delta, torch.ones_like(delta))
        alpha = torch.where(delta > 0, beta / safe, torch.zeros_like(delta))
    return alpha.clamp(0.0, 1.0)


def complex_to_real_spd(c: torch.Tensor, complex_mode: str = "real") -> torch.Tensor:
    """Real symmetric representation of Hermitian ``c`` (..., d, d): ``Re c`` or the 2d embedding."""
    _check_complex_mode(complex_mode)
    if not c.is_complex():
        return c
    if complex_mode == "real":
        return c.real
    re, im = c.real, c.imag
    top = torch.cat([re, -im], dim=-1)
    bottom = torch.cat([im, re], dim=-1)
    return torch.cat([top, bottom], dim=-2)


def covariance(
    x,
    shrinkage=0.0,
    center: bool = True,
    complex_mode: str = "real",
    eps: float = 0.0,
    check: bool = True,
) -> torch.Tensor:
    """Sample covariance of channels-first signals ``x`` (..., d, T) -> (..., d, d) (real SPD).

    Args:
        x: real or complex tensor (or array) of shape (..., d, T), T >= 2.
        shrinkage: float α in [0, 1], ``"lw"`` or ``"oas"``; target ``tr(S)/d · I``.
        center: subtract the channel means and divide by T-1; otherwise ``x xᴴ / T``.
        complex_mode: ``"real"`` (Re of the Hermitian covariance, d x d) or ``"embed"``
            ([[Re, -Im], [Im, Re]], 2d x 2d); ignored for real x.
        eps: ridge added to the diagonal at the end.
        check: raise ValueError on NaN/Inf input (one host sync; also off under
            :func:`spdnas.spd.checks` ``(False)`` / :func:`spdnas.spd.set_checks` ``(False)``).
    """
    shrinkage = _check_shrinkage(shrinkage)
    _check_complex_mode(complex_mode)
    eps = _check_eps(eps)
    x = _as_signal(x, "covariance input", check=check)
    if x.ndim < 2:
        raise ValueError(
            f"covariance input must have shape (..., channels, samples), got shape {tuple(x.shape)}"
        )
    d, t = x.shape[-2], x.shape[-1]
    if d < 1:
        raise ValueError(f"covariance input has no channels (shape {tuple(x.shape)})")
    if t < 2:
        raise ValueError(f"covariance needs at least 2 samples (T >= 2), got T={t}")
    xc = x - x.mean(dim=-1, keepdim=True) if center else x
    s = xc @ xc.conj().transpose(-1, -2) / ((t - 1) if center else t)
    if x.is_complex():  # exact Hermitian symmetry (rounding may break it slightly)
        s = 0.5 * (s + s.conj().transpose(-1, -2))
    else:
        s = 0.5 * (s + s.transpose(-1, -2))
    if isinstance(shrinkage, str) or shrinkage > 0.0:
        if isinstance(shrinkage, str):
            alpha = shrinkage_coefficient(xc, shrinkage).to(s.real.dtype)
        else:
            alpha = torch.full(s.shape[:-2], shrinkage, dtype=s.real.dtype, device=s.device)
        mu = torch.diagonal(s, dim1=-2, dim2=-1).real.sum(-1) / d
        a = alpha[..., None, None]
        s = (1.0 - a) * s + (a * mu[..., None, None]) * _eye_like(s)
    s = complex_to_real_spd(s, complex_mode)
    if eps > 0.0:
        s = s + eps * _eye_like(s)
    return s


def frame_signal(signal, window: int = 20, hop: int = 10, check: bool = True) -> torch.Tensor:
    """Cut a 1-D signal (..., L) into frames (..., window, n_frames); frame j = signal[j*hop : j*hop+window]."""
    for nm, v in (("window", window), ("hop", hop)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{nm} must be a positive integer, got {v!r}")
    signal = _as_signal(signal, "signal", check=check)
    if signal.ndim < 1:
        raise ValueError("signal must have shape (..., L), got a scalar")
    length = signal.shape[-1]
    if length < window:
        raise ValueError(f"signal length {length} is shorter than the window {window}")
    frames = signal.unfold(-1, int(window), int(hop))  # (..., n_frames, window)
    return frames.transpose(-1, -2)


def windowed_covariance(
    signal,
    window: int = 20,
    hop: int = 10,
    shrinkage=0.0,
    center: bool = True,
    complex_mode: str = "real",
    eps: float = 0.0,
    check: bool = True,
) -> torch.Tensor:
    """RADAR pipeline: signal (..., L) -> frames (..., window, n_frames) -> covariance (..., window, window).

    Needs at least two frames: ``L >= window + hop``. Other arguments as in :func:`covariance`
    (``complex_mode="embed"`` gives 2·window x 2·window matrices).
    """
    frames = frame_signal(signal, window, hop, check=check)
    if frames.shape[-1] < 2:
        raise ValueError(
            f"signal length {signal.shape[-1]} gives {frames.shape[-1]} frame(s) of window={window}, "
            f"hop={hop}; need at least 2 (length >= window + hop = {window + hop})"
        )
    return covariance(frames, shrinkage=shrinkage, center=center, complex_mode=complex_mode,
                      eps=eps, check=False)


class CovPool(nn.Module):
    """Covariance pooling layer: (..., d, T) signals -> (..., d, d) SPD matrices."""

    def __init__(self, shrinkage=0.0, eps: float = 0.0, complex_mode: str = "real",
                 center: bool = True):
        super().__init__()
        self.shrinkage = _check_shrinkage(shrinkage)
        self.eps = _check_eps(eps)
        self.complex_mode = _check_complex_mode(complex_mode)
        self.center = bool(center)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return covariance(x, shrinkage=self.shrinkage, center=self.center,
                          complex_mode=self.complex_mode, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"shrinkage={self.shrinkage!r}, eps={self.eps}, complex_mode={self.complex_mode!r}, "
                f"center={self.center}")


class WindowedCovPool(nn.Module):
    """Windowed covariance layer: 1-D signals (..., L) -> (..., window, window) SPD matrices."""

    def __init__(self, window: int = 20, hop: int = 10, shrinkage=0.0, eps: float = 0.0,
                 complex_mode: str = "real", center: bool = True):
        super().__init__()
        for nm, v in (("window", window), ("hop", hop)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{nm} must be a positive integer, got {v!r}")
        self.window, self.hop = int(window), int(hop)
        self.shrinkage = _check_shrinkage(shrinkage)
        self.eps = _check_eps(eps)
        self.complex_mode = _check_complex_mode(complex_mode)
        self.center = bool(center)

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        return windowed_covariance(signal, self.window, self.hop, shrinkage=self.shrinkage,
                                   center=self.center, complex_mode=self.complex_mode, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"window={self.window}, hop={self.hop}, shrinkage={self.shrinkage!r}, eps={self.eps}, "
                f"complex_mode={self.complex_mode!r}, center={self.center}")
