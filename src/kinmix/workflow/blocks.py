"""The statistics of one block of variants for one group of traits: LMM, GLMM and
multi-trait scans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..impute import mean_impute
from ..kernel.exact import fixed_delta_statistics, pvalues
from .groups import TraitGroup
from .options import ScanOptions

#: Likelihood of the GLMM null of each non-normal trait type.
_LIKELIHOODS = {"binary": "bernoulli", "count": "poisson", "binomial": "binomial"}


# -- the tests of a GLMM trait's scan ----------------------------------------------------------
def glmm_statistics(
    chi2_lrt: np.ndarray, se: np.ndarray, *, n: int, covariates: int, test: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Statistic, p-value and SE of ``test`` from the LRT of the Normal scan on EP sites.

    The scan profiles the scale by ML at the null δ, so the kernel's closed forms
    (:func:`kinmix.kernel.exact.fixed_delta_statistics`) apply; the F test's SE uses the
    residual variance on :math:`n - c - 1` degrees of freedom.
    """
    if test == "lrt":
        statistic = chi2_lrt
    else:
        statistic = fixed_delta_statistics(chi2_lrt, n, covariates)[test]
    if test == "f":
        se = se * np.sqrt(n / (n - covariates - 1))
    return statistic, pvalues(statistic, test, n, covariates), se


@dataclass(frozen=True)
class GlmmNull:
    """A non-normal trait's null, fitted once per kinship: the EP sites ``eta, tau`` of
    :class:`~kinmix.glmm.GLMMExpFam`, the free coordinates ``free`` of the
    :class:`~kinmix.glmm.GLMMNormal` fitted on them (what a checkpoint stores), and that
    model's scanner (None until :func:`restore_glmm_null` rebuilds it)."""

    eta: np.ndarray
    tau: np.ndarray
    free: dict[str, np.ndarray]
    scanner: Any = None


def fit_glmm_nulls(
    Y: np.ndarray,
    X: np.ndarray,
    group: TraitGroup,
    QS: Any,
    options: ScanOptions,
    trials: np.ndarray | None,
) -> list[GlmmNull]:
    """The GLMM null of each trait of ``group`` (EP, then the Normal model on its sites)."""
    from ..glmm import GLMMExpFam, GLMMNormal

    Xg = X[group.rows]
    nulls = []
    for j in group.columns:
        lik: tuple = (_LIKELIHOODS[options.trait_type],)
        if options.trait_type == "binomial":
            lik = (lik[0], trials[group.rows])
        glmm = GLMMExpFam(Y[group.rows, j], lik, Xg, QS)
        glmm.fit(verbose=False)
        normal = GLMMNormal(glmm.site.eta, glmm.site.tau, Xg, QS)
        normal.fit(verbose=False)
        nulls.append(_with_scanner(normal))
    return nulls


def restore_glmm_null(stored: GlmmNull, X: np.ndarray, group: TraitGroup, QS: Any) -> GlmmNull:
    """A stored GLMM null with its scanner rebuilt, bit for bit, without refitting."""
    from ..glmm import GLMMNormal

    normal = GLMMNormal(stored.eta, stored.tau, X[group.rows], QS)
    for name, parameter in normal.parameters().items():
        parameter.free = stored.free[name]
    return _with_scanner(normal)


def _with_scanner(normal: Any) -> GlmmNull:
    free = {name: parameter.free for name, parameter in normal.parameters().items()}
    return GlmmNull(normal.eta, normal.tau, free, normal.get_fast_scanner())


