"""Static checks of the notebooks: parameters cells vs params.yaml and dvc.yaml, kernel spec,
stripped outputs, and the notebook_setup convention (no notebook is executed here)."""

import ast
import json
import re
import shlex
import subprocess
from pathlib import Path

import nbformat
import papermill as pm
import pytest
import yaml

from spdnas.workbench import pipeline

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MINE = ("01_data_overview", "sweep_digits", "06_point_estimates", "07_compare_spaces",
        "08_distribution_shape")


def _stages():
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def notebook_stages() -> dict:
    """notebook name -> (stage name, params section, stage) for stages that run a notebook."""
    out = {}
    for name, st in _stages().items():
        cmd = st["cmd"] if isinstance(st["cmd"], str) else " ".join(st["cmd"])
        for part in cmd.split("&&"):
            argv = shlex.split(part)
            if argv[:5] == ["tools/py", "-m", "spdnas", "pipeline", "notebook"]:
                nb = argv[5]
                section = argv[argv.index("--section") + 1] if "--section" in argv else nb
                assert nb not in out, f"notebook {nb} is run by two stages"
                out[nb] = (name, section, st)
    return out


def _cells(path):
    return nbformat.read(path, as_version=4).cells


def test_my_notebooks_exist_and_have_stages():
    stages = notebook_stages()
    for nb in MINE:
        assert (ROOT / "notebooks" / f"{nb}.ipynb").is_file(), nb
        assert nb in stages, f"no DVC stage runs notebook {nb}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_kernelspec_and_single_parameters_cell(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    assert book.metadata.get("kernelspec", {}).get("name") == "python3"
    tagged = [c for c in book.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected exactly one 'parameters' cell, got {len(tagged)}"
    assert tagged[0].cell_type == "code"
    # plain assignments of literals only (papermill overrides them by re-assignment)
    tree = ast.parse(tagged[0].source)
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, \
            f"{path.name}: parameters cell must hold plain assignments, got {ast.dump(node)[:60]}"
        assert isinstance(node.targets[0], ast.Name)
        ast.literal_eval(node.value)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_stripped_and_no_backend_switch(path):
    for cell in _cells(path):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: committed outputs in a cell"
            assert cell.execution_count is None, f"{path.name}: execution count left in a cell"
        assert not re.search(r"matplotlib\.use\s*\(|\bmpl\.use\s*\(", cell.source), \
            f"{path.name}: never call matplotlib.use in notebooks"


def test_committed_notebooks_have_no_outputs():
    try:
        files = subprocess.run(["git", "ls-files", "notebooks/*.ipynb"], cwd=ROOT, text=True,
                               capture_output=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"git not usable here: {exc}")
    for f in files:
        text = subprocess.run(["git", "show", f"HEAD:{f}"], cwd=ROOT, text=True,
                              capture_output=True).stdout
        if not text:  # added but not committed yet
            continue
        book = json.loads(text)
        for cell in book["cells"]:
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [] and cell.get("execution_count") is None, f


@pytest.mark.parametrize("nb", sorted(notebook_stages()))
def test_parameters_match_params_yaml_and_dvc_stage(nb):
    stage, section, st = notebook_stages()[nb]
    path = ROOT / "notebooks" / f"{nb}.ipynb"
    declared = pm.inspect_notebook(str(path))
    defaults = {k: ast.literal_eval(v["default"]) for k, v in declared.items()}
    expected = pipeline.stage_params(section, "default", ROOT)
    # papermill only warns on unknown parameters: the names must match exactly
    assert set(defaults) == set(expected), (
        f"{nb}: parameters {sorted(defaults)} != params.yaml {section} keys {sorted(expected)}")
    for key, val in expected.items():
        assert defaults[key] == val, f"{nb}: default {key}={defaults[key]!r}, params.yaml default {val!r}"
    for prof in pipeline.PROFILES:  # every profile sets exactly the same names
        assert set(pipeline.stage_params(section, prof, ROOT)) == set(defaults), (nb, prof)
    params = st.get("params", [])
    assert "profile" in params and section in params, f"stage {stage} must list profile and {section}"
    deps = st.get("deps", [])
    assert f"notebooks/{nb}.ipynb" in deps, f"stage {stage} must depend on its notebook"


@pytest.mark.parametrize("nb", sorted(notebook_stages()))
def test_setup_cell_follows_parameters(nb):
    _, section, _ = notebook_stages()[nb]
    cells = _cells(ROOT / "notebooks" / f"{nb}.ipynb")
    idx = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    nxt = next(c for c in cells[idx + 1:] if c.cell_type == "code")
    assert f'notebook_setup("{section}", globals())' in nxt.source, \
        f"{nb}: the cell after the parameters must call pipeline.notebook_setup({section!r}, globals())"


def test_notebook_stage_outputs_are_declared():
    """Figures/tables a notebook saves by a literal name must be DVC outputs of its stage."""
    for nb, (stage, _, st) in notebook_stages().items():
        if nb not in MINE:
            continue
        outs = {next(iter(o)) if isinstance(o, dict) else o
                for key in ("outs", "metrics", "plots") for o in st.get(key, [])}
        src = "\n".join(c.source for c in _cells(ROOT / "notebooks" / f"{nb}.ipynb"))
        for kind, name in re.findall(r'ctx\.(tables|metrics|figures) / "([\w.]+)"(?!\s*/)', src):
            if kind == "tables":
                want = [f"tables/{name}.csv", f"tables/{name}.tex"]
            elif kind == "figures":
                want = [f"figures/{name}.pdf", f"figures/{name}.png"]
            else:
                want = [f"metrics/{name}"]
            for w in want:
                assert w in outs, f"stage {stage}: {w} written by {nb} is not a declared output"
