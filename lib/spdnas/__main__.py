"""Command line: ``python -m spdnas <command> ...`` (or the ``spdnas`` script).

Commands live in the :data:`COMMANDS` registry; add one with::

    from spdnas.__main__ import register_command

    @register_command("search", help="run SPDNetNAS search")
    def _search(parser):            # called with the subparser: add arguments here
        parser.add_argument(...)
        return run_search_from_args  # callable(args) -> int exit code

Modules listed in :data:`COMMAND_MODULES` (or in ``$SPDNAS_CLI_PLUGINS``, comma-separated) are
imported before parsing so their ``register_command`` calls take effect.

Built in: ``sweep`` (population sweep over a design space) and ``spaces`` (list spaces).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from spdnas.cli import guarded
from spdnas.plugins import import_optional

# ``python -m spdnas`` runs this file as ``__main__``; make ``import spdnas.__main__`` (used by
# plugins calling register_command) return this same module and registry.
if __name__ == "__main__":
    sys.modules.setdefault("spdnas.__main__", sys.modules[__name__])

# name -> (help text, setup(parser) -> run(args) -> int)
COMMANDS: dict = {}
# optional modules registering more commands (imported if present)
COMMAND_MODULES: list[str] = []


def register_command(name: str, help: str = ""):
    """Decorator registering ``setup(parser) -> run(args)`` as subcommand ``name``."""

    def deco(setup):
        if name in COMMANDS:
            raise ValueError(f"command {name!r} is already registered")
        COMMANDS[name] = (help, setup)
        return setup

    return deco


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
        if not p.is_file():
            raise FileNotFoundError(f"recipe file not found: {p}")
        if p.suffix == ".json":
            obj = json.loads(p.read_text())
        else:
            import yaml

            obj = yaml.safe_load(p.read_text())
    else:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"--recipe must be a JSON object or a .json/.yaml file: {e}") from e
    if not isinstance(obj, dict):
        raise ValueError("--recipe must describe a mapping of recipe keys")
    return obj


@register_command("sweep", help="sample, train and evaluate a population of models")
def _sweep_setup(p: argparse.ArgumentParser):
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
    p.add_argument("--dashboard", action="store_true", help="Dask dashboard on 127.0.0.1")

    def run(a):
        from spdnas.sweep import run_sweep

        recipe = _load_recipe(a.recipe)
        for k in ("epochs", "lr", "batch_size", "weight_decay", "optimizer", "max_train"):
            if getattr(a, k) is not None:
                recipe[k] = getattr(a, k)
        executor = a.scheduler or a.executor
        recs = run_sweep(a.space, a.dataset, a.n, a.seed, recipe, a.store, executor,
                         progress=not a.no_progress, workers=a.workers,
                         threads_per_worker=a.threads_per_worker, retries=a.retries,
                         data_seed=a.data_seed, dataset_kwargs=dict(a.dataset_arg),
                         plugins=a.plugin, dashboard=a.dashboard)
        errs = [r["error"] for r in recs]
        print(f"{len(recs)} models in {a.store}: error min {min(errs):.2f}% "
              f"median {sorted(errs)[len(errs) // 2]:.2f}% max {max(errs):.2f}%")
        return 0

    return run


@register_command("spaces", help="list registered design spaces and their sizes")
def _spaces_setup(p: argparse.ArgumentParser):
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE")

    def run(a):
        from spdnas.spaces import get_space, list_spaces
        from spdnas.sweep import import_plugins

        import_plugins(a.plugin)
        names = list_spaces()
        width = max(len(n) for n in names)
        for name in names:
            print(f"{name:{width}s}  {get_space(name).size():,}")
        return 0

    return run


def _import_command_modules() -> None:
    extra = [m for m in os.environ.get("SPDNAS_CLI_PLUGINS", "").split(",") if m.strip()]
    for mod in COMMAND_MODULES + extra:
        mod = mod.strip()
        if not import_optional(mod) and mod in extra:
            raise ValueError(f"CLI plugin module {mod!r} (from $SPDNAS_CLI_PLUGINS) not found")


def build_parser() -> argparse.ArgumentParser:
    """Top-level parser with one subparser per registered command."""
    _import_command_modules()
    parser = argparse.ArgumentParser(prog="spdnas", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, setup) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text)
        sp.set_defaults(_run=setup(sp))
    return parser


def main(argv=None) -> int:
    """Entry point; bad inputs exit with status 2 and a one-line message."""
    args = build_parser().parse_args(argv)
    return guarded(lambda: args._run(args), f"spdnas {args.command}")


if __name__ == "__main__":
    sys.exit(main())
