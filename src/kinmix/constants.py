r"""Numerical constants of kinmix, each defined once.

``LOG2PI``
    :math:`\log 2\pi`, the constant of every Gaussian log-density.
``SQRT_EPS``
    :math:`\sqrt{\epsilon}` of float64 (about 1.49e-8): the smallest admissible δ and
    1 − δ, the relative eigenvalue cut of the economic eigendecompositions, the jitter of
    sampled covariances.
``DELTA_BOUNDS``
    The one parametrisation bound of δ: :math:`\delta \in [\sqrt\epsilon, 1-\sqrt\epsilon]`,
    shared by the LMM kernel (through :math:`\log\gamma = \mathrm{logit}(1-\delta)`) and
    the GLMMs (through ``logitdelta``).
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
"""

from __future__ import annotations

import numpy as np

LOG2PI = float(np.log(2.0 * np.pi))
SQRT_EPS = float(np.sqrt(np.finfo(float).eps))
DELTA_BOUNDS = (SQRT_EPS, 1.0 - SQRT_EPS)
COLLINEARITY_RTOL = 1e-10
CONSTANCY_RTOL = 1e-10
FREE_FORM_JITTER = 1000 * SQRT_EPS
MAX_ABS_VALUE = 1e150
RESIDUAL_SHARE_MIN = 1e-12
#: ``scipy.stats.chi2(1).ppf(0.5)``.
CHI2_MEDIAN = 0.454936423119572
QUADRATURE_NODES = 1024
