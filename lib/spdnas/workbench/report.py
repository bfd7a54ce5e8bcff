"""Result reporting for notebooks and pipeline stages: tables (CSV + LaTeX), metrics JSON,
"not run" rows, and the manifest of external data that DVC stages depend on.

Everything is written atomically (temp file + ``os.replace``) with deterministic bytes, so a
DVC stage never leaves a half-written output and re-running an unchanged stage changes nothing.

``spdnas report manifest --out metrics/shared_data.json`` writes the data manifest.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import load_nas_bench_macro, load_population
from ..core.io import atomic_write_text
from ..core.params import EXTERNAL_DATA, shared_data_root
from ..core.status import NOT_RUN, is_not_run, not_run

__all__ = ["NOT_RUN", "is_not_run", "not_run", "not_run_row", "missing_reason", "load_optional", "nds_populations", "tex_escape", "to_latex", "write_csv",
           "write_table", "not_run_figure", "write_metrics", "read_metrics", "SHARED_DATA", "data_manifest",
           "write_data_manifest"]


# External data the notebooks use: name -> paths (relative to the shared data folder) that must
# all exist for the data set to count as present (from the one table, core.params.EXTERNAL_DATA).
SHARED_DATA = {name: entry["requires"] for name, entry in EXTERNAL_DATA.items()}


def not_run_row(columns, reason: str, **known) -> dict:
    """A table row with ``known`` values, ``status = "not run: <reason>"`` and NaN elsewhere.

    Args:
        columns: all column names of the table (``status`` is added when absent).
        reason: what is missing, e.g. ``"NAS-Bench-Macro file not found at ..."``.
        known: values that are known anyway (e.g. the dataset name).
    """
    cols = list(columns)
    unknown = set(known) - set(cols) - {"status"}
    if unknown:
        raise ValueError(f"not_run_row: unknown column(s) {sorted(unknown)}; table has {cols}")
    row = {c: known.get(c, np.nan) for c in cols}
    row["status"] = not_run(reason)
    return row


def missing_reason(paths, what: str | None = None) -> str | None:
    """``None`` when every path exists, else a reason naming the first missing one."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("missing_reason: no paths given")
    for p in paths:
        if not p.exists():
            return f"{what or p.name} missing ({p} not found)"
    return None


def load_optional(paths, what: str, load, *args, **kwargs):
    """``(load(*args, **kwargs), None)``, or ``(None, reason)`` when one of ``paths`` is missing
    (the :func:`missing_reason` text; ``paths=None`` checks none) or ``load`` finds the data corrupt
    (``ValueError`` / ``OSError``: ``"<what> unreadable: <file>: <problem>"``), so optional data
    becomes a "not run" row either way."""
    why = None if paths is None else missing_reason(paths, what)
    if why:
        return None, why
    try:
        return load(*args, **kwargs), None
    except (ValueError, OSError) as e:
        return None, f"{what} unreadable: {e}"


def nds_populations(nbm_file, sweep_file, spaces=("Vanilla", "ResNet")) -> tuple[dict, dict]:
    """The populations of the NDS notebooks: NAS-Bench-Macro (mean error over its seeds) and the
    digits sweep's ``spaces``; returns ``(populations, reasons)`` keyed ``nas-bench-macro`` and
    ``digits-<space>``, a population that is missing or unreadable having a reason instead."""
    pops, missing = {}, {}
    nbm, why = load_optional(nbm_file, "NAS-Bench-Macro", load_nas_bench_macro, nbm_file, aggregate="mean")
    if why:
        missing["nas-bench-macro"] = why
    else:
        pops["nas-bench-macro"] = nbm
    sweep, why = load_optional(sweep_file, "digits sweep population (run stage sweep_digits)", load_population,
                               sweep_file)
    for name in spaces:
        if why:
            missing[f"digits-{name}"] = why
        elif name not in set(sweep["space"]):
            missing[f"digits-{name}"] = f"space {name} not in {Path(sweep_file).name}"
        else:
            pops[f"digits-{name}"] = sweep[sweep["space"] == name]
    return pops, missing


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------

_TEX_ESCAPE = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def tex_escape(text) -> str:
    """Escape LaTeX special characters in ``str(text)``."""
    return "".join(_TEX_ESCAPE.get(ch, ch) for ch in str(text))


def _fmt(v, float_format: str) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return format(float(v), float_format)
    return str(v)


def to_latex(df: pd.DataFrame, caption: str | None = None, label: str | None = None,
             float_format: str = ".3g", index: bool = False) -> str:
    """A booktabs ``tabular`` (in a ``table`` float when ``caption``/``label`` are given).

    Text is escaped; numbers are right-aligned and formatted with ``float_format``; NaN is empty.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if df.shape[1] == 0 and not index:
        raise ValueError("table has no columns")
    d = df.reset_index() if index else df
    align = "".join("r" if pd.api.types.is_numeric_dtype(d[c]) and not pd.api.types.is_bool_dtype(d[c])
                    else "l" for c in d.columns)
    lines = [rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(tex_escape(c) for c in d.columns) + r" \\", r"\midrule"]
    for row in d.itertuples(index=False, name=None):
        lines.append(" & ".join(tex_escape(_fmt(v, float_format)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    body = "\n".join(lines)
    if caption is None and label is None:
        return body + "\n"
    head = [r"\begin{table}[t]", r"\centering"]
    if caption is not None:
        head.append(rf"\caption{{{tex_escape(caption)}}}")
    if label is not None:
        head.append(rf"\label{{{label}}}")
    return "\n".join(head + [body, r"\end{table}"]) + "\n"


def write_csv(df: pd.DataFrame, path: str | os.PathLike, index: bool = False) -> Path:
    """Write a DataFrame as CSV (``%.10g`` floats, ``\\n`` line ends) atomically; may be empty
    (header only), e.g. plot data of a result that was not run."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if df.shape[1] == 0:
        raise ValueError(f"CSV {Path(path).name!r} has no columns")
    return atomic_write_text(path, df.to_csv(index=index, lineterminator="\n", float_format="%.10g"))


