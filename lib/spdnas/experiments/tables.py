"""Paper tables assembled from stage records, with the paper's numbers beside ours."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..core.status import not_run
from ..nas import OPS, genotype_to_json, op_shares
from .config import FLOOR_METHODS, METHODS, WEIGHTINGS
from .reference import paper_reference

__all__ = ["PAPER_DATASET", "NOT_IN_PAPER", "PAPER_FIGURE_ONLY", "format_pm", "summarize", "paper_table2",
           "table2", "table4", "data_efficiency_table", "GENOTYPE_COLUMNS", "genotypes_table", "cell_space_summary"]

# Which paper column our dataset corresponds to (None: not in the paper). Our radar_sim is a
# physics simulator of the RADAR task, not the released data; our hdm05 is an 11-class real subset
# of the 117-class release: numbers are indicative, not directly comparable.
PAPER_DATASET = {"radar_sim": "RADAR", "radar": "RADAR", "hdm05": "HDM05", "afew": "AFEW"}


NOT_IN_PAPER = "not in the paper"


# the paper shows its data-efficiency experiment as a figure only (no numbers to put beside ours)
PAPER_FIGURE_ONLY = "in the paper only as a figure"


# a trained network's records hold the validation-selected epoch in <metric> and the last epoch
# in <metric>_last (absent in records written before the selection existed)
LAST_SUFFIX = "_last"


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
    finished runs have status ``"ok"`` (or ``"ok (k of n runs not run)"``, with ``": <reason>"`` when
    the k share one reason, e.g. a snapshot's "not finished yet").
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
            why = set(g.loc[g["status"] != "ok", "status"].astype(str).str.removeprefix("not run: "))
            row.update(mean=float(v.mean()), std=float(v.std(ddof=1)) if len(v) > 1 else np.nan, n=len(v),
                       params=float(ok["params"].astype(float).mean()) if "params" in ok else np.nan,
                       status="ok" if skipped == 0 else f"ok ({skipped} of {len(g)} runs not run"
                                                        + (f": {why.pop()})" if len(why) == 1 else ")"))
        rows.append(row)
    return pd.DataFrame(rows)


#: a group whose median validation-selected epoch lies in this last share of its epochs is flagged
LATE_SELECTION_SHARE = 0.1
LATE_NOTE = "best val epoch in the last 10 % of training: may not have converged"


def _last_epoch(records: pd.DataFrame, by: list, metric: str) -> pd.DataFrame:
    """Per group, mean/std (%) of the last epoch's ``metric`` (NaN when a finished run lacks it), the
    median ``selected_epoch`` and ``epochs`` of its runs, and ``budget_note`` = :data:`LATE_NOTE` when
    that median selected epoch is in the last :data:`LATE_SELECTION_SHARE` of the epochs."""
    rows = []
    for keys, g in records.groupby(by, sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        ok = g[g["status"] == "ok"]
        v = 100.0 * ok[metric].astype(float).to_numpy() if metric in ok.columns else np.array([np.nan])
        good = len(v) > 0 and bool(np.isfinite(v).all())
        sel, ep = (float(np.median(ok[c].astype(float))) if c in ok.columns and len(ok) and ok[c].notna().all()
                   else np.nan for c in ("selected_epoch", "epochs"))
        late = bool(np.isfinite(sel) and np.isfinite(ep) and sel > (1.0 - LATE_SELECTION_SHARE) * ep)
        rows.append({**dict(zip(by, keys)), "ours_last_mean": float(v.mean()) if good else np.nan,
                     "ours_last_std": float(v.std(ddof=1)) if good and len(v) > 1 else np.nan,
                     "selected_epoch": sel, "epochs": ep, "budget_note": LATE_NOTE if late else ""})
    return pd.DataFrame(rows, columns=[*by, "ours_last_mean", "ours_last_std", "selected_epoch", "epochs",
                                       "budget_note"])


def _ours(records: pd.DataFrame, by: list, metric: str) -> pd.DataFrame:
    """:func:`summarize` plus the last-epoch columns, renamed to the ``ours_*`` table columns."""
    s = summarize(records, by, metric).merge(_last_epoch(records, by, metric + LAST_SUFFIX), on=by, how="left")
    s["ours_acc"] = [format_pm(a, b) for a, b in zip(s["mean"], s["std"])]
    s["ours_last_acc"] = [format_pm(a, b) for a, b in zip(s["ours_last_mean"], s["ours_last_std"])]
    return s.rename(columns={"mean": "ours_mean", "std": "ours_std", "n": "seeds"})


def _paper_rows(tables, path=None) -> pd.DataFrame:
    """Rows of the reference file from the paper's ``tables``, with ``paper_*`` column names."""
    ref = paper_reference(path)
    ref = ref[ref["table"].isin(tables)]
    return pd.DataFrame({"paper_dataset": ref["dataset"], "method": ref["method"], "weighting": ref["weighting"],
                         "paper_mean": ref["mean"], "paper_std": ref["std"], "paper_size": ref["size_printed"],
                         "paper_source": ref["source"]}).reset_index(drop=True)


