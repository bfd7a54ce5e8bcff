"""Name keys and additions shared by the string registries (datasets, design spaces, sweep data)."""

from __future__ import annotations

__all__ = ["registry_key", "add_entry"]


def registry_key(name, what: str) -> str:
    """Canonical key of a registry name: stripped, lower case, '-' read as '_'."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} name must be a non-empty string, got {name!r}")
    return name.strip().lower().replace("-", "_")


def add_entry(table: dict, name, entry, what: str, *, overwrite: bool = False) -> str:
    """Put ``entry`` under ``registry_key(name)``; a different entry already there needs ``overwrite``."""
    key = registry_key(name, what)
    if key in table and table[key] is not entry and not overwrite:
        raise ValueError(f"{what} {key!r} is already registered (pass overwrite=True)")
    table[key] = entry
    return key
