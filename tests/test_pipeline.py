"""params.yaml profiles, dvc.yaml consistency and the pipeline helpers."""

import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

from spdnas.workbench import pipeline

ROOT = Path(__file__).resolve().parents[1]


def test_params_yaml_defaults_to_default_profile_and_sections_have_every_profile():
    params = pipeline.read_params(ROOT)
    assert params["profile"] == "default"
    for name, sec in params.items():
        if isinstance(sec, dict):
            missing = [p for p in pipeline.PROFILES if p not in sec]
            assert not missing, f"section {name} lacks profiles {missing}"
            for prof in pipeline.PROFILES:
                pipeline.stage_params(name, prof, ROOT)


def test_dvc_stages_list_existing_params_and_deps():
    params = pipeline.read_params(ROOT)
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    assert dvc["stages"], "pipeline has no stage"

    def out_paths(st):
        for key in ("outs", "metrics", "plots"):
            for o in st.get(key, []):
                yield o if isinstance(o, str) else next(iter(o))

    produced = {p for st in dvc["stages"].values() for p in out_paths(st)}
    for name, st in dvc["stages"].items():
        for p in st.get("params", []):
            keys = [p] if isinstance(p, str) else [k for d in p.values() for k in d]
            for key in keys:
                assert key.split(".")[0] in params, f"stage {name}: unknown param {key}"
        assert "profile" in st.get("params", []), f"stage {name} must depend on the profile"
        for dep in st.get("deps", []):
            assert (ROOT / dep).exists() or dep in produced, f"stage {name}: missing dependency {dep}"


def test_dvc_config_is_offline_and_quiet():
    cfg = (ROOT / ".dvc" / "config").read_text()
    assert "analytics = false" in cfg and "check_update = false" in cfg


def test_profile_selection_and_errors(tmp_path, monkeypatch):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.delenv(pipeline.PROFILE_ENV, raising=False)
    assert pipeline.stage_params("bench_spd", root=tmp_path)["repeats"] == 3
    pipeline.set_profile("smoke", root=tmp_path)
    text = (tmp_path / "params.yaml").read_text()
    assert "profile: smoke" in text and "# Pipeline parameters" in text  # comments kept
    assert pipeline.stage_params("bench_spd", root=tmp_path)["repeats"] == 1
    monkeypatch.setenv(pipeline.PROFILE_ENV, "paper")
    assert pipeline.stage_params("bench_spd", root=tmp_path)["repeats"] == 7
    with pytest.raises(ValueError, match="unknown profile"):
        pipeline.set_profile("huge", root=tmp_path)
    with pytest.raises(ValueError, match="no section"):
        pipeline.stage_params("nope", root=tmp_path)
    (tmp_path / "params.yaml").write_text("profile: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        pipeline.read_params(tmp_path)
    with pytest.raises(FileNotFoundError):
        pipeline.read_params(tmp_path / "missing")


def test_dvc_plots_output_is_ignored_by_git():
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    proc = subprocess.run(["git", "check-ignore", "-q", "dvc_plots/index.html"], cwd=ROOT)
    assert proc.returncode == 0, "dvc_plots/ (written by `dvc plots show`) is not in .gitignore"


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_notebook_kernels_are_encrypted_and_do_not_warn(tmp_path, capfd):
    nb = _notebook(tmp_path / "nb" / "ok.ipynb", "print(x * 2)")
    out = pipeline.run_notebook(nb, tmp_path / "out" / "ok.ipynb", {"x": 21}, cwd=tmp_path, progress=False)
    err = capfd.readouterr().err
    assert "without encryption" not in err, err
    cells = nbformat.read(out, as_version=4).cells
    assert cells[-1].outputs[0]["text"] == "42\n"  # the outputs are those of a plain run
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["ok.ipynb"]


def test_failing_notebook_is_one_error_line(tmp_path, monkeypatch, capfd):
    from spdnas.cli import main

    (tmp_path / "params.yaml").write_text("profile: smoke\nfail:\n  x: 1\n  smoke: {}\n  default: {}\n  paper: {}\n")
    _notebook(tmp_path / "notebooks" / "fail.ipynb", "y = x + 1", "1 / (y - 2)")
    monkeypatch.setenv("SPDNAS_ROOT", str(tmp_path))
    monkeypatch.delenv(pipeline.PROFILE_ENV, raising=False)
    out = tmp_path / "runs" / "fail.ipynb"
    rc = main(["pipeline", "notebook", "fail", "--out", str(out)])
    err = capfd.readouterr().err
    # what is not the progress bar (the kernel's own log and shutdown noise go to its log file)
    mine = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("Executing:")]
    assert rc == 2 and len(mine) == 1, err
    assert mine[0].startswith("spdnas pipeline: error: fail.ipynb: cell In [")
    assert "raised ZeroDivisionError: division by zero" in mine[0] and "Traceback" not in err
    failed = out.with_name("fail.failed.ipynb")
    assert str(failed) in mine[0] and failed.is_file() and not out.exists()
    tb = "".join("".join(o.get("traceback", [])) for c in nbformat.read(failed, as_version=4).cells
                 for o in c.get("outputs", []))
    assert "ZeroDivisionError" in tb


def test_kernel_stderr_goes_to_a_log_kept_when_the_kernel_dies(tmp_path, capfd):
    nb = _notebook(tmp_path / "nb" / "dead.ipynb",
                   "import os, sys\nos.write(2, b'fd words\\n')\nsys.__stderr__.write('last words\\n')\n"
                   "sys.__stderr__.flush()\nos._exit(3)")
    out = tmp_path / "out" / "dead.ipynb"
    with pytest.raises(pipeline.NotebookFailed, match=r"dead.ipynb: DeadKernelError") as info:
        pipeline.run_notebook(nb, out, {}, cwd=tmp_path, progress=False)
    log = out.with_name("dead.kernel.log")
    assert f"kernel log: {log}, last line: last words" in str(info.value)
    assert log.read_text().splitlines() == ["fd words", "last words"]
    assert "last words" not in capfd.readouterr().err  # not on the caller's stderr
    assert out.with_name("dead.failed.ipynb").is_file() and not out.exists()
