"""The whole study on your own SPD data: ``python -m spdnas.experiments run --dataset PATH.npz --out DIR``.

On one ``.npz`` file (``spdnas.data`` dataset ``"npz"``) it runs the classical floors, SPDNet,
SPDNetBN, the SPDNetNAS search (sparsemax) and the derived SPDNetNAS over at least three seeds,
through the compute stages of :mod:`spdnas.experiments.stages` with the settings of a params.yaml
profile, and writes under ``DIR``: ``search/`` and ``train/`` (resumable units), ``results.csv``
and ``results.md`` (one table, floors as rows beside the networks), ``cells.pdf``/``cells.png``
(the derived cells) and ``study.json`` (the file's SHA-256, settings, wall times).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..core.io import atomic_write_text, read_config, read_json, write_json
from ..core.params import PROFILES, active_profile, read_params, section_values
from ..data import load_dataset
from ..plots.cells import draw_genotype
from ..plots.style import save_figure
from .config import FLOOR_METHODS, SECTIONS, for_dataset, stage_config
from ..sweep.units import check_executor
from .stages import run_search_and_train

__all__ = ["STUDY_METHODS", "MIN_SEEDS", "study_params", "run_study", "study_table", "markdown_table", "main"]

STUDY_METHODS = ("SPDNet", "SPDNetBN", "SPDNetNAS")
MIN_SEEDS = 3
_DATASET = "npz"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def study_params(path, profile: str | None = None, seeds=None, ridge: float = 0.0,
                 config: dict | None = None) -> tuple[dict, dict]:
    """(search, train) stage params of the study of ``path``: the profile's ``exp_search`` /
    ``exp_train`` values, then ``config``'s sections of the same names, on the one dataset."""
    params = read_params()
    prof = active_profile(params, profile)
    config = dict(config or {})
    unknown = sorted(set(config) - {SECTIONS["search"], SECTIONS["train"]})
    if unknown:
        raise ValueError(f"study config: unknown sections {unknown} (use {SECTIONS['search']}, {SECTIONS['train']})")
    out = []
    for kind in ("search", "train"):
        extra = config.get(SECTIONS[kind]) or {}
        if not isinstance(extra, dict):
            raise ValueError(f"study config: section {SECTIONS[kind]} must be a mapping, got {extra!r}")
        out.append({**section_values(params, SECTIONS[kind], prof), **extra, "overrides": {}})
    search, train = out
    search.update(datasets=[_DATASET], ablation_datasets=[])
    train.update(methods=list(STUDY_METHODS), floors=True)
    if seeds is not None:
        train["seeds"] = list(seeds)
    elif len(train.get("seeds", [])) < MIN_SEEDS:
        train["seeds"] = list(range(MIN_SEEDS))
    if len(set(train["seeds"])) < MIN_SEEDS:
        raise ValueError(f"the study needs at least {MIN_SEEDS} distinct seeds (mean ± std over seeds), "
                         f"got {train['seeds']}")
    return search, train


def _claim(out: Path, path: Path, sha: str) -> None:
    """Refuse an output folder that holds the study of another file content, else mark it as this one's
    (before any unit runs, so an interrupted study is not resumed on a changed file)."""
    p = out / "study.json"
    if p.is_file():
        old = read_json(p, "study summary")
        if old.get("sha256") not in (None, sha):
            raise ValueError(f"{out} holds a study of {old.get('dataset')} with other contents (SHA-256 "
                             f"{str(old.get('sha256'))[:12]}…, now {sha[:12]}… for {path}); use a new --out "
                             "or delete the folder")
        return
    write_json(p, {"dataset": str(path), "sha256": sha})


