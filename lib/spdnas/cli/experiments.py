"""``spdnas experiments <stage>``: run one compute stage on its params.yaml section.

``spdnas experiments <stage> --help`` names the stage's params.yaml section and its keys (generated
from ``spdnas.experiments.STAGE_DEFAULTS``).
"""

from __future__ import annotations

import argparse
import json
import textwrap
import time
from pathlib import Path

from ..core.io import read_config
from ..core.params import PROFILES, active_profile, read_params, section_values, shared_data_root, stage_params
from ..core.trainer import OPTIMIZERS, SCHEDULES
from ..data.normalise import NORMALISATIONS
from ..experiments.config import SECTIONS, STAGE_DEFAULTS
from ..sweep.units import check_executor
from ..experiments.stages import (run_cell_spaces_stage, run_data_efficiency_stage, run_search_and_train,
                                  run_search_stage, run_train_stage)

__all__ = ["STAGES", "stage_help", "main"]

# command -> (stage kind, help)
STAGES = {
    "search": ("search", "SPDNetNAS searches (sparsemax on every dataset, softmax/sigmoid ablations)"),
    "train": ("train", "train every method on every dataset from the searched genotypes (--search)"),
    "data-efficiency": ("data_efficiency", "accuracy against the training-set fraction (--search)"),
    "cell-spaces": ("cell_spaces", "populations of random SPD cells from restricted op sets"),
}
SEARCH_TRAIN = ("search-train: the search and the train stage as one set of units (each SPDNetNAS training "
                "waits for its own search only; everything else runs beside the searches) into OUT/search and "
                "OUT/train")


def stage_help(command: str) -> str:
    """The ``--help`` epilog of ``spdnas experiments <command>``: its params.yaml section and keys."""
    kind = STAGES[command][0]
    section = SECTIONS[kind]
    keys = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(STAGE_DEFAULTS[kind].items()))
    choices = {"optimizer": "|".join(OPTIMIZERS), "schedule": "|".join(SCHEDULES),
               "normalise": "|".join(NORMALISATIONS) + " (recentre: X -> M^-1/2 X M^-1/2, M the log-Euclidean "
                                                       "mean of the training split)",
               "floors": "true|false (log-Euclidean 1-NN, MDM and TS + LR rows on the same split)"}
    told = "; ".join(f"{k}: {v}" for k, v in choices.items() if k in STAGE_DEFAULTS[kind])
    text = (f"Reads the params.yaml section '{section}' (values shared by all profiles, then the "
            f"{'/'.join(PROFILES)} block of the active profile; `spdnas pipeline params {section}` prints the "
            f"values in force), or the mapping of --config FILE instead. Keys (key=default when the "
            f"section leaves it out): {keys}." + (f" Choices: {told}." if told else ""))
    if kind != "search":
        text += (" Trained networks are reported at their validation-selected epoch (highest val accuracy, "
                 "ties on lower val loss, then the earlier epoch); test_acc_last / val_acc_last keep the last.")
    return textwrap.fill(text, 100, break_on_hyphens=False)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spdnas experiments", description=__doc__.splitlines()[0].split(": ", 1)[1],
                                 epilog="`spdnas experiments <stage> --help` lists the params.yaml keys it reads. "
                                        "`spdnas experiments run --dataset PATH.npz --out DIR` runs the whole "
                                        "study on your own data (`spdnas experiments run --help`).")
    sub = ap.add_subparsers(dest="command", required=True, metavar="stage")
    for name, (kind, help_text) in STAGES.items():
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=stage_help(name),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--out", required=True, help="output folder")
        if kind in ("train", "data_efficiency"):
            p.add_argument("--search", default=None, help="search stage folder (output of `experiments search`; "
                                                          "required)")
        p.add_argument("--section", default=None, help=f"params.yaml section (default {SECTIONS[kind]})")
        p.add_argument("--profile", default=None, help="profile (default: $SPDNAS_PROFILE or params.yaml)")
        p.add_argument("--config", default=None, help="JSON/YAML file with the stage config instead of params.yaml")
        p.add_argument("--data", default=None, help="shared data folder (default: params.yaml / $SPDNAS_DATA)")
        p.add_argument("--executor", default=None,
                       help="inline | process | dask | tcp://HOST:PORT (a running Dask scheduler); default: "
                            "params.yaml section exp_executor")
        p.add_argument("--workers", type=int, default=None, help="worker processes (process / dask executors)")
        p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p = sub.add_parser("search-train", help=SEARCH_TRAIN.split(": ", 1)[1], description=SEARCH_TRAIN,
                       epilog=f"Reads {SECTIONS['search']} and {SECTIONS['train']} (see `spdnas experiments search "
                              "--help` and `... train --help`); records and unit keys are those of `experiments "
                              "search` followed by `experiments train`, so either way resumes the other's units.")
    p.add_argument("--out", required=True, help="output folder (gets search/ and train/)")
    p.add_argument("--profile", default=None, help="profile (default: $SPDNAS_PROFILE or params.yaml)")
    p.add_argument("--config", default=None,
                   help=f"JSON/YAML file with sections {SECTIONS['search']} and {SECTIONS['train']} instead of "
                        "params.yaml")
    p.add_argument("--data", default=None, help="shared data folder (default: params.yaml / $SPDNAS_DATA)")
    p.add_argument("--executor", default=None, help="inline | process | dask | tcp://HOST:PORT; default: "
                                                    "params.yaml section exp_executor")
    p.add_argument("--workers", type=int, default=None, help="worker processes (process / dask executors)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--snapshot", action="store_true",
                   help="run nothing: write both plan.json files with the finished units and every other unit "
                        "as 'not run: not finished yet', for the tables of a run still in progress")
    return ap


