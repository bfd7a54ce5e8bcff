"""SPD datasets: one registry (:func:`load_dataset`), prepared-data cache and classical baselines.

Registered datasets (``list_datasets()``): ``radar_sim`` (simulated micro-Doppler, 20x20),
``radar`` (original release layout), ``hdm05`` (93x93), ``afew`` (400x400), ``basicmotions``
(6x6) and ``japanesevowels`` (12x12) from the UEA files bundled with aeon, and ``uea`` (any UEA
problem by name). ``spdnas.data.images`` (image datasets) is a separate module.
"""

from .afew import AFEW_CLASSES, load_afew
from .base import (
    Split,
    SPDDataset,
    check_positive_definite,
    check_square_symmetric,
    group_split,
    label_from_filename,
    official_split,
    regularise,
    stratified_split,
)
from .hdm05 import HDM05_TEST_SUBJECTS, HDM05_TRAIN_SUBJECTS, load_hdm05
from .hdm05 import _sources as _hdm05_sources
from .overview import lognn_accuracy, log_euclidean_features, mdm_accuracy, overview, overview_table
from .radar import RADAR_CLASSES, load_radar, load_radar_sim, simulate_radar
from .radar import _radar_sources
from .registry import (
    cache_path,
    dataset_options,
    list_datasets,
    load_dataset,
    load_prepared,
    prepare_dataset,
    register_dataset,
    save_prepared,
)
from .uea import load_basicmotions, load_japanesevowels, load_uea, read_ts
from .uea import _sources as _uea_sources


def _afew_sources(options):
    from pathlib import Path

    from ..core.params import shared_data_root

    root = options.get("root")
    base = shared_data_root() / "afew" if root is None else Path(root).expanduser()
    return [base] if base.is_dir() else []


register_dataset("radar_sim", load_radar_sim, version="1")
register_dataset("radar", load_radar, sources=_radar_sources)
register_dataset("hdm05", load_hdm05, sources=_hdm05_sources)
register_dataset("afew", load_afew, sources=_afew_sources)
register_dataset("uea", load_uea, sources=_uea_sources)
register_dataset("basicmotions", load_basicmotions,
                 sources=lambda o: _uea_sources({**o, "problem": "BasicMotions"}))
register_dataset("japanesevowels", load_japanesevowels,
                 sources=lambda o: _uea_sources({**o, "problem": "JapaneseVowels"}))

__all__ = [
    "SPDDataset", "Split", "stratified_split", "group_split", "official_split",
    "check_square_symmetric", "check_positive_definite", "regularise", "label_from_filename",
    "register_dataset", "list_datasets", "dataset_options", "load_dataset", "prepare_dataset",
    "cache_path", "save_prepared", "load_prepared",
    "simulate_radar", "load_radar_sim", "load_radar", "RADAR_CLASSES",
    "load_hdm05", "HDM05_TRAIN_SUBJECTS", "HDM05_TEST_SUBJECTS",
    "load_afew", "AFEW_CLASSES",
    "read_ts", "load_uea", "load_basicmotions", "load_japanesevowels",
    "overview", "overview_table", "lognn_accuracy", "mdm_accuracy", "log_euclidean_features",
]
