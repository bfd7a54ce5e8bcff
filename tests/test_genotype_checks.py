"""The genotype validation shared by spdnas.nas.genotype and spdnas.spaces.cells."""

from collections import namedtuple

import numpy as np
import pytest

from spdnas import genotype_checks as C
from spdnas.nas import genotype as nas_genotype
from spdnas.spaces import cells


def test_pairs_and_concat_canonical_forms():
    pairs = C.check_pairs([("a", np.int64(0)), ["b", 1], ["a", 2], ["b", 0]], "normal", lambda j: ("", {"a", "b"}))
    assert pairs == [["a", 0], ["b", 1], ["a", 2], ["b", 0]] and all(type(j) is int for _, j in pairs)
    assert C.check_concat((3, np.int32(2)), "normal", 2) == [2, 3]
    G = namedtuple("G", "normal normal_concat reduce reduce_concat")
    assert C.genotype_dict(G(1, 2, 3, 4)) == {"normal": 1, "normal_concat": 2, "reduce": 3, "reduce_concat": 4}


@pytest.mark.parametrize("call,msg", [
    (lambda: C.genotype_dict([1]), "must be a dict"),
    (lambda: C.genotype_dict({"normal": [], "reduce": [], "x": 1}), "unknown genotype keys"),
    (lambda: C.genotype_dict({"normal": []}), "missing 'reduce'"),
    (lambda: C.check_pairs([["a", 0]], "normal", lambda j: ("", {"a"})), "two \\[op, input\\] pairs"),
    (lambda: C.check_pairs([["a", 0], "b"], "normal", lambda j: ("", {"a"})), "\\[1\\] must be an \\[op, input\\]"),
    (lambda: C.check_pairs([["a", 0], ["a", 2]], "normal", lambda j: ("", {"a"})), "input 2 must be an int in \\[0, 2\\)"),
    (lambda: C.check_pairs([["a", 0], ["a", True]], "normal", lambda j: ("", {"a"})), "input True"),
    (lambda: C.check_pairs([["a", 0], ["z", 1]], "reduce", lambda j: ("reduce", {"a"})), "unknown reduce op 'z'"),
    (lambda: C.check_concat([], "normal", 2), "non-empty"),
    (lambda: C.check_concat([2, 4], "normal", 2), "ints in \\[2, 4\\)"),
    (lambda: C.check_concat([2, 2], "reduce", 2), "'reduce_concat'\\] has duplicate"),
])
def test_errors_name_the_entry(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


def test_both_genotype_kinds_report_the_same_way():
    with pytest.raises(ValueError, match=r"genotype\['normal'\]\[1\]: input 5"):
        nas_genotype.normalize_genotype(dict(nas_genotype.RADAR_SPARSEMAX, normal=[["Skip", 0], ["Skip", 5]] * 2))
    with pytest.raises(ValueError, match=r"genotype\['normal'\]\[1\]: input 5"):
        cells.normalize_genotype({"normal": [["skip_connect", 0], ["skip_connect", 5]], "reduce": [["skip_connect", 0]] * 2})
