"""Crash safety: SIGKILL a sweep process mid-run, resume, get exactly n unique records."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest

from spdnas.spaces import AnyNetSpace
from spdnas.sweep import ResultStore, run_sweep

N = 5
RECIPE = {"epochs": 1, "max_train": 384, "batch_size": 32, "max_test": 200}
SCRIPT = f"""
import sys
from spdnas.spaces import AnyNetSpace
from spdnas.sweep import run_sweep
space = AnyNetSpace("tiny_kill", "res_basic", [1, 2], [4, 8])
run_sweep(space, "digits", {N}, seed=3, recipe={RECIPE!r}, store=sys.argv[1], progress=False)
"""


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume(tmp_path):
    store = tmp_path / "kill.jsonl"
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(store)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 90
    try:
        while time.time() < deadline:
            if store.exists() and len(store.read_bytes().splitlines()) >= 2:
                break
            if proc.poll() is not None:
                pytest.fail(f"sweep exited early: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.05)
        else:
            pytest.fail("sweep produced no records in time")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a torn last line is allowed here
        before = ResultStore(store).load()
    assert 2 <= len(before) < N, "kill landed after the sweep finished"
    kept = {r["model_id"]: r for r in before}

    space = AnyNetSpace("tiny_kill", "res_basic", [1, 2], [4, 8])
    recs = run_sweep(space, "digits", N, seed=3, recipe=RECIPE, store=store, progress=False)
    assert [r["model_id"] for r in recs] == list(range(N))
    lines = store.read_text().splitlines()
    assert len(lines) == N  # no duplicates, no torn lines left
    ids = [json.loads(x)["model_id"] for x in lines]
    assert sorted(ids) == list(range(N))
    for r in recs:  # records written before the kill are kept as they were
        if r["model_id"] in kept:
            assert r == kept[r["model_id"]]
