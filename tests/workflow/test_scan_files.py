"""scan_files: LOCO exactness, the three tests, trait groups, conditioning, g×E, GLMM traits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import kinmix
from kinmix import InputError
from kinmix.grm import grm
from kinmix.io import open_genotypes
from kinmix.kernel.null_fit import NullFit
from kinmix.lmm import LMM
from kinmix.workflow import ScanOptions, scan_files
from kinmix.workflow.blocks import glmm_statistics


@pytest.fixture(scope="module")
def genotypes(small_cohort):
    return open_genotypes(bfile=small_cohort.prefix)


def _design(covariates):
    return np.column_stack([np.ones(len(covariates)), covariates.to_numpy()])


def test_loco_statistics_equal_a_fit_whose_kinship_omits_the_chromosome(small_cohort, genotypes):
    pheno = small_cohort.phenotypes[["a"]]
    result = scan_files(genotypes, pheno, small_cohort.covariates, options=ScanOptions())
    table = result.table
    assert list(table.columns[:5]) == ["chrom", "pos", "variant", "a1", "a2"]
    assert {"af", "n", "beta", "se", "chi2", "pvalue"} <= set(table.columns)
    assert table["variant"].tolist() == [f"rs{j}" for j in range(120)]
    G, chrom = small_cohort.dosages, small_cohort.chrom
    X = _design(small_cohort.covariates)
    y = pheno["a"].to_numpy()
    for c in ["1", "2", "3"]:
        by_hand = kinmix.scan(G[:, chrom == c], y, X, K=grm(G[:, chrom != c]), restricted=True)
        mine = table[table["chrom"] == c].reset_index(drop=True)
        for column in ["beta", "se", "chi2", "pvalue", "af", "n"]:
            np.testing.assert_allclose(mine[column], by_hand[column], rtol=1e-7, atol=1e-12)
    assert set(result.heritability["chrom"]) == {"1", "2", "3"}
    # one trait: the tridiagonal form and a Cholesky factor take the eigendecomposition's place
    assert set(result.timings) >= {"read", "kinship", "tridiagonal", "null fits", "scan"}


def test_no_loco_uses_the_kinship_of_every_chromosome(small_cohort, genotypes):
    pheno = small_cohort.phenotypes[["a"]]
    options = ScanOptions(loco=False)
    table = scan_files(genotypes, pheno, small_cohort.covariates, options=options).table
    G = small_cohort.dosages
    by_hand = kinmix.scan(
        G, pheno["a"], _design(small_cohort.covariates), K=grm(G), restricted=True
    )
    np.testing.assert_allclose(table["chi2"], by_hand["chi2"], rtol=1e-7, atol=1e-12)


@pytest.fixture(scope="module")
def larger_cohort(tmp_path_factory):
    # 300 samples: the ML null of the exact tests is interior (with 70 it sits on δ's lower
    # bound, where the intercept in the GRM's null space makes the ML likelihood unbounded).
    from .conftest import write_small_cohort

    return write_small_cohort(tmp_path_factory.mktemp("larger"), n=300)


@pytest.mark.parametrize(("test", "refit_delta"), [("score", False), ("f", True), ("wald", True)])
def test_score_and_exact_tests_are_kinmix_scan_s(larger_cohort, test, refit_delta):
    cohort = larger_cohort
    pheno = cohort.phenotypes[["a"]]
    options = ScanOptions(loco=False, test=test, refit_delta=refit_delta)
    table = scan_files(
        open_genotypes(bfile=cohort.prefix), pheno, cohort.covariates, options=options
    ).table
    G = cohort.dosages
    by_hand = kinmix.scan(
        G,
        pheno["a"],
        _design(cohort.covariates),
        K=grm(G),
        restricted=not refit_delta,
        test=test,
        refit_delta=refit_delta,
    )
    columns = ["beta", "se", "chi2", "pvalue"] + (["delta", "h2"] if refit_delta else [])
    for column in columns:
        np.testing.assert_allclose(table[column], by_hand[column], rtol=1e-7, atol=1e-12)


def test_exact_tests_fit_the_ml_null_once_not_per_block(larger_cohort, monkeypatch):
    """--refit-delta: the ML null δ comes from the null step; the blocks reuse it."""
    cohort = larger_cohort
    pheno = cohort.phenotypes[["a"]]
    whole = ScanOptions(loco=False, test="wald", refit_delta=True)
    expected = scan_files(
        open_genotypes(bfile=cohort.prefix), pheno, cohort.covariates, options=whole
    )
    searches = []
    real_search = NullFit.search_delta

    def spy(self, *args, **kwargs):
        searches.append(self.restricted)
        return real_search(self, *args, **kwargs)

    monkeypatch.setattr(NullFit, "search_delta", spy)
    chunked = ScanOptions(loco=False, test="wald", refit_delta=True, chunk_size=16)
    got = scan_files(
        open_genotypes(bfile=cohort.prefix), pheno, cohort.covariates, options=chunked
    )
    nvariants = got.table.shape[0]
    assert nvariants > 3 * 16  # several blocks
    assert searches.count(False) == 1  # one ML null fit, in the null step, none per block
    null_delta = got.heritability["delta"].iloc[0]
    ml = LMM(
        pheno["a"].to_numpy(), _design(cohort.covariates), kinmix.economic_qs(grm(cohort.dosages))
    )
    ml.fit(verbose=False)
    assert null_delta == pytest.approx(ml.delta, rel=1e-6)
    for column in ("beta", "se", "pvalue", "delta"):
        np.testing.assert_allclose(got.table[column], expected.table[column], rtol=1e-9)


@pytest.mark.parametrize("test", ["wald", "f"])
def test_wald_and_f_equal_a_direct_gls_fit_at_the_null_delta(small_cohort, genotypes, test):
    pheno = small_cohort.phenotypes[["a"]]
    options = ScanOptions(loco=False, test=test)
    table = scan_files(genotypes, pheno, small_cohort.covariates, options=options).table
    G = small_cohort.dosages
    K = grm(G)
    X = _design(small_cohort.covariates)
    y = pheno["a"].to_numpy()
    null = LMM(y, X, kinmix.economic_qs(K), restricted=True)
    null.fit(verbose=False)
    V = (1 - null.delta) * K + null.delta * np.eye(len(y))
    Vi = np.linalg.inv(V)
    n, c = X.shape
    for j in [0, 5, 77]:
        g = G[:, j]
        g = np.where(np.isnan(g), np.nanmean(g), g)
        M = np.column_stack([X, g])
        cov = np.linalg.inv(M.T @ Vi @ M)
        coef = cov @ M.T @ Vi @ y
        r = y - M @ coef
        rss = r @ Vi @ r
        if test == "wald":
            statistic = coef[-1] ** 2 / (rss / n * cov[-1, -1])
            pvalue = stats.chi2.sf(statistic, 1)
            se = np.sqrt(rss / n * cov[-1, -1])
        else:
            statistic = coef[-1] ** 2 / (rss / (n - c - 1) * cov[-1, -1])
            pvalue = stats.f.sf(statistic, 1, n - c - 1)
            se = np.sqrt(rss / (n - c - 1) * cov[-1, -1])
        row = table.iloc[j]
        np.testing.assert_allclose(row["beta"], coef[-1], rtol=1e-8)
        np.testing.assert_allclose(row["se"], se, rtol=1e-8)
        np.testing.assert_allclose(row["chi2"], statistic, rtol=1e-8)
        np.testing.assert_allclose(row["pvalue"], pvalue, rtol=1e-7)


def test_glmm_statistics_closed_forms():
    chi2 = np.array([0.0, 1.0, 25.0])
    lrt, p_lrt, _ = glmm_statistics(chi2, chi2, n=100, covariates=3, test="lrt")
    wald, _, _ = glmm_statistics(chi2, chi2, n=100, covariates=3, test="wald")
    f, p_f, se = glmm_statistics(chi2, np.ones(3), n=100, covariates=3, test="f")
    np.testing.assert_allclose(wald, 100 * np.expm1(chi2 / 100), rtol=1e-15)
    np.testing.assert_allclose(f, 96 / 100 * wald, rtol=1e-14)
    np.testing.assert_allclose(se, np.sqrt(100 / 96))
    assert (wald >= lrt).all() and p_lrt[0] == 1.0 and p_f[0] == 1.0


@pytest.mark.filterwarnings("ignore::kinmix.BoundaryWarning")  # trait b: h2 -> 1 on 61 samples
def test_traits_with_different_missing_samples_are_scanned_on_their_own_samples(
    small_cohort, genotypes
):
    pheno = small_cohort.phenotypes
    result = scan_files(genotypes, pheno, None, options=ScanOptions(loco=False))
    table = result.table
    assert table["trait"].tolist()[:4] == ["a", "b", "a", "b"]
    assert result.samples["traits"] == {"a": 70, "b": 61}
    G = small_cohort.dosages
    observed = pheno["b"].notna().to_numpy()
    K = grm(G)
    by_hand = kinmix.scan(
        G[observed],
        pheno["b"][observed],
        None,
        K=K[np.ix_(observed, observed)],
        restricted=True,
    )
    mine = table[table["trait"] == "b"].reset_index(drop=True)
    np.testing.assert_allclose(mine["chi2"], by_hand["chi2"], rtol=1e-7, atol=1e-12)
    assert (mine["n"] <= 61).all()


def test_condition_adds_the_variants_dosages_as_covariates(small_cohort, genotypes):
    pheno = small_cohort.phenotypes[["a"]]
    options = ScanOptions(loco=False, condition=("rs5",))
    result = scan_files(genotypes, pheno, small_cohort.covariates, options=options)
    G = small_cohort.dosages
    g5 = np.where(np.isnan(G[:, 5]), np.nanmean(G[:, 5]), G[:, 5])
    X = np.column_stack([_design(small_cohort.covariates), g5])
    by_hand = kinmix.scan(G, pheno["a"], X, K=grm(G), restricted=True)
    np.testing.assert_allclose(result.table["chi2"], by_hand["chi2"], rtol=1e-7, atol=1e-10)
    assert result.table.loc[5, "reason"] == "collinear with covariates"
    assert result.samples["covariates"][-1] == "condition:rs5"


def test_interaction_runs_the_gxe_scan_with_a_covariate_column(small_cohort, genotypes):
    pheno = small_cohort.phenotypes[["a"]]
    options = ScanOptions(loco=False, interaction="env")
    table = scan_files(genotypes, pheno, small_cohort.covariates, options=options).table
    G = small_cohort.dosages
    X = _design(small_cohort.covariates)
    by_hand = kinmix.scan(
        G,
        pheno["a"],
        X,
        K=grm(G),
        interaction=small_cohort.covariates[["env"]],
        restricted=True,
    )
    np.testing.assert_allclose(table["chi2"], by_hand["chi2"], rtol=1e-7, atol=1e-10)
    assert "beta_gxe_env" in table.columns


def test_binary_trait_fits_the_glmm_null_and_scans_on_its_sites(small_cohort, genotypes):
    from kinmix.glmm import GLMMExpFam, GLMMNormal

    a = small_cohort.phenotypes["a"]
    pheno = pd.DataFrame({"case": (a > a.median()).astype(float)})
    options = ScanOptions(loco=False, trait_type="binary")
    variants = np.flatnonzero(small_cohort.chrom == "1")[:10]

    table = scan_files(genotypes, pheno, None, options=options).table
    G = small_cohort.dosages
    QS = kinmix.economic_qs(grm(G))
    X = np.ones((70, 1))
    glmm = GLMMExpFam(pheno["case"].to_numpy(), ("bernoulli",), X, QS)
    glmm.fit(verbose=False)
    normal = GLMMNormal(glmm.site.eta, glmm.site.tau, X, QS)
    normal.fit(verbose=False)
    scanner = normal.get_fast_scanner()
    Gi = np.where(np.isnan(G), np.nanmean(G, axis=0), G)[:, variants]
    chi2 = 2 * (scanner.fast_scan(Gi, verbose=False)["lml"] - scanner.null_lml())
    np.testing.assert_allclose(table["chi2"].to_numpy()[variants], chi2, rtol=1e-5)
    assert table["pvalue"].between(0, 1).all()


def test_option_and_input_errors(small_cohort, genotypes):
    pheno = small_cohort.phenotypes[["a"]]
    with pytest.raises(InputError, match="test must be one of lrt, wald, f, score"):
        ScanOptions(test="all")
    with pytest.raises(InputError, match="--refit-delta needs a continuous trait"):
        ScanOptions(refit_delta=True, test="wald", trait_type="binary")
    with pytest.raises(InputError, match="score test is computed at the null"):
        ScanOptions(refit_delta=True, test="score")
    with pytest.raises(InputError, match="interaction scans use the likelihood-ratio test"):
        ScanOptions(interaction="env", test="wald")
    with pytest.raises(InputError, match="chunk_size must be a positive integer"):
        ScanOptions(chunk_size=0)
    with pytest.raises(InputError, match="a binomial trait needs its numbers of trials"):
        ScanOptions(trait_type="binomial")
    with pytest.raises(InputError, match="interaction scans need a continuous trait"):
        ScanOptions(trait_type="binary", interaction="env")
    with pytest.raises(InputError, match="--interaction smoking: no covariate column"):
        scan_files(
            genotypes, pheno, small_cohort.covariates, options=ScanOptions(interaction="smoking")
        )
    with pytest.raises(InputError, match="--condition: variant.s. rs999 not in"):
        scan_files(genotypes, pheno, None, options=ScanOptions(condition=("rs999",)))
    with pytest.raises(InputError, match="--trials n: no phenotype column"):
        scan_files(genotypes, pheno, None, options=ScanOptions(trait_type="binomial", trials="n"))
    empty = pheno.assign(a=np.nan)
    with pytest.raises(InputError, match="every phenotype is missing"):
        scan_files(genotypes, empty, None)


def test_precomputed_kinship_needs_no_loco_and_ml_null(small_cohort, genotypes):
    from types import SimpleNamespace

    # full rank, so that the ML null is not degenerate (a centred GRM has 1 in its null space)
    K = grm(small_cohort.dosages) + 0.5 * np.eye(70)
    ids = genotypes.samples["iid"].tolist()
    kinship = SimpleNamespace(ids=pd.Index(ids[::-1]), matrix=K[::-1, ::-1], n_variants=120)
    pheno = small_cohort.phenotypes[["a"]]
    with pytest.raises(InputError, match="a precomputed kinship .--grm. has no chromosomes"):
        scan_files(genotypes, pheno, None, kinship=kinship)
    with pytest.raises(InputError, match="give either a kinship file"):
        scan_files(
            genotypes,
            pheno,
            None,
            kinship=kinship,
            kinship_genotypes=genotypes,
            options=ScanOptions(loco=False),
        )
    table = scan_files(
        genotypes, pheno, None, kinship=kinship, options=ScanOptions(loco=False, null="ml")
    ).table
    by_hand = kinmix.scan(small_cohort.dosages, pheno["a"], None, K=K)
    np.testing.assert_allclose(table["chi2"], by_hand["chi2"], rtol=1e-7, atol=1e-12)


def test_kinship_from_another_file_still_leaves_each_chromosome_out(small_cohort, genotypes):
    pheno = small_cohort.phenotypes[["a"]]
    result = scan_files(
        genotypes, pheno, None, kinship_genotypes=genotypes, options=ScanOptions(chunk_size=9)
    )
    same = scan_files(genotypes, pheno, None, options=ScanOptions(chunk_size=9))
    np.testing.assert_allclose(result.table["chi2"], same.table["chi2"], rtol=1e-8)


def test_fewer_kinship_variants_than_samples_take_the_low_rank_path(tmp_path):
    from tests.workflow.conftest import write_small_cohort

    cohort = write_small_cohort(tmp_path, n=70, per_chrom=15, seed=4)
    genotypes = open_genotypes(bfile=cohort.prefix)
    pheno = cohort.phenotypes[["a"]]
    result = scan_files(genotypes, pheno, None)
    assert result.kinship["low_rank"] is True and result.kinship["n_variants"] == 45
    G, chrom = cohort.dosages, cohort.chrom
    for c in ["1", "2", "3"]:
        by_hand = kinmix.scan(
            G[:, chrom == c], pheno["a"], None, K=grm(G[:, chrom != c]), restricted=True
        )
        mine = result.table[result.table["chrom"] == c].reset_index(drop=True)
        np.testing.assert_allclose(mine["chi2"], by_hand["chi2"], rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("trait_type", ["count", "binomial"])
def test_count_and_binomial_traits_use_their_glmm_null(small_cohort, genotypes, trait_type):
    from kinmix.glmm import GLMMExpFam, GLMMNormal

    rng = np.random.default_rng(5)
    a = small_cohort.phenotypes["a"].to_numpy()
    trials = rng.integers(1, 6, size=70).astype(float)
    rate = np.exp(0.3 * (a - a.mean()))
    if trait_type == "count":
        y = rng.poisson(rate).astype(float)
        pheno = pd.DataFrame({"y": y}, index=small_cohort.phenotypes.index)
        lik = ("poisson",)
        options = ScanOptions(loco=False, trait_type="count")
    else:
        y = rng.binomial(trials.astype(int), rate / (1 + rate)).astype(float)
        pheno = pd.DataFrame({"y": y, "n": trials}, index=small_cohort.phenotypes.index)
        lik = ("binomial", trials)
        options = ScanOptions(loco=False, trait_type="binomial", trials="n")
    table = scan_files(genotypes, pheno, None, options=options).table
    assert "trait" not in table.columns and len(table) == 120
    G = small_cohort.dosages
    QS = kinmix.economic_qs(grm(G))
    X = np.ones((70, 1))
    glmm = GLMMExpFam(y, lik, X, QS)
    glmm.fit(verbose=False)
    normal = GLMMNormal(glmm.site.eta, glmm.site.tau, X, QS)
    normal.fit(verbose=False)
    scanner = normal.get_fast_scanner()
    Gi = np.where(np.isnan(G), np.nanmean(G, axis=0), G)[:, :8]
    chi2 = 2 * (scanner.fast_scan(Gi, verbose=False)["lml"] - scanner.null_lml())
    np.testing.assert_allclose(table["chi2"].to_numpy()[:8], chi2, rtol=1e-5)


def test_loco_scan_needs_two_chromosomes():
    from types import SimpleNamespace

    from kinmix.workflow import loco_scan

    genotypes = SimpleNamespace(variants=pd.DataFrame({"chrom": ["1", "1"]}))
    with pytest.raises(InputError, match="LOCO needs variants on at least two chromosomes"):
        loco_scan(genotypes, np.zeros(3), np.ones((3, 1)))


def test_loco_scan_keeps_the_array_interface(small_cohort, genotypes):
    from kinmix.workflow import loco_scan

    y = small_cohort.phenotypes["a"].to_numpy()
    X = _design(small_cohort.covariates)
    table = loco_scan(genotypes, y, X)
    same = scan_files(genotypes, small_cohort.phenotypes[["a"]], small_cohort.covariates)
    np.testing.assert_allclose(table["chi2"], same.table["chi2"], rtol=1e-10)


def _counting(monkeypatch, cls, name="fit"):
    """Count the calls of ``cls.name`` (the method still runs)."""
    calls = []
    real = getattr(cls, name)

    def counted(self, *args, **kwargs):
        calls.append(type(self).__name__)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, counted)
    return calls


def test_glmm_nulls_are_fitted_once_per_kinship_not_per_block(
    small_cohort, genotypes, monkeypatch
):
    from kinmix.glmm import GLMMExpFam, GLMMNormal

    a = small_cohort.phenotypes["a"]
    pheno = pd.DataFrame({"case": (a > a.median()).astype(float)})
    one_block = scan_files(
        genotypes, pheno, None, options=ScanOptions(trait_type="binary", chunk_size=40)
    ).table
    ep_fits = _counting(monkeypatch, GLMMExpFam)
    normal_fits = _counting(monkeypatch, GLMMNormal)
    # three chromosomes of 40 variants in blocks of 7: 18 blocks, 3 LOCO kinships
    options = ScanOptions(trait_type="binary", chunk_size=7)
    table = scan_files(genotypes, pheno, None, options=options).table
    assert len(ep_fits) == 3 and len(normal_fits) == 3
    # the kinship pass does not follow the chunk size: same kinship, same nulls
    np.testing.assert_allclose(table["chi2"], one_block["chi2"], rtol=1e-10, atol=1e-12)

