"""Papermill notebook runs for DVC stages, and the setup call at the top of every notebook.

Parameters come from :mod:`spdnas.core.params` (profiles of params.yaml).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import papermill as pm
from jupyter_client import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from traitlets import Unicode
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
__all__ = ["OUTPUT_ENV", "RUNS_ENV", "TRACKED_DIRS", "KERNEL_CONFIG", "LoggedKernelManager", "NotebookFailed", "notebook_setup", "run_notebook",
           "run_stage_notebook", "profile_tree", "stage_env", "dvc_command", "stale_stages", "reproduce", "PROFILES_DIR",
           "PROFILE_ENV", "PROFILES", "active_profile",
           "read_params", "section_values", "set_profile", "shared_data_root", "stage_params", "repo_root"]

OUTPUT_ENV = "SPDNAS_OUTPUT_DIR"
RUNS_ENV = "SPDNAS_RUNS_DIR"
# the committed outputs of the notebooks (DVC ``cache: false`` outs): written in a staging folder
# and moved into place only when the notebook ran to the end
TRACKED_DIRS = ("figures", "tables", "metrics")
# where a non-default profile runs: a copy of the project per profile (never the committed outputs)
PROFILES_DIR = Path("runs") / "profiles"
# environment variables a stage must not inherit from the caller (they would redirect its outputs)
_STAGE_ENV_DROP = ("SPDNAS_ROOT", PROFILE_ENV, OUTPUT_ENV, RUNS_ENV)


def notebook_setup(section: str, namespace: dict) -> SimpleNamespace:
    """Call right after a notebook's ``parameters`` cell: ``ctx = notebook_setup("sec", globals())``.

    When ``$SPDNAS_PROFILE`` is set (tests run notebooks with nbval under the smoke profile) the
    parameters found in ``namespace`` are replaced by that profile's values of ``section``; papermill
    runs from DVC stages inject parameters and leave the variable unset. Output folders are
    ``$SPDNAS_OUTPUT_DIR`` (tests: a temp dir, tracked outputs untouched; stage runs: a staging
    folder) or the repo root, and are created; ``runs`` is ``$SPDNAS_RUNS_DIR`` when set. Returns
    ``root``, ``figures``, ``tables``, ``metrics``, ``runs`` paths, ``profile``,
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
    if os.environ.get(RUNS_ENV):
        dirs["runs"] = Path(os.environ[RUNS_ENV])
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


class LoggedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel process writes its stderr to a file instead of the caller's."""

    # the kernel's own log and shutdown noise (e.g. tornado's "Uncaught exception in ZMQStream
    # callback" when a shutdown races the iopub thread) would otherwise interleave with the caller's
    # one-line errors; cell output is unaffected (ipykernel sends it to the notebook)
    kernel_log = Unicode("", help="file the kernel process's stderr is appended to ('' = inherit)").tag(config=True)

    async def start_kernel(self, **kw) -> None:
        """Start the kernel with its stderr appended to ``kernel_log`` (when set)."""
        if not self.kernel_log or "stderr" in kw:
            return await super().start_kernel(**kw)
        with open(self.kernel_log, "ab") as log:  # the child keeps its own copy of the descriptor
            return await super().start_kernel(stderr=log, **kw)


def _first_line(text) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _failure(notebook: Path, exc: Exception, kept: Path, log: Path) -> str:
    if isinstance(exc, pm.PapermillExecutionError):
        what, detail = f"cell In [{exc.exec_count}] raised {exc.ename}", _first_line(exc.evalue)
    else:
        what, detail = type(exc).__name__, _first_line(exc)
    msg = f"{notebook.name}: {what}{': ' + detail if detail else ''} (executed copy with the traceback: {kept}"
    if isinstance(exc, DeadKernelError) and log.is_file():
        last = _last_line(log)
        msg += f"; kernel log: {log}" + (f", last line: {last}" if last else "")
    return msg + ")"


