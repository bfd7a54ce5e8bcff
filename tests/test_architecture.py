"""The layering of the library (README "Architecture"): import-linter contracts, no lazy imports of
spdnas modules, no import-time registration, no private names across modules, module sizes, and
DVC compute stages that depend on exactly the modules they import."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib" / "spdnas"
EXP_STAGES = ["exp_search", "exp_train", "exp_data_efficiency", "exp_cell_spaces"]


def _modules():
    for p in sorted(LIB.rglob("*.py")):
        rel = p.relative_to(LIB.parent).with_suffix("")
        parts = list(rel.parts)
        pkg = parts[:-1] if parts[-1] == "__init__" else parts[:-1]
        yield p, ".".join(parts[:-1] if parts[-1] == "__init__" else parts), pkg


def _resolve(node: ast.ImportFrom, pkg: list) -> str:
    if node.level == 0:
        return node.module or ""
    base = pkg[:len(pkg) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def test_import_linter_contracts_hold():
    exe = Path(sys.executable).parent / "lint-imports"
    assert exe.exists(), "import-linter is not installed (requirements.txt pins it)"
    proc = subprocess.run([str(exe), "--no-cache", "--config", str(ROOT / "pyproject.toml")], cwd=ROOT / "lib",
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "broken" not in proc.stdout.split("Contracts:")[-1].split("\n")[0].replace("0 broken", "")


def test_contracts_name_the_issue_minimum():
    cfg = __import__("tomllib").loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert cfg["include_external_packages"] is True
    forbidden = {tuple(c["source_modules"]): set(c["forbidden_modules"])
                 for c in cfg["contracts"] if c["type"] == "forbidden"}
    assert {"spdnas.data", "spdnas.nas", "spdnas.analysis", "spdnas.sweep"} <= \
        set(forbidden[("spdnas.spd",)])
    assert {"torch", "spdnas.spd", "spdnas.nas"} <= forbidden[("spdnas.analysis",)]
    assert {"spdnas.models", "spdnas.sweep", "spdnas.nas"} <= forbidden[("spdnas.data",)]
    assert "spdnas.sweep" in forbidden[("spdnas.nas",)]


def test_largest_module_under_700_lines():
    sizes = {str(p.relative_to(LIB)): len(p.read_text().splitlines()) for p, _, _ in _modules()}
    big = {k: v for k, v in sizes.items() if v >= 700}
    assert not big, f"modules of 700+ lines: {big}"


def test_no_function_level_imports_of_spdnas_modules():
    bad = []
    for p, mod, pkg in _modules():
        tree = ast.parse(p.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and _resolve(node, pkg).startswith("spdnas"):
                    bad.append(f"{mod}:{node.lineno}")
                elif isinstance(node, ast.Import) and any(a.name.startswith("spdnas") for a in node.names):
                    bad.append(f"{mod}:{node.lineno}")
    assert not bad, f"lazy imports of spdnas modules (hide a cycle or an import-time cost): {bad}"


def test_no_import_time_registration():
    """Registries are explicit tables; nothing calls register_* while a module is imported."""
    bad = []
    for p, mod, _ in _modules():
        tree = ast.parse(p.read_text())
        for node in tree.body:
            calls = []
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                calls.append(node.value.func)
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                calls += [d.func if isinstance(d, ast.Call) else d for d in node.decorator_list]
            for f in calls:
                name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
                if (name.startswith("register_") or name.startswith("_register")) and name != "register_at_fork":
                    bad.append(f"{mod}:{node.lineno} {name}")
    assert not bad, f"import-time registration: {bad}"


def test_no_private_names_across_modules():
    bad = []
    for p, mod, pkg in _modules():
        tree = ast.parse(p.read_text())
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                src = _resolve(node, pkg)
                if not src.startswith("spdnas"):
                    continue
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{mod}:{node.lineno} imports {src}.{a.name}")
                    aliases.add(a.asname or a.name)  # may be a module (from . import functional as F)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("spdnas"):
                        aliases.add(a.asname or a.name.split(".")[0])
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                bad.append(f"{mod}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert not bad, f"private names used across modules: {bad}"


# ---------------------------------------------------------------------------------------------
# DVC compute stages: deps are the modules the stage's command imports, and nothing else
# ---------------------------------------------------------------------------------------------


def _stages():
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _covered(module_file: str, deps) -> bool:
    return any(module_file == d or module_file.startswith(d.rstrip("/") + "/") for d in deps)


def _file(mod: str) -> str:
    p = Path("lib", *mod.split("."))
    return str(p / "__init__.py") if (ROOT / p).is_dir() else str(p.with_suffix(".py"))


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("spdnas")


def test_exp_stages_depend_on_every_module_their_command_imports(graph):
    entry = ["spdnas.cli.experiments"]
    need = set(entry)
    for m in entry:
        need |= graph.find_upstream_modules(m)
    need = {m for m in need if m.startswith("spdnas.")}
    for name in EXP_STAGES:
        deps = [d for d in _stages()[name]["deps"] if d.startswith("lib/")]
        missing = sorted(m for m in need if not _covered(_file(m), deps))
        assert not missing, f"{name}: modules imported by its command but not in its deps: {missing}"


def test_exp_stages_do_not_depend_on_figures_or_tables():
    for name in EXP_STAGES:
        deps = _stages()[name]["deps"]
        for f in ("lib/spdnas/plots/spdnetnas.py", "lib/spdnas/plots/nds.py", "lib/spdnas/experiments/tables.py",
                  "lib/spdnas/workbench/report.py"):
            assert not _covered(f, deps), f"{name} depends on {f}"


def _copy_tree(dst: Path):
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)
    for extra in ("dvc.lock",):
        if (ROOT / extra).is_file():
            shutil.copy2(ROOT / extra, dst / extra)


def test_touching_a_plot_or_table_module_leaves_exp_stages_clean(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    dvc = Path(sys.executable).parent / "dvc"
    dst = tmp_path / "repo"
    _copy_tree(dst)
    env = {k: v for k, v in os.environ.items() if k not in ("SPDNAS_PROFILE", "SPDNAS_OUTPUT_DIR")}
    env.update(DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "snapshot"]):
        subprocess.run(cmd, cwd=dst, env=env, check=True, capture_output=True)

    def status():
        proc = subprocess.run([str(dvc), "status", "--json", *EXP_STAGES], cwd=dst, env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout or "{}")

    def changed_deps(st):
        return {name: {k: v for entry in st.get(name, []) if isinstance(entry, dict)
                       for k, v in entry.get("changed deps", {}).items()} for name in EXP_STAGES}

    before = status()
    for f in ("lib/spdnas/plots/spdnetnas.py", "lib/spdnas/plots/style.py", "lib/spdnas/experiments/tables.py"):
        with open(dst / f, "a") as fh:
            fh.write("\n# touched\n")
    assert status() == before, "editing a figure or table module changed the status of a compute stage"
    # the check is live: touching a module the stages run marks that dependency changed
    with open(dst / "lib/spdnas/experiments/stages.py", "a") as fh:
        fh.write("\n# touched\n")
    after = changed_deps(status())
    for name in EXP_STAGES:
        assert "lib/spdnas/experiments/stages.py" in after[name], (name, after[name])


def _notebook_imports(path: Path, graph) -> set:
    mods = set()
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("spdnas"):
                mods.add(node.module)
                mods |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in graph.modules}
            elif isinstance(node, ast.Import):
                mods |= {a.name for a in node.names if a.name.startswith("spdnas")}
    return mods


def test_notebook_stages_depend_on_every_module_their_notebook_imports(graph):
    import re

    for name, st in _stages().items():
        m = re.search(r"pipeline notebook (\S+)", st["cmd"])
        if not m:
            continue
        need = set()
        for mod in _notebook_imports(ROOT / "notebooks" / f"{m.group(1)}.ipynb", graph):
            need |= {mod} | graph.find_upstream_modules(mod)
        deps = [d for d in st["deps"] if d.startswith("lib/")]
        missing = sorted(x for x in need if x.startswith("spdnas.") and not _covered(_file(x), deps))
        assert not missing, f"{name}: modules its notebook imports but not in its deps: {missing}"
