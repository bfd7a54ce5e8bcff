"""JupyterLab as `make lab` starts it (`python -m spdnas lab`): loopback only, token auth with the
token never on a command line (a mode-0600 config file in a private folder), the printed URL is
the server actually started (also when the preferred port is taken), notebooks and kernels over
REST and the kernel websocket."""

import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from spdnas.cli.lab import lab_settings, prepare_lab, private_runtime_dir

requests = pytest.importorskip("requests")
websocket = pytest.importorskip("websocket")  # websocket-client (a jupyter_server dependency)
psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/06_point_estimates.ipynb"
URL = re.compile(r"^JupyterLab on (http://127\.0\.0\.1:(\d+)/lab\?token=([0-9a-f]+))$")


def _reader(stream, q):
    for line in iter(stream.readline, ""):
        q.put(line.rstrip("\n"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if shutil.which("jupyter", path=str(Path(sys.executable).parent)) is None and shutil.which("jupyter") is None:
        pytest.skip("jupyter not installed")
    tmp = tmp_path_factory.mktemp("lab")
    runtime = tmp / "runtime"
    runtime.mkdir(mode=0o700)
    # the preferred port is taken: the server must move and the URL must say where
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTER_CONFIG_DIR": str(tmp / "config"),
           "SPDNAS_ROOT": str(ROOT)}
    log = open(tmp / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "spdnas", "lab", "--port", str(busy), "--root", str(ROOT)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    lines = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    children = []
    try:
        deadline = time.monotonic() + 120
        match = None
        while match is None:
            if time.monotonic() > deadline:
                pytest.fail(f"spdnas lab printed no URL in 120 s:\n{(tmp / 'lab.log').read_text()[-3000:]}")
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                if proc.poll() is not None:
                    pytest.fail(f"spdnas lab exited ({proc.returncode}):\n{(tmp / 'lab.log').read_text()[-3000:]}")
                continue
            match = URL.match(line)
        url, port, token = match.group(1), int(match.group(2)), match.group(3)
        children = psutil.Process(proc.pid).children(recursive=True)
        headers = {"Authorization": f"token {token}"}
        yield dict(base=f"http://127.0.0.1:{port}", token=token, headers=headers, port=port, url=url, busy=busy,
                   proc=proc, children=children, runtime=runtime)
    finally:
        taken.close()
        proc.send_signal(signal.SIGTERM)  # stop exactly the command we started; it stops its server
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        gone, alive = psutil.wait_procs(children, timeout=20)
        for p in alive:  # not expected: the test below fails on it
            p.kill()
        assert not alive, f"server processes left running: {alive}"


def _cmdline(proc) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:  # gone, or a zombie (the server runs short-lived helpers)
        return ""


def test_printed_url_is_the_server_started_not_the_taken_port(lab):
    assert lab["port"] != lab["busy"]
    r = requests.get(f"{lab['base']}/api/status", headers=lab["headers"], timeout=5)
    assert r.status_code == 200
    server = next(p for p in lab["children"] if "jupyterlab" in _cmdline(p))
    info = json.loads((lab["runtime"] / f"jpserver-{server.pid}.json").read_text())
    assert info["port"] == lab["port"]
    r = requests.get(lab["url"], timeout=10, allow_redirects=True)
    assert r.status_code == 200 and "JupyterLab" in r.text  # the printed URL logs in with its token


def test_token_is_on_no_command_line_and_the_config_is_gone(lab):
    me = psutil.Process(lab["proc"].pid)
    cmdlines = [c for c in map(_cmdline, [me, *me.children(recursive=True)]) if c]
    assert any("jupyterlab" in c for c in cmdlines), cmdlines
    assert not [c for c in cmdlines if lab["token"] in c]
    config = next(a.split("=", 1)[1] for c in cmdlines for a in c.split() if a.startswith("--config="))
    assert not Path(config).exists() and not Path(config).parent.exists()  # removed once read


def test_prepare_lab_writes_a_private_config_and_keeps_the_token_off_argv():
    launch = prepare_lab(ROOT, 8888)
    try:
        assert stat.S_IMODE(launch.folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(launch.config.stat().st_mode) == 0o600
        assert not [a for a in launch.argv if launch.token in a]
        assert launch.argv[:3] == [sys.executable, "-m", "jupyterlab"]
        cfg = json.loads(launch.config.read_text())
        assert cfg["IdentityProvider"]["token"] == launch.token and len(launch.token) >= 32
        assert cfg["ServerApp"]["ip"] == "127.0.0.1" and cfg["ServerApp"]["port"] == 8888
        assert cfg["ServerApp"]["open_browser"] is False and cfg["ServerApp"]["allow_remote_access"] is False
    finally:
        shutil.rmtree(launch.folder)
    with pytest.raises(ValueError, match="port"):
        lab_settings("t", ROOT, 70000)
    with pytest.raises(FileNotFoundError, match="lab root folder not found"):
        prepare_lab(ROOT / "no-such-folder")


def test_runtime_folder_must_be_private(tmp_path, monkeypatch):
    rt = tmp_path / "rt"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(rt))
    assert private_runtime_dir() == rt and stat.S_IMODE(rt.stat().st_mode) == 0o700  # created private
    rt.chmod(0o755)
    with pytest.raises(ValueError, match="open to other users"):
        private_runtime_dir()


def test_make_lab_runs_spdnas_lab():
    text = (ROOT / "Makefile").read_text()
    recipe = text.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "-m spdnas lab" in recipe and "token" not in recipe


def test_status_needs_and_accepts_token(lab):
    base, headers = lab["base"], lab["headers"]
    r = requests.get(f"{base}/api/status", headers=headers, timeout=5)
    assert r.status_code == 200 and "started" in r.json()
    assert requests.get(f"{base}/api/contents", timeout=5).status_code in (401, 403)
    bad = {"Authorization": f"token {secrets.token_hex(24)}"}
    assert requests.get(f"{base}/api/contents", headers=bad, timeout=5).status_code in (401, 403)


def test_listens_on_loopback_only(lab):
    port = lab["port"]
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True) if shutil.which("ss") else None
    if out is None or out.returncode != 0:
        pytest.skip("ss not available to list listening sockets")
    mine = [ln.split()[3] for ln in out.stdout.splitlines() if ln.split()[3].endswith(f":{port}")]
    assert mine and all(a.startswith(("127.0.0.1:", "[::1]:")) for a in mine), mine


def test_open_notebook_over_rest(lab):
    base, headers = lab["base"], lab["headers"]
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
    base, token, headers, port = lab["base"], lab["token"], lab["headers"], lab["port"]
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
