r"""limix's :class:`FastScanner`: association scans with the null covariance held fixed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._progress import progress
from .._validate import (
    as_matrix,
    as_scalar,
    as_vector,
    check_full_column_rank,
    check_not_fitted_exactly,
    check_samples,
)
from ..errors import InputError
from ..kernel import association as _scan
from ..linalg import rotate, unpack_qs

if TYPE_CHECKING:
    from ..kernel.null_fit import NullFit

#: Number of candidate columns rotated per GEMM in :meth:`FastScanner.fast_scan`.
BLOCK_SIZE = 2048


class FastScanner:
    r"""Scan candidate covariates against a null model whose covariance is fixed.

    The null model is :math:`y \sim N(X\beta, s(K + vI))` with
    :math:`K = Q_0S_0Q_0^\top`; each alternative adds candidate columns :math:`M` to the
    covariates, :math:`y \sim N(X\beta + M\alpha, s(K + vI))`, with β, α and the scale s
    re-estimated by maximum likelihood while :math:`K + vI` stays as in the null.

    Parameters
    ----------
    y : array_like, shape (n,)
        Outcome.
    X : array_like, shape (n, c)
        Covariates of the null model.
    QS : tuple
        ``((Q0, Q1), S0)``, the economic eigendecomposition of K.
    v : float
        Variance of the identity term relative to K (non-negative; positive when K is
        rank-deficient).

    Notes
    -----
    A scan of m candidates costs one :math:`2nkm`-flop product :math:`Q_0^\top M`
    (blocked over columns) plus :math:`O((n + kc)m)` reductions; see
    :mod:`kinmix.kernel.association` for the algebra.
    """

    def __init__(self, y: Any, X: Any, QS: Any, v: float) -> None:
        y = as_vector(y, "y")
        n = y.shape[0]
        X = as_matrix(X, "X", nrows=n)
        check_samples(n, X.shape[1])
        check_full_column_rank(X, "X")
        check_not_fitted_exactly(y, X)
        Q0, S0 = unpack_qs(QS, n)
        v = as_scalar(v, "v", lower=0.0)
        if v == 0 and Q0.shape[1] < n:
            raise InputError(
                "v is 0 but K is rank-deficient: the covariance K + vI would be singular."
            )
        self._setup(y, X, Q0, S0 + v, v)

    @classmethod
    def _from_null(cls, null: NullFit, v0: float, v1: float) -> FastScanner:
        """The scanner of a validated null problem at :math:`v_0K + v_1I` (no re-validation)."""
        scanner = cls.__new__(cls)
        d0, d1 = null.scanner_diagonal(v0, v1)
        scanner._setup(null.y, null.X, null.Q0, d0, d1)
        return scanner

    def _setup(self, y: np.ndarray, X: np.ndarray, Q0: np.ndarray, d0: np.ndarray, d1: float):
        design = rotate(Q0, d0, y, X)
        self._null = _scan.build_null([design], [(d0, d1)], X, y[:, None], Q0)

    # -- the null model ------------------------------------------------------------------
    def null_lml(self) -> float:
        """Log-likelihood of the null model at the optimal scale."""
        return float(self._null.null_lml()[0])

    @property
    def null_scale(self) -> float:
        """Optimal scale of the null model."""
        return float(self._null.rss[0] / self._null.n)

    @property
    def null_beta(self) -> np.ndarray:
        """Optimal effect sizes of the null model's covariates."""
        return self._null.beta[0].copy()

    @property
    def null_beta_covariance(self) -> np.ndarray:
        r"""Covariance of the null effect sizes, :math:`s(X^\top(K+vI)^{-1}X)^{-1}`."""
        return self.null_scale * self._null.A_inv[0]

    @property
    def null_beta_se(self) -> np.ndarray:
        """Standard errors of the null effect sizes."""
        return np.sqrt(np.diagonal(self.null_beta_covariance)).copy()

    # -- scans ---------------------------------------------------------------------------
    def _candidates(self, M: Any, name: str, joint: bool) -> np.ndarray:
        M = as_matrix(M, name, nrows=self._null.n)
        n, c = self._null.n, self._null.X.shape[1]
        q = M.shape[1] if joint else min(M.shape[1], 1)
        if joint:
            check_samples(n, c, tested=q, tested_name=name, purpose=" for the joint test")
        else:
            check_samples(n, c, tested=q, purpose=f" to test a column of {name}")
        return M

    def fast_scan(self, M: Any, verbose: bool = True) -> dict[str, np.ndarray]:
        """Test each column of ``M`` (n×m) on its own.

        Returns
        -------
        dict
            ``lml`` (m,), ``effsizes0`` (m, c), ``effsizes0_se`` (m, c), ``effsizes1`` (m,),
            ``effsizes1_se`` (m,), ``scale`` (m,). Candidates collinear with the covariates
            (constant columns included) get NaN. ``verbose`` shows a progress bar on stderr
            when tqdm is installed and there is more than one block.
        """
        M = self._candidates(M, "M", joint=False)
        m = M.shape[1]
        starts = range(0, max(m, 1), BLOCK_SIZE)  # one (empty) block when m = 0
        blocks = [
            _scan.scan_block(self._null, M[:, i : i + BLOCK_SIZE])
            for i in progress(starts, verbose and m > BLOCK_SIZE, "scan")
        ]

        def stack(field: str) -> np.ndarray:
            return np.concatenate([getattr(b, field)[0] for b in blocks], axis=0)

        return {
            "lml": stack("lml"),
            "effsizes0": stack("effsizes0"),
            "effsizes0_se": stack("effsizes0_se"),
            "effsizes1": stack("effsizes1")[:, 0],
            "effsizes1_se": stack("effsizes1_se")[:, 0],
            "scale": stack("scale"),
        }

    def scan(self, M: Any) -> dict[str, Any]:
        """Test the columns of ``M`` (n×q) jointly as one candidate set.

        Returns
        -------
        dict
            ``lml`` and ``scale`` (floats), ``effsizes0``/``effsizes0_se`` (c,),
            ``effsizes1``/``effsizes1_se`` (q,).
        """
        M = self._candidates(M, "M", joint=True)
        if M.shape[1] == 0:
            return {
                "lml": self.null_lml(),
                "effsizes0": self.null_beta,
                "effsizes0_se": self.null_beta_se,
                "effsizes1": np.empty(0),
                "effsizes1_se": np.empty(0),
                "scale": self.null_scale,
            }
        block = _scan.scan_block(self._null, M[:, None, :])
        return {
            "lml": float(block.lml[0, 0]),
            "effsizes0": block.effsizes0[0, 0],
            "effsizes0_se": block.effsizes0_se[0, 0],
            "effsizes1": block.effsizes1[0, 0],
            "effsizes1_se": block.effsizes1_se[0, 0],
            "scale": float(block.scale[0, 0]),
        }
