"""Small image datasets for design-space sweeps: scikit-learn digits and CIFAR-10 (binary).

Both loaders return the same dict::

    {"x_train": float32 tensor (N, C, S, S), "y_train": int64 tensor (N,),
     "x_test": ..., "y_test": ..., "info": {"name", "in_channels", "image_size", "num_classes"}}

Inputs are standardised with the training set's per-channel mean and std.

* :func:`load_digits_images` uses the 1,797 8x8 grey digits bundled with scikit-learn (no
  download). Images stay 8x8 by default (fast; two stride-2 stages give 8 -> 4 -> 2);
  ``image_size`` may be a multiple of 8 for nearest-neighbour upsampling (e.g. 16 or 32).
* :func:`load_cifar10_binary` reads the *binary* CIFAR-10 release (``data_batch_1.bin`` ...
  ``data_batch_5.bin``, ``test_batch.bin``; each record is 1 label byte + 3,072 pixel bytes,
  channel-major). No unpickling is involved.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..core.params import shared_data_root
from .splits import stratified_train_test

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_ENV = "SPDNAS_CIFAR10"
CIFAR10_RECORD = 1 + 3 * 32 * 32
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


def _standardise(x_train: np.ndarray, x_test: np.ndarray):
    mean = x_train.mean(axis=(0, 2, 3), keepdims=True)
    std = x_train.std(axis=(0, 2, 3), keepdims=True)
    std = np.where(std > 0, std, 1.0)
    return (x_train - mean) / std, (x_test - mean) / std


def _pack(x_tr, y_tr, x_te, y_te, name, num_classes):
    x_tr, x_te = _standardise(x_tr.astype(np.float64), x_te.astype(np.float64))
    return {
        "x_train": torch.from_numpy(x_tr.astype(np.float32)),
        "y_train": torch.from_numpy(y_tr.astype(np.int64)),
        "x_test": torch.from_numpy(x_te.astype(np.float32)),
        "y_test": torch.from_numpy(y_te.astype(np.int64)),
        "info": {"name": name, "in_channels": int(x_tr.shape[1]), "image_size": int(x_tr.shape[2]),
                 "num_classes": int(num_classes)},
    }


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Raw digits ``(images (1797, 8, 8) float64 in [0, 16], labels int64)``.

    Read straight from scikit-learn's bundled ``digits.csv.gz`` (same values as
    ``sklearn.datasets.load_digits``) without importing scikit-learn, which keeps sweep
    workers fast to start.
    """
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-learn is not installed; it bundles the digits data")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"scikit-learn's bundled digits file is missing: {path}")
    with gzip.open(path, "rt") as fh:
        arr = np.loadtxt(fh, delimiter=",")
    if arr.ndim != 2 or arr.shape[1] != 65:
        raise ValueError(f"unexpected digits file layout {arr.shape} in {path}")
    return arr[:, :64].reshape(-1, 8, 8), arr[:, 64].astype(np.int64)


def load_digits_images(seed: int = 0, test_fraction: float = 0.25, image_size: int = 8) -> dict:
    """scikit-learn digits as 1-channel images with a stratified train/test split by ``seed``.

    Args:
        seed: split seed (same seed, same split).
        test_fraction: share of samples in the test split, in (0, 1).
        image_size: 8 (native) or a multiple of 8 (nearest-neighbour upsampling).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(test_fraction, (int, float)) or not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) \
            or image_size < 8 or image_size % 8:
        raise ValueError(f"image_size must be a positive multiple of 8, got {image_size!r}")
    images, target = digits_arrays()
    x = (images / 16.0)[:, None, :, :]
    f = int(image_size) // 8
    if f > 1:
        x = x.repeat(f, axis=2).repeat(f, axis=3)
    tr, te = stratified_train_test(target, float(test_fraction), int(seed))
    return _pack(x[tr], target[tr], x[te], target[te], "digits", 10)


def cifar10_root(root: str | os.PathLike | None = None) -> Path:
    """Resolve the CIFAR-10 binary folder: ``root`` > ``$SPDNAS_CIFAR10`` >
    ``<shared data>/cifar10``; a parent holding ``cifar-10-batches-bin/`` is accepted too."""
    if root is None:
        env = os.environ.get(CIFAR10_ENV)
        if env:
            root = env
        else:
            root = shared_data_root() / "cifar10"
    root = Path(root).expanduser()
    if (root / "cifar-10-batches-bin").is_dir():
        root = root / "cifar-10-batches-bin"
    return root


def read_cifar10_file(path: str | os.PathLike, max_records: int | None = None):
    """Read one CIFAR-10 binary batch file into ``(images uint8 (N,3,32,32), labels int64)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 batch file not found: {path}")
    raw = path.read_bytes()
    if len(raw) == 0 or len(raw) % CIFAR10_RECORD:
        raise ValueError(
            f"corrupt or truncated CIFAR-10 file {path}: {len(raw)} bytes is not a positive "
            f"multiple of the {CIFAR10_RECORD}-byte record size"
        )
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR10_RECORD)
    if max_records is not None:
        rec = rec[: int(max_records)]
    labels = rec[:, 0].astype(np.int64)
    if labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise ValueError(f"corrupt CIFAR-10 file {path}: record {bad} has label {labels[bad]} > 9")
    return rec[:, 1:].reshape(-1, 3, 32, 32), labels


def load_cifar10_binary(root: str | os.PathLike | None = None, *, max_train: int | None = None,
                        max_test: int | None = None) -> dict:
    """Load CIFAR-10 from the binary release (see module docstring for the returned dict).

    Args:
        root: folder with ``data_batch_*.bin`` and ``test_batch.bin`` (or its parent holding
            ``cifar-10-batches-bin``); default ``$SPDNAS_CIFAR10`` or ``<shared data>/cifar10``.
        max_train, max_test: optional caps on the number of records read (quick experiments).
    """
    folder = cifar10_root(root)
    hint = (
        f"download the CIFAR-10 *binary* version from {CIFAR10_URL}, extract it, and point to the "
        f"'cifar-10-batches-bin' folder with root=... (sweep dataset option `root`, CLI "
        f"`--dataset-arg root=PATH`) or the environment variable {CIFAR10_ENV}"
    )
    if not folder.is_dir():
        raise FileNotFoundError(f"CIFAR-10 folder not found: {folder}; {hint}")
    train_files = sorted(folder.glob("data_batch_*.bin"))
    test_file = folder / "test_batch.bin"
    if not train_files or not test_file.is_file():
        raise FileNotFoundError(
            f"CIFAR-10 folder {folder} lacks data_batch_*.bin and/or test_batch.bin; {hint}"
        )
    for cap, nm in ((max_train, "max_train"), (max_test, "max_test")):
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap <= 0):
            raise ValueError(f"{nm} must be a positive integer or None, got {cap!r}")
    xs, ys, left = [], [], max_train
    for f in train_files:
        if left is not None and left <= 0:
            break
        x, y = read_cifar10_file(f, left)
        xs.append(x)
        ys.append(y)
        left = None if left is None else left - len(y)
    x_te, y_te = read_cifar10_file(test_file, max_test)
    x_tr = np.concatenate(xs).astype(np.float64) / 255.0
    return _pack(x_tr, np.concatenate(ys), x_te.astype(np.float64) / 255.0, y_te, "cifar10", 10)
