"""KronMean: value and gradient against the explicit Kronecker product."""

from __future__ import annotations

import numpy as np
import pytest

from kinmix.errors import InputError
from kinmix.mean import KronMean
from tests._numdiff import free_gradient


def test_kron_mean__value_gradient_and_vec_order():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(3, 2))
    X = rng.normal(size=(5, 4))
    mean = KronMean(A, X)
    B = rng.normal(size=(4, 2))
    mean.B = B
    np.testing.assert_array_equal(mean.B, B)
    np.testing.assert_allclose(mean.value(), np.kron(A, X) @ B.reshape(-1, order="F"))
    np.testing.assert_allclose(mean.value(), (X @ B @ A.T).reshape(-1, order="F"))
    np.testing.assert_allclose(mean.AX, np.kron(A, X))
    np.testing.assert_allclose(mean.parameters()["vecB"].free, B.reshape(-1, order="F"))
    numeric = free_gradient(mean.parameters()["vecB"], mean.value)
    np.testing.assert_allclose(mean.gradient()["vecB"], numeric, atol=1e-8)
    assert mean.nparams == 8 and mean.size == 15
    assert str(mean).startswith("KronMean(A=..., X=...): KronMean\n  B: [[")


def test_kron_mean__bad_B_shape_raises():
    mean = KronMean(np.eye(2), np.ones((3, 1)))
    with pytest.raises(InputError, match="vecB must have shape"):
        mean.B = np.ones((2, 2))
