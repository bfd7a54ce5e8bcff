"""``spdnas pipeline`` (profiles, stage parameters, stage notebooks) and ``spdnas report`` (data manifest)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..core.params import PROFILES, set_profile, stage_params
from ..core.paths import repo_root
from ..workbench.pipeline import run_notebook
from ..workbench.report import read_metrics, write_data_manifest

__all__ = ["pipeline_main", "report_main"]


def pipeline_main(argv=None) -> int:
    """``spdnas pipeline``: set the profile, print a stage's parameters, run a stage notebook."""
    ap = argparse.ArgumentParser(prog="spdnas pipeline", description="pipeline parameters and stage notebooks")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("set-profile", help=f"set params.yaml's profile ({', '.join(PROFILES)})")
    p.add_argument("profile", metavar="{" + ",".join(PROFILES) + "}")
    p = sub.add_parser("params", help="print a stage's parameters for the active profile as JSON")
    p.add_argument("section")
    p = sub.add_parser("notebook", help="run notebooks/<name>.ipynb with its stage parameters")
    p.add_argument("name")
    p.add_argument("--section", default=None, help="params section (default: the notebook name)")
    p.add_argument("--out", default=None, help="executed notebook path")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="extra parameter")
    args = ap.parse_args(argv)
    if args.cmd == "set-profile":
        set_profile(args.profile)
        print(f"profile: {args.profile}")
    elif args.cmd == "params":
        print(json.dumps(stage_params(args.section), indent=1))
    elif args.cmd == "notebook":
        root = repo_root()
        params = stage_params(args.section or args.name)
        for kv in args.set:
            k, sep, v = kv.partition("=")
            if not sep or not k:
                raise ValueError(f"--set expects KEY=JSON, got {kv!r}")
            try:
                params[k] = json.loads(v)
            except json.JSONDecodeError as e:
                raise ValueError(f"--set {kv!r}: the value is not JSON ({e}); quote strings, e.g. {k}='\"text\"'") from None
        out = Path(args.out) if args.out else root / "runs" / "notebooks" / f"{args.name}.ipynb"
        run_notebook(root / "notebooks" / f"{args.name}.ipynb", out, params, cwd=root)
    return 0


def report_main(argv=None) -> int:
    """``spdnas report manifest``: write the external-data manifest."""
    ap = argparse.ArgumentParser(prog="spdnas report", description="reporting helpers")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("manifest", help="write the external-data manifest (presence + sha256)")
    p.add_argument("--out", required=True, help="JSON path, e.g. metrics/shared_data.json")
    p.add_argument("--root", default=None, help="data folder (default: params.yaml shared_data)")
    args = ap.parse_args(argv)
    if args.cmd == "manifest":
        path = write_data_manifest(args.out, args.root)
        data = read_metrics(path)
        print(", ".join(f"{k}: {'present' if v['present'] else 'absent'}" for k, v in data.items()))
    return 0

