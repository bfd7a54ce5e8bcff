"""The work of one experiment unit (a search, a training, the floors of a dataset), as module-level
functions of plain-data specs, so that any executor of :func:`spdnas.sweep.units.run_units` can
run them (inline, in a spawned process, on a Dask worker).

Every job loads its split through a per-process cache (a worker that runs many units of one
dataset loads and splits it once), claims its unit folder, resumes from the unit's checkpoint,
and writes ``record.json`` last: a finished unit is never recomputed, a killed one resumes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from ..core.io import write_json
from ..core.trainer import fit
from ..data.normalise import normalise_split
from ..data.overview import FLOOR_KEYS, classical_floors
from ..data.splits import stratified_subset
from ..nas import op_shares, resolve_data, search, train_genotype
from ..nas.euclidean import search_euclidean, train_euclidean_genotype
from ..spd import SPDNet
from .config import FLOOR_METHODS
from .setup import baseline_dims, load_or_reason
from .units import EPOCH_FILES, claim_folder, epoch_history, finished_record, unit_key

__all__ = ["data_spec", "load_split", "search_job", "euclid_search_job", "train_job", "floors_job"]

_CACHE: dict = {}


def data_spec(name: str, options: dict, shared_data, split_seed: int, fractions, normalise: str = "none",
              keep: tuple | None = None) -> dict:
    """What a job needs to rebuild its data: loader options, split, normalisation and, for a
    data-efficiency unit, ``keep = (fraction, seed)`` of the training part."""
    return {"name": name, "options": dict(options), "shared": None if shared_data is None else str(shared_data),
            "split_seed": int(split_seed), "fractions": list(fractions), "normalise": normalise,
            "keep": None if keep is None else [float(keep[0]), int(keep[1])]}


def load_split(spec: dict) -> tuple[dict, object]:
    """(split parts, dataset) of a :func:`data_spec`, cached per process; ValueError when the data
    cannot be loaded (the stage checked it before planning the unit)."""
    k = json.dumps(spec, sort_keys=True, default=str)
    if k not in _CACHE:
        base = json.dumps(dict(spec, keep=None, normalise="none"), sort_keys=True, default=str)
        if base not in _CACHE:
            raw, why = load_or_reason(spec["name"], spec["options"], spec["shared"])
            if why:
                raise ValueError(why)
            _CACHE[base] = (resolve_data(raw, spec["split_seed"], spec["fractions"]), raw)
        split, raw = _CACHE[base]
        if spec["keep"] is not None:
            frac, seed = spec["keep"]
            idx = torch.as_tensor(stratified_subset(split["train"][1].numpy(), frac, 1000 + seed))
            split = dict(split, train=(split["train"][0][idx], split["train"][1][idx]))
        _CACHE[k] = (normalise_split(split, spec["normalise"]), raw)
    return _CACHE[k]


def _finish(folder: Path, rec: dict) -> dict:
    write_json(folder / "record.json", rec)
    return rec


def _earlier_epochs_s(folder: Path, kind: str, resume: bool) -> float:
    """Seconds of the epochs a resumed ``kind`` unit ran in earlier calls, from the per-epoch
    ``time_s`` of its :func:`epoch_history` (0 when the unit starts afresh: no checkpoint beside it,
    or the history is missing or unreadable), so that a record's ``time_s`` is the unit's whole cost
    (wall time, pauses included), not only its last call's."""
    if not resume or not (folder / EPOCH_FILES[kind][1]).is_file():
        return 0.0
    try:
        return float(sum(float(h.get("time_s", 0.0)) for h in epoch_history(folder, kind)))
    except (ValueError, TypeError, AttributeError):
        return 0.0


def _start(spec: dict) -> tuple[Path, dict | None, bool]:
    """(unit folder, its finished record or None, whether a checkpoint of this unit may be resumed)."""
    folder = Path(spec["folder"])
    rec = finished_record(folder, spec["key"])
    return folder, rec, (rec is None and claim_folder(folder, spec["key"]))


def search_job(spec: dict) -> dict:
    """One SPDNetNAS search unit; returns its record."""
    folder, rec, resume = _start(spec)
    if rec is not None:
        return rec
    t0 = time.perf_counter() - _earlier_epochs_s(folder, "search", resume)
    write_json(folder / "nas_config.json", spec["nas_config"])
    d, _ = load_split(spec["data"])
    res = search(d, spec["search"], folder, resume=resume, progress=False)
    last = res["history"][-1] if res["history"] else {}
    sel = next((h for h in res["history"] if h["epoch"] == res["selected_epoch"]), {})
    s = spec["search"]
    return _finish(folder, {
        **spec["base"], "status": "ok", "key": spec["key"], "genotype": res["genotype"], "epochs": s["epochs"],
        "order": s["order"], "select": s["select"], "selected_epoch": res["selected_epoch"],
        "val_acc": sel.get("val_acc"), "train_acc": sel.get("train_acc"),
        **{k: sel.get(k) for k in ("alpha_max_change", "alpha_entropy", "alpha_entropy_edges")},
        **op_shares(res["genotype"]), "genotype_last": res["genotype_last"], "val_acc_last": last.get("val_acc"),
        "time_s": time.perf_counter() - t0, "net": res["net"]})


