"""Link functions: inverse pairs and derivatives of the inverse link."""

from __future__ import annotations

import numpy as np
import pytest

from kinmix.link import IdentityLink, LogitLink, LogLink, ProbitLink

LINKS = [IdentityLink(), LogitLink(), ProbitLink(), LogLink()]


@pytest.mark.parametrize("link", LINKS, ids=lambda link: type(link).__name__)
def test_link__value_inverts_inv(link):
    x = np.linspace(-4, 4, 17)
    np.testing.assert_allclose(link.value(link.inv(x)), x, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("link", LINKS, ids=lambda link: type(link).__name__)
def test_link__inv_derivative_matches_central_differences(link):
    x = np.random.default_rng(3).uniform(-3, 3, 25)
    h = 1e-6
    numeric = (link.inv(x + h) - link.inv(x - h)) / (2 * h)
    np.testing.assert_allclose(link.inv_derivative(x), numeric, rtol=1e-7, atol=1e-12)


def test_link__known_values():
    assert LogitLink().inv(0.0) == 0.5
    assert ProbitLink().inv(1.959963984540054) == pytest.approx(0.975, rel=1e-12)
    assert LogLink().inv(np.log(3.0)) == pytest.approx(3.0, rel=1e-15)
    assert LogitLink() == LogitLink() and LogitLink() != ProbitLink()
    assert repr(LogLink()) == "LogLink()"
