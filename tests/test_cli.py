"""The `spdnas` command line: every entry point listed, help that names the config keys each command
reads (generated from the defaults tables), the labelled `spaces` table, one-line errors."""

import re
from pathlib import Path

import pytest

from spdnas.cli import COMMANDS, main
from spdnas.cli.nas import COMMANDS as NAS_COMMANDS
from spdnas.core.trainer import TRAIN_DEFAULTS
from spdnas.experiments import SECTIONS, STAGE_DEFAULTS
from spdnas.nas import PRESETS, SEARCH_DEFAULTS, net_config
from spdnas.spaces import get_space

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = ("data", "nas", "experiments", "pipeline", "report", "sweep", "spaces", "lab")


def _help(capsys, argv) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_lists_every_entry_point_on_one_line_each(capsys):
    out = _help(capsys, ["--help"])
    assert set(ENTRY_POINTS) == set(COMMANDS)
    lines = out.splitlines()
    for name in ENTRY_POINTS:
        mine = [ln for ln in lines if re.match(rf"^\s+{name}\s+\S", ln)]
        assert len(mine) == 1, (name, out)
        assert mine[0].split(None, 1)[1] == COMMANDS[name][0]  # the whole help on that line
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2 and "required: command" in capsys.readouterr().err


@pytest.mark.parametrize("command", list(NAS_COMMANDS))
def test_nas_help_names_every_config_section_and_key(capsys, command):
    out = _help(capsys, ["nas", command, "--help"])
    sections = NAS_COMMANDS[command][1]
    for section in sections:
        assert re.search(rf"^\s+{section}\s", out, re.M), (section, out)
    keys = []
    if "search" in sections:
        keys += [f"{k}=" for k in SEARCH_DEFAULTS if k not in ("net", "split_seed", "fractions")]
    if "train" in sections:
        keys += [f"{k}=" for k in TRAIN_DEFAULTS]
    if "net" in sections:
        keys += list(net_config(next(iter(PRESETS)))) + sorted(PRESETS)
    flat = " ".join(out.split())  # wrapped lines
    missing = [k for k in keys if k not in flat]
    assert not missing, missing


def test_nas_search_help_has_the_sections_the_brief_names(capsys):
    out = _help(capsys, ["nas", "search", "--help"])
    for section in ("dataset", "data", "net", "search", "split_seed", "fractions"):
        assert re.search(rf"^\s+{section}\s", out, re.M), section
    flat = " ".join(out.split())
    for k, v in SEARCH_DEFAULTS.items():
        if k not in ("net", "split_seed", "fractions"):
            assert f"{k}={__import__('json').dumps(v)}" in flat, k


@pytest.mark.parametrize("command,kind", [("search", "search"), ("train", "train"),
                                          ("data-efficiency", "data_efficiency"), ("cell-spaces", "cell_spaces")])
def test_experiments_help_names_section_and_keys(capsys, command, kind):
    out = _help(capsys, ["experiments", command, "--help"])
    flat = " ".join(out.split())
    assert f"params.yaml section '{SECTIONS[kind]}'" in flat
    missing = [k for k in STAGE_DEFAULTS[kind] if f"{k}=" not in flat]
    assert not missing, missing


def test_spaces_table_says_what_each_number_counts(capsys):
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["space", "configurations", "cells"]
    rows = {ln.split()[0]: ln for ln in lines[2:] if ln and not ln.startswith(" ") and ":" not in ln}
    assert rows["resnet"].split()[1:] == ["1,259,712", "-"]
    assert rows["spdnetnas"].split()[1:] == ["31,640,625", "1,875", "normal,", "1,875", "reduction"]
    for name in ("nasnet", "amoeba", "pnas", "enas", "darts"):
        assert rows[name].split()[1] == f"{get_space(name).size():,}"
    assert "configurations: distinct models" in out and "cells: the possible cells of one type" in out
    # the README's "Design spaces" section quotes the same numbers
    readme = " ".join((ROOT / "README.md").read_text().split())
    billions = [rows[n].split()[2] for n in ("nasnet", "amoeba", "pnas", "enas", "darts")]
    assert f"({' / '.join(billions)} billion possible cells of one type" in readme
    sizes = [rows[n].split()[1] for n in ("vanilla", "resnet", "resnext_a", "resnext_b")]
    assert f"{' / '.join(sizes)} configurations" in readme


def _one_error_line(capsys, argv, prog, match):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith(f"spdnas {prog}: error: ") and "Traceback" not in err, err
    assert re.search(match, err), err


def test_pipeline_and_report_errors_are_one_line(capsys, tmp_path):
    _one_error_line(capsys, ["pipeline", "params", "nosuch"], "pipeline", "no section 'nosuch'")
    _one_error_line(capsys, ["pipeline", "set-profile", "huge"], "pipeline", "unknown profile 'huge'")
    _one_error_line(capsys, ["pipeline", "notebook", "06_point_estimates", "--section", "point_estimates",
                             "--set", "n_boot"], "pipeline", "--set expects KEY=JSON")
    _one_error_line(capsys, ["pipeline", "notebook", "06_point_estimates", "--section", "point_estimates",
                             "--set", "n_boot=abc"], "pipeline", "the value is not JSON")
    _one_error_line(capsys, ["pipeline", "notebook", "nosuch", "--section", "point_estimates"], "pipeline",
                    "notebook not found")
    blocker = tmp_path / "file"
    blocker.write_text("")
    _one_error_line(capsys, ["report", "manifest", "--out", str(blocker / "m.json")], "report", "file")