def run_notebook(notebook: str | os.PathLike, output: str | os.PathLike, parameters: dict,
                 cwd: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Execute a notebook with papermill (kernel ``python3``), writing the executed copy atomically.

    A cell that raises (or a dead / timed-out kernel) raises :class:`NotebookFailed` naming the cell
    and the error; the partly executed copy is kept as ``<output stem>.failed.ipynb``. The kernel
    process's stderr goes to ``<output stem>.kernel.log``, kept only when the run failed.
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
    failed = output.with_name(f"{output.stem}.failed.ipynb")
    log = output.with_name(f"{output.stem}.kernel.log")
    log.unlink(missing_ok=True)
    config = Config(KERNEL_CONFIG)
    config.LoggedKernelManager.kernel_log = str(log)
    ok = False
    try:
        try:
            pm.execute_notebook(str(notebook), str(tmp), parameters=parameters, kernel_name="python3",
                                cwd=str(cwd or repo_root()), progress_bar=progress, config=config,
                                kernel_manager_class=LoggedKernelManager)
        except (pm.PapermillExecutionError, DeadKernelError, CellTimeoutError) as exc:
            if tmp.exists():
                os.replace(tmp, failed)
            raise NotebookFailed(_failure(notebook, exc, failed, log)) from None
        os.replace(tmp, output)
        failed.unlink(missing_ok=True)
        ok = True
    finally:
        if tmp.exists():
            tmp.unlink()
        if ok or (log.is_file() and not log.stat().st_size):
            log.unlink(missing_ok=True)
    return output


def run_stage_notebook(notebook: str | os.PathLike, output: str | os.PathLike, parameters: dict,
                       root: str | os.PathLike | None = None, progress: bool = True) -> list[Path]:
    """Run a stage notebook so that a failure never touches the committed outputs.

    The notebook writes its figures/tables/metrics into a staging folder (``runs/.staging``;
    upstream results are read from ``root/runs`` as usual); only when it ran to the end are the
    files moved into place (one atomic rename each). On failure the previous outputs stay, the
    staging folder is removed and :class:`NotebookFailed` names the failing cell in one line.
    Returns the files moved into place.
    """
    root = Path(root) if root is not None else repo_root()
    staging = root / "runs" / ".staging" / f"{Path(notebook).stem}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    saved = {k: os.environ.get(k) for k in (OUTPUT_ENV, RUNS_ENV, "SPDNAS_ROOT")}
    os.environ[OUTPUT_ENV], os.environ[RUNS_ENV] = str(staging), str(root / "runs")
    os.environ["SPDNAS_ROOT"] = str(root)  # the kernel resolves the same project as this run
    try:
        run_notebook(notebook, output, parameters, cwd=root, progress=progress)
        moved = []
        for name in TRACKED_DIRS:
            for src in sorted(p for p in (staging / name).rglob("*") if p.is_file()):
                dst = root / src.relative_to(staging)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
                moved.append(dst)
        return moved
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(staging, ignore_errors=True)


def _tracked_files(root: Path) -> list[str]:
    try:
        proc = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise ValueError(f"{root}: cannot list the project's files with git ({e}); a profile run copies them") from None
    return [f for f in proc.stdout.decode().split("\0") if f]


def profile_tree(profile: str, root: str | os.PathLike | None = None, dest: str | os.PathLike | None = None) -> Path:
    """A fresh copy of the project (its git-tracked files and ``dvc.lock``) at ``dest`` (default
    ``runs/profiles/<profile>``) with ``profile`` selected in its params.yaml and DVC set up to run
    without git: a smoke or paper run there never touches the committed default results."""
    root = Path(root) if root is not None else repo_root()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    dest = Path(dest) if dest is not None else root / PROFILES_DIR / profile
    files = _tracked_files(root)
    if dest.exists():
        shutil.rmtree(dest)
    for f in files + (["dvc.lock"] if (root / "dvc.lock").is_file() else []):
        src = root / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    set_profile(profile, dest)
    (dest / ".dvc").mkdir(exist_ok=True)
    (dest / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")
    return dest


def stage_env() -> dict:
    """The environment of a pipeline run: this Python first on PATH and as ``$SPDNAS_PYTHON`` (used
    by ``tools/py``), without the variables that redirect outputs or the profile."""
    env = {k: v for k, v in os.environ.items() if k not in _STAGE_ENV_DROP}
    env["SPDNAS_PYTHON"] = sys.executable
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def dvc_command() -> str:
    """The ``dvc`` executable of this environment."""
    exe = Path(sys.executable).parent / "dvc"
    found = str(exe) if exe.exists() else shutil.which("dvc")
    if not found:
        raise FileNotFoundError("dvc is not installed in this environment (make venv installs it)")
    return found


def stale_stages(root: str | os.PathLike | None = None) -> list[str]:
    """Stages ``dvc status`` reports as not up to date (after a run: the failed or skipped ones)."""
    root = Path(root) if root is not None else repo_root()
    proc = subprocess.run([dvc_command(), "status", "--json"], cwd=root, env=stage_env(), capture_output=True,
                          text=True)
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise ValueError(f"dvc status failed in {root}: {last}")
    return sorted(json.loads(proc.stdout or "{}"))


def reproduce(root: str | os.PathLike | None = None) -> list[str]:
    """``dvc repro --keep-going`` in ``root`` (independent stages still run when one fails); returns
    the stages left not reproduced (empty: everything is up to date)."""
    root = Path(root) if root is not None else repo_root()
    subprocess.run([dvc_command(), "repro", "--keep-going"], cwd=root, env=stage_env())
    return stale_stages(root)
