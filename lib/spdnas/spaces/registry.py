"""The named design spaces (pycls-style string registry), listed explicitly.

:data:`SPACES` is filled here from the space tables of :mod:`.anynet`, :mod:`.cells` and
:mod:`.spd`; nothing registers itself at import. Add a space at run time with
:func:`register_space` (an instance, or a DesignSpace subclass built with no arguments)::

    from spdnas.spaces import DesignSpace, register_space

    @register_space("myspace")
    class MySpace(DesignSpace):
        ...
"""

from __future__ import annotations

from ..core.registry import add_entry, registry_key
from .anynet import ANYNET_SPACES
from .base import DesignSpace
from .cells import CELL_SPACES
from .spd import SPD_SPACES

__all__ = ["SPACES", "register_space", "get_space", "list_spaces"]

SPACES: dict[str, DesignSpace] = {sp.name: sp for sp in (*ANYNET_SPACES, *CELL_SPACES, *SPD_SPACES)}


def register_space(name: str, space=None, *, overwrite: bool = False):
    """Register ``space`` (instance or no-arg class) under ``name``; usable as a decorator."""
    key = registry_key(name, "space")

    def _do(obj):
        inst = obj() if isinstance(obj, type) else obj
        if not isinstance(inst, DesignSpace):
            raise ValueError(f"space {name!r} must be a DesignSpace, got {type(inst).__name__}")
        if not getattr(inst, "name", None):
            inst.name = key
        add_entry(SPACES, key, inst, "space", overwrite=overwrite)
        return obj

    return _do if space is None else _do(space)


def get_space(name: str) -> DesignSpace:
    """Look up a space by name (case-insensitive, '-' == '_')."""
    key = registry_key(name, "space")
    if key not in SPACES:
        raise ValueError(f"unknown design space {name!r}; known: {', '.join(sorted(SPACES))}")
    return SPACES[key]


def list_spaces() -> list[str]:
    """Sorted names of all spaces."""
    return sorted(SPACES)
