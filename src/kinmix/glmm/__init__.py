"""Generalised linear mixed models: :class:`GLMMExpFam` (EP) and :class:`GLMMNormal`."""

from ..ep import Sites
from ._expfam import GLMMExpFam
from ._normal import GLMMNormal

__all__ = ["GLMMExpFam", "GLMMNormal", "Sites"]
