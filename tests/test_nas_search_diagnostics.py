"""Search diagnostics: how far α moved from α₀, entropy of the mixing weights, skip / pooling shares
of a genotype, and the validation-selected search epoch."""

import json
import math

import numpy as np
import pytest
import scipy.stats
import torch

from spdnas.nas import (
    RADAR_SPARSEMAX,
    arch_diagnostics,
    edge_entropy,
    net_config,
    op_shares,
    sample_genotype,
    search,
    search_config,
    search_history,
    select_epoch,
)
from spdnas.nas.search import write_search_files
from spdnas.nas.supernet import SuperNet

from test_nas_search import NET, class_data

torch.set_num_threads(1)


# --------------------------------------------------------------------------------------------
# entropy of mixing weights and max |α − α₀|
# --------------------------------------------------------------------------------------------


def test_edge_entropy_closed_forms():
    for k in (1, 2, 6):
        assert edge_entropy(torch.full((3, k), 1.0 / k)).tolist() == pytest.approx([math.log(k)] * 3, abs=1e-15)
    assert edge_entropy(torch.eye(6)).tolist() == [0.0] * 6  # one-hot rows
    # sparsemax rows with zeros: 0·log 0 = 0, so two equal weights give log 2
    assert float(edge_entropy([[0.5, 0.5, 0, 0, 0, 0]])[0]) == pytest.approx(math.log(2), abs=1e-15)
    # sigmoid gates are normalised first: (0.2, 0.6) has the entropy of (1/4, 3/4)
    ref = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert float(edge_entropy([[0.2, 0.6]])[0]) == pytest.approx(ref, abs=1e-15)
    w = np.random.default_rng(0).dirichlet(np.ones(6), size=4)
    assert edge_entropy(w).numpy() == pytest.approx(scipy.stats.entropy(w, axis=1), abs=1e-13)


@pytest.mark.parametrize("bad", [[0.5, 0.5], [[0.5, -0.1]], [[0.0, 0.0]], [[float("nan"), 1.0]]])
def test_edge_entropy_rejects_bad_weights(bad):
    with pytest.raises(ValueError, match="edge_entropy"):
        edge_entropy(bad)


@pytest.mark.parametrize("weighting", ["sparsemax", "softmax", "sigmoid"])
def test_arch_diagnostics_of_alphas_set_by_hand(weighting):
    torch.manual_seed(0)
    model = SuperNet(net_config(**NET), weighting)
    a0 = [a.detach().clone() for a in model.arch_parameters()]
    d = arch_diagnostics(model, a0)
    assert d["alpha_max_change"] == 0.0 and len(d["alpha_entropy_edges"]) == 2 * 5  # 2 nodes: 5 edges per cell
    with torch.no_grad():
        model.alphas_normal.zero_()
        model.alphas_reduce.zero_()
        model.alphas_reduce[3, 2] = a0[1][3, 2] - 0.75  # the largest change: 0.75 on one entry
    d = arch_diagnostics(model, a0)
    assert d["alpha_max_change"] == pytest.approx(0.75, abs=1e-12)
    # α = 0 on the normal cell: uniform weights under every rule (sigmoid 1/2 each, normalised), log 6
    assert d["alpha_entropy_edges"][:5] == pytest.approx([math.log(6)] * 5, abs=1e-12)
    with torch.no_grad():
        model.alphas_normal[:, 4] = 50.0  # one dominant op per edge
    d = arch_diagnostics(model, a0)
    # sparsemax: one-hot; softmax: e^-50 off the dominant op; sigmoid gates (1, ½ × 5) -> shares (2/7, 1/7 × 5)
    ref = {"sparsemax": 0.0, "softmax": 0.0,
           "sigmoid": -(2 / 7) * math.log(2 / 7) - 5 / 7 * math.log(1 / 7)}[weighting]
    assert d["alpha_entropy_edges"][:5] == pytest.approx([ref] * 5, abs=1e-12)
    assert d["alpha_entropy"] == pytest.approx(np.mean(d["alpha_entropy_edges"]), abs=1e-15)
    with pytest.raises(ValueError, match="alpha0"):
        arch_diagnostics(model, a0[:1])


def test_search_records_diagnostics_against_closed_form_and_references(tmp_path):
    """One first-order Adam step moves every α entry by lr·g/(|g| + 1e-8), so max |α − α₀| = arch_lr
    (to the eps) after epoch 1; α₀ is re-drawn from the seed, the entropies from the stored weights."""
    X, y = class_data(48)
    lr = 1e-2
    cfg = dict(net=NET, epochs=2, batch_size=8, max_steps=1, order=1, arch_lr=lr, seed=5, weighting="sigmoid")
    res = search((X, y), cfg, out=tmp_path / "s", progress=False)
    h1, h2 = res["history"]
    assert h1["alpha_max_change"] == pytest.approx(lr, rel=1e-4)
    assert 0 < h2["alpha_max_change"] <= (1 + 4 / 3) * lr  # Adam's second step (betas 0.5, 0.999): <= 4/3 lr
    torch.manual_seed(5)
    fresh = SuperNet(net_config(**NET), "sigmoid")
    ref = max(float((a.detach() - b.detach()).abs().max())
              for a, b in zip(res["model"].arch_parameters(), fresh.arch_parameters()))
    assert h2["alpha_max_change"] == pytest.approx(ref, abs=1e-15)
    for h in res["history"]:
        W = np.concatenate([np.asarray(h["arch_weights"][c]) for c in ("normal", "reduce")])
        assert h["alpha_entropy_edges"] == pytest.approx(scipy.stats.entropy(W, axis=1).tolist(), abs=1e-12)
        assert h["alpha_entropy"] == pytest.approx(float(np.mean(h["alpha_entropy_edges"])), abs=1e-15)
    curves = search_history(tmp_path / "s" / "search_metrics.json")
    assert curves["alpha_max_change"].tolist() == [h1["alpha_max_change"], h2["alpha_max_change"]]
    assert curves["alpha_entropy"].tolist() == [h1["alpha_entropy"], h2["alpha_entropy"]]


