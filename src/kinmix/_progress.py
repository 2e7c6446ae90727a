"""Optional progress bars (tqdm, on stderr) for long loops; silent unless asked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T], enabled: bool, desc: str) -> Iterable[T]:
    """``iterable`` wrapped in a tqdm bar when ``enabled`` and tqdm is installed."""
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, unit="block")
