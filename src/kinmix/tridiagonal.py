r"""A kinship in tridiagonal form: the null likelihood without eigenvectors.

Householder reduction writes a symmetric kinship as :math:`K = HTH^\top` with :math:`H`
orthogonal and :math:`T` tridiagonal (LAPACK ``dsytrd``, :math:`\tfrac43 n^3` flops, less
than half of a full eigendecomposition, whose remaining work builds the eigenvectors). The
null likelihood of :math:`y \sim N(X\beta, s(aK + bI))` needs only

- the eigenvalues of :math:`K`, which are those of :math:`T` (:math:`O(n^2)`), for
  :math:`\log|aK + bI| = \sum_i \log(a\lambda_i + b)` and the traces of its derivative;
- the quadratic forms :math:`B^\top(aK + bI)^{-1}B` of :math:`B = [X, y]`, which equal
  :math:`\tilde B^\top(aT + bI)^{-1}\tilde B` with :math:`\tilde B = H^\top B`: one
  tridiagonal factorisation and solve, :math:`O(n(c+1))` per evaluation.

:class:`TridiagonalDesign` offers the interface of ``kinmix.linalg.RotatedDesign``
that the kernel's δ search uses (:meth:`~TridiagonalDesign.weighted_gram`,
:meth:`~TridiagonalDesign.derivative_forms`, the eigenvalues ``S`` and the raw products), so
the same searches run on either form and find the same δ. It supports covariances
:math:`aK + bI`, the only ones a null search visits, and full-rank kinships only
(:attr:`TridiagonalKinship.full_rank`; a caller falls back to the eigendecomposition
otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import FitError, InputError
from .linalg import DEFAULT_RTOL


@dataclass(frozen=True)
class TridiagonalKinship:
    r"""The Householder tridiagonal form :math:`K = HTH^\top` of an n×n kinship.

    ``reflectors`` (n, n) holds the Householder vectors above the superdiagonal (LAPACK's
    upper storage) and ``tau`` their scalars; ``diagonal`` (n,) and ``offdiagonal`` (n-1,)
    are :math:`T`; ``S`` (n,) its eigenvalues in ascending order.
    """

    reflectors: np.ndarray
    tau: np.ndarray
    diagonal: np.ndarray
    offdiagonal: np.ndarray
    S: np.ndarray

    @classmethod
    def from_upper(cls, upper: np.ndarray) -> TridiagonalKinship:
        """Reduce the kinship whose upper triangle is ``upper`` (Fortran order; destroyed:
        it then holds the reflectors). Raises :class:`~kinmix.errors.InputError` when the
        kinship is not positive semi-definite."""
        from scipy.linalg import eigvalsh_tridiagonal, lapack

        n = upper.shape[0]
        lwork = int(lapack.dsytrd_lwork(n, lower=0)[0])
        reflectors, d, e, tau, info = lapack.dsytrd(upper, lower=0, lwork=lwork, overwrite_a=1)
        if info != 0:
            raise FitError(f"the tridiagonal reduction of the kinship failed (info {info}).")
        S = eigvalsh_tridiagonal(d, e) if n > 1 else d.copy()
        top = float(S[-1]) if S.size else 0.0
        if top <= 0.0 or S[0] < -DEFAULT_RTOL * top:
            raise InputError(
                "the kinship is not positive semi-definite (smallest eigenvalue "
                f"{S[0]:.3g}, largest {top:.3g}); check the genotypes used for it."
            )
        return cls(reflectors, tau, d, e, S)

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.diagonal.shape[0])

    @property
    def full_rank(self) -> bool:
        """Whether every eigenvalue exceeds ``DEFAULT_RTOL`` times the largest (the
        eigendecomposition would keep them all)."""
        return bool(self.S[0] > DEFAULT_RTOL * self.S[-1])

    def rotate(self, B: np.ndarray) -> np.ndarray:
        r""":math:`H^\top B` for ``B`` (n,) or (n, p), a new array (:math:`O(n^2 p)`)."""
        out = np.array(B, dtype=np.float64, order="F", copy=True)
        column = out.ndim == 1
        out = out.reshape(self.n, -1, order="F")
        # H = H_{n-1}···H_1, so Hᵀ B applies H_{n-1} first. Reflector i (0-based) is
        # I − τ_i v vᵀ with v = (reflectors[:i, i+1], 1, 0, …).
        v = np.empty(self.n)
        for i in range(self.n - 2, -1, -1):
            tau = self.tau[i]
            if tau == 0.0:
                continue
            v[:i] = self.reflectors[:i, i + 1]
            v[i] = 1.0
            head = out[: i + 1]
            head -= np.outer(v[: i + 1], tau * (v[: i + 1] @ head))
        return out[:, 0] if column else out

    def design(self, y: np.ndarray, X: np.ndarray) -> TridiagonalDesign:
        """The sufficient statistics of ``(y, X)`` for the δ search (one rotation)."""
        QB = self.rotate(np.column_stack([X, y]))
        return TridiagonalDesign(
            n=self.n,
            S=self.S,
            diagonal=self.diagonal,
            offdiagonal=self.offdiagonal,
            QB=QB,
            yy=float(y @ y),
            Xy=X.T @ y,
            XX=X.T @ X,
        )


@dataclass(frozen=True)
class TridiagonalDesign:
    r"""``(y, X)`` rotated by :math:`H^\top` next to the tridiagonal :math:`T` of a
    full-rank kinship: the duck-typed counterpart of ``kinmix.linalg.RotatedDesign``
    for the kernel's null searches (``complement`` is False, ``k`` = n).

    A covariance is given, as everywhere in the kernel, by its eigenvalues
    ``d0`` = :math:`a S + b` and ``d1`` = :math:`b`; here :math:`a` is read back from the
    largest eigenvalue, so ``d0`` must have that affine form.
    """

    n: int
    S: np.ndarray
    diagonal: np.ndarray
    offdiagonal: np.ndarray
    QB: np.ndarray
    yy: float
    Xy: np.ndarray
    XX: np.ndarray
    complement: bool = False

    @property
    def k(self) -> int:
        """Number of eigenvalues (all n)."""
        return self.n

    @property
    def c(self) -> int:
        """Number of covariates."""
        return int(self.QB.shape[1]) - 1

    @cached_property
    def Qy(self) -> np.ndarray:
        r""":math:`H^\top y`."""
        return self.QB[:, -1]

    @cached_property
    def QX(self) -> np.ndarray:
        r""":math:`H^\top X`."""
        return self.QB[:, :-1]

    def _solve(self, d0: np.ndarray, d1: float, B: np.ndarray) -> np.ndarray:
        r""":math:`(aT + bI)^{-1}B` with :math:`b` = ``d1`` and :math:`a` from ``d0``."""
        from scipy.linalg import lapack

        a = (float(d0[-1]) - d1) / float(self.S[-1])
        df, ef, info = lapack.dpttrf(a * self.diagonal + d1, a * self.offdiagonal)
        if info != 0:
            raise FitError(
                f"the covariance {a:.6g}·K + {d1:.6g}·I is not positive definite "
                f"(tridiagonal factorisation, info {info})."
            )
        solution, info = lapack.dpttrs(df, ef, B)
        return solution

    def _times_derivative(self, U: np.ndarray) -> np.ndarray:
        r""":math:`(I - T)U`, the derivative of :math:`(1-\delta)T + \delta I` times U."""
        TU = self.diagonal[:, None] * U
        TU[:-1] += self.offdiagonal[:, None] * U[1:]
        TU[1:] += self.offdiagonal[:, None] * U[:-1]
        return U - TU

    def weighted_gram(self, d0: np.ndarray, d1: float) -> np.ndarray:
        r""":math:`[X, y]^\top V^{-1}[X, y]`, (c+1, c+1)."""
        return self.QB.T @ self._solve(d0, d1, self.QB)

    def derivative_forms(
        self, d0: np.ndarray, d1: float, beta: np.ndarray, restricted: bool
    ) -> tuple[float, np.ndarray | None]:
        r""":math:`r^\top V^{-1}V'V^{-1}r` (:math:`r = y - X\beta`, :math:`V' = I - K`) and,
        when ``restricted``, :math:`X^\top V^{-1}V'V^{-1}X`."""
        r = self.Qy - self.QX @ beta
        columns = np.column_stack([self.QX, r]) if restricted else r[:, None]
        U = self._solve(d0, d1, columns)
        DU = self._times_derivative(U)
        quad = float(U[:, -1] @ DU[:, -1])
        if not restricted:
            return quad, None
        return quad, U[:, :-1].T @ DU[:, :-1]


def cholesky_whitener(upper: np.ndarray, delta: float) -> tuple[np.ndarray, float]:
    r"""The upper Cholesky factor :math:`U` of :math:`V = (1-\delta)K + \delta I`, in place.

    ``upper`` holds K's upper triangle (Fortran order) and becomes :math:`U`
    (:math:`V = U^\top U`; the strict lower triangle is left as it was). Returns
    :math:`U` and :math:`\log|V|`. :math:`U^{-\top}` whitens: :math:`(U^{-\top}a)^\top
    (U^{-\top}b) = a^\top V^{-1}b`.
    """
    from scipy.linalg import lapack

    upper *= 1.0 - delta
    upper[np.diag_indices_from(upper)] += delta
    factor, info = lapack.dpotrf(upper, lower=0, overwrite_a=1, clean=0)
    if info != 0:
        raise FitError(
            f"(1 - delta)·K + delta·I is not positive definite at delta = {delta:.6g} "
            f"(Cholesky, info {info})."
        )
    return factor, 2.0 * float(np.sum(np.log(np.diagonal(factor))))


def whiten(factor: np.ndarray, M: np.ndarray) -> np.ndarray:
    r""":math:`U^{-\top}M` for ``M`` (n, p), a new Fortran array (one triangular solve,
    :math:`n^2p` flops: half a GEMM with eigenvectors)."""
    from scipy.linalg.blas import dtrsm

    if M.shape[1] == 0:
        return np.empty(M.shape, order="F")
    return dtrsm(1.0, factor, M, lower=0, trans_a=1)


__all__ = ["TridiagonalDesign", "TridiagonalKinship", "cholesky_whitener", "whiten"]
