"""`dvc repro` of the analysis stages on the smoke profile in a temporary copy of the workbench.

The copy holds the working tree's tracked and untracked-but-not-ignored files (what a `git clone`
of the current state would give, uncommitted edits included) in a fresh git repository; its own
``lib/`` is imported (``PYTHONPATH``) and the external data folder is pointed at a missing path,
so the "not run: ..." branches of the notebooks are exercised (the nbval test covers the
data-present branches). As ``make repro`` does, the data manifest
(``metrics/shared_data.json``, a dependency of every data-dependent stage) is rewritten first. To
fit the test budget only ``compare_spaces`` and ``distribution_shape`` are reproduced, with their
upstream ``sweep_digits`` (the notebooks of ``data_overview`` and ``point_estimates`` run under nbval in
test_notebooks_run.py, which also checks that they write exactly their declared outputs).
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["compare_spaces", "distribution_shape"]
STAGES = ["sweep_digits", *TARGETS]


def _run(cmd, cwd, env, timeout=600):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


def _declared(stage: dict) -> set:
    return {next(iter(o)) if isinstance(o, dict) else o
            for key in ("outs", "metrics", "plots") for o in stage.get(key, [])}


@pytest.fixture(scope="module")
def repro(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    base = tmp_path_factory.mktemp("dvc-clone")
    dst = base / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():  # skip tracked files deleted in the working tree
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)
    venv_bin = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPDNAS_PROFILE", "SPDNAS_OUTPUT_DIR", "PYTHONPATH")}
    env.update(PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}", SPDNAS_ROOT=str(dst),
               PYTHONPATH=str(dst / "lib"), SPDNAS_DATA=str(base / "no-shared-data"),
               DVC_NO_ANALYTICS="1", MPLBACKEND="Agg", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    _run(["git", "init", "-q"], dst, env)
    _run(["git", "add", "-A"], dst, env)
    _run(["git", "commit", "-q", "-m", "snapshot"], dst, env)
    _run([sys.executable, "-m", "spdnas", "pipeline", "set-profile", "smoke"], dst, env)
    _run([sys.executable, "-m", "spdnas", "report", "manifest", "--out", "metrics/shared_data.json"], dst, env)
    log = _run(["dvc", "repro", *TARGETS], dst, env, timeout=900)
    return dst, env, log


def test_repro_smoke_outputs_exist(repro):
    dst, _, _ = repro
    stages = yaml.safe_load((dst / "dvc.yaml").read_text())["stages"]
    for name in STAGES:
        for out in _declared(stages[name]):
            assert (dst / out).exists(), f"stage {name}: output {out} missing after dvc repro"
    lock = yaml.safe_load((dst / "dvc.lock").read_text())["stages"]
    for name in STAGES:
        assert lock[name]["params"]["params.yaml"]["profile"] == "smoke", name


def test_status_clean_after_repro(repro):
    dst, env, _ = repro
    status = json.loads(_run(["dvc", "status", "--json", *STAGES], dst, env) or "{}")
    assert status == {}, status


def test_bytecode_and_kernel_caches_do_not_change_dependencies(repro):
    """Python bytecode and numba's kernel cache are written next to the library sources at run time;
    DVC must not count them as changes of a stage's source-folder dependency."""
    dst, env, _ = repro
    cache = dst / "lib" / "spdnas" / "sweep" / "__pycache__"  # a dependency folder of sweep_digits
    cache.mkdir(exist_ok=True)
    for name in ("small_eigh._decompose-1.py311.nbi", "small_eigh._decompose-1.py311.1.nbc", "x.cpython-311.pyc"):
        (cache / name).write_bytes(b"cache")
    status = json.loads(_run(["dvc", "status", "--json", *STAGES], dst, env) or "{}")
    assert status == {}, status


def test_only_declared_outputs_written(repro):
    dst, env, _ = repro
    stages = yaml.safe_load((dst / "dvc.yaml").read_text())["stages"]
    declared = set().union(*(_declared(stages[s]) for s in STAGES)) | {"metrics/shared_data.json"}
    changed = _run(["git", "status", "--porcelain", "-uall", "--", "figures", "tables", "metrics"],
                   dst, env).splitlines()
    for line in changed:
        path = line[3:].strip()
        assert path in declared, f"{path} was written but is not a declared output of {STAGES}"


def test_missing_data_reported_not_faked(repro):
    dst, _, _ = repro
    man = json.loads((dst / "metrics" / "shared_data.json").read_text())
    assert not man["hdm05"]["present"] and not man["nas_bench_macro"]["present"]
    ds = pd.read_csv(dst / "tables" / "distribution_shape.csv").set_index("population")
    assert ds.at["nas-bench-macro", "status"].startswith("not run: NAS-Bench-Macro missing")
    assert pd.isna(ds.at["nas-bench-macro", "rse_exact@16"])
    assert ds.at["digits-ResNet", "status"] == "ok"
    assert "not run" in (dst / "tables" / "distribution_shape.tex").read_text()
    cmp_ = pd.read_csv(dst / "tables" / "compare_spaces.csv")
    assert cmp_.loc[cmp_["comparison"] == "nbm", "status"].str.startswith("not run").all()


def test_plots_show_renders_offline(repro):
    dst, env, _ = repro
    template = ROOT / ".dvc" / "plots" / "offline.html"
    assert template.stat().st_size < 3 * 1024 * 1024
    _run(["dvc", "plots", "show", "--out", "plots_html"], dst, env)
    html = (dst / "plots_html" / "index.html").read_text(encoding="utf-8")
    srcs = re.findall(r"<script[^>]*\bsrc\s*=\s*[\"']?([^\"' >]+)", html, flags=re.I)
    assert not [s for s in srcs if re.match(r"(https?:)?//", s)], f"external scripts: {srcs}"
    assert "cdn.jsdelivr" not in html
    assert "vegaEmbed" in html and len(re.findall(r"<div id\s*=", html)) == 2  # both plots rendered
    assert len(html.encode()) < 4 * 1024 * 1024
