"""Checks that run before a pipeline touches anything: every stage's parameters for a profile.

:func:`pipeline_stages` reads ``dvc.yaml`` (which stage runs which notebook or compute command with
which ``params.yaml`` section); :func:`notebook_problems` checks a notebook section against the
notebook's ``parameters`` cell (papermill only warns about unknown names and checks no types):
every key must be a declared parameter and every value must have the type of the notebook's
default, and a number whose default is positive (a count, a size, a rate) must be positive, one
whose default is >= 0 must be >= 0. The compute sections are checked by their own validators
(``spdnas.experiments.stage_config``, called by ``spdnas pipeline check``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import papermill as pm
import yaml

from ..core.paths import repo_root

__all__ = ["pipeline_stages", "notebook_problems"]

_NOTEBOOK = re.compile(r"pipeline notebook (\S+)(?: --section (\S+))?")
_EXPERIMENT = re.compile(r"-m spdnas experiments (\S+)")


def pipeline_stages(root: str | Path | None = None) -> list[dict]:
    """One ``{stage, kind, target, sections}`` per dvc.yaml stage: ``kind`` is ``notebook`` (target:
    the notebook name), ``experiments`` (target: the command) or ``other``; ``sections`` are its
    params.yaml sections (``profile`` left out)."""
    root = Path(root) if root is not None else repo_root()
    path = root / "dvc.yaml"
    try:
        stages = (yaml.safe_load(path.read_text()) or {}).get("stages", {})
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read the pipeline: {e}") from None
    out = []
    for name, st in stages.items():
        cmd = str(st.get("cmd", ""))
        sections = [p for p in st.get("params", []) if isinstance(p, str) and p != "profile"]
        nb, ex = _NOTEBOOK.search(cmd), _EXPERIMENT.search(cmd)
        if nb:
            kind, target = "notebook", nb.group(1)
            if nb.group(2):
                sections = [nb.group(2)]
        elif ex:
            kind, target = "experiments", ex.group(1)
        else:
            kind, target = "other", None
        out.append({"stage": name, "kind": kind, "target": target, "sections": sections})
    return out


def _default(text: str):
    try:
        return True, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return False, None  # an expression: no type to check against


def _type_problem(key: str, value, default) -> str | None:
    if default is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else f"{key} must be true/false like the notebook default {default!r}, got {value!r}"
    if isinstance(default, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(default, int) and not isinstance(default, bool):
            ok = ok and float(value).is_integer()
        if not ok:
            kind = "an integer" if isinstance(default, int) else "a number"
            return f"{key} must be {kind} like the notebook default {default!r}, got {value!r}"
        if default > 0 and value <= 0:
            return f"{key} must be > 0 (notebook default {default!r}), got {value!r}"
        if default >= 0 and value < 0:
            return f"{key} must be >= 0 (notebook default {default!r}), got {value!r}"
        return None
    if isinstance(default, str):
        return None if isinstance(value, str) else f"{key} must be a string like the notebook default {default!r}, got {value!r}"
    if isinstance(default, (list, tuple)):
        if not isinstance(value, list):
            return f"{key} must be a list like the notebook default {list(default)!r}, got {value!r}"
        kinds = {type(d) for d in default}
        if len(kinds) == 1 and default:
            for i, v in enumerate(value):
                problem = _type_problem(f"{key}[{i}]", v, min(default) if kinds <= {int, float} else default[0])
                if problem:
                    return problem
        return None
    if isinstance(default, dict):
        return None if isinstance(value, dict) else f"{key} must be a mapping like the notebook default, got {value!r}"
    return None


def notebook_problems(notebook: str | Path, values: dict) -> list[str]:
    """Problems of a notebook section's ``values`` against the notebook's ``parameters`` cell."""
    notebook = Path(notebook)
    if not notebook.is_file():
        return [f"notebook {notebook} not found"]
    try:
        declared = pm.inspect_notebook(str(notebook))
    except Exception as e:  # papermill/nbformat raise several types for unreadable notebooks
        return [f"{notebook.name}: cannot read its parameters cell: {e}"]
    problems = []
    for key in sorted(set(values) - set(declared)):
        problems.append(f"unknown parameter {key!r} (the notebook declares {', '.join(sorted(declared))})")
    for key, value in values.items():
        if key not in declared:
            continue
        ok, default = _default(declared[key]["default"])
        problem = _type_problem(key, value, default) if ok else None
        if problem:
            problems.append(problem)
    return problems
