"""Batched conjugate gradients against dense solves; the iteration cap raises."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import kinmix
import kinmix.matfree
from kinmix.errors import CGConvergenceError
from kinmix.matfree.cg import NumpyBackend, solve


def _systems(n=60, C=4, seed=0):
    rng = np.random.default_rng(seed)
    mats = []
    for k in range(C):
        A = rng.standard_normal((n, n // 2))
        mats.append(A @ A.T / n + (0.1 + 0.2 * k) * np.eye(n))
    B = rng.standard_normal((n, C))
    B[:, 2] = 0.0  # a zero right-hand side is solved by x = 0 at once

    def apply(U, active):
        out = np.zeros_like(U)
        for k in np.flatnonzero(active):
            out[:, k] = mats[k] @ U[:, k]
        return out

    return mats, B, apply


def test_solve__matches_dense_solutions_per_column():
    mats, B, apply = _systems()
    result = solve(apply, B, stage="test", tol=1e-12, maxiter=500, backend=NumpyBackend())
    for k, A in enumerate(mats):
        np.testing.assert_allclose(result.solution[:, k], np.linalg.solve(A, B[:, k]),
                                   rtol=1e-9, atol=1e-12)
    assert np.all(result.residuals <= 1e-12)
    assert result.history.size == result.iterations
    assert np.all(result.solution[:, 2] == 0)


def test_solve__true_residual_meets_the_tolerance():
    mats, B, apply = _systems(seed=1)
    tol = 1e-6
    x = solve(apply, B, stage="test", tol=tol, maxiter=500, backend=NumpyBackend()).solution
    for k, A in enumerate(mats):
        if np.any(B[:, k]):
            rel = np.linalg.norm(B[:, k] - A @ x[:, k]) / np.linalg.norm(B[:, k])
            assert rel <= 1.01 * tol


def test_solve__preconditioner_gives_the_same_solution_in_fewer_passes():
    mats, B, apply = _systems(seed=2)
    diag = np.stack([np.diag(A) for A in mats], axis=1)
    plain = solve(apply, B, stage="test", tol=1e-10, maxiter=500, backend=NumpyBackend())
    jacobi = solve(apply, B, stage="test", tol=1e-10, maxiter=500, backend=NumpyBackend(),
                   precondition=lambda R: R / diag)
    np.testing.assert_allclose(jacobi.solution, plain.solution, rtol=1e-7, atol=1e-10)


def test_solve__cap_raises_naming_stage_and_residual():
    _, B, apply = _systems(seed=3)
    with pytest.raises(CGConvergenceError, match=r"stage 'loco'.*cap of 2 iterations with "
                       r"relative residual [0-9.e-]+ \(tolerance 1e-10\)"):
        solve(apply, B, stage="loco", tol=1e-10, maxiter=2, backend=NumpyBackend())
    assert issubclass(CGConvergenceError, kinmix.FitError)
    assert kinmix.matfree.CGConvergenceError is CGConvergenceError


def test_solve__logs_iterations(caplog):
    _, B, apply = _systems(seed=4)
    with caplog.at_level(logging.DEBUG, logger="kinmix.matfree"):
        result = solve(apply, B, stage="reml", tol=1e-8, maxiter=500, backend=NumpyBackend())
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == result.iterations
    assert "cg reml" in caplog.records[-1].getMessage()
