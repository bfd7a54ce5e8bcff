"""JupyterLab as `make lab` starts it: loopback only, token auth, notebooks and kernels over REST
and the kernel websocket."""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

requests = pytest.importorskip("requests")
websocket = pytest.importorskip("websocket")  # websocket-client (a jupyter_server dependency)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/06_point_estimates.ipynb"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    exe = Path(sys.executable).parent / "jupyter"
    if not exe.exists() and shutil.which("jupyter") is None:
        pytest.skip("jupyter not installed")
    tmp = tmp_path_factory.mktemp("lab")
    token = secrets.token_hex(24)
    port = _free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp / "config"), "SPDNAS_ROOT": str(ROOT)}
    cmd = [str(exe if exe.exists() else shutil.which("jupyter")), "lab", "--ip=127.0.0.1",
           f"--port={port}", "--no-browser", f"--ServerApp.token={token}",
           f"--ServerApp.root_dir={ROOT}", "--ServerApp.port_retries=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers/CI often run as root
        cmd.append("--allow-root")
    log = open(tmp / "lab.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"token {token}"}
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited ({proc.returncode}):\n{(tmp / 'lab.log').read_text()[-3000:]}")
            try:
                r = requests.get(f"{base}/api/status", headers=headers, timeout=2)
                if r.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer in 90 s:\n{(tmp / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token, headers, port
    finally:
        proc.terminate()  # stop exactly the server we started, by its PID
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_status_needs_and_accepts_token(lab):
    base, _, headers, _ = lab
    r = requests.get(f"{base}/api/status", headers=headers, timeout=5)
    assert r.status_code == 200 and "started" in r.json()
    assert requests.get(f"{base}/api/contents", timeout=5).status_code in (401, 403)
    bad = {"Authorization": f"token {secrets.token_hex(24)}"}
    assert requests.get(f"{base}/api/contents", headers=bad, timeout=5).status_code in (401, 403)


def test_listens_on_loopback_only(lab):
    _, _, _, port = lab
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True) if shutil.which("ss") else None
    if out is None or out.returncode != 0:
        pytest.skip("ss not available to list listening sockets")
    mine = [ln.split()[3] for ln in out.stdout.splitlines() if ln.split()[3].endswith(f":{port}")]
    assert mine and all(a.startswith(("127.0.0.1:", "[::1]:")) for a in mine), mine


def test_open_notebook_over_rest(lab):
    base, _, headers, _ = lab
    r = requests.get(f"{base}/api/contents/{NOTEBOOK}", headers=headers, params={"content": 1}, timeout=10)
    assert r.status_code == 200, r.text[:300]
    model = r.json()
    assert model["type"] == "notebook" and model["format"] == "json"
    cells = model["content"]["cells"]
    assert any("parameters" in c["metadata"].get("tags", []) for c in cells)
    assert model["content"]["metadata"]["kernelspec"]["name"] == "python3"


def _execute(ws, code: str, timeout: float = 60.0) -> tuple[str, str]:
    """Send an execute_request over the kernel websocket; return (status, stdout text)."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }))
    stdout, status, idle = [], None, False
    deadline = time.monotonic() + timeout
    while not (status and idle):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no reply to {code!r} in {timeout} s")
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["header"]["msg_type"]
        if kind == "stream" and msg["content"]["name"] == "stdout":
            stdout.append(msg["content"]["text"])
        elif kind == "error":
            stdout.append("\n".join(msg["content"]["traceback"]))
        elif kind == "execute_reply":
            status = msg["content"]["status"]
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
    return status, "".join(stdout)


def test_kernel_runs_a_cell_over_websocket(lab):
    base, token, headers, port = lab
    r = requests.post(f"{base}/api/kernels", headers=headers, json={"name": "python3"}, timeout=30)
    assert r.status_code == 201, r.text[:300]
    kid = r.json()["id"]
    try:
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}/api/kernels/{kid}/channels?token={token}", timeout=60)
        try:
            status, out = _execute(ws, "from spdnas.workbench import pipeline\nprint(6 * 7, pipeline.repo_root())")
            assert status == "ok", out
            answer, root = out.split()
            assert answer == "42" and Path(root) == ROOT
            status, out = _execute(ws, "1 / 0")
            assert status == "error" and "ZeroDivisionError" in out
        finally:
            ws.close()
        # the websocket refuses connections without the token
        with pytest.raises(Exception):
            websocket.create_connection(f"ws://127.0.0.1:{port}/api/kernels/{kid}/channels", timeout=10)
    finally:
        assert requests.delete(f"{base}/api/kernels/{kid}", headers=headers, timeout=30).status_code == 204
