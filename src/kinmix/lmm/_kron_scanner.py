r"""Multi-trait association scan at fixed covariances (:class:`KronFastScanner`,
:func:`joint_scan`).

For a candidate design :math:`\mathrm M_1 = \mathrm A_1\otimes\mathrm X_1` the model

.. math::

    \mathrm{vec}(\mathrm Y) \sim N\bigl(\mathrm M\boldsymbol\beta_0
        + \mathrm M_1\boldsymbol\beta_1,\; s\,\mathrm K\bigr)

keeps :math:`\mathrm K = \mathrm C_0\otimes\mathrm{GG}^\intercal + \mathrm C_1\otimes\mathrm I`
at the null fit and profiles :math:`\boldsymbol\beta_0, \boldsymbol\beta_1` and the scale s:
:math:`\hat s = (\mathbf y^\intercal\mathrm K^{-1}\mathbf y - \hat{\boldsymbol\beta}^\intercal
[\mathrm M, \mathrm M_1]^\intercal\mathrm K^{-1}\mathbf y)/(np)` and
:math:`2\ell = -np\log(2\pi\hat s) - \log|\mathrm K| - np`. The likelihood-ratio statistic
:math:`2(\ell_1 - \ell_0)` is :math:`\chi^2` with :math:`e\cdot m` degrees of freedom
(:math:`\mathrm A_1` has e columns, :math:`\mathrm X_1` m): :math:`\mathrm A_1 = \mathrm I_p`
tests any effect on any trait (p d.o.f.), :math:`\mathrm A_1 = \mathbf 1_p` a common effect
(1 d.o.f.).

Per variant :math:`\mathbf g` only :math:`\mathbf g^\intercal\mathbf g`,
:math:`\mathrm X^\intercal\mathbf g`, :math:`\mathrm Y^\intercal\mathbf g` and
:math:`\mathrm U_x^\intercal\mathbf g` are needed; for a block of variants the last is one
GEMM, :math:`O(nkm)`, and the rest is :math:`O(nm(p + c) + kmp(c + 1))` followed by
:math:`e\times e` Schur complements.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import chdtrc

from .._validate import as_matrix, check_full_column_rank
from ..constants import LOG2PI
from ..errors import InputError
from ..linalg import EconomicSVD
from ._kron2sum import Kron2Sum, KronData, evaluate

#: Variants rotated together in :meth:`KronFastScanner.fast_scan` by default.
DEFAULT_BLOCK_SIZE = 2048


@dataclass(frozen=True)
class KronScanResult:
    r"""Per-variant results of :meth:`KronFastScanner.fast_scan` (m variants, e effects).

    Attributes
    ----------
    lml
        Log-likelihood with the variant, (m,).
    effsizes1, effsizes1_se
        Effect sizes :math:`\boldsymbol\beta_1` and their standard errors, (m, e).
    scale
        Profiled scale :math:`\hat s`, (m,).
    chi2
        :math:`2(\ell_1 - \ell_0)`, (m,).
    dof
        Degrees of freedom e.
    pvalue
        :math:`P(\chi^2_e > \text{chi2})`, (m,).
    """

    lml: np.ndarray
    effsizes1: np.ndarray
    effsizes1_se: np.ndarray
    scale: np.ndarray
    chi2: np.ndarray
    dof: int
    pvalue: np.ndarray


class KronFastScanner:
    r"""Association scan for :class:`Kron2Sum` with :math:`\mathrm K` fixed (see module notes).

    Parameters
    ----------
    Y : array_like, shape (n, p)
        Traits.
    A : array_like, shape (p, q)
        Trait design of the covariates' effects.
    X : array_like, shape (n, c)
        Covariates.
    G : array_like, shape (n, m)
        Factor of :math:`\mathrm{GG}^\intercal`.
    C0, C1 : array_like, shape (p, p)
        Covariances of the null model (usually from :meth:`Kron2Sum.fit`, through
        :meth:`Kron2Sum.get_fast_scanner`).
    """

    def __init__(self, Y: Any, A: Any, X: Any, G: Any, C0: Any, C1: Any) -> None:
        Y = as_matrix(Y, "Y")
        n, p = Y.shape
        A = as_matrix(A, "A")
        X = as_matrix(X, "X", nrows=n)
        G = as_matrix(G, "G", nrows=n)
        C0 = as_matrix(C0, "C0")
        C1 = as_matrix(C1, "C1")
        if A.shape[0] != p or C0.shape != (p, p) or C1.shape != (p, p):
            raise InputError(
                f"A must have {p} rows and C0, C1 must be {p}×{p} (one per trait); got "
                f"A {A.shape}, C0 {C0.shape}, C1 {C1.shape}."
            )
        check_full_column_rank(X, "X")
        svd = EconomicSVD.of(G)
        self._setup(Y, KronData.of(Y, A, X, svd.Ux, svd.Sx), C0, C1, svd, X)

    @classmethod
    def _from_model(cls, Y, X, data, C0, C1, svd) -> KronFastScanner:
        """A scanner sharing a fitted model's reduced data (no new SVD or rotation)."""
        scanner = cls.__new__(cls)
        scanner._setup(Y, data, C0, C1, svd, X)
        return scanner

    def _setup(self, Y, data: KronData, C0, C1, svd: EconomicSVD, X) -> None:
        self._Y = Y
        self._X = X
        self._data = data
        self._svd = svd
        self._state = evaluate(data, C0, C1, restricted=False, gradient=False)
        wh = self._state.whitening
        self._Lh = wh.Lh
        self._w = 1.0 - 1.0 / (1.0 + np.outer(data.Sx, wh.Sh))  # k×p
        self._At = wh.Lh @ data.A
        self._Yr = data.Yr @ wh.Lh.T
        self._Hinv = np.linalg.inv(self._state.H)

    @property
    def _npts(self) -> int:
        return self._data.n * self._data.ntraits

    def _lml(self, scale):
        return -0.5 * (self._npts * (LOG2PI + np.log(scale) + 1.0) + self._state.logdetK)

    # -- null model ----------------------------------------------------------------------
    @cached_property
    def null_beta(self) -> np.ndarray:
        r""":math:`\hat{\boldsymbol\beta}_0 = \mathrm{vec}(\hat{\mathrm B})` under the null."""
        return self._Hinv @ self._state.b

    @cached_property
    def null_scale(self) -> float:
        r""":math:`\hat s_0 = (\mathbf y^\intercal\mathrm K^{-1}\mathbf y -
        \hat{\boldsymbol\beta}_0^\intercal\mathrm M^\intercal\mathrm K^{-1}\mathbf y)/(np)`."""
        return float((self._state.yKiy - self.null_beta @ self._state.b) / self._npts)

    @cached_property
    def null_beta_covariance(self) -> np.ndarray:
        r""":math:`\hat s_0(\mathrm M^\intercal\mathrm K^{-1}\mathrm M)^{-1}`."""
        return self.null_scale * self._Hinv

    @cached_property
    def null_beta_se(self) -> np.ndarray:
        """Standard errors of :attr:`null_beta`."""
        return np.sqrt(np.diagonal(self.null_beta_covariance))

    def null_lml(self) -> float:
        """Log-likelihood of the null model with the scale profiled."""
        return float(self._lml(self.null_scale))

    # -- one candidate set ---------------------------------------------------------------
    def _rotated(self, X1: np.ndarray) -> np.ndarray:
        return self._svd.Ux.T @ X1

    def scan(self, A1: Any, X1: Any) -> dict[str, Any]:
        r"""Fit :math:`\mathrm M_1 = \mathrm A_1\otimes\mathrm X_1` on top of the covariates.

        Parameters
        ----------
        A1 : array_like, shape (p, e)
            Trait design of the candidate effects (identity: any effect; ones: common).
        X1 : array_like, shape (n, m)
            Candidate set (e.g. one or several variants).

        Returns
        -------
        dict
            ``lml``, ``effsizes0`` (c×q), ``effsizes0_se``, ``effsizes1`` (m×e),
            ``effsizes1_se``, ``scale``, as in limix.
        """
        A1 = as_matrix(A1, "A1")
        X1 = as_matrix(X1, "X1", nrows=self._data.n)
        p, c, q = self._data.ntraits, self._data.ncovariates, self._At.shape[1]
        if A1.shape[0] != p:
            raise InputError(f"A1 must have one row per trait ({p}); got shape {A1.shape}.")
        X1X1, XX1, X1Y = X1.T @ X1, self._X.T @ X1, X1.T @ self._Y
        At1 = self._Lh @ A1
        X1r = self._rotated(X1)
        w, Xr = self._w, self._data.Xr
        XVX1 = XX1[None] - np.einsum("kj,ki,kl->jil", w, Xr, X1r)
        X1VX1 = X1X1[None] - np.einsum("kj,ki,kl->jil", w, X1r, X1r)
        X1Vy = X1Y @ self._Lh.T - X1r.T @ (w * self._Yr)
        e, m = At1.shape[1], X1.shape[1]
        H01 = np.einsum("ja,jf,jil->aifl", self._At, At1, XVX1).reshape(q * c, e * m)
        H11 = np.einsum("jf,jg,jil->figl", At1, At1, X1VX1).reshape(e * m, e * m)
        b1 = np.einsum("jf,ij->fi", At1, X1Vy).reshape(e * m)
        H = np.block([[self._state.H, H01], [H01.T, H11]])
        b = np.concatenate([self._state.b, b1])
        beta = np.linalg.lstsq(H, b, rcond=None)[0]
        scale = max(float((self._state.yKiy - beta @ b) / self._npts), np.finfo(float).tiny)
        se = np.sqrt(np.clip(scale * np.diagonal(np.linalg.pinv(H)), 0.0, None))
        return {
            "lml": float(self._lml(scale)),
            "effsizes0": beta[: q * c].reshape(q, c).T,
            "effsizes0_se": se[: q * c].reshape(q, c).T,
            "effsizes1": beta[q * c :].reshape(e, m).T,
            "effsizes1_se": se[q * c :].reshape(e, m).T,
            "scale": scale,
        }

    # -- many variants, one at a time ----------------------------------------------------
    def fast_scan(self, A1: Any, G: Any, *, block_size: int | None = None) -> KronScanResult:
        r"""Test every column of ``G`` on its own, :math:`\mathrm X_1 = \mathbf g_i`.

        Variants are processed in blocks of ``block_size`` columns: one GEMM
        :math:`\mathrm U_x^\intercal\mathrm G_{\text{block}}` per block, then closed forms
        (Schur complements of :math:`\mathrm M^\intercal\mathrm K^{-1}\mathrm M`) per
        variant. Monomorphic variants (no information beyond the covariates) get NaN.
        """
        A1 = as_matrix(A1, "A1")
        G = as_matrix(G, "G", nrows=self._data.n)
        if A1.shape[0] != self._data.ntraits:
            raise InputError(
                f"A1 must have one row per trait ({self._data.ntraits}); got shape {A1.shape}."
            )
        size = DEFAULT_BLOCK_SIZE if block_size is None else int(block_size)
        if size < 1:
            raise InputError(f"block_size must be a positive integer; got {block_size!r}.")
        parts = [self._scan_block(A1, G[:, i : i + size]) for i in range(0, G.shape[1], size)]
        lml, beta, se, scale = (np.concatenate([part[j] for part in parts]) for j in range(4))
        chi2 = np.clip(2.0 * (lml - self.null_lml()), 0.0, None)
        dof = int(A1.shape[1])
        return KronScanResult(
            lml=lml,
            effsizes1=beta,
            effsizes1_se=se,
            scale=scale,
            chi2=chi2,
            dof=dof,
            pvalue=chdtrc(dof, chi2),
        )

    def _scan_block(self, A1: np.ndarray, Gb: np.ndarray):
        gg, XG, YG = (Gb * Gb).sum(0), self._X.T @ Gb, self._Y.T @ Gb
        Gr = self._rotated(Gb)  # the one GEMM of the block
        w, Xr, At = self._w, self._data.Xr, self._At
        At1 = self._Lh @ A1
        q, c = At.shape[1], self._data.ncovariates
        gVg = gg[None] - w.T @ Gr**2  # p×m
        XVg = XG[None] - np.einsum("ki,kj,km->jim", Xr, w, Gr)  # p×c×m
        yVg = self._Lh @ YG - (w * self._Yr).T @ Gr  # p×m
        H01 = np.einsum("ja,jf,jim->maif", At, At1, XVg).reshape(Gb.shape[1], q * c, -1)
        H11 = np.einsum("jf,jg,jm->mfg", At1, At1, gVg)
        b1 = np.einsum("jf,jm->mf", At1, yVg)
        beta0 = self.null_beta
        HiH01 = np.einsum("xy,myf->mxf", self._Hinv, H01)
        schur = H11 - np.einsum("mxf,mxg->mfg", H01, HiH01)
        resid = b1 - np.einsum("mxf,x->mf", H01, beta0)
        with np.errstate(all="ignore"):
            informative = np.linalg.det(schur) > 1e-10 * np.prod(
                np.clip(np.diagonal(H11, axis1=1, axis2=2), 1e-300, None), axis=1
            )
        schur[~informative] = np.eye(schur.shape[1])
        Sinv = np.linalg.inv(schur)
        beta1 = np.einsum("mfg,mg->mf", Sinv, resid)
        fitted = self.null_beta @ self._state.b + np.einsum("mf,mf->m", resid, beta1)
        scale = np.clip((self._state.yKiy - fitted) / self._npts, np.finfo(float).tiny, None)
        lml = self._lml(scale)
        se = np.sqrt(scale[:, None] * np.diagonal(Sinv, axis1=1, axis2=2))
        lml[~informative] = np.nan
        beta1[~informative] = np.nan
        se[~informative] = np.nan
        scale[~informative] = np.nan
        return lml, beta1, se, scale


