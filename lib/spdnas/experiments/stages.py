"""The four compute stages (search, train, data efficiency, cell spaces); each unit is resumable."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..analysis import save_population, validate_population
from ..core.io import read_json
from ..core.progress import progress_bar
from ..data.normalise import normalise_split
from ..data.overview import FLOOR_KEYS, TSLR_SETTINGS, classical_floors
from ..data.splits import stratified_subset
from ..nas import cell_variant_ops, op_shares, resolve_data, sample_genotype, search, train_genotype
from ..nas.euclidean import search_euclidean, train_euclidean_genotype
from ..spd import SPDNet
from ..core.trainer import fit
from ..core.io import write_json
from .config import CELL_SPACE_VARIANTS, FLOOR_METHODS, PROTOCOL_KEYS, WEIGHTINGS, for_dataset, stage_config
from .setup import baseline_dims, dataset_options, dataset_status, load_or_reason, nas_cli_config, net_for
from ..core.status import not_run
from .units import claim_folder, finished_record, read_plan, slug, unit_key, write_plan

__all__ = ["run_search_stage", "run_train_stage", "run_data_efficiency_stage", "run_cell_spaces_stage",
           "cell_space_population"]

def _search_units(cfg: dict) -> list[tuple[str, str]]:
    units = []
    for ds in cfg["datasets"]:
        for w in WEIGHTINGS:
            if w == "sparsemax" or ds in cfg["ablation_datasets"]:
                units.append((ds, w))
    return units


def run_search_stage(cfg: dict, out, shared_data=None, *, progress: bool = True, data_options=None) -> list[dict]:
    """SPDNetNAS searches: sparsemax on every dataset, softmax/sigmoid on ``ablation_datasets``.

    Writes ``out/<dataset>/<weighting>/`` (search checkpoint, ``search_metrics.json``,
    ``genotype.json``, ``record.json``), ``out/datasets.json`` (loader options and ``normalise`` per
    dataset: the later stages split and normalise alike) and
    ``out/plan.json``. Returns the records: the genotype of the ``select``-ed epoch (``'val'``: highest
    supernet val accuracy) with that epoch's val/train accuracy and α diagnostics
    (``alpha_max_change``, ``alpha_entropy``, ``alpha_entropy_edges``), its ``skip_share`` /
    ``pool_share``, and ``genotype_last`` / ``val_acc_last`` of the last epoch.
    """
    cfg = stage_config("search", cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds_info, records, cache = {}, [], {}
    for name in cfg["datasets"]:
        ds_info[name] = {"options": dataset_options(name, cfg["n_per_class"], cfg["seed"]),
                         "normalise": for_dataset(cfg, name)["normalise"],
                         "status": dataset_status(name, shared_data) or "ok"}
    for name, extra in (data_options or {}).items():  # loader options over the stage's: a user's npz path
        if name not in ds_info or not isinstance(extra, dict):
            raise ValueError(f"data_options: {name!r} -> {extra!r} is not a search dataset's option mapping")
        ds_info[name]["options"].update(extra)
    write_json(out / "datasets.json", {"fractions": cfg["fractions"], "split_seed": cfg["split_seed"],
                                        "datasets": ds_info})
    for ds, w in progress_bar(_search_units(cfg), progress, "searches"):
        c = for_dataset(cfg, ds)
        base = {"stage": "search", "dataset": ds, "weighting": w, "method": "SPDNetNAS"}
        if ds not in cache:
            cache[ds] = load_or_reason(ds, ds_info[ds]["options"], shared_data)
            if cache[ds][1]:
                ds_info[ds]["status"] = cache[ds][1]
                write_json(out / "datasets.json", {"fractions": cfg["fractions"], "split_seed": cfg["split_seed"],
                                                    "datasets": ds_info})
        data, why = cache[ds]
        if why:
            records.append({**base, "status": not_run(why)})
            continue
        net = net_for(ds, data.info["n"], data.info["num_classes"])
        scfg = dict(net=net, weighting=w, order=c["order"], epochs=c["epochs"], batch_size=c["batch_size"],
                    max_steps=c["max_steps"], seed=cfg["seed"], split_seed=cfg["split_seed"],
                    fractions=cfg["fractions"], select=cfg["select"])
        norm = ds_info[ds]["normalise"]  # "none": the keys of searches from before the setting existed
        key = unit_key({"search": scfg, "data": ds_info[ds]["options"],
                        **({"normalise": norm} if norm != "none" else {})})
        folder = out / ds / w
        rec = finished_record(folder, key)
        if rec is None:
            t0 = time.perf_counter()
            resume = claim_folder(folder, key)
            write_json(folder / "nas_config.json", nas_cli_config(ds, ds_info[ds]["options"], scfg, shared_data))
            if norm != "none":  # the split the search makes itself, normalised
                data = normalise_split(resolve_data(data, cfg["split_seed"], cfg["fractions"]), norm)
            res = search(data, scfg, folder, resume=resume, progress=False)
            last = res["history"][-1] if res["history"] else {}
            sel = next((h for h in res["history"] if h["epoch"] == res["selected_epoch"]), {})
            rec = {**base, "status": "ok", "key": key, "genotype": res["genotype"], "epochs": c["epochs"],
                   "order": c["order"], "select": cfg["select"], "selected_epoch": res["selected_epoch"],
                   "val_acc": sel.get("val_acc"), "train_acc": sel.get("train_acc"),
                   **{k: sel.get(k) for k in ("alpha_max_change", "alpha_entropy", "alpha_entropy_edges")},
                   **op_shares(res["genotype"]), "genotype_last": res["genotype_last"],
                   "val_acc_last": last.get("val_acc"), "time_s": time.perf_counter() - t0, "net": res["net"]}
            write_json(folder / "record.json", rec)
        records.append(rec)
    write_plan(out, "search", cfg, records)
    return records


def _searched(search_dir: Path) -> tuple[dict, dict]:
    """(datasets.json, {(dataset, weighting): record}) of a finished search stage."""
    info = read_json(Path(search_dir) / "datasets.json", "search stage output (run stage exp_search)")
    plan = read_plan(search_dir)
    recs = {(r["dataset"], r["weighting"]): r for r in plan.to_dict(orient="records")}
    return info, recs


def _train_cfg(c: dict, seed: int) -> dict:
    return dict({k: c[k] for k in PROTOCOL_KEYS}, seed=int(seed))


def _fit_spdnet(name, d, dims, batchnorm, tcfg, folder, progress):
    k = int(max(int(d["train"][1].max()), int(d["val"][1].max())) + 1)
    torch.manual_seed(tcfg["seed"])
    model = SPDNet(dims, k, batchnorm=batchnorm).double()
    res = fit(model, d["train"], d["val"], d["test"], tcfg, folder, progress=progress)
    params, flops = SPDNet.complexity(dims, k, batchnorm)
    return res, {"params": int(params), "flops": int(flops)}


def _shrink_batch(tcfg: dict, n_train: int) -> dict:
    """Batch size no larger than the training set (else an epoch would have no step)."""
    return dict(tcfg, batch_size=max(1, min(tcfg["batch_size"], int(n_train))))


def _train_unit(method: str, ds: str, d: dict, tcfg: dict, folder: Path, genotype=None, net=None,
                euclid=None, progress=False, key: str | None = None) -> dict:
    """Train one network of ``method`` from scratch; returns the metric fields of a record."""
    if key is not None:
        claim_folder(folder, key)

    tcfg = _shrink_batch(tcfg, len(d["train"][1]))
    n = int(d["train"][0].shape[-1])
    if method in ("SPDNet", "SPDNetBN"):
        dims = baseline_dims(ds, n)
        res, cx = _fit_spdnet(ds, d, dims, method == "SPDNetBN", tcfg, folder, progress)
        extra = {"dims": dims}
    elif method in ("DARTS", "FairDARTS"):
        res = train_euclidean_genotype(genotype, d, euclid, tcfg, folder, progress=progress)
        cx = {"params": int(res["params"]), "flops": None}
        extra = {"genotype": genotype}
    else:
        res = train_genotype(genotype, d, net, tcfg, folder, progress=progress)
        cx = {"params": int(res["complexity"]["params"]), "flops": int(res["complexity"]["flops"])}
        extra = {"genotype": res["genotype"]}
    b, f = res["best"] or {}, res["final"] or {}  # the validation-selected and the last epoch
    return {"test_acc": b.get("test_acc"), "val_acc": b.get("val_acc"), "train_acc": b.get("train_acc"),
            "train_loss": b.get("train_loss"), "val_loss": b.get("val_loss"), "selected_epoch": res["selected_epoch"],
            "selected_by": res["selected_by"], "test_acc_last": f.get("test_acc"), "val_acc_last": f.get("val_acc"),
            "params": cx["params"], "flops": cx["flops"], "epochs": tcfg["epochs"], "n_train": int(len(d["train"][1])),
            **extra}


class _Data:
    """Lazily loaded, split datasets shared by the units of one stage."""

    def __init__(self, info: dict, shared_data):
        self.info, self.shared, self._cache, self._normalised = info, shared_data, {}, {}

    def status(self, ds: str) -> str | None:
        entry = self.info["datasets"].get(ds)
        if entry is None:
            return f"dataset {ds} was not searched (not in exp_search datasets)"
        if entry["status"] != "ok":
            return entry["status"].removeprefix("not run: ")
        return self._load(ds)[1]

    def _load(self, ds: str):
        if ds not in self._cache:
            data, why = load_or_reason(ds, self.info["datasets"][ds]["options"], self.shared)
            split = None if why else resolve_data(data, self.info["split_seed"], self.info["fractions"])
            self._cache[ds] = ((split, data), why)
        return self._cache[ds]

    def split(self, ds: str, keep=None) -> tuple[dict, object]:
        """(split, dataset): the search stage's split, training part restricted to ``keep`` when
        given, normalised as ``datasets.json`` says (by the mean of the training part used)."""
        (split, data), why = self._load(ds)
        if why:
            raise ValueError(why)
        how = self.info["datasets"][ds].get("normalise", "none")
        if keep is not None:
            return normalise_split(dict(split, train=(split["train"][0][keep], split["train"][1][keep])), how), data
        if ds not in self._normalised:
            self._normalised[ds] = normalise_split(split, how)
        return self._normalised[ds], data


def run_train_stage(cfg: dict, search_dir, out, shared_data=None, *, progress: bool = True) -> list[dict]:
    """Train every Table-2 method on every searched dataset over ``seeds``, and the softmax /
    sigmoid genotypes of the ablation datasets (Table 5; sparsemax = the SPDNetNAS rows).

    SPDNetNAS trains the sparsemax genotype of the search stage; SPDNetNAS (R) a uniformly sampled
    genotype per seed; DARTS / FairDARTS search once (seed 0) on log-map images and train the
    derived CNN per seed. Every record reports the validation-selected epoch (``test_acc`` etc.;
    the last epoch in ``test_acc_last``/``val_acc_last``). With ``floors`` the plan also holds one
    row per FLOOR_METHODS method and dataset, fitted on the same (normalised) training split.
    Writes ``out/<dataset>/<method>/seed<k>/``, ``out/<dataset>/floors/`` and ``out/plan.json``.
    """
    cfg = stage_config("train", cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    info, searched = _searched(Path(search_dir))
    data = _Data(info, shared_data)
    units = []
    skipped = []
    for ds in info["datasets"]:
        c = for_dataset(cfg, ds)
        for m in cfg["methods"]:
            if m in c["methods"]:
                units += [(ds, m, "sparsemax" if m == "SPDNetNAS" else None, s) for s in c["seeds"]]
            else:
                skipped.append({"stage": "train", "dataset": ds, "method": m, "weighting": None, "seed": None,
                                "status": not_run(f"{m} on {ds} left out by exp_train overrides (time budget "
                                                   "of this profile)")})
        for w in ("softmax", "sigmoid"):
            if (ds, w) in searched:
                units += [(ds, "SPDNetNAS", w, s) for s in c["seeds"]]
    records, euclid_g = [], {}
    if cfg["floors"]:
        for ds in info["datasets"]:
            records += _floor_records(ds, data, info, out)
    for ds, m, w, seed in progress_bar(units, progress, "trainings"):
        c = for_dataset(cfg, ds)
        base = {"stage": "train", "dataset": ds, "method": m, "weighting": w, "seed": seed}
        why = data.status(ds)
        if why is None and w is not None:
            srec = searched.get((ds, w))
            if srec is None:
                why = f"no {w} search for {ds}"
            elif srec["status"] != "ok":
                why = f"{w} search not run ({srec['status']})"
        if why:
            records.append({**base, "status": not_run(why)})
            continue
        d, raw = data.split(ds)
        tcfg = _train_cfg(c, seed)
        net = net_for(ds, raw.info["n"], raw.info["num_classes"])
        genotype, euclid = None, None
        if w is not None:
            genotype = searched[(ds, w)]["genotype"]
        elif m == "SPDNetNAS (R)":
            genotype = sample_genotype(np.random.default_rng(10_000 + seed), net["steps"])
        elif m in ("DARTS", "FairDARTS"):
            euclid = {"C": cfg["euclid_C"], "layers": cfg["euclid_layers"]}
            sk = (ds, m)
            if sk not in euclid_g:
                scfg = dict(net=euclid, weighting="softmax" if m == "DARTS" else "sigmoid", order=1,
                            epochs=c["euclid_search_epochs"], batch_size=min(c["batch_size"], len(d["train"][1])),
                            seed=0, split_seed=info["split_seed"], fractions=info["fractions"])
                skey = unit_key({"euclid_search": scfg, "data": info["datasets"][ds]})
                sfold = out / ds / m / "search"
                srec = finished_record(sfold, skey)
                if srec is None:
                    t0 = time.perf_counter()
                    res = search_euclidean(d, scfg, sfold, resume=claim_folder(sfold, skey), progress=False)
                    srec = {"status": "ok", "key": skey, "genotype": res["genotype"],
                            "time_s": time.perf_counter() - t0}
                    write_json(sfold / "record.json", srec)
                euclid_g[sk] = srec["genotype"]
            genotype = euclid_g[sk]
        unit = {"train": tcfg, "genotype": genotype, "net": net if euclid is None else euclid,
                "data": info["datasets"][ds], "split": [info["split_seed"], info["fractions"]], "method": m}
        key = unit_key(unit)
        folder = out / ds / (slug(m) if w is None else f"{m}-{w}") / f"seed{seed}"
        rec = finished_record(folder, key)
        if rec is None:
            t0 = time.perf_counter()
            fields = _train_unit(m, ds, d, tcfg, folder, genotype, net, euclid, key=key)
            rec = {**base, "status": "ok", "key": key, **fields, "time_s": time.perf_counter() - t0}
            write_json(folder / "record.json", rec)
        records.append(rec)
    records += skipped
    write_plan(out, "train", cfg, records)
    return records


def _floor_records(ds: str, data: _Data, info: dict, out: Path) -> list[dict]:
    """The classical floors (FLOOR_METHODS) on the networks' split of ``ds``: one keyed unit
    ``out/<ds>/floors/record.json``, fitted on train (normalised like the networks), one plan
    record per floor method."""
    base = {"stage": "train", "dataset": ds, "weighting": None, "seed": 0}
    why = data.status(ds)
    if why:
        return [{**base, "method": m, "status": not_run(why)} for m in FLOOR_METHODS]
    key = unit_key({"floors": list(FLOOR_KEYS), "tslr": TSLR_SETTINGS, "seed": 0, "data": info["datasets"][ds],
                    "split": [info["split_seed"], info["fractions"]]})
    folder = out / ds / "floors"
    rec = finished_record(folder, key)
    if rec is None:
        claim_folder(folder, key)
        t0 = time.perf_counter()
        d, _ = data.split(ds)
        acc = classical_floors(d["train"], {"val": d["val"], "test": d["test"]}, seed=0)
        rows = [{**base, "method": m, "status": "ok", "key": key, "test_acc": acc[k].get("test"),
                 "val_acc": acc[k]["val"], "params": None, "flops": None, "n_train": int(len(d["train"][1]))}
                for m, k in zip(FLOOR_METHODS, FLOOR_KEYS)]
        rec = {"status": "ok", "key": key, "dataset": ds, "records": rows, "time_s": time.perf_counter() - t0}
        write_json(folder / "record.json", rec)
    return list(rec["records"])


def run_data_efficiency_stage(cfg: dict, search_dir, out, shared_data=None, *, progress: bool = True) -> list[dict]:
    """Train ``methods`` on a stratified ``train_fractions`` share of the training split (same
    validation/test sets), per seed. SPDNetNAS uses the genotype searched on the full data. With
    the search stage's ``normalise: recentre`` the mean is that of the training subset used.
    """
    cfg = stage_config("data_efficiency", cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    info, searched = _searched(Path(search_dir))
    data = _Data(info, shared_data)
    ds = cfg["dataset"]
    records = []
    units = [(f, m, s) for f in cfg["train_fractions"] for m in cfg["methods"] for s in cfg["seeds"]]
    for frac, m, seed in progress_bar(units, progress, "data efficiency"):
        base = {"stage": "data_efficiency", "dataset": ds, "method": m, "fraction": frac, "seed": seed}
        why = data.status(ds)
        if why is None and m == "SPDNetNAS":
            srec = searched.get((ds, "sparsemax"))
            why = None if srec is not None and srec["status"] == "ok" else f"no sparsemax search for {ds}"
        if why:
            records.append({**base, "status": not_run(why)})
            continue
        d, raw = data.split(ds)
        keep = torch.as_tensor(stratified_subset(d["train"][1].numpy(), frac, 1000 + seed))
        dd, _ = data.split(ds, keep)
        tcfg = _train_cfg(cfg, seed)
        net = net_for(ds, raw.info["n"], raw.info["num_classes"])
        genotype = None
        if m == "SPDNetNAS":
            genotype = searched[(ds, "sparsemax")]["genotype"]
        elif m == "SPDNetNAS (R)":
            genotype = sample_genotype(np.random.default_rng(10_000 + seed), net["steps"])
        key = unit_key({"train": tcfg, "genotype": genotype, "net": net, "fraction": frac, "method": m,
                    "data": info["datasets"][ds], "split": [info["split_seed"], info["fractions"]]})
        folder = out / slug(m) / f"frac{frac:g}" / f"seed{seed}"
        rec = finished_record(folder, key)
        if rec is None:
            t0 = time.perf_counter()
            fields = _train_unit(m, ds, dd, tcfg, folder, genotype, net, key=key)
            rec = {**base, "status": "ok", "key": key, **fields, "time_s": time.perf_counter() - t0}
            write_json(folder / "record.json", rec)
        records.append(rec)
    write_plan(out, "data_efficiency", cfg, records)
    return records


def run_cell_spaces_stage(cfg: dict, out, shared_data=None, *, progress: bool = True) -> list[dict]:
    """Train ``n`` random genotypes of every cell-space variant once (NDS population study).

    Model i of a variant is sampled with seed ``seed * 1_000_003 + i`` from the variant's op sets and
    trained with seed ``seed``. Writes ``out/<variant>/<i>/record.json``, ``out/plan.json`` and
    ``out/population.parquet`` (``spdnas.analysis`` population; error = 100 - test accuracy).
    """
    cfg = stage_config("cell_spaces", cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = cfg["dataset"]
    raw, why = load_or_reason(ds, cfg["dataset_options"], shared_data)
    records = []
    d = None if why else normalise_split(resolve_data(raw, 0, cfg["fractions"]), cfg["normalise"])
    units = [(v, i) for v in cfg["variants"] for i in range(cfg["n"])]
    for v, i in progress_bar(units, progress, "cell spaces"):
        base = {"stage": "cell_spaces", "dataset": ds, "variant": v, "model": i, "seed": cfg["seed"]}
        if why:
            records.append({**base, "status": not_run(why)})
            continue
        rng = np.random.default_rng(cfg["seed"] * 1_000_003 + i * 7919 + sorted(CELL_SPACE_VARIANTS).index(v))
        genotype = sample_genotype(rng, cfg["steps"], *cell_variant_ops(v))
        net = net_for(ds, raw.info["n"], raw.info["num_classes"], cfg["steps"])
        tcfg = _train_cfg(cfg, cfg["seed"])
        key = unit_key({"train": tcfg, "genotype": genotype, "net": net, "data": [ds, cfg["dataset_options"]],
                    "fractions": cfg["fractions"], "normalise": cfg["normalise"]})
        folder = out / v / f"{i:04d}"
        rec = finished_record(folder, key)
        if rec is None:
            t0 = time.perf_counter()
            fields = _train_unit("SPDNetNAS", ds, d, tcfg, folder, genotype, net, key=key)
            rec = {**base, "status": "ok", "key": key, **fields, "time_s": time.perf_counter() - t0}
            write_json(folder / "record.json", rec)
        records.append(rec)
    write_plan(out, "cell_spaces", cfg, records)
    ok = [r for r in records if r["status"] == "ok"]
    if ok:
        save_population(cell_space_population(pd.DataFrame(ok)), out / "population.parquet")
    return records


def cell_space_population(records: pd.DataFrame) -> pd.DataFrame:
    """``spdnas.analysis`` population (space = variant, error = 100 - test accuracy %) from
    cell-space records with status ok."""
    need = {"variant", "model", "genotype", "params", "flops", "test_acc", "seed", "epochs", "dataset", "status"}
    if not isinstance(records, pd.DataFrame) or len(records) == 0:
        raise ValueError("cell_space_population: no records")
    missing = need - set(records.columns)
    if missing:
        raise ValueError(f"cell_space_population: records lack {sorted(missing)}")
    r = records[records["status"] == "ok"]
    if len(r) == 0:
        raise ValueError("cell_space_population: no finished (status ok) records")
    acc = r["test_acc"].astype(float)
    if not np.isfinite(acc).all():
        raise ValueError("cell_space_population: test_acc has NaN/Inf")
    df = pd.DataFrame({
        "space": r["variant"].astype(str), "model_id": r["model"].map(lambda i: f"{int(i):04d}"),
        "config": r["genotype"].map(lambda g: json.dumps(g, sort_keys=True)),
        "params": r["params"].astype("int64"), "flops": r["flops"].astype("int64"),
        "error": 100.0 * (1.0 - acc), "seed": r["seed"].astype("int64"),
        "epochs": r["epochs"].astype("int64"), "dataset": r["dataset"].astype(str),
    })
    if "time_s" in r.columns:
        df["train_time"] = r["time_s"].astype(float).to_numpy()
    return validate_population(df.reset_index(drop=True))
