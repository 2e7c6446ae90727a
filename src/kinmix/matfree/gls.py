r"""Generalised least squares through batched solves with LOCO covariances.

Column k of a batch has a group :math:`c_k` and a :math:`\delta_k`; its covariance is

.. math::

    V_k = (1-\delta_k) K_{-c_k} + \delta_k I ,

the kinmix null covariance up to its scale s (the statistics below do not depend on s).
A :class:`Batch` lays the columns out group by group: ``[y, X_1, …, X_c, extra…]`` for
each group, so that one call of :func:`kinmix.matfree.cg.solve` gives
:math:`V_c^{-1}y`, :math:`V_c^{-1}X` and :math:`V_c^{-1}e` for every group at once. From
them, with :math:`A_c = X^\top V_c^{-1}X`,

.. math::

    P_c v = V_c^{-1}v - V_c^{-1}X A_c^{-1} X^\top V_c^{-1} v,

the REML projection; :math:`R_0 = y^\top P_c y` is the null generalised residual sum of
squares and :math:`e^\top P_c e`, :math:`e^\top P_c y` are what a variant's test needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import cg
from .operator import GenotypeGRM


def covariance(
    op: GenotypeGRM, column_groups: np.ndarray, column_delta: np.ndarray, precision: Any = None
):
    """``apply(U, active)`` = :math:`[(1-\\delta_k)K_{-c_k}u_k + \\delta_k u_k]_k`."""

    def apply(U: Any, active: np.ndarray) -> Any:
        KU = op.product(U, column_groups, active=active, precision=precision)
        return KU * (1.0 - column_delta) + U * column_delta

    return apply


@dataclass(frozen=True)
class Batch:
    """Column layout of a group-major batch ``[y, X, extra_g]`` per group.

    ``groups`` (G,) are the group labels (operator group indices or WHOLE_GENOME),
    ``extras`` (G,) the number of extra columns of each group.
    """

    groups: np.ndarray
    ncov: int
    extras: np.ndarray

    @property
    def width(self) -> np.ndarray:
        return 1 + self.ncov + self.extras

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.width)])

    def column_groups(self) -> np.ndarray:
        return np.repeat(self.groups, self.width)

    def columns(self, y: np.ndarray, X: np.ndarray, extra: list) -> Any:
        """Right-hand sides: ``extra[g]`` is (n, extras[g]), NumPy or Dask."""
        parts = []
        for g in range(self.groups.size):
            parts += [y[:, None], X, extra[g]]
        if any(hasattr(p, "dask") for p in parts):
            import dask.array as da

            return da.concatenate([da.asarray(p) for p in parts], axis=1)
        return np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class Projected:
    r"""Per group: :math:`P_c y`, :math:`P_c e` and the small products a test needs.

    ``Py`` (n, G) and ``Pe`` (n, total extras) arrays (NumPy or Dask); ``rss0`` (G,)
    :math:`y^\top P_c y`; ``ePe``, ``ePy`` (total extras,) per extra column; ``coef``
    per group the (c, width) matrix :math:`A_c^{-1}X^\top V_c^{-1}[y, X, e]`, so that
    the group's projected columns are :math:`S_g - S_X\,\mathrm{coef}_g`.
    """

    Py: Any
    Pe: Any
    rss0: np.ndarray
    ePe: np.ndarray
    ePy: np.ndarray
    coef: tuple = ()


def project(batch: Batch, B: Any, S: Any, backend: Any) -> Projected:
    """Apply the REML projection to the solves ``S`` = :math:`V^{-1}B` of a batch."""
    c = batch.ncov
    off = batch.offsets
    Py_parts, Pe_parts, corrections, coefs = [], [], [], []
    for g in range(batch.groups.size):
        lo, hi = off[g], off[g + 1]
        # [y, X]^T S_g: (1+c) × width, one small reduction.
        corrections.append(B[:, lo : lo + 1 + c].T @ S[:, lo:hi])
    blocks = backend.commit([], corrections)[1]
    rss0, ePe, ePy = [], [], []
    for g in range(batch.groups.size):
        lo, hi = off[g], off[g + 1]
        small = blocks[g]  # rows: y, X ; columns: y, X, extras
        A = small[1:, 1 : 1 + c]
        A = 0.5 * (A + A.T)
        XVv = small[1:, :]  # X^T V^{-1} [y, X, e]
        coef = np.linalg.solve(A, XVv)  # A^{-1} X^T V^{-1} v
        coefs.append(coef)
        SX = S[:, lo + 1 : lo + 1 + c]
        P = S[:, lo:hi] - SX @ coef
        Py_parts.append(P[:, :1])
        Pe_parts.append(P[:, 1 + c :])
        vVv = small[0, :]  # y^T V^{-1} [y, X, e]
        rss0.append(vVv[0] - XVv[:, 0] @ coef[:, 0])
        ePy.append(vVv[1 + c :] - XVv[:, 0] @ coef[:, 1 + c :])
    Pe = _concat(Pe_parts)
    Eb = _concat([B[:, off[g] + 1 + c : off[g + 1]] for g in range(batch.groups.size)])
    (Pe,), (ePe,) = backend.commit([Pe], [(Eb * Pe).sum(axis=0)])
    return Projected(
        Py=_concat(Py_parts),
        Pe=Pe,
        rss0=np.asarray(rss0),
        ePe=np.asarray(ePe),
        ePy=np.concatenate(ePy) if ePy else np.empty(0),
        coef=tuple(coefs),
    )


def _concat(parts: list) -> Any:
    if any(hasattr(p, "dask") for p in parts):
        import dask.array as da

        return da.concatenate(parts, axis=1)
    return np.concatenate(parts, axis=1)


def solve_batch(
    op: GenotypeGRM,
    batch: Batch,
    B: Any,
    deltas: np.ndarray,
    *,
    stage: str,
    tol: float,
    maxiter: int,
    precision: Any = None,
    start: tuple[Any, Any] | None = None,
) -> tuple[Any, cg.CGSolution]:
    """Solve :math:`V_{c_k}^{-1} b_k` for a batch; ``deltas`` has one δ per group.

    ``start`` = (X0, KX0) warm-starts the solve from X0, given its LOCO kinship products
    :math:`[K_{-c_k} x_{0k}]_k` (so that :math:`V_k x_{0k}` costs no operator pass).
    """
    backend = cg.DaskBackend() if op.distributed else cg.NumpyBackend()
    column_delta = np.repeat(np.asarray(deltas, dtype=np.float64), batch.width)
    apply = covariance(op, batch.column_groups(), column_delta, precision)
    B = backend.asarray(B)
    x0 = Ax0 = None
    if start is not None:
        x0, KX0 = start
        Ax0 = KX0 * (1.0 - column_delta) + x0 * column_delta
    result = cg.solve(apply, B, stage=stage, tol=tol, maxiter=maxiter, backend=backend,
                      x0=x0, Ax0=Ax0)
    return B, result
