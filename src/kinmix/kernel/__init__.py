r"""The numerical kernel of every linear mixed model in kinmix: pure functions, no state.

Internal layer (no front end re-derives what is here). Modules, named by job:

:mod:`kinmix.kernel.null_model`
    The null model :math:`y \sim N(X\beta, s((1-\delta)K + \delta I))` on the rotated
    design :class:`kinmix.linalg.RotatedDesign`: generalised least squares at a fixed δ
    (``solve``), the ML/REML log-likelihood profiled over β and s (``profile``), its δ
    derivative (``delta_derivative``) and the δ search (grid, Brent, derivative polish).
:mod:`kinmix.kernel.null_fit`
    The null model as one object (``NullFit``): validated arrays, their rotation, the
    likelihood at given parameters and the δ search with its boundary diagnostics — what
    :class:`~kinmix.lmm.LMM`, its scanner and the GWAS driver's null fits share.
:mod:`kinmix.kernel.association`
    The fixed-δ association scan: the null state shared by all candidates
    (``build_null``), the rotation of a block of candidates (``rotate_block``), the
    per-candidate reductions to β, its SE, χ², p-value and log-likelihood
    (``reduce_block``, ``scan_block``, ``scan_rotated``).
:mod:`kinmix.kernel.exact`
    GEMMA's exact per-variant tests on the same rotated block: δ re-estimated for every
    candidate at once by REML or ML (``fit_delta``: a grid in log γ, a Chebyshev bracket,
    a safeguarded root-find on the derivative), and the fixed-δ Wald, F and score
    statistics (``fixed_delta_statistics``).

Front ends calling this API: :class:`kinmix.lmm.LMM`, :class:`kinmix.lmm.FastScanner`,
:class:`kinmix.lmm.LinearMixedModel`, :meth:`kinmix.glmm.GLMMNormal.get_fast_scanner`,
:func:`kinmix.estimate_h2` (through :class:`~kinmix.lmm.LinearMixedModel`), the GWAS driver
:mod:`kinmix.gwas` and the distributed runs of :mod:`kinmix.distributed`.
"""
