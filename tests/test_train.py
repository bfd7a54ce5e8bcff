"""spdnas.train: seeded training, atomic checkpoints, bitwise resume, geoopt optimiser state."""

import pytest
import torch

from spdnas.spd import SPDNetBN
from spdnas.core.trainer import evaluate, fit, load_checkpoint, save_checkpoint, train_config

torch.set_num_threads(1)


def data(N=40, n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(N) % 2
    A = torch.randn(N, n, 2 * n, generator=g, dtype=torch.float64)
    A[y == 1, 0] *= 3.0
    return A @ A.transpose(-1, -2) / (2 * n) + 1e-3 * torch.eye(n, dtype=torch.float64), y


def model(seed=0):
    torch.manual_seed(seed)
    return SPDNetBN([5, 4, 3], 2).double()


CFG = dict(epochs=3, batch_size=8, lr=0.05, momentum=0.9, seed=1)


def test_fit_learns_and_resume_is_bitwise(tmp_path):
    X, y = data()
    full = fit(model(), (X, y), (X, y), config=CFG, out=tmp_path / "a", progress=False)
    assert full["final"]["train_acc"] > 0.5
    m2 = model()
    fit(m2, (X, y), (X, y), config=CFG, out=tmp_path / "b", progress=False, stop_after=1)
    ck = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert ck["epoch"] == 1 and any("momentum_buffer" in s for s in ck["optimizer"]["state"].values())
    m3 = model(seed=99)  # a fresh process: different init, everything comes from the checkpoint
    res = fit(m3, (X, y), (X, y), config=CFG, out=tmp_path / "b", progress=False)
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]  # noqa: E731
    assert strip(res["history"]) == strip(full["history"])
    m1 = model()
    fit(m1, (X, y), None, config=CFG, progress=False)
    sa, sb = m1.state_dict(), m3.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(tmp_path / "bad.pt")
    p = save_checkpoint(tmp_path / "ok.pt", x=torch.ones(2), n=3)
    assert load_checkpoint(p)["n"] == 3
    X, y = data()
    fit(model(), (X, y), config=dict(CFG, epochs=1), out=tmp_path / "c", progress=False)
    with pytest.raises(ValueError, match="different config"):
        fit(model(), (X, y), config=dict(CFG, lr=0.1), out=tmp_path / "c", progress=False)


def test_bad_inputs():
    X, y = data()
    with pytest.raises(ValueError, match="unknown keys"):
        train_config(foo=1)
    with pytest.raises(ValueError, match="lr"):
        train_config(lr=-1.0)
    with pytest.raises(ValueError, match="NaN"):
        Xn = X.clone()
        Xn[0, 0, 0] = float("nan")
        fit(model(), (Xn, y), config=CFG, progress=False)
    with pytest.raises(ValueError, match="shape"):
        fit(model(), (X, y[:-1]), config=CFG, progress=False)
    with pytest.raises(ValueError, match="empty"):
        evaluate(model(), X[:0], y[:0])


def test_evaluate_matches_manual():
    X, y = data()
    m = model()
    r = evaluate(m, X, y, batch_size=7)
    m.eval()
    with torch.no_grad():
        logits = m(X)
    assert r["acc"] == pytest.approx(float((logits.argmax(1) == y).double().mean()))
    assert r["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-12)
