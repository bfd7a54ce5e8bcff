"""``spdnas sweep`` (sample, train and evaluate a population of a design space) and ``spdnas spaces``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..core.io import read_config
from ..spaces import get_space, in_billions, list_spaces
from ..sweep import has_dashboard, import_plugins, run_sweep

__all__ = ["sweep_main", "spaces_main", "space_table", "print_dashboard_link", "SPACES_NOTE"]


def _kv(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    try:
        v = json.loads(v)
    except json.JSONDecodeError:
        pass
    return k, v


def _load_recipe(text: str | None) -> dict:
    if not text:
        return {}
    p = Path(text)
    if p.suffix in (".json", ".yaml", ".yml"):
        return read_config(p, "recipe file")
    else:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"--recipe must be a JSON object or a .json/.yaml file: {e}") from e
    if not isinstance(obj, dict):
        raise ValueError("--recipe must describe a mapping of recipe keys")
    return obj


def print_dashboard_link(client) -> None:
    """Print the URL of the Dask dashboard of ``client``'s scheduler (``--dashboard``)."""
    try:
        link = client.dashboard_link
    except (KeyError, AttributeError):
        link = None
    if not link:
        print("Dask dashboard: none (this scheduler serves no dashboard)", flush=True)
        return
    note = "" if has_dashboard() else " (bokeh is not installed, so the page only says that; pip install bokeh)"
    print(f"Dask dashboard: {link}{note}", flush=True)


def _sweep_command(p: argparse.ArgumentParser):
    p.add_argument("--space", required=True, help="design space name (see `spaces`)")
    p.add_argument("--dataset", default="digits", help="registered dataset (default: digits)")
    p.add_argument("-n", type=int, required=True, help="number of models")
    p.add_argument("--seed", type=int, default=0, help="sweep seed")
    p.add_argument("--data-seed", type=int, default=0, help="dataset split seed")
    p.add_argument("--dataset-arg", type=_kv, action="append", default=[], metavar="KEY=VALUE",
                   help="dataset option, e.g. root=/data/cifar-10-batches-bin (repeatable)")
    p.add_argument("--store", required=True, help="JSONL result store (Parquet copy next to it)")
    p.add_argument("--executor", default="inline", help="inline | process | dask")
    p.add_argument("--workers", type=int, default=2, help="workers for process/dask executors")
    p.add_argument("--threads-per-worker", type=int, default=1)
    p.add_argument("--scheduler", default=None, help="existing Dask scheduler tcp://host:port")
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--recipe", default=None, help="recipe JSON string or .json/.yaml file")
    for k, t in (("epochs", int), ("lr", float), ("batch-size", int), ("weight-decay", float),
                 ("optimizer", str), ("max-train", int)):
        p.add_argument(f"--{k}", type=t, default=None, help=f"recipe {k.replace('-', '_')}")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="module to import that registers spaces/datasets (repeatable)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--dashboard", action="store_true",
                   help="serve the Dask dashboard of the embedded cluster on 127.0.0.1 (its URL is printed); "
                        "without it no HTTP server listens")

    def run(a):
        recipe = _load_recipe(a.recipe)
        for k in ("epochs", "lr", "batch_size", "weight_decay", "optimizer", "max_train"):
            if getattr(a, k) is not None:
                recipe[k] = getattr(a, k)
        executor = a.scheduler or a.executor
        if a.dashboard and executor in ("inline", "process"):
            raise ValueError(f"--dashboard is the Dask dashboard: use it with --executor dask or --scheduler, "
                             f"not --executor {executor}")
        recs = run_sweep(a.space, a.dataset, a.n, a.seed, recipe, a.store, executor,
                         progress=not a.no_progress, workers=a.workers,
                         threads_per_worker=a.threads_per_worker, retries=a.retries,
                         data_seed=a.data_seed, dataset_kwargs=dict(a.dataset_arg),
                         plugins=a.plugin, dashboard=a.dashboard,
                         on_client=print_dashboard_link if a.dashboard else None)
        errs = [r["error"] for r in recs]
        print(f"{len(recs)} models in {a.store}: error min {min(errs):.2f}% "
              f"median {sorted(errs)[len(errs) // 2]:.2f}% max {max(errs):.2f}%")
        return 0

    return run


SPACES_NOTE = """\
configurations: distinct models the space samples (NAS cell spaces: normal cell x reduction cell x
  width x depth; SPD cell spaces likewise).
cells: the possible cells of one type of a NAS cell space (normal = reduction), in billions as in
  NDS Table 2; SPDNetNAS spaces count their normal and their reduction cells."""


def _cells(counts: dict) -> str:
    parts = []
    for label, n in counts.items():
        if label == "configurations":
            continue
        if label == "cells of one type":
            parts.append(f"{in_billions(n):,} billion" if n >= 10 ** 9 else f"{n:,}")
        else:
            parts.append(f"{n:,} {label.replace(' cells', '')}")
    return ", ".join(parts) or "-"


def space_table(names) -> str:
    """The table ``spdnas spaces`` prints: space, configurations, cells (see :data:`SPACES_NOTE`)."""
    rows = [("space", "configurations", "cells")]
    for name in names:
        counts = get_space(name).counts()
        rows.append((name, f"{counts['configurations']:,}", _cells(counts)))
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    lines = [f"{r[0]:{widths[0]}s}  {r[1]:>{widths[1]}s}  {r[2]}".rstrip() for r in rows]
    return "\n".join(lines[:1] + ["-" * len(max(lines, key=len))] + lines[1:] + ["", SPACES_NOTE])


def _spaces_command(p: argparse.ArgumentParser):
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="module to import that registers spaces (repeatable)")

    def run(a):
        import_plugins(a.plugin)
        print(space_table(list_spaces()))
        return 0

    return run


def sweep_main(argv=None) -> int:
    """``spdnas sweep``: sample, train and evaluate a population of models."""
    ap = argparse.ArgumentParser(prog="spdnas sweep", description=sweep_main.__doc__.split(": ", 1)[1])
    run = _sweep_command(ap)
    return run(ap.parse_args(argv))


def spaces_main(argv=None) -> int:
    """``spdnas spaces``: the registered design spaces and what they count (configurations, cells)."""
    ap = argparse.ArgumentParser(prog="spdnas spaces", description=spaces_main.__doc__.split(": ", 1)[1],
                                 epilog=SPACES_NOTE, formatter_class=argparse.RawDescriptionHelpFormatter)
    run = _spaces_command(ap)
    return run(ap.parse_args(argv))
