"""``spdnas nas {search,train,random,euclidean} --config FILE --out DIR``: SPDNetNAS from a config file.

The config file (YAML or JSON) holds::

    dataset: {name: radar_sim, ...options of spdnas.data.load_dataset}   # or data: path/to/file.npz (X, y)
    net: radar                        # preset name or net_config dict (SPD nets)
    search: {epochs: 20, order: 2, weighting: sparsemax, ...}             # SEARCH_DEFAULTS keys
    train: {epochs: 100, lr: 0.025, ...}                                  # TRAIN_DEFAULTS keys
    euclidean: {C: 4, layers: 2}       # net of the Euclidean baselines

``search`` writes search_checkpoint.pt, search_metrics.json, genotype.json (+ cell figure) -- until
the last epoch ran, the genotype is in genotype.partial.json, marked incomplete, and
``train --genotype`` refuses it without ``--allow-partial``; ``train --genotype FILE`` trains a
derived net; ``random --seed S`` trains a uniformly sampled
genotype ("SPDNetNAS (R)"); ``euclidean`` runs a DARTS/FairDARTS search and trains the result.
All commands resume from the checkpoints in ``--out`` after an interruption. ``spdnas nas <command>
--help`` lists the config sections and keys that command reads (generated from the defaults tables).
"""

from __future__ import annotations

import argparse
import inspect
import json
import textwrap
from pathlib import Path

import numpy as np

from ..core.io import read_config, write_json
from ..core.trainer import TRAIN_DEFAULTS
from ..data import load_dataset, read_npz
from ..nas import PRESETS, SEARCH_DEFAULTS, load_genotype, net_config, sample_genotype, save_genotype, search, train_genotype
from ..nas.euclidean import euclidean_net_config, search_euclidean, train_euclidean_genotype
from ..plots import draw_genotype, save_figure

__all__ = ["COMMANDS", "SECTIONS", "config_help", "main"]

# search settings the command takes from the top-level sections instead of the search section
_TOP_LEVEL = ("net", "split_seed", "fractions")
SPLIT_DEFAULTS = {k: SEARCH_DEFAULTS[k] for k in ("split_seed", "fractions")}

# command -> (help, config sections it reads)
COMMANDS = {
    "search": ("bilevel SPDNetNAS search; writes the derived genotype",
               ("dataset", "data", "net", "search", "split_seed", "fractions")),
    "train": ("train the derived network of --genotype FILE from scratch",
              ("dataset", "data", "net", "train", "split_seed", "fractions")),
    "random": ("train a uniformly sampled genotype (SPDNetNAS (R)), --seed S",
               ("dataset", "data", "net", "train", "split_seed", "fractions")),
    "euclidean": ("DARTS / FairDARTS search on log-map images, then train the result",
                  ("dataset", "data", "search", "euclidean", "train", "split_seed", "fractions")),
}


def _keys(table: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(table.items()))


def _section_text() -> dict:
    """Section name -> what it holds, generated from the library's defaults tables."""
    net_keys = ", ".join(sorted(net_config(next(iter(PRESETS)))))
    euclid = {k: p.default for k, p in inspect.signature(euclidean_net_config).parameters.items()
              if p.default is not inspect.Parameter.empty}
    search_keys = {k: v for k, v in SEARCH_DEFAULTS.items() if k not in _TOP_LEVEL}
    return {
        "dataset": "{name: <spdnas.data dataset>, <its load_dataset options>} or just the name; "
                   "or instead 'data: FILE.npz' with arrays X (N, n, n) and y (N,)",
        "data": "FILE.npz with arrays X (N, n, n) and y (N,) (instead of dataset)",
        "net": f"SPD network: a preset ({', '.join(sorted(PRESETS))}) or a dict of net_config keys "
               f"({net_keys}; in_dim and num_classes required); omitted: sized from the data",
        "search": f"search settings (spdnas.nas.SEARCH_DEFAULTS; key=default): {_keys(search_keys)}. "
                  f"{', '.join(_TOP_LEVEL)} come from the top-level sections",
        "train": f"training settings (spdnas.core.trainer.TRAIN_DEFAULTS; key=default): {_keys(TRAIN_DEFAULTS)}",
        "euclidean": f"Euclidean (DARTS-space) network (euclidean_net_config; key=default): {_keys(euclid)}; "
                     "size and classes from the data",
        "split_seed": f"seed of the stratified train/val/test split (default {SPLIT_DEFAULTS['split_seed']})",
        "fractions": f"train/val/test fractions (default {SPLIT_DEFAULTS['fractions']})",
    }


