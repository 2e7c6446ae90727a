"""Likelihoods of generalised linear (mixed) models, with the tilted moments EP needs.

BernoulliProdLik  Bernoulli outcomes (logit or probit link).
ProbitProdLik     Bernoulli outcomes with the probit link (closed-form tilted moments).
BinomialProdLik   Numbers of successes out of ``ntrials`` (logit or probit link).
PoissonProdLik    Counts (log link).
NormalProdLik     Gaussian outcomes (identity link), EP's exact special case.
"""

from ._parse import make_lik
from ._prod import (
    BernoulliProdLik,
    BinomialProdLik,
    NormalProdLik,
    PoissonProdLik,
    ProbitProdLik,
    ProdLik,
)
from ._tilted import TiltedMoments

__all__ = [
    "BernoulliProdLik",
    "BinomialProdLik",
    "NormalProdLik",
    "PoissonProdLik",
    "ProbitProdLik",
    "ProdLik",
    "TiltedMoments",
    "make_lik",
]
