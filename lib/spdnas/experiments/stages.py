"""The four compute stages (search, train, data efficiency, cell spaces) as sets of resumable
units (:mod:`.jobs`) run on the executors of :func:`spdnas.sweep.units.run_units`.

Each stage plans its units (a unit already finished, same key, is read back, not planned), runs
the rest on ``executor`` (``"inline"``, ``"process"``, ``"dask"`` or a ``tcp://`` scheduler; results
do not depend on it) and writes ``plan.json`` with one record per planned unit in plan order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import save_population, validate_population
from ..core.io import read_json, write_json
from ..core.status import not_run
from ..data.overview import FLOOR_KEYS, TSLR_SETTINGS
from ..nas import cell_variant_ops, sample_genotype
from ..sweep.units import Unit, run_units
from .config import (BASELINE_METHODS, CELL_SPACE_VARIANTS, FLOOR_METHODS, PROTOCOL_KEYS, WEIGHTINGS, euclid_search_config, for_dataset,
                     search_unit_config, stage_config, train_unit_config)
from .jobs import data_spec, euclid_search_job, floors_job, search_job, train_job
from .setup import dataset_options, dataset_status, load_or_reason, nas_cli_config, net_for
from .units import epoch_history, finished_record, read_plan, slug, unit_key, write_plan

__all__ = ["run_search_stage", "run_train_stage", "run_search_and_train", "run_data_efficiency_stage", "run_cell_spaces_stage",
           "cell_space_population"]


class _Plan:
    """The units of one stage in plan order: finished records, not-run records and units to run."""

    def __init__(self):
        self.slots, self.units = [], {}

    def record(self, rec: dict) -> None:
        self.slots.append(("rec", rec))

    def unit(self, u: Unit, folder: Path, expand: bool = False, pending: bool = False) -> None:
        """Plan ``u`` unless ``folder`` holds its finished record (then that record is used). Unit
        keys are ``<record key>|<folder>``: two folders may hold the same work (e.g. identical
        softmax and sparsemax genotypes), each gets its own record. ``pending``: the record key is
        known only once a dependency has run (the job then checks for a finished record itself)."""
        done = None if pending else finished_record(folder, u.key.split("|", 1)[0])
        if done is not None:
            self.slots.append(("rec", done) if not expand else ("recs", done["records"]))
            return
        if u.key not in self.units:
            self.units[u.key] = u
        self.slots.append(("unit" if not expand else "units", u.key))

    def run(self, executor: str, workers: int, progress, desc: str) -> list[dict]:
        """Run the planned units; ``progress`` a bool or a shared tqdm bar (then advanced by one per
        planned unit, finished or not, so its total can be counted before the stage runs)."""
        if hasattr(progress, "update"):
            progress.update(self.finished())
        return self.collect(run_units(list(self.units.values()), executor, workers=workers, progress=progress,
                                      desc=desc))

    def finished(self) -> int:
        return sum(kind == "rec" or kind == "recs" for kind, _ in self.slots)

    def pending(self) -> dict:
        """``{(dataset, weighting): unit key}`` of the planned (not finished) search units."""
        return {(u.args[0]["base"]["dataset"], u.args[0]["base"]["weighting"]): k for k, u in self.units.items()}

    def collect(self, res: dict, missing: str | None = None) -> list[dict]:
        """The records in plan order, given ``res`` (``run_units``' results of at least these units);
        with ``missing``, a unit absent from ``res`` gives its not-run record(s) with that reason."""
        out = []
        for kind, v in self.slots:
            if kind == "rec":
                out.append(v)
            elif kind == "recs":
                out += list(v)
            elif v not in res and missing is not None:
                spec = self.units[v].args[0]
                base = {**spec["base"], "status": not_run(missing), **_epochs_done(spec)}
                out += [base] if kind == "unit" else [{**base, "method": m} for m in FLOOR_METHODS]
            elif kind == "unit":
                out.append(res[v])
            else:
                out += list(res[v]["records"])
        return out


SNAPSHOT_REASON = "not finished yet (snapshot of a run in progress)"


def _epochs_done(spec: dict) -> dict:
    """``{epochs_done, epochs}`` of an unfinished search or training unit from the metrics file its
    last epoch wrote (``epochs_done`` 0 when it has not started); ``{}`` for units without epochs."""
    kind = "search" if "search" in spec else "train" if "train" in spec else None
    if kind is None:
        return {}
    return {"epochs_done": len(epoch_history(spec["folder"], kind)), "epochs": int(spec[kind]["epochs"])}


def _search_units(cfg: dict) -> list[tuple[str, str]]:
    units = []
    for ds in cfg["datasets"]:
        for w in WEIGHTINGS:
            if w == "sparsemax" or ds in cfg["ablation_datasets"]:
                units.append((ds, w))
    return units


def _search_cost(c: dict, n: int, n_train: int) -> float:
    """Roughly proportional to seconds, on the scale of :func:`_train_cost` (a second-order step
    costs about three first-order ones; fitted to the measured search and training epochs)."""
    steps = n_train / c["batch_size"] if c["max_steps"] is None else c["max_steps"]
    return 110.0 * c["epochs"] * steps * c["batch_size"] * (2 * c["order"] - 1) * n ** 2


def run_search_stage(cfg: dict, out, shared_data=None, *, progress=True, executor: str = "inline",
                     workers: int = 2, data_options=None) -> list[dict]:
    """SPDNetNAS searches: sparsemax on every dataset, softmax/sigmoid on ``ablation_datasets``.

    Writes ``out/<dataset>/<weighting>/`` (search checkpoint, ``search_metrics.json``,
    ``genotype.json``, ``record.json``), ``out/datasets.json`` (loader options and ``normalise`` per
    dataset: the later stages split and normalise alike) and ``out/plan.json``. Returns the
    records: the genotype of the ``select``-ed epoch (``'val'``: highest supernet val accuracy)
    with that epoch's val/train accuracy and α diagnostics (``alpha_max_change``,
    ``alpha_entropy``, ``alpha_entropy_edges``), its ``skip_share`` / ``pool_share``, and
    ``genotype_last`` / ``val_acc_last`` of the last epoch.
    """
    cfg, plan = _plan_search(cfg, out, shared_data, data_options)
    records = plan.run(executor, workers, progress, "searches")
    write_plan(Path(out), "search", cfg, records)
    return records


def _plan_search(cfg: dict, out, shared_data, data_options) -> tuple[dict, _Plan]:
    """(stage config, plan) of the search stage; writes ``out/datasets.json``."""
    cfg = stage_config("search", cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds_info, cache, plan = {}, {}, _Plan()
    for name in cfg["datasets"]:
        ds_info[name] = {"options": dataset_options(name, cfg["n_per_class"], cfg["seed"]),
                         "normalise": for_dataset(cfg, name)["normalise"],
                         "status": dataset_status(name, shared_data) or "ok"}
    for name, extra in (data_options or {}).items():  # loader options over the stage's: a user's npz path
        if name not in ds_info or not isinstance(extra, dict):
            raise ValueError(f"data_options: {name!r} -> {extra!r} is not a search dataset's option mapping")
        ds_info[name]["options"].update(extra)
    for ds in dict.fromkeys(d for d, _ in _search_units(cfg)):
        cache[ds] = load_or_reason(ds, ds_info[ds]["options"], shared_data)
        if cache[ds][1]:
            ds_info[ds]["status"] = cache[ds][1]
    write_json(out / "datasets.json", {"fractions": cfg["fractions"], "split_seed": cfg["split_seed"],
                                        "datasets": ds_info})
    for ds, w in _search_units(cfg):
        c = for_dataset(cfg, ds)
        base = {"stage": "search", "dataset": ds, "weighting": w, "method": "SPDNetNAS"}
        data, why = cache[ds]
        if why:
            plan.record({**base, "status": not_run(why)})
            continue
        scfg = search_unit_config(cfg, ds, w, net_for(ds, data.info["n"], data.info["num_classes"]))
        norm = ds_info[ds]["normalise"]  # "none": the keys of searches from before the setting existed
        key = unit_key({"search": scfg, "data": ds_info[ds]["options"],
                        **({"normalise": norm} if norm != "none" else {})})
        folder = out / ds / w
        spec = {"folder": str(folder), "key": key, "base": base, "search": scfg,
                "nas_config": nas_cli_config(ds, ds_info[ds]["options"], scfg, shared_data),
                "data": data_spec(ds, ds_info[ds]["options"], shared_data, cfg["split_seed"], cfg["fractions"], norm)}
        cost = _search_cost(c, int(data.info["n"]), int(len(data) * cfg["fractions"][0]))
        plan.unit(Unit(f"{key}|{folder}", search_job, (spec,), cost=cost, label=f"search {ds}/{w}"), folder)
    return cfg, plan


def _searched(search_dir: Path) -> tuple[dict, dict]:
    """(datasets.json, {(dataset, weighting): record}) of a finished search stage."""
    info = read_json(Path(search_dir) / "datasets.json", "search stage output (run stage exp_search)")
    plan = read_plan(search_dir)
    recs = {(r["dataset"], r["weighting"]): r for r in plan.to_dict(orient="records")}
    return info, recs


def _train_cfg(c: dict, seed: int) -> dict:
    return dict({k: c[k] for k in PROTOCOL_KEYS}, seed=int(seed))


class _Data:
    """The search stage's datasets: status, size and the data spec of each (loaded once here)."""

    def __init__(self, info: dict, shared_data):
        self.info, self.shared, self._raw = info, shared_data, {}

    def status(self, ds: str) -> str | None:
        entry = self.info["datasets"].get(ds)
        if entry is None:
            return f"dataset {ds} was not searched (not in exp_search datasets)"
        if entry["status"] != "ok":
            return entry["status"].removeprefix("not run: ")
        if ds not in self._raw:
            self._raw[ds] = load_or_reason(ds, entry["options"], self.shared)
        return self._raw[ds][1]

    def raw(self, ds: str):
        return self._raw[ds][0]

    def spec(self, ds: str, keep=None) -> dict:
        e = self.info["datasets"][ds]
        return data_spec(ds, e["options"], self.shared, self.info["split_seed"], self.info["fractions"],
                         e.get("normalise", "none"), keep)

    def n_train(self, ds: str) -> int:
        return int(len(self.raw(ds)) * self.info["fractions"][0])


