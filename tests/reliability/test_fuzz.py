"""A bounded fuzz run over shapes, dtypes, special values and options.

Each target asserts only the contract of the catalogue: either a finite, correct-looking
result, or a :class:`kinmix.KinmixError` (and kinmix warnings at most) — never a raw numpy,
scipy or Python error, never a silent NaN, never a numpy ``RuntimeWarning`` leaking out.

CI runs a small, derandomized budget; release checks raise it::

    KINMIX_FUZZ_EXAMPLES=2000 python -m pytest -q tests/reliability/test_fuzz.py
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kinmix
from kinmix import GLMMExpFam, KinmixError, KinmixWarning
from kinmix.io import read_sample_table

EXAMPLES = int(os.environ.get("KINMIX_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
#: EP fits cost about 50 times an LMM fit: a quarter of the budget.
FUZZ_GLMM = settings(FUZZ, max_examples=max(5, EXAMPLES // 4))

SPECIALS = {
    "none": None,
    "nan": np.nan,
    "inf": np.inf,
    "huge": 1e300,
    "tiny": 1e-300,
    "zero": 0.0,
}


def _vector(rng, n, kind, special):
    base = {
        "normal": lambda: rng.normal(size=n),
        "constant": lambda: np.full(n, 3.0),
        "scaled-up": lambda: 1e10 * rng.normal(size=n),
        "scaled-down": lambda: 1e-10 * rng.normal(size=n),
        "integers": lambda: rng.integers(0, 3, size=n).astype(np.int8),
        "bool": lambda: rng.normal(size=n) > 0,
        "float32": lambda: rng.normal(size=n).astype(np.float32),
        "complex": lambda: rng.normal(size=n) + 1j,
        "list": lambda: rng.normal(size=n).tolist(),
        "strings": lambda: np.array(["a"] * n, dtype=object),
    }[kind]()
    value = SPECIALS[special]
    if value is not None and n and isinstance(base, np.ndarray) and base.dtype == np.float64:
        base = base.copy()
        base[int(rng.integers(n))] = value
    return base


def _covariates(rng, n, kind):
    if kind == "none":
        return np.empty((n, 0))
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    if kind == "intercept":
        return X[:, :1]
    if kind == "duplicated":
        return np.column_stack([X, X[:, 1]])
    if kind == "badly-scaled":
        return X * [1.0, 1e12]
    if kind == "nearly-collinear":
        return np.column_stack([X, X[:, 1] + 1e-9 * rng.normal(size=n)])
    return X


def _kinship_qs(rng, n, kind):
    if kind == "none" or n == 0:
        return None
    if kind == "wrong-size":
        return kinmix.economic_qs(np.eye(n + 1))
    if kind == "identity":
        return kinmix.economic_qs(np.eye(n))
    rank = {"full": 2 * n, "low-rank": max(1, n // 3), "rank-1": 1}[kind]
    F = rng.normal(size=(n, rank))
    QS = kinmix.economic_qs_linear(F)
    if kind == "full":
        QS = kinmix.economic_qs(F @ F.T / rank)
    return QS


problems = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "n": st.sampled_from([0, 1, 2, 3, 4, 7, 20]),
        "y": st.sampled_from(
            [
                "normal",
                "constant",
                "scaled-up",
                "scaled-down",
                "integers",
                "bool",
                "float32",
                "complex",
                "list",
                "strings",
            ]
        ),
        "special": st.sampled_from(list(SPECIALS)),
        "X": st.sampled_from(
            ["none", "intercept", "two", "duplicated", "badly-scaled", "nearly-collinear"]
        ),
        "K": st.sampled_from(["none", "full", "low-rank", "rank-1", "identity", "wrong-size"]),
        "restricted": st.booleans(),
    }
)


def _build(p):
    rng = np.random.default_rng(p["seed"])
    n = p["n"]
    y = _vector(rng, n, p["y"], p["special"])
    return rng, n, y, _covariates(rng, n, p["X"]), _kinship_qs(rng, n, p["K"])


def _contract(run):
    """Run ``run``; a kinmix error passes, any other error or warning fails; returns the
    result (None after a kinmix error)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", KinmixWarning)
        try:
            return run()
        except KinmixError:
            return None


