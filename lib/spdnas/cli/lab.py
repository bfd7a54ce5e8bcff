"""``spdnas lab``: JupyterLab on 127.0.0.1 with a random token that never appears on a command line.

The token and the server settings are written to ``jupyter_server_config.json`` (mode 0600) in a
private temporary folder (mode 0700, removed once the server has read it); the server is started
as ``python -m jupyterlab --config=<that file>``, so ``ps`` shows only the file's path. When the
preferred port is taken the server moves to another one (``ServerApp.port_retries``): the URL
printed is read back from the runtime file of the server this command started
(``jpserver-<pid>.json``), so it never points at another server. Kernels are started with
CurveZMQ transport encryption where their kernelspec supports it.

    spdnas lab                 # preferred port 8888, notebooks of the repository
    spdnas lab --port 0        # any free port
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from jupyter_core.paths import jupyter_runtime_dir

from ..core.errors import ReportedError
from ..core.io import atomic_write_text
from ..core.paths import repo_root

__all__ = ["LAB_PORT", "lab_settings", "prepare_lab", "private_runtime_dir", "wait_for_server", "lab_url", "main"]

LAB_PORT = 8888
CONFIG_NAME = "jupyter_server_config.json"


def lab_settings(token: str, root: str | os.PathLike, port: int = LAB_PORT) -> dict:
    """Jupyter config of the lab server: loopback only, ``token`` auth, no browser, ``root`` as root dir."""
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer in [0, 65535], got {port!r}")
    return {
        "ServerApp": {"ip": "127.0.0.1", "port": port, "port_retries": 50, "open_browser": False,
                      "root_dir": str(root), "allow_remote_access": False,
                      "allow_root": hasattr(os, "geteuid") and os.geteuid() == 0},
        "IdentityProvider": {"token": token},
        "KernelManager": {"transport_encryption": "auto"},
    }


def prepare_lab(root: str | os.PathLike, port: int = LAB_PORT, token: str | None = None) -> SimpleNamespace:
    """Token, private folder, config file (0600) and server argv of one lab start (nothing started).

    Returns ``token``, ``folder`` (mode 0700; remove it when done), ``config`` (the file), ``argv``
    and ``root``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"lab root folder not found: {root}")
    token = token or secrets.token_hex(24)
    settings = lab_settings(token, root.resolve(), port)
    folder = Path(tempfile.mkdtemp(prefix="spdnas-lab-"))  # created 0700
    try:
        config = atomic_write_text(folder / CONFIG_NAME, json.dumps(settings, indent=1) + "\n", mode=0o600)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    argv = [sys.executable, "-m", "jupyterlab", f"--config={config}"]
    return SimpleNamespace(token=token, folder=folder, config=config, argv=argv, root=root)


def private_runtime_dir() -> Path:
    """Jupyter's runtime folder (where the server writes files holding its token), created 0700;
    ValueError when it exists and other users may read it."""
    path = Path(jupyter_runtime_dir())
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ValueError(f"Jupyter runtime folder {path} is open to other users (mode {mode:o}) and the server "
                         "writes its token there: chmod 700 it or set JUPYTER_RUNTIME_DIR to a private folder")
    return path


def wait_for_server(proc: subprocess.Popen, runtime_dir: str | os.PathLike, timeout: float = 120.0) -> dict:
    """The server info (``jpserver-<pid>.json``) of ``proc`` once it is written (the server listens).

    ReportedError when the process exits first or nothing appears within ``timeout`` seconds.
    """
    path = Path(runtime_dir) / f"jpserver-{proc.pid}.json"
    deadline = time.monotonic() + timeout
    while True:
        if path.is_file():
            try:
                info = json.loads(path.read_text())
                if isinstance(info, dict) and isinstance(info.get("port"), int):
                    return info
            except (OSError, ValueError):  # being written
                pass
        if proc.poll() is not None:
            raise ReportedError(f"jupyter lab exited with status {proc.returncode} before it started "
                                "(its messages are above)")
        if time.monotonic() > deadline:
            raise ReportedError(f"jupyter lab did not start within {timeout:g} s (no {path})")
        time.sleep(0.2)


def lab_url(info: dict, token: str) -> str:
    """URL of the lab of a running server (its runtime ``info``), with ``token``."""
    return f"http://127.0.0.1:{int(info['port'])}/lab?token={token}"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    """Entry point; returns the server's exit status."""
    ap = argparse.ArgumentParser(prog="spdnas lab", description=__doc__.splitlines()[0].split(": ", 1)[1],
                                 epilog="The token is printed once, in the URL; it is never on a command line.")
    ap.add_argument("--port", type=int, default=LAB_PORT,
                    help=f"preferred port on 127.0.0.1 (default {LAB_PORT}; 0: any free port); a taken port "
                         "moves the server to another, and the URL printed is the one it listens on")
    ap.add_argument("--root", default=None, help="notebook root folder (default: the repository)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the server to start")
    a = ap.parse_args(argv)
    runtime = private_runtime_dir()
    launch = prepare_lab(Path(a.root) if a.root else repo_root(), a.port)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    proc = None
    try:
        proc = subprocess.Popen(launch.argv, cwd=str(launch.root))
        info = wait_for_server(proc, runtime, a.timeout)
        shutil.rmtree(launch.folder, ignore_errors=True)  # read; the token lives on in the server only
        print(f"JupyterLab on {lab_url(info, launch.token)}", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(launch.folder, ignore_errors=True)
        if in_main:
            signal.signal(signal.SIGTERM, previous)
