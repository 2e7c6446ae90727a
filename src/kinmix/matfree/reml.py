r"""Monte-Carlo REML for δ, one root search per LOCO group, all groups in one batch.

For :math:`V = (1-\delta)K + \delta I` and the REML projection P, the REML equations of
:math:`\sigma_g^2 K + \sigma_e^2 I` are :math:`y^\top PKPy = \operatorname{tr}(PK)` and
:math:`y^\top PPy = \operatorname{tr}(P)` (at the optimum, with P scaled by the fitted
scale). Their ratio is free of the scale:

.. math::

    \frac{y^\top PKPy}{y^\top PPy} = \frac{\operatorname{tr}(PK)}{\operatorname{tr}(P)} .

The traces are estimated by Monte Carlo: for :math:`y_r \sim N(0, V)`,
:math:`E[y_r^\top PKPy_r] = \operatorname{tr}(PKPV) = \operatorname{tr}(PK)` and
:math:`E[y_r^\top PPy_r] = \operatorname{tr}(P)` since :math:`PVP = P`. With R draws
:math:`y_r = \sqrt{1-\delta}\,g_r + \sqrt{\delta}\,e_r` (:math:`g_r = Zu_r/\sqrt m`,
:math:`e_r \sim N(0, I)`; the same :math:`u_r, e_r` at every δ, so that the equation is a
smooth function of δ), δ solves

.. math::

    f(t) = \log\frac{y^\top PKPy}{y^\top PPy}
         - \log\frac{\sum_r y_r^\top PKPy_r}{\sum_r y_r^\top PPy_r} = 0,
    \qquad t = \log\lambda = \log\frac{\delta}{1-\delta},

by the secant method in t. Each evaluation is one batched solve (all groups, all draws,
y and the covariates) and one extra operator pass, :math:`KS` for the solutions
:math:`S = V^{-1}[y, X, y_r]`: :math:`KP[y, y_r]` follows from it by the covariates'
coefficients, and it warm-starts the next evaluation of the group, whose CG starts from S
with :math:`V'S = (1-\delta')KS + \delta' S` known without another pass (at the n = 5,000
cohort of ``benchmarks/biobank.py`` the four evaluations took 9, 8, 9, 9 iterations from
zero).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import BoundaryWarning, FitError
from ._arrays import backend, concat, fetch
from .gls import Batch, project, solve_batch
from .operator import GenotypeGRM

logger = logging.getLogger("kinmix.matfree")

#: Bounds of t = log(δ/(1−δ)) searched (δ from about 1e-3 to 1 − 1e-3).
T_BOUNDS = (-7.0, 7.0)


@dataclass(frozen=True)
class RemlFit:
    """Monte-Carlo REML estimates, one per group.

    ``delta`` (G,); ``steps`` secant evaluations; ``iterations`` CG iterations per
    evaluation; ``samples`` the number R of Monte-Carlo draws.
    """

    delta: np.ndarray
    steps: int
    iterations: list
    samples: int


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-t))


def mc_reml(
    op: GenotypeGRM,
    y: np.ndarray,
    X: np.ndarray,
    groups: np.ndarray,
    *,
    samples: int,
    rng: np.random.Generator,
    tol: float,
    maxiter: int,
    step_tol: float = 1e-3,
    max_steps: int = 20,
    start: np.ndarray | None = None,
) -> RemlFit:
    r"""Monte-Carlo REML δ for each group (a chromosome left out, or the whole genome).

    Parameters
    ----------
    op : GenotypeGRM
    y : ndarray, shape (n,)
    X : ndarray, shape (n, c)
    groups : ndarray of int
        Group indices (:data:`~kinmix.matfree.operator.WHOLE_GENOME` for the full K).
    samples : int
        Monte-Carlo draws R per group.
    rng : numpy.random.Generator
    tol, maxiter : float, int
        Relative residual and iteration cap of the CG stage ``"reml"``.
    step_tol : float
        The search stops when a secant step moves t = log λ by less than this.
    max_steps : int
        Cap on secant steps; reaching it raises :class:`kinmix.FitError`.
    start : ndarray, optional
        Initial δ per group (default 0.5).
    """
    groups = np.asarray(groups)
    G, n = groups.size, op.n
    draw_groups = np.repeat(groups, samples)
    genetic = op.genetic_draws(draw_groups, rng)
    noise = rng.standard_normal((n, G * samples))
    if op.distributed:
        import dask.array as da

        noise = da.from_array(noise, chunks=noise.shape)

    def evaluate(t: np.ndarray, which: np.ndarray) -> np.ndarray:
        sub = Batch(groups[which], X.shape[1], np.full(which.size, samples))
        delta = _sigmoid(t[which])
        cols = np.concatenate([np.arange(g * samples, (g + 1) * samples) for g in which])
        d = np.repeat(delta, samples)
        draws = genetic[:, cols] * np.sqrt(1.0 - d) + noise[:, cols] * np.sqrt(d)
        extra = [draws[:, k * samples : (k + 1) * samples] for k in range(which.size)]
        B = sub.columns(y, X, extra)
        start = None
        if previous:  # warm start from the group's solution at its previous δ
            start = tuple(concat(op, [previous[g][i] for g in which]) for i in (0, 1))
        B, result = solve_batch(op, sub, B, delta, stage="reml", tol=tol, maxiter=maxiter,
                                start=start)
        iterations.append(result.iterations)
        S = result.solution
        proj = project(sub, B, S, backend(op))
        # One more operator pass, on every solution column S = V^{-1}[y, X, y_r]: it gives
        # K_{-c} P[y, y_r] = KS - KS_X coef for the quadratic forms, and the products that
        # warm-start the group's next evaluation.
        KS = op.product(S, sub.column_groups())
        c, off = X.shape[1], sub.offsets
        KPy, KPe = [], []
        for k, g in enumerate(which):
            lo, hi = off[k], off[k + 1]
            previous[g] = (S[:, lo:hi], KS[:, lo:hi])
            KPg = KS[:, lo:hi] - KS[:, lo + 1 : lo + 1 + c] @ proj.coef[k]
            KPy.append(KPg[:, :1])
            KPe.append(KPg[:, 1 + c :])
        vectors = concat(op, [proj.Py, proj.Pe])
        KP = concat(op, KPy + KPe)
        quad = fetch(op, [(vectors * KP).sum(axis=0), (vectors * vectors).sum(axis=0)])
        pkp, pp = quad
        data = np.log(pkp[: which.size] / pp[: which.size])
        sims = pkp[which.size :].reshape(which.size, samples).sum(axis=1)
        sims_pp = pp[which.size :].reshape(which.size, samples).sum(axis=1)
        return data - np.log(sims / sims_pp)

    iterations: list = []
    previous: dict = {}  # group position → (S_g, K S_g) of its latest evaluation
    t = np.zeros(G) if start is None else np.log(np.asarray(start) / (1 - np.asarray(start)))
    t = np.clip(t, *T_BOUNDS)
    f = evaluate(t, np.arange(G))
    # First secant point: half a unit of log λ downhill (f > 0 means more genetic signal
    # than V assumes, so a smaller δ).
    t_prev, f_prev = t, f
    t = np.clip(t - np.sign(f) * 0.5, *T_BOUNDS)
    done = np.zeros(G, bool)
    steps = 1
    while not done.all():
        if steps >= max_steps:
            raise FitError(
                f"Monte-Carlo REML (stage 'reml') did not settle within {max_steps} secant "
                f"steps for {int((~done).sum())} group(s); last step sizes in log λ: "
                f"{np.abs(t - t_prev)[~done]}. Give delta= explicitly or more samples."
            )
        which = np.flatnonzero(~done)
        f = f.copy()
        f[which] = evaluate(t, which)
        steps += 1
        logger.info("reml step %d: delta %s, f %s", steps, _sigmoid(t[which]), f[which])
        dt = t - t_prev
        slope = (f - f_prev) / np.where(dt != 0, dt, 1.0)
        flat = (dt == 0) | (slope == 0) | ~np.isfinite(slope)
        step = np.where(flat, -np.sign(f) * 0.5, -f / np.where(flat, 1.0, slope))
        t_next = np.clip(t + step, *T_BOUNDS)
        settled = (np.abs(t_next - t) < step_tol) | ((t_next == t) & np.isin(t, T_BOUNDS))
        t_prev = np.where(done, t_prev, t)
        f_prev = np.where(done, f_prev, f)
        t = np.where(done, t, t_next)
        done = done | settled
    delta = _sigmoid(t)
    if np.isin(t, T_BOUNDS).any():
        warnings.warn(
            f"Monte-Carlo REML reached the bound of δ ({_sigmoid(np.array(T_BOUNDS))}) for "
            "some group: the heritability is near 0 or 1.",
            BoundaryWarning,
            stacklevel=3,
        )
    return RemlFit(delta, steps, iterations, samples)
