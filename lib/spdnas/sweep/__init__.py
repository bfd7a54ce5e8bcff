"""Population sweeps over design spaces: dataset registry, short-recipe trainer, result store."""

from .datasets import DATASETS, check_dataset, get_dataset, import_plugins, list_datasets, register_dataset
from .runner import EXECUTORS, derive_seed, evaluate_model, run_sweep, sweep_id
from .store import REQUIRED_FIELDS, ResultStore, load_records
from .trainer import DEFAULT_RECIPE, evaluate, make_optimizer, normalize_recipe, train_eval

__all__ = [
    "DATASETS", "check_dataset", "get_dataset", "import_plugins", "list_datasets", "register_dataset",
    "EXECUTORS", "derive_seed", "evaluate_model", "run_sweep", "sweep_id",
    "REQUIRED_FIELDS", "ResultStore", "load_records",
    "DEFAULT_RECIPE", "evaluate", "make_optimizer", "normalize_recipe", "train_eval",
]
