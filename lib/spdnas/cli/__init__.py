"""``spdnas <command>`` (or ``python -m spdnas <command>``): the one command line of the workbench.

Every command is a row of :data:`COMMANDS` (name -> (one-line help, ``main(argv) -> int``)); the
command's own ``--help`` lists its options. A bad input (``ValueError``, ``FileNotFoundError``)
ends as one line ``spdnas <command>: error: …`` on stderr and exit status 2 (so does a run that failed
for a reason its message explains, :class:`spdnas.core.errors.ReportedError`). To add a command,
write its ``main`` in a module of this package and add a row here.
"""

from __future__ import annotations

import argparse
import sys

from ..core.errors import guarded
from ..experiments.study import main as study_main
from .data import main as data_main
from .experiments import main as experiments_main
from .lab import main as lab_main
from .nas import main as nas_main
from .sweep import spaces_main, sweep_main
from .workbench import pipeline_main, report_main

__all__ = ["COMMANDS", "build_parser", "command_table", "experiments_command", "main"]


def experiments_command(argv) -> int:
    """``spdnas experiments run ...`` (the study on a user's .npz, :mod:`spdnas.experiments.study`) or a stage."""
    return study_main(argv, prog="spdnas experiments") if argv[:1] == ["run"] else experiments_main(argv)


COMMANDS = {
    "data": ("list, prepare and summarise the SPD datasets (spdnas.data)", data_main),
    "nas": ("SPDNetNAS search / train / random / euclidean from a config file", nas_main),
    "experiments": ("the SPDNetNAS compute stages (search, train, data-efficiency, cell-spaces); run: the "
                    "whole study on your own .npz", experiments_command),
    "sweep": ("sample, train and evaluate a population of a design space", sweep_main),
    "spaces": ("table of the registered design spaces: configurations and cells each counts", spaces_main),
    "pipeline": ("params.yaml profiles, stage parameters, stage notebooks (papermill)", pipeline_main),
    "report": ("the external-data manifest that DVC stages depend on", report_main),
    "lab": ("JupyterLab on 127.0.0.1 with a private token (what `make lab` runs)", lab_main),
}


def command_table() -> str:
    """One line per command: its name and help (``spdnas --help`` lists them all)."""
    width = max(len(n) for n in COMMANDS) + 2
    return "\n".join(f"  {name:{width}s}{help_text}" for name, (help_text, _) in COMMANDS.items())


def build_parser() -> argparse.ArgumentParser:
    """Top-level parser: a command of :data:`COMMANDS` and its own options (parsed by the command)."""
    parser = argparse.ArgumentParser(
        prog="spdnas", usage="spdnas [-h] command [options]", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Command line of the spdnas workbench.",
        epilog=f"commands:\n{command_table()}\n\n`spdnas <command> --help` lists the command's options "
               "(and the config keys it reads).")
    parser.add_argument("command", choices=list(COMMANDS), metavar="command", help="one of the commands below")
    return parser


def main(argv=None) -> int:
    """Entry point: ``spdnas <command> [options]``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv)  # prints the command list (--help) or the usage error
        return 2
    name, rest = argv[0], argv[1:]
    return guarded(lambda: COMMANDS[name][1](rest), f"spdnas {name}")
