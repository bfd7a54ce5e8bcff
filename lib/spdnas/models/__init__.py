"""Euclidean image networks with exact analytic complexity, and the DARTS genotype format.

:mod:`.anynet` (the NDS AnyNet stem/stages/head), :mod:`.cnn_ops` (the CNN cell ops),
:mod:`.darts` (the DARTS-style cell network), :mod:`.genotype` (genotype checks and the
:class:`Genotype` value type), :mod:`.complexity` (params/flops counting). No registries here:
the design spaces of :mod:`spdnas.spaces` name and sample these models.
"""

from .anynet import AnyNet, resnet_cifar_config
from .cnn_ops import DARTS_OPS, OPS, register_op
from .complexity import count_flops, count_params
from .darts import CellNetwork, build_cell_network, cell_network_complexity, check_cnn_genotype, loose_ends
from .genotype import Genotype

__all__ = [
    "AnyNet", "resnet_cifar_config", "DARTS_OPS", "OPS", "register_op", "count_flops", "count_params",
    "CellNetwork", "build_cell_network", "cell_network_complexity", "check_cnn_genotype", "loose_ends", "Genotype",
]
