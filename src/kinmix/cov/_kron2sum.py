r"""Sum of two Kronecker products, :math:`\mathrm K = \mathrm C_0\otimes\mathrm{GG}^\intercal
+ \mathrm C_1\otimes\mathrm I`.

The whitening by :math:`\mathrm C_1` and the joint diagonalisation used here, with
:math:`\mathrm C_1 = \mathrm U_1\mathrm S_1\mathrm U_1^\intercal` and
:math:`\mathrm S_1^{-1/2}\mathrm U_1^\intercal\mathrm C_0\mathrm U_1\mathrm S_1^{-1/2}
= \mathrm U_h\mathrm S_h\mathrm U_h^\intercal`, give
:math:`\mathrm L_h = \mathrm U_h^\intercal\mathrm S_1^{-1/2}\mathrm U_1^\intercal` with

.. math::

    \mathrm L_h\mathrm C_1\mathrm L_h^\intercal = \mathrm I, \qquad
    \mathrm L_h\mathrm C_0\mathrm L_h^\intercal = \mathrm S_h .

With the economic SVD :math:`\mathrm G = \mathrm U_x\Sigma\mathrm V^\intercal`
(:math:`k` positive singular values, :math:`\mathrm S_x = \Sigma^2`) the whitened
covariance :math:`(\mathrm L_h\otimes\mathrm I)\mathrm K(\mathrm L_h\otimes\mathrm I)^\intercal
= \mathrm S_h\otimes\mathrm{GG}^\intercal + \mathrm I` is block diagonal: trait j has the
single-trait covariance :math:`s_j\mathrm{GG}^\intercal + \mathrm I` whose inverse is
:math:`\mathrm I - \mathrm U_x\,\mathrm{diag}(w_{\cdot j})\,\mathrm U_x^\intercal`,
:math:`w_{kj} = s_jS_{x,k}/(1 + s_jS_{x,k})`. Everything below costs
:math:`O(nkp + p^3)` and never forms an :math:`np\times np` matrix, except :meth:`value`,
:meth:`gradient` and :attr:`Kron2SumCov.Lx`, which the seed API defines as dense.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np

from .._validate import as_matrix, check_dimension
from ..errors import InputError
from ..linalg import EconomicSVD, Whitening, whiten
from ..params import Parameter, prefixed
from ._base import Covariance
from ._free import FreeFormCov
from ._lrfree import LRFreeFormCov


def _unvec(v: np.ndarray, n: int) -> np.ndarray:
    r"""(n·p,) or (n·p, m) → (n, p) or (n, p, m), column-major as :math:`\mathrm{vec}`."""
    if v.ndim == 1:
        return v.reshape((n, -1), order="F")
    return v.reshape((n, -1, v.shape[1]), order="F")


def _vec(V: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_unvec`."""
    if V.ndim == 2:
        return V.reshape(-1, order="F")
    return V.reshape((-1, V.shape[2]), order="F")


