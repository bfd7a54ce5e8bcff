"""The one progress-bar wrapper (tqdm) of long loops."""

from __future__ import annotations

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(iterable, enabled: bool, desc: str, total=None):
    """``iterable`` wrapped in a transient tqdm bar when ``enabled``, else unchanged."""
    if not enabled:
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False)