def _with_paper(s: pd.DataFrame, paper: pd.DataFrame, on: list) -> pd.DataFrame:
    """``s`` with the paper's mean ± std (``paper_acc``, or :data:`NOT_IN_PAPER`) and ``diff`` = ours − paper."""
    s = s.copy()
    s["paper_dataset"] = s["dataset"].map(lambda d: PAPER_DATASET.get(d, ""))
    s = s.merge(paper[on + [c for c in paper.columns if c.startswith("paper_") and c not in on]], on=on, how="left")
    found = np.isfinite(s["paper_mean"].astype(float))
    s["paper_acc"] = [format_pm(m, sd) if f else NOT_IN_PAPER for m, sd, f in zip(s["paper_mean"], s["paper_std"], found)]
    s["paper_source"] = s["paper_source"].where(found, "")
    s["diff"] = s["ours_mean"].astype(float) - s["paper_mean"].astype(float)
    return s


def _kind(methods) -> list:
    return ["floor" if m in FLOOR_METHODS else "network" for m in methods]


def paper_table2(path=None) -> pd.DataFrame:
    """The paper's Table 2 (RADAR, HDM05 × six methods) from the reference file."""
    p = _paper_rows([2], path).drop(columns=["weighting"])
    p["paper_acc"] = [format_pm(m, s) for m, s in zip(p["paper_mean"], p["paper_std"])]
    return p[["paper_dataset", "method", "paper_acc", "paper_mean", "paper_std", "paper_size", "paper_source"]]


def _missing_plan_rows(datasets, methods, reason, extra=None):
    return [{"dataset": d, "method": m, **(extra or {}), "status": not_run(reason)} for d in datasets for m in methods]


def _ordered(s: pd.DataFrame, cols: dict, then=()) -> pd.DataFrame:
    """``s`` sorted by the ``{column: order}`` given (values not in an order first), then by ``then``."""
    keys = [pd.Categorical(s[c], list(order), ordered=True).codes for c, order in cols.items()]
    keys += [s[c].astype(float).to_numpy() for c in then]
    return s.iloc[np.lexsort(keys[::-1])].reset_index(drop=True)


def table2(records: pd.DataFrame | None, datasets, methods=FLOOR_METHODS + METHODS,
           missing_reason: str | None = None, metric: str = "test_acc", reference=None) -> pd.DataFrame:
    """Table 2: ours (validation-selected epoch and last epoch, mean ± std over seeds, %) per
    dataset × method beside the paper's mean ± std, ``diff`` (ours − paper) and printed size.

    ``records``: the train stage's plan (None: everything is ``not run: missing_reason``); the
    classical floors (:data:`FLOOR_METHODS`, ``kind`` "floor") are rows like the networks.
    Datasets/methods absent from the records get not-run rows. ``reference``: the paper file.
    """
    datasets, methods = list(datasets), list(methods)
    if not datasets or not methods:
        raise ValueError("table2 needs at least one dataset and one method")
    known = FLOOR_METHODS + METHODS
    bad = [m for m in methods if m not in known]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; choose from {known}")
    if records is None:
        recs = pd.DataFrame(_missing_plan_rows(datasets, methods, missing_reason or "no results"))
    else:
        recs = records.copy()
        if "weighting" in recs.columns:  # Table 2 is sparsemax SPDNetNAS; softmax/sigmoid are Table 4
            recs = recs[recs["weighting"].isna() | (recs["weighting"] == "sparsemax")]
        have = set(zip(recs.get("dataset", []), recs.get("method", [])))
        extra = [{"dataset": d, "method": m, "status": not_run(f"{d} / {m} not in the train stage's plan "
                                                                  "(dataset not in exp_search datasets?)")}
                 for d in datasets for m in methods if (d, m) not in have]
        recs = pd.concat([recs, pd.DataFrame(extra)], ignore_index=True) if extra else recs
        recs = recs[recs["dataset"].isin(datasets) & recs["method"].isin(methods)]
    s = _ordered(_ours(recs, ["dataset", "method"], metric), {"dataset": datasets, "method": methods})
    s["dataset"], s["method"] = s["dataset"].astype(str), s["method"].astype(str)
    s["kind"] = _kind(s["method"])
    s = _with_paper(s, _paper_rows([2, 3], reference).drop(columns=["weighting"]), ["paper_dataset", "method"])
    s.loc[s["kind"] == "floor", "paper_acc"] = NOT_IN_PAPER
    s["paper_size"] = s["paper_size"].fillna("")
    return s[["dataset", "method", "kind", "ours_acc", "ours_mean", "ours_std", "ours_last_acc", "ours_last_mean",
              "seeds", "params", "selected_epoch", "epochs", "budget_note", "paper_dataset", "paper_acc", "paper_mean",
              "paper_std", "diff", "paper_size", "paper_source", "status"]]


