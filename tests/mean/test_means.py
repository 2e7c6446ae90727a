import numpy as np
import pytest

from kinmix.errors import InputError
from kinmix.mean import LinearMean, OffsetMean, SumMean


def test_offsetmean__spec_example(capsys):
    mean = OffsetMean(3)
    mean.offset = 2.0
    print(mean.value())
    print(mean.gradient())
    mean.name = "𝐦"
    print(mean)
    assert capsys.readouterr().out == (
        "[2. 2. 2.]\n{'offset': array([1., 1., 1.])}\nOffsetMean(): 𝐦\n  offset: 2.0\n"
    )


def test_linearmean__spec_example(capsys):
    mean = LinearMean([[1.5, 0.2], [0.5, 0.4]])
    mean.effsizes = [1.0, -1.0]
    print(mean.value())
    print(mean.gradient()["effsizes"])
    mean.name = "𝐦"
    print(mean)
    assert capsys.readouterr().out == (
        "[1.3 0.1]\n[[1.5 0.2]\n [0.5 0.4]]\nLinearMean(m=2): 𝐦\n  effsizes: [ 1. -1.]\n"
    )


def test_summean__spec_example(capsys):
    X = [[5.1, 1.0], [2.1, -0.2]]
    mean0 = LinearMean(X)
    mean0.effsizes = [-1.0, 0.5]
    mean1 = OffsetMean(2)
    mean1.offset = 2.0
    mean = SumMean([mean0, mean1])
    print(mean.value())
    g = mean.gradient()
    print(g["SumMean[0].effsizes"])
    print(g["SumMean[1].offset"])
    mean0.name = "A"
    mean1.name = "B"
    mean.name = "A+B"
    print(mean)
    assert capsys.readouterr().out == (
        "[-2.6 -0.2]\n"
        "[[ 5.1  1. ]\n [ 2.1 -0.2]]\n"
        "[1. 1.]\n"
        "SumMean(means=...): A+B\n"
        "  LinearMean(m=2): A\n"
        "    effsizes: [-1.   0.5]\n"
        "  OffsetMean(): B\n"
        "    offset: 2.0\n"
    )


def test_offsetmean__defaults_and_fix():
    mean = OffsetMean(4)
    assert mean.offset == 0.0
    assert mean.size == 4
    parameter = mean.parameters()["offset"]
    assert parameter.bounds == [(-200.0, 200.0)]
    mean.fix_offset()
    assert parameter.fixed
    mean.unfix_offset()
    assert not parameter.fixed


def test_linearmean__defaults_and_fix():
    X = np.arange(6.0).reshape(3, 2)
    mean = LinearMean(X)
    np.testing.assert_array_equal(mean.effsizes, [0.0, 0.0])
    np.testing.assert_array_equal(mean.X, X)
    assert mean.size == 3
    assert mean.parameters()["effsizes"].bounds == [(-200.0, 200.0)] * 2
    mean.fix_effsizes()
    assert mean.parameters()["effsizes"].fixed
    mean.unfix_effsizes()
    assert not mean.parameters()["effsizes"].fixed
    mean.effsizes = [1.0, 2.0]
    np.testing.assert_allclose(mean.value(), [2.0, 8.0, 14.0])


def test_summean__keys_follow_the_name_and_nest():
    inner = SumMean([OffsetMean(2), OffsetMean(2)])
    mean = SumMean([LinearMean(np.ones((2, 1))), inner])
    keys = ["SumMean[0].effsizes", "SumMean[1].SumMean[0].offset", "SumMean[1].SumMean[1].offset"]
    assert list(mean.gradient()) == keys
    assert list(mean.parameters()) == keys
    mean.name = "M"
    assert next(iter(mean.gradient())) == "M[0].effsizes"


def test_mean__listen_fires_on_change():
    mean = SumMean([OffsetMean(2), LinearMean(np.ones((2, 1)))])
    calls = []
    mean.listen(lambda: calls.append(1))
    mean.parameters()["SumMean[0].offset"].value = 1.0
    mean.parameters()["SumMean[1].effsizes"].value = [2.0]
    assert calls == [1, 1]
    np.testing.assert_allclose(mean.value(), [3.0, 3.0])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: OffsetMean(0), "n must be a positive integer; got 0"),
        (lambda: LinearMean([[1.0, np.nan]]), "X contains 1 non-finite"),
        (lambda: LinearMean(np.ones((2, 2, 2))), "X must be two-dimensional"),
        (lambda: SumMean([]), "means must hold at least one"),
        (lambda: SumMean([OffsetMean(2), OffsetMean(3)]), r"same length; got \[2, 3\]"),
    ],
)
def test_mean__bad_construction_raises(make, match):
    with pytest.raises(InputError, match=match):
        make()


def test_mean__bad_assignment_raises():
    with pytest.raises(InputError, match=r"effsizes must have shape \(2,\)"):
        LinearMean(np.ones((3, 2))).effsizes = [1.0]
    with pytest.raises(InputError, match="offset must be finite"):
        OffsetMean(2).offset = np.nan
