"""RADAR micro-Doppler data: a physics-based simulator and a reader of the original release layout.

Simulated returns (``radar_sim``) are complex baseband slow-time samples of one range cell of a
pulse-Doppler radar with carrier ``fc`` (wavelength ``λ = c / fc``) sampled at the pulse repetition
frequency ``prf``. A point scatterer at radial range ``R(t)`` contributes ``a·exp(j 4π R(t) / λ)``.

* class 0, multi-rotor drone: body (velocity ``v``, acceleration ``acc``) plus ``n_rotors``
  rotors of ``N`` blades each (length ``L``, rate ``Ω``, phase ``φ0``, elevation ``β``), each blade
  following V.C. Chen's rotor model (The Micro-Doppler Effect in Radar, 2006, ch. 4)

      s_k(t) = ρ · sinc(Φ_k(t)) · exp(-j Φ_k(t)),   Φ_k(t) = (4π/λ)(L/2) cos β cos(Ω t + φ0 + 2πk/N),

  with ``sinc(u) = sin(u)/u``: short broadband "flashes" whenever a blade is normal to the line of
  sight, riding on the body Doppler.
* class 1, flapping bird: body plus two wings of ``K=3`` point scatterers each at radii
  ``r = L_w·{1/3, 2/3, 1}``; the flap angle ``ψ(t) = ψ0 + ψ_A sin(2π f_flap t + φ)`` moves each
  point radially by ``r (sin ψ sin γ ± cos ψ cos γ)`` (``γ`` aspect angle, ± left/right wing):
  a periodic sinusoidal micro-Doppler around the body line, plus a small body heave.
* class 2, clutter: a fixed (zero-Doppler) return plus 4-20 scatterers with small random radial
  velocities (internal motion of vegetation/sea, std ``σ_v``), and slow amplitude fluctuation.

Every sample gets circular complex white Gaussian noise at a random SNR (dB, relative to the
body/clutter power), is optionally normalised to unit mean power, and is turned into a
``window x window`` SPD matrix by :func:`spdnas.spd.covariance.windowed_covariance`. All random
parameters come from one ``numpy.random.Generator(seed)``; generation is vectorised in sample
chunks (the result does not depend on the chunking).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..core.params import shared_data_root
from ..spd.covariance import windowed_covariance
from .base import SPDDataset, check_positive_definite, encode_labels, label_from_filename, regularise
from .files import read_npy

__all__ = [
    "RADAR_CLASSES",
    "SPEED_OF_LIGHT",
    "CARRIER_HZ",
    "PRF_HZ",
    "simulate_radar",
    "radar_to_spd",
    "load_radar_sim",
    "load_radar", "radar_sources",
]

RADAR_CLASSES = ("drone", "bird", "clutter")
SPEED_OF_LIGHT = 299_792_458.0
CARRIER_HZ = 10e9  # X band: λ ≈ 3 cm
PRF_HZ = 4000.0  # slow-time sampling: unambiguous Doppler ±2 kHz (±30 m/s radial)
_MAX_ROTORS, _MAX_BLADES, _WING_POINTS = 6, 4, 3
_CHUNK = 64


def _draw_drone(rng, n):
    p = {
        "v": rng.uniform(-10.0, 10.0, n),
        "acc": rng.normal(0.0, 1.0, n),
        "phase": rng.uniform(0, 2 * np.pi, n),
        "n_rotors": rng.choice([3, 4, 6], n),
        "n_blades": rng.choice([2, 3, 4], n),
        "blade_len": rng.uniform(0.05, 0.20, n),
        "rot_hz": rng.uniform(40.0, 110.0, n),
        "elev": np.deg2rad(rng.uniform(0.0, 70.0, n)),
        "blade_rho": rng.uniform(0.05, 0.45, n),
        "rotor_jitter": rng.uniform(-0.05, 0.05, (n, _MAX_ROTORS)),
        "rotor_phase0": rng.uniform(0, 2 * np.pi, (n, _MAX_ROTORS)),
        "rotor_carrier": rng.uniform(0, 2 * np.pi, (n, _MAX_ROTORS)),
    }
    return p


def _draw_bird(rng, n):
    return {
        "v": rng.uniform(-10.0, 10.0, n),
        "acc": rng.normal(0.0, 1.0, n),
        "phase": rng.uniform(0, 2 * np.pi, n),
        "flap_hz": rng.uniform(2.0, 12.0, n),
        "flap_amp": np.deg2rad(rng.uniform(15.0, 45.0, n)),
        "flap_mean": np.deg2rad(rng.uniform(-10.0, 10.0, n)),
        "flap_phase": rng.uniform(0, 2 * np.pi, n),
        "wing_len": rng.uniform(0.10, 0.50, n),
        "aspect": np.deg2rad(rng.uniform(0.0, 90.0, n)),
        "wing_rho": rng.uniform(0.10, 0.50, n),
        "heave": rng.uniform(0.0, 0.02, n),
        "wing_carrier": rng.uniform(0, 2 * np.pi, (n, 2, _WING_POINTS)),
    }


def _draw_clutter(rng, n):
    k = 20
    return {
        "dc_rho": rng.uniform(0.3, 1.0, n),
        "n_scat": rng.integers(4, k + 1, n),
        "sigma_v": rng.uniform(0.02, 0.5, n),
        "scat_v": rng.standard_normal((n, k)),
        "scat_amp": rng.rayleigh(1.0, (n, k)),
        "scat_phase": rng.uniform(0, 2 * np.pi, (n, k)),
        "fluct_hz": rng.uniform(0.1, 3.0, n),
        "fluct_depth": rng.uniform(0.0, 0.5, n),
        "fluct_phase": rng.uniform(0, 2 * np.pi, n),
    }


def _body(p, sl, t, k):
    r = p["v"][sl, None] * t + 0.5 * p["acc"][sl, None] * t**2
    return np.exp(1j * (k * r + p["phase"][sl, None]))


def _drone_chunk(p, sl, t, k):
    body = _body(p, sl, t, k)  # (m, T)
    m = body.shape[0]
    nb, nr = p["n_blades"][sl], p["n_rotors"][sl]
    # enumerate the active (sample, rotor, blade) triples only, ordered by sample
    grid_s, grid_r, grid_b = np.meshgrid(np.arange(m), np.arange(_MAX_ROTORS), np.arange(_MAX_BLADES),
                                         indexing="ij")
    active = (grid_r < nr[:, None, None]) & (grid_b < nb[:, None, None])
    si, ri, bi = grid_s[active], grid_r[active], grid_b[active]
    omega = 2 * np.pi * p["rot_hz"][sl][si] * (1.0 + p["rotor_jitter"][sl][si, ri])
    ang = omega[:, None] * t + (p["rotor_phase0"][sl][si, ri] + 2 * np.pi * bi / nb[si])[:, None]
    scale = k * 0.5 * p["blade_len"][sl][si] * np.cos(p["elev"][sl][si])
    phi = scale[:, None] * np.cos(ang)  # Chen's Φ_k(t)
    sin_phi, cos_phi = np.sin(phi), np.cos(phi)
    small = np.abs(phi) < 1e-8
    sinc = np.where(small, 1.0, sin_phi / np.where(small, 1.0, phi))
    carrier = np.exp(1j * p["rotor_carrier"][sl][si, ri])[:, None]
    blade = (sinc * cos_phi - 1j * (sinc * sin_phi)) * carrier  # sinc(Φ) exp(-jΦ) e^{jθ_rotor}
    starts = np.searchsorted(si, np.arange(m))
    rotor_sum = np.add.reduceat(blade, starts, axis=0)
    return body * (1.0 + p["blade_rho"][sl, None] * rotor_sum)


def _bird_chunk(p, sl, t, k):
    body = _body(p, sl, t, k)
    arg = 2 * np.pi * p["flap_hz"][sl, None] * t + p["flap_phase"][sl, None]
    psi = p["flap_mean"][sl, None] + p["flap_amp"][sl, None] * np.sin(arg)  # (m, T)
    heave = p["heave"][sl, None] * np.sin(arg + np.pi)
    radii = p["wing_len"][sl, None] * (np.arange(1, _WING_POINTS + 1) / _WING_POINTS)  # (m, K)
    g = p["aspect"][sl]
    side = np.array([1.0, -1.0])
    disp = radii[:, None, :, None] * (
        np.sin(psi)[:, None, None, :] * np.sin(g)[:, None, None, None]
        + side[None, :, None, None] * np.cos(psi)[:, None, None, :] * np.cos(g)[:, None, None, None]
    )  # (m, 2, K, T)
    wings = np.exp(1j * (k * disp + p["wing_carrier"][sl][..., None])).sum(axis=(1, 2))
    rho = p["wing_rho"][sl, None] / (2 * _WING_POINTS)
    return body * np.exp(1j * k * heave) * (1.0 + rho * wings)


def _clutter_chunk(p, sl, t, k):
    m = p["dc_rho"][sl].shape[0]
    nsc = p["n_scat"][sl]
    grid_s, grid_j = np.meshgrid(np.arange(m), np.arange(p["scat_v"].shape[1]), indexing="ij")
    active = grid_j < nsc[:, None]
    si, ji = grid_s[active], grid_j[active]
    v = p["sigma_v"][sl][si] * p["scat_v"][sl][si, ji]
    amp = p["scat_amp"][sl][si, ji] / np.sqrt(nsc[si])
    scat = amp[:, None] * np.exp(1j * (k * v[:, None] * t + p["scat_phase"][sl][si, ji][:, None]))
    scat = np.add.reduceat(scat, np.searchsorted(si, np.arange(m)), axis=0)
    fl = 1.0 + p["fluct_depth"][sl, None] * np.sin(2 * np.pi * p["fluct_hz"][sl, None] * t
                                                    + p["fluct_phase"][sl, None])
    sig = fl * (p["dc_rho"][sl, None] + scat)
    power = np.mean(np.abs(sig) ** 2, axis=1, keepdims=True)
    return sig / np.sqrt(np.maximum(power, 1e-300))


def simulate_radar(n_per_class: int = 1000, length: int = 1024, seed: int = 0,
                   snr_db=(0.0, 25.0), prf: float = PRF_HZ, carrier: float = CARRIER_HZ,
                   normalize: bool = True, progress: bool = False):
    """Simulated complex micro-Doppler returns of drones, birds and clutter.

    Args:
        n_per_class: samples per class (3 classes).
        length: slow-time samples per signal (dwell = length / prf seconds).
        seed: numpy Generator seed; the output is a pure function of the arguments.
        snr_db: (low, high) range of the uniformly drawn SNR in dB.
        prf, carrier: pulse repetition frequency and carrier frequency in Hz.
        normalize: scale every signal to unit mean power.
    Returns ``(signals complex128 (N, length), y int64 (N,), params DataFrame)``, samples ordered
    by class (drones, birds, clutter).
    """
    for nm, v, lo in (("n_per_class", n_per_class, 1), ("length", length, 2)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{nm} must be an integer >= {lo}, got {v!r}")
    try:
        snr_lo, snr_hi = (float(s) for s in snr_db)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"snr_db must be a (low, high) pair of numbers, got {snr_db!r}") from exc
    if not (np.isfinite([snr_lo, snr_hi]).all() and snr_lo <= snr_hi):
        raise ValueError(f"snr_db must be a finite (low, high) pair with low <= high, got {snr_db!r}")
    for nm, v in (("prf", prf), ("carrier", carrier)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
            raise ValueError(f"{nm} must be a positive frequency in Hz, got {v!r}")
    rng = np.random.default_rng(seed)
    n = int(n_per_class)
    k = 4 * np.pi * carrier / SPEED_OF_LIGHT  # phase per metre of radial range
    t = np.arange(length) / prf
    draws = [_draw_drone(rng, n), _draw_bird(rng, n), _draw_clutter(rng, n)]
    makers = [_drone_chunk, _bird_chunk, _clutter_chunk]
    snr = rng.uniform(snr_lo, snr_hi, 3 * n)
    noise = (rng.standard_normal((3 * n, length)) + 1j * rng.standard_normal((3 * n, length))) / np.sqrt(2)
    out = np.empty((3 * n, length), dtype=np.complex128)
    chunks = [(c, s) for c in range(3) for s in range(0, n, _CHUNK)]
    for c, s in tqdm(chunks, desc="radar_sim", disable=not progress):
        sl = slice(s, min(s + _CHUNK, n))
        out[c * n + sl.start: c * n + sl.stop] = makers[c](draws[c], sl, t, k)
    out += noise * 10.0 ** (-snr[:, None] / 20.0)
    if normalize:
        out /= np.sqrt(np.mean(np.abs(out) ** 2, axis=1, keepdims=True))
    y = np.repeat(np.arange(3, dtype=np.int64), n)
    rows = []
    for c, p in enumerate(draws):
        scal = {key: val for key, val in p.items() if np.ndim(val) == 1}
        df = pd.DataFrame(scal)
        rows.append(df)
    params = pd.concat(rows, ignore_index=True)
    params.insert(0, "cls", [RADAR_CLASSES[i] for i in y])
    params["snr_db"] = snr
    for col in ("elev", "flap_amp", "flap_mean", "aspect"):
        if col in params:
            params[col] = np.rad2deg(params[col])
    return out, y, params


def radar_to_spd(signals, window: int = 20, hop: int = 10, complex_mode: str = "real",
                 ridge: float = 1e-6) -> np.ndarray:
    """Windowed covariances of complex signals (N, L) -> (N, w, w) float64 SPD (relative ridge)."""
    cov = windowed_covariance(torch.as_tensor(signals), window, hop, complex_mode=complex_mode)
    return regularise(cov.numpy().astype(np.float64), ridge=ridge)


def _pool_spec(window, hop, complex_mode, ridge):
    return {"kind": "windowed", "window": int(window), "hop": int(hop), "complex_mode": complex_mode}


def load_radar_sim(n_per_class: int = 1000, length: int = 1024, seed: int = 0, snr_db=(0.0, 25.0),
                   window: int = 20, hop: int = 10, complex_mode: str = "real", ridge: float = 1e-6,
                   keep_signals: bool = False, progress: bool = False) -> SPDDataset:
    """Simulated RADAR (drone / bird / clutter) as 20x20 windowed-covariance SPD matrices.

    Args:
        n_per_class, length, seed, snr_db: see :func:`simulate_radar`.
        window, hop: framing of the slow-time signal (window x window matrices).
        complex_mode: ``"real"`` or ``"embed"`` (2·window matrices), see ``spdnas.spd.covariance``.
        ridge: relative ridge ``ridge · tr/n · I`` added to every matrix.
        keep_signals: also keep the complex signals (``ds.signals``; ``ds.pool`` maps them to SPD).
    """
    sig, y, params = simulate_radar(n_per_class, length, seed, snr_db, progress=progress)
    X = radar_to_spd(sig, window, hop, complex_mode, ridge)
    check_positive_definite(X, what="(raise ridge)")
    params.insert(0, "source", f"radar_sim(seed={seed})")
    info = {"prf_hz": PRF_HZ, "carrier_hz": CARRIER_HZ, "window": int(window), "hop": int(hop),
            "length": int(length), "pool": _pool_spec(window, hop, complex_mode, ridge)}
    return SPDDataset("radar_sim", torch.from_numpy(X), torch.from_numpy(y), list(RADAR_CLASSES),
                      params, info, signals=torch.from_numpy(sig) if keep_signals else None)


_RADAR_HELP = (
    "the original RADAR release (SPDNetBN, Brooks et al. 2019): a folder of .npy files, one complex "
    "1-D slow-time signal per file named <anything>_<label>.npy (e.g. radar/drone_0007_0.npy). It is "
    "not redistributable; ask the authors, or use the simulated version load_dataset('radar_sim'). "
    "Point to it with root=... or put it at $SPDNAS_DATA/radar"
)


def _radar_root(root) -> Path:
    base = shared_data_root() / "radar" if root is None else Path(root).expanduser()
    if base.is_dir() and not any(base.glob("*.npy")) and (base / "radar").is_dir():
        base = base / "radar"
    if not base.is_dir():
        raise FileNotFoundError(f"RADAR data folder not found: {base}. Expected {_RADAR_HELP}.")
    return base


def radar_sources(options):
    try:
        return [_radar_root(options.get("root"))]
    except FileNotFoundError:
        return []


def load_radar(root: str | os.PathLike | None = None, window: int = 20, hop: int = 10,
               complex_mode: str = "real", ridge: float = 1e-6, progress: bool = False) -> SPDDataset:
    """Original RADAR release layout: ``<root>/*.npy`` complex 1-D signals, label after the last ``_``."""
    base = _radar_root(root)
    files = sorted(base.glob("*.npy"))
    if not files:
        raise FileNotFoundError(f"no .npy files in {base}. Expected {_RADAR_HELP}.")
    mats, labels = [], []
    for f in tqdm(files, desc="radar", disable=not progress):
        lab = label_from_filename(f)
        s = np.squeeze(read_npy(f))
        if s.ndim != 1 or s.dtype.kind not in "fciu":
            raise ValueError(f"{f}: expected a 1-D numeric signal, got shape {s.shape} dtype {s.dtype}")
        if not np.isfinite(s).all():
            raise ValueError(f"{f}: signal contains NaN or Inf values")
        if s.shape[0] < window + hop:
            raise ValueError(f"{f}: signal of length {s.shape[0]} is shorter than window + hop = {window + hop}")
        s = s.astype(np.complex128 if s.dtype.kind == "c" else np.float64)
        mats.append(radar_to_spd(s[None], window, hop, complex_mode, ridge)[0])
        labels.append(lab)
    X = np.stack(mats)
    names = [f.name for f in files]
    check_positive_definite(X, names, "(raise ridge)")
    y, classes, raw = encode_labels(labels)
    meta = pd.DataFrame({"file": names, "label_orig": labels})
    info = {"window": int(window), "hop": int(hop), "root": str(base),
            "pool": _pool_spec(window, hop, complex_mode, ridge)}
    return SPDDataset("radar", torch.from_numpy(X), torch.from_numpy(y), classes, meta, info)
