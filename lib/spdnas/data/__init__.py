"""SPD datasets: one registry (:func:`load_dataset`), prepared-data cache and classical baselines.

Registered datasets (``list_datasets()``): ``radar_sim`` (simulated micro-Doppler, 20x20),
``radar`` (original release layout), ``hdm05`` (93x93), ``afew`` (400x400), ``basicmotions``
(6x6) and ``japanesevowels`` (12x12) from the UEA files bundled with aeon, ``uea`` (any UEA
problem by name) and ``npz`` (your own matrices: ``load_dataset("npz", path=..., ridge=0.0)``, see
:mod:`spdnas.data.npz`). ``spdnas.data.images`` (image datasets) is a separate module.
"""

from .afew import AFEW_CLASSES, load_afew
from .base import SPDDataset, check_positive_definite, check_square_symmetric, label_from_filename, regularise
from .files import read_npy, read_npz
from .hdm05 import HDM05_TEST_SUBJECTS, HDM05_TRAIN_SUBJECTS, load_hdm05
from .normalise import NORMALISATIONS, normalise_split
from .overview import (classical_floors, lognn_accuracy, log_euclidean_features, mdm_accuracy, overview,
                       overview_table, tslr_accuracy)
from .radar import RADAR_CLASSES, load_radar, load_radar_sim, simulate_radar
from .registry import (
    DATASETS,
    DatasetEntry,
    cache_path,
    dataset_options,
    list_datasets,
    load_dataset,
    load_prepared,
    prepare_dataset,
    register_dataset,
    save_prepared,
)
from .splits import Split, group_split, official_split, stratified_split, stratified_subset, stratified_train_test
from .uea import load_basicmotions, load_japanesevowels, load_uea, read_ts


__all__ = [
    "SPDDataset", "Split", "stratified_split", "group_split", "official_split", "stratified_subset",
    "stratified_train_test",
    "check_square_symmetric", "check_positive_definite", "regularise", "label_from_filename", "read_npy", "read_npz",
    "DATASETS", "DatasetEntry", "register_dataset", "list_datasets", "dataset_options", "load_dataset", "prepare_dataset",
    "cache_path", "save_prepared", "load_prepared",
    "simulate_radar", "load_radar_sim", "load_radar", "RADAR_CLASSES",
    "load_hdm05", "HDM05_TRAIN_SUBJECTS", "HDM05_TEST_SUBJECTS",
    "load_afew", "AFEW_CLASSES",
    "read_ts", "load_uea", "load_basicmotions", "load_japanesevowels",
    "overview", "overview_table", "lognn_accuracy", "mdm_accuracy", "log_euclidean_features",
    "tslr_accuracy", "classical_floors", "NORMALISATIONS", "normalise_split",
]
