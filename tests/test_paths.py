import os

import pytest

from spdnas import paths


def test_repo_root_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.delenv("SPDNAS_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    root = paths.repo_root()
    assert (root / "dvc.yaml").exists() and (root / "pyproject.toml").exists()


def test_shared_data_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("SPDNAS_DATA", str(tmp_path))
    assert paths.shared_data_root() == tmp_path.resolve()
    assert paths.shared_data_root(tmp_path / "x") == (tmp_path / "x").resolve()


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    paths.atomic_write_text(target, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        paths.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
