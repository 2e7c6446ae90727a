r"""The single-trait null model as one internal object: validated arrays, their rotation, the
likelihood at given parameters and the δ search with its diagnostics.

:class:`NullFit` is what every front end of the single-trait null builds on:
:class:`kinmix.lmm.LMM` (the stateful seed API over it), its
:meth:`~kinmix.lmm.LMM.get_fast_scanner` (which reads the arrays from here, not from the
LMM), and the GWAS driver's null fits (:func:`kinmix.gwas._null.fit_nulls`), which rotate
all traits in one product and hand each trait's :class:`~kinmix.linalg.RotatedDesign` in.

The search maximises the (restricted) likelihood profiled over the free β and s in
:math:`\log\gamma = \operatorname{logit}(1-\delta)` on
:math:`\pm` :data:`~kinmix.kernel.null_model.LOG_GAMMA_LIMIT` (a grid, a bounded Brent
refinement, then a root polish of the analytic derivative): see
:func:`~kinmix.kernel.null_model.maximize_log_gamma`. An optimum on the boundary of the
range is reported with a :class:`~kinmix.errors.BoundaryWarning`; a kinship proportional
to the identity, for which δ is not identifiable, with a :class:`~kinmix.errors.KinmixWarning`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import BoundaryWarning, KinmixWarning
from ..linalg import RotatedDesign, rotate
from . import null_model as kernel


@dataclass(frozen=True)
class DeltaSearch:
    """The δ found and the search that found it (None when δ is not identifiable and was
    left at its starting value)."""

    delta: float
    search: kernel.SearchResult | None


@dataclass(frozen=True)
class NullFit:
    r"""A validated single-trait problem :math:`y \sim N(X\beta, s((1-\delta)K + \delta I))`.

    ``y`` (n,), ``X`` (n, c) and ``Q0`` (n, k) are validated float64 arrays, ``design`` their
    rotation (:func:`kinmix.linalg.rotate`), ``restricted`` chooses REML over ML and
    ``logdet_xx`` is :math:`\log|X^\top X|` (REML's constant; 0 for ML). Build it with
    :meth:`of`.
    """

    y: np.ndarray
    X: np.ndarray
    Q0: np.ndarray
    design: RotatedDesign
    restricted: bool
    logdet_xx: float

    @classmethod
    def of(
        cls,
        y: np.ndarray,
        X: np.ndarray,
        Q0: np.ndarray,
        S0: np.ndarray | None = None,
        *,
        restricted: bool,
        design: RotatedDesign | None = None,
    ) -> NullFit:
        """The problem of validated arrays; ``design`` when the rotation is already done
        (then ``S0`` is not needed), otherwise :math:`O(nkc)` to rotate."""
        if design is None:
            design = rotate(Q0, S0, y, X)
        logdet_xx = kernel.logdet_XX(design) if restricted else 0.0
        return cls(y, X, Q0, design, bool(restricted), logdet_xx)

    @property
    def has_kinship(self) -> bool:
        """Whether K has at least one positive eigenvalue (otherwise δ = 1)."""
        return self.design.k > 0

    def solution(self, delta: float) -> kernel.Solution:
        """Generalised least squares at ``delta`` (:func:`kinmix.kernel.null_model.solve`)."""
        d0, d1 = kernel.delta_diagonal(self.design.S, delta)
        return kernel.solve(self.design, d0, d1)

    def log_likelihood(self, delta: float, scale: float, beta: np.ndarray) -> float:
        """The (restricted) log-likelihood at ``(delta, scale, beta)``."""
        return kernel.log_likelihood(
            self.design,
            self.solution(delta),
            scale=scale,
            beta=beta,
            restricted=self.restricted,
            logdet_xx=self.logdet_xx,
        )

    def scanner_diagonal(self, v0: float, v1: float) -> tuple[np.ndarray, float]:
        r"""``(d0, d1)`` of :math:`v_0K + v_1I`: the covariance a fixed-δ scanner holds."""
        return v0 * self.design.S + v1, v1

    def search_delta(
        self,
        *,
        beta: np.ndarray | None,
        scale: float | None,
        start: float,
        stacklevel: int = 2,
    ) -> DeltaSearch:
        """Maximise over δ the likelihood profiled over β and the scale where they are None.

        ``start`` is returned, with a warning, when δ is not identifiable. Warnings point
        ``stacklevel`` frames above this method (as :func:`warnings.warn` counts them).
        """
        if self.delta_unidentifiable(free_scale=scale is None):
            warnings.warn(
                f"h2 is unidentifiable: K is proportional to the identity (every eigenvalue "
                f"is {self.design.S[0]:.6g}), so the covariance is a multiple of I for every "
                f"delta and the data cannot split it between K and the noise. delta stays "
                f"at {start:.6g}; fit a model without K, or use a kinship with structure.",
                KinmixWarning,
                stacklevel=stacklevel + 1,
            )
            return DeltaSearch(start, None)

        def objective(log_gamma: float) -> float:
            d0, d1 = kernel.delta_diagonal(self.design.S, kernel.delta_from_log_gamma(log_gamma))
            return kernel.profile_log_likelihood(
                self.design,
                d0,
                d1,
                restricted=self.restricted,
                beta=beta,
                scale=scale,
                logdet_xx=self.logdet_xx,
            )

        def derivative(log_gamma: float) -> float:
            return kernel.profile_delta_derivative(
                self.design, log_gamma, restricted=self.restricted, beta=beta, scale=scale
            )

        limit = kernel.LOG_GAMMA_LIMIT
        result = kernel.maximize_log_gamma(objective, (-limit, limit), xatol=1e-10)
        x = kernel.polish_root(derivative, result.x, (-limit, limit), step=1e-3)
        to_lower, to_upper = result.distance_to_bounds()
        if min(to_lower, to_upper) < 1e-3:
            bound = -limit if to_lower < to_upper else limit
            if objective(bound) >= result.fun:
                x = bound
            self._warn_boundary(x, stacklevel + 1)
        return DeltaSearch(kernel.delta_from_log_gamma(x), result)

    def _warn_boundary(self, log_gamma: float, stacklevel: int) -> None:
        delta = kernel.delta_from_log_gamma(log_gamma)
        degenerate = log_gamma > 0 and not self.restricted and self.covariates_meet_null_space()
        if degenerate:
            meaning = (
                "the ML likelihood has no maximum: the covariates reach into the null space "
                "of K (e.g. an intercept with a centred or standardised GRM), where it grows "
                "without bound as delta -> 0, so delta stops on the bound (gamma = "
                f"sigma_g^2/sigma_e^2 = {np.exp(log_gamma):.6g}, GEMMA's limit) and is not an "
                "estimate. Fit with restricted=True (REML)."
            )
        else:
            meaning = "the data favour " + (
                "no kinship effect (h2 -> 0)." if log_gamma < 0 else "h2 -> 1 (no noise)."
            )
        warnings.warn(
            f"the optimum of delta lies on the boundary of its search range "
            f"(delta = {delta:.10g}; the range is [{kernel.DELTA_MIN:.3g}, "
            f"1 - {kernel.DELTA_MIN:.3g}]): {meaning}",
            BoundaryWarning,
            stacklevel=stacklevel + 1,
        )

    def delta_unidentifiable(self, *, free_scale: bool) -> bool:
        """Whether K ∝ I, so that δ only moves a scale that is free (or K = I exactly)."""
        S, des = self.design.S, self.design
        if des.complement or des.k == 0:
            return False
        flat = float(np.ptp(S)) <= 1e-10 * float(S.max())
        return flat and (free_scale or abs(float(S.max()) - 1.0) <= 1e-10)

    def covariates_meet_null_space(self) -> bool:
        """Whether some combination of the covariates is orthogonal to every Q0 column."""
        des = self.design
        if not des.complement:
            return False
        norms = np.linalg.svd(des.QX, compute_uv=False) if des.k else np.zeros(1)
        scale = np.sqrt(np.linalg.eigvalsh(des.XX).max())
        return bool(norms.size < des.c or norms.min() < 1e-6 * scale)
