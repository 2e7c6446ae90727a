"""The seed's import path of :class:`~kinmix.gp.ExpFamGP` (``kinmix.ggp.ExpFamGP``)."""

from .gp import ExpFamGP

__all__ = ["ExpFamGP"]