def _floor_records(records: pd.DataFrame | None, datasets=None) -> pd.DataFrame:
    """The classical-floor records (method in :data:`FLOOR_METHODS`) of ``datasets``."""
    if records is None or "method" not in records.columns:
        return pd.DataFrame()
    f = records[records["method"].isin(FLOOR_METHODS)]
    if datasets is not None and "dataset" in f.columns:
        f = f[f["dataset"].isin(list(datasets))]
    return f


def table4(records: pd.DataFrame | None, datasets, missing_reason: str | None = None,
           metric: str = "test_acc", reference=None) -> pd.DataFrame:
    """Table 4 (the paper's ablation): SPDNetNAS searched with sparsemax / softmax / sigmoid mixing
    and trained from scratch, beside the paper's mean ± std and ``diff``; each dataset's classical
    floors (when the records hold them) come first as ``kind`` "floor" rows.
    """
    datasets = list(datasets)
    if not datasets:
        raise ValueError("table4 needs at least one dataset")
    if records is None:
        recs = pd.DataFrame([{"dataset": d, "method": "SPDNetNAS", "weighting": w,
                              "status": not_run(missing_reason or "no results")} for d in datasets for w in WEIGHTINGS])
        floors = pd.DataFrame()
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
        floors = _floor_records(records, datasets)
    s = _ours(recs, ["dataset", "method", "weighting"], metric)
    if len(floors):
        f = _ours(floors, ["dataset", "method"], metric)
        s = pd.concat([f.assign(weighting=None), s], ignore_index=True)
    # per dataset: the floors, then the weightings
    s = _ordered(s, {"dataset": datasets, "method": FLOOR_METHODS + ("SPDNetNAS",), "weighting": WEIGHTINGS})
    s["kind"] = _kind(s["method"])
    paper = _paper_rows([4], reference)
    s = _with_paper(s, paper, ["paper_dataset", "method", "weighting"])
    s["same_cell_as"] = _same_cells(recs, s)
    return s[["dataset", "method", "weighting", "kind", "ours_acc", "ours_mean", "ours_std", "ours_last_acc",
              "ours_last_mean", "seeds", "params", "selected_epoch", "epochs", "budget_note", "same_cell_as",
              "paper_dataset", "paper_acc", "paper_mean", "paper_std", "diff", "paper_source", "status"]]


def _same_cells(recs: pd.DataFrame, s: pd.DataFrame) -> list[str]:
    """Per row of ``s``: the other weightings of its dataset that trained the identical derived cell
    (then their rows measure one network, not the mixing rule), '' when none."""
    cells = {}
    if "genotype" in recs.columns:
        for r in recs[recs["status"] == "ok"].to_dict(orient="records"):
            if isinstance(r.get("genotype"), dict):
                cells[(r["dataset"], r["weighting"])] = json.dumps(r["genotype"], sort_keys=True)
    out = []
    for ds, w in zip(s["dataset"], s["weighting"]):
        mine = cells.get((ds, w))
        out.append("" if mine is None else ", ".join(o for o in WEIGHTINGS if o != w and cells.get((ds, o)) == mine))
    return out