def _kinship_factor(QS_or_G: Any, n: int) -> np.ndarray:
    """G with GGᵀ = K from a ``((Q0, Q1), S0)`` decomposition, or the factor itself."""
    if isinstance(QS_or_G, tuple):
        try:
            (Q0, _), S0 = QS_or_G
        except (TypeError, ValueError) as exc:
            raise InputError(
                "QS_or_G must be ((Q0, Q1), S0) from economic_qs or an n×r factor G."
            ) from exc
        Q0 = as_matrix(Q0, "Q0", nrows=n)
        S0 = np.asarray(S0, dtype=float)
        if S0.shape != (Q0.shape[1],) or np.any(S0 < 0):
            raise InputError(f"S0 must hold {Q0.shape[1]} non-negative eigenvalues.")
        return Q0 * np.sqrt(S0)
    return as_matrix(QS_or_G, "QS_or_G", nrows=n)


def joint_scan(
    G: Any,
    Y: Any,
    X: Any,
    QS_or_G: Any,
    *,
    test: str = "any",
    variants: Any = None,
    block_size: int | None = None,
    rank: int | None = None,
) -> pd.DataFrame:
    r"""Multi-trait scan: fit the :class:`Kron2Sum` null by ML, then test every variant.

    Parameters
    ----------
    G : array_like or DataFrame, shape (n, m)
        Genotypes (dosages, mean-imputed), one column per variant.
    Y : array_like or DataFrame, shape (n, p)
        Traits; a DataFrame's column names name the per-trait columns.
    X : array_like, shape (n, c)
        Covariates (include an intercept).
    QS_or_G
        The kinship: ``((Q0, Q1), S0)`` from :func:`kinmix.economic_qs`, or a factor
        :math:`n\times r` whose outer product is the kinship.
    test : {"any", "common"}
        ``"any"``: :math:`\mathrm A_1 = \mathrm I_p`, a separate effect per trait (p d.o.f.);
        ``"common"``: :math:`\mathrm A_1 = \mathbf 1_p`, one effect shared by all traits
        (1 d.o.f.).
    variants : sequence, optional
        Variant labels (default: a DataFrame's column names, else 0..m-1).
    block_size : int, optional
        Variants rotated per GEMM.
    rank : int, optional
        Rank of :math:`\mathrm C_0` (default p, full).

    Returns
    -------
    DataFrame
        One row per variant, indexed by ``variant``: ``chi2``, ``dof``, ``pvalue``,
        ``beta_<trait>`` and ``se_<trait>`` per trait (for ``"common"`` every trait
        carries the shared effect), ``lml`` and ``n``.
    """
    if test not in ("any", "common"):
        raise InputError(f"test must be 'any' or 'common'; got {test!r}.")
    traits = [str(t) for t in Y.columns] if isinstance(Y, pd.DataFrame) else None
    labels = list(G.columns) if variants is None and isinstance(G, pd.DataFrame) else variants
    Y = as_matrix(Y, "Y")
    traits = traits or [f"trait{j}" for j in range(Y.shape[1])]
    scanner = joint_null(Y, X, QS_or_G, rank=rank)
    return joint_table(
        scanner, G, test=test, traits=traits, variants=labels, block_size=block_size
    )


