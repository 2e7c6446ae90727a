"""Likelihood objects from the seed's tuple form, ``("binomial", ntrials)`` and the like."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..constants import QUADRATURE_NODES
from ..errors import InputError
from ._prod import BernoulliProdLik, BinomialProdLik, PoissonProdLik, ProbitProdLik, ProdLik

__all__ = ["make_lik"]

_NAMES = ("bernoulli", "probit", "binomial", "poisson")


def make_lik(lik: Any, n_int: int = QUADRATURE_NODES) -> ProdLik:
    """Likelihood object from the seed's tuple form.

    Parameters
    ----------
    lik
        ``("bernoulli",)``, ``("probit",)``, ``("binomial", ntrials)``, ``("poisson",)``
        (names case-insensitive; a bare string works for the one-item forms), or a
        :class:`kinmix.lik.ProdLik` instance, returned as is.
    n_int
        Largest number of quadrature nodes per site.

    Raises
    ------
    InputError
        For an unknown name, or ``ntrials`` missing or given where not expected.
    """
    if isinstance(lik, ProdLik):
        return lik
    if isinstance(lik, str):
        lik = (lik,)
    if not isinstance(lik, Sequence) or not lik or not isinstance(lik[0], str):
        raise InputError(
            "lik must be a tuple whose first item is a likelihood name, e.g. ('bernoulli',) "
            f"or ('binomial', ntrials); got {lik!r}."
        )
    name, extra = lik[0].lower(), tuple(lik[1:])
    if name not in _NAMES:
        raise InputError(f"lik name must be one of {', '.join(_NAMES)}; got {lik[0]!r}.")
    if name == "binomial":
        if len(extra) != 1:
            raise InputError(
                "lik for the binomial likelihood must be ('binomial', ntrials) with one array "
                f"of numbers of trials; got {len(extra)} extra item(s)."
            )
        return BinomialProdLik(extra[0], nodes=n_int)
    if extra:
        raise InputError(f"lik ({name!r},) takes no extra items; got {len(extra)}.")
    if name == "probit":
        return ProbitProdLik(nodes=n_int)
    if name == "poisson":
        return PoissonProdLik(nodes=n_int)
    return BernoulliProdLik(nodes=n_int)