SECTIONS = tuple(_section_text())


def config_help(command: str) -> str:
    """The ``--help`` epilog of ``spdnas nas <command>``: every config section it reads and its keys."""
    text = _section_text()
    names = COMMANDS[command][1]
    width = max(len(n) for n in names) + 2
    lines = [f"--config FILE (YAML or JSON) sections read by '{command}' (others are ignored; unknown ones "
             "are an error):"]
    for name in names:
        lines += textwrap.wrap(text[name], 100, initial_indent=f"  {name:{width}s}",
                               subsequent_indent=" " * (width + 2), break_on_hyphens=False)
    return "\n".join(lines)


def _load_config(path) -> dict:
    p = Path(path)
    cfg = read_config(p)
    unknown = set(cfg) - set(SECTIONS)
    if unknown:
        raise ValueError(f"config file {p}: unknown sections {sorted(unknown)}; allowed: {sorted(SECTIONS)}")
    return cfg


def _load_data(cfg: dict):
    if "data" in cfg:
        p = Path(cfg["data"])
        if not p.is_file():
            raise FileNotFoundError(f"data file not found: {p}")
        arrays = read_npz(p, ("X", "y"))
        return arrays["X"], arrays["y"]
    if "dataset" not in cfg:
        raise ValueError("config needs a 'dataset' (spdnas.data name + options) or a 'data' (.npz) entry")
    spec = dict(cfg["dataset"]) if isinstance(cfg["dataset"], dict) else {"name": cfg["dataset"]}
    return load_dataset(spec.pop("name"), **spec)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spdnas nas", description=__doc__.splitlines()[0].split(": ", 1)[1],
                                 epilog="`spdnas nas <command> --help` lists the config sections and keys it reads.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="command")
    for name, (help_text, _) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=config_help(name),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--config", required=True, help="YAML/JSON config file (sections below)")
        p.add_argument("--out", required=True, help="output folder (checkpoints, metrics, genotype)")
        if name == "train":
            p.add_argument("--genotype", default=None, help="genotype JSON, e.g. genotype.json of a search (required)")
            p.add_argument("--allow-partial", action="store_true",
                           help="accept a genotype written before its search finished (genotype.partial.json)")
        if name == "random":
            p.add_argument("--seed", type=int, default=0, help="genotype sampling seed (default 0)")
        p.add_argument("--no-progress", action="store_true", help="no progress bars")
        p.add_argument("--no-resume", action="store_true", help="start over instead of resuming from --out")
    return ap


def main(argv=None) -> int:
    a = _parser().parse_args(argv)
    cfg = _load_config(a.config)
    data = _load_data(cfg)
    out = Path(a.out)
    kw = dict(resume=not a.no_resume, progress=not a.no_progress)
    split = dict(split_seed=int(cfg.get("split_seed", SPLIT_DEFAULTS["split_seed"])),
                 fractions=tuple(cfg.get("fractions", SPLIT_DEFAULTS["fractions"])))
    if a.command == "search":
        scfg = dict(cfg.get("search") or {}, net=cfg.get("net"), split_seed=split["split_seed"],
                    fractions=list(split["fractions"]))
        res = search(data, scfg, out, **kw)
        _figure(res["genotype"], out / "cell")
        print(json.dumps(res["genotype"]))
    elif a.command in ("train", "random"):
        if a.command == "train":
            if not a.genotype:
                raise ValueError("'train' needs --genotype FILE")
            g = load_genotype(a.genotype, allow_partial=a.allow_partial)
        else:
            steps = (cfg.get("net") or {}).get("steps", 2) if isinstance(cfg.get("net"), dict) else 2
            g = sample_genotype(np.random.default_rng(a.seed), steps)
            save_genotype(g, out / "genotype.json")
        res = train_genotype(g, data, cfg.get("net"), cfg.get("train"), out, **kw, **split)
        print(json.dumps(res["final"]))
    else:
        scfg = dict(cfg.get("search") or {}, net=cfg.get("euclidean"), split_seed=split["split_seed"],
                    fractions=list(split["fractions"]))
        scfg.setdefault("weighting", "softmax")
        res = search_euclidean(data, scfg, out / "search", **kw)
        write_json(out / "genotype.json", res["genotype"])
        tr = train_euclidean_genotype(res["genotype"], data, cfg.get("euclidean"), cfg.get("train"), out / "train",
                                      **kw, **split)
        print(json.dumps(tr["final"]))
    return 0


def _figure(genotype, stem):
    save_figure(draw_genotype(genotype), stem)
