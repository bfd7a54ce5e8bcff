"""Units with dependencies: results passed on, failures isolated, a killed worker process costs only its unit."""

import operator

import pytest

from spdnas.sweep.units import Unit, UnitsFailed, check_executor, critical_path, run_units


def _graph():
    # a=2, b=3, c=a+b, d=c*c, e=10+a (e needs only a: it may run before c)
    return [Unit("d", operator.mul, (), ("c", "c")), Unit("c", operator.add, (), ("a", "b"), cost=3.0),
            Unit("a", operator.pos, (2,)), Unit("b", operator.pos, (3,)), Unit("e", operator.add, (10,), ("a",))]


def test_dependency_results_reach_their_units():
    # process pool and Dask runs of real stage units: tests/test_experiments_executors.py
    assert run_units(_graph(), "inline", progress=False) == {"a": 2, "b": 3, "c": 5, "d": 25, "e": 12}


_ORDER = []


def _log(name, *deps):
    _ORDER.append(name)
    return name


def test_ready_units_start_by_their_critical_path():
    # "search" is cheap but a long training waits for it: it goes before the costlier lone "big"
    units = [Unit("big", _log, ("big",), cost=5.0), Unit("search", _log, ("search",), cost=1.0),
             Unit("train", _log, ("train",), ("search",), cost=10.0), Unit("small", _log, ("small",), cost=0.5)]
    assert critical_path({u.key: u for u in units}) == {"big": 5.0, "search": 11.0, "train": 10.0, "small": 0.5}
    _ORDER.clear()
    run_units(units, "inline", progress=False)
    assert _ORDER == ["search", "train", "big", "small"]


def test_failure_blocks_only_its_dependents():
    units = [Unit("a", operator.truediv, (1, 0), label="divide"), Unit("b", operator.add, (1,), ("a",)),
             Unit("c", operator.pos, (7,))]
    with pytest.raises(UnitsFailed) as ei:
        run_units(units, "inline", progress=False)
    e = ei.value
    assert e.results == {"c": 7}
    assert "ZeroDivisionError" in e.failures["a"] and "dependency divide failed" in e.failures["b"]
    assert "divide: ZeroDivisionError" in str(e)


def test_bad_graphs_and_executors():
    with pytest.raises(ValueError, match="duplicate unit key"):
        run_units([Unit("a", operator.pos, (1,)), Unit("a", operator.pos, (2,))], progress=False)
    with pytest.raises(ValueError, match="unknown unit"):
        run_units([Unit("a", operator.pos, (1,), ("zz",))], progress=False)
    with pytest.raises(ValueError, match="cycle"):
        run_units([Unit("a", operator.pos, (), ("b",)), Unit("b", operator.pos, (), ("a",))], progress=False)
    with pytest.raises(ValueError, match="unknown executor"):
        check_executor("threads")
    assert check_executor("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    with pytest.raises(ValueError, match="workers"):
        run_units([], "process", workers=0)


_DIE_ONCE = "import os, pathlib, signal\np = pathlib.Path({marker!r})\nif not p.exists():\n    p.touch()\n" \
            "    os.kill(os.getpid(), signal.SIGKILL)\n"


def test_killed_worker_costs_only_its_unit(tmp_path):
    marker = tmp_path / "died"
    units = [Unit("k", exec, (_DIE_ONCE.format(marker=str(marker)), {})), Unit("x", operator.pos, (4,)),
             Unit("y", operator.add, (1,), ("x",))]
    res = run_units(units, "process", workers=2, progress=False)
    assert marker.exists() and res == {"k": None, "x": 4, "y": 5}


def test_unit_that_always_kills_its_worker_fails_alone(tmp_path):
    units = [Unit("k", exec, ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", {})),
             Unit("x", operator.pos, (4,))]
    with pytest.raises(UnitsFailed) as ei:
        run_units(units, "process", workers=1, retries=1, progress=False)
    assert ei.value.results == {"x": 4} and "died" in ei.value.failures["k"]


def test_early_units_start_before_the_critical_path_once_ready():
    # a table's cheap baselines go first; an early unit still waits for its own dependencies
    units = [Unit("big", _log, ("big",), cost=5.0), Unit("search", _log, ("search",), cost=1.0),
             Unit("train", _log, ("train",), ("search",), cost=10.0),
             Unit("floor", _log, ("floor",), cost=0.1, early=True),
             Unit("after", _log, ("after",), ("big",), cost=0.1, early=True)]
    _ORDER.clear()
    run_units(units, "inline", progress=False)
    assert _ORDER == ["floor", "search", "train", "big", "after"]
    assert Unit("k", _log, early=True) == Unit("k", _log)  # not part of a unit's identity
