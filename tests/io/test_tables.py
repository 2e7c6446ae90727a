"""Sample tables: every layout, missing codes, selection, categories, alignment, design."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kinmix import InputError
from kinmix.io.tables import align_samples, covariate_matrix, read_sample_table


def write(tmp_path, text, name="table.txt", mode="w"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


EXPECTED = pd.DataFrame(
    {"height": [1.5, np.nan, 2.0], "weight": [70.0, 80.0, np.nan]},
    index=pd.Index(["a", "b", "c"], name="iid"),
)


@pytest.mark.parametrize(
    "text",
    [
        "FID IID height weight\nf1 a 1.5 70\nf2 b NA 80\nf3 c 2.0 nan\n",
        "#FID\tIID\theight\tweight\nf1\ta\t1.5\t70\nf2\tb\t\t80\nf3\tc\t2.0\tNA\n",
        "fid,iid,height,weight\nf1,a,1.5,70\nf2,b,nan,80\nf3,c,2,\n",
        "IID height weight\na 1.5 70\nb NaN 80\nc 2 .\n",
        "FID IID height weight\r\nf1 a 1.5 70\r\n\r\nf2 b -9 80\r\nf3 c 2.0 -9\r\n",
    ],
    ids=["whitespace-fid-iid", "tsv-hash-fid-empty", "csv-lowercase", "iid-only", "crlf-minus9"],
)
def test_read_sample_table__header_layouts_and_missing_codes(tmp_path, text):
    table = read_sample_table(write(tmp_path, text), kind="phenotype")
    pd.testing.assert_frame_equal(table, EXPECTED)


def test_read_sample_table__plink_style_without_header_names_columns_by_kind(tmp_path):
    path = write(tmp_path, "f1 a 1.5 -9\nf2 b 3 4e-1\n")
    phenotype = read_sample_table(path, kind="phenotype")
    assert list(phenotype.columns) == ["phenotype_1", "phenotype_2"]
    np.testing.assert_array_equal(phenotype.to_numpy(), [[1.5, np.nan], [3.0, 0.4]])
    covariate = read_sample_table(path, kind="covariate")
    assert list(covariate.columns) == ["covariate_1", "covariate_2"]
    assert covariate.loc["a", "covariate_2"] == -9.0  # -9 is a value in covariate tables
    assert covariate.index.name == "iid" and covariate.dtypes.eq(np.float64).all()


def test_read_sample_table__named_id_column_and_selection(tmp_path):
    path = write(tmp_path, "age,sample,FID,bmi,ldl\n40,s1,f,22,3.1\n51,s2,f,NA,2.9\n")
    table = read_sample_table(path, kind="covariate", id_col="sample", columns=["ldl", "age"])
    assert list(table.columns) == ["ldl", "age"] and list(table.index) == ["s1", "s2"]
    np.testing.assert_array_equal(table.to_numpy(), [[3.1, 40], [2.9, 51]])
    with pytest.raises(InputError, match=r"has no column\(s\) \['hdl'\]; its covariate columns "
                       r"are \['age', 'bmi', 'ldl'\]"):
        read_sample_table(path, kind="covariate", id_col="sample", columns=["hdl"])
    with pytest.raises(InputError, match=r"has no column 'ID' \(id_col\)"):
        read_sample_table(path, kind="covariate", id_col="ID")


def test_read_sample_table__categorical_one_hot_against_first_sorted_level(tmp_path):
    path = write(tmp_path, "FID IID site sex\n1 a north 0\n2 b east 1\n3 c south NA\n"
                 "4 d NA 1\n5 e east 0\n")
    table = read_sample_table(path, kind="covariate", categorical=["site"])
    assert list(table.columns) == ["site=north", "site=south", "sex"]  # east is the reference
    np.testing.assert_array_equal(table["site=north"], [1, 0, 0, np.nan, 0])
    np.testing.assert_array_equal(table["site=south"], [0, 0, 1, np.nan, 0])
    numeric_levels = write(tmp_path, "FID IID batch\n1 a 10\n2 b 9\n3 c 2\n", "b.txt")
    encoded = read_sample_table(numeric_levels, kind="covariate", categorical=["batch"])
    assert list(encoded.columns) == ["batch=9", "batch=10"]  # numeric order: 2 is the reference
    with pytest.raises(InputError, match=r"categorical column\(s\) \['site'\] are not among "
                       r"its selected columns \['sex'\]"):
        read_sample_table(path, kind="covariate", columns=["sex"], categorical=["site"])


def test_read_sample_table__undeclared_text_names_file_column_line_and_value(tmp_path):
    path = write(tmp_path, "FID IID site sex\n1 a north 0\n2 b east 1\n")
    with pytest.raises(InputError, match=r"table.txt: column 'site', line 2 has the non-numeric "
                       r"value 'north' \(2 such lines\)\. Declare the column categorical "
                       r"\(--categorical site\)"):
        read_sample_table(path, kind="covariate")
    unknown_header = write(tmp_path, "sample age\ns1 40\n", "h.txt")
    with pytest.raises(InputError, match="must be PLINK style"):
        read_sample_table(unknown_header, kind="covariate")
    unknown_header = write(tmp_path, "id id2 age\ns1 s1 40\n", "h3.txt")
    with pytest.raises(InputError, match="line 1 has the non-numeric value 'age'.*if line 1 is "
                       "a header, start it with FID IID or pass id_col"):
        read_sample_table(unknown_header, kind="covariate")


def test_read_sample_table__duplicates_bytes_and_shape_errors(tmp_path):
    with pytest.raises(InputError, match=r"repeats sample IDs \['a'\] \(1 in all\)"):
        read_sample_table(write(tmp_path, "f a 1\nf b 2\ng a 3\n"), kind="phenotype")
    with pytest.raises(InputError, match=r"is not UTF-8 text: byte 0xe9 on line 2"):
        read_sample_table(write(tmp_path, b"f a 1\nf Ren\xe9 2\n", "latin1.txt"),
                          kind="phenotype")
    with pytest.raises(InputError, match="line 3 has 4 fields but line 1 has 3"):
        read_sample_table(write(tmp_path, "f a 1\nf b 2\nf c 3 4\n"), kind="phenotype")
    with pytest.raises(InputError, match="is empty"):
        read_sample_table(write(tmp_path, "\n  \n"), kind="phenotype")
    with pytest.raises(InputError, match="has a header but no samples"):
        read_sample_table(write(tmp_path, "FID IID y\n"), kind="phenotype")
    with pytest.raises(InputError, match=r"repeats column names \['y'\]"):
        read_sample_table(write(tmp_path, "FID IID y y\nf a 1 2\n"), kind="phenotype")
    with pytest.raises(InputError, match="but no IID column"):
        read_sample_table(write(tmp_path, "FID sample y\nf a 1\n"), kind="phenotype")
    with pytest.raises(InputError, match="no value columns besides the sample IDs"):
        read_sample_table(write(tmp_path, "FID IID\nf a\n"), kind="phenotype")
    with pytest.raises(InputError, match="line 2 has an empty sample ID"):
        read_sample_table(write(tmp_path, "FID,IID,y\nf,,1\n"), kind="phenotype")
    with pytest.raises(InputError, match="kind must be 'phenotype' or 'covariate'"):
        read_sample_table(write(tmp_path, "f a 1\n"), kind="trait")
    with pytest.raises(InputError, match="phenotype file .*absent.txt does not exist"):
        read_sample_table(tmp_path / "absent.txt", kind="phenotype")


def frames():
    phenotype = pd.DataFrame({"y": [1.0, np.nan, 3.0, 4.0, 5.0]},
                             index=pd.Index(["e", "d", "c", "b", "x"], name="iid"))
    covariate = pd.DataFrame({"age": [30.0, 31.0, np.nan, 33.0]},
                             index=pd.Index(["a", "b", "c", "d"], name="iid"))
    return phenotype, covariate


def test_align_samples__intersection_in_genotype_order_with_report():
    phenotype, covariate = frames()
    kinship = pd.Index(["a", "b", "c", "d", "e"])
    aligned = align_samples(["a", "b", "c", "d", "e"],
                            {"phenotype": phenotype, "covariate": covariate, "kinship": kinship},
                            complete=["covariate", "kinship"])
    assert list(aligned.ids) == ["b", "d"]
    np.testing.assert_array_equal(aligned.genotype_index, [1, 3])
    np.testing.assert_array_equal(aligned.values("phenotype")["y"], [4.0, np.nan])  # NaN kept
    np.testing.assert_array_equal(aligned.values("covariate")["age"], [31.0, 33.0])
    assert aligned.values("kinship").shape == (2, 0)
    np.testing.assert_array_equal(aligned.positions("kinship"), [1, 3])
    np.testing.assert_array_equal(aligned.positions("phenotype"), [3, 1])
    with pytest.raises(InputError, match=r"no input named 'grm'"):
        aligned.positions("grm")
    assert aligned.report == {
        "genotypes": 5,
        "kept": 2,
        "dropped": {
            "phenotype": {"absent": 1, "not genotyped": 1},
            "covariate": {"absent": 1, "not genotyped": 0, "missing value": 1},
            "kinship": {"absent": 0, "not genotyped": 0},
        },
    }
    with pytest.raises(InputError, match=r"no input named 'pheno'"):
        aligned.values("pheno")


def test_align_samples__errors_show_ids_of_each_input():
    phenotype, covariate = frames()
    with pytest.raises(InputError, match=r"First IDs of each: genotypes: \['s1', 's2'\]; "
                       r"phenotype: \['e', 'd', 'c', 'b', 'x'\]"):
        align_samples(["s1", "s2"], {"phenotype": phenotype})
    with pytest.raises(InputError, match=r"no sample is in the genotypes and every input"):
        align_samples(["c"], {"covariate": covariate}, complete=["covariate"])
    with pytest.raises(InputError, match=r"the genotype file repeats sample IDs \['a'\]"):
        align_samples(["a", "a"], {"covariate": covariate})
    twice = pd.Index(["a", "b", "a", "b", "c"])
    with pytest.raises(InputError, match=r"kinship repeats sample IDs \['a', 'b'\] \(2 in all\)"):
        align_samples(["a"], {"kinship": twice})
    with pytest.raises(InputError, match=r"complete= names \['kinship'\]"):
        align_samples(["a"], {"covariate": covariate}, complete=["kinship"])


def test_covariate_matrix__intercept_added_unless_spanned():
    X, names = covariate_matrix(None, 3)
    np.testing.assert_array_equal(X, np.ones((3, 1)))
    assert names == ["intercept"]
    covariates = pd.DataFrame({"age": [30.0, 40.0, 50.0, 41.0], "sex": [0.0, 1.0, 1.0, 0.0]})
    X, names = covariate_matrix(covariates, 4)
    assert names == ["intercept", "age", "sex"]
    np.testing.assert_array_equal(X, np.column_stack([np.ones(4), covariates]))
    assert X.flags.c_contiguous and X.dtype == np.float64
    one_hot = covariates.assign(female=1 - covariates["sex"]).rename(columns={"sex": "male"})
    X, names = covariate_matrix(one_hot, 4)
    assert names == ["age", "male", "female"]  # male + female = 1: no intercept
    constant = covariates.assign(const=2.5)
    assert covariate_matrix(constant, 4)[1] == ["age", "sex", "const"]


def test_covariate_matrix__rank_deficiency_and_bad_values():
    covariates = pd.DataFrame({"a": [1.0, 2.0, 3.0, 5.0], "b": [2.0, 4.0, 6.0, 10.0],
                               "c": [0.0, 1.0, 0.0, 1.0]})
    with pytest.raises(InputError, match=r"collinear \(rank 3 < 4 columns\): \['(a|b)'\] are "
                       r"linear combinations of the other columns of \['intercept', 'a', 'b', "
                       r"'c'\]"):
        covariate_matrix(covariates, 4)
    with pytest.raises(InputError, match="covariates have 4 rows but there are 5 samples"):
        covariate_matrix(covariates, 5)
    with pytest.raises(InputError, match=r"covariate column\(s\) \['c'\] have missing"):
        covariate_matrix(covariates.assign(c=[0.0, np.nan, 1.0, 1.0]), 4)
    with pytest.raises(InputError, match="the design has 4 columns but only 3 samples"):
        covariate_matrix(covariates.iloc[:3], 3)
