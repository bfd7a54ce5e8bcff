"""Paper tables assembled from stage records, with the paper's numbers beside ours."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.status import not_run
from ..nas import genotype_to_json, op_shares
from .config import METHODS, WEIGHTINGS

__all__ = ["PAPER_DATASET", "PAPER_NOT_IN_TEXT", "PAPER_TABLE2", "PAPER_SOURCE", "format_pm", "summarize",
           "paper_table2", "table2", "table5", "data_efficiency_table", "GENOTYPE_COLUMNS", "genotypes_table",
           "cell_space_summary"]

# Which paper column our dataset corresponds to (None: not in the paper). Our radar_sim is a
# physics simulator of the RADAR task, not the released data; our hdm05 is an 11-class real subset
# of the 117-class release: numbers are indicative, not directly comparable.
PAPER_DATASET = {"radar_sim": "RADAR", "radar": "RADAR", "hdm05": "HDM05", "afew": "AFEW"}


PAPER_NOT_IN_TEXT = "paper value not available in text form"


# Paper Table 2 (Sukthanker et al. IJCAI 2021), test accuracy (%) mean ± std, keyed by
# (paper dataset, method). The table could not be read in text form from any source available to
# this project (the official README shows it as an image), so no value is filled in: every cell
# reads PAPER_NOT_IN_TEXT rather than a number from memory. Users who have the paper can add
# entries here, e.g. PAPER_TABLE2[("RADAR", "SPDNet")] = (mean, std); they are labelled PAPER_SOURCE.
PAPER_TABLE2: dict = {}


PAPER_SOURCE = "Sukthanker et al. 2021, Table 2 (entered by hand)"


def format_pm(mean, std, digits: int = 2) -> str:
    """``"mean ± std"`` (std omitted when NaN, empty string when mean is NaN)."""
    if mean is None or not np.isfinite(mean):
        return ""
    if std is None or not np.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def summarize(records: pd.DataFrame, by, metric: str = "test_acc") -> pd.DataFrame:
    """Mean/std (ddof=1) over seeds of ``metric`` in percent, mean params, seeds, not-run reasons.

    Groups that only have not-run records keep ``status`` = the first reason; groups with some
    finished runs have status ``"ok"`` (or ``"ok (k of n runs not run)"``).
    """
    by = [by] if isinstance(by, str) else list(by)
    if not isinstance(records, pd.DataFrame):
        raise ValueError(f"records must be a DataFrame, got {type(records).__name__}")
    missing = [c for c in by + ["status"] if c not in records.columns]
    if missing:
        raise ValueError(f"records lack column(s) {missing}")
    if len(records) == 0:
        raise ValueError("summarize: no records")
    rows = []
    for keys, g in records.groupby(by, sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        ok = g[g["status"] == "ok"]
        row = dict(zip(by, keys))
        if len(ok) == 0:
            row.update(mean=np.nan, std=np.nan, n=0, params=np.nan, status=str(g["status"].iloc[0]))
        else:
            if metric not in ok.columns:
                raise ValueError(f"records lack metric column {metric!r}")
            v = 100.0 * ok[metric].astype(float).to_numpy()
            if not np.isfinite(v).all():
                raise ValueError(f"{metric} has NaN/Inf for {row}")
            skipped = len(g) - len(ok)
            row.update(mean=float(v.mean()), std=float(v.std(ddof=1)) if len(v) > 1 else np.nan, n=len(v),
                       params=float(ok["params"].astype(float).mean()) if "params" in ok else np.nan,
                       status="ok" if skipped == 0 else f"ok ({skipped} of {len(g)} runs not run)")
        rows.append(row)
    return pd.DataFrame(rows)


def paper_table2() -> pd.DataFrame:
    """Paper Table 2 entries known here (RADAR/HDM05 × six methods); unknown ones say so."""
    rows = []
    for pds in ("RADAR", "HDM05"):
        for m in METHODS:
            v = PAPER_TABLE2.get((pds, m))
            rows.append({"paper_dataset": pds, "method": m,
                         "paper_mean": v[0] if v else np.nan, "paper_std": v[1] if v else np.nan,
                         "paper_acc": format_pm(*v) if v else PAPER_NOT_IN_TEXT,
                         "paper_source": PAPER_SOURCE if v else PAPER_NOT_IN_TEXT})
    return pd.DataFrame(rows)


def _missing_plan_rows(datasets, methods, reason, extra=None):
    return [{"dataset": d, "method": m, **(extra or {}), "status": not_run(reason)} for d in datasets for m in methods]


def table2(records: pd.DataFrame | None, datasets, methods=METHODS, missing_reason: str | None = None,
           metric: str = "test_acc") -> pd.DataFrame:
    """Table 2: our accuracy (mean ± std over seeds, %) and params per dataset × method, with the
    paper's value beside it (``paper_acc``; see :data:`PAPER_TABLE2`).

    ``records``: the train stage's plan (None: everything is ``not run: missing_reason``).
    Datasets/methods absent from the records get not-run rows.
    """
    datasets, methods = list(datasets), list(methods)
    if not datasets or not methods:
        raise ValueError("table2 needs at least one dataset and one method")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; choose from {METHODS}")
    if records is None:
        recs = pd.DataFrame(_missing_plan_rows(datasets, methods, missing_reason or "no results"))
    else:
        recs = records.copy()
        if "weighting" in recs.columns:  # Table 2 is sparsemax SPDNetNAS; softmax/sigmoid are Table 5
            recs = recs[recs["weighting"].isna() | (recs["weighting"] == "sparsemax")]
        have = set(zip(recs.get("dataset", []), recs.get("method", [])))
        extra = [{"dataset": d, "method": m, "status": not_run(f"{d} / {m} not in the train stage's plan "
                                                                  "(dataset not in exp_search datasets?)")}
                 for d in datasets for m in methods if (d, m) not in have]
        recs = pd.concat([recs, pd.DataFrame(extra)], ignore_index=True) if extra else recs
        recs = recs[recs["dataset"].isin(datasets) & recs["method"].isin(methods)]
    s = summarize(recs, ["dataset", "method"], metric)
    s["dataset"] = pd.Categorical(s["dataset"], datasets, ordered=True)
    s["method"] = pd.Categorical(s["method"], methods, ordered=True)
    s = s.sort_values(["dataset", "method"]).reset_index(drop=True)
    s["dataset"], s["method"] = s["dataset"].astype(str), s["method"].astype(str)
    s["paper_dataset"] = s["dataset"].map(lambda d: PAPER_DATASET.get(d, ""))
    p = paper_table2()
    s = s.merge(p, on=["paper_dataset", "method"], how="left")
    s["paper_acc"] = s["paper_acc"].fillna("not in the paper")
    s["paper_source"] = s["paper_source"].fillna("")
    s["ours_acc"] = [format_pm(a, b) for a, b in zip(s["mean"], s["std"])]
    s = s.rename(columns={"mean": "ours_mean", "std": "ours_std", "n": "seeds"})
    return s[["dataset", "method", "ours_acc", "ours_mean", "ours_std", "seeds", "params", "paper_dataset",
              "paper_acc", "paper_mean", "paper_std", "paper_source", "status"]]


def table5(records: pd.DataFrame | None, datasets, missing_reason: str | None = None,
           metric: str = "test_acc") -> pd.DataFrame:
    """Table 5: SPDNetNAS with sparsemax / softmax / sigmoid mixing (search + train per weighting)."""
    datasets = list(datasets)
    if not datasets:
        raise ValueError("table5 needs at least one dataset")
    if records is None:
        recs = pd.DataFrame([{"dataset": d, "weighting": w, "status": not_run(missing_reason or "no results")}
                             for d in datasets for w in WEIGHTINGS])
    else:
        need = {"dataset", "method", "weighting", "status"} - set(records.columns)
        if need:
            raise ValueError(f"records lack column(s) {sorted(need)}")
        recs = records[(records["method"] == "SPDNetNAS") & records["weighting"].isin(WEIGHTINGS)
                       & records["dataset"].isin(datasets)]
        have = set(zip(recs["dataset"], recs["weighting"]))
        extra = [{"dataset": d, "weighting": w, "method": "SPDNetNAS",
                  "status": not_run(f"no {w} search/training for {d} (not in exp_search ablation_datasets)")}
                 for d in datasets for w in WEIGHTINGS if (d, w) not in have]
        recs = pd.concat([recs, pd.DataFrame(extra)], ignore_index=True) if extra else recs
    s = summarize(recs, ["dataset", "weighting"], metric)
    s["dataset"] = pd.Categorical(s["dataset"], datasets, ordered=True)
    s["weighting"] = pd.Categorical(s["weighting"], list(WEIGHTINGS), ordered=True)
    s = s.sort_values(["dataset", "weighting"]).reset_index(drop=True)
    s["dataset"], s["weighting"] = s["dataset"].astype(str), s["weighting"].astype(str)
    s["ours_acc"] = [format_pm(a, b) for a, b in zip(s["mean"], s["std"])]
    s["paper_acc"] = PAPER_NOT_IN_TEXT
    s = s.rename(columns={"mean": "ours_mean", "std": "ours_std", "n": "seeds"})
    return s[["dataset", "weighting", "ours_acc", "ours_mean", "ours_std", "seeds", "params", "paper_acc", "status"]]


def data_efficiency_table(records: pd.DataFrame | None, fractions=None, methods=None,
                          missing_reason: str | None = None, metric: str = "test_acc") -> pd.DataFrame:
    """Accuracy (mean ± std over seeds, %) per method × share of the training data."""
    if records is None:
        if not fractions or not methods:
            raise ValueError("data_efficiency_table without records needs fractions and methods")
        recs = pd.DataFrame([{"method": m, "fraction": float(f), "status": not_run(missing_reason or "no results")}
                             for m in methods for f in fractions])
    else:
        recs = records
    s = summarize(recs, ["method", "fraction"], metric)
    order = list(methods) if methods else list(dict.fromkeys(s["method"]))
    s["method"] = pd.Categorical(s["method"], order, ordered=True)
    s = s.sort_values(["method", "fraction"]).reset_index(drop=True)
    s["method"] = s["method"].astype(str)
    s["train_share_pct"] = 100.0 * s["fraction"].astype(float)
    s["ours_acc"] = [format_pm(a, b) for a, b in zip(s["mean"], s["std"])]
    s["paper_acc"] = PAPER_NOT_IN_TEXT
    s = s.rename(columns={"mean": "ours_mean", "std": "ours_std", "n": "seeds"})
    return s[["method", "fraction", "train_share_pct", "ours_acc", "ours_mean", "ours_std", "seeds", "params",
              "paper_acc", "status"]]


def _cell_text(pairs) -> str:
    return ", ".join(f"{op}<-{j}" for op, j in pairs)


GENOTYPE_COLUMNS = ["dataset", "weighting", "normal", "reduce", "search_epochs", "order", "selected_epoch",
                    "val_acc", "alpha_max_change", "alpha_entropy", "skip_share", "pool_share", "same_genotype_as",
                    "search_time_s", "status"]


def genotypes_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per search (dataset, weighting): the reported cells and how the search got there.

    Columns (:data:`GENOTYPE_COLUMNS`): normal / reduction cell ops, the reported (``selected_epoch``)
    epoch's supernet val accuracy (%), ``alpha_max_change`` (max |α − α₀|) and ``alpha_entropy``
    (mean entropy of the edges' mixing weights, nats; log 6 ≈ 1.79 = uniform) at that epoch, the
    share of skip / pooling edges of the two cells (:func:`spdnas.nas.op_shares`), and
    ``same_genotype_as``: the other weightings of the dataset whose genotype is identical ('' none).
    """
    need = {"dataset", "weighting", "status"} - set(records.columns)
    if need:
        raise ValueError(f"search records lack column(s) {sorted(need)}")
    recs = records.to_dict(orient="records")
    canon = {}
    for r in recs:
        if r["status"] == "ok" and isinstance(r.get("genotype"), dict):
            canon.setdefault(r["dataset"], {})[r["weighting"]] = genotype_to_json(r["genotype"])
    rows = []
    for r in recs:
        g = r.get("genotype") if r["status"] == "ok" else None
        if isinstance(g, dict):
            mine = canon[r["dataset"]]
            same = [w for w in _weighting_order(mine) if w != r["weighting"] and mine[w] == mine[r["weighting"]]]
            shares = op_shares(g)
            rows.append({"dataset": r["dataset"], "weighting": r["weighting"], "normal": _cell_text(g["normal"]),
                         "reduce": _cell_text(g["reduce"]), "search_epochs": r.get("epochs"),
                         "order": r.get("order"), "selected_epoch": _num(r.get("selected_epoch")),
                         "val_acc": _pct(r.get("val_acc")), "alpha_max_change": _num(r.get("alpha_max_change")),
                         "alpha_entropy": _num(r.get("alpha_entropy")), "skip_share": shares["skip_share"],
                         "pool_share": shares["pool_share"], "same_genotype_as": ", ".join(same),
                         "search_time_s": r.get("time_s"), "status": "ok"})
        else:
            rows.append({**{c: np.nan for c in GENOTYPE_COLUMNS}, "dataset": r["dataset"], "weighting": r["weighting"],
                         "normal": "", "reduce": "", "same_genotype_as": "", "status": r["status"]})
    return pd.DataFrame(rows, columns=GENOTYPE_COLUMNS)


def _weighting_order(found) -> list:
    """The weightings of ``found`` in :data:`WEIGHTINGS` order (unknown names after, sorted)."""
    return [w for w in WEIGHTINGS if w in found] + sorted(w for w in found if w not in WEIGHTINGS)


def _num(x) -> float:
    """A record's optional number as float (NaN when absent, e.g. records of older searches)."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return float("nan")
    return float(x)


def _pct(x) -> float:
    return float("nan") if x is None else 100.0 * float(x)


def cell_space_summary(pop: pd.DataFrame) -> pd.DataFrame:
    """Per variant: models, min / median / mean error (%), params range."""
    if not isinstance(pop, pd.DataFrame) or len(pop) == 0:
        raise ValueError("cell_space_summary: empty population")
    rows = []
    for v, g in pop.groupby("space", sort=True):
        e = g["error"].to_numpy(float)
        rows.append({"variant": v, "models": len(g), "min_error": e.min(), "median_error": float(np.median(e)),
                     "mean_error": e.mean(), "params_min": int(g["params"].min()),
                     "params_max": int(g["params"].max()), "status": "ok"})
    return pd.DataFrame(rows)