_COST = {"SPDNet": 1.0, "SPDNetBN": 1.5, "DARTS": 3.0, "FairDARTS": 3.0}


def _train_cost(m: str, tcfg: dict, n: int, n_train: int) -> float:
    return _COST.get(m, 20.0) * tcfg["epochs"] * n_train * n ** 2


def run_train_stage(cfg: dict, search_dir, out, shared_data=None, *, progress: bool = True,
                    executor: str = "inline", workers: int = 2) -> list[dict]:
    """Train every Table-2 method on every searched dataset over ``seeds``, and the softmax /
    sigmoid genotypes of the ablation datasets (Table 4; sparsemax = the SPDNetNAS rows).

    SPDNetNAS trains the sparsemax genotype of the search stage; SPDNetNAS (R) a uniformly sampled
    genotype per seed; DARTS / FairDARTS search once (seed 0) on log-map images and train the
    derived CNN per seed (each training depends on its search unit, nothing else waits for it).
    Every record reports the validation-selected epoch (``test_acc`` etc.; the last epoch in
    ``test_acc_last``/``val_acc_last``). With ``floors`` the plan also holds one row per
    FLOOR_METHODS method and dataset, fitted on the same (normalised) training split. Writes
    ``out/<dataset>/<method>/seed<k>/``, ``out/<dataset>/floors/`` and ``out/plan.json``.
    """
    info, searched = _searched(Path(search_dir))
    cfg, plan, skipped = _plan_train(cfg, info, searched, out, shared_data)
    records = plan.run(executor, workers, progress, "trainings") + skipped
    write_plan(Path(out), "train", cfg, records)
    return records


