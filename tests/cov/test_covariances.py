import numpy as np
import pytest

from kinmix.cov import EyeCov, FreeFormCov, GivenCov, LinearCov, LRFreeFormCov, SumCov
from kinmix.errors import FitError, InputError


def test_eyecov__spec_example(capsys):
    cov = EyeCov(2)
    cov.scale = 2.5
    print(cov.value())
    g = cov.gradient()
    print(g["logscale"])
    cov.name = "I"
    print(cov)
    assert capsys.readouterr().out == (
        "[[2.5 0. ]\n [0.  2.5]]\n[[2.5 0. ]\n [0.  2.5]]\nEyeCov(dim=2): I\n  scale: 2.5\n"
    )


def test_freeformcov__spec_example(capsys):
    cov = FreeFormCov(2)
    cov.L = [[1.0, 0.0], [0.5, 2.0]]
    print(cov.gradient()["Lu"])
    cov.name = "K"
    print(cov)
    assert capsys.readouterr().out == (
        "[[[0.  2.  0. ]\n"
        "  [1.  0.5 0. ]]\n"
        "\n"
        " [[1.  0.5 0. ]\n"
        "  [1.  0.  8. ]]]\n"
        "FreeFormCov(dim=2): K\n"
        "  L: [[1.  0. ]\n"
        "      [0.5 2. ]]\n"
    )


def test_givencov__spec_example(capsys):
    G = np.random.RandomState(0).randn(5, 3)
    cov = GivenCov(G @ G.T)
    cov.scale = 1.3
    cov.name = "K"
    print(cov)
    assert capsys.readouterr().out == "GivenCov(K0=...): K\n  scale: 1.3\n"
    np.testing.assert_allclose(cov.value(), 1.3 * G @ G.T, rtol=1e-15)


def test_linearcov__spec_example(capsys):
    X = np.random.RandomState(0).randn(2, 3)
    cov = LinearCov(X)
    cov.scale = 1.3
    cov.name = "K"
    print(cov)
    assert capsys.readouterr().out == "LinearCov(): K\n  scale: 1.3\n"
    np.testing.assert_allclose(cov.value(), 1.3 * X @ X.T, rtol=1e-15)
    np.testing.assert_array_equal(cov.X, X)


def test_sumcov__spec_example(capsys):
    random = np.random.RandomState(0)
    cov_left = LinearCov(random.randn(4, 20))
    cov_right = LinearCov(random.randn(4, 15))
    cov_left.scale = 0.5
    cov = SumCov([cov_left, cov_right])
    cov_left.name = "A"
    cov_right.name = "B"
    cov.name = "A+B"
    print(cov)
    assert capsys.readouterr().out == (
        "SumCov(covariances=...): A+B\n"
        "  LinearCov(): A\n"
        "    scale: 0.5\n"
        "  LinearCov(): B\n"
        "    scale: 1.0\n"
    )
    np.testing.assert_allclose(cov.value(), cov_left.value() + cov_right.value())


def test_lrfreeformcov__spec_example(capsys):
    cov = LRFreeFormCov(3, 2)
    print(cov.L)
    cov.L = [[1, 2], [0, 3], [1, 3]]
    print(cov.L)
    cov.name = "F"
    print(cov)
    assert capsys.readouterr().out == (
        "[[1. 1.]\n [1. 1.]\n [1. 1.]]\n"
        "[[1. 2.]\n [0. 3.]\n [1. 3.]]\n"
        "LRFreeFormCov(n=3, m=2): F\n"
        "  L: [[1. 2.]\n"
        "      [0. 3.]\n"
        "      [1. 3.]]\n"
    )


