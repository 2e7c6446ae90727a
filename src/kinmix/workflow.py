r"""The single-trait GWAS workflow: heritability and leave-one-chromosome-out scans.

LOCO: when variant :math:`g` on chromosome :math:`c` is tested, the kinship is built from
the other chromosomes only, so that :math:`g` (and the variants in linkage with it) is not
also part of the random effect — which would absorb part of its signal ("proximal
contamination") and deflate its test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .grm import grm
from .linalg import economic_qs
from .lmm import LinearMixedModel


@dataclass(frozen=True)
class H2Estimate:
    r"""REML heritability of one trait (:func:`estimate_h2`).

    Attributes
    ----------
    h2, h2_se : float
        :math:`h^2 = \sigma^2/(\sigma^2+\tau^2)` and its standard error (Hail's
        ``h_sq``, ``h_sq_standard_error``).
    delta : float
        :math:`\delta = 1 - h^2`, limix's parametrisation.
    scale : float
        :math:`\sigma^2 + \tau^2`.
    beta : numpy.ndarray
        Fixed effects at the REML optimum, one per column of ``X``.
    lml : float
        The restricted log-likelihood at the optimum (``LMM(..., restricted=True).lml()``).
    n, k : int
        Sample size and number of non-zero eigenvalues of the kinship.

    ``estimate["h2"]`` reads a field as the seed's dict did.
    """

    h2: float
    h2_se: float
    delta: float
    scale: float
    beta: np.ndarray
    lml: float
    n: int
    k: int

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)


def estimate_h2(y: Any, X: Any, K: Any) -> H2Estimate:
    r"""REML heritability of ``y`` given covariates ``X`` and a kinship ``K``.

    Fits :math:`y \sim N(X\beta, \sigma^2K + \tau^2I)` by REML (Hail's
    :class:`~kinmix.lmm.LinearMixedModel`, which validates the arguments: ``X`` may be
    any (n, c) array-like, a 1-D ``X`` is one covariate) and returns an
    :class:`H2Estimate`.
    """
    model, _ = LinearMixedModel.from_kinship(y, X, K)
    model.fit()
    return H2Estimate(
        h2=model.h_sq,
        h2_se=model.h_sq_standard_error,
        delta=1.0 / (1.0 + model.gamma),
        scale=model.sigma_sq + model.tau_sq,
        beta=np.asarray(model.beta),
        lml=model.restricted_log_likelihood(),
        n=model.n,
        k=int(np.sum(model.s > 0)),
    )


def loco_scan(genotypes: Any, y: np.ndarray, X: np.ndarray) -> pd.DataFrame:
    """Scan every variant of a :class:`kinmix.io.plink.PlinkGenotypes` with LOCO kinships.

    Returns the table ``chrom, pos, variant, a1, a2, af, n, beta, se, chi2, pvalue, lml,
    scale, reason`` in file order.
    """
    from .gwas import scan

    variants = genotypes.variants
    tables = []
    for chrom in pd.unique(variants["chrom"]):
        on_chrom = (variants["chrom"] == chrom).to_numpy()
        if on_chrom.all():
            raise InputError(
                f"LOCO needs variants on at least two chromosomes; all are on {chrom}."
            )
        K = grm(genotypes.read()[:, ~on_chrom])
        # REML for the null δ: a centred GRM has 1 in its null space, where the intercept
        # makes the maximum likelihood degenerate as δ → 0 (see kinmix.lmm.LMM).
        table = scan(
            genotypes.read(on_chrom),
            y,
            X,
            economic_qs(K),
            restricted=True,
            variants=variants.loc[on_chrom, "variant"].tolist(),
        )
        info = variants.loc[on_chrom, ["chrom", "pos", "a1", "a2"]].reset_index(drop=True)
        tables.append(pd.concat([info, table], axis=1))
    results = pd.concat(tables, ignore_index=True)
    order = ["chrom", "pos", "variant", "a1", "a2"]
    return results[order + [c for c in results.columns if c not in order]]
