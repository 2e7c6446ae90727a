"""Simulated cohorts: structure (populations, families, LD), traits, files that read back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kinmix import InputError
from kinmix.simulate import (
    family_blocks,
    simulate_cohort,
    simulate_families,
    simulate_families_to_plink,
    write_cohort,
)


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(samples=600, variants=2000, chromosomes=4, seed=7, h2=0.6, causal=10)


def test_simulate__shapes_columns_and_reproducibility(cohort):
    assert cohort.dosages.shape == (600, 2000) and cohort.dosages.dtype == np.float64
    assert list(cohort.samples.columns) == ["fid", "iid", "population", "family"]
    assert list(cohort.variants.columns) == ["chrom", "variant", "pos", "a1", "a2", "causal"]
    assert list(cohort.phenotypes.columns) == ["continuous", "binary", "count"]
    assert list(cohort.covariates.columns) == ["age", "sex", "site"]
    assert cohort.variants["causal"].sum() == 10 and cohort.h2 == 0.6
    assert (cohort.variants.groupby("chrom").size() == 500).all()
    increasing = cohort.variants.groupby("chrom")["pos"].apply(lambda p: p.is_monotonic_increasing)
    assert increasing.all()
    assert (cohort.variants["a1"] != cohort.variants["a2"]).all()
    assert set(np.unique(cohort.dosages[~np.isnan(cohort.dosages)])) == {0.0, 1.0, 2.0}
    assert 0.001 < np.isnan(cohort.dosages).mean() < 0.003
    assert cohort.samples["iid"].is_unique
    assert set(cohort.covariates["site"]) == {"east", "north", "south"}
    assert set(cohort.phenotypes["binary"].dropna()) == {0.0, 1.0}
    assert 0.25 < cohort.phenotypes["binary"].mean() < 0.35
    missing = cohort.phenotypes.isna()
    assert 0 < missing.sum().min() and missing.mean().max() < 0.03
    again = simulate_cohort(samples=600, variants=2000, chromosomes=4, seed=7, h2=0.6, causal=10)
    np.testing.assert_array_equal(again.dosages, cohort.dosages)
    pd.testing.assert_frame_equal(again.phenotypes, cohort.phenotypes)
    other = simulate_cohort(samples=600, variants=2000, chromosomes=4, seed=8, h2=0.6, causal=10)
    assert not np.array_equal(other.dosages, cohort.dosages, equal_nan=True)


def frequency(dosages):
    return np.nanmean(dosages, axis=0) / 2


def test_simulate__populations_differ_in_allele_frequency(cohort):
    population = cohort.samples["population"].to_numpy()
    assert set(population) == {"pop1", "pop2"}
    first, second = cohort.dosages[population == "pop1"], cohort.dosages[population == "pop2"]
    between = np.mean(np.abs(frequency(first) - frequency(second)))
    halves = np.mean(np.abs(frequency(first[::2]) - frequency(first[1::2])))
    assert between > 0.12  # F_ST = 0.1 gives E|p1 - p2| ≈ 0.16 here
    assert between > 3 * halves


def ibs(a, b):
    """Mean identity by state of two dosage vectors, and the fraction sharing no allele."""
    ok = ~(np.isnan(a) | np.isnan(b))
    difference = np.abs(a[ok] - b[ok])
    return 1 - difference.mean() / 2, np.mean(difference == 2)


def test_simulate__relatives_share_more_than_unrelated(cohort):
    samples = cohort.samples
    families = samples[samples["family"] != ""].groupby("family").groups  # row labels
    assert len(families) == 50 and all(len(members) == 4 for members in families.values())
    parent_child, siblings, unrelated = [], [], []
    unrelated_rows = np.flatnonzero(samples["family"] == "")
    for members in list(families.values())[:20]:
        father, mother, child, sibling = members
        assert samples["population"].iloc[father] == samples["population"].iloc[child]
        for parent in (father, mother):
            share, ibs0 = ibs(cohort.dosages[parent], cohort.dosages[child])
            assert ibs0 == 0.0  # a child carries one allele of each parent at every variant
            parent_child.append(share)
        siblings.append(ibs(cohort.dosages[child], cohort.dosages[sibling])[0])
        unrelated.append(ibs(cohort.dosages[father], cohort.dosages[mother])[0])
    for i, j in zip(unrelated_rows[:20], unrelated_rows[20:40], strict=True):
        if samples["population"].iloc[i] == samples["population"].iloc[j]:
            unrelated.append(ibs(cohort.dosages[i], cohort.dosages[j])[0])
    assert np.mean(parent_child) > np.mean(unrelated) + 0.05
    assert np.mean(siblings) > np.mean(unrelated) + 0.05


def test_simulate__linkage_disequilibrium_decays_with_distance(cohort):
    x = cohort.dosages[:, :500]  # chromosome 1
    x = np.where(np.isnan(x), np.nanmean(x, axis=0), x)
    r = np.corrcoef(x.T)

    def mean_r2(lag):
        return np.mean(np.diag(r, lag) ** 2)

    near, middle, far = mean_r2(1), mean_r2(10), mean_r2(200)
    assert near > 0.15 and near > 2 * middle and middle > far and far < 0.02


def test_simulate__heritability_close_to_the_requested_one(cohort):
    covariates = pd.get_dummies(cohort.covariates, columns=["site"], drop_first=True, dtype=float)
    y = cohort.phenotypes["continuous"].to_numpy()
    keep = ~np.isnan(y)
    design = np.column_stack([np.ones(keep.sum()), covariates.to_numpy(float)[keep]])
    residual = y[keep] - design @ np.linalg.lstsq(design, y[keep], rcond=None)[0]
    causal = cohort.dosages[np.ix_(keep, cohort.variants["causal"].to_numpy())]
    causal = np.where(np.isnan(causal), np.nanmean(causal, axis=0), causal)
    fit = np.column_stack([np.ones(keep.sum()), causal])
    explained = residual - fit @ np.linalg.lstsq(fit, residual, rcond=None)[0]
    r2 = 1 - explained.var() / residual.var()
    assert abs(r2 - 0.6) < 0.1, r2
    null = simulate_cohort(samples=600, variants=200, chromosomes=2, seed=3, h2=0.0, causal=5)
    assert null.phenotypes["continuous"].notna().sum() > 580


def test_write_cohort__files_read_back(cohort, tmp_path):
    from kinmix.io.genotypes import open_genotypes
    from kinmix.io.tables import read_sample_table

    paths = write_cohort(cohort, tmp_path / "sub" / "cohort")
    assert paths["bed"] == tmp_path / "sub" / "cohort.bed"
    assert all(path.is_file() for key, path in paths.items() if key != "bfile")
    genotypes = open_genotypes(bfile=paths["bfile"])
    np.testing.assert_array_equal(genotypes.read(), cohort.dosages)
    pd.testing.assert_frame_equal(
        genotypes.variants[["chrom", "variant", "pos", "a1", "a2"]],
        cohort.variants[["chrom", "variant", "pos", "a1", "a2"]],
    )
    pd.testing.assert_frame_equal(genotypes.samples, cohort.samples[["fid", "iid"]])
    phenotypes = read_sample_table(paths["pheno"], kind="phenotype")
    pd.testing.assert_frame_equal(phenotypes, cohort.phenotypes, atol=1e-5)
    covariates = read_sample_table(paths["covar"], kind="covariate", categorical=["site"])
    assert list(covariates.columns) == ["age", "sex", "site=north", "site=south"]
    np.testing.assert_array_equal(covariates["site=south"], cohort.covariates["site"] == "south")
    np.testing.assert_array_equal(covariates["age"], cohort.covariates["age"])
    fam = pd.read_csv(paths["fam"], sep=" ", header=None, dtype=str)
    family = cohort.samples.index[cohort.samples["family"] == "fam00001"]
    assert fam.iloc[family[2], 2] == cohort.samples["iid"].iloc[family[0]]  # child's father
    assert fam.iloc[family[2], 3] == cohort.samples["iid"].iloc[family[1]]


def test_simulate__argument_errors(tmp_path):
    with pytest.raises(InputError, match="samples must be at least 4"):
        simulate_cohort(samples=3, variants=10)
    with pytest.raises(InputError, match="got 5 variants on 10 chromosomes"):
        simulate_cohort(samples=10, variants=5)
    with pytest.raises(InputError, match="populations must be at least 1"):
        simulate_cohort(samples=10, variants=20, populations=0)
    with pytest.raises(InputError, match=r"h2 must lie in \[0, 1\)"):
        simulate_cohort(samples=10, variants=20, h2=1.0)
    with pytest.raises(InputError, match=r"causal must lie in \[1, variants=20\]"):
        simulate_cohort(samples=10, variants=20, causal=21)
    blocker = tmp_path / "file"
    blocker.write_text("")
    small = simulate_cohort(samples=8, variants=20, chromosomes=2, causal=2)
    with pytest.raises(InputError, match="cannot create the folder of"):
        write_cohort(small, blocker / "cohort")


def test_simulate_families__kinship_of_siblings_and_parents():
    """GRM entries: 0.5 between a parent and a child and between siblings, 0 between others."""
    cohort = simulate_families(families=40, children=2, unrelated=20, variants=4000,
                               chromosomes=4, h2=0.5, missing=0.01, seed=3)
    G = cohort.dosages
    assert G.shape == (40 * 4 + 20, 4000)
    assert 0.008 < np.isnan(G).mean() < 0.012
    assert set(np.unique(G[~np.isnan(G)])) == {0.0, 1.0, 2.0}
    assert (pd.Series(cohort.chromosomes).value_counts() == 1000).all()
    filled = np.where(np.isnan(G), np.nanmean(G, axis=0), G)
    Z = (filled - filled.mean(axis=0)) / filled.std(axis=0)
    K = Z @ Z.T / Z.shape[1]
    kids = 100  # children start after the 80 parents and 20 unrelated people
    mother_child = [K[2 * f, kids + 2 * f + c] for f in range(40) for c in range(2)]
    siblings = [K[kids + 2 * f, kids + 2 * f + 1] for f in range(40)]
    unrelated = K[80:100, 80:100][np.triu_indices(20, 1)]
    assert abs(np.mean(mother_child) - 0.5) < 0.03
    assert abs(np.mean(siblings) - 0.5) < 0.05
    assert abs(np.mean(unrelated)) < 0.02


def test_simulate_families__trait_variance_split_by_h2():
    cohort = simulate_families(families=0, children=0, unrelated=3000, variants=400,
                               chromosomes=2, h2=0.7, causal_chromosomes=1, seed=4)
    assert cohort.causal.tolist() == (cohort.chromosomes == "1").tolist()
    assert abs(cohort.trait.var() - 1.0) < 0.08
    Z = cohort.dosages[:, cohort.causal]
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    beta, *_ = np.linalg.lstsq(Z, cohort.trait - cohort.trait.mean(), rcond=None)
    explained = 1 - np.var(cohort.trait - cohort.trait.mean() - Z @ beta) / cohort.trait.var()
    assert abs(explained - 0.7) < 0.08  # OLS on 200 columns over-fits by about 200/3000


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"families": 1, "children": 0, "unrelated": 1}, "at least 4 people"),
        ({"unrelated": -1}, "non-negative"),
        ({"variants": 2, "chromosomes": 3}, "at least one variant per chromosome"),
        ({"h2": 1.0}, r"h2 and missing must lie in \[0, 1\)"),
        ({"missing": -0.1}, r"h2 and missing must lie in \[0, 1\)"),
    ],
)
def test_simulate_families__argument_errors(kwargs, match):
    args = {"families": 2, "children": 2, "unrelated": 5, "variants": 10, "chromosomes": 2,
            "h2": 0.5}
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        simulate_families(**args)


def _family_files(tmp_path, name="cohort", **overrides):
    args = {"families": 60, "children": 2, "unrelated": 41, "variants": 3000,
            "chromosomes": 3, "h2": 0.5, "missing": 0.01, "seed": 5, "block_variants": 700}
    args.update(overrides)
    return simulate_families_to_plink(tmp_path / name, **args), args


def test_simulate_families_to_plink__reads_back_the_drawn_blocks(tmp_path):
    """The .bed holds exactly the generator's dosages (checked against bed-reader's own
    writer on the same array) and read_plink returns them, NaN where a call was dropped."""
    from bed_reader import to_bed

    from kinmix.io import read_plink

    files, args = _family_files(tmp_path)
    blocks = list(family_blocks(**{k: args[k] for k in (
        "families", "children", "unrelated", "variants", "missing", "seed",
        "block_variants")}))
    assert [start for start, *_ in blocks] == [0, 700, 1400, 2100, 2800]
    G = np.hstack([np.where(observed, complete, np.nan) for _, complete, observed in blocks])
    assert G.shape == (60 * 4 + 41, 3000)
    assert 0.008 < np.isnan(G).mean() < 0.012
    genotypes = read_plink(files.prefix)
    np.testing.assert_array_equal(genotypes.read(np.arange(3000)), G)
    assert genotypes.variants["chrom"].tolist() == files.chromosomes.tolist()
    assert (pd.Series(files.chromosomes).value_counts() == 1000).all()
    to_bed(tmp_path / "reference.bed", G, count_A1=True)
    assert (tmp_path / "reference.bed").read_bytes() == files.prefix.with_suffix(
        ".bed").read_bytes()
    fam = pd.read_csv(files.prefix.with_suffix(".fam"), sep=" ", header=None)
    np.testing.assert_array_equal(fam[5].to_numpy(), files.trait)
    kid = 2 * 60 + 41  # first child: of the first family's mother (row 0) and father (1)
    assert fam.iloc[kid, :5].tolist() == ["fam000001", "s0000162", "s0000002", "s0000001", 0]


def test_simulate_families_to_plink__kinship_shows_the_families(tmp_path):
    """GRM of the files: 0.5 for parent–child and sibling pairs, 0 for spouses and
    unrelated people; the trait has unit variance and the requested heritability."""
    from kinmix import estimate_h2, grm
    from kinmix.io import read_plink

    files, _ = _family_files(tmp_path, families=150, unrelated=200, variants=4000,
                             h2=0.6, missing=0.0)
    G = read_plink(files.prefix).read(np.arange(4000))
    K = grm(G)
    kids = 300 + 200
    mother_child = [K[2 * f, kids + 2 * f + c] for f in range(150) for c in range(2)]
    father_child = [K[2 * f + 1, kids + 2 * f + c] for f in range(150) for c in range(2)]
    siblings = [K[kids + 2 * f, kids + 2 * f + 1] for f in range(150)]
    spouses = [K[2 * f, 2 * f + 1] for f in range(150)]
    unrelated = K[300:500, 300:500][np.triu_indices(200, 1)]
    assert abs(np.mean(mother_child) - 0.5) < 0.03
    assert abs(np.mean(father_child) - 0.5) < 0.03
    assert abs(np.mean(siblings) - 0.5) < 0.05
    assert abs(np.mean(spouses)) < 0.02
    assert abs(np.mean(unrelated)) < 0.01
    assert abs(files.trait.var() - 1.0) < 0.1
    fit = estimate_h2(files.trait, np.ones((len(files.trait), 1)), K)
    assert abs(fit.h2 - 0.6) < 3 * fit.h2_se


def test_simulate_families_to_plink__same_seed_same_files(tmp_path):
    first, _ = _family_files(tmp_path, "a", variants=900)
    second, _ = _family_files(tmp_path, "b", variants=900)
    other, _ = _family_files(tmp_path, "c", variants=900, seed=6)
    for suffix in (".bed", ".bim", ".fam"):
        assert (first.prefix.with_suffix(suffix).read_bytes()
                == second.prefix.with_suffix(suffix).read_bytes())
    assert (first.prefix.with_suffix(".bed").read_bytes()
            != other.prefix.with_suffix(".bed").read_bytes())
    assert not np.allclose(first.trait, other.trait)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"unrelated": -1}, "non-negative"),
        ({"h2": 1.0}, r"h2 and missing must lie in \[0, 1\)"),
        ({"block_variants": 0}, "block_variants must be a positive integer"),
        ({"block_variants": 2.5}, "block_variants must be a positive integer"),
    ],
)
def test_simulate_families_to_plink__argument_errors(tmp_path, kwargs, match):
    with pytest.raises(InputError, match=match):
        _family_files(tmp_path, **kwargs)


def test_simulate_families_to_plink__unwritable_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="cannot write the cohort to"):
        _family_files(blocker, variants=10)
