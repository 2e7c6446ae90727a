r"""Numerical constants of kinmix, each defined once.

``LOG2PI``
    :math:`\log 2\pi`, the constant of every Gaussian log-density.
``SQRT_EPS``
    :math:`\sqrt{\epsilon}` of float64 (about 1.49e-8): the smallest δ and 1 − δ of the
    GLMMs, the relative eigenvalue cut of the economic eigendecompositions, the jitter of
    sampled covariances.
``GAMMA_BOUNDS``
    GEMMA's range of the variance ratio :math:`\gamma = \sigma^2_g/\sigma^2_e`
    (its :math:`\lambda`), :math:`[10^{-5}, 10^5]`: the range of every δ search. With ML,
    covariates that reach the null space of K (an intercept with a centred or standardised
    GRM, :math:`K\mathbf 1 = 0`) make the likelihood grow without bound as
    :math:`\gamma \to \infty`; the search then stops on this bound, where GEMMA stops.
``DELTA_BOUNDS``
    The same range on :math:`\delta = 1/(1+\gamma)`,
    :math:`[1/(1+10^5),\ 1/(1+10^{-5})]` (symmetric: :math:`1 - \delta_{max} = \delta_{min}`
    ≈ 1e-5), the range of the LMM kernel's searches over
    :math:`\log\gamma = \mathrm{logit}(1-\delta)` (the GLMMs keep glimix-core's
    :math:`[\sqrt\epsilon, 1-\sqrt\epsilon]`, ``kinmix.glmm._base``).
``COLLINEARITY_RTOL``
    Scale-invariant collinearity tolerance: a column whose squared (weighted) norm is
    explained by the others up to a share of ``1 − COLLINEARITY_RTOL`` (its unexplained
    share is at most ``COLLINEARITY_RTOL``) is collinear with them.
``CONSTANCY_RTOL``
    A genotype column whose variance is at most this share of its mean square is constant.
``RESIDUAL_SHARE_MIN``
    A trait whose residual after least squares on the covariates is at most this share
    (1e-12) of its sum of squares is fitted exactly: the kernel's residual sums of squares,
    differences of quadratic forms, would carry no correct digit.
``MAX_ABS_VALUE``
    The largest magnitude accepted in an input array (1e150): the square of anything
    larger, and so every inner product, could overflow float64.
``CHI2_MEDIAN``
    The median of the :math:`\chi^2_1` distribution, the denominator of the genomic-control
    :math:`\lambda_{GC}`.
``FREE_FORM_JITTER``
    The multiple of the identity added to a free-form covariance :math:`LL^\top`
    (:math:`1000\sqrt\epsilon`) so that it stays positive definite.
``QUADRATURE_NODES``
    Default number of quadrature nodes of the tilted moments of EP.
``AUTO_CG_SAMPLES``
    The sample count from which ``method="auto"`` (``kinmix.scan`` with a
    :class:`~kinmix.matfree.GenotypeGRM`, ``kinmix scan --method auto``) solves by
    conjugate gradients instead of eigendecomposing: set from
    ``benchmarks/matfree_crossover.py``.
"""

from __future__ import annotations

import numpy as np

LOG2PI = float(np.log(2.0 * np.pi))
SQRT_EPS = float(np.sqrt(np.finfo(float).eps))
GAMMA_BOUNDS = (1e-5, 1e5)
DELTA_BOUNDS = (1.0 / (1.0 + GAMMA_BOUNDS[1]), 1.0 / (1.0 + GAMMA_BOUNDS[0]))
COLLINEARITY_RTOL = 1e-10
CONSTANCY_RTOL = 1e-10
FREE_FORM_JITTER = 1000 * SQRT_EPS
MAX_ABS_VALUE = 1e150
RESIDUAL_SHARE_MIN = 1e-12
#: ``scipy.stats.chi2(1).ppf(0.5)``.
CHI2_MEDIAN = 0.454936423119572
QUADRATURE_NODES = 1024
AUTO_CG_SAMPLES = 2000
