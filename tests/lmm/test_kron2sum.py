"""Kron2Sum: dense oracle, gradients, LMM at p = 1, glimix-core references, optimality."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from kinmix.errors import ConvergenceWarning, FitError, InputError
from kinmix.linalg import economic_qs_linear
from kinmix.lmm import LMM, Kron2Sum
from kinmix.lmm._kron2sum import KronData, evaluate
from kinmix.params import maximize
from tests._numdiff import free_gradient

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"


def _dense_lml(model: Kron2Sum, restricted: bool) -> tuple[float, np.ndarray]:
    """(Restricted) log-likelihood from the explicit np×np covariance, B at its GLS value."""
    K = model.covariance()
    M = model.M
    y = np.asarray(model._Y).reshape(-1, order="F")
    Ki = np.linalg.inv(K)
    H = M.T @ Ki @ M
    beta = np.linalg.solve(H, M.T @ Ki @ y)
    lml = multivariate_normal(M @ beta, K).logpdf(y)
    if restricted:
        c = M.shape[1]
        lml += 0.5 * c * np.log(2 * np.pi) + 0.5 * np.linalg.slogdet(M.T @ M)[1]
        lml -= 0.5 * np.linalg.slogdet(H)[1]
    return lml, beta


@pytest.mark.parametrize("restricted", [False, True])
@pytest.mark.parametrize(
    ("p", "rank", "m", "design"),
    [
        (1, 1, 4, "eye"),
        (2, 1, 3, "eye"),
        (2, 2, 11, "eye"),
        (3, 1, 5, "eye"),
        (3, 2, 12, "rect"),
        (3, 3, 6, "eye"),
        (5, 2, 4, "eye"),
        (5, 5, 8, "eye"),
    ],
)
def test_kron2sum__lml_and_gradient_match_dense_oracle(restricted, p, rank, m, design):
    rng = np.random.default_rng(100 * p + 10 * rank + m)
    n = 9
    Y = rng.normal(size=(n, p))
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    A = np.eye(p) if design == "eye" else rng.normal(size=(p, 2))
    model = Kron2Sum(Y, A, X, rng.normal(size=(n, m)), rank=rank, restricted=restricted)
    params = model.parameters()
    for parameter in params.values():
        parameter.free = rng.normal(size=parameter.size) * 0.7
    expected, beta = _dense_lml(model, restricted)
    assert model.lml() == pytest.approx(expected, rel=1e-11, abs=1e-10)
    np.testing.assert_allclose(model.beta, beta, atol=1e-9)
    np.testing.assert_allclose(model.mean(), model.M @ beta, atol=1e-9)
    np.testing.assert_allclose(
        model.beta_covariance,
        np.linalg.inv(model.M.T @ np.linalg.solve(model.covariance(), model.M)),
        rtol=1e-8,
        atol=1e-10,
    )
    gradient = model.gradient()
    for key, parameter in params.items():
        numeric = free_gradient(parameter, model.lml, step=1e-6)
        np.testing.assert_allclose(gradient[key], numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("restricted", [False, True])
def test_kron2sum__single_trait_agrees_with_lmm(restricted):
    rng = np.random.default_rng(5)
    n, m = 120, 40
    G = rng.normal(size=(n, m)) / np.sqrt(m)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = X @ [0.5, -1.0] + G @ rng.normal(size=m) * 0.9 + rng.normal(size=n) * 0.7
    lmm = LMM(y, X, economic_qs_linear(G), restricted=restricted)
    lmm.fit(verbose=False)
    model = Kron2Sum(y[:, None], np.eye(1), X, G, rank=1, restricted=restricted)
    model.fit()
    assert model.lml() == pytest.approx(lmm.lml(), abs=1e-7)
    assert model.C0[0, 0] == pytest.approx(lmm.v0, rel=1e-4)
    assert model.C1[0, 0] == pytest.approx(lmm.v1, rel=1e-4)
    np.testing.assert_allclose(model.beta, lmm.beta, atol=1e-5)


def _reference():
    data = np.load(REFERENCE / "glimix_seed11.npz")
    return data, json.loads((REFERENCE / "glimix_seed11.json").read_text())


@pytest.mark.parametrize(("restricted", "key"), [(False, "kron_ml"), (True, "kron_reml")])
def test_kron2sum__agrees_with_glimix_reference(restricted, key):
    data, ref = _reference()
    ref = ref[key]
    args = (data["kron_Y"], data["kron_A"], data["kron_X"], data["kron_G"])
    model = Kron2Sum(*args, rank=1, restricted=restricted)
    assert model.lml() == pytest.approx(ref["lml_before"], abs=1e-9)
    fit = model.fit()
    # glimix-core stops a little short of the optimum: kinmix must reach at least as high
    assert model.lml() >= ref["lml_after"] - 1e-9
    assert model.lml() - ref["lml_after"] < 1e-5
    assert fit.converged and fit.gradient_norm < 1e-3
    np.testing.assert_allclose(model.C0, ref["C0"], atol=5e-4)
    np.testing.assert_allclose(model.C1, ref["C1"], atol=5e-4)
    np.testing.assert_allclose(model.B, ref["B"], atol=5e-5)
    # at glimix's own parameters the likelihood is glimix's to rounding
    model.set_covariances(ref["C0"], ref["C1"])
    assert model.lml() == pytest.approx(ref["lml_after"], abs=1e-8)
    np.testing.assert_allclose(model.B, ref["B"], atol=1e-10)
    np.testing.assert_allclose(model.C0, ref["C0"], atol=1e-12)
    np.testing.assert_allclose(model.C1, ref["C1"], atol=1e-12)


def test_kron2sum__set_covariances_errors():
    rng = np.random.default_rng(0)
    model = Kron2Sum(rng.normal(size=(6, 2)), np.eye(2), np.ones((6, 1)), rng.normal(size=(6, 3)))
    with pytest.raises(InputError, match="C0 and C1 must be 2×2"):
        model.set_covariances(np.eye(3), np.eye(2))
    with pytest.raises(InputError, match="C0 must be positive semi-definite of rank at most 1"):
        model.set_covariances(np.eye(2), np.eye(2))
    with pytest.raises(InputError, match="C1 - .*·I must be positive definite"):
        model.set_covariances(np.ones((2, 2)), np.zeros((2, 2)))


def _simulate(n, p, m, seed):
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.05, 0.5, size=m)
    Z = rng.binomial(2, freq, size=(n, m)).astype(float)
    Z = (Z - 2 * freq) / np.sqrt(2 * freq * (1 - freq))  # population allele frequencies
    G = Z / np.sqrt(m)
    L0 = rng.normal(size=(p, p)) * 0.6
    L1 = rng.normal(size=(p, p)) * 0.5 + np.eye(p)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Y = X @ rng.normal(size=(2, p)) + G @ rng.normal(size=(m, p)) @ L0.T
    Y += rng.normal(size=(n, p)) @ L1.T
    return Y, X, G, rng


@pytest.mark.slow
@pytest.mark.parametrize("restricted", [False, True])
def test_kron2sum__fit_beats_every_other_start(restricted):
    Y, X, G, rng = _simulate(n=1000, p=3, m=1200, seed=7)
    model = Kron2Sum(Y, np.eye(3), X, G, rank=3, restricted=restricted)
    assert model._cov.svd.Sx.size == 1000  # full-rank G
    fit = model.fit()
    best = model.lml()
    assert fit.lml == best and len(fit.starts) == 5
    assert all(start.lml <= best for start in fit.starts)
    assert fit.gradient_norm < 1e-3
    optimum = {key: p.free for key, p in model.parameters().items()}
    for _ in range(4):  # random starts the strategy does not try
        for parameter in model.parameters().values():
            parameter.free = rng.normal(size=parameter.size)
        other = maximize(lambda: (model.lml(), model.gradient()), model.parameters())
        assert other.value <= best + 1e-6
    for key, free in optimum.items():
        model.parameters()[key].free = free
    assert model.lml() == best


def test_kron2sum__convergence_warning_names_the_reason():
    Y, X, G, _ = _simulate(n=60, p=2, m=30, seed=2)
    model = Kron2Sum(Y, np.eye(2), X, G, rank=2)
    with pytest.warns(ConvergenceWarning, match="stopped before convergence .*LIMIT"):
        fit = model.fit(max_iterations=2)
    assert not fit.converged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.fit().converged


def test_kron2sum__input_errors():
    Y = np.ones((4, 2))
    X = np.ones((4, 1))
    G = np.eye(4)
    with pytest.raises(InputError, match="A must have one row per trait"):
        Kron2Sum(Y, np.eye(3), X, G)
    with pytest.raises(InputError, match="more observations than fixed effects"):
        Kron2Sum(Y, np.eye(2), np.eye(4), G)
    with pytest.raises(InputError, match="G is zero"):
        Kron2Sum(Y, np.eye(2), X, np.zeros((4, 2)))


def test_evaluate__singular_design_raises():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(6), np.ones(6)])
    data = KronData.of(rng.normal(size=(6, 2)), np.eye(2), X, np.eye(6)[:, :2], np.ones(2))
    with pytest.raises(FitError, match="MᵀK⁻¹M is singular"):
        evaluate(data, np.eye(2), np.eye(2), restricted=False, gradient=False)