def run_study(dataset, out, *, profile: str | None = None, seeds=None, ridge: float = 0.0,
              config: dict | None = None, progress: bool = True, executor: str = "inline",
              workers: int = 2) -> pd.DataFrame:
    """Floors, SPDNet, SPDNetBN, SPDNetNAS search + derived SPDNetNAS on a user's ``.npz``; returns the table.

    Args:
        dataset: ``.npz`` file (see :func:`spdnas.data.load_npz`: X, y, optional split, groups).
        out: output folder; a re-run resumes (finished units are skipped).
        profile: params.yaml profile whose ``exp_search`` / ``exp_train`` settings are used.
        seeds: training seeds (default: the profile's, at least ``MIN_SEEDS``).
        ridge: relative ridge of the loader (off by default).
        config: ``{"exp_search": {...}, "exp_train": {...}}`` values over the profile's.
        progress: one tqdm bar (with ETA) over all the search and training units.
        executor, workers: where the units run (:func:`spdnas.sweep.units.run_units`: inline,
            process, dask or a ``tcp://`` Dask scheduler address); results do not depend on it.
    """
    path = Path(dataset).expanduser().resolve()
    out = Path(out)
    search_p, train_p = study_params(path, profile, seeds, ridge, config)
    search_cfg, train_cfg = stage_config("search", search_p), stage_config("train", train_p)
    ds = load_dataset(_DATASET, path=path, ridge=ridge)  # a bad file fails here, before any unit runs
    sp = ds.split(search_cfg["split_seed"], tuple(search_cfg["fractions"]))
    if min(len(p) for p in sp) == 0:
        raise ValueError(f"{path}: the split leaves a part empty (train {len(sp.train)}, val {len(sp.val)}, "
                         f"test {len(sp.test)}); the study needs train, val and test samples")
    sha = _sha256(path)
    out.mkdir(parents=True, exist_ok=True)
    _claim(out, path, sha)
    c = for_dataset(train_cfg, _DATASET)
    total = 1 + len(STUDY_METHODS) * len(c["seeds"]) + 1  # the search, the trainings, the floors unit
    times = {}
    with tqdm(total=total, desc="study", unit="unit", disable=not progress) as bar:
        shared = bar if progress else False
        t0 = time.perf_counter()
        search_recs, train_recs = run_search_and_train(
            search_p, train_p, out / "search", out / "train", None, progress=shared, executor=executor,
            workers=workers, data_options={_DATASET: {"path": str(path), "ridge": float(ridge)}})
        times["wall_s"] = time.perf_counter() - t0
    table = study_table(train_recs)
    atomic_write_text(out / "results.csv", table.to_csv(index=False))
    srec = next((r for r in search_recs if r.get("status") == "ok"), None)
    info = {"dataset": str(path), "sha256": sha, "profile": active_profile(read_params(), profile),
            "ridge": float(ridge), "seeds": c["seeds"], "n": ds.info["n"], "classes": ds.classes,
            "n_samples": len(ds), "split_by": ds.info.get("split_by") or "stratified",
            "split_sizes": {k: int(len(v)) for k, v in sp._asdict().items()},
            "fractions": search_cfg["fractions"], "split_seed": search_cfg["split_seed"],
            "search_epochs": search_cfg["epochs"], "train_epochs": c["epochs"],
            "majority_test_acc": _majority(ds.y.numpy(), sp), "genotype": srec["genotype"] if srec else None,
            "search": {k: srec.get(k) for k in _SEARCH_FIELDS if k in srec} if srec else None, **times}
    atomic_write_text(out / "results.md", _markdown(table, info))
    if srec is not None:
        fig = draw_genotype(srec["genotype"], title=f"SPDNetNAS cells derived on {path.name}")
        info["figure"] = [str(p) for p in save_figure(fig, out / "cells")]
    write_json(out / "study.json", info)
    return table


_SEARCH_FIELDS = ("val_acc", "selected_epoch", "alpha_max_change", "alpha_entropy", "skip_share", "pool_share",
                  "time_s")


def _majority(y: np.ndarray, sp) -> float:
    """Test accuracy of always predicting the most frequent training class."""
    top = np.bincount(y[sp.train]).argmax()
    return float(np.mean(y[sp.test] == top))


def _stats(values) -> tuple[float, float]:
    v = 100.0 * np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return np.nan, np.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else np.nan


def study_table(records) -> pd.DataFrame:
    """One row per floor and network (accuracies in %, mean and std with ddof=1 over seeds)."""
    recs = pd.DataFrame(list(records))
    if len(recs) == 0 or "method" not in recs.columns:
        raise ValueError("study_table: no training records")
    rows = []
    for kind, methods in (("floor", FLOOR_METHODS), ("network", STUDY_METHODS)):
        for m in methods:
            g = recs[recs["method"] == m]
            ok = g[g["status"] == "ok"]
            row = {"method": m, "kind": kind, "runs": int(len(ok)),
                   "status": "ok" if len(ok) else (str(g["status"].iloc[0]) if len(g) else "not run: missing")}
            for col in ("test_acc", "val_acc", "test_acc_last"):
                mean, std = _stats(ok[col]) if col in ok.columns and len(ok) else (np.nan, np.nan)
                row[f"{col}_mean"], row[f"{col}_std"] = mean, std
            row["selected_epoch_mean"] = (float(ok["selected_epoch"].astype(float).mean())
                                          if "selected_epoch" in ok.columns and len(ok) else np.nan)
            row["params"] = (float(ok["params"].astype(float).mean())
                             if "params" in ok.columns and len(ok) and ok["params"].notna().all() else np.nan)
            row["time_s"] = (float(ok["time_s"].astype(float).sum(min_count=1))
                             if "time_s" in ok.columns and len(ok) else np.nan)
            rows.append(row)
    return pd.DataFrame(rows)


def _pm(mean, std) -> str:
    if not np.isfinite(mean):
        return ""
    return f"{mean:.2f}" if not np.isfinite(std) else f"{mean:.2f} ± {std:.2f}"


