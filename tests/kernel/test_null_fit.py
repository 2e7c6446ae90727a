"""The kernel's single-trait null object: dense oracle, and the front ends agree with it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from kinmix import KinmixWarning, economic_qs_linear
from kinmix.kernel.null_fit import NullFit
from kinmix.lmm import LMM


def _problem(seed=0, n=40, r=12):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, r)) / np.sqrt(r)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    y = X @ [0.5, -1.0] + 2 * Z @ rng.standard_normal(r) + rng.standard_normal(n)
    (Q0, _), S0 = economic_qs_linear(Z)
    return y, X, Q0, S0, Z @ Z.T


def test_null_fit__log_likelihood_equals_the_dense_logpdf():
    y, X, Q0, S0, K = _problem()
    null = NullFit.of(y, X, Q0, S0, restricted=False)
    delta, scale, beta = 0.3, 1.7, np.array([0.2, -0.4])
    V = scale * ((1 - delta) * K + delta * np.eye(len(y)))
    expected = multivariate_normal(X @ beta, V).logpdf(y)
    assert null.log_likelihood(delta, scale, beta) == pytest.approx(expected, rel=1e-11)


@pytest.mark.parametrize("restricted", [False, True])
def test_null_fit__search_is_the_lmm_fit_and_scanner_diagonal(restricted):
    y, X, Q0, S0, _ = _problem(seed=3)
    null = NullFit.of(y, X, Q0, S0, restricted=restricted)
    found = null.search_delta(beta=None, scale=None, start=0.5)
    lmm = LMM(y, X, ((Q0, None), S0), restricted=restricted)
    lmm.fit(verbose=False)
    assert found.delta == lmm.delta and found.search.success
    d0, d1 = null.scanner_diagonal(lmm.v0, lmm.v1)
    np.testing.assert_allclose(d0, lmm.v0 * S0 + lmm.v1, rtol=1e-15)
    assert d1 == lmm.v1
    if not restricted:  # the scanner's null is the ML fit at the same covariance
        assert lmm.get_fast_scanner().null_lml() == pytest.approx(lmm.lml(), rel=1e-10)


def test_null_fit__unidentifiable_delta_stays_at_its_start():
    n = 6
    y = np.arange(n, dtype=float) ** 1.5
    null = NullFit.of(y, np.ones((n, 1)), np.eye(n), np.full(n, 2.0), restricted=False)
    with pytest.warns(KinmixWarning, match="h2 is unidentifiable"):
        found = null.search_delta(beta=None, scale=None, start=0.25)
    assert found.delta == 0.25 and found.search is None


def test_null_fit__search_frees_the_eigenvectors_without_the_cyclic_collector():
    # scipy's brentq keeps its function in a self-referencing closure; a fitted null must
    # still be freed by reference counting alone, or every LOCO chromosome's n×n
    # eigenvectors pile up until a full collection (seen as 1 n×n more per chromosome).
    import gc
    import weakref

    y, X, Q0, S0, _ = _problem(seed=5)
    Q0 = Q0.copy()
    alive = weakref.ref(Q0.base if Q0.base is not None else Q0)
    gc.disable()
    try:
        null = NullFit.of(y, X, Q0, S0, restricted=True)
        null.search_delta(beta=None, scale=None, start=0.5)
        del null, Q0
        assert alive() is None
    finally:
        gc.enable()
