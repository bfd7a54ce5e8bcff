"""Sweeps: recipe/trainer, JSONL store crash safety, inline/process sweeps, resume, CLI."""

import json
import uuid
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from spdnas.spaces import SPACES, AnyNetSpace, get_space, register_space
from spdnas.sweep import (
    DEFAULT_RECIPE,
    ResultStore,
    derive_seed,
    get_dataset,
    list_datasets,
    load_records,
    normalize_recipe,
    register_dataset,
    run_sweep,
    train_eval,
)

RECIPE = {"epochs": 1, "max_train": 128, "batch_size": 32, "max_test": 200}
TINY = AnyNetSpace("tiny_sweep", "res_basic", [1], [4, 8])


@pytest.fixture(autouse=True)
def one_thread():
    """Small models train far faster single-threaded on shared CPUs."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits", seed=0)


@pytest.fixture
def tiny_registered():
    register_space("tiny_sweep", TINY, overwrite=True)
    yield TINY
    SPACES.pop("tiny_sweep", None)


def _record(i, **kw):
    return {"space": "s", "model_id": i, "config": "{}", "params": 1, "flops": 2, "error": 50.0,
            "seed": 0, "epochs": 1, "dataset": "d", "sweep": "x", **kw}


# ---------------------------------------------------------------- recipe / trainer


def test_recipe_defaults_and_validation():
    r = normalize_recipe({"epochs": 3})
    assert r["epochs"] == 3 and r["lr"] == DEFAULT_RECIPE["lr"]
    for bad, msg in [({"epochs": 0}, "epochs"), ({"lr": -1}, "lr"), ({"lr": float("nan")}, "lr"),
                     ({"optimizer": "lbfgs"}, "optimizer"), ({"foo": 1}, "unknown recipe keys"),
                     ({"batch_size": 2.5}, "batch_size"), ({"schedule": "step"}, "schedule"),
                     ({"warmup_epochs": 2, "epochs": 2}, "warmup")]:
        with pytest.raises(ValueError, match=msg):
            normalize_recipe(bad)
    with pytest.raises(ValueError, match="dict"):
        normalize_recipe([1])


def test_train_eval_learns_digits(digits):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    res = train_eval(model, digits, {"epochs": 8, "optimizer": "adam", "lr": 0.01}, seed=0)
    assert res["error"] < 8.0  # multinomial logistic regression on digits is ~96% accurate
    assert len(res["curve"]) == 8 and res["curve"][-1] < res["curve"][0]
    assert not res["diverged"] and res["train_time"] > 0
    # error is exactly the percentage of wrong argmax predictions
    with torch.no_grad():
        wrong = (model(digits["x_test"]).argmax(1) != digits["y_test"]).float().mean().item()
    assert res["error"] == pytest.approx(100 * wrong)


def test_train_eval_uses_model_optimizer_hook(digits):
    class Hooked(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)
            self.calls = []

        def forward(self, x):
            return self.fc(x.flatten(1))

        def make_optimizer(self, recipe):
            self.calls.append(recipe["lr"])
            return torch.optim.SGD(self.parameters(), lr=0.0)

    m = Hooked()
    before = m.fc.weight.detach().clone()
    train_eval(m, digits, {"epochs": 1, "lr": 0.3, "max_train": 64})
    assert m.calls == [0.3] and torch.equal(before, m.fc.weight)


def test_train_eval_flags_divergence(digits):
    class NaNNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return self.w * torch.full((len(x), 10), float("nan"))

    res = train_eval(NaNNet(), digits, {"epochs": 2, "max_train": 64})
    assert res["diverged"] and res["test_loss"] is None and res["curve"] == [None]


def test_bad_data_raises(digits):
    m = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    bad = dict(digits, x_train=digits["x_train"].clone())
    bad["x_train"][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        train_eval(m, bad, RECIPE)
    with pytest.raises(ValueError, match="labels"):
        train_eval(m, dict(digits, y_test=digits["y_test"] + 10), RECIPE)
    with pytest.raises(ValueError, match="equal length"):
        train_eval(m, dict(digits, y_train=digits["y_train"][:5]), RECIPE)
    with pytest.raises(ValueError, match="missing"):
        train_eval(m, {"x_train": digits["x_train"]}, RECIPE)


def test_dataset_registry():
    assert {"digits", "cifar10"} <= set(list_datasets())
    with pytest.raises(ValueError, match="unknown dataset"):
        get_dataset("imagenet")
    with pytest.raises(ValueError, match="bad options"):
        get_dataset("digits", nonsense=1)
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("digits", lambda seed=0: None)
    with pytest.raises(FileNotFoundError, match="cifar-10"):
        get_dataset("cifar10", root="/nonexistent/cifar")


# ---------------------------------------------------------------- store


def test_store_append_load_and_parquet(tmp_path):
    st = ResultStore(tmp_path / "runs" / "s.jsonl")
    assert st.load() == []
    for i in range(3):
        st.append(_record(i, curve=[1.0, float("nan")]))
    recs = st.load()
    assert [r["model_id"] for r in recs] == [0, 1, 2] and recs[0]["curve"] == [1.0, None]
    p = st.export_parquet()
    df = pd.read_parquet(p)
    assert list(df["model_id"]) == [0, 1, 2] and json.loads(df["curve"][0]) == [1.0, None]
    with pytest.raises(ValueError, match="required fields"):
        st.append({"space": "s"})


def test_store_torn_last_line_ignored_and_repaired(tmp_path):
    st = ResultStore(tmp_path / "s.jsonl")
    st.append(_record(0))
    st.append(_record(1))
    good = st.path.read_bytes()
    st.path.write_bytes(good + b'{"space": "s", "model_id": 2, "con')
    with pytest.warns(UserWarning, match="torn"):
        assert [r["model_id"] for r in st.load()] == [0, 1]
    assert st.path.read_bytes() != good  # plain load does not modify
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st.load(repair=True)
    assert st.path.read_bytes() == good
    # a complete last object whose newline was lost is kept and the newline restored
    st.path.write_bytes(good + json.dumps(_record(2)).encode())
    assert [r["model_id"] for r in st.load(repair=True)] == [0, 1, 2]
    assert st.path.read_bytes().endswith(b"}\n")


def test_store_corrupt_middle_line_raises(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps(_record(0)) + "\n{garbage\n" + json.dumps(_record(1)) + "\n")
    with pytest.raises(ValueError, match=r"s\.jsonl:2"):
        ResultStore(p).load()
    with pytest.raises(FileNotFoundError):
        load_records(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="directory"):
        ResultStore(tmp_path)


def test_store_lock_is_exclusive(tmp_path):
    st = ResultStore(tmp_path / "s.jsonl")
    with st.lock():
        with pytest.raises(ValueError, match="another process"):
            with ResultStore(tmp_path / "s.jsonl").lock():
                pass
    with st.lock():
        pass


# ---------------------------------------------------------------- sweeps


def test_inline_sweep_schema_determinism_and_resume(tmp_path, tiny_registered):
    store = tmp_path / "a.jsonl"
    recs = run_sweep("tiny_sweep", "digits", 3, seed=5, recipe=RECIPE, store=store, progress=False)
    assert [r["model_id"] for r in recs] == [0, 1, 2]
    for r in recs:
        for k in ("space", "model_id", "config", "params", "flops", "error", "seed", "epochs",
                  "dataset", "train_time", "curve"):
            assert k in r
        cfg = json.loads(r["config"])
        assert cfg == TINY.sample(np.random.default_rng(derive_seed(5, r["model_id"])))
        assert r["params"] == TINY.params(cfg, {"in_channels": 1, "image_size": 8, "num_classes": 10})
        assert 0 <= r["error"] <= 100 and r["seed"] == 5 and r["epochs"] == 1
    first = store.read_bytes()
    # resume with a larger n: only models 3 and 4 run, earlier lines untouched
    recs5 = run_sweep("tiny_sweep", "digits", 5, seed=5, recipe=RECIPE, store=store, progress=False)
    assert [r["model_id"] for r in recs5] == [0, 1, 2, 3, 4]
    assert store.read_bytes().startswith(first)
    # idempotent: nothing re-run
    size = store.stat().st_size
    run_sweep("tiny_sweep", "digits", 5, seed=5, recipe=RECIPE, store=store, progress=False)
    assert store.stat().st_size == size and len(store.read_text().splitlines()) == 5
    assert len(pd.read_parquet(store.with_suffix(".parquet"))) == 5
    # same seed in another store reproduces configs and errors exactly
    again = run_sweep(TINY, "digits", 2, seed=5, recipe=RECIPE, store=tmp_path / "b.jsonl",
                      progress=False)
    assert [(r["config"], r["error"]) for r in again] == [(r["config"], r["error"]) for r in recs[:2]]
    # a different recipe is a different sweep in the same store
    other = run_sweep("tiny_sweep", "digits", 1, seed=5, recipe={**RECIPE, "lr": 0.01},
                      store=store, progress=False)
    assert other[0]["sweep"] != recs[0]["sweep"] and len(load_records(store)) == 6


def test_run_sweep_bad_inputs(tmp_path, tiny_registered):
    kw = dict(recipe=RECIPE, store=tmp_path / "x.jsonl", progress=False)
    with pytest.raises(ValueError, match="executor"):
        run_sweep("tiny_sweep", "digits", 1, executor="threads", **kw)
    with pytest.raises(ValueError, match="n must"):
        run_sweep("tiny_sweep", "digits", 0, **kw)
    with pytest.raises(ValueError, match="unknown design space"):
        run_sweep("nope", "digits", 1, **kw)
    with pytest.raises(ValueError, match="unknown dataset"):
        run_sweep("tiny_sweep", "nope", 1, **kw)
    with pytest.raises(ValueError, match="unknown recipe"):
        run_sweep("tiny_sweep", "digits", 1, recipe={"epoch": 1}, store=tmp_path / "y.jsonl")
    with pytest.raises(ValueError, match="plugin"):
        run_sweep("tiny_sweep", "digits", 1, plugins=["no_such_module_xyz"], **kw)


def test_store_folder_must_exist_and_nothing_is_created(tmp_path, tiny_registered, capsys):
    from spdnas.cli import main

    missing = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match=f"store folder not found: {missing}"):
        run_sweep("tiny_sweep", "digits", 1, recipe=RECIPE, store=missing / "s.jsonl", progress=False)
    assert not (tmp_path / "no").exists()
    rc = main(["sweep", "--space", "tiny_sweep", "-n", "1", "--store", str(missing / "s.jsonl"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err == f"spdnas sweep: error: store folder not found: {missing} " \
        "(create it or choose another store)\n"
    assert not (tmp_path / "no").exists()
    with pytest.raises(FileNotFoundError, match="store folder not found"):
        with ResultStore(missing / "s.jsonl").lock():
            pass


@pytest.mark.parametrize("call", [
    lambda store: run_sweep("tiny_sweep", "nope", 1, recipe=RECIPE, store=store, progress=False),
    lambda store: run_sweep("nope", "digits", 1, recipe=RECIPE, store=store, progress=False),
    lambda store: run_sweep("tiny_sweep", "digits", 1, recipe={"epoch": 1}, store=store, progress=False),
    lambda store: run_sweep("tiny_sweep", "digits", 1, recipe=RECIPE, store=store, executor="threads"),
    lambda store: run_sweep("tiny_sweep", "digits", 1, recipe=RECIPE, store=store, progress=False,
                            dataset_kwargs={"nonsense": 1}),
])
def test_failed_sweep_leaves_no_lock_file(tmp_path, tiny_registered, call):
    store = tmp_path / "v.jsonl"
    with pytest.raises(ValueError):
        call(store)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_failed_sweep_at_filesystem_root_creates_nothing_there(tiny_registered):
    store = Path("/") / f"spdnas-test-{uuid.uuid4().hex}.jsonl"
    made = [store, store.with_name(store.name + ".lock")]
    try:
        with pytest.raises(ValueError, match="unknown dataset"):
            run_sweep("tiny_sweep", "nope", 1, recipe=RECIPE, store=store, progress=False)
        assert not [p for p in made if p.exists()]
    finally:
        for p in made:  # (only if the check above failed)
            if p.exists():
                p.unlink()


def test_lock_file_kept_with_records_and_removed_without(tmp_path):
    st = ResultStore(tmp_path / "s.jsonl")
    with st.lock():
        assert st.lock_path.exists()
    assert not st.lock_path.exists()  # nothing stored
    with st.lock():
        st.append(_record(0))
    assert st.lock_path.exists()
    with st.lock():  # the kept file still locks
        with pytest.raises(ValueError, match="another process"):
            with ResultStore(st.path).lock():
                pass


class BadBuildSpace(AnyNetSpace):
    """Every build raises a bad-input error and leaves one line in ``log`` per attempt."""

    def __init__(self, log):
        super().__init__("bad_build_p", "res_basic", [1], [4])
        self.log = str(log)

    def build(self, config, dataset_info):
        with open(self.log, "a") as fh:
            fh.write("attempt\n")
        raise ValueError("config cannot be built")


def test_process_executor_does_not_retry_bad_inputs(tmp_path):
    log = tmp_path / "attempts.txt"
    with pytest.raises(RuntimeError, match=r"2 of 2 models failed \(model 0: ValueError: config cannot be built"):
        run_sweep(BadBuildSpace(log), "digits", 2, recipe=RECIPE, store=tmp_path / "p.jsonl",
                  executor="process", workers=2, retries=2, progress=False)
    assert log.read_text().count("attempt") == 2  # once per model, not 1 + retries


def test_process_executor_sweep(tmp_path):
    recs = run_sweep(TINY, "digits", 3, seed=1, recipe=RECIPE, store=tmp_path / "p.jsonl",
                     executor="process", workers=2, progress=False)
    assert [r["model_id"] for r in recs] == [0, 1, 2]
    inline = run_sweep(TINY, "digits", 3, seed=1, recipe=RECIPE, store=tmp_path / "i.jsonl",
                       progress=False)
    assert [r["config"] for r in recs] == [r["config"] for r in inline]
    assert [r["params"] for r in recs] == [r["params"] for r in inline]


def test_cli_sweep_and_spaces(tmp_path, tiny_registered, capsys):
    from spdnas.cli import COMMANDS, main

    assert {"sweep", "spaces"} <= set(COMMANDS)
    store = tmp_path / "cli.jsonl"
    rc = main(["sweep", "--space", "tiny_sweep", "--dataset", "digits", "-n", "2", "--seed", "0",
               "--store", str(store), "--recipe", json.dumps(RECIPE), "--epochs", "1",
               "--no-progress"])
    assert rc == 0 and "2 models" in capsys.readouterr().out
    assert len(load_records(store)) == 2
    assert main(["sweep", "--space", "nope", "-n", "1", "--store", str(store)]) == 2
    assert "unknown design space" in capsys.readouterr().err
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    assert "resnet" in out and "1,259,712" in out
    with pytest.raises(SystemExit):
        main(["sweep", "--space", "resnet"])  # missing -n/--store


# ---------------------------------------------------------------- scheduling


def test_largest_first_orders_by_cost_with_stable_ties():
    from spdnas.sweep.runner import largest_first

    class Space:
        def cost(self, config, info):
            if config == "bad":
                raise ValueError("no cost")
            return config * info["scale"]

    sp = Space()
    tasks = [{"space": sp, "config": c, "model_id": i} for i, c in enumerate([1, 5, "bad", 5, 2])]
    out = largest_first(tasks, {"scale": 2.0})
    assert [t["model_id"] for t in out] == [1, 3, 4, 0, 2]
    assert [t["cost"] for t in out] == [10.0, 10.0, 4.0, 2.0, 0.0]
    assert "cost" not in tasks[0]  # inputs untouched


def test_default_cost_is_flops():
    info = {"in_channels": 1, "image_size": 8, "num_classes": 10}
    cfg = TINY.sample(np.random.default_rng(0))
    assert TINY.cost(cfg, info) == float(TINY.flops(cfg, info))