def data_efficiency_table(records: pd.DataFrame | None, fractions=None, methods=None,
                          missing_reason: str | None = None, metric: str = "test_acc",
                          floors: pd.DataFrame | None = None, dataset: str | None = None) -> pd.DataFrame:
    """Accuracy (validation-selected epoch and last epoch, mean ± std over seeds, %) per method ×
    share of the training data; the paper shows this experiment only as a figure.

    Classical-floor rows (``kind`` "floor") come from the floor records in ``records`` and in
    ``floors`` (e.g. the train stage's plan, fitted on the whole training split: share 100 %),
    restricted to ``dataset`` when given.
    """
    if records is None:
        if not fractions or not methods:
            raise ValueError("data_efficiency_table without records needs fractions and methods")
        recs = pd.DataFrame([{"method": m, "fraction": float(f), "status": not_run(missing_reason or "no results")}
                             for m in methods for f in fractions])
    else:
        recs = records
        if dataset is not None and "dataset" in recs.columns:
            recs = recs[recs["dataset"] == dataset]
    fl = _floor_records(recs)
    extra = _floor_records(floors, None if dataset is None else [dataset])
    if len(extra):  # floors fitted on the whole training split, unless the records hold their own
        extra = extra[~extra["method"].isin(set(fl["method"]) if len(fl) else set())]
        fl = pd.concat([fl, extra.assign(fraction=1.0)], ignore_index=True)
    nets = recs[~recs["method"].isin(FLOOR_METHODS)] if "method" in recs.columns else recs
    s = _ours(nets, ["method", "fraction"], metric)
    if len(fl):
        s = pd.concat([_ours(fl, ["method", "fraction"], metric), s], ignore_index=True)
    order = list(methods) if methods else list(dict.fromkeys(nets["method"]))
    s = _ordered(s, {"method": FLOOR_METHODS + tuple(m for m in order if m not in FLOOR_METHODS)}, then=["fraction"])
    s["method"] = s["method"].astype(str)
    s["kind"] = _kind(s["method"])
    s["train_share_pct"] = 100.0 * s["fraction"].astype(float)
    s["paper_acc"] = np.where(s["kind"] == "floor", NOT_IN_PAPER, PAPER_FIGURE_ONLY)
    return s[["method", "kind", "fraction", "train_share_pct", "ours_acc", "ours_mean", "ours_std", "ours_last_acc",
              "ours_last_mean", "seeds", "params", "paper_acc", "status"]]


def _cell_text(pairs) -> str:
    return ", ".join(f"{op}<-{j}" for op, j in pairs)


GENOTYPE_COLUMNS = ["dataset", "weighting", "normal", "reduce", "search_epochs", "order", "selected_epoch",
                    "val_acc", "alpha_max_change", "alpha_entropy", "entropy_share", "skip_share", "pool_share",
                    "same_genotype_as", "budget_note", "search_time_s", "status"]
#: entropy share (mean edge entropy / log of the candidate ops) from which the mixing weights count as uniform
UNIFORM_ENTROPY_SHARE = 0.99
N_CANDIDATE_OPS = len(OPS["normal"])
#: the budget note of such a search (the table captions say what it means)
UNIFORM_NOTE = "mixing weights ~ uniform: cell not a search decision"


def _budget_note(share: float) -> str:
    return UNIFORM_NOTE if np.isfinite(share) and share >= UNIFORM_ENTROPY_SHARE else ""


def genotypes_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per search (dataset, weighting): the reported cells and how the search got there.

    Columns (:data:`GENOTYPE_COLUMNS`): normal / reduction cell ops, the reported (``selected_epoch``)
    epoch's supernet val accuracy (%), ``alpha_max_change`` (max |α − α₀|) and ``alpha_entropy``
    (mean entropy of the edges' mixing weights, nats; log 6 ≈ 1.79 = uniform) at that epoch, the
    share of skip / pooling edges of the two cells (:func:`spdnas.nas.op_shares`),
    ``same_genotype_as``: the other weightings of the dataset whose genotype is identical ('' none),
    ``entropy_share`` = alpha_entropy / log(number of candidate ops) (1: uniform weights) and
    ``budget_note``: :data:`UNIFORM_NOTE` when that share is at least :data:`UNIFORM_ENTROPY_SHARE`
    (the mixing weights stayed ~ uniform, even where α moved a little: the argmax cell is decided by
    small differences), else ''.
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
            share = _num(r.get("alpha_entropy")) / float(np.log(N_CANDIDATE_OPS))
            rows.append({"dataset": r["dataset"], "weighting": r["weighting"], "normal": _cell_text(g["normal"]),
                         "reduce": _cell_text(g["reduce"]), "search_epochs": r.get("epochs"),
                         "order": r.get("order"), "selected_epoch": _num(r.get("selected_epoch")),
                         "val_acc": _pct(r.get("val_acc")), "alpha_max_change": _num(r.get("alpha_max_change")),
                         "alpha_entropy": _num(r.get("alpha_entropy")), "entropy_share": share,
                         "skip_share": shares["skip_share"], "pool_share": shares["pool_share"],
                         "same_genotype_as": ", ".join(same), "budget_note": _budget_note(share),
                         "search_time_s": r.get("time_s"), "status": "ok"})
        else:
            rows.append({**{c: np.nan for c in GENOTYPE_COLUMNS}, "dataset": r["dataset"], "weighting": r["weighting"],
                         "normal": "", "reduce": "", "same_genotype_as": "", "budget_note": "",
                         "status": r["status"]})
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