def test_freeformcov__defaults_match_seed():
    cov = FreeFormCov(3)
    assert str(cov) == (
        "FreeFormCov(dim=3): FreeCov\n  L: [[1. 0. 0.]\n      [1. 1. 0.]\n      [1. 1. 1.]]"
    )
    np.testing.assert_array_equal(cov.Lu, [1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    assert cov.nparams == 6
    assert cov.shape == (3, 3)
    bounds = cov.parameters()["Lu"].bounds
    assert bounds[:3] == [(-np.inf, np.inf)] * 3
    assert bounds[3][0] == pytest.approx(np.log(1.4901161193847656e-05))
    assert bounds[3][1] == 11.0


def test_freeformcov__value_adds_epsilon():
    cov = FreeFormCov(2)
    cov.L = [[1.0, 0.0], [0.5, 2.0]]
    eps = 1.4901161193847656e-05
    np.testing.assert_allclose(cov.value(), [[1 + eps, 0.5], [0.5, 4.25 + eps]], rtol=1e-15)


def test_freeformcov__Lu_is_lower_then_log_diagonal():
    cov = FreeFormCov(2)
    cov.Lu = [0.5, 0.0, np.log(2.0)]
    np.testing.assert_allclose(cov.L, [[1.0, 0.0], [0.5, 2.0]])


def test_freeformcov__eigh_and_logdet_agree_with_dense():
    cov = FreeFormCov(3)
    cov.L = [[2.0, 0.0, 0.0], [0.3, 1.5, 0.0], [-1.0, 0.2, 0.1]]
    S, U = cov.eigh()
    expected = np.linalg.eigvalsh(cov.value())
    np.testing.assert_allclose(S, expected, rtol=1e-10)
    assert np.all(np.diff(S) > 0)
    np.testing.assert_allclose(U @ np.diag(S) @ U.T, cov.value(), atol=1e-12)
    assert cov.logdet() == pytest.approx(np.linalg.slogdet(cov.value())[1], rel=1e-12)


def test_covariance__generic_eigh_is_ascending():
    X = np.random.RandomState(1).randn(4, 2)
    cov = LinearCov(X)
    S, U = cov.eigh()
    np.testing.assert_allclose(S, np.linalg.eigvalsh(X @ X.T), atol=1e-12)
    np.testing.assert_allclose(U @ np.diag(S) @ U.T, X @ X.T, atol=1e-12)


def test_covariance__logdet_of_eye():
    cov = EyeCov(3)
    cov.scale = 2.0
    assert cov.logdet() == pytest.approx(3 * np.log(2.0), rel=1e-14)


def test_covariance__logdet_raises_when_singular():
    cov = LinearCov(np.ones((3, 1)))
    cov.name = "G"
    with pytest.raises(FitError, match="the covariance G is not positive definite"):
        cov.logdet()


def test_lrfreeformcov__Lu_nparams_shape():
    cov = LRFreeFormCov(3, 2)
    cov.Lu = np.arange(6.0)
    np.testing.assert_array_equal(cov.L, [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    np.testing.assert_array_equal(cov.Lu, np.arange(6.0))
    assert cov.nparams == 6
    assert cov.shape == (3, 3)
    np.testing.assert_allclose(cov.value(), cov.L @ cov.L.T)


def test_scaled_covariances__log_scale_bounds_and_dim():
    for cov in (EyeCov(3), GivenCov(np.eye(3)), LinearCov(np.ones((3, 2)))):
        assert cov.parameters()["logscale"].bounds == [(-20.0, 10.0)]
        assert cov.scale == 1.0
        assert cov.nparams == 1
        assert cov.shape == (3, 3)
    assert EyeCov(3).dim == 3


def test_covariance__fix_and_unfix():
    cov = LinearCov(np.ones((2, 1)))
    cov.fix()
    assert cov.parameters()["logscale"].fixed
    cov.unfix()
    assert not cov.parameters()["logscale"].fixed
    total = SumCov([FreeFormCov(2), EyeCov(2)])
    total.fix()
    assert all(p.fixed for p in total.parameters().values())


def test_covariance__listen_fires_on_change():
    cov = FreeFormCov(2)
    calls = []
    cov.listen(lambda: calls.append(cov.L[1, 0]))
    cov.L = [[1.0, 0.0], [0.25, 1.0]]
    cov.Lu = [0.75, 0.0, 0.0]
    assert calls == [0.25, 0.75]


def test_sumcov__nested_printout_and_keys():
    inner = SumCov([EyeCov(2), LinearCov(np.ones((2, 2)))])
    cov = SumCov([EyeCov(2), inner])
    assert str(cov) == (
        "SumCov(covariances=...): SumCov\n"
        "  EyeCov(dim=2): EyeCov\n"
        "    scale: 1.0\n"
        "  SumCov(covariances=...): SumCov\n"
        "    EyeCov(dim=2): EyeCov\n"
        "      scale: 1.0\n"
        "    LinearCov(): LinearCov\n"
        "      scale: 1.0"
    )
    keys = ["SumCov[0].logscale", "SumCov[1].SumCov[0].logscale", "SumCov[1].SumCov[1].logscale"]
    assert list(cov.gradient()) == keys
    assert list(cov.parameters()) == keys


def test_sumcov__keys_follow_the_name():
    cov = SumCov([EyeCov(2), FreeFormCov(2)])
    assert list(cov.gradient()) == ["SumCov[0].logscale", "SumCov[1].Lu"]
    cov.name = "K"
    assert list(cov.gradient()) == ["K[0].logscale", "K[1].Lu"]
    assert list(cov.parameters()) == ["K[0].logscale", "K[1].Lu"]
    assert cov.nparams == 4


def test_sumcov__shares_its_terms():
    eye = EyeCov(2)
    cov = SumCov([eye, EyeCov(2)])
    eye.scale = 3.0
    np.testing.assert_allclose(cov.value(), 4.0 * np.eye(2))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: EyeCov(0), "dim must be a positive integer; got 0"),
        (lambda: EyeCov(2.5), "dim must be a positive integer; got 2.5"),
        (lambda: FreeFormCov(True), "dim must be a positive integer"),
        (lambda: LRFreeFormCov(3, 0), "m must be a positive integer"),
        (lambda: LRFreeFormCov(-1, 1), "n must be a positive integer"),
        (lambda: GivenCov(np.ones((2, 3))), r"K0 must be a square matrix; got shape \(2, 3\)"),
        (lambda: GivenCov([[1.0, 0.5], [0.0, 1.0]]), "K0 must be symmetric"),
        (lambda: GivenCov([[1.0, np.nan], [np.nan, 1.0]]), "K0 contains 2 non-finite"),
        (lambda: LinearCov([[1.0, np.inf]]), "X contains 1 non-finite"),
        (lambda: SumCov([]), "covariances must hold at least one"),
        (lambda: SumCov([EyeCov(2), EyeCov(3)]), "covariances must all have the same shape"),
    ],
)
def test_covariance__bad_construction_raises(make, match):
    with pytest.raises(InputError, match=match):
        make()


def test_covariance__bad_assignment_raises():
    cov = EyeCov(2)
    with pytest.raises(InputError, match="scale must be positive"):
        cov.scale = -1.0
    with pytest.raises(InputError, match="name must be a string; got int"):
        cov.name = 3
    free = FreeFormCov(2)
    with pytest.raises(InputError, match="L must be lower triangular"):
        free.L = [[1.0, 1.0], [0.0, 1.0]]
    with pytest.raises(InputError, match="L must have a positive diagonal"):
        free.L = [[-1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(InputError, match=r"L must have shape \(3, 2\)"):
        LRFreeFormCov(3, 2).L = np.ones((2, 3))
