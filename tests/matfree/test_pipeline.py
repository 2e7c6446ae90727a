"""matfree_scan: REML against exact REML, stage caps, argument errors, PLINK input."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import kinmix
from kinmix.matfree import CGConvergenceError, GenotypeGRM, matfree_scan
from kinmix.matfree.reml import mc_reml
from kinmix.simulate import simulate_families

from ._exact import exact_loco, minus_log10


@pytest.fixture(scope="module")
def cohort():
    return simulate_families(families=80, children=3, unrelated=300, variants=900, chromosomes=3,
                    h2=0.5, missing=0.01, seed=21)


def test_mc_reml__global_delta_within_half_a_standard_error(cohort):
    fit = kinmix.estimate_h2(cohort.trait, np.ones((len(cohort.trait), 1)),
                             kinmix.grm(cohort.dosages))
    table = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes,
                         loco_delta="global", refine_pvalue=0.0, refine_error=None)
    deltas = set(table.attrs["matfree"]["delta"].values())
    assert len(deltas) == 1
    h2 = 1 - deltas.pop()
    assert abs(h2 - fit["h2"]) <= 0.5 * fit["h2_se"]


def test_mc_reml__per_chromosome_delta_end_to_end(cohort):
    """Default mode (δ per LOCO chunk): each chromosome's h² within its Monte-Carlo error of
    the exact REML h² of its LOCO kinship (R draws leave an SD of about SE/√R: 4 SDs
    allowed, 1.03 SE at the default R = 15), and every p-value within 0.25 in −log10 of the
    exact LOCO scan."""
    draws = inspect.signature(matfree_scan).parameters["mc_samples"].default
    table = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes)
    reference, _ = exact_loco(cohort.dosages, cohort.chromosomes, cohort.trait)
    X = np.ones((len(cohort.trait), 1))
    deltas = table.attrs["matfree"]["delta"]
    assert set(deltas) == {"1", "2", "3"}
    for chrom, delta in deltas.items():
        off = cohort.chromosomes != chrom
        fit = kinmix.estimate_h2(cohort.trait, X, kinmix.grm(cohort.dosages[:, off]))
        assert abs((1 - delta) - fit.h2) <= 4 / np.sqrt(draws) * fit.h2_se, chrom
    dlogp = np.abs(minus_log10(table["pvalue"]) - minus_log10(reference["pvalue"]))
    assert np.nanmax(dlogp) <= 0.25


@pytest.mark.parametrize(
    ("kwargs", "stage"),
    [
        ({"maxiter": 1}, "reml"),
        ({"delta": 0.5, "maxiter": 1}, "loco"),
        ({"delta": 0.5, "maxiter": {"refine": 1}, "refine_pvalue": 1.0}, "refine"),
    ],
)
def test_each_stage_cap__raises_naming_stage_and_residual(cohort, kwargs, stage):
    with pytest.raises(CGConvergenceError,
                       match=rf"stage '{stage}' reached the cap of 1 iterations with "
                             r"relative residual \d"):
        matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes, **kwargs)


def test_mc_reml__secant_cap_raises(cohort):
    op = GenotypeGRM.from_genotypes(cohort.dosages, cohort.chromosomes)
    with pytest.raises(kinmix.FitError, match=r"stage 'reml'\) did not settle within 2"):
        mc_reml(op, cohort.trait, np.ones((op.n, 1)), np.array([0]), samples=4,
                rng=np.random.default_rng(0), tol=1e-4, maxiter=200, max_steps=2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tol": {"solve": 1e-3}}, "tol has unknown stage"),
        ({"maxiter": {"solve": 3}}, "maxiter has unknown stage"),
        ({"loco_delta": "chromosome"}, "loco_delta must be"),
        ({"refine_error": 0.0}, "refine_error must be positive or None"),
        ({"chromosomes": None}, "chromosomes is required"),
        ({"variants": ["a"]}, "variants has 1 entries"),
        ({"delta": 1.5}, "strictly between 0 and 1"),
        ({"delta": {"1": 0.5}}, r"no value for chromosome\(s\) \['2', '3'\]"),
        ({"y": np.ones(3)}, "one value per sample"),
        ({"y": "nan"}, "NaN or infinite"),
        ({"X": np.ones((3, 1))}, r"X must be \(n, c\)"),
        ({"X": "nan"}, "X has NaN"),
        ({"X": "collinear"}, "full column rank"),
        ({"genotypes": np.ones(3)}, "two-dimensional"),
    ],
)
def test_matfree_scan__rejects_bad_arguments(cohort, kwargs, match):
    n = len(cohort.trait)
    args = {"genotypes": cohort.dosages, "y": cohort.trait, "chromosomes": cohort.chromosomes}
    args.update(kwargs)
    if isinstance(args["y"], str):
        args["y"] = np.where(np.arange(n) == 3, np.nan, cohort.trait)
    if isinstance(args.get("X"), str):
        X = np.ones((n, 2))
        if kwargs["X"] == "nan":
            X[0, 1] = np.nan
        args["X"] = X
    G = args.pop("genotypes")
    y = args.pop("y")
    with pytest.raises(kinmix.InputError, match=match):
        matfree_scan(G, y, **args)


def test_matfree_scan__reads_plink_files(cohort, tmp_path):
    bed_reader = pytest.importorskip("bed_reader")
    G = cohort.dosages[:, :300]
    chromosomes = np.repeat(["1", "2"], 150)
    prefix = tmp_path / "cohort"
    bed_reader.to_bed(
        f"{prefix}.bed", G.astype(np.float32),
        properties={"chromosome": chromosomes, "sid": [f"v{i}" for i in range(300)],
                    "bp_position": np.arange(300) + 1},
    )
    from kinmix.io import read_plink

    plink = read_plink(prefix)
    from_files = matfree_scan(plink, cohort.trait, delta=0.5)
    from_array = matfree_scan(G, cohort.trait, chromosomes=chromosomes, delta=0.5,
                              variants=[f"v{i}" for i in range(300)])
    assert list(from_files.columns[:5]) == ["chrom", "pos", "variant", "a1", "a2"]
    np.testing.assert_allclose(from_files["chi2"], from_array["chi2"], rtol=1e-12)
    assert (from_files["variant"] == from_array["variant"]).all()