def _both_params(a) -> tuple[dict, dict]:
    if not a.config:
        return stage_params(SECTIONS["search"], a.profile), stage_params(SECTIONS["train"], a.profile)
    cfg = read_config(a.config)
    missing = [SECTIONS[k] for k in ("search", "train") if not isinstance(cfg.get(SECTIONS[k]), dict)]
    if missing:
        raise ValueError(f"{a.config}: needs the mapping sections {missing}")
    return cfg[SECTIONS["search"]], cfg[SECTIONS["train"]]


def _report(command: str, recs: list[dict], t0: float, out) -> None:
    ok = sum(r["status"] == "ok" for r in recs)
    print(f"{command}: {ok} of {len(recs)} units ok, {time.perf_counter() - t0:.1f} s -> {out}")
    for r in recs:
        if r["status"] != "ok":
            print(f"  {r.get('dataset')} {r.get('method', '')} {r.get('weighting') or ''}: {r['status']}")


def execution(a, profile: str | None) -> dict:
    """Executor and workers: the flags, else params.yaml ``exp_executor`` (results do not depend on
    them, so the section is not a DVC parameter of the stages)."""
    params = read_params()
    ex = section_values(params, "exp_executor", active_profile(params, profile)) if "exp_executor" in params else {}
    unknown = set(ex) - {"executor", "workers"}
    if unknown:
        raise ValueError(f"params.yaml exp_executor: unknown keys {sorted(unknown)}; allowed: executor, workers")
    executor = check_executor(a.executor or ex.get("executor", "inline"))
    workers = a.workers if a.workers is not None else ex.get("workers", 2)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    return {"executor": executor, "workers": workers}


def main(argv=None) -> int:
    a = _parser().parse_args(argv)
    if a.command == "search-train":
        search_p, train_p = _both_params(a)
        kw = dict(progress=not a.no_progress, **execution(a, a.profile))
        t0 = time.perf_counter()
        out = Path(a.out)
        srecs, trecs = run_search_and_train(search_p, train_p, out / "search", out / "train",
                                            shared_data_root(a.data), snapshot=a.snapshot, **kw)
        if a.snapshot:
            recs = srecs + trecs
            print(f"search-train --snapshot: {sum(r['status'] == 'ok' for r in recs)} of {len(recs)} units finished "
                  f"(nothing run) -> {a.out}")
            for r in recs:
                if r["status"] != "ok" and r.get("epochs_done"):
                    what = [r["stage"], r["dataset"], r.get("method"), r.get("weighting"),
                            None if r.get("seed") is None else f"seed {r['seed']}"]
                    print(f"  in progress: {' '.join(str(w) for w in what if w)}: epoch {r['epochs_done']} of "
                          f"{r['epochs']}")
        else:
            _report(a.command, srecs + trecs, t0, a.out)
        return 0
    kind = STAGES[a.command][0]
    if a.config:
        params = read_config(a.config)
    else:
        params = stage_params(a.section or SECTIONS[kind], a.profile)
    shared = shared_data_root(a.data)
    kw = dict(progress=not a.no_progress, **execution(a, a.profile))
    t0 = time.perf_counter()
    if kind == "search":
        recs = run_search_stage(params, a.out, shared, **kw)
    elif kind == "cell_spaces":
        recs = run_cell_spaces_stage(params, a.out, shared, **kw)
    else:
        if not a.search:
            raise ValueError(f"'{a.command}' needs --search <search stage folder>")
        fn = run_train_stage if kind == "train" else run_data_efficiency_stage
        recs = fn(params, a.search, a.out, shared, **kw)
    _report(a.command, recs, t0, a.out)
    return 0
