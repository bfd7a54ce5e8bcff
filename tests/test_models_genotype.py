"""The genotype format shared by spdnas.nas.genotype and spdnas.models.darts, and the Genotype value type."""

from collections import namedtuple

import numpy as np
import pytest

import copy
import json
import pickle

from spdnas.models import darts
from spdnas.models import genotype as C
from spdnas.nas import genotype as nas_genotype


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
        darts.check_cnn_genotype({"normal": [["skip_connect", 0], ["skip_connect", 5]], "reduce": [["skip_connect", 0]] * 2})


def test_genotype_is_parsed_once_and_read_only():
    g = nas_genotype.normalize_genotype(nas_genotype.RADAR_SPARSEMAX.to_dict())
    assert isinstance(g, C.Genotype) and g.family == "spd" and g.steps == 2
    assert nas_genotype.normalize_genotype(g) is g  # parsed once: handed back unchanged
    assert g == nas_genotype.RADAR_SPARSEMAX.to_dict() and type(g.to_dict()) is dict
    assert g.cell("reduce") == g["reduce"] and g.concat("normal") == [2, 3]
    assert json.loads(json.dumps(g)) == g
    for clone in (pickle.loads(pickle.dumps(g)), copy.deepcopy(g)):
        assert isinstance(clone, C.Genotype) and clone.family == "spd" and clone == g
    with pytest.raises(TypeError, match="read-only"):
        g["normal"] = []
    with pytest.raises(TypeError, match="read-only"):
        g.update(normal=[])
    # a genotype of the CNN family is parsed again (and rejected) as an SPD genotype
    cnn = darts.check_cnn_genotype({"normal": [["skip_connect", 0]] * 2, "reduce": [["skip_connect", 1]] * 2})
    assert cnn.family == "cnn" and darts.check_cnn_genotype(cnn) is cnn
    with pytest.raises(ValueError, match="unknown"):
        nas_genotype.normalize_genotype(cnn)
