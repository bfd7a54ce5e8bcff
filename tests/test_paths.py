import os

import pytest

from spdnas.core import io, params, paths


def test_repo_root_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.delenv("SPDNAS_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    root = paths.repo_root()
    assert (root / "dvc.yaml").exists() and (root / "pyproject.toml").exists()


def test_shared_data_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("SPDNAS_DATA", str(tmp_path))
    assert params.shared_data_root() == tmp_path.resolve()
    assert params.shared_data_root(tmp_path / "x") == (tmp_path / "x").resolve()


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    io.atomic_write_text(target, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        io.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_shared_data_rule_reads_params_yaml(tmp_path, monkeypatch):
    """Without an argument or $SPDNAS_DATA, params.yaml's shared_data (relative to the root) is used."""
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "params.yaml").write_text("profile: default\nshared_data: elsewhere/data\n")
    monkeypatch.delenv("SPDNAS_DATA", raising=False)
    monkeypatch.setenv("SPDNAS_ROOT", str(tmp_path))
    assert params.shared_data_root() == (tmp_path / "elsewhere" / "data").resolve()
    (tmp_path / "params.yaml").write_text("profile: default\n")
    assert params.shared_data_root() == (tmp_path / ".." / "shared" / "data").resolve()
