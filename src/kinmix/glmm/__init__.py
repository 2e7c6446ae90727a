"""Generalised linear mixed models: :class:`GLMMExpFam` (EP) and :class:`GLMMNormal`."""

from ._ep import Sites
from ._expfam import GLMMExpFam

__all__ = ["GLMMExpFam", "Sites"]
