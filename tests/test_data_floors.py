"""Input recentring (spd.geometry.recentre, data.normalise_split) and the classical floors
(log-Euclidean 1-NN, MDM, tangent space + logistic regression) against float64 references."""

import numpy as np
import pytest
import scipy.linalg as sla
import torch
from pyriemann.classification import MDM
from pyriemann.geometry.distance import distance_logeuclid, distance_riemann
from pyriemann.geometry.mean import mean_riemann
from sklearn.linear_model import LogisticRegression

from spdnas.data import NORMALISATIONS, classical_floors, normalise_split, tslr_accuracy
from spdnas.data.normalise import check_normalise, recentring_mean
from spdnas.data.overview import FLOOR_KEYS, TSLR_SETTINGS
from spdnas.spd.geometry import recentre


def _spd(N, n=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(N) % classes
    A = rng.standard_normal((N, n, n + 3))
    A[:, 0] *= 1.0 + 0.6 * y[:, None]
    A[:, 1, 1] += 0.8 * (y == 1)
    X = A @ np.swapaxes(A, -1, -2) / (n + 3) + 0.05 * np.eye(n)
    return X, y


def _inv_sqrt(M):
    lam, U = np.linalg.eigh(M)
    return (U / np.sqrt(lam)) @ U.T


def test_recentre_against_scipy():
    X, _ = _spd(12)
    M_ref = sla.expm(np.mean([sla.logm(x).real for x in X], axis=0))
    M = recentring_mean(torch.from_numpy(X))
    assert M.dtype == torch.float64 and np.allclose(M.numpy(), M_ref, atol=1e-10)
    W = _inv_sqrt(M_ref)
    Y = recentre(torch.from_numpy(X), M).numpy()
    assert np.allclose(Y, W @ X @ W, atol=1e-10)
    assert np.array_equal(Y, np.swapaxes(Y, -1, -2)) and (np.linalg.eigvalsh(Y) > 0).all()
    assert np.allclose(recentre(M, M).numpy(), np.eye(4), atol=1e-12)  # M^{-1/2} M M^{-1/2} = I
    # a congruence: affine-invariant distances are unchanged
    assert np.allclose(distance_riemann(Y[0], Y[1]), distance_riemann(X[0], X[1]), rtol=1e-10)
    with pytest.raises(ValueError, match="recentre: reference M.*positive definite"):
        recentre(torch.from_numpy(X), -M)


def test_normalise_split_uses_the_training_mean_only():
    (Xtr, ytr), (Xva, yva), (Xte, yte) = _spd(15, seed=1), _spd(6, seed=2), _spd(6, seed=3)
    parts = {"train": (torch.from_numpy(Xtr).float(), torch.from_numpy(ytr)), "val": (torch.from_numpy(Xva), yva),
             "test": (torch.from_numpy(Xte), yte), "extra": None}
    assert normalise_split(parts, "none") == parts
    out = normalise_split(parts, "recentre")
    W = _inv_sqrt(sla.expm(np.mean([sla.logm(x).real for x in Xtr.astype(np.float32).astype(np.float64)], axis=0)))
    for k, X in (("val", Xva), ("test", Xte)):
        assert out[k][0].dtype == torch.float64 and out[k][1] is parts[k][1]
        assert np.allclose(out[k][0].numpy(), W @ X @ W, atol=1e-10)
    assert out["train"][0].dtype == torch.float32 and out["extra"] is None
    assert np.allclose(out["train"][0].numpy(), W @ Xtr @ W, atol=1e-4)
    # changing the test set does not move the training data (no test information in M)
    out2 = normalise_split(dict(parts, test=(torch.from_numpy(Xte[::-1].copy()), yte)), "recentre")
    assert torch.equal(out2["train"][0], out["train"][0]) and torch.equal(out2["val"][0], out["val"][0])
    assert NORMALISATIONS == ("none", "recentre")


def test_normalise_bad_inputs():
    X, y = _spd(6)
    with pytest.raises(ValueError, match="normalise must be one of"):
        normalise_split({"train": (X, y)}, "whiten")
    with pytest.raises(ValueError, match="exp_search normalise"):
        check_normalise(None, "exp_search normalise")
    with pytest.raises(ValueError, match="'train'"):
        normalise_split({"val": (X, y)}, "recentre")
    bad = X.copy()
    bad[2] = -bad[2]
    with pytest.raises(ValueError, match="normalise_split: val matrices.*positive definite"):
        normalise_split({"train": (torch.from_numpy(X), y), "val": (torch.from_numpy(bad), y)}, "recentre")
    with pytest.raises(ValueError, match="training matrices.*positive definite"):
        normalise_split({"train": (torch.from_numpy(bad), y)}, "recentre")
    with pytest.raises(ValueError, match="stack"):
        recentring_mean(torch.eye(3))


def _tangent_features(C, X):
    """Upper-triangular log(C^{-1/2} X C^{-1/2}) with sqrt(2) off the diagonal (scipy)."""
    W = _inv_sqrt(C)
    iu = np.triu_indices(C.shape[0])
    w = np.where(iu[0] == iu[1], 1.0, np.sqrt(2.0))
    return np.stack([sla.logm(W @ x @ W).real[iu] * w for x in X])


def test_floors_equal_direct_pyriemann_and_sklearn():
    (Xtr, ytr), (Xva, yva), (Xte, yte) = _spd(30, seed=4), _spd(12, seed=5), _spd(12, seed=6)
    got = classical_floors((Xtr, ytr), {"val": (Xva, yva), "test": (Xte, yte), "none": None})
    assert list(got) == list(FLOOR_KEYS) and all(set(v) == {"val", "test"} for v in got.values())
    mdm = MDM(metric="riemann").fit(Xtr, ytr)
    C = mean_riemann(Xtr)
    lr = LogisticRegression(random_state=0, **TSLR_SETTINGS).fit(_tangent_features(C, Xtr), ytr)
    for part, (X, y) in (("val", (Xva, yva)), ("test", (Xte, yte))):
        D = np.array([[distance_logeuclid(a, b) for b in Xtr] for a in X])
        assert got["lognn"][part] == np.mean(ytr[D.argmin(1)] == y)
        assert got["mdm"][part] == np.mean(mdm.predict(X) == y)
        assert got["tslr"][part] == pytest.approx(np.mean(lr.predict(_tangent_features(C, X)) == y), abs=1e-12)
    assert tslr_accuracy(Xtr, ytr, Xte, yte) == got["tslr"]["test"]
    assert max(got["lognn"]["test"], got["mdm"]["test"], got["tslr"]["test"]) > 1 / 3 + 0.2  # above chance


def test_floors_bad_inputs():
    X, y = _spd(9)
    with pytest.raises(ValueError, match="at least two classes"):
        classical_floors((X, np.zeros(9, int)), {"test": (X, y)})
    with pytest.raises(ValueError, match="no evaluation set"):
        classical_floors((X, y), {"test": None})
    with pytest.raises(ValueError, match=r"test y must have shape \(9,\)"):
        classical_floors((X, y), {"test": (X, y[:-1])})
    with pytest.raises(ValueError, match="train X must be a non-empty stack"):
        classical_floors((X[0], y), {"test": (X, y)})
    with pytest.raises(ValueError, match="val must be a pair"):
        classical_floors((X, y), {"val": X})
