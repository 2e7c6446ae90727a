r"""Hail's ``LinearMixedModel`` API on the kinmix kernel."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import OptimizeResult

from .._validate import as_matrix, as_scalar, as_vector, is_dask_array
from ..errors import FitError, InputError
from ..kernel import association as _scan
from ..kernel import null_model as kernel
from ..linalg import DEFAULT_RTOL, RotatedDesign, economic_qs, leading_rank
from ..params import FitResult

#: Radius in log γ of the parabola through which the standard error of h² is estimated.
H2_SE_RADIUS = 1e-4
#: Distance in log γ to a bound below which :meth:`LinearMixedModel.fit` refuses the optimum.
BOUNDARY_MARGIN = 0.01


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _check_bounds(bounds: Any) -> tuple[float, float]:
    """``bounds`` as two finite floats ``lower < upper``, or an :class:`InputError`."""
    try:
        lower, upper = bounds
    except (TypeError, ValueError):
        lower = upper = None
    if lower is None or isinstance(bounds, str):
        raise InputError(f"bounds must be a pair (lower, upper) of numbers; got {bounds!r}.")
    lower = as_scalar(lower, "bounds[0]")
    upper = as_scalar(upper, "bounds[1]")
    if not lower < upper:
        raise InputError(f"bounds must satisfy lower < upper; got {bounds!r}.")
    return lower, upper


class LinearMixedModel:
    r"""Linear mixed model :math:`y \sim N(X\beta, \sigma^2K + \tau^2I)` in Hail's form.

    The model is given through the eigendecomposition :math:`K = U S U^\top` and
    :math:`P = U^\top`: with :math:`\gamma = \sigma^2/\tau^2`,
    :math:`Py \sim N(PX\beta, \tau^2(\gamma S + I))`.

    - **Full rank**: ``LinearMixedModel(py, px, s)`` with :math:`P` square (:math:`r = n`).
    - **Low rank**: ``LinearMixedModel(py, px, s, y, x)`` with :math:`P_r` the top
      :math:`r < n` eigenvectors; :math:`y` and :math:`X` supply the part of the data
      orthogonal to them. Exact when :math:`K` has rank :math:`r`.

    :meth:`fit` maximises the restricted likelihood (REML) over :math:`\log\gamma` and sets
    ``beta``, ``sigma_sq``, ``tau_sq``, ``gamma``, ``log_gamma``, ``h_sq`` =
    :math:`\sigma^2/(\sigma^2+\tau^2)` and ``h_sq_standard_error``. These attributes are
    ``None`` before the first fit (Hail's semantics). Each evaluation of the restricted
    likelihood costs :math:`O(rf^2)`; it is the kernel of :class:`kinmix.lmm.LMM` with
    :math:`\delta = 1/(1+\gamma)`.

    Parameters
    ----------
    py : ndarray, shape (r,)
        Projected response :math:`P_r y`.
    px : ndarray, shape (r, f)
        Projected design :math:`P_r X`.
    s : ndarray, shape (r,)
        Eigenvalues :math:`S_r` (non-negative).
    y : ndarray, shape (n,), optional
        Response; give it, with ``x``, for the low-rank model.
    x : ndarray, shape (n, f), optional
        Design matrix; give it, with ``y``, for the low-rank model.
    """

    def __init__(
        self,
        py: Any,
        px: Any,
        s: Any,
        y: Any | None = None,
        x: Any | None = None,
        p_path: str | None = None,
    ) -> None:
        if (y is None) != (x is None):
            raise InputError("for low rank give both y and x; for full rank give neither.")
        py = as_vector(py, "py")
        r = py.shape[0]
        px = as_matrix(px, "px", nrows=r)
        s = as_vector(s, "s", size=r)
        if s.size and s.min() < -DEFAULT_RTOL * max(s.max(), 0.0):
            raise InputError(
                f"s must be non-negative; its smallest value is {s.min():.6g} "
                f"(tolerance {DEFAULT_RTOL:.2g} × the largest)."
            )
        s = np.maximum(s, 0.0)
        f = px.shape[1]
        if f == 0:
            raise InputError(
                "LinearMixedModel needs at least one fixed effect (px has 0 columns)."
            )
        self.low_rank = y is not None
        if self.low_rank:
            y = as_vector(y, "y")
            x = as_matrix(x, "x", nrows=y.shape[0])
            if x.shape[1] != f:
                raise InputError(f"x has {x.shape[1]} columns but px has {f}.")
            if y.shape[0] <= r:
                raise InputError(
                    f"low rank needs more observations than eigenvalues: y has {y.shape[0]} "
                    f"entries and s has {r}. Use the full-rank model instead."
                )
            n = y.shape[0]
            yy, xy, xx = float(y @ y), x.T @ y, x.T @ x
        else:
            n = r
            yy, xy, xx = float(py @ py), px.T @ py, px.T @ px
        self.n, self.f, self.r = n, f, r
        self.py, self.px, self.s, self.y, self.x = py, px, s, y, x
        self.p_path = p_path
        self._check_dof()
        self._design = RotatedDesign(n, s, py, px, yy, xy, xx, complement=self.low_rank)
        self._logdet_xx = kernel.logdet_XX(self._design)
        self._reset()

    @classmethod
    def from_design(cls, design: Any) -> LinearMixedModel:
        """The full-rank model of a kinmix design, for REML, h² and its standard error only.

        ``design`` is a ``kinmix.linalg.RotatedDesign`` without complement or a
        :class:`kinmix.tridiagonal.TridiagonalDesign` (whose rotation is not the eigenbasis:
        the model then has no ``py``, ``px`` and ``s`` of Hail's, and cannot fit
        alternatives). :meth:`fit`, :meth:`compute_neg_log_reml` and the h² attributes
        behave as for the model of the same data and kinship built from its eigenvectors.
        """
        if design.complement or design.c == 0:
            raise InputError("from_design needs a full-rank design with at least one covariate.")
        model = cls.__new__(cls)
        model.low_rank = False
        model.n, model.f, model.r = design.n, design.c, design.k
        model.py = model.px = model.y = model.x = None
        model.s = design.S
        model.p_path = None
        model._check_dof()
        model._design = design
        model._logdet_xx = kernel.logdet_XX(design)
        model._reset()
        return model

    def _reset(self) -> None:
        self.beta: np.ndarray | None = None
        self.sigma_sq: float | None = None
        self.tau_sq: float | None = None
        self.gamma: float | None = None
        self.log_gamma: float | None = None
        self.h_sq: float | None = None
        self.h_sq_standard_error: float | None = None
        self.optimize_result: OptimizeResult | None = None
        self._null: _scan.ScanNull | None = None
        self._residual_sq: float | None = None

    def _check_dof(self, f: int | None = None) -> None:
        f = self.f if f is None else f
        dof = self.n - f
        if dof <= 0:
            raise InputError(
                f"{_plural(self.n, 'observation')} with {_plural(f, 'fixed effect')} implies "
                f"{_plural(dof, 'degree')} of freedom. Must be positive."
            )

    # -- the restricted likelihood ---------------------------------------------------------
    def _diagonal(self, log_gamma: float) -> tuple[np.ndarray, float]:
        inv_gamma = float(np.exp(-log_gamma))
        return self.s + inv_gamma, inv_gamma

    def compute_neg_log_reml(self, log_gamma: float, return_parameters: bool = False):
        r"""Negative log REML at fixed :math:`\log\gamma`, shifted by a constant.

        The value omits :math:`\tfrac12((n-f)(1+\log 2\pi) - \log|X^\top X|)`, so that it
        equals :math:`\tfrac12(\log|X^\top\Sigma^{-1}X| + \log|\Sigma| + (n-f)\log\sigma^2)`
        with :math:`\Sigma = K + \gamma^{-1}I` and :math:`\sigma^2` at its REML optimum.

        Returns
        -------
        float, or (float, ndarray, float, float)
            The value, and with ``return_parameters`` also β, σ² and τ².
        """
        d0, d1 = self._diagonal(as_scalar(log_gamma, "log_gamma"))
        sol = kernel.solve(self._design, d0, d1)
        dof = self.n - self.f
        sigma_sq = sol.rss / dof
        value = 0.5 * (
            2.0 * float(np.sum(np.log(np.diag(sol.XVX_cho[0]))))
            + sol.logdet
            + dof * np.log(sigma_sq)
        )
        if return_parameters:
            return value, sol.beta, sigma_sq, sigma_sq * d1
        return value

    def restricted_log_likelihood(self) -> float:
        r"""The full restricted log-likelihood at the fitted :math:`\log\gamma`.

        :meth:`compute_neg_log_reml` with its omitted constant
        :math:`\tfrac12((n-f)(1+\log 2\pi) - \log|X^\top X|)` restored (a kinmix addition
        to Hail's API; the value of :meth:`kinmix.lmm.LMM.lml` with ``restricted=True``).
        """
        if self.log_gamma is None:
            raise FitError("null model is not fit. Run 'fit' first.")
        d0, d1 = self._diagonal(self.log_gamma)
        return kernel.profile_log_likelihood(
            self._design, d0, d1, restricted=True, logdet_xx=kernel.logdet_XX(self._design)
        )

    def fit(
        self,
        log_gamma: float | None = None,
        bounds: tuple[float, float] = (-8.0, 8.0),
        tol: float = 1e-8,
        maxiter: int = 500,
    ) -> FitResult:
        r"""Find :math:`(\beta, \sigma^2, \tau^2)` maximising the restricted likelihood.

        With ``log_gamma`` given, :math:`\log\gamma` is held at that value (0.0 included)
        and ``h_sq_standard_error`` is ``None`` unless that value is a local optimum.
        Otherwise :math:`\log\gamma` is searched on ``bounds`` — a grid, a bounded Brent
        refinement to absolute tolerance ``tol`` in at most ``maxiter`` iterations, then a
        root-find on the analytic derivative — and ``optimize_result`` is set. An optimum
        within 0.01 of either bound raises :class:`kinmix.FitError`.

        Returns the frozen :class:`~kinmix.params.FitResult` (Hail returned nothing): the
        search's convergence, its likelihood evaluations as ``n_iterations`` and
        ``n_evaluations`` (none and one at a given ``log_gamma``), its message, and
        :meth:`restricted_log_likelihood` as ``value``.
        """
        self._reset()
        converged, evaluations, message = True, 1, "log_gamma given: no search"
        if log_gamma is not None:
            log_gamma = as_scalar(log_gamma, "log_gamma")
            at_optimum = False
        else:
            bounds = _check_bounds(bounds)
            result = kernel.maximize_log_gamma(
                lambda t: -self.compute_neg_log_reml(t), bounds, xatol=tol, maxiter=maxiter
            )
            polished = kernel.polish_root(
                lambda t: kernel.profile_delta_derivative(self._design, t, restricted=True),
                result.x,
                bounds,
                step=max(10 * tol, 1e-6),
            )
            self.optimize_result = OptimizeResult(
                x=result.x,
                fun=-result.fun,
                nfev=result.nfev,
                success=result.success,
                message=result.message,
            )
            to_lower, to_upper = result.distance_to_bounds()
            if to_lower < BOUNDARY_MARGIN:
                raise FitError(
                    f"failed to fit log_gamma: optimum {result.x:.6g} within "
                    f"{BOUNDARY_MARGIN} of the lower bound {bounds[0]}."
                )
            if to_upper < BOUNDARY_MARGIN:
                raise FitError(
                    f"failed to fit log_gamma: optimum {result.x:.6g} within "
                    f"{BOUNDARY_MARGIN} of the upper bound {bounds[1]}."
                )
            log_gamma = polished
            at_optimum = True
            converged, evaluations, message = result.success, result.nfev, result.message
        _, beta, sigma_sq, tau_sq = self.compute_neg_log_reml(log_gamma, True)
        self.log_gamma, self.gamma = log_gamma, float(np.exp(log_gamma))
        self.beta, self.sigma_sq, self.tau_sq = beta, float(sigma_sq), float(tau_sq)
        self.h_sq = self.sigma_sq / (self.sigma_sq + self.tau_sq)
        self._residual_sq = self.sigma_sq * (self.n - self.f)
        self.h_sq_standard_error = self._h_sq_standard_error(strict=at_optimum)
        iterations = evaluations if at_optimum else 0
        return FitResult(
            converged, iterations, evaluations, message, self.restricted_log_likelihood()
        )

    def _neg_log_reml_slope(self, log_gamma: float) -> float:
        """Derivative of :meth:`compute_neg_log_reml` over log γ (analytic)."""
        delta = kernel.delta_from_log_gamma(log_gamma)
        slope = kernel.profile_delta_derivative(self._design, log_gamma, restricted=True)
        return delta * (1.0 - delta) * slope

    def _h_sq_standard_error(self, strict: bool) -> float | None:
        r"""Asymptotic standard error of :math:`h^2` from the curvature of the REML.

        With :math:`f` the negative log REML and :math:`t = \log\gamma =
        \operatorname{logit} h^2`, the standard error is :math:`(d^2f/d(h^2)^2)^{-1/2}`,

        .. math::

            \frac{d^2f}{d(h^2)^2} = \frac{f''(t) + (2h^2 - 1) f'(t)}{(h^2(1-h^2))^2},

        where :math:`f'` is analytic and :math:`f''` its central difference (radius
        ``H2_SE_RADIUS``), accurate to about 1e-9 relative. (Hail fitted a parabola to three
        values of :math:`f`, which carries rounding noise of order 1e-6.) Defined at a
        minimum only: when the fit searched for the optimum and the point is not a minimum,
        the fit failed (``strict`` raises); at a ``log_gamma`` imposed by the caller that is
        not a minimum the standard error is ``None``.
        """
        t = self.log_gamma + np.array([-H2_SE_RADIUS, 0.0, H2_SE_RADIUS])
        nll = np.array([self.compute_neg_log_reml(ti) for ti in t])
        if nll[1] > nll[0] or nll[1] > nll[2]:
            if not strict:
                return None
            i = 0 if nll[1] > nll[0] else 2
            raise FitError(
                f"the negative log REML is {nll[1]} at log_gamma={t[1]} but {nll[i]} at "
                f"log_gamma={t[i]}: the fit is not a minimum. Plot h_sq_normalized_lkhd()."
            )
        slope = self._neg_log_reml_slope(t[1])
        curvature = (self._neg_log_reml_slope(t[2]) - self._neg_log_reml_slope(t[0])) / (
            2 * H2_SE_RADIUS
        )
        h2 = self.h_sq
        second = (curvature + (2 * h2 - 1) * slope) / (h2 * (1 - h2)) ** 2
        if not second > 0:  # a flat restricted likelihood: h² is not determined at all
            return float("inf")
        return float(1.0 / np.sqrt(second))

    def h_sq_normalized_lkhd(self) -> np.ndarray:
        r"""Restricted likelihood of :math:`h^2` on the grid 0, 0.01, …, 1, normalised.

        Entries 1..99 hold the likelihood at :math:`h^2 = i/100` (β and σ² profiled)
        divided by their sum; the endpoints, where the model degenerates, are NaN.
        """
        h2 = np.arange(1, 100) / 100.0
        log_lkhd = np.array([-self.compute_neg_log_reml(np.log(h / (1.0 - h))) for h in h2])
        lkhd = np.exp(log_lkhd - log_lkhd.max())
        out = np.full(101, np.nan)
        out[1:100] = lkhd / lkhd.sum()
        return out

    # -- alternatives -------------------------------------------------------------------
    def _scan_null(self) -> _scan.ScanNull:
        if self.log_gamma is None:
            raise FitError("null model is not fit. Run 'fit' first.")
        if self.py is None:
            raise FitError("this model was built from a design (from_design): it has no "
                           "rotated data to fit alternatives with.")
        if self._null is None:
            d0, d1 = self._diagonal(self.log_gamma)
            X, y = (self.x, self.y) if self.low_rank else (self.px, self.py)
            self._null = _scan.build_null([self._design], [(d0, d1)], X, y[:, None])
        return self._null

    def _alternatives_frame(self, block: _scan.ScanBlock, start: int) -> pd.DataFrame:
        m = block.chi2.shape[1]
        dof_alt = self.n - self.f - 1
        rss1 = block.scale[0] * self.n
        return pd.DataFrame(
            {
                "idx": np.arange(start, start + m, dtype=np.int64),
                "beta": block.effsizes1[0, :, 0],
                "sigma_sq": rss1 / dof_alt,
                "chi_sq": block.chi2[0],
                "p_value": block.pvalue[0],
            }
        )

    def _fit_alternatives_block(self, pa: np.ndarray, a: np.ndarray | None, start: int):
        null = self._scan_null()
        QM = pa[:, :, None]
        if self.low_rank:
            MM, BM = _scan.raw_products(null, a[:, :, None])
        else:
            MM, BM = None, None
        return self._alternatives_frame(_scan.scan_rotated(null, QM, MM, BM), start)

    def fit_alternatives_numpy(self, pa: Any, a: Any | None = None) -> pd.DataFrame:
        r"""Test each alternative :math:`x_\star` (a column of ``a``) against the null.

        Both models hold :math:`\gamma` at its null REML estimate. The statistic is
        :math:`\chi^2 = n\log(R_0/R_\star)` with one degree of freedom, where :math:`R` is
        the weighted residual sum of squares; ``sigma_sq`` is :math:`R_\star/(n-f-1)`.

        Parameters
        ----------
        pa : ndarray, shape (r, m)
            Projected alternatives :math:`P_r A`.
        a : ndarray, shape (n, m), optional
            The alternatives :math:`A` (required for, and only for, low rank).

        Returns
        -------
        pandas.DataFrame
            Columns ``idx, beta, sigma_sq, chi_sq, p_value``, ordered by ``idx``.
        """
        self._check_dof(self.f + 1)
        pa = as_matrix(pa, "pa", nrows=self.r)
        if self.low_rank:
            if a is None:
                raise InputError("model is low-rank so a is required.")
            a = as_matrix(a, "a", nrows=self.n)
            if a.shape[1] != pa.shape[1]:
                raise InputError(f"a has {a.shape[1]} columns but pa has {pa.shape[1]}.")
        elif a is not None:
            raise InputError("model is full-rank so a must not be set.")
        return self._fit_alternatives_block(pa, a, 0)

    def fit_alternatives(
        self, pa_t_path: str, a_t_path: str | None = None, partition_size: int | None = None
    ) -> pd.DataFrame:
        r""":meth:`fit_alternatives_numpy` over on-disk alternatives, in parallel on Dask.

        Parameters
        ----------
        pa_t_path : str
            Path of a 2-D Zarr array :math:`(P_r A)^\top` of shape (m, r): one row per
            alternative (see :func:`kinmix.io.blockmatrix.write_block_matrix`).
        a_t_path : str, optional
            Path of the Zarr array :math:`A^\top`, shape (m, n); required for low rank.
        partition_size : int, optional
            Rows per Dask task; defaults to the row chunk size of ``pa_t_path``.

        Returns
        -------
        pandas.DataFrame
            As :meth:`fit_alternatives_numpy`, ordered by ``idx``. Runs on the current
            ``dask.distributed`` client if there is one, the local scheduler otherwise.
        """
        from ..distributed import fit_alternatives_dask

        self._check_dof(self.f + 1)
        if self.low_rank and a_t_path is None:
            raise InputError("model is low-rank so a_t_path is required.")
        if not self.low_rank and a_t_path is not None:
            raise InputError("model is full-rank so a_t_path must not be set.")
        if partition_size is not None and partition_size <= 0:
            raise InputError(f"partition_size must be positive, found {partition_size}.")
        self._scan_null()
        return fit_alternatives_dask(self, pa_t_path, a_t_path, partition_size)

    # -- constructors ---------------------------------------------------------------------
    @classmethod
    def from_kinship(
        cls, y: Any, x: Any, k: Any, p_path: str | None = None, overwrite: bool = False
    ) -> tuple[LinearMixedModel, np.ndarray]:
        r"""Full-rank model from a kinship matrix :math:`K` (:math:`O(n^3)` eigendecomposition).

        Returns the model and :math:`P = U^\top` (n×n); with ``p_path``, :math:`P` is also
        written there as a Zarr array (``overwrite`` to replace an existing one).
        """
        y = as_vector(y, "y")
        n = y.shape[0]
        x = as_matrix(x, "x", nrows=n)
        k = as_matrix(k, "k", nrows=n)
        if k.shape != (n, n):
            raise InputError(f"k must be {n}×{n} to match y; got shape {k.shape}.")
        (Q0, Q1), S0 = economic_qs(k, rtol=DEFAULT_RTOL)
        U = np.concatenate([Q1, Q0], axis=1)
        s = np.concatenate([np.zeros(Q1.shape[1]), S0])
        p = U.T
        cls._write_projection(p, p_path, overwrite)
        return cls(p @ y, p @ x, s, p_path=p_path), p

    @classmethod
    def from_random_effects(
        cls,
        y: Any,
        x: Any,
        z: Any,
        p_path: str | None = None,
        overwrite: bool = False,
        max_condition_number: float = 1e-10,
        complexity_bound: int = 8192,
    ) -> tuple[LinearMixedModel, np.ndarray]:
        r"""Model from a random-effect design :math:`Z`, :math:`K = ZZ^\top` (low rank if m < n).

        With :math:`Z` of shape (n, m): when :math:`m \ge n` the full-rank model is built
        from :math:`ZZ^\top`; otherwise a thin SVD :math:`Z = U\Sigma W^\top` gives the
        low-rank model with :math:`P_r = U^\top` and :math:`S_r = \Sigma^2`, keeping the
        singular values with :math:`\sigma_i^2 >` ``max_condition_number`` ·
        :math:`\sigma_1^2`. ``z`` may be a Dask array: when
        :math:`\min(n,m)^2 n \le` ``complexity_bound`` · :math:`10^6` it is brought into
        memory and decomposed with NumPy, otherwise with Dask's tall-and-skinny SVD.
        Returns the model and :math:`P_r` (r×n), also written to ``p_path`` when given.
        """
        y = as_vector(y, "y")
        n = y.shape[0]
        x = as_matrix(x, "x", nrows=n)
        z = _maybe_compute(z, n, complexity_bound)
        if z.shape[0] != n:
            raise InputError(f"z has {z.shape[0]} rows but y has {n} entries.")
        m = z.shape[1]
        if m >= n:
            z = as_matrix(z, "z")
            return cls.from_kinship(y, x, z @ z.T, p_path, overwrite)
        if isinstance(z, np.ndarray):
            u, sv, _ = np.linalg.svd(as_matrix(z, "z"), full_matrices=False)
        else:
            import dask.array as da

            u, sv, _ = (np.asarray(part) for part in da.compute(*da.linalg.svd(z)))
        s = sv**2
        k = leading_rank(s, max_condition_number)
        p = np.ascontiguousarray(u[:, :k].T)
        s = s[:k]
        cls._write_projection(p, p_path, overwrite)
        return cls(p @ y, p @ x, s, y, x, p_path=p_path), p

    @staticmethod
    def _write_projection(p: np.ndarray, p_path: str | None, overwrite: bool) -> None:
        if p_path is None:
            return
        from ..io.blockmatrix import write_block_matrix

        write_block_matrix(p, p_path, overwrite=overwrite)


def _maybe_compute(z: Any, n: int, complexity_bound: int) -> Any:
    """Bring a small Dask ``z`` into memory; leave a large one as is."""
    if not is_dask_array(z):
        return np.asarray(z, dtype=np.float64)
    r = min(z.shape)
    if r * r * n <= complexity_bound * 1e6:
        return np.asarray(z.compute())
    return z
