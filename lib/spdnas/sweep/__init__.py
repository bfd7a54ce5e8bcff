"""Population sweeps over design spaces: dataset registry, short-recipe trainer, result store."""

from .cluster import has_dashboard, local_cluster
from .datasets import DATASETS, check_dataset, get_dataset, import_plugins, list_datasets, register_dataset
from .runner import EXECUTORS, SweepFailed, derive_seed, evaluate_model, run_sweep, sweep_id
from .store import REQUIRED_FIELDS, ResultStore, load_records
from .trainer import DEFAULT_RECIPE, evaluate, make_optimizer, normalize_recipe, train_eval

__all__ = [
    "DATASETS", "check_dataset", "get_dataset", "import_plugins", "list_datasets", "register_dataset",
    "EXECUTORS", "SweepFailed", "derive_seed", "evaluate_model", "run_sweep", "sweep_id",
    "has_dashboard", "local_cluster",
    "REQUIRED_FIELDS", "ResultStore", "load_records",
    "DEFAULT_RECIPE", "evaluate", "make_optimizer", "normalize_recipe", "train_eval",
]
