"""spdnas.plots: every figure renders, saves as PDF + PNG, deterministically; legends and annotations
stay clear of the data (image checks on the rendered extents); `dvc plots show` titles its axes."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers_plots import assert_annotations_clear, draw
from matplotlib.figure import Figure

from spdnas import analysis as A
from spdnas import plots


@pytest.fixture(scope="module")
def pop():
    rng = np.random.default_rng(0)
    parts = []
    for name, shift in (("A", 0.0), ("B", 1.0)):
        n = 400
        params = np.exp(rng.uniform(np.log(1e4), np.log(1e6), n))
        parts.append(pd.DataFrame({
            "space": name, "model_id": [f"{name}{i}" for i in range(n)],
            "config": [json.dumps({"i": i}) for i in range(n)],
            "params": params.astype(np.int64), "flops": (params * 50).astype(np.int64),
            "error": 20 - 2 * np.log10(params) + shift + rng.gamma(2, 1, n),
            "seed": 0, "epochs": 5, "dataset": "toy",
        }))
    return A.validate_population(pd.concat(parts, ignore_index=True))


def figures(pop):
    e = pop["error"].to_numpy()
    return {
        "edfs": lambda: plots.plot_edfs(pop),
        "edfs_norm_band": lambda: plots.plot_edfs(pop, by="params", bins=5, band=True, n_boot=30),
        "comparison": lambda: plots.plot_edf_comparison(pop, bins=5),
        "complexity": lambda: plots.plot_complexity_edfs(pop),
        "complexity_norm": lambda: plots.plot_complexity_edfs(pop, normalized=True, bins=5),
        "scatter": lambda: plots.plot_error_vs_complexity(pop, by="flops", max_points=300),
        "rse": lambda: plots.plot_rse({"sim": A.rse_simulate(e), "boot": A.bootstrap_rse(e, n_boot=20)}),
        "ks": lambda: plots.plot_ks_sample_size(A.ks_vs_sample_size(e, n_ref=512, trials=5)),
        "point": lambda: plots.plot_point_estimate(A.point_estimate(e, b=10, m=100, trials=300)),
    }


NAMES = ["edfs", "edfs_norm_band", "comparison", "complexity", "complexity_norm", "scatter", "rse", "ks",
         "point"]


@pytest.mark.parametrize("name", NAMES)
def test_figure_saves_deterministic_pdf_and_png(pop, tmp_path, name):
    fig = figures(pop)[name]()
    assert isinstance(fig, Figure) and fig.axes
    pdf, png = plots.save_figure(fig, tmp_path / name, dpi=40)
    assert pdf.read_bytes().startswith(b"%PDF") and png.read_bytes().startswith(b"\x89PNG")
    first = (pdf.read_bytes(), png.read_bytes())
    plots.save_figure(fig, tmp_path / f"{name}.pdf", dpi=40)  # a suffix on the stem is ignored
    assert (pdf.read_bytes(), png.read_bytes()) == first
    assert b"CreationDate" not in first[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.pdf", f"{name}.png"]


def test_rebuilt_figure_has_identical_bytes(pop, tmp_path):
    a = plots.save_figure(plots.plot_edfs(pop, by="flops", bins=5), tmp_path / "a", dpi=40)
    b = plots.save_figure(plots.plot_edfs(pop, by="flops", bins=5), tmp_path / "b", dpi=40)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_bad_inputs(pop, tmp_path):
    with pytest.raises(ValueError, match="Figure"):
        plots.save_figure("not a figure", tmp_path / "x")
    with pytest.raises(ValueError, match="format"):
        plots.save_figure(plots.plot_edfs(pop), tmp_path / "x", formats=("jpg",))
    with pytest.raises(ValueError, match="non-empty"):
        plots.plot_edfs(pop.iloc[:0])
    with pytest.raises(ValueError, match="column"):
        plots.plot_edfs(pop, by="latency")
    with pytest.raises(ValueError, match="RSEResult"):
        plots.plot_rse({"x": [1, 2]})
    with pytest.raises(ValueError, match="PointEstimateResult"):
        plots.plot_point_estimate(None)
    with pytest.raises(ValueError, match="no curves"):
        plots.plot_rse({})


def test_style_is_a_scoped_context():
    import matplotlib as mpl

    before = mpl.rcParams["axes.spines.top"]
    with plots.style():
        assert mpl.rcParams["axes.spines.top"] is False
    assert mpl.rcParams["axes.spines.top"] == before


# --------------------------------------------------------------------------------------------
# image checks: legends and annotations never cover the data
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_legends_and_texts_do_not_cover_data(pop, name):
    assert_annotations_clear(figures(pop)[name]())


def _cell_space_pop():
    """Four small cell-space variants (as notebook 09 plots them): 8 models each, spread errors."""
    rng = np.random.default_rng(1)
    parts = []
    for name, shift in (("bimap_only", 20), ("full", 30), ("no_bimap", 5), ("no_skip", 25)):
        params = rng.integers(500, 5000, 8)
        parts.append(pd.DataFrame({"space": name, "model_id": [f"{name}{i}" for i in range(8)],
                                   "config": "{}", "params": params, "flops": params * 10,
                                   "error": shift + rng.uniform(0, 45, 8), "seed": 0, "epochs": 1,
                                   "dataset": "toy"}))
    return A.validate_population(pd.concat(parts, ignore_index=True))


def test_cell_space_edfs_legend_outside_the_data():
    """spd_cell_spaces_edfs: the legend (formerly lower right, on the steps and bands) is clear."""
    fig = plots.plot_edfs(_cell_space_pop(), band=True, n_boot=30)
    assert_annotations_clear(fig)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["bimap_only", "full", "no_bimap",
                                                                           "no_skip"]


def test_point_estimate_probabilities_in_a_legend_beside_the_histogram(pop):
    res = A.point_estimate(pop["error"].to_numpy(), b=10, m=100, trials=300)
    fig = plots.plot_point_estimate(res)
    fig.axes[0].set_title("nas-bench-macro")  # as notebook 06 does
    assert_annotations_clear(fig)
    ax = fig.axes[0]
    assert not [t for t in ax.texts if t.get_text().strip()], "no text written onto the histogram"
    title = ax.get_legend().get_title().get_text()
    assert f"P(M better) = {res.p_m_better:.3f}" in title and f"M/(B+M) = {res.p_iid:.3f}" in title


def test_condition_number_figure(tmp_path):
    """data_conditioning (notebook 01): one EDF per dataset, legend outside the data, not-run title."""
    rng = np.random.default_rng(0)
    conds = {"radar_sim (20x20)": 10 ** rng.normal(2.5, 0.5, 300).clip(0),
             "basicmotions (6x6)": 10 ** rng.normal(1.5, 0.4, 60).clip(0),
             "hdm05 (93x93)": 10 ** rng.normal(5.9, 0.05, 100)}
    fig = plots.plot_condition_numbers(conds, not_run=["japanesevowels"])
    assert_annotations_clear(fig)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(conds)
    assert len(ax.lines) == 3 and ax.get_xlabel() == "log10 condition number"
    x = np.asarray(ax.lines[2].get_xdata())
    assert x.min() == pytest.approx(np.log10(conds["hdm05 (93x93)"]).min())
    assert "not run: japanesevowels" in ax.get_title()
    pdf, png = plots.save_figure(fig, tmp_path / "cond", dpi=40)
    assert png.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="no condition numbers"):
        plots.plot_condition_numbers({})
    with pytest.raises(ValueError, match=">= 1"):
        plots.plot_condition_numbers({"x": [0.5, 2.0]})
    with pytest.raises(ValueError, match="finite"):
        plots.plot_condition_numbers({"x": [float("inf")]})


def test_legend_outside_helper_leaves_the_axes_free():
    with plots.style():
        fig = Figure(figsize=(4, 3), layout="constrained")
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], label="a")
        plots.legend_outside(ax)
    renderer = draw(fig)
    assert fig.axes[0].get_legend().get_window_extent(renderer).x0 > ax.get_window_extent(renderer).x1


# --------------------------------------------------------------------------------------------
# `dvc plots show`: axes titled, legends not truncated
# --------------------------------------------------------------------------------------------


ROOT = Path(__file__).resolve().parents[1]


def test_dvc_plot_definitions_title_their_axes():
    defs = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    assert defs
    for d in defs:
        (name, spec), = d.items()
        for key in ("title", "x_label", "y_label", "template"):
            assert spec.get(key), f"plot {name!r}: no {key}"
        assert spec["y_label"] not in ("y", spec["x"]) and spec["x_label"] != "y"
        tmpl = json.loads((ROOT / ".dvc" / "plots" / f"{spec['template']}.json").read_text())
        assert tmpl["config"]["legend"]["labelLimit"] == 0, "legend labels must not be truncated"
        assert tmpl["encoding"]["y"]["title"] == "<DVC_METRIC_Y_LABEL>"


def test_dvc_plots_show_renders_axis_titles_and_full_legends(tmp_path):
    dvc = Path(sys.executable).parent / "dvc"
    if not dvc.exists():
        pytest.skip("dvc not installed in this environment")
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"plots": spec["plots"]}))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    subprocess.run([str(dvc), "init", "--no-scm", "-q"], cwd=tmp_path, env=env, check=True, timeout=120)
    shutil.copytree(ROOT / ".dvc" / "plots", tmp_path / ".dvc" / "plots", dirs_exist_ok=True)
    for d in spec["plots"]:
        for f in next(iter(d.values()))["y"]:
            (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / f, tmp_path / f)
    out = subprocess.run([str(dvc), "plots", "show", "--json"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rendered = json.loads(out.stdout)["data"]
    for d in spec["plots"]:
        (name, want), = d.items()
        vega = rendered[name][0]["content"]
        assert vega["encoding"]["y"]["title"] == want["y_label"]
        assert vega["encoding"]["x"]["title"] == want["x_label"]
        assert vega["title"]["text"] == want["title"]
        assert vega["config"]["legend"]["labelLimit"] == 0


def test_saved_figures_show_a_long_legend_outside_the_axes_whole(tmp_path):
    import matplotlib.image as mpimg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="a legend entry long enough to run past the right edge (x)")
    plots.legend_outside(ax)
    png = plots.save_figure(fig, tmp_path / "long", dpi=100)[1]  # the dpi the extent is measured at
    h, w = mpimg.imread(png).shape[:2]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with plots.style():  # the style save_figure draws in
        box = fig.get_tightbbox(FigureCanvasAgg(fig).get_renderer())  # inches
    assert w >= box.width * 100 - 1 and h >= box.height * 100 - 1, (w, h, box)