def run_search_and_train(search_cfg: dict, train_cfg: dict, search_out, train_out, shared_data=None, *,
                         progress=True, executor: str = "inline", workers: int = 2,
                         data_options=None, snapshot: bool = False) -> tuple[list[dict], list[dict]]:
    """The search and the train stage as one set of units: a training of a searched genotype
    depends on its own search unit only, so the trainings that need no search (SPDNet, SPDNetBN,
    SPDNetNAS (R), DARTS, the floors) run beside the searches, and each SPDNetNAS training starts
    when its search is done. Writes what the two stages write (the same records and unit keys as
    :func:`run_search_stage` then :func:`run_train_stage`); returns (search, train) records.
    ``snapshot``: run nothing; the plans list the finished units and every other unit as not run
    ("not finished yet"), so the tables of a run still in progress can be rendered (a later run
    overwrites both plans).
    """
    scfg, splan = _plan_search(search_cfg, search_out, shared_data, data_options)
    info = read_json(Path(search_out) / "datasets.json", "search stage datasets")
    searched = {(r["dataset"], r["weighting"]): r for kind, r in splan.slots if kind == "rec"}
    searched.update({sk: {"status": "ok", "pending": k} for sk, k in splan.pending().items()})
    tcfg, tplan, skipped = _plan_train(train_cfg, info, searched, train_out, shared_data)
    if snapshot:
        res, why = {}, SNAPSHOT_REASON
    else:
        if hasattr(progress, "update"):
            progress.update(splan.finished() + tplan.finished())
        res = run_units([*splan.units.values(), *tplan.units.values()], executor, workers=workers,
                        progress=progress, desc="searches and trainings")
        why = None
    srecs, trecs = splan.collect(res, why), tplan.collect(res, why) + skipped
    write_plan(Path(search_out), "search", scfg, srecs)
    write_plan(Path(train_out), "train", tcfg, trecs)
    return srecs, trecs


