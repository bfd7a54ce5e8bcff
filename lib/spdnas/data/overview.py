"""Dataset overview: sizes, conditioning and classical baselines (log-Euclidean 1-NN, MDM, TS + LR)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .base import SPDDataset

__all__ = ["FLOOR_KEYS", "TSLR_SETTINGS", "log_euclidean_features", "lognn_accuracy", "mdm_accuracy", "tslr_accuracy",
           "classical_floors", "overview", "overview_table"]

# The classical floors of :func:`classical_floors`: log-Euclidean 1-NN, MDM, tangent space + LR.
FLOOR_KEYS = ("lognn", "mdm", "tslr")

# Fixed settings of the tangent space + logistic regression floor (scikit-learn's names).
TSLR_SETTINGS = {"C": 1.0, "max_iter": 2000}


def log_euclidean_features(X) -> np.ndarray:
    """Vectorised matrix logarithms (N, n(n+1)/2); Euclidean distance = log-Euclidean distance."""
    X = np.asarray(X, dtype=np.float64)
    lam, U = np.linalg.eigh(X)
    if not (lam > 0).all():
        raise ValueError("log-Euclidean features need positive definite matrices")
    L = (U * np.log(lam)[..., None, :]) @ np.swapaxes(U, -1, -2)
    iu = np.triu_indices(X.shape[-1])
    w = np.where(iu[0] == iu[1], 1.0, np.sqrt(2.0))
    return L[:, iu[0], iu[1]] * w


def _nearest(ftr: np.ndarray, y_train, X) -> np.ndarray:
    fte = log_euclidean_features(X)
    d2 = (fte**2).sum(1)[:, None] - 2 * fte @ ftr.T + (ftr**2).sum(1)[None, :]
    return np.asarray(y_train)[np.argmin(d2, axis=1)]


def lognn_accuracy(X_train, y_train, X_test, y_test) -> float:
    """Accuracy of the 1-nearest-neighbour classifier in the log-Euclidean metric."""
    pred = _nearest(log_euclidean_features(X_train), y_train, X_test)
    return float(np.mean(pred == np.asarray(y_test)))


def mdm_accuracy(X_train, y_train, X_test, y_test, metric: str = "riemann") -> float:
    """Accuracy of pyriemann's minimum distance to (Fréchet) mean classifier."""
    from pyriemann.classification import MDM

    clf = MDM(metric=metric).fit(np.asarray(X_train), np.asarray(y_train))
    return float(np.mean(clf.predict(np.asarray(X_test)) == np.asarray(y_test)))


def _tslr(seed: int):
    from pyriemann.tangentspace import TangentSpace
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TangentSpace(metric="riemann"), LogisticRegression(random_state=int(seed), **TSLR_SETTINGS))


def tslr_accuracy(X_train, y_train, X_test, y_test, seed: int = 0) -> float:
    """Accuracy of logistic regression on tangent vectors at the training set's Riemannian mean."""
    clf = _tslr(seed).fit(np.asarray(X_train, dtype=np.float64), np.asarray(y_train))
    return float(np.mean(clf.predict(np.asarray(X_test, dtype=np.float64)) == np.asarray(y_test)))


def _as_pair(pair, name: str):
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"classical_floors: {name} must be a pair (X, y), got {type(pair).__name__}")
    X = np.asarray(pair[0], dtype=np.float64)
    y = np.asarray(pair[1])
    if X.ndim != 3 or X.shape[-1] != X.shape[-2] or X.shape[0] == 0:
        raise ValueError(f"classical_floors: {name} X must be a non-empty stack (N, n, n), got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"classical_floors: {name} y must have shape ({X.shape[0]},), got {y.shape}")
    return X, y


def classical_floors(train, evals: dict, seed: int = 0, blas_threads: int | None = 1) -> dict:
    """``{floor: {part: accuracy}}`` for :data:`FLOOR_KEYS`, fitted once on ``train`` = (X, y).

    ``evals`` maps a part name (e.g. ``val``, ``test``) to an (X, y) pair (None entries are
    skipped). MDM is affine-invariant (pyriemann, ``metric="riemann"``); TS + LR is
    :data:`TSLR_SETTINGS` with ``random_state=seed``.
    """
    Xtr, ytr = _as_pair(train, "train")
    if len(np.unique(ytr)) < 2:
        raise ValueError("classical_floors: the training set needs at least two classes")
    parts = {k: _as_pair(v, k) for k, v in evals.items() if v is not None}
    if not parts:
        raise ValueError("classical_floors: no evaluation set given")
    from pyriemann.classification import MDM

    with threadpool_limits(limits=blas_threads, user_api="blas"):
        ftr = log_euclidean_features(Xtr)
        mdm = MDM(metric="riemann").fit(Xtr, ytr)
        tslr = _tslr(seed).fit(Xtr, ytr)
        predict = {"lognn": lambda X: _nearest(ftr, ytr, X), "mdm": mdm.predict, "tslr": tslr.predict}
        return {f: {k: float(np.mean(predict[f](X) == y)) for k, (X, y) in parts.items()} for f in FLOOR_KEYS}


def overview(ds: SPDDataset, seed: int = 0, fractions=(0.5, 0.25, 0.25), by: str | None = "auto",
             mdm: bool = True, blas_threads: int | None = 1) -> dict:
    """Summary of ``ds``: counts, matrix size, condition numbers and baseline accuracies.

    Baselines are trained on train (+ val) and scored on test of ``ds.split(seed, fractions, by)``;
    ``by="auto"`` uses the official split when the dataset has one, else a stratified random split.
    ``blas_threads`` limits BLAS threads (small matrices: threads only add contention; None = no limit).
    MDM on ill-conditioned data (HDM05) needs ~1 min: pass ``mdm=False`` to skip it.
    """
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return _overview(ds, seed, fractions, by, mdm)


def _overview(ds, seed, fractions, by, mdm) -> dict:
    if by == "auto":
        by = "official" if ds.has_official_split else None
    sp = ds.split(seed, fractions, by)
    train = np.concatenate([sp.train, sp.val])
    X, y = ds.X.numpy(), ds.y.numpy()
    cond = np.linalg.cond(X)
    q = np.quantile(cond, [0.0, 0.25, 0.5, 0.75, 1.0])
    res = {
        "name": ds.name,
        "n_samples": len(ds),
        "matrix_size": int(X.shape[-1]),
        "num_classes": len(ds.classes),
        "class_counts": ds.class_counts(),
        "cond_min": float(q[0]), "cond_q25": float(q[1]), "cond_median": float(q[2]),
        "cond_q75": float(q[3]), "cond_max": float(q[4]),
        "split": by or "stratified",
        "seed": int(seed),
        "n_train": int(train.size),
        "n_test": int(sp.test.size),
        "chance": float(np.bincount(y[sp.test]).max() / max(sp.test.size, 1)),
        "lognn_acc": lognn_accuracy(X[train], y[train], X[sp.test], y[sp.test]),
    }
    if mdm:
        res["mdm_acc"] = mdm_accuracy(X[train], y[train], X[sp.test], y[sp.test])
    return res


def overview_table(datasets, seed: int = 0, **kwargs) -> pd.DataFrame:
    """One :func:`overview` row per dataset (class counts as a string column)."""
    rows = []
    for ds in datasets:
        r = overview(ds, seed, **kwargs)
        r["class_counts"] = ", ".join(f"{k}:{v}" for k, v in r["class_counts"].items())
        rows.append(r)
    return pd.DataFrame(rows).set_index("name")
