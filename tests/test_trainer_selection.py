"""spdnas.core.trainer: the reported epoch is selected on validation (never test), resumes alike."""

import json

import numpy as np
import pytest
import torch

from spdnas.core.trainer import SELECTION, fit, select_epoch
from spdnas.spd import SPDNet

torch.set_num_threads(1)


def _h(*rows):
    return [{"epoch": i + 1, "val_acc": a, "val_loss": l, "test_acc": t} for i, (a, l, t) in enumerate(rows)]


def _reference(history):
    """Selected epoch by numpy: lexicographic (-val_acc, val_loss, epoch)."""
    acc = np.array([r["val_acc"] for r in history])
    loss = np.array([r["val_loss"] for r in history])
    ep = np.array([r["epoch"] for r in history])
    return int(ep[np.lexsort((ep, loss, -acc))[0]])


def test_selection_uses_val_not_test_and_breaks_ties_by_loss_then_epoch():
    # test accuracy peaks at epoch 1, validation at epochs 2 and 4 (tie): lower val loss wins
    h = _h((0.50, 0.70, 0.90), (0.80, 0.60, 0.40), (0.70, 0.50, 0.80), (0.80, 0.55, 0.30))
    assert select_epoch(h) == (4, SELECTION[0]) == (_reference(h), SELECTION[0])
    # same accuracy and loss: the earlier epoch
    h = _h((0.80, 0.50, 0.1), (0.60, 0.40, 0.9), (0.80, 0.50, 0.2))
    assert select_epoch(h)[0] == 1 == _reference(h)
    # a NaN loss never wins a tie
    h = _h((0.80, float("nan"), 0.1), (0.80, 0.90, 0.2))
    assert select_epoch(h)[0] == 2
    # changing only test metrics never changes the selection
    rng = np.random.default_rng(0)
    for _ in range(50):
        rows = [(float(a), float(l), float(t)) for a, l, t in
                zip(rng.integers(0, 4, 6) / 4, rng.integers(0, 3, 6) / 3, rng.random(6))]
        h = _h(*rows)
        h2 = [dict(r, test_acc=1 - r["test_acc"]) for r in h]
        assert select_epoch(h)[0] == select_epoch(h2)[0] == _reference(h)


def test_selection_without_val_and_bad_histories():
    assert select_epoch([{"epoch": 1, "test_acc": 1.0}, {"epoch": 2, "test_acc": 0.0}]) == (2, SELECTION[1])
    assert select_epoch([]) == (None, SELECTION[1])
    with pytest.raises(ValueError, match="history must be a list"):
        select_epoch({"epoch": 1})
    with pytest.raises(ValueError, match=r"history\[1\].*'epoch'"):
        select_epoch([{"epoch": 1, "val_acc": 0.5}, {"val_acc": 0.6}])


def _data(N, n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(N) % 2
    A = torch.randn(N, n, 2 * n, generator=g, dtype=torch.float64)
    A[y == 1, 0] *= 1.6
    return A @ A.transpose(-1, -2) / (2 * n) + 1e-3 * torch.eye(n, dtype=torch.float64), y


def _model():
    torch.manual_seed(0)
    return SPDNet([5, 4, 3], 2).double()


CFG = dict(epochs=6, batch_size=8, lr=0.01, seed=1)


def test_fit_reports_the_val_selected_epoch_with_a_planted_val_test_disagreement(tmp_path):
    """The test set is the val set with flipped labels: test accuracy = 1 - val accuracy, so the
    epoch best on test is the worst on val; fit must report the val-selected one."""
    X, y = _data(40)
    Xv, yv = _data(30, seed=1)
    res = fit(_model(), (X, y), (Xv, yv), (Xv, 1 - yv), CFG, out=tmp_path / "a", progress=False)
    h = res["history"]
    assert len({r["val_acc"] for r in h}) > 1  # the planted trajectory moves
    sel = _reference(h)
    assert res["selected_epoch"] == sel and res["best"] == h[sel - 1] and res["selected_by"] == SELECTION[0]
    # test accuracy = 1 - val accuracy here: test would have picked another epoch
    assert res["best"]["test_acc"] == pytest.approx(1 - res["best"]["val_acc"])
    assert res["best"]["test_acc"] < max(1 - r["val_acc"] for r in h)
    # the test set is read only at the epochs that were the selected one so far, and at the last
    for e in range(1, len(h) + 1):
        assert ("test_acc" in h[e - 1]) == (e == len(h) or _reference(h[:e]) == e), e
    assert sum("test_acc" in r for r in h) < len(h)
    assert res["final"] == h[-1]
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert m["selected_epoch"] == sel and m["best"]["val_acc"] == res["best"]["val_acc"]
    assert m["selected_by"] == SELECTION[0]
    # interrupted after 2 epochs and resumed: the same selection as the uninterrupted run
    fit(_model(), (X, y), (Xv, yv), (Xv, 1 - yv), CFG, out=tmp_path / "b", progress=False, stop_after=2)
    part = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert part["complete"] is False and part["selected_epoch"] == _reference(part["history"])
    res2 = fit(_model(), (X, y), (Xv, yv), (Xv, 1 - yv), CFG, out=tmp_path / "b", progress=False)
    assert res2["selected_epoch"] == sel
    strip = lambda r: {k: v for k, v in r.items() if k != "time_s"}  # noqa: E731
    assert strip(res2["best"]) == strip(res["best"])


def test_fit_without_val_selects_the_last_epoch(tmp_path):
    X, y = _data(40)
    res = fit(_model(), (X, y), None, (X, y), dict(CFG, epochs=2), out=tmp_path, progress=False)
    assert res["selected_epoch"] == 2 and res["best"] == res["final"] and res["selected_by"] == SELECTION[1]
    assert json.loads((tmp_path / "metrics.json").read_text())["selected_by"] == SELECTION[1]
    res = fit(_model(), (X, y), (X, y), config=dict(CFG, epochs=0), progress=False)
    assert res["best"] is None and res["selected_epoch"] is None
