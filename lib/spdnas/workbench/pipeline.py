"""Papermill notebook runs for DVC stages, and the setup call at the top of every notebook.

Parameters come from :mod:`spdnas.core.params` (profiles of params.yaml).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import papermill as pm
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from traitlets.config import Config

from ..core.params import (
    PROFILE_ENV,
    PROFILES,
    active_profile,
    read_params,
    section_values,
    set_profile,
    shared_data_root,
    stage_params,
)
from ..core.errors import ReportedError
from ..core.paths import repo_root

# the parameter functions notebooks call through this module (defined in spdnas.core.params)
__all__ = ["OUTPUT_ENV", "KERNEL_CONFIG", "NotebookFailed", "notebook_setup", "run_notebook", "PROFILE_ENV", "PROFILES", "active_profile",
           "read_params", "section_values", "set_profile", "shared_data_root", "stage_params", "repo_root"]

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
    root = repo_root()
    params = read_params(root)
    prof_env = os.environ.get(PROFILE_ENV)
    profile = active_profile(params, prof_env or params.get("profile", "default"))
    values_in_force = section_values(params, section, profile)
    if prof_env:
        for key, val in values_in_force.items():
            if key in namespace:
                namespace[key] = val
    base = Path(os.environ[OUTPUT_ENV]) if os.environ.get(OUTPUT_ENV) else root
    dirs = {name: base / name for name in ("figures", "tables", "metrics", "runs")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    values = {k: namespace[k] for k in values_in_force if k in namespace}
    return SimpleNamespace(root=root, profile=profile, params=values, shared_data=shared_data_root(), **dirs)


class NotebookFailed(ReportedError):
    """A notebook run by :func:`run_notebook` raised in a cell (or its kernel died or timed out)."""


# Kernels started for notebook runs get CurveZMQ transport encryption when their kernelspec declares
# support (ipykernel's does), so they do not warn "Kernel is running over TCP without encryption";
# the executed notebooks are the same either way.
KERNEL_CONFIG = {"KernelManager": {"transport_encryption": "auto"}}


def _first_line(text) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


def _failure(notebook: Path, exc: Exception, kept: Path) -> str:
    if isinstance(exc, pm.PapermillExecutionError):
        what, detail = f"cell In [{exc.exec_count}] raised {exc.ename}", _first_line(exc.evalue)
    else:
        what, detail = type(exc).__name__, _first_line(exc)
    return f"{notebook.name}: {what}{': ' + detail if detail else ''} (executed copy with the traceback: {kept})"


def run_notebook(notebook: str | os.PathLike, output: str | os.PathLike, parameters: dict,
                 cwd: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Execute a notebook with papermill (kernel ``python3``), writing the executed copy atomically.

    A cell that raises (or a dead / timed-out kernel) raises :class:`NotebookFailed` naming the cell
    and the error; the partly executed copy is kept as ``<output stem>.failed.ipynb``.
    """
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
        try:
            pm.execute_notebook(str(notebook), str(tmp), parameters=parameters, kernel_name="python3",
                                cwd=str(cwd or repo_root()), progress_bar=progress, config=Config(KERNEL_CONFIG))
        except (pm.PapermillExecutionError, DeadKernelError, CellTimeoutError) as exc:
            kept = output.with_name(f"{output.stem}.failed.ipynb")
            if tmp.exists():
                os.replace(tmp, kept)
            raise NotebookFailed(_failure(notebook, exc, kept)) from None
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()
    return output
