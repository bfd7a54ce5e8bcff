"""Design spaces: declarative model populations (NDS-style) and their string registry.

Image spaces: ``vanilla``, ``resnet``, ``resnext_a``, ``resnext_b`` (AnyNet, 3 stages) and the
NAS cell spaces ``nasnet``, ``amoeba``, ``pnas``, ``enas``, ``darts``; SPD spaces: ``spdnet`` and
``spdnetnas`` with its cell variants ``spdnetnas_<variant>`` (:data:`CELL_VARIANTS`). The
networks themselves live in :mod:`spdnas.models` and :mod:`spdnas.nas`.
"""

from .anynet import AnyNetSpace
from .base import DesignSpace, check_dataset_info
from .cells import NASCellSpace, in_billions, num_cells
from .registry import SPACES, get_space, list_spaces, register_space
from .spd import CELL_VARIANTS, SPDNetNASSpace, SPDNetSpace, cell_variant_ops, spd_info

__all__ = [
    "SPACES", "DesignSpace", "AnyNetSpace", "NASCellSpace", "SPDNetSpace", "SPDNetNASSpace", "CELL_VARIANTS",
    "get_space", "list_spaces", "register_space", "check_dataset_info", "cell_variant_ops", "spd_info",
    "num_cells", "in_billions",
]
