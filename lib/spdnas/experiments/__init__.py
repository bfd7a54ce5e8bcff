"""SPDNetNAS experiments: search / train grids, result tables, paper numbers (notebooks 02-05, 09).

Compute stages (command line, one DVC stage each; all resumable, every finished unit of work is
a ``record.json`` that a re-run skips)::

    python -m spdnas experiments search          --out runs/experiments/search
    python -m spdnas experiments train           --out runs/experiments/train  --search runs/experiments/search
    python -m spdnas experiments data-efficiency --out runs/experiments/data_efficiency --search ...
    python -m spdnas experiments cell-spaces     --out runs/experiments/cell_spaces

Each reads its params.yaml section (``exp_search``, ``exp_train``, ``exp_data_efficiency``,
``exp_cell_spaces``) for the active profile and writes ``plan.json``: one record per planned
unit with ``status`` ``"ok"`` or ``"not run: <reason>"`` (missing external data, failed
dependency). The notebooks only read these folders and assemble tables/figures with
:func:`table2`, :func:`table4`, :func:`data_efficiency_table`, :func:`cell_space_summary` etc.
(figures: :mod:`spdnas.plots.spdnetnas`; NDS comparisons: :mod:`spdnas.analysis.compare`)

Protocol: every dataset is split once, stratified by class, with ``fractions`` (train, val, test)
and ``split_seed`` of ``exp_search``, and optionally recentred (``normalise: recentre``: every
matrix X -> M^{-1/2} X M^{-1/2}, M the log-Euclidean mean of the training matrices); searches
learn weights on train and architecture parameters on val; all networks are then trained from
scratch on train with the stage's optimiser settings (``optimizer``, ``lr``, ``schedule``,
``lr_min``, ``momentum``, ``weight_decay``, ``epochs``, ``batch_size``) and reported at their
validation-selected epoch (highest val accuracy, ties on lower val loss, then the earlier epoch;
test accuracy is never used to choose), with the last epoch's accuracy kept beside it
(``test_acc_last``); mean ± std over seeds, std with ddof=1 as in the papers. With ``floors``
the train stage adds the classical floors (log-Euclidean 1-NN, MDM, tangent space + logistic
regression), fitted on the same training split and scored on the same val/test sets.
"""

from .config import (
    CELL_SPACE_VARIANTS,
    EXTERNAL,
    FLOOR_METHODS,
    METHODS,
    SECTIONS,
    SPD_DATASETS,
    STAGE_DEFAULTS,
    WEIGHTINGS,
    for_dataset,
    stage_config,
)
from .reference import PROTOCOL_FILE, REFERENCE_FILE, paper_protocol, paper_reference
from .setup import (
    baseline_dims,
    dataset_options,
    dataset_status,
    load_experiment_data,
    loader_options,
    nas_cli_config,
    net_for,
)
from .stages import (
    SNAPSHOT_REASON,
    cell_space_population,
    run_cell_spaces_stage,
    run_data_efficiency_stage,
    run_search_and_train,
    run_search_stage,
    run_train_stage,
)
from .tables import (
    NOT_IN_PAPER,
    GENOTYPE_COLUMNS,
    PAPER_DATASET,
    PAPER_FIGURE_ONLY,
    cell_space_summary,
    data_efficiency_table,
    format_pm,
    genotypes_table,
    paper_table2,
    summarize,
    table2,
    table4,
)
from .units import read_plan, read_records

__all__ = [
    "CELL_SPACE_VARIANTS", "EXTERNAL", "FLOOR_METHODS", "METHODS", "SECTIONS", "SPD_DATASETS", "STAGE_DEFAULTS",
    "WEIGHTINGS", "for_dataset", "stage_config", "baseline_dims", "dataset_options", "dataset_status", "loader_options",
    "nas_cli_config", "load_experiment_data", "net_for", "cell_space_population", "run_cell_spaces_stage",
    "run_data_efficiency_stage", "run_search_and_train", "run_search_stage", "run_train_stage", "SNAPSHOT_REASON", "NOT_IN_PAPER", "PAPER_DATASET",
    "PAPER_FIGURE_ONLY", "PROTOCOL_FILE", "REFERENCE_FILE", "paper_protocol", "paper_reference", "cell_space_summary",
    "data_efficiency_table", "format_pm", "genotypes_table", "GENOTYPE_COLUMNS", "paper_table2", "summarize", "table2", "table4",
    "read_plan", "read_records",
]