def euclid_search_job(spec: dict) -> dict:
    """One DARTS / FairDARTS search on log-map images; returns ``{status, key, genotype, time_s}``."""
    folder, rec, resume = _start(spec)
    if rec is not None:
        return rec
    t0 = time.perf_counter() - _earlier_epochs_s(folder, "search", resume)
    d, _ = load_split(spec["data"])
    res = search_euclidean(d, spec["search"], folder, resume=resume, progress=False)
    return _finish(folder, {"status": "ok", "key": spec["key"], "genotype": res["genotype"],
                            "time_s": time.perf_counter() - t0})


def _shrink_batch(tcfg: dict, n_train: int) -> dict:
    """Batch size no larger than the training set (else an epoch would have no step)."""
    return dict(tcfg, batch_size=max(1, min(tcfg["batch_size"], int(n_train))))


def _fit(method: str, ds: str, d: dict, tcfg: dict, folder: Path, genotype, net, euclid) -> tuple[dict, dict, dict]:
    n = int(d["train"][0].shape[-1])
    if method in ("SPDNet", "SPDNetBN"):
        dims = baseline_dims(ds, n)
        k = int(max(int(d["train"][1].max()), int(d["val"][1].max())) + 1)
        torch.manual_seed(tcfg["seed"])
        model = SPDNet(dims, k, batchnorm=method == "SPDNetBN").double()
        res = fit(model, d["train"], d["val"], d["test"], tcfg, folder, progress=False)
        params, flops = SPDNet.complexity(dims, k, method == "SPDNetBN")
        return res, {"params": int(params), "flops": int(flops)}, {"dims": dims}
    if method in ("DARTS", "FairDARTS"):
        res = train_euclidean_genotype(genotype, d, euclid, tcfg, folder, progress=False)
        return res, {"params": int(res["params"]), "flops": None}, {"genotype": genotype}
    res = train_genotype(genotype, d, net, tcfg, folder, progress=False)
    cx = res["complexity"]
    return res, {"params": int(cx["params"]), "flops": int(cx["flops"])}, {"genotype": res["genotype"]}


def train_job(spec: dict, *deps: dict) -> dict:
    """Train one network from scratch and return its record (validation-selected epoch; the last
    epoch in ``test_acc_last`` / ``val_acc_last``). A dependency (the DARTS search of a DARTS
    training, the SPDNetNAS search of a training planned with its search) gives the genotype; a spec
    without ``key`` gets it from ``key_unit`` with that genotype (the key the train stage gives the
    same training when planned after its search)."""
    genotype = deps[0]["genotype"] if deps else spec["genotype"]
    if spec["key"] is None:
        spec = dict(spec, key=unit_key(dict(spec["key_unit"], genotype=genotype)))
    folder, rec, resume = _start(spec)
    if rec is not None:
        return rec
    t0 = time.perf_counter() - _earlier_epochs_s(folder, "train", resume)
    d, _ = load_split(spec["data"])
    tcfg = _shrink_batch(spec["train"], len(d["train"][1]))
    res, cx, extra = _fit(spec["base"]["method"], spec["data"]["name"], d, tcfg, folder, genotype, spec["net"],
                          spec["euclid"])
    b, f = res["best"] or {}, res["final"] or {}  # the validation-selected and the last epoch
    return _finish(folder, {
        **spec["base"], "status": "ok", "key": spec["key"], "test_acc": b.get("test_acc"), "val_acc": b.get("val_acc"),
        "train_acc": b.get("train_acc"), "train_loss": b.get("train_loss"), "val_loss": b.get("val_loss"),
        "selected_epoch": res["selected_epoch"], "selected_by": res["selected_by"],
        "test_acc_last": f.get("test_acc"), "val_acc_last": f.get("val_acc"), **cx, "epochs": tcfg["epochs"],
        "n_train": int(len(d["train"][1])), **extra, "time_s": time.perf_counter() - t0})


def floors_job(spec: dict) -> dict:
    """The classical floors (FLOOR_METHODS) of one dataset on the networks' split: fitted on train,
    scored on val and test; returns ``{status, key, dataset, records: [one per floor], time_s}``."""
    folder, rec, _ = _start(spec)
    if rec is not None:
        return rec
    t0 = time.perf_counter()
    d, _ = load_split(spec["data"])
    acc = classical_floors(d["train"], {"val": d["val"], "test": d["test"]}, seed=0)
    rows = [{**spec["base"], "method": m, "status": "ok", "key": spec["key"], "test_acc": acc[k].get("test"),
             "val_acc": acc[k]["val"], "params": None, "flops": None, "n_train": int(len(d["train"][1]))}
            for m, k in zip(FLOOR_METHODS, FLOOR_KEYS)]
    return _finish(folder, {"status": "ok", "key": spec["key"], "dataset": spec["data"]["name"], "records": rows,
                            "time_s": time.perf_counter() - t0})
