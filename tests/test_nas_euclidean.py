"""Euclidean DARTS / FairDARTS baselines on log-map images and the command line."""

import json

import numpy as np
import pytest
import torch

from spdnas.cli.nas import main
from spdnas.nas.euclidean import (EuclideanSuperNet, LogMapImage, derive_darts_genotype, euclidean_net_config,
                                  search_euclidean)
from spdnas.models import DARTS_OPS
from test_nas_search import NET, class_data

torch.set_num_threads(1)


def test_logmap_image_is_matrix_log():
    X, _ = class_data(4, n=5)
    L = LogMapImage(5)(X)
    w, U = np.linalg.eigh(X.numpy())
    ref = np.einsum("bij,bj,bkj->bik", U, np.log(w), U)
    np.testing.assert_allclose(L[:, 0].numpy(), ref, atol=1e-10)
    with pytest.raises(ValueError, match="positive definite"):
        LogMapImage(5)(-X)


def test_darts_derive_rule_ignores_none():
    W = np.zeros((5, len(DARTS_OPS)))
    W[:, 0] = 1.0  # 'none' dominates everywhere
    W[1, DARTS_OPS.index("sep_conv_3x3")] = 0.5
    W[0, DARTS_OPS.index("skip_connect")] = 0.2
    W[4, DARTS_OPS.index("max_pool_3x3")] = 0.3
    W[2, DARTS_OPS.index("dil_conv_3x3")] = 0.1
    g = derive_darts_genotype(W, W, DARTS_OPS, 2)
    assert g["normal"] == [["sep_conv_3x3", 1], ["skip_connect", 0], ["max_pool_3x3", 2], ["dil_conv_3x3", 0]]


@pytest.mark.parametrize("weighting", ["softmax", "sigmoid"])
def test_euclidean_search_runs_and_alphas_move(weighting):
    X, y = class_data(40, n=8)
    res = search_euclidean((X, y), dict(epochs=1, batch_size=10, max_steps=2, order=1, weighting=weighting,
                                        net=dict(C=2, layers=2)), progress=False)
    model = res["model"]
    assert isinstance(model, EuclideanSuperNet)
    torch.manual_seed(0)  # same seed as the search: the initial supernet
    init = EuclideanSuperNet(model.config, weighting)
    assert any(not torch.equal(a, b) for a, b in zip(model.arch_parameters(), init.arch_parameters()))
    assert set(res["genotype"]) == {"normal", "normal_concat", "reduce", "reduce_concat"}
    with pytest.raises(ValueError, match="C must be"):
        euclidean_net_config(8, 3, C=1)


def test_cli_search_train_random(tmp_path):
    X, y = class_data(40)
    np.savez(tmp_path / "d.npz", X=X.numpy(), y=y.numpy())
    cfg = {"data": str(tmp_path / "d.npz"), "net": NET, "search": {"epochs": 1, "max_steps": 1, "batch_size": 8},
           "train": {"epochs": 1, "batch_size": 8}}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    c = str(tmp_path / "c.json")
    assert main(["search", "--config", c, "--out", str(tmp_path / "s"), "--no-progress"]) == 0
    assert (tmp_path / "s" / "cell.pdf").is_file()
    assert main(["train", "--config", c, "--out", str(tmp_path / "t"), "--genotype",
                 str(tmp_path / "s" / "genotype.json"), "--no-progress"]) == 0
    assert json.loads((tmp_path / "t" / "result.json").read_text())["final"]["epoch"] == 1
    assert main(["random", "--config", c, "--out", str(tmp_path / "r"), "--seed", "1", "--no-progress"]) == 0
    with pytest.raises(FileNotFoundError):
        main(["train", "--config", c, "--out", str(tmp_path / "x"), "--genotype", str(tmp_path / "no.json")])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="corrupt"):
        main(["search", "--config", str(tmp_path / "bad.json"), "--out", str(tmp_path / "y")])
