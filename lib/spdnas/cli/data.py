"""``spdnas data {list,prepare,overview} ...``: the dataset registry from the command line.

    spdnas data list
    spdnas data prepare radar_sim --out data/prepared/radar_sim.npz --option seed=1
    spdnas data overview basicmotions --seed 0
    spdnas data overview npz -o path=my_covariances.npz -o ridge=1e-4
"""

from __future__ import annotations

import argparse
import json

import yaml

from ..data import DATASETS, dataset_options, list_datasets, load_dataset, overview, prepare_dataset

__all__ = ["main"]


def _parse_options(items) -> dict:
    opts = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--option expects key=value, got {item!r}")
        try:
            opts[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as exc:
            raise ValueError(f"--option {item!r}: unparsable value ({exc})") from exc
    return opts


def main(argv=None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="spdnas data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="registered datasets, what each is and its options")
    p = sub.add_parser("prepare", help="build a dataset and write it as .npz (atomic)")
    p.add_argument("name")
    p.add_argument("--out", default=None, help="output .npz (default: data/prepared/<name>-<hash>.npz)")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="dataset option (YAML value), repeatable")
    p.add_argument("--force", action="store_true", help="rebuild even if a valid cache exists")
    p.add_argument("--no-progress", action="store_true")
    o = sub.add_parser("overview", help="counts, conditioning and 1-NN / MDM baselines as JSON")
    o.add_argument("name")
    o.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE")
    o.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    def run():
        if args.cmd == "list":
            for name in list_datasets():
                print(f"{name}: {DATASETS[name].description}\n    options: {dataset_options(name)}")
        elif args.cmd == "prepare":
            path = prepare_dataset(args.name, args.out, force=args.force,
                                   progress=not args.no_progress, **_parse_options(args.option))
            print(path)
        else:
            ds = load_dataset(args.name, **_parse_options(args.option))
            print(json.dumps(overview(ds, args.seed), indent=2))

    run()
    return 0