@FUZZ
@given(p=problems)
def test_fuzz_lmm(p):
    _, _, y, X, QS = _build(p)

    def run():
        model = kinmix.LMM(y, X, QS, restricted=p["restricted"])
        model.fit(verbose=False)
        return model

    model = _contract(run)
    if model is not None:
        assert 0.0 <= model.delta <= 1.0
        assert np.isfinite(model.scale) and model.scale > 0
        assert np.isfinite(model.lml())
        assert np.isfinite(model.beta).all()


@FUZZ
@given(
    p=problems,
    genotypes=st.sampled_from(["dosages", "int8", "bool", "missing", "monomorphic", "overflow"]),
    block_size=st.sampled_from([None, 1, 3, 0, -2, 2.5, float("nan"), "4"]),
    traits=st.integers(1, 3),
)
def test_fuzz_scan(p, genotypes, block_size, traits):
    rng, n, y, X, QS = _build(p)
    G = rng.integers(0, 3, size=(n, 4)).astype(float)
    if genotypes == "int8":
        G = G.astype(np.int8)
    elif genotypes == "bool":
        G = G > 0
    elif genotypes == "missing" and n:
        G[rng.integers(n), :2] = np.nan
    elif genotypes == "monomorphic":
        G[:, 0] = 1.0
    elif genotypes == "overflow":
        G[:, 1] *= 1e200
    if traits > 1 and isinstance(y, np.ndarray) and y.ndim == 1:
        y = np.column_stack([y] + [rng.normal(size=n) for _ in range(traits - 1)])

    table = _contract(lambda: kinmix.scan(G, y, X, QS, block_size=block_size))
    if table is not None:
        stats = table[["beta", "se", "chi2", "pvalue", "lml", "scale"]].to_numpy(float)
        flagged = table["reason"].notna().to_numpy()
        assert np.isfinite(stats[~flagged]).all()
        assert ((table["pvalue"][~flagged] >= 0) & (table["pvalue"][~flagged] <= 1)).all()


@FUZZ_GLMM
@given(
    p=problems,
    lik=st.sampled_from(["bernoulli", "probit", "binomial", "poisson"]),
    outcome=st.sampled_from(["random", "all-equal", "separated", "huge-counts"]),
)
def test_fuzz_glmm(p, lik, outcome):
    rng, n, _, X, QS = _build(p)
    n = min(n, 12)  # EP costs more per example; the shapes stay the interesting ones
    X, QS = X[:n], _kinship_qs(rng, n, p["K"])
    ntrials = np.full(n, 1e6 if outcome == "huge-counts" else 5.0)
    if outcome == "all-equal":
        y = np.ones(n)
    elif outcome == "separated" and X.shape[1] > 1:
        y = (X[:, -1] > np.median(X[:, -1])).astype(float)
    elif lik == "poisson":
        y = rng.poisson(1e6 if outcome == "huge-counts" else 2.0, size=n).astype(float)
    elif lik == "binomial":
        y = rng.binomial(ntrials.astype(int), 0.3).astype(float)
    else:
        y = (rng.random(n) > 0.5).astype(float)
    spec = ("binomial", ntrials) if lik == "binomial" else (lik,)

    def run():
        model = GLMMExpFam(y, spec, X, QS)
        model.fit(verbose=False)
        return model

    model = _contract(run)
    if model is not None:
        assert np.isfinite(model.lml())
        assert np.isfinite(model.beta).all()


@FUZZ
@given(
    rows=st.lists(
        st.lists(
            st.one_of(
                st.sampled_from(["1.5", "-9", "NA", "nan", "x", "", "1e400", "\u00e9"]),
                st.text(alphabet="abc123 \t", max_size=4),
            ),
            min_size=0,
            max_size=4,
        ),
        max_size=5,
    ),
    raw=st.binary(max_size=12),
)
def test_fuzz_sample_table(tmp_path_factory, rows, raw):
    path = tmp_path_factory.mktemp("fuzz") / "table.txt"
    path.write_bytes("\n".join(" ".join(row) for row in rows).encode() + raw)
    table = _contract(lambda: read_sample_table(path, kind="phenotype"))
    if table is not None:
        assert table.index.is_unique
        assert all(dtype.kind == "f" for dtype in table.dtypes)
