"""Small deterministic data sets and dense oracles shared by the reliability catalogue.

Every case of the catalogue builds its inputs from :func:`problem` so that a failure can be
reproduced from the case id alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.stats import multivariate_normal

import kinmix


def xfail(reason: str):
    """Mark a catalogue case that kinmix does not handle yet (strict: it must fail)."""
    return pytest.mark.xfail(strict=True, reason=reason)


@dataclass(frozen=True)
class Problem:
    """y, covariates X (intercept + one), a full-rank kinship K, its QS, genotypes G."""

    y: np.ndarray
    X: np.ndarray
    K: np.ndarray
    QS: tuple
    G: np.ndarray
    factor: np.ndarray

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    def low_rank(self, rank: int) -> tuple[np.ndarray, tuple]:
        """A rank-``rank`` kinship built from the first columns of the factor, and its QS."""
        F = self.factor[:, :rank]
        K = F @ F.T / rank
        return K, kinmix.economic_qs(K)


def problem(n: int = 30, seed: int = 0) -> Problem:
    """A well-posed single-trait problem with n samples."""
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=(n, 40))
    K = factor @ factor.T / 40
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    u = rng.multivariate_normal(np.zeros(n), K)
    y = X @ [0.5, -1.0] + 0.8 * u + rng.normal(size=n)
    G = rng.integers(0, 3, size=(n, 6)).astype(float)
    return Problem(y, X, K, kinmix.economic_qs(K), G, factor)


def dense_lml(y, X, K, *, delta: float, scale: float, beta) -> float:
    r"""ML log-likelihood from the explicit covariance :math:`s((1-\delta)K + \delta I)`."""
    n = y.shape[0]
    V = scale * ((1 - delta) * K + delta * np.eye(n))
    return float(multivariate_normal(X @ np.asarray(beta), V, allow_singular=False).logpdf(y))


def fitted_lmm(y, X, QS=None, **options) -> kinmix.LMM:
    """An :class:`kinmix.LMM` after ``fit``."""
    model = kinmix.LMM(y, X, QS, **options)
    model.fit(verbose=False)
    return model


def h2_field(result, name: str):
    """A field of :func:`kinmix.estimate_h2`'s result (a mapping or a dataclass)."""
    return result[name] if isinstance(result, dict) else getattr(result, name)


def refusal_test(table: list):
    """The catalogue's refusal test over ``table`` (rows ``(id, call, match)``): each call
    raises :class:`kinmix.InputError` with a message matching ``match``. Bind the result
    to ``test_refused_with_a_message_naming_the_input`` in the catalogue's module."""

    @pytest.mark.parametrize(("call", "match"), case_params(table))
    def test_refused_with_a_message_naming_the_input(call, match):
        with pytest.raises(kinmix.InputError, match=match):
            call()

    return test_refused_with_a_message_naming_the_input


def case_params(table: list) -> list:
    """``pytest.param``s from a table of ``(id, *values)`` tuples or ``pytest.param``s."""
    params = []
    for case in table:
        values = case.values if hasattr(case, "values") else case
        marks = getattr(case, "marks", ())
        params.append(pytest.param(*values[1:], id=values[0], marks=marks))
    return params
