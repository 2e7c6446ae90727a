"""limix's LMM: seed examples, glimix-core references, dense oracles, gradients, input."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

from kinmix import BoundaryWarning, InputError, economic_qs, economic_qs_linear
from kinmix.lmm import LMM, LinearMixedModel

from ..conftest import assert_rel


def _problem(n=40, c=2, r=None, seed=0):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, r or n)) / np.sqrt(r or n)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, c - 1))])
    y = X @ rng.standard_normal(c) + G @ rng.standard_normal(G.shape[1]) + rng.standard_normal(n)
    return y, X, G


# -- the seed's documented examples -----------------------------------------------------------
def test_lmm__seed_example_fit_prints_minus_3_649():
    X = np.array([[1, 2], [3, -1]], float)
    lmm = LMM(np.array([-1, 2], float), np.array([[1], [1]]), economic_qs_linear(X))
    with pytest.warns(BoundaryWarning, match="no kinship effect"):
        lmm.fit(verbose=False)
    assert "%.3f" % lmm.lml() == "-3.649"


def test_lmm__seed_example_fixed_then_unfixed_prints_minus_3_832_and_3_713():
    X = np.array([[1, 2], [3, -1]], float)
    lmm = LMM(np.array([-1, 2], float), np.array([[1], [1]]), economic_qs_linear(X))
    lmm.fix("delta")
    lmm.fix("scale")
    lmm.delta = 0.5
    lmm.scale = 1
    lmm.fit(verbose=False)
    assert "%.3f" % lmm.lml() == "-3.832"
    lmm.unfix("delta")
    lmm.fit(verbose=False)
    assert "%.3f" % lmm.lml() == "-3.713"
    assert lmm.scale == 1.0


# -- glimix-core 3.1.14 references --------------------------------------------------------------
def _ref_qs(ref_inputs, rank):
    if rank == "full":
        return economic_qs(ref_inputs["lmm_K"])
    return economic_qs_linear(ref_inputs["lmm_Zlow"])


@pytest.mark.parametrize("rank", ["full", "low"])
@pytest.mark.parametrize("kind", ["ml", "reml"])
def test_lmm__fit_matches_glimix_core(ref_inputs, glimix_ref, rank, kind):
    ref = glimix_ref[f"lmm_{rank}_{kind}"]
    lmm = LMM(
        ref_inputs["lmm_y"],
        ref_inputs["lmm_X"],
        _ref_qs(ref_inputs, rank),
        restricted=kind == "reml",
    )
    lmm.fit(verbose=False)
    assert_rel(lmm.lml(), ref["lml"], 1e-10)
    assert_rel(lmm.beta, ref["beta"], 1e-6)
    assert_rel(lmm.scale, ref["scale"], 1e-6)
    assert_rel(lmm.v0, ref["v0"], 1e-6)
    assert_rel(lmm.v1, ref["v1"], 1e-6)
    assert abs(lmm.delta - ref["delta"]) < 1e-5
    assert_rel(lmm.beta_covariance, ref["beta_covariance"], 1e-6)


@pytest.mark.parametrize("rank", ["full", "low"])
def test_lmm__fixed_delta_and_scale_match_glimix_core(ref_inputs, glimix_ref, rank):
    ref = glimix_ref[f"lmm_{rank}_ml_fixed_delta0.3_scale1.7"]
    lmm = LMM(ref_inputs["lmm_y"], ref_inputs["lmm_X"], _ref_qs(ref_inputs, rank))
    lmm.fix("delta")
    lmm.fix("scale")
    lmm.delta, lmm.scale = 0.3, 1.7
    lmm.fit(verbose=False)
    assert_rel(lmm.lml(), ref["lml"], 1e-12)
    assert_rel(lmm.beta, ref["beta"], 1e-10)
    assert_rel(lmm.beta_covariance, ref["beta_covariance"], 1e-10)
    assert (lmm.delta, lmm.scale, lmm.v0, lmm.v1) == (0.3, 1.7, 1.7 * 0.7, 1.7 * 0.3)


# -- dense oracle -------------------------------------------------------------------------------
def _restricted_oracle(y, X, cov):
    """REML log-likelihood as the density of the error contrasts Lᵀy, L ⟂ X orthonormal."""
    n, c = X.shape
    L = np.linalg.qr(X, mode="complete")[0][:, c:]
    return multivariate_normal(np.zeros(n - c), L.T @ cov @ L).logpdf(L.T @ y)


@pytest.mark.parametrize("r", [None, 12])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lmm__likelihood_equals_dense_logpdf_at_random_parameters(r, seed):
    y, X, G = _problem(n=30, c=3, r=r, seed=seed)
    rng = np.random.default_rng(100 + seed)
    QS = economic_qs_linear(G)
    delta, scale, beta = rng.uniform(0.05, 0.95), rng.uniform(0.3, 3.0), rng.standard_normal(3)
    cov = scale * ((1 - delta) * G @ G.T + delta * np.eye(30))

    ml = LMM(y, X, QS)
    ml.delta, ml.scale, ml.beta = delta, scale, beta
    assert_rel(ml.lml(), multivariate_normal(X @ beta, cov).logpdf(y), 1e-10)

    reml = LMM(y, X, QS, restricted=True)
    for name in ("delta", "scale"):
        reml.fix(name)
    reml.delta, reml.scale = delta, scale
    reml.fit(verbose=False)  # β at its GLS optimum, where REML is the contrasts' density
    assert_rel(reml.lml(), _restricted_oracle(y, X, cov), 1e-10)
    assert_rel(reml.mean(), X @ reml.beta, 1e-14)
    assert_rel(reml.covariance(), cov, 1e-10, atol=1e-12)


# -- gradients ----------------------------------------------------------------------------------
@pytest.mark.parametrize("restricted", [False, True])
@pytest.mark.parametrize("r", [None, 10])
def test_lmm__gradient_equals_central_differences(restricted, r):
    y, X, G = _problem(n=25, c=2, r=r, seed=3)
    lmm = LMM(y, X, economic_qs_linear(G), restricted=restricted)
    lmm.delta, lmm.scale, lmm.beta = 0.37, 1.3, np.array([0.2, -0.4])
    grad = lmm.gradient()
    h = 1e-6

    def at(**kw):
        other = LMM(y, X, economic_qs_linear(G), restricted=restricted)
        other.delta, other.scale, other.beta = 0.37, 1.3, np.array([0.2, -0.4])
        for key, value in kw.items():
            setattr(other, key, value)
        return other.lml()

    assert_rel(grad["delta"], (at(delta=0.37 + h) - at(delta=0.37 - h)) / (2 * h), 1e-6)
    assert_rel(grad["scale"], (at(scale=1.3 + h) - at(scale=1.3 - h)) / (2 * h), 1e-6)
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        fd = (at(beta=np.array([0.2, -0.4]) + e) - at(beta=np.array([0.2, -0.4]) - e)) / (2 * h)
        assert_rel(grad["beta"][j], fd, 1e-6)


# -- low rank ------------------------------------------------------------------------------------
@pytest.mark.parametrize("restricted", [False, True])
def test_lmm__low_rank_factor_and_dense_kinship_give_the_same_fit(restricted):
    y, X, G = _problem(n=120, c=2, r=15, seed=4)
    low = LMM(y, X, economic_qs_linear(G), restricted=restricted)
    dense = LMM(y, X, economic_qs(G @ G.T), restricted=restricted)
    low.fit(verbose=False)
    dense.fit(verbose=False)
    assert_rel(low.lml(), dense.lml(), 1e-10)
    assert_rel(low.delta, dense.delta, 1e-8)
    assert_rel(low.beta, dense.beta, 1e-8)
    assert_rel(low.scale, dense.scale, 1e-8)


def _peak_bytes_low_rank_fit(n, r=20):
    rng = np.random.default_rng(5)
    G = rng.standard_normal((n, r))
    y = G @ rng.standard_normal(r) + rng.standard_normal(n)
    X = np.ones((n, 1))
    tracemalloc.start()
    LMM(y, X, economic_qs_linear(G)).fit(verbose=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_lmm__low_rank_memory_grows_linearly_not_quadratically():
    small, large = _peak_bytes_low_rank_fit(2000), _peak_bytes_low_rank_fit(8000)
    assert large < 8000 * 8000 * 8 / 50  # far below one dense n×n matrix
    assert large / small < 5.5  # 4× the samples: linear growth gives ~4, quadratic 16


# -- equivalences and invariances ---------------------------------------------------------------
def test_lmm__restricted_fit_equals_hail_linear_mixed_model():
    y, X, G = _problem(n=80, c=3, seed=6)
    lmm = LMM(y, X, economic_qs(G @ G.T), restricted=True)
    lmm.fit(verbose=False)
    hail, _ = LinearMixedModel.from_kinship(y, X, G @ G.T)
    hail.fit()
    assert_rel(lmm.beta, hail.beta, 1e-7)
    assert_rel(lmm.v0, hail.sigma_sq, 1e-7)
    assert_rel(lmm.v1, hail.tau_sq, 1e-7)
    assert_rel(lmm.delta, 1 / (1 + hail.gamma), 1e-7)
    assert_rel(1 - lmm.delta, hail.h_sq, 1e-7)


def test_lmm__no_random_effect_is_ordinary_least_squares():
    y, X, _ = _problem(n=50, c=3, seed=7)
    lmm = LMM(y, X)
    lmm.fit(verbose=False)
    beta, rss = np.linalg.lstsq(X, y, rcond=None)[:2]
    assert_rel(lmm.beta, beta, 1e-10)
    assert_rel(lmm.scale, rss[0] / 50, 1e-10)
    assert lmm.delta == 1.0 and lmm.v0 == 0.0
    with pytest.raises(InputError, match="delta cannot be unfixed: the model has no random"):
        lmm.unfix("delta")


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), factor=st.floats(0.1, 10.0), restricted=st.booleans())
def test_lmm__invariant_to_permutation_reparametrisation_and_scaling(seed, factor, restricted):
    y, X, G = _problem(n=24, c=2, r=8, seed=seed)
    base = LMM(y, X, economic_qs_linear(G), restricted=restricted)
    base.fit(verbose=False)

    perm = np.random.default_rng(seed).permutation(24)
    permuted = LMM(y[perm], X[perm], economic_qs_linear(G[perm]), restricted=restricted)
    permuted.fit(verbose=False)
    assert_rel(permuted.lml(), base.lml(), 1e-8)
    assert_rel(permuted.beta, base.beta, 1e-6, atol=1e-8)

    R = np.array([[1.0, 0.5], [0.0, 2.0]])
    rotated = LMM(y, X @ R, economic_qs_linear(G), restricted=restricted)
    rotated.fit(verbose=False)
    # REML carries log|XᵀX|/2 - log|XᵀV⁻¹X|/2, which is invariant to X → XR.
    assert_rel(rotated.lml(), base.lml(), 1e-8)
    assert_rel(R @ rotated.beta, base.beta, 1e-6, atol=1e-8)

    scaled = LMM(factor * y, X, economic_qs_linear(G), restricted=restricted)
    scaled.fit(verbose=False)
    assert_rel(scaled.scale, factor**2 * base.scale, 1e-6)
    assert abs(scaled.delta - base.delta) < 1e-6
    dof = 24 - 2 if restricted else 24
    assert_rel(scaled.lml(), base.lml() - dof * np.log(factor), 1e-8)


def test_lmm__boundary_optimum_warns_with_the_value():
    rng = np.random.default_rng(8)
    G = rng.standard_normal((60, 60)) / np.sqrt(60)
    y = G @ rng.standard_normal(60)  # pure kinship signal, no noise: h² → 1
    lmm = LMM(y, np.ones((60, 1)), economic_qs_linear(G))
    with pytest.warns(BoundaryWarning, match=r"delta = 9\.9999\d*e-06.*h2 -> 1"):
        lmm.fit(verbose=False)


def test_lmm__fixed_beta_is_kept_and_profiled_over_delta_and_scale():
    y, X, G = _problem(n=60, c=2, r=10, seed=9)
    free = LMM(y, X, economic_qs_linear(G))
    free.fit(verbose=False)
    lmm = LMM(y, X, economic_qs_linear(G))
    beta = free.beta + np.array([0.05, -0.05])
    lmm.beta = beta
    lmm.fix("beta")
    lmm.fit(verbose=False)
    assert np.array_equal(lmm.beta, beta)
    assert 1e-3 < lmm.delta < 1 - 1e-3 and lmm.lml() < free.lml()
    grad = lmm.gradient()
    assert abs(grad["scale"]) < 1e-8 and abs(grad["delta"]) < 1e-4


# -- bad input -------------------------------------------------------------------------------
def test_lmm__rejects_bad_input_naming_the_argument():
    y, X, G = _problem(n=20, c=2, r=5, seed=10)
    QS = economic_qs_linear(G)
    with pytest.raises(InputError, match="y contains 1 non-finite"):
        LMM(np.where(np.arange(20) == 3, np.nan, y), X, QS)
    with pytest.raises(InputError, match="X contains 1 non-finite"):
        LMM(y, np.where(np.arange(40).reshape(20, 2) == 5, np.inf, X), QS)
    with pytest.raises(InputError, match="X has 19 rows but 20 were expected"):
        LMM(y, X[:19], QS)
    with pytest.raises(InputError, match="y must be one-dimensional"):
        LMM(np.ones((20, 2)), X, QS)
    with pytest.raises(InputError, match="y has 2 samples but X has 2 covariates"):
        LMM(y[:2], X[:2])
    with pytest.raises(InputError, match="X has 3 columns but rank 2"):
        LMM(y, np.column_stack([X, X[:, 0] * 2]), QS)
    with pytest.raises(InputError, match="Q0\\) has 20 rows but there are 19 samples"):
        LMM(y[:19], X[:19], QS)
    Q0 = QS[0][0]
    with pytest.raises(InputError, match="not positive semi-definite"):
        LMM(y, X, ((Q0, None), np.array([-1.0, 1.0, 2.0, 3.0, 4.0])))
    with pytest.raises(InputError, match="y must be numeric"):
        LMM(["a"] * 20, X, QS)


def test_lmm__rejects_bad_parameters():
    y, X, G = _problem(n=20, c=2, r=5, seed=11)
    lmm = LMM(y, X, economic_qs_linear(G))
    with pytest.raises(InputError, match="param must be one of"):
        lmm.fix("gamma")
    with pytest.raises(InputError, match=r"delta must be a finite number in \[0, 1\]"):
        lmm.delta = 1.5
    with pytest.raises(InputError, match=r"scale must be a finite number in \(0, inf\]"):
        lmm.scale = -1.0
    with pytest.raises(InputError, match="beta has 3 entries but 2 were expected"):
        lmm.beta = [1.0, 2.0, 3.0]


def test_kernel__degenerate_inputs_raise_fit_errors():
    from kinmix import FitError
    from kinmix.kernel import null_model as _kernel
    from kinmix.linalg import rotate

    rng = np.random.default_rng(12)
    Q0 = np.linalg.qr(rng.standard_normal((8, 3)))[0]
    X = np.column_stack([np.ones(8), np.ones(8)])
    design = rotate(Q0, np.ones(3), rng.standard_normal(8), X)
    with pytest.raises(FitError, match="Xᵀ V⁻¹ X is singular"):
        _kernel.solve(design, np.ones(3), 1.0)
    with pytest.raises(FitError, match="not finite anywhere on the search grid"):
        _kernel.maximize_log_gamma(lambda t: np.nan, (-1.0, 1.0))


def test_lmm__fit_returns_its_frozen_result():
    import dataclasses

    from kinmix.params import FitResult

    X = np.array([[1, 2], [3, -1]], float)
    lmm = LMM(np.array([-1, 2], float), np.array([[1], [1]]), economic_qs_linear(X))
    lmm.fix("delta")
    lmm.fix("scale")
    lmm.delta, lmm.scale = 0.5, 1
    fixed = lmm.fit(verbose=False)
    assert isinstance(fixed, FitResult) and fixed.converged
    assert (fixed.n_iterations, fixed.n_evaluations) == (0, 1)
    assert "%.3f" % fixed.value == "-3.832"
    lmm.unfix("delta")
    searched = lmm.fit(verbose=False)
    assert "%.3f" % searched.value == "-3.713" and searched.value == lmm.lml()
    assert searched.converged and searched.n_iterations == searched.n_evaluations > 30
    with pytest.raises(dataclasses.FrozenInstanceError):
        searched.value = 0.0