def _plan_train(cfg: dict, info: dict, searched: dict, out, shared_data) -> tuple[dict, _Plan, list[dict]]:
    """(stage config, plan, not-run records of left-out methods) of the train stage; ``searched``
    maps (dataset, weighting) to a search record or to ``{"status": "ok", "pending": unit key}``."""
    cfg = stage_config("train", cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = _Data(info, shared_data)
    todo, skipped, plan = [], [], _Plan()
    for ds in info["datasets"]:
        c = for_dataset(cfg, ds)
        for m in cfg["methods"]:
            if m in c["methods"]:
                todo += [(ds, m, "sparsemax" if m == "SPDNetNAS" else None, s) for s in c["seeds"]]
            else:
                skipped.append({"stage": "train", "dataset": ds, "method": m, "weighting": None, "seed": None,
                                "status": not_run(f"{m} on {ds} left out by exp_train overrides (time budget "
                                                   "of this profile)")})
        for w in ("softmax", "sigmoid"):
            if (ds, w) in searched:
                todo += [(ds, "SPDNetNAS", w, s) for s in c["seeds"]]
    if cfg["floors"]:
        for ds in info["datasets"]:
            _plan_floors(plan, ds, data, info, out)
    euclid_units, euclid_keys = {}, {}
    for ds, m, w, seed in todo:
        base = {"stage": "train", "dataset": ds, "method": m, "weighting": w, "seed": seed}
        why = data.status(ds)
        if why is None and w is not None:
            srec = searched.get((ds, w))
            if srec is None:
                why = f"no {w} search for {ds}"
            elif srec["status"] != "ok":
                why = f"{w} search not run ({srec['status']})"
        if why:
            plan.record({**base, "status": not_run(why)})
            continue
        raw = data.raw(ds)
        tcfg = train_unit_config(cfg, ds, seed)
        net = net_for(ds, raw.info["n"], raw.info["num_classes"])
        genotype, euclid, deps = None, None, ()
        if w is not None:
            genotype = searched[(ds, w)].get("genotype")
            if genotype is None:  # its search runs in the same set of units
                deps = (searched[(ds, w)]["pending"],)
        elif m == "SPDNetNAS (R)":
            genotype = sample_genotype(np.random.default_rng(10_000 + seed), net["steps"])
        elif m in ("DARTS", "FairDARTS"):
            scfg = euclid_search_config(cfg, ds, m, data.n_train(ds), info["split_seed"], info["fractions"])
            euclid, sk = scfg["net"], (ds, m)
            if sk not in euclid_units:
                skey = unit_key({"euclid_search": scfg, "data": info["datasets"][ds]})
                euclid_keys[sk] = skey
                sfold = out / ds / m / "search"
                srec = finished_record(sfold, skey)
                if srec is None:
                    spec = {"folder": str(sfold), "key": skey, "search": scfg, "data": data.spec(ds)}
                    euclid_units[sk] = Unit(f"{skey}|{sfold}", euclid_search_job, (spec,), label=f"{m} search {ds}",
                                            cost=_train_cost(m, dict(tcfg, epochs=2 * scfg["epochs"]),
                                                             raw.info["n"], data.n_train(ds)))
                    plan.units[euclid_units[sk].key] = euclid_units[sk]
                else:
                    euclid_units[sk] = srec
            dep = euclid_units[sk]
            if isinstance(dep, Unit):
                deps = (dep.key,)
            else:
                genotype = dep["genotype"]
        unit = {"train": tcfg, "genotype": genotype, "net": net if euclid is None else euclid,
                "data": info["datasets"][ds], "split": [info["split_seed"], info["fractions"]], "method": m}
        if euclid is not None:  # the genotype comes from the search unit, whose key stands for it
            unit["genotype"] = {"euclid_search": euclid_keys[(ds, m)]}
        pending = w is not None and genotype is None  # keyed by the genotype, known when its search is done
        key = None if pending else unit_key(unit)
        folder = out / ds / (slug(m) if w is None else f"{m}-{w}") / f"seed{seed}"
        spec = {"folder": str(folder), "key": key, "base": base, "train": tcfg, "genotype": genotype, "net": net,
                "euclid": euclid, "data": data.spec(ds), **({"key_unit": unit} if pending else {})}
        ukey = f"after-{deps[0].split('|', 1)[0]}" if pending else key
        plan.unit(Unit(f"{ukey}|{folder}", train_job, (spec,), deps,
                       cost=_train_cost(m, tcfg, raw.info["n"], data.n_train(ds)),
                       label=f"{m}{'-' + w if w else ''} {ds} seed {seed}", early=m in BASELINE_METHODS),
              folder, pending=pending)
    return cfg, plan, skipped


def _plan_floors(plan: _Plan, ds: str, data: _Data, info: dict, out: Path) -> None:
    """The classical floors (FLOOR_METHODS) on the networks' split of ``ds``: one keyed unit
    ``out/<ds>/floors/record.json``, fitted on train (normalised like the networks), one plan
    record per floor method."""
    base = {"stage": "train", "dataset": ds, "weighting": None, "seed": 0}
    why = data.status(ds)
    if why:
        for m in FLOOR_METHODS:
            plan.record({**base, "method": m, "status": not_run(why)})
        return
    key = unit_key({"floors": list(FLOOR_KEYS), "tslr": TSLR_SETTINGS, "seed": 0, "data": info["datasets"][ds],
                    "split": [info["split_seed"], info["fractions"]]})
    folder = out / ds / "floors"
    spec = {"folder": str(folder), "key": key, "base": base, "data": data.spec(ds)}
    n = int(data.raw(ds).info["n"])
    plan.unit(Unit(f"{key}|{folder}", floors_job, (spec,), cost=5.0 * data.n_train(ds) * n ** 3, label=f"floors {ds}",
                   early=True), folder, expand=True)


def run_data_efficiency_stage(cfg: dict, search_dir, out, shared_data=None, *, progress: bool = True,
                              executor: str = "inline", workers: int = 2) -> list[dict]:
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
    plan = _Plan()
    for frac, m, seed in [(f, m, s) for f in cfg["train_fractions"] for m in cfg["methods"] for s in cfg["seeds"]]:
        base = {"stage": "data_efficiency", "dataset": ds, "method": m, "fraction": frac, "seed": seed}
        why = data.status(ds)
        if why is None and m == "SPDNetNAS":
            srec = searched.get((ds, "sparsemax"))
            why = None if srec is not None and srec["status"] == "ok" else f"no sparsemax search for {ds}"
        if why:
            plan.record({**base, "status": not_run(why)})
            continue
        raw = data.raw(ds)
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
        spec = {"folder": str(folder), "key": key, "base": base, "train": tcfg, "genotype": genotype, "net": net,
                "euclid": None, "data": data.spec(ds, (frac, seed))}
        cost = _train_cost(m, tcfg, raw.info["n"], frac * data.n_train(ds))
        plan.unit(Unit(f"{key}|{folder}", train_job, (spec,), cost=cost, label=f"{m} {ds} {frac:g} seed {seed}"), folder)
    records = plan.run(executor, workers, progress, "data efficiency")
    write_plan(out, "data_efficiency", cfg, records)
    return records


def run_cell_spaces_stage(cfg: dict, out, shared_data=None, *, progress: bool = True, executor: str = "inline",
                          workers: int = 2) -> list[dict]:
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
    plan = _Plan()
    for v, i in [(v, i) for v in cfg["variants"] for i in range(cfg["n"])]:
        base = {"stage": "cell_spaces", "dataset": ds, "variant": v, "model": i, "seed": cfg["seed"],
                "method": "SPDNetNAS"}
        if why:
            plan.record({**base, "status": not_run(why)})
            continue
        rng = np.random.default_rng(cfg["seed"] * 1_000_003 + i * 7919 + sorted(CELL_SPACE_VARIANTS).index(v))
        genotype = sample_genotype(rng, cfg["steps"], *cell_variant_ops(v))
        net = net_for(ds, raw.info["n"], raw.info["num_classes"], cfg["steps"])
        tcfg = _train_cfg(cfg, cfg["seed"])
        key = unit_key({"train": tcfg, "genotype": genotype, "net": net, "data": [ds, cfg["dataset_options"]],
                        "fractions": cfg["fractions"], "normalise": cfg["normalise"]})
        folder = out / v / f"{i:04d}"
        spec = {"folder": str(folder), "key": key, "base": base, "train": tcfg, "genotype": genotype, "net": net,
                "euclid": None,
                "data": data_spec(ds, cfg["dataset_options"], shared_data, 0, cfg["fractions"], cfg["normalise"])}
        plan.unit(Unit(f"{key}|{folder}", train_job, (spec,), label=f"{v} model {i}"), folder)
    records = plan.run(executor, workers, progress, "cell spaces")
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
