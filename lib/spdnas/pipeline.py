"""Pipeline parameters (profiles in params.yaml) and papermill notebook runs for DVC stages.

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

import argparse
import json
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from .paths import atomic_write_text, repo_root

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
    return _section_values(params, section, active_profile(params, profile))


def _section_values(params: dict, section: str, prof: str) -> dict[str, Any]:
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


OUTPUT_ENV = "SPDNAS_OUTPUT_DIR"


def notebook_setup(section: str, namespace: dict) -> SimpleNamespace:
    """Call right after a notebook's ``parameters`` cell: ``ctx = notebook_setup("sec", globals())``.

    When ``$SPDNAS_PROFILE`` is set (tests run notebooks with nbval under the smoke profile) the
    parameters found in ``namespace`` are replaced by that profile's values of ``section``; papermill
    runs from DVC stages inject parameters and leave the variable unset. Output folders are
    ``$SPDNAS_OUTPUT_DIR`` (tests: a temp dir, tracked outputs untouched) or the repo root, and are
    created. Returns ``root``, ``figures``, ``tables``, ``metrics``, ``runs`` paths, ``profile``,
    ``params`` (the section values in force) and ``shared_data`` (the external data folder).
    """
    from .paths import shared_data_root

    root = repo_root()
    params = read_params(root)
    prof_env = os.environ.get(PROFILE_ENV)
    profile = active_profile(params, prof_env or params.get("profile", "default"))
    section_values = _section_values(params, section, profile)
    if prof_env:
        for key, val in section_values.items():
            if key in namespace:
                namespace[key] = val
    base = Path(os.environ[OUTPUT_ENV]) if os.environ.get(OUTPUT_ENV) else root
    dirs = {name: base / name for name in ("figures", "tables", "metrics", "runs")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    values = {k: namespace[k] for k in section_values if k in namespace}
    shared = params.get("shared_data")
    shared_path = shared_data_root(None if os.environ.get("SPDNAS_DATA") or not shared else root / shared)
    return SimpleNamespace(root=root, profile=profile, params=values, shared_data=shared_path, **dirs)


def run_notebook(notebook: str | os.PathLike, output: str | os.PathLike, parameters: dict,
                 cwd: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Execute a notebook with papermill (kernel ``python3``), writing the executed copy atomically."""
    import papermill as pm

    notebook, output = Path(notebook), Path(output)
    if not notebook.exists():
        raise FileNotFoundError(f"notebook not found: {notebook}")
    declared = {p for p in pm.inspect_notebook(str(notebook))}
    unknown = set(parameters) - declared
    if unknown:
        raise ValueError(f"{notebook.name}: unknown parameters {sorted(unknown)} (declared: {sorted(declared)})")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp{os.getpid()}.ipynb")
    try:
        pm.execute_notebook(str(notebook), str(tmp), parameters=parameters, kernel_name="python3",
                            cwd=str(cwd or repo_root()), progress_bar=progress)
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()
    return output


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spdnas.pipeline", description="pipeline parameters")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("set-profile", help="set params.yaml's profile")
    p.add_argument("profile", choices=PROFILES)
    p = sub.add_parser("params", help="print a stage's parameters for the active profile as JSON")
    p.add_argument("section")
    p = sub.add_parser("notebook", help="run notebooks/<name>.ipynb with its stage parameters")
    p.add_argument("name")
    p.add_argument("--section", default=None, help="params section (default: the notebook name)")
    p.add_argument("--out", default=None, help="executed notebook path")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="extra parameter")
    args = ap.parse_args(argv)
    if args.cmd == "set-profile":
        set_profile(args.profile)
        print(f"profile: {args.profile}")
    elif args.cmd == "params":
        print(json.dumps(stage_params(args.section), indent=1))
    elif args.cmd == "notebook":
        root = repo_root()
        params = stage_params(args.section or args.name)
        for kv in args.set:
            k, _, v = kv.partition("=")
            params[k] = json.loads(v)
        out = Path(args.out) if args.out else root / "runs" / "notebooks" / f"{args.name}.ipynb"
        run_notebook(root / "notebooks" / f"{args.name}.ipynb", out, params, cwd=root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
