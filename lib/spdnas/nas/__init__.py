"""SPDNetNAS (Sukthanker et al., IJCAI 2021): search space, supernet, bilevel search, derived nets.

Main entry points: :func:`search` (bilevel DARTS search of the SPD supernet), :func:`train_genotype`
(train a derived network from scratch), :func:`sample_genotype` (random-architecture baseline),
:func:`build_network` / :func:`network_complexity` (figures: :func:`spdnas.plots.draw_genotype`). Command line:
``python -m spdnas nas search|train|random|euclidean ...``.
"""

from .genotype import (
    HDM05_SPARSEMAX,
    RADAR_SPARSEMAX,
    derive_cell,
    derive_genotype,
    genotype_from_json,
    genotype_to_json,
    load_genotype,
    normalize_genotype,
    op_shares,
    sample_genotype,
    save_genotype,
)
from .history import alpha_history, search_history
from .model import DTYPES, PRESETS, SPDCellNetwork, build_network, cell_plan, net_config, network_complexity
from .ops import CELL_VARIANTS, NORMAL_OPS, OPS, REDUCE_OPS, cell_variant_ops, make_op, op_complexity
from .search import (
    SEARCH_DEFAULTS,
    SELECT_RULES,
    Architect,
    arch_diagnostics,
    infer_net_config,
    resolve_data,
    search,
    search_config,
    select_epoch,
    train_genotype,
)
from .supernet import WEIGHTINGS, EdgeGroup, SuperNet, edge_entropy, karcher_mean, mix_weights, zero_one_loss