def markdown_table(df: pd.DataFrame) -> str:
    """A pipe table of ``df`` (cells as strings)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.astype(str).itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def _markdown(table: pd.DataFrame, info: dict) -> str:
    shown = pd.DataFrame({
        "Method": table["method"], "Kind": table["kind"], "Runs": table["runs"],
        "Test acc. (%)": [_pm(m, s) for m, s in zip(table["test_acc_mean"], table["test_acc_std"])],
        "Val acc. (%)": [_pm(m, s) for m, s in zip(table["val_acc_mean"], table["val_acc_std"])],
        "Test acc., last epoch (%)": [_pm(m, s) for m, s in zip(table["test_acc_last_mean"], table["test_acc_last_std"])],
        "Selected epoch (mean)": ["" if not np.isfinite(e) else f"{e:.1f}" for e in table["selected_epoch_mean"]],
        "Params": ["" if not np.isfinite(p) else f"{int(p)}" for p in table["params"]],
        "Status": table["status"],
    })
    sizes = info["split_sizes"]
    floor = table[table["kind"] == "floor"]["test_acc_mean"].max()
    below = [m for m, v in zip(table["method"], table["test_acc_mean"])
             if m in STUDY_METHODS and np.isfinite(v) and np.isfinite(floor) and v < floor]
    lines = [
        f"# Study of {Path(info['dataset']).name}", "",
        f"{info['n_samples']} matrices {info['n']}x{info['n']}, {len(info['classes'])} classes; split "
        f"{info['split_by']} (train {sizes['train']} / val {sizes['val']} / test {sizes['test']}, fractions "
        f"{info['fractions']}, split seed {info['split_seed']}); profile {info['profile']}, ridge {info['ridge']:g}; "
        f"search epochs {info['search_epochs']}, training epochs {info['train_epochs']}, seeds {info['seeds']}.",
        "",
        "Networks are reported at their validation-selected epoch (highest val accuracy; ties: lower val "
        "loss, then the earlier epoch; never test), the last epoch beside it; mean ± std (ddof=1) over "
        "seeds. Floors (pyriemann + scikit-learn) are fitted on the same training part and scored on the "
        f"same val/test parts. Majority class on test: {100 * info['majority_test_acc']:.2f} %.", "",
        markdown_table(shown), "",
    ]
    if below:
        lines += [f"Below the best floor ({floor:.2f} %): {', '.join(below)}.", ""]
    s = info.get("search")
    if s:
        lines += ["Search (sparsemax): " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                     for k, v in s.items()) + ".", "",
                  "Derived genotype: `" + json.dumps(info["genotype"]) + "` (figure: cells.png).", ""]
    return "\n".join(lines)


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers, got {text!r}") from None


def _executor(text: str) -> str:
    try:
        return check_executor(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv=None, prog: str = "python -m spdnas.experiments") -> int:
    """``run --dataset PATH.npz --out DIR [...]``: the study on a user's file; returns the exit status."""
    ap = argparse.ArgumentParser(prog=prog,
                                 description=__doc__.splitlines()[0].split(": ", 1)[0])
    sub = ap.add_subparsers(dest="command", required=True, metavar="run")
    p = sub.add_parser("run", help="floors, SPDNet, SPDNetBN, SPDNetNAS search + derived SPDNetNAS on your .npz",
                       description=__doc__.split("\n\n", 1)[1].strip(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help=".npz with X (N, n, n), y (N,); optional split, groups")
    p.add_argument("--out", required=True, help="output folder (a re-run resumes)")
    p.add_argument("--profile", default=None, choices=PROFILES, help="params.yaml profile (default: the active one)")
    p.add_argument("--seeds", type=_seeds, nargs="+", default=None, metavar="SEED",
                   help=f"training seeds (at least {MIN_SEEDS}; default: the profile's)")
    p.add_argument("--ridge", type=float, default=0.0, help="relative ridge ridge·tr(X)/n·I (default 0: off)")
    p.add_argument("--config", default=None, help="JSON/YAML with exp_search / exp_train values over the profile's")
    p.add_argument("--executor", default="inline", type=_executor,
                   help="inline (default) | process | dask | tcp://HOST:PORT (a running Dask scheduler)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address tcp://HOST:PORT (= --executor ADDRESS)")
    p.add_argument("--workers", type=int, default=2, help="worker processes of the process / dask executors")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    executor = _executor(a.scheduler) if a.scheduler else a.executor
    if a.workers < 1:
        ap.error(f"--workers must be >= 1, got {a.workers}")
    seeds = None if a.seeds is None else [s for group in a.seeds for s in group]
    config = read_config(a.config) if a.config else None
    t0 = time.perf_counter()
    table = run_study(a.dataset, a.out, profile=a.profile, seeds=seeds, ridge=a.ridge, config=config,
                      progress=not a.no_progress, executor=executor, workers=a.workers)
    print(f"study: {int((table['status'] == 'ok').sum())} of {len(table)} rows ok, "
          f"{time.perf_counter() - t0:.1f} s -> {Path(a.out) / 'results.md'}")
    return 0
