"""Workbench parameters: the profiles of params.yaml, one section per stage, and the shared-data folder.

``params.yaml`` has a top-level ``profile`` key (``smoke``, ``default`` or ``paper``) and one section
per stage whose values are given per profile::

    profile: default
    bench_spd:
      smoke:   {repeats: 1, ...}
      default: {repeats: 3, ...}
      paper:   {repeats: 7, ...}

Each DVC stage lists ``profile`` and its own section as params, so switching profile re-runs
exactly what depends on it and ``dvc.lock`` records which profile produced each output.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from .io import atomic_write_text
from .paths import repo_root

__all__ = ["PROFILES", "PROFILE_ENV", "SHARED_DATA_ENV", "EXTERNAL_DATA", "params_path", "read_params", "active_profile",
           "stage_params", "section_values", "set_profile", "shared_data_root"]

SHARED_DATA_ENV = "SPDNAS_DATA"

# The external data under the shared data folder (one table for loaders, experiments, notebooks
# and the data manifest): name -> the folder its loader reads (``root``) and the paths that must
# all exist for the data to count as present (``requires``), relative to the shared data folder.
EXTERNAL_DATA = {
    "hdm05": {"root": "hdm05", "requires": ("hdm05/spd",)},
    "nas_bench_macro": {"root": "nas-bench-macro", "requires": ("nas-bench-macro/nas-bench-macro_cifar10.json",)},
}
PROFILES = ("smoke", "default", "paper")
PROFILE_ENV = "SPDNAS_PROFILE"


def params_path(root: Path | None = None) -> Path:
    """Path of params.yaml in the workbench root."""
    return (root or repo_root()) / "params.yaml"


def read_params(root: Path | None = None) -> dict:
    """Parsed params.yaml (ValueError when missing keys or malformed)."""
    path = params_path(root)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"params file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or "profile" not in data:
        raise ValueError(f"{path}: expected a mapping with a top-level 'profile' key")
    return data


def active_profile(params: dict | None = None, profile: str | None = None) -> str:
    """The profile in force: explicit argument, else ``$SPDNAS_PROFILE``, else params.yaml's ``profile``."""
    params = read_params() if params is None else params
    prof = profile or os.environ.get(PROFILE_ENV) or params.get("profile")
    if prof not in PROFILES:
        raise ValueError(f"unknown profile {prof!r}; choose from {', '.join(PROFILES)}")
    return prof


def stage_params(section: str, profile: str | None = None, root: Path | None = None) -> dict[str, Any]:
    """Parameters of one stage section for the active profile.

    Keys shared by all profiles may be given at the section's top level beside the profile blocks.
    """
    params = read_params(root)
    return section_values(params, section, active_profile(params, profile))


def section_values(params: dict, section: str, prof: str) -> dict[str, Any]:
    if section not in params:
        raise ValueError(f"params.yaml has no section {section!r} (sections: {sorted(k for k in params if k != 'profile')})")
    sec = params[section]
    if not isinstance(sec, dict) or not all(p in sec for p in PROFILES):
        raise ValueError(f"params.yaml section {section!r} must have blocks for every profile {PROFILES}")
    common = {k: v for k, v in sec.items() if k not in PROFILES}
    block = sec[prof] or {}
    overlap = set(common) & set(block)
    if overlap:
        raise ValueError(f"params.yaml section {section!r}: keys {sorted(overlap)} given both shared and per profile")
    return {**common, **block}


def set_profile(profile: str, root: Path | None = None) -> None:
    """Set the ``profile:`` line of params.yaml (comments and layout kept; atomic write)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    path = params_path(root)
    text = path.read_text()
    new, n = re.subn(r"(?m)^profile:\s*\S+", f"profile: {profile}", text, count=1)
    if n != 1:
        raise ValueError(f"{path}: no top-level 'profile:' line to set")
    atomic_write_text(path, new)


def shared_data_root(path: str | os.PathLike | None = None) -> Path:
    """Folder of external real data (HDM05 subset, NAS-Bench-Macro, user datasets).

    The one rule: ``path`` wins, then ``$SPDNAS_DATA``, then params.yaml's ``shared_data`` (relative
    to the workbench root), then ``<repo>/../shared/data``. The folder may not exist: loaders check
    and explain what is missing.
    """
    if path is not None:
        return Path(path).expanduser().resolve()
    env = os.environ.get(SHARED_DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    try:
        root = repo_root()
    except FileNotFoundError:
        return (Path.cwd() / ".." / "shared" / "data").resolve()
    try:
        rel = read_params(root).get("shared_data")
    except (FileNotFoundError, ValueError):
        rel = None
    return (root / (rel or "../shared/data")).resolve()
