"""The README's "ours beside the paper" tables equal the committed table2/table4 CSVs (tools/readme-tables)."""

import csv
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "readme-tables"


def _run(*args, cwd=ROOT):
    return subprocess.run([str(TOOL), *args], capture_output=True, text=True, cwd=cwd)


def test_readme_tables_match_the_committed_csvs():
    r = _run("--check", str(ROOT / "README.md"))
    assert r.returncode == 0, r.stderr


def test_readme_table_cells_are_the_csv_cells():
    out = _run().stdout.splitlines()
    rows = {line.split(" | ")[0].lstrip("| "): line.strip("|").split(" | ") for line in out[2:]}
    with (ROOT / "tables" / "table2.csv").open(newline="") as fh:
        t2 = {(r["dataset"], r["method"]): r for r in csv.DictReader(fh)}
    spdnet = [c.strip() for c in rows["SPDNet"]]
    assert spdnet[1] == t2[("radar_sim", "SPDNet")]["ours_acc"]
    assert spdnet[2] == t2[("radar_sim", "SPDNet")]["paper_acc"] == "93.21 ± 0.39"
    assert [c.strip() for c in rows["SPDNetNAS (sparsemax)"]][4] == "69.87 ± 0.31"  # the paper's HDM05 value
    paper = _run("--paper-set").stdout
    assert "| unit time |" in paper and "97.75 ± 0.30" in paper


def test_a_stale_readme_table_is_reported(tmp_path):
    text = (ROOT / "README.md").read_text()
    stale = tmp_path / "README.md"
    stale.write_text(text.replace("| MDM | 55.60 |", "| MDM | 55.61 |", 1))
    r = _run("--check", str(stale))
    assert r.returncode == 1 and "'default' table" in r.stderr and "differs" in r.stderr
    stale.write_text("no tables here\n")
    r = _run("--check", str(stale))
    assert r.returncode == 1 and "must hold one 'default' and one 'paper' block" in r.stderr
