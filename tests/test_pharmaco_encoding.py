"""Genotype parsing, per-column encoders and the table encoder of molmtl.pharmaco."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from molmtl.pharmaco.columns import EncodingError
from molmtl.pharmaco.encoding import FeatureSpec, TabularEncoder
from molmtl.pharmaco.genotypes import GenotypeError, parse_diplotype, parse_snp_call
from molmtl.pharmaco.table import prepare_table, read_patient_csv


def test_parse_diplotype_forms():
    assert parse_diplotype("*1/*3") == ("*1", "*3")
    assert parse_diplotype(" *2a / *17 ") == ("*2A", "*17")
    assert parse_diplotype("NA") is None
    assert parse_diplotype(float("nan")) is None
    with pytest.raises(GenotypeError, match=r"'1/3'"):
        parse_diplotype("1/3", column="cyp2c9", row=4)
    with pytest.raises(GenotypeError, match="row 4"):
        parse_diplotype("*1/*3/*4", column="cyp2c9", row=4)


def test_parse_snp_call_forms():
    assert parse_snp_call("A/G") == ("A", "G")
    assert parse_snp_call("ag") == ("A", "G")
    assert parse_snp_call("C|T") == ("C", "T")
    assert parse_snp_call("") is None
    with pytest.raises(GenotypeError, match="A/X"):
        parse_snp_call("A/X")


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": ["50", "60", "", "70", "80", "65"],
            "sex": ["male", "female", "male", "", "male", "female"],
            "cyp2c9": ["*1/*1", "*1/*3", "*3/*3", "*1/*2", "NA", "*1/*1"],
            "vkorc1": ["A/A", "A/G", "G/G", "G/G", "G/G", ""],
            "amiodarone": ["1", "0", "", "yes", "no", "0"],
        }
    )


def _spec(**overrides) -> FeatureSpec:
    values = dict(numeric=["age"], categorical=["sex"], diplotypes=["cyp2c9"], snps=["vkorc1"], flags=["amiodarone"], min_allele_count=1)
    values.update(overrides)
    return FeatureSpec(**values)


def test_encoder_feature_layout():
    encoder = TabularEncoder(_spec()).fit(_frame())
    assert encoder.feature_names == [
        "age", "age:missing", "sex=female", "sex=missing",
        "cyp2c9:*2", "cyp2c9:*3", "cyp2c9:missing",
        "vkorc1:A", "vkorc1:missing", "amiodarone", "amiodarone:missing",
    ]  # fmt: skip


def test_encoder_values_and_imputation():
    frame = _frame()
    encoder = TabularEncoder(_spec()).fit(frame)
    design, report = encoder.transform(frame)
    names = encoder.feature_names
    column = {name: design[:, names.index(name)] for name in names}

    observed_age = np.array([50, 60, 70, 80, 65], dtype=float)
    expected_third = (np.median(observed_age) - observed_age.mean()) / observed_age.std()
    assert column["age"][2] == pytest.approx(expected_third)
    assert column["age:missing"].tolist() == [0, 0, 1, 0, 0, 0]
    assert column["age"][[0, 1, 3, 4, 5]] == pytest.approx((observed_age - observed_age.mean()) / observed_age.std())

    assert column["cyp2c9:*3"].tolist()[:4] == [0, 1, 2, 0]
    assert column["cyp2c9:*2"].tolist()[:4] == [0, 0, 0, 1]
    # the missing diplotype gets the training mean allele counts
    assert column["cyp2c9:*3"][4] == pytest.approx(3 / 5)
    assert column["cyp2c9:missing"].tolist() == [0, 0, 0, 0, 1, 0]

    # G is the major allele (7 of 10 observed copies), so A is counted
    assert column["vkorc1:A"][:5].tolist() == [2, 1, 0, 0, 0]
    assert column["vkorc1:missing"][5] == 1

    assert column["amiodarone"].tolist() == [1, 0, 0, 1, 0, 0]
    assert column["amiodarone:missing"].tolist() == [0, 0, 1, 0, 0, 0]
    assert column["sex=missing"].tolist() == [0, 0, 0, 1, 0, 0]

    counts = {item.column: item.missing for item in report.columns}
    assert counts == {"age": 1, "sex": 1, "cyp2c9": 1, "vkorc1": 1, "amiodarone": 1}
    assert report.missing_total == 5


def test_rare_alleles_pooled_as_other():
    frame = pd.DataFrame({"cyp2c9": ["*1/*1"] * 10 + ["*1/*2"] * 3 + ["*1/*5"]})
    encoder = TabularEncoder(FeatureSpec(diplotypes=["cyp2c9"], min_allele_count=2)).fit(frame)
    assert encoder.feature_names == ["cyp2c9:*2", "cyp2c9:other"]
    design, report = encoder.transform(pd.DataFrame({"cyp2c9": ["*5/*5", "*2/*5", "*1/*9"]}))
    # *9 was never seen in training: it joins the "other" column and is counted
    assert design.tolist() == [[0, 2], [1, 1], [0, 1]]
    assert report.columns[0].pooled_unseen == 1
    assert "counted as 'other'" in report.summary()


def test_unknown_genotype_raises_with_value():
    encoder = TabularEncoder(_spec()).fit(_frame())
    bad = _frame()
    bad.loc[1, "cyp2c9"] = "*1-*3"
    with pytest.raises(EncodingError, match=r"'\*1-\*3'.*unknown_values: missing"):
        encoder.transform(bad)
    unseen = _frame()
    unseen.loc[0, "cyp2c9"] = "*1/*8"
    with pytest.raises(EncodingError, match=r"allele \*8 not seen in training"):
        encoder.transform(unseen)
    third_allele = _frame()
    third_allele.loc[0, "vkorc1"] = "C/C"
    with pytest.raises(EncodingError, match="nucleotide C not seen"):
        encoder.transform(third_allele)


def test_unknown_genotype_missing_policy_counts():
    encoder = TabularEncoder(_spec(unknown_values="missing")).fit(_frame())
    bad = _frame()
    bad.loc[1, "cyp2c9"] = "*1-*3"
    bad.loc[2, "vkorc1"] = "A/Q"
    design, report = encoder.transform(bad)
    by_column = {item.column: item for item in report.columns}
    assert by_column["cyp2c9"].unknown == 1
    assert by_column["cyp2c9"].missing == 2
    assert by_column["vkorc1"].unknown == 1
    assert design[1, encoder.feature_names.index("cyp2c9:missing")] == 1.0
    assert "unreadable" in report.summary()


def test_other_bad_values():
    frame = _frame()
    frame.loc[0, "age"] = "fifty"
    with pytest.raises(EncodingError, match="non-numeric value"):
        TabularEncoder(_spec()).fit(frame)
    frame = _frame()
    frame.loc[0, "amiodarone"] = "maybe"
    with pytest.raises(EncodingError, match="flag value"):
        TabularEncoder(_spec()).fit(frame)
    triallelic = pd.DataFrame({"snp": ["A/G", "A/T", "G/G"]})
    with pytest.raises(EncodingError, match="only biallelic"):
        TabularEncoder(FeatureSpec(snps=["snp"])).fit(triallelic)
    with pytest.raises(KeyError, match="weight"):
        TabularEncoder(FeatureSpec(numeric=["weight"])).fit(_frame())
    encoder = TabularEncoder(_spec()).fit(_frame())
    with pytest.raises(EncodingError, match="category not seen"):
        encoder.transform(_frame().assign(sex=["male", "other", "male", "male", "male", "male"]))


def test_spec_rejects_duplicates_and_empty():
    with pytest.raises(ValueError, match="listed twice"):
        FeatureSpec(numeric=["age"], flags=["age"])
    with pytest.raises(ValueError, match="no columns"):
        FeatureSpec()
    with pytest.raises(ValueError, match="unknown feature keys"):
        FeatureSpec.from_dict({"numerics": ["age"]})


def test_encoder_round_trip():
    frame = _frame()
    encoder = TabularEncoder(_spec()).fit(frame)
    copy = TabularEncoder.from_dict(encoder.to_dict())
    assert copy.feature_names == encoder.feature_names
    np.testing.assert_array_equal(copy.transform(frame)[0], encoder.transform(frame)[0])


def test_table_counts_exclusions(tmp_path):
    path = tmp_path / "patients.csv"
    pd.DataFrame(
        {"drug": ["warfarin", "warfarin", "", "acenocoumarol", "phenprocoumon"], "dose": ["30", "", "20", "14", "10"], "age": ["50"] * 5}
    ).to_csv(path, index=False)
    table = read_patient_csv(path, "drug", "dose", tasks=["warfarin", "acenocoumarol"])
    assert len(table) == 2
    assert table.excluded == {"without a task label": 1, "with a task outside ['acenocoumarol', 'warfarin']": 1, "without a dose": 1}
    assert "excluded" in table.summary()


def test_table_missing_dose_column(tmp_path):
    path = tmp_path / "patients.csv"
    pd.DataFrame({"drug": ["a"], "age": ["50"]}).to_csv(path, index=False)
    with pytest.raises(KeyError, match="no dose column 'dose'.*data.dose_column"):
        read_patient_csv(path, "drug", "dose")
    table = read_patient_csv(path, "drug", "dose", require_dose=False)
    assert np.isnan(table.doses).all()


def test_table_rejects_bad_doses():
    frame = pd.DataFrame({"drug": ["a", "a"], "dose": ["30", "-5"]})
    with pytest.raises(ValueError, match="non-positive dose"):
        prepare_table(frame, "drug", "dose")
    with pytest.raises(ValueError, match="non-numeric value 'lots'"):
        prepare_table(frame.assign(dose=["30", "lots"]), "drug", "dose")
