"""``spdnas pipeline`` (profiles, stage parameters, stage notebooks) and ``spdnas report`` (data manifest)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from ..core.params import PROFILES, active_profile, read_params, set_profile, stage_params
from ..core.paths import repo_root
from ..experiments.config import stage_config
from ..workbench.checks import notebook_problems, pipeline_stages
from ..workbench.pipeline import profile_tree, reproduce, run_stage_notebook, stage_env
from ..workbench.report import read_metrics, write_data_manifest

__all__ = ["pipeline_main", "report_main"]


def pipeline_main(argv=None) -> int:
    """``spdnas pipeline``: set the profile, print a stage's parameters, run a stage notebook."""
    ap = argparse.ArgumentParser(prog="spdnas pipeline", description="pipeline parameters and stage notebooks")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("set-profile", help=f"set params.yaml's profile ({', '.join(PROFILES)})")
    p.add_argument("profile", metavar="{" + ",".join(PROFILES) + "}")
    p = sub.add_parser("check", help="check every stage's parameters of a profile before anything runs "
                                     "(one line per problem, exit 2 when there are any)")
    p.add_argument("--profile", default=None, choices=PROFILES, help="default: the active profile")
    p.add_argument("--committed", action="store_true",
                   help="also require params.yaml to select this profile (make repro: the default one)")
    p = sub.add_parser("repro", help="run the pipeline for a profile in its own copy of the project "
                                     "(runs/profiles/<profile>), never over the committed results")
    p.add_argument("profile", choices=PROFILES)
    p.add_argument("--dest", default=None, help="folder of the copy (default runs/profiles/<profile>)")
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
    elif args.cmd == "check":
        return _check(args.profile, committed=args.committed)
    elif args.cmd == "repro":
        return _repro_profile(args.profile, args.dest)
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
        run_stage_notebook(root / "notebooks" / f"{args.name}.ipynb", out, params, root)
    return 0


def _check(profile: str | None, root=None, committed: bool = False) -> int:
    """Validate every stage section of ``profile``; print one line per problem."""
    root = repo_root() if root is None else root
    params = read_params(root)
    profile = active_profile(params, profile)
    if committed and params.get("profile") != profile:
        raise ValueError(f"params.yaml selects profile {params.get('profile')!r}, but this run rebuilds the committed "
                         f"{profile!r} results: set 'profile: {profile}' again, or run another profile in its own "
                         f"tree with 'make repro PROFILE=<profile>' (spdnas pipeline repro <profile>)")
    problems, n = [], 0
    for st in pipeline_stages(root):
        for section in st["sections"]:
            n += 1
            where = f"params.yaml [{profile}] {section} (stage {st['stage']})"
            try:
                values = stage_params(section, profile, root)
                if st["kind"] == "notebook":
                    found = notebook_problems(root / "notebooks" / f"{st['target']}.ipynb", values)
                elif st["kind"] == "experiments":
                    stage_config(st["target"].replace("-", "_"), values)
                    found = []
                else:
                    found = []
            except ValueError as e:
                found = [str(e)]
            problems += [f"{where}: {msg}" for msg in found]
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 2
    print(f"params.yaml: the {n} stage sections of profile {profile} check out")
    return 0


def _repro_profile(profile: str, dest) -> int:
    """The whole pipeline of ``profile`` in a copy of the project; prints where the results are."""
    tree = profile_tree(profile, repo_root(), dest)
    rc = _check(profile, tree, committed=True)
    if rc:
        return rc
    subprocess.run([sys.executable, "-m", "spdnas", "report", "manifest", "--out", "metrics/shared_data.json"],
                   cwd=tree, env=stage_env(), check=True)
    stale = reproduce(tree)
    if stale:
        print(f"spdnas pipeline repro {profile}: stages not reproduced: {', '.join(stale)}", file=sys.stderr)
        return 1
    print(f"profile {profile}: results in {tree}/tables, {tree}/figures, {tree}/metrics")
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