# --------------------------------------------------------------------------------------------
# skip / pooling shares of a genotype
# --------------------------------------------------------------------------------------------


def test_op_shares_of_hand_written_genotypes():
    assert op_shares(RADAR_SPARSEMAX) == {"skip_share": 2 / 8, "pool_share": 0.0}
    g = {"normal": [["WeightedPooling", 0], ["Skip", 1], ["BiMap_0", 0], ["Skip", 2]],
         "reduce": [["AvgPooling", 0], ["Skip_reduced", 1], ["MaxPooling", 1], ["WeightedPooling", 2]]}
    assert op_shares(g) == {"skip_share": 3 / 8, "pool_share": 4 / 8}
    all_skip = {"normal": [["Skip", 0], ["Skip", 1]], "reduce": [["Skip_reduced", 0], ["Skip_reduced", 1]]}
    assert op_shares(all_skip) == {"skip_share": 1.0, "pool_share": 0.0}
    cnn = {"normal": [["skip_connect", 0], ["sep_conv_3x3", 1]], "reduce": [["max_pool_3x3", 0], ["avg_pool_3x3", 1]]}
    assert op_shares(cnn, "cnn") == {"skip_share": 0.25, "pool_share": 0.5}
    with pytest.raises(ValueError, match="family"):
        op_shares(g, "rnn")
    with pytest.raises(ValueError, match="unknown normal op 'skip_connect'"):
        op_shares(cnn)  # an SPD genotype by default


# --------------------------------------------------------------------------------------------
# the validation-selected search epoch
# --------------------------------------------------------------------------------------------


def _planted(accs, losses):
    return [{"epoch": e + 1, "val_acc": a, "val_loss": v, "genotype": sample_genotype(e, 2)}
            for e, (a, v) in enumerate(zip(accs, losses))]


def test_select_epoch_on_planted_histories():
    h = _planted([0.5, 0.8, 0.6, 0.7], [1.0, 0.9, 0.5, 0.4])
    assert select_epoch(h, "val") == 2 and select_epoch(h, "last") == 4
    assert select_epoch(_planted([0.5, 0.8, 0.8], [1.0, 0.9, 0.7]), "val") == 3  # tie: lower val loss
    assert select_epoch(_planted([0.8, 0.8, 0.8], [0.7, 0.7, 0.7]), "val") == 1  # then the earlier epoch
    assert select_epoch(_planted([0.8, 0.8], [float("nan"), 2.0]), "val") == 2  # a NaN loss counts as worst
    assert select_epoch([], "val") is None
    with pytest.raises(ValueError, match="select must be one of"):
        select_epoch(h, "test")
    with pytest.raises(ValueError, match="val_loss"):
        select_epoch([{"epoch": 1, "val_acc": 0.5}], "val")
    with pytest.raises(ValueError, match="select must be one of"):
        search_config(select="best")


def test_selected_genotype_goes_to_genotype_json(tmp_path):
    h = _planted([0.5, 0.8, 0.6], [1.0, 0.9, 0.5])
    assert h[1]["genotype"] != h[2]["genotype"]
    write_search_files(tmp_path, {"select": "val"}, h[:2], 3)  # incomplete: the current genotype, marked partial
    assert not (tmp_path / "genotype.json").exists()
    assert json.loads((tmp_path / "genotype.partial.json").read_text())["genotype"] == h[1]["genotype"]
    write_search_files(tmp_path, {"select": "val"}, h, 3)
    assert json.loads((tmp_path / "genotype.json").read_text()) == h[1]["genotype"]  # the val peak, not the last
    m = json.loads((tmp_path / "search_metrics.json").read_text())
    assert m["select"] == "val" and m["selected_epoch"] == 2 and m["complete"] is True
    write_search_files(tmp_path, {"select": "last"}, h, 3)
    assert json.loads((tmp_path / "genotype.json").read_text()) == h[2]["genotype"]
    write_search_files(tmp_path, {}, h, 3)  # configs written before the key existed: the last epoch
    assert json.loads((tmp_path / "search_metrics.json").read_text())["selected_epoch"] == 3


def test_search_reports_the_selected_epoch_and_a_finished_search_reselects_without_rerunning(tmp_path):
    X, y = class_data(48)
    cfg = dict(net=NET, epochs=3, batch_size=8, max_steps=1, order=1, arch_lr=0.05, seed=3)
    last = search((X, y), cfg, out=tmp_path / "s", progress=False)
    hist = last["history"]
    assert last["selected_epoch"] == 3 and last["genotype"] == last["genotype_last"] == hist[-1]["genotype"]
    val = search((X, y), dict(cfg, select="val"), out=tmp_path / "s", progress=False)  # resumes: nothing to run
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]  # noqa: E731
    assert strip(val["history"]) == strip(hist)
    sel = select_epoch(hist, "val")
    # this seed: val accuracy 1/3 in every epoch, val loss lowest after epoch 1, whose genotype differs
    assert val["selected_epoch"] == sel == 1 and hist[0]["genotype"] != hist[-1]["genotype"]
    assert val["genotype"] == hist[sel - 1]["genotype"] and val["genotype_last"] == hist[-1]["genotype"]
    assert json.loads((tmp_path / "s" / "genotype.json").read_text()) == hist[sel - 1]["genotype"]
    assert json.loads((tmp_path / "s" / "search_metrics.json").read_text())["selected_epoch"] == sel
