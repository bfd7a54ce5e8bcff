"""spdnas.spd.runtime: the settings, worker threads and eigensolver backend of the spectral functions.

The settings moved out of spdnas.spd.functional; functional re-exports them (same objects) and reads
the state through runtime's functions, so there is one copy of every setting.
"""

import ast
import sys
from pathlib import Path

import pytest
import torch

import spdnas.spd as S
from spdnas.spd import functional as F
from spdnas.spd import runtime as R

# runtime's public names that functional re-exports (its public settings API before the move)
REEXPORTED = [
    "set_checks", "checks", "checks_enabled", "thread_settings", "use_settings", "run_concurrently",
    "set_eigh_workers", "eigh_workers", "set_eigh_backend", "eigh_backend", "EIGH_BACKENDS",
    "set_fast_divided_differences", "fast_divided_differences",
    "set_product_backend", "product_backend", "PRODUCT_BACKENDS",
]
# public in runtime for the other spd modules (functional, parallel, products), not part of functional's API
RUNTIME_ONLY = ["fast_divided_differences_enabled", "workers", "spectral_eigh", "EIGH_MIN_CHUNK", "map_rows",
                "fan_out", "product_backend_name"]


def test_public_names_are_reexported_by_functional_as_the_same_objects():
    assert sorted(R.__all__) == sorted(REEXPORTED + RUNTIME_ONLY)
    assert all(hasattr(R, n) for n in R.__all__)
    for name in REEXPORTED:
        assert name in F.__all__, name
        assert getattr(F, name) is getattr(R, name), name
    assert S.set_checks is R.set_checks and S.checks is R.checks
    # every name functional lists is there, and the moved ones are exactly runtime's
    assert all(hasattr(F, n) for n in F.__all__)
    assert [n for n in F.__all__ if n in R.__all__] == [n for n in F.__all__ if n in REEXPORTED]


def test_mutable_state_lives_only_in_runtime():
    for name in ("_CHECKS", "_FAST_DD", "_EIGH_WORKERS", "_EIGH_BACKEND", "_EIGH_POOL", "_LOCAL"):
        assert hasattr(R, name), name
        assert not hasattr(F, name), name


def _imports(path):
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.module
            else:  # relative: level 1 is runtime's own package, spdnas.spd
                assert node.level == 1, f"runtime imports from outside spdnas.spd (level {node.level})"
                for m in [node.module] if node.module else [a.name for a in node.names]:
                    yield f"spdnas.spd.{m}"


def test_runtime_imports_only_stdlib_torch_numpy_and_spd_modules():
    names = list(_imports(R.__file__))
    assert names
    for name in names:
        top = name.split(".")[0]
        if top == "spdnas":
            assert name.startswith("spdnas.spd."), name
            assert name != "spdnas.spd.functional", "runtime must not depend on functional (functional imports it)"
        else:
            assert top in sys.stdlib_module_names or top in ("torch", "numpy"), name


def test_set_checks_through_functional_toggles_runtime_and_functional_behaviour():
    bad = -torch.eye(3, dtype=torch.float64)[None]
    old = R.checks_enabled()
    try:
        F.set_checks(False)
        assert not R.checks_enabled() and not F.checks_enabled()
        F.check_spd(bad)  # value checks off: no error
        F.set_checks(True)
        assert R.checks_enabled()
        with pytest.raises(ValueError, match="positive definite"):
            F.check_spd(bad)
        with F.checks(False):  # the thread override, too
            assert not R.checks_enabled()
            F.check_spd(bad)
        assert R.checks_enabled()
    finally:
        F.set_checks(old)


def test_other_settings_through_functional_reach_runtime():
    old = F.thread_settings()  # the global defaults (no override in this thread)
    try:
        F.set_fast_divided_differences(True)
        assert R.fast_divided_differences_enabled() and R.thread_settings()["fast"]
        F.set_eigh_workers(3)
        assert R.workers() == 3
        F.set_eigh_backend("torch")
        assert F.thread_settings()["backend"] == "torch"
    finally:
        F.set_fast_divided_differences(old["fast"])
        F.set_eigh_workers(old["workers"])
        F.set_eigh_backend(old["backend"])
    assert F.thread_settings() == old
