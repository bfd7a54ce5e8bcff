"""``spdnas experiments <stage>``: run one compute stage on its params.yaml section."""

from __future__ import annotations

import argparse
import time

from ..core.io import read_config
from ..core.params import shared_data_root, stage_params
from ..experiments.config import SECTIONS
from ..experiments.stages import run_cell_spaces_stage, run_data_efficiency_stage, run_search_stage, run_train_stage

__all__ = ["main"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="spdnas experiments", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["search", "train", "data-efficiency", "cell-spaces"])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--search", default=None, help="search stage folder (train, data-efficiency)")
    ap.add_argument("--section", default=None, help="params.yaml section (default exp_<command>)")
    ap.add_argument("--profile", default=None, help="profile (default: $SPDNAS_PROFILE or params.yaml)")
    ap.add_argument("--config", default=None, help="JSON/YAML file with the stage config instead of params.yaml")
    ap.add_argument("--data", default=None, help="shared data folder (default: params.yaml / $SPDNAS_DATA)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    kind = a.command.replace("-", "_")
    if a.config:
        params = read_config(a.config)
    else:
        params = stage_params(a.section or SECTIONS[kind], a.profile)
    shared = shared_data_root(a.data)
    kw = dict(progress=not a.no_progress)
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
    ok = sum(r["status"] == "ok" for r in recs)
    print(f"{a.command}: {ok} of {len(recs)} units ok, {time.perf_counter() - t0:.1f} s -> {a.out}")
    for r in recs:
        if r["status"] != "ok":
            print(f"  {r.get('dataset')} {r.get('method', '')} {r.get('weighting') or ''}: {r['status']}")
    return 0