def write_table(df: pd.DataFrame, path_stem: str | os.PathLike, caption: str | None = None,
                label: str | None = None, float_format: str = ".3g", index: bool = False,
                tex_columns=None) -> list[Path]:
    """Write ``<stem>.csv`` (full precision) and ``<stem>.tex`` (formatted) atomically.

    ``tex_columns`` restricts/reorders the LaTeX columns (the CSV keeps all). An empty table
    raises ``ValueError``: report missing inputs with :func:`not_run_row` instead.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise ValueError(f"table {Path(path_stem).name!r} is empty; add 'not run' rows instead")
    stem = Path(path_stem)
    if stem.suffix.lower() in (".csv", ".tex"):
        stem = stem.with_suffix("")
    if tex_columns is not None:
        unknown = [c for c in tex_columns if c not in df.columns]
        if unknown or not len(tex_columns):
            raise ValueError(f"tex_columns {unknown or '[]'} not in the table columns {list(df.columns)}")
    tex = to_latex(df if tex_columns is None else df[list(tex_columns)], caption, label, float_format, index)
    return [write_csv(df, stem.with_name(stem.name + ".csv"), index),
            atomic_write_text(stem.with_name(stem.name + ".tex"), tex)]


def not_run_figure(reason: str, title: str | None = None, w: float = 4.0, h: float = 3.2):
    """A placeholder figure stating ``not run: <reason>`` (so declared figure outputs exist).

    Built without pyplot; save it with :func:`spdnas.plots.save_figure`.
    """
    import textwrap

    from matplotlib.figure import Figure

    text = "\n".join(textwrap.wrap(not_run(reason), 44))
    fig = Figure(figsize=(w, h))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    if title:
        ax.text(0.5, 0.85, title, ha="center", va="center", fontsize=12, weight="bold")
    ax.text(0.5, 0.45, text, ha="center", va="center", fontsize=9, color="0.3")
    return fig


# ----------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------


def _jsonable(obj, where: str = "metrics"):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist(), where)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return None if not math.isfinite(v) else v  # JSON has no NaN/Inf
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise ValueError(f"{where}: value of type {type(obj).__name__} is not JSON-serialisable")


def write_metrics(metrics: dict, path: str | os.PathLike) -> Path:
    """Write a metrics dict as sorted, indented JSON (NaN/Inf become ``null``), atomically."""
    if not isinstance(metrics, dict) or not metrics:
        raise ValueError("metrics must be a non-empty dict")
    text = json.dumps(_jsonable(metrics), indent=1, sort_keys=True, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def read_metrics(path: str | os.PathLike) -> dict:
    """Read a metrics JSON file written by :func:`write_metrics`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


# ----------------------------------------------------------------------------------------------
# External data manifest
# ----------------------------------------------------------------------------------------------


def _hash_tree(paths: list[Path], base: Path) -> tuple[str, int, int]:
    """sha256 over (relative name, content) of every file under ``paths``; (hex, files, bytes)."""
    files = []
    for p in paths:
        files.extend(sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p])
    h = hashlib.sha256()
    total = 0
    for f in sorted(files, key=lambda q: q.relative_to(base).as_posix()):
        h.update(f.relative_to(base).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
                total += len(chunk)
        h.update(b"\0")
    return h.hexdigest(), len(files), total


def data_manifest(root: str | os.PathLike | None = None, datasets: dict | None = None) -> dict:
    """Which external data sets are present under ``root`` and a content hash of each.

    The location itself is not recorded (it differs between machines); the result only changes
    when data appears, disappears or changes, so stages depending on the manifest re-run then.
    """
    base = shared_data_root(root)
    datasets = SHARED_DATA if datasets is None else datasets
    if not isinstance(datasets, dict) or not datasets:
        raise ValueError("datasets must be a non-empty {name: [relative paths]} mapping")
    out = {}
    for name, rels in datasets.items():
        rels = [rels] if isinstance(rels, str) else list(rels)
        paths = [base / r for r in rels]
        missing = [r for r, p in zip(rels, paths) if not p.exists()]
        if missing:
            out[name] = {"present": False, "missing": missing}
            continue
        digest, nfiles, nbytes = _hash_tree(paths, base)
        out[name] = {"present": True, "sha256": digest, "files": nfiles, "bytes": nbytes}
    return out


def write_data_manifest(out: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """Write :func:`data_manifest` as JSON; ``root`` defaults to :func:`spdnas.core.params.shared_data_root`."""
    return write_metrics(data_manifest(root), out)
