"""A pipeline that never destroys results (issue 18, items 1-4): parameters are checked before any
stage runs, a failing stage keeps the committed outputs, corrupt optional data becomes "not run"
rows, stage commands do not depend on the caller's PATH, a non-default profile runs in its own
tree, and results written before a run finished are marked and refused."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import yaml

from spdnas import experiments as E
from spdnas import nas
from spdnas.cli import main as cli
from spdnas.core.trainer import fit
from spdnas.workbench import pipeline, report

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def _copy_project(dst: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode()
    for f in filter(None, files.split("\0")):
        if (ROOT / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    return dst


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPDNAS_")}
    env.update(extra)
    return env


# --------------------------------------------------------------------------------------------
# 1. parameters are checked before anything runs
# --------------------------------------------------------------------------------------------


def test_pipeline_check_passes_on_every_profile_of_the_committed_params():
    for profile in ("smoke", "default", "paper"):
        proc = subprocess.run([PY, "-m", "spdnas", "pipeline", "check", "--profile", profile], cwd=ROOT,
                              env=_env(), capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "check out" in proc.stdout


def test_pipeline_check_names_every_bad_value_one_line_each(tmp_path):
    proj = _copy_project(tmp_path / "p")
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["sweep_digits"]["default"]["n"] = "four"
    params["sweep_digits"]["default"]["epochs"] = -1
    params["compare_spaces"]["default"]["no_such_key"] = 1
    params["exp_search"]["default"]["epochs"] = 0
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    before = {p: p.read_bytes() for p in (proj / "metrics").glob("*.json")}
    proc = subprocess.run([PY, "-m", "spdnas", "pipeline", "check"], cwd=proj, env=_env(), capture_output=True,
                          text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 4 and "Traceback" not in proc.stderr, proc.stderr
    text = "\n".join(lines)
    assert "sweep_digits (stage sweep_digits): n must be an integer" in text and "'four'" in text
    assert "epochs must be > 0" in text and "unknown parameter 'no_such_key'" in text
    assert "exp_search (stage exp_search): epochs must be a positive" in text
    assert {p: p.read_bytes() for p in (proj / "metrics").glob("*.json")} == before


def test_make_repro_checks_first_and_keeps_going():
    text = (ROOT / "Makefile").read_text()
    recipe = text[text.index("repro: $(STAMP)"):text.index("bench: $(STAMP)")]
    assert recipe.index("pipeline check --profile default --committed") < recipe.index("dvc repro")
    assert "dvc repro --keep-going" in recipe and "stages not reproduced" in recipe
    assert "set-profile" not in recipe


def _fail_notebook(path: Path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("fail = True\nvalue = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "from spdnas.workbench import pipeline, report\n"
        "ctx = pipeline.notebook_setup('zz_stage', globals())\n"
        "report.write_metrics({'value': value}, ctx.metrics / 'zz_stage.json')\n"
        "(ctx.tables / 'zz_stage.csv').write_text(f'value\\n{value}\\n')\n"
        "if fail:\n"
        "    raise RuntimeError('boom in the last cell')")]
    nbformat.write(nb, str(path))


def test_a_failing_notebook_stage_keeps_the_previous_outputs(tmp_path, capsys):
    proj = tmp_path / "p"
    for name in ("dvc.yaml", "pyproject.toml"):
        (proj / name).parent.mkdir(parents=True, exist_ok=True)
        (proj / name).write_text("stages: {}\n" if name == "dvc.yaml" else "[project]\nname = 'x'\n")
    (proj / "params.yaml").write_text("profile: default\nzz_stage:\n  smoke: {}\n  default: {}\n  paper: {}\n")
    (proj / "notebooks").mkdir()
    _fail_notebook(proj / "notebooks" / "zz_stage.ipynb")
    (proj / "metrics").mkdir()
    (proj / "tables").mkdir()
    (proj / "metrics" / "zz_stage.json").write_text('{"value": "committed"}\n')
    (proj / "tables" / "zz_stage.csv").write_text("value\ncommitted\n")
    out = proj / "runs" / "notebooks" / "zz_stage.ipynb"
    with pytest.raises(pipeline.NotebookFailed, match=r"cell In \[\d+\] raised RuntimeError: boom in the last cell"):
        pipeline.run_stage_notebook(proj / "notebooks" / "zz_stage.ipynb", out, {"fail": True, "value": 2}, proj,
                                    progress=False)
    assert (proj / "metrics" / "zz_stage.json").read_text() == '{"value": "committed"}\n'
    assert (proj / "tables" / "zz_stage.csv").read_text() == "value\ncommitted\n"
    assert not out.exists() and out.with_name("zz_stage.failed.ipynb").is_file()
    assert not any((proj / "runs" / ".staging").iterdir())
    moved = pipeline.run_stage_notebook(proj / "notebooks" / "zz_stage.ipynb", out, {"fail": False, "value": 3},
                                        proj, progress=False)
    assert json.loads((proj / "metrics" / "zz_stage.json").read_text()) == {"value": 3}
    assert (proj / "tables" / "zz_stage.csv").read_text() == "value\n3\n"
    assert sorted(p.name for p in moved) == ["zz_stage.csv", "zz_stage.json"] and out.is_file()
    assert not out.with_name("zz_stage.failed.ipynb").exists()


def test_the_cli_reports_a_failing_notebook_in_one_line(tmp_path, capsys, monkeypatch):
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "dvc.yaml").write_text("stages: {}\n")
    (proj / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (proj / "params.yaml").write_text("profile: default\nzz_stage:\n  smoke: {}\n  default: {}\n  paper: {}\n")
    (proj / "notebooks").mkdir()
    _fail_notebook(proj / "notebooks" / "zz_stage.ipynb")
    monkeypatch.setenv("SPDNAS_ROOT", str(proj))
    assert cli(["pipeline", "notebook", "zz_stage", "--out", str(proj / "runs" / "zz.ipynb")]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.replace("\r", "\n").splitlines()
             if line.strip() and not line.startswith("Executing:")]  # papermill's progress bar
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("spdnas pipeline: error: zz_stage.ipynb: cell In [") and "raised RuntimeError: boom" in lines[0]


def test_committed_outputs_persist_while_their_stage_runs():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, st in stages.items():
        for section in ("outs", "metrics", "plots"):
            for entry in st.get(section, []):
                if isinstance(entry, dict):
                    (path, flags), = entry.items()
                    if flags.get("cache") is False:
                        assert flags.get("persist") is True, f"{name}: {path} is committed but not persist"


def test_a_tiny_pipeline_keeps_going_past_a_failed_stage_and_names_it(tmp_path):
    proj = tmp_path / "d"
    proj.mkdir()
    subprocess.run([str(Path(PY).parent / "dvc"), "init", "--no-scm", "-q"], cwd=proj, check=True, env=_env())
    (proj / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "broken": {"cmd": "echo nope && false", "outs": ["a.txt"]},
        "fine": {"cmd": "echo ok > b.txt", "outs": ["b.txt"]},
        "after_broken": {"cmd": "cat a.txt > c.txt", "deps": ["a.txt"], "outs": ["c.txt"]}}}))
    stale = pipeline.reproduce(proj)
    assert (proj / "b.txt").read_text() == "ok\n"
    assert stale == ["after_broken", "broken"]


def test_corrupt_optional_data_gives_a_not_run_reason_naming_the_file(tmp_path):
    bad = tmp_path / "nbm.json"
    bad.write_text("{not json")
    pop, why = report.load_optional(bad, "NAS-Bench-Macro", lambda p: json.loads(p.read_text()), bad)
    assert pop is None and why.startswith("NAS-Bench-Macro unreadable:")
    pops, missing = report.nds_populations(bad, tmp_path / "absent.parquet")
    assert str(bad) in missing["nas-bench-macro"] and "unreadable" in missing["nas-bench-macro"]
    assert missing["digits-Vanilla"].startswith("digits sweep population (run stage sweep_digits) missing")
    assert report.load_optional(None, "x", lambda: 5) == (5, None)


def test_corrupt_hdm05_is_a_not_run_unit_and_the_other_datasets_still_run(tmp_path):
    src = Path(os.environ.get("SPDNAS_DATA", ROOT.parent / "shared" / "data")) / "hdm05"
    if not (src / "spd").is_dir():
        pytest.skip("real HDM05 data not available")
    shared = tmp_path / "shared"
    shutil.copytree(src / "spd", shared / "hdm05" / "spd")
    for f in ("meta.csv",):
        if (src / f).is_file():
            shutil.copy2(src / f, shared / "hdm05" / f)
    victim = sorted((shared / "hdm05" / "spd").glob("*.npy"))[0]
    a = np.load(victim)
    a[0, 0] = np.nan
    np.save(victim, a)
    cfg = {"datasets": ["radar_sim", "hdm05"], "ablation_datasets": [], "n_per_class": 8, "epochs": 1,
           "order": 1, "batch_size": 30, "max_steps": 1}
    recs = {r["dataset"]: r for r in E.run_search_stage(cfg, tmp_path / "search", shared, progress=False)}
    assert recs["radar_sim"]["status"] == "ok"
    assert recs["hdm05"]["status"].startswith("not run: hdm05 data unreadable:")
    assert victim.name in recs["hdm05"]["status"] and "NaN" in recs["hdm05"]["status"]


# --------------------------------------------------------------------------------------------
# 2. stage commands work however DVC is invoked
# --------------------------------------------------------------------------------------------


def test_stage_commands_do_not_depend_on_the_callers_path():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, st in stages.items():
        words = st["cmd"].replace("&&", " ").split()
        assert "python" not in words and "python3" not in words, f"{name}: bare python in {st['cmd']!r}"
        assert "tools/py" in words, name
    proc = subprocess.run(["tools/py", "-c", "import spdnas, sys; print(sys.executable)"], cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")},
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_stage_python_refuses_an_environment_without_spdnas(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    proc = subprocess.run([str(ROOT / "tools" / "py"), "-m", "spdnas"], env={"PATH": "/usr/bin:/bin",
                          "SPDNAS_PYTHON": str(fake)}, capture_output=True, text=True)
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines() == [
        f"spdnas stage: {fake} cannot import spdnas; run 'make venv' (or activate the environment spdnas is "
        "installed in, or set SPDNAS_PYTHON)"]


# --------------------------------------------------------------------------------------------
# 3. a profile choice is explicit, not sticky
# --------------------------------------------------------------------------------------------


def test_a_profile_run_gets_its_own_tree_and_leaves_the_project_alone(tmp_path):
    proj = _copy_project(tmp_path / "p")
    subprocess.run(["git", "init", "-q"], cwd=proj, check=True)
    subprocess.run(["git", "add", "-A"], cwd=proj, check=True)
    before = (proj / "params.yaml").read_text()
    tree = pipeline.profile_tree("smoke", proj)
    assert tree == proj / "runs" / "profiles" / "smoke"
    assert "profile: smoke" in (tree / "params.yaml").read_text()
    assert (proj / "params.yaml").read_text() == before and "profile: default" in before
    assert (tree / "tables" / "table2.csv").read_bytes() == (proj / "tables" / "table2.csv").read_bytes()
    assert "no_scm = true" in (tree / ".dvc" / "config.local").read_text()
    assert "/runs/profiles/" in (proj / ".dvcignore").read_text()
    proc = subprocess.run([str(Path(PY).parent / "dvc"), "status"], cwd=tree, env=_env(), capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr


def test_make_repro_refuses_a_params_yaml_left_on_another_profile(tmp_path):
    proj = _copy_project(tmp_path / "p")
    text = (proj / "params.yaml").read_text().replace("profile: default", "profile: smoke", 1)
    (proj / "params.yaml").write_text(text)
    proc = subprocess.run([PY, "-m", "spdnas", "pipeline", "check", "--profile", "default", "--committed"],
                          cwd=proj, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 2 and "selects profile 'smoke'" in proc.stderr
    assert "make repro PROFILE=<profile>" in proc.stderr
    dry = subprocess.run(["make", "-n", "repro", "PROFILE=smoke"], cwd=ROOT, capture_output=True, text=True)
    assert "pipeline repro smoke" in dry.stdout and "set-profile" not in dry.stdout


# --------------------------------------------------------------------------------------------
# 4. results written before a run finished are marked and refused
# --------------------------------------------------------------------------------------------


def _spd_data(N=36, n=5, K=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(N) % K
    A = torch.randn(N, n, 2 * n, generator=g, dtype=torch.float64)
    A = A * (1.0 + 0.5 * y.double()).view(-1, 1, 1)
    return A @ A.transpose(-1, -2) / (2 * n) + 1e-3 * torch.eye(n, dtype=torch.float64), y


def test_an_interrupted_search_leaves_a_marked_partial_genotype(tmp_path, capsys):
    data = _spd_data()
    cfg = dict(net=dict(in_dim=5, num_classes=3, reduce_dims=[3]), epochs=2, batch_size=12, max_steps=1, order=1)
    out = tmp_path / "s"
    nas.search(data, cfg, out, progress=False, stop_after=1)
    assert not (out / "genotype.json").exists()
    part = json.loads((out / "genotype.partial.json").read_text())
    assert part["complete"] is False and part["epoch"] == 1 and part["epochs"] == 2
    with pytest.raises(ValueError, match="before its search finished .epoch 1 of 2"):
        nas.load_genotype(out / "genotype.partial.json")
    assert nas.load_genotype(out / "genotype.partial.json", allow_partial=True) == part["genotype"]
    with pytest.raises(ValueError, match="before its search finished"):
        nas.search_history(out / "search_metrics.json")
    assert len(nas.search_history(out / "search_metrics.json", allow_partial=True)) == 1
    cfg_file = tmp_path / "c.json"
    cfg_file.write_text(json.dumps({"data": str(tmp_path / "d.npz"), "net": cfg["net"], "train": {"epochs": 1}}))
    np.savez(tmp_path / "d.npz", X=data[0].numpy(), y=data[1].numpy())
    assert cli(["nas", "train", "--config", str(cfg_file), "--genotype", str(out / "genotype.partial.json"),
                "--out", str(tmp_path / "t"), "--no-progress"]) == 2
    assert "--allow-partial" in capsys.readouterr().err
    # finishing the run replaces the partial file by the final genotype
    res = nas.search(data, cfg, out, progress=False)
    assert not (out / "genotype.partial.json").exists()
    assert json.loads((out / "genotype.json").read_text()) == res["genotype"]
    assert json.loads((out / "search_metrics.json").read_text())["complete"] is True
    assert len(nas.search_history(out / "search_metrics.json")) == 2


def test_training_metrics_say_whether_the_run_finished(tmp_path):
    X, y = _spd_data()
    from spdnas.spd import SPDNet

    torch.manual_seed(0)
    model = SPDNet([5, 4], 3).double()
    fit(model, (X, y), (X, y), config=dict(epochs=2, batch_size=12), out=tmp_path / "t", progress=False,
        stop_after=1)
    assert json.loads((tmp_path / "t" / "metrics.json").read_text())["complete"] is False
    fit(model, (X, y), (X, y), config=dict(epochs=2, batch_size=12), out=tmp_path / "t", progress=False)
    assert json.loads((tmp_path / "t" / "metrics.json").read_text())["complete"] is True


def test_experiment_unit_folders_survive_a_stage_rerun():
    """DVC deletes a stage's outputs before running it unless they persist: the experiment stages'
    unit folders must persist, or a re-run recomputes every finished unit."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name in ("exp_search", "exp_train", "exp_data_efficiency", "exp_cell_spaces"):
        outs = stages[name]["outs"]
        assert all(isinstance(o, dict) and all(v.get("persist") is True for v in o.values()) for o in outs), name
