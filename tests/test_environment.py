"""The conda environment, pip requirements and installed stack agree."""

import re
from importlib import metadata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)", line)
        assert m, f"unpinned or malformed requirement: {line!r}"
        out[m.group(1).lower()] = m.group(2)
    return out


def _req_pins():
    pins = _pins((ROOT / "requirements.txt").read_text().splitlines())
    pins.update(_pins((ROOT / "requirements-nodeps.txt").read_text().splitlines()))
    return pins


def test_environment_yml_matches_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_block = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_block) == 1, "environment.yml needs exactly one pip: block"
    assert _pins(pip_block[0]["pip"]) == _req_pins()
    assert "python=3.11" in env["dependencies"]


def test_torch_is_pinned_everywhere():
    assert _req_pins()["torch"] == "2.13.0"
    assert '"torch==2.13.0"' in (ROOT / "pyproject.toml").read_text()


def test_installed_versions_match_pins():
    for name, version in _req_pins().items():
        installed = metadata.version(name)
        assert installed.split("+")[0] == version, f"{name}: installed {installed}, pinned {version}"
