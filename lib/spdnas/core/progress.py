"""The one progress-bar wrapper (tqdm) of long loops."""

from __future__ import annotations

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(iterable, enabled, desc: str, total=None):
    """``iterable`` wrapped in a transient tqdm bar when ``enabled`` is true, else unchanged.

    ``enabled`` may also be an open tqdm bar shared by several loops (one bar, one ETA over all
    the units of a study): it then takes ``desc`` and advances by one after each item.
    """
    if hasattr(enabled, "update"):
        return _advance(iterable, enabled, desc)
    if not enabled:
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False)


def _advance(iterable, bar, desc: str):
    bar.set_description(desc)
    for item in iterable:
        yield item
        bar.update(1)
