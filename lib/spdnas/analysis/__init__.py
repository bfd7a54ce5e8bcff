"""Design-space analysis (NDS methodology, Radosavovic et al. ICCV 2019) as a library.

Populations are tidy DataFrames (:mod:`spdnas.analysis.population`); statistics are vectorised
numpy functions of error arrays and optional complexity-normalisation weights.
"""

from .bootstrap import Band, bootstrap_edf, bootstrap_rse
from .compare import compare_pair, compare_variants, normalizable_subset, usable_bins
from .population import (
    COLUMNS,
    load_nas_bench_macro,
    load_nds_json,
    load_population,
    load_sweep_records,
    save_population,
    save_sweep_records,
    validate_population,
)
from .search import (
    PointEstimateResult,
    RSEResult,
    SampleSizeResult,
    decay_slope,
    ks_vs_sample_size,
    point_estimate,
    rse_exact,
    rse_simulate,
)
from .stats import (
    EDF,
    KSResult,
    Normalization,
    common_range,
    complexity_weights,
    distribution_area,
    edf,
    effective_sample_size,
    ks_statistic_weighted,
    ks_test,
    ks_weighted,
    normalize_spaces,
    normalized_complexity_edf,
    normalized_edf,
)

__all__ = [
    "Band", "bootstrap_edf", "bootstrap_rse", "compare_variants", "normalizable_subset", "usable_bins",
    "COLUMNS", "load_nas_bench_macro", "load_nds_json", "load_population", "load_sweep_records",
    "save_population", "save_sweep_records", "validate_population",
    "PointEstimateResult", "RSEResult", "SampleSizeResult", "decay_slope", "ks_vs_sample_size",
    "point_estimate", "rse_exact", "rse_simulate",
    "EDF", "KSResult", "Normalization", "common_range", "complexity_weights",
    "distribution_area", "edf", "effective_sample_size", "ks_statistic_weighted", "ks_test",
    "ks_weighted", "normalize_spaces", "normalized_complexity_edf", "normalized_edf",
]
