"""Design spaces: a string registry of declarative model populations (NDS-style).

Image spaces: ``vanilla``, ``resnet``, ``resnext_a``, ``resnext_b`` (AnyNet, 3 stages) and the
NAS cell spaces ``nasnet``, ``amoeba``, ``pnas``, ``enas``, ``darts``. SPD spaces register
themselves from ``spdnas.spaces.spd`` (imported lazily on first lookup) via
:func:`register_space`.
"""

from .base import SPACES, DesignSpace, check_dataset_info, get_space, list_spaces, register_space
from .complexity import count_flops, count_params
from .anynet import AnyNetSpace, resnet_cifar_config
from .cells import (
    OPS,
    NASCellSpace,
    build_cell_network,
    cell_network_complexity,
    in_billions,
    normalize_genotype,
    num_cells,
    register_op,
)

__all__ = [
    "SPACES", "DesignSpace", "AnyNetSpace", "NASCellSpace", "OPS",
    "get_space", "list_spaces", "register_space", "register_op", "check_dataset_info",
    "count_flops", "count_params", "resnet_cifar_config", "build_cell_network",
    "cell_network_complexity", "normalize_genotype", "num_cells", "in_billions",
]