class Kron2SumCov(Covariance):
    r"""Covariance :math:`\mathrm K = \mathrm C_0\otimes\mathrm{GG}^\intercal +
    \mathrm C_1\otimes\mathrm I`.

    Parameters
    ----------
    G : array_like, shape (n, m)
        Factor of the sample covariance :math:`\mathrm{GG}^\intercal`.
    dim : int
        Number of traits :math:`p`, the dimension of :math:`\mathrm C_0` and :math:`\mathrm C_1`.
    rank : int
        Largest rank of :math:`\mathrm C_0` (the columns of its factor), at most ``dim``.

    Notes
    -----
    :math:`\mathrm C_0` is an :class:`~kinmix.cov.LRFreeFormCov` (named ``C₀``) and
    :math:`\mathrm C_1` a :class:`~kinmix.cov.FreeFormCov` (named ``C₁``), so the gradient
    keys are ``"C0.Lu"`` and ``"C1.Lu"``. Vectors of size :math:`np` are
    :math:`\mathrm{vec}(\mathrm V)` of an :math:`n\times p` matrix (traits in blocks).
    With the definitions of the module notes, :math:`\mathrm L_x = \mathrm U_x^\intercal`
    completed to an orthonormal basis, :math:`\mathrm L = \mathrm L_h\otimes\mathrm L_x` and
    :math:`\mathrm D = (\mathrm S_h\otimes\mathrm S_x + \mathrm I)^{-1}` (:math:`S_x` padded
    with zeros to :math:`n`), :math:`\mathrm K^{-1} = \mathrm L^\intercal\mathrm D\mathrm L`.

    Examples
    --------
    >>> from numpy import array
    >>> from kinmix.cov import Kron2SumCov
    >>>
    >>> G = array([[-1.5, 1.0], [-1.5, 1.0], [-1.5, 1.0]])
    >>> Lr = array([[3], [2]], float)
    >>> Ln = array([[1, 0], [2, 1]], float)
    >>>
    >>> cov = Kron2SumCov(G, 2, 1)
    >>> cov.C0.L = Lr
    >>> cov.C1.L = Ln
    >>> print(cov)
    Kron2SumCov(G=..., dim=2, rank=1): Kron2SumCov
      LRFreeFormCov(n=2, m=1): C₀
        L: [[3.]
            [2.]]
      FreeFormCov(dim=2): C₁
        L: [[1. 0.]
            [2. 1.]]
    """

    def __init__(self, G: Any, dim: int, rank: int) -> None:
        self._G = as_matrix(G, "G")
        p = check_dimension(dim, "dim")
        r = check_dimension(rank, "rank")
        if r > p:
            raise InputError(f"rank must be at most dim={p}; got rank={r}.")
        self._C0 = LRFreeFormCov(p, r)
        self._C0.name = "C₀"
        self._C1 = FreeFormCov(p)
        self._C1.name = "C₁"
        super().__init__("Kron2SumCov")

    # -- structure -----------------------------------------------------------------------
    @property
    def C0(self) -> LRFreeFormCov:
        r"""Positive semi-definite :math:`\mathrm C_0` (low rank)."""
        return self._C0

    @property
    def C1(self) -> FreeFormCov:
        r"""Positive definite :math:`\mathrm C_1`."""
        return self._C1

    @property
    def G(self) -> np.ndarray:
        r"""The user's :math:`\mathrm G` (:math:`n\times m`)."""
        return self._G

    @cached_property
    def svd(self) -> EconomicSVD:
        r"""Economic SVD of :math:`\mathrm G`, computed once."""
        return EconomicSVD.of(self._G)

    @property
    def Ge(self) -> np.ndarray:
        r""":math:`\mathrm U_x\Sigma` (:math:`n\times k`): same :math:`\mathrm{GG}^\intercal`,
        :math:`k = \mathrm{rank}(\mathrm G)` columns."""
        return self.svd.Ux * np.sqrt(self.svd.Sx)

    @property
    def nsamples(self) -> int:
        """Number of samples, n."""
        return int(self._G.shape[0])

    @property
    def ntraits(self) -> int:
        """Number of traits, p."""
        return int(self._C1.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        size = self.nsamples * self.ntraits
        return (size, size)

    def parameters(self) -> dict[str, Parameter]:
        return {**prefixed("C0", self._C0.parameters()), **prefixed("C1", self._C1.parameters())}

    def whitening(self) -> Whitening:
        r"""Current :math:`\mathrm L_h`, :math:`S_h` and :math:`\log|\mathrm C_1|`."""
        return whiten(self._C0.value(), self._C1.value())

    @property
    def Lh(self) -> np.ndarray:
        r""":math:`\mathrm L_h = \mathrm U_h^\intercal\mathrm S_1^{-1/2}\mathrm U_1^\intercal`."""
        return self.whitening().Lh

    @property
    def Lx(self) -> np.ndarray:
        r""":math:`\mathrm L_x = \mathrm U_x^\intercal` completed to an :math:`n\times n`
        orthogonal matrix (dense, :math:`O(n^2)` memory: for inspection only)."""
        U = np.linalg.svd(self._G, full_matrices=True)[0]
        k = self.svd.Sx.size
        return np.vstack([self.svd.Ux.T, U[:, k:].T])

    @property
    def D(self) -> np.ndarray:
        r"""Diagonal of :math:`(\mathrm S_h\otimes\mathrm S_x + \mathrm I)^{-1}` (size np)."""
        Sx = np.zeros(self.nsamples)
        Sx[: self.svd.Sx.size] = self.svd.Sx
        return 1.0 / (np.kron(self.whitening().Sh, Sx) + 1.0)

    # -- dense forms (seed API) ----------------------------------------------------------
    def value(self) -> np.ndarray:
        r"""Dense :math:`\mathrm C_0\otimes\mathrm{GG}^\intercal + \mathrm C_1\otimes\mathrm I`
        (:math:`np\times np`; small problems only)."""
        GG = self._G @ self._G.T
        return np.kron(self._C0.value(), GG) + np.kron(self._C1.value(), np.eye(self.nsamples))

    def gradient(self) -> dict[str, np.ndarray]:
        r"""Dense :math:`\partial\mathrm K/\partial\theta`: :math:`\partial\mathrm C_0\otimes
        \mathrm{GG}^\intercal` and :math:`\partial\mathrm C_1\otimes\mathrm I`, each
        :math:`np\times np\times P` (small problems only)."""
        GG = self._G @ self._G.T
        eye = np.eye(self.nsamples)
        dC0 = self._C0.gradient()["Lu"]
        dC1 = self._C1.gradient()["Lu"]
        return {
            "C0.Lu": np.stack([np.kron(dC0[..., i], GG) for i in range(dC0.shape[-1])], -1),
            "C1.Lu": np.stack([np.kron(dC1[..., i], eye) for i in range(dC1.shape[-1])], -1),
        }

    # -- fast operations -----------------------------------------------------------------
    def _check_vector(self, v: Any) -> np.ndarray:
        v = np.asarray(v, dtype=float)
        if v.ndim not in (1, 2) or v.shape[0] != self.shape[0]:
            raise InputError(
                f"v must have n·p = {self.shape[0]} rows (one or two dimensions); "
                f"got shape {v.shape}."
            )
        return v

    def solve(self, v: Any) -> np.ndarray:
        r""":math:`\mathrm K^{-1}\mathbf v` for ``v`` of shape (np,) or (np, m), :math:`O(nkpm)`.

        With :math:`\mathrm W = \mathrm V\mathrm L_h^\intercal`, the product is
        :math:`\mathrm{vec}\bigl((\mathrm W - \mathrm U_x(\mathrm\Omega\circ\mathrm U_x^\intercal
        \mathrm W))\mathrm L_h\bigr)`, :math:`\Omega_{kj} = w_{kj}`.
        """
        v = self._check_vector(v)
        wh = self.whitening()
        Ux, Sx = self.svd.Ux, self.svd.Sx
        V = _unvec(v, self.nsamples)
        W = np.einsum("npm,qp->nqm", V, wh.Lh) if V.ndim == 3 else V @ wh.Lh.T
        omega = np.outer(Sx, wh.Sh)
        omega = omega / (1.0 + omega)
        if W.ndim == 3:
            rotated = np.einsum("nk,nqm->kqm", Ux, W) * omega[..., None]
            W = W - np.einsum("nk,kqm->nqm", Ux, rotated)
            return _vec(np.einsum("nqm,qp->npm", W, wh.Lh))
        W = W - Ux @ (omega * (Ux.T @ W))
        return _vec(W @ wh.Lh)

    def logdet(self) -> float:
        r""":math:`\log|\mathrm K| = \sum_{jk}\log(1 + S_{h,j}S_{x,k}) + n\log|\mathrm C_1|`."""
        wh = self.whitening()
        return float(np.log1p(np.outer(self.svd.Sx, wh.Sh)).sum() + self.nsamples * wh.logdet_C1)

    def _trait_traces(self, wh: Whitening) -> tuple[np.ndarray, np.ndarray]:
        r"""Per whitened trait j: :math:`\mathrm{tr}((s_j\mathrm{GG}^\intercal+\mathrm I)^{-1}
        \mathrm{GG}^\intercal)` and
        :math:`\mathrm{tr}((s_j\mathrm{GG}^\intercal+\mathrm I)^{-1})`."""
        Sx = self.svd.Sx
        inv = 1.0 / (1.0 + np.outer(Sx, wh.Sh))
        return Sx @ inv, inv.sum(0) + (self.nsamples - Sx.size)

    def logdet_gradient(self) -> dict[str, np.ndarray]:
        r""":math:`\partial\log|\mathrm K| = \mathrm{tr}(\mathrm K^{-1}\partial\mathrm K)`.

        For :math:`\partial\mathrm K = \partial\mathrm C\otimes\mathrm E` (:math:`\mathrm E
        = \mathrm{GG}^\intercal` or :math:`\mathrm I`) it equals
        :math:`\sum_j t_j\,(\mathrm L_h\partial\mathrm C\mathrm L_h^\intercal)_{jj}` with
        :math:`t_j` the trace of :math:`(s_j\mathrm{GG}^\intercal+\mathrm I)^{-1}\mathrm E`.
        """
        wh = self.whitening()
        t0, t1 = self._trait_traces(wh)
        dC0 = self._C0.gradient()["Lu"]
        dC1 = self._C1.gradient()["Lu"]
        return {
            "C0.Lu": np.einsum("j,jp,pqi,jq->i", t0, wh.Lh, dC0, wh.Lh),
            "C1.Lu": np.einsum("j,jp,pqi,jq->i", t1, wh.Lh, dC1, wh.Lh),
        }

    def gradient_dot(self, v: Any) -> dict[str, np.ndarray]:
        r""":math:`\partial\mathrm K\,\mathbf v`, of shape ``v.shape + (P,)`` per key.

        :math:`(\partial\mathrm C_0\otimes\mathrm{GG}^\intercal)\mathrm{vec}(\mathrm V) =
        \mathrm{vec}(\mathrm G(\mathrm G^\intercal\mathrm V)\partial\mathrm C_0)` and
        :math:`(\partial\mathrm C_1\otimes\mathrm I)\mathrm{vec}(\mathrm V) =
        \mathrm{vec}(\mathrm V\partial\mathrm C_1)`, in :math:`O(nmp)`.
        """
        v = self._check_vector(v)
        V = _unvec(v, self.nsamples)
        GGV = np.tensordot(self._G, np.tensordot(self._G.T, V, axes=1), axes=1)
        return {
            "C0.Lu": self._times_dC(GGV, self._C0.gradient()["Lu"]),
            "C1.Lu": self._times_dC(V, self._C1.gradient()["Lu"]),
        }

    @staticmethod
    def _times_dC(V: np.ndarray, dC: np.ndarray) -> np.ndarray:
        r"""Stack :math:`\mathrm{vec}(\mathrm V\,\partial\mathrm C_i)` on a last axis."""
        prod = np.einsum("np...,pqi->nq...i", V, dC)
        return prod.reshape((-1, *prod.shape[2:]), order="F")

    def LdKL_dot(self, v: Any) -> dict[str, np.ndarray]:
        r""":math:`\mathrm L(\partial\mathrm K)\mathrm L^\intercal\mathbf v`, of shape
        ``v.shape + (P,)`` per key.

        Because :math:`\mathrm L_x\mathrm{GG}^\intercal\mathrm L_x^\intercal =
        \mathrm{diag}(S_x)` (padded with zeros), this is
        :math:`\mathrm{vec}(\mathrm{diag}(S_x)\mathrm V\mathrm L_h\partial\mathrm C_0
        \mathrm L_h^\intercal)` over :math:`\mathrm C_0` and
        :math:`\mathrm{vec}(\mathrm V\mathrm L_h\partial\mathrm C_1\mathrm L_h^\intercal)`
        over :math:`\mathrm C_1`, in :math:`O(np^2)` without forming :math:`\mathrm L_x`.
        """
        v = self._check_vector(v)
        V = _unvec(v, self.nsamples)
        Lh = self.whitening().Lh
        Sx = np.zeros(self.nsamples)
        Sx[: self.svd.Sx.size] = self.svd.Sx
        SV = V * (Sx[:, None, None] if V.ndim == 3 else Sx[:, None])
        dC0 = np.einsum("ap,pqi,bq->abi", Lh, self._C0.gradient()["Lu"], Lh)
        dC1 = np.einsum("ap,pqi,bq->abi", Lh, self._C1.gradient()["Lu"], Lh)
        return {
            "C0.Lu": self._times_dC(SV, dC0),
            "C1.Lu": self._times_dC(V, dC1),
        }

    def _arguments(self) -> str:
        p, r = self._C0.L.shape
        return f"G=..., dim={p}, rank={r}"

    def _children(self) -> list[Covariance]:
        return [self._C0, self._C1]
