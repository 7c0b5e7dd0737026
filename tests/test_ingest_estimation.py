"""Tests of dashboard.ingest.estimation: design-based and age-standardised prevalence."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from dashboard import ingest
from tests.ingest_files import (
    GOLDEN,
    GOOD_ROWS,
    MICRODATA,
    analyse,
    good_files,
    micro,
)


@pytest.fixture(scope="module")
def golden() -> pd.DataFrame:
    return pd.read_csv(MICRODATA)


def test_every_format_gives_the_golden_estimates(golden, tmp_path):
    """Golden values: R survey 4.1-1, svydesign(ids=~psu, strata=~stratum, weights=~weight,
    nest=TRUE); svyby(~deficient, ~age_group+diet_group, design, svymean), deficient = serum
    B12 < 148 pmol/L after dropping missing values (tests/golden/README.md)."""
    expected = pd.read_csv(GOLDEN / "survey_expected_by_age_diet.csv")
    overall = pd.read_csv(GOLDEN / "survey_expected_overall.csv")
    for case, files in good_files(golden, tmp_path).items():
        uploads = [ingest.read_upload(n, c) for n, c in files]
        upload = ingest.merge_uploads(uploads, on="SEQN")
        mapping = ingest.propose_mapping(upload.frame)
        if "DIETGRP" in upload.frame.columns:
            assert mapping.diet_group == "DIETGRP", f"{case}: diet labels found by content"
        prepared = ingest.prepare_microdata(upload, mapping, "b12_lt148")
        assert len(prepared.frame) == 6000 - 124, case  # 124 rows lack serum B12
        assert prepared.dropped["row"].size == 124, case
        by = ingest.estimate(prepared, ("age_band", "diet_group"))
        got = by.assign(
            age_band=by["age_band"].astype(str), diet_group=by["diet_group"].astype(str)
        )
        merged = expected.merge(
            got, left_on=["age_group", "diet_group"], right_on=["age_band", "diet_group"]
        )
        assert len(merged) == len(expected) == len(got), case
        for ours, theirs in [
            ("estimate_y", "estimate_x"),
            ("se_y", "se_x"),
            ("ci_low", "ci_kg_low"),
            ("ci_high", "ci_kg_high"),
        ]:
            np.testing.assert_allclose(merged[ours], merged[theirs], rtol=1e-6, err_msg=case)
        assert (merged["n_x"] == merged["n_y"]).all(), case
        total = ingest.estimate(prepared)
        np.testing.assert_allclose(total["estimate"], overall["estimate"], rtol=1e-6)
        np.testing.assert_allclose(total["se"], overall["se"], rtol=1e-6)


def test_estimate_rejects_groups_that_are_not_mapped():
    content = micro("1,300,30", "2,100,40", header="respondent_id,serum_b12_pmol_l,age\n")
    prepared = analyse([("a.csv", content)])
    with pytest.raises(ingest.InputError) as info:
        ingest.estimate(prepared, ("sex", "region"))
    assert info.value.problems == [
        "Cannot group by 'region': groups are age_band, sex, diet_group, supplement_use.",
        "Cannot group by 'sex': no column is mapped to sex. Map one first.",
    ]


def test_estimate_without_design_is_a_simple_proportion():
    content = micro(
        "1,300,30",
        "2,100,40",
        "3,120,50",
        "4,500,60",
        header="respondent_id,serum_b12_pmol_l,age\n",
    )
    prepared = analyse([("a.csv", content)])
    assert (prepared.weight, prepared.strata, prepared.psu) == (None, None, None)
    result = ingest.estimate(prepared)
    # 2 of 4 values below 148 pmol/L: p = 0.5, se = sqrt(0.5 x 0.5 / 3) = 0.288675 (svymean on
    # svydesign(ids=~1) uses n - 1).
    assert result["estimate"].tolist() == [0.5]
    np.testing.assert_allclose(result["se"], [np.sqrt(0.25 / 3)])
    assert result["n"].tolist() == [4]


# Ages 30, 45, 62, 25 and one unknown; weights 1000, 1200, 900, 1100, 500; values 300, 120,
# 210, 350, 100 pmol/L (< 148: the 45-year-old and the person of unknown age).
AGED = micro(*GOOD_ROWS, "5,1,1,500,,male,omnivore,100")
BANDS_3 = "0-29,30-59,60+"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # 0-29: 1100; 30-59: 1000 + 1200 = 2200; 60+: 900; unknown age left out
        ({}, {"0-29": 1100.0, "30-59": 2200.0, "60+": 900.0}),
        # without a weight column: people counted, 1 + 2 + 1
        ({"weight": None, "stratum": None, "psu": None},
         {"0-29": 1, "30-59": 2, "60+": 1}),
    ],
)
def test_survey_age_weights(changes, expected):
    upload = ingest.read_upload("a.csv", AGED)
    mapping = replace(ingest.propose_mapping(upload.frame), **changes)
    prepared = ingest.prepare_microdata(upload, mapping, "b12_lt148", BANDS_3)
    assert ingest.survey_age_weights(prepared) == expected


def test_estimate_standardized_leaves_out_unknown_ages():
    upload = ingest.read_upload("a.csv", AGED)
    mapping = replace(ingest.propose_mapping(upload.frame), weight=None, stratum=None,
                      psu=None)
    prepared = ingest.prepare_microdata(upload, mapping, "b12_lt148", BANDS_3)
    out = ingest.estimate_standardized(prepared, (),
                                       {"0-29": 0.25, "30-59": 0.5, "60+": 0.25})
    # age-specific: 0-29 0/1, 30-59 1/2, 60+ 0/1 -> 0.25 x 0 + 0.5 x 0.5 + 0.25 x 0 = 0.25;
    # the deficient person of unknown age is not counted (n = 4 of 5)
    assert out["estimate"].tolist() == pytest.approx([0.25])
    assert out["n"].tolist() == [4]


def test_standardization_needs_an_age_column():
    content = micro("1,300", "2,100", header="respondent_id,serum_b12_pmol_l\n")
    prepared = analyse([("a.csv", content)])
    for call in (lambda: ingest.survey_age_weights(prepared),
                 lambda: ingest.estimate_standardized(prepared, (), {"0-19": 1.0})):
        with pytest.raises(ingest.InputError, match="no column is mapped to age"):
            call()