def joint_null(Y: Any, X: Any, QS_or_G: Any, *, rank: int | None = None) -> KronFastScanner:
    r"""Fit the multi-trait null :class:`Kron2Sum` by ML and return its scanner.

    ``Y`` (n×p traits), ``X`` (n×c covariates) and the kinship as in :func:`joint_scan`;
    ``rank`` is that of :math:`\mathrm C_0` (default p, full). The scanner can then test any
    number of blocks of variants (:func:`joint_table`) without refitting.
    """
    Y = as_matrix(Y, "Y")
    n, p = Y.shape
    model = Kron2Sum(Y, np.eye(p), X, _kinship_factor(QS_or_G, n), rank=rank or p)
    model.fit()
    return model.get_fast_scanner()


def joint_table(
    scanner: KronFastScanner,
    G: Any,
    *,
    test: str,
    traits: list[str],
    variants: Any = None,
    block_size: int | None = None,
) -> pd.DataFrame:
    """The rows of :func:`joint_scan` for the variants ``G`` (n×m, mean-imputed dosages)."""
    if test not in ("any", "common"):
        raise InputError(f"test must be 'any' or 'common'; got {test!r}.")
    p = len(traits)
    labels = list(G.columns) if variants is None and isinstance(G, pd.DataFrame) else variants
    G = as_matrix(G, "G")
    n = G.shape[0]
    labels = list(range(G.shape[1])) if labels is None else list(labels)
    if len(labels) != G.shape[1]:
        raise InputError(f"variants has {len(labels)} labels for {G.shape[1]} variants.")
    A1 = np.eye(p) if test == "any" else np.ones((p, 1))
    result = scanner.fast_scan(A1, G, block_size=block_size)
    beta = result.effsizes1 if test == "any" else np.repeat(result.effsizes1, p, axis=1)
    se = result.effsizes1_se if test == "any" else np.repeat(result.effsizes1_se, p, axis=1)
    columns: dict[str, Any] = {"chi2": result.chi2, "dof": result.dof, "pvalue": result.pvalue}
    columns.update({f"beta_{t}": beta[:, j] for j, t in enumerate(traits)})
    columns.update({f"se_{t}": se[:, j] for j, t in enumerate(traits)})
    columns.update({"lml": result.lml, "n": n})
    return pd.DataFrame(columns, index=pd.Index(labels, name="variant"))