def prepare_group_scan(
    Y: np.ndarray,
    X: np.ndarray,
    E: pd.DataFrame | None,
    group: TraitGroup,
    QS: Any,
    options: ScanOptions,
    deltas: list,
) -> Any:
    """The :class:`kinmix.gwas.PreparedScan` of one group's continuous traits: validated
    once per kinship, with ``deltas`` the null δ of its traits fitted in the null step (by
    ML with ``refit_delta``, whose exact tests compare with the ML null:
    :func:`~kinmix.workflow.tasks.null_heritability`)."""
    from ..gwas import prepare_scan

    Yg = pd.DataFrame(Y[np.ix_(group.rows, group.columns)], columns=group.traits)
    return prepare_scan(
        Yg,
        X[group.rows],
        QS,
        interaction=None if E is None else E.iloc[group.rows].reset_index(drop=True),
        # GEMMA's exact tests compare with the ML null whatever --null says.
        restricted=options.null == "reml" and not options.refit_delta,
        deltas=deltas,
        test=options.test,
        refit_delta=options.refit_delta,
    )


def scan_block(
    block: np.ndarray,
    group: TraitGroup,
    options: ScanOptions,
    covariates: int,
    prepared: Any = None,
    glmms: list[GlmmNull] | None = None,
    own_block: bool = False,
) -> pd.DataFrame:
    """Statistics of one block of variants for the traits of one group (variant-major):
    through ``prepared`` (:func:`prepare_group_scan`) for continuous traits, through the
    GLMM nulls ``glmms`` (:func:`fit_glmm_nulls`) for a non-normal trait type. With
    ``own_block`` (a block read for this group alone, on all its rows), its missing dosages
    are imputed in place rather than in a copy."""
    G = block if own_block else block[group.rows]
    if options.trait_type != "continuous":
        return _scan_glmm(G, group, glmms, covariates, options.test)
    return prepared.table(G, overwrite=True).drop(columns=["variant"])


def _scan_glmm(
    G: np.ndarray, group: TraitGroup, glmms: list[GlmmNull], covariates: int, test: str
) -> pd.DataFrame:
    """The fixed-δ scan of each trait's Normal model on its EP sites (nulls given)."""
    n, m = G.shape
    G, nobs, means = mean_imputed(G)
    frames = []
    for trait, null in zip(group.traits, glmms, strict=True):
        result = null.scanner.fast_scan(G, verbose=False)
        chi2 = np.maximum(2 * (result["lml"] - null.scanner.null_lml()), 0.0)
        statistic, pvalue, se = glmm_statistics(
            chi2, result["effsizes1_se"], n=n, covariates=covariates, test=test
        )
        frames.append(
            pd.DataFrame(
                {
                    "trait": trait,
                    "n": nobs,
                    "af": means / 2,
                    "beta": result["effsizes1"],
                    "se": se,
                    "chi2": statistic,
                    "pvalue": pvalue,
                    "lml": result["lml"],
                    "scale": result["scale"],
                    "reason": pd.Series([None] * m, dtype=object),
                }
            )
        )
    # variant-major, like kinmix.scan
    stacked = pd.concat(frames, keys=range(len(frames)), names=["_t", "_v"]).reset_index()
    return stacked.sort_values(["_v", "_t"]).drop(columns=["_t", "_v"]).reset_index(drop=True)


def group_joint_null(Y: np.ndarray, X: np.ndarray, group: TraitGroup, QS: Any) -> Any:
    """The multi-trait null (Kron2Sum, ML, full-rank trait covariances) and its scanner."""
    from ..lmm import joint_null

    return joint_null(Y[np.ix_(group.rows, group.columns)], X[group.rows], QS)


def joint_block(block: np.ndarray, scanner: Any, group: TraitGroup, test: str) -> pd.DataFrame:
    """One block's rows of the multi-trait test (mean-imputed dosages)."""
    from ..lmm import joint_table

    G, nobs, means = mean_imputed(block[group.rows])
    table = joint_table(scanner, G, test=test, traits=group.traits).reset_index(drop=True)
    table.insert(0, "af", means / 2)
    table["n"] = nobs
    return table


def mean_imputed(G: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A mean-imputed copy of the dosages (:func:`kinmix.impute.mean_impute`), the counts of
    observed dosages and the means; a variant with none stays NaN (so do its statistics)."""
    G = np.array(G, dtype=np.float64)
    imputed = mean_impute(G, empty=np.nan)
    return G, imputed.nobs, imputed.mean
