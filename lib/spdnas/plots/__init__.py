"""All figures of the workbench in one seaborn style, by paper: :mod:`.nds` (Radosavovic et al.,
design-space EDFs), :mod:`.spdnetnas` (Sukthanker et al., search and training results),
:mod:`.cells` (SPDNetNAS genotypes drawn as graphs), :mod:`.datasets` (conditioning of the SPD data).

Legends sit outside the axes (:func:`legend_outside`) so that they never cover data.

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` built without pyplot (no
global figure state; notebooks still display it). :func:`save_figure` writes PDF + PNG
atomically with deterministic bytes.
"""

from .cells import draw_cell, draw_genotype
from .datasets import plot_condition_numbers
from .nds import (
    plot_complexity_edfs,
    plot_edf_comparison,
    plot_edfs,
    plot_error_vs_complexity,
    plot_ks_sample_size,
    plot_point_estimate,
    plot_rse,
)
from .spdnetnas import (
    plot_accuracy_bars,
    plot_alpha_evolution,
    plot_data_efficiency,
    plot_edge_weight_hist,
    plot_search_curves,
)
from .style import legend_outside, palette, save_figure, style

__all__ = [
    "draw_cell", "draw_genotype", "plot_condition_numbers", "plot_complexity_edfs", "plot_edf_comparison",
    "plot_edfs", "plot_error_vs_complexity", "plot_ks_sample_size", "plot_point_estimate", "plot_rse",
    "plot_accuracy_bars", "plot_alpha_evolution", "plot_data_efficiency", "plot_edge_weight_hist",
    "plot_search_curves", "legend_outside", "palette", "save_figure", "style",
]
