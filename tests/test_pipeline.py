"""params.yaml profiles, dvc.yaml consistency and the pipeline helpers."""

import shutil
from pathlib import Path

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
