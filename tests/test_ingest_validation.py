"""Tests of dashboard.ingest.validation: microdata and prevalence tables checked and prepared."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from dashboard import ingest
from dashboard.ingest.validation import _unit_problems
from tests.ingest_files import (
    ANY_CONTENT,
    ANY_NAME,
    GOOD_ROWS,
    MICRODATA,
    TABLE,
    analyse,
    assert_refused,
    micro,
    replaced,
)

# (case id, files, expected words in the message). Row numbers: CSV line numbers (header = 1).
BAD_VALUES = [
    ("duplicate ids", [("a.csv", replaced(1, "respondent_id", "1"))], "duplicate key values"),
    (
        "non-numeric biomarker",
        [("a.csv", replaced(2, "serum_b12_pmol_l", "<50"))],
        "1 value is not a number (file line 4: '<50')",
    ),
    (
        "negative biomarker",
        [("a.csv", replaced(0, "serum_b12_pmol_l", "-3"))],
        "1 negative value (file line 2: -3)",
    ),
    (
        # 0.3 nmol/L = 300 pmol/L: a median of 0.265 pmol/L is implausible, nmol/L fits.
        "serum b12 in nmol/L labelled pmol/L",
        [("a.csv", micro(*(r.rsplit(",", 1)[0] + ",0.265" for r in GOOD_ROWS)))],
        "implausible values for the unit pmol/L",
    ),
    (
        "age in months",
        [("a.csv", replaced(3, "age", "300"))],
        "1 age outside 0-120 (file line 5: 300)",
    ),
    ("negative age", [("a.csv", replaced(3, "age", "-1"))], "outside 0-120"),
    (
        "zero weight",
        [("a.csv", replaced(1, "weight", "0"))],
        "1 negative or zero weight (file line 3: 0)",
    ),
    ("negative weight", [("a.csv", replaced(1, "weight", "-5"))], "negative or zero weight"),
    ("missing weight", [("a.csv", replaced(1, "weight", ""))], "but no weight"),
    ("missing stratum", [("a.csv", replaced(1, "stratum", ""))], "without a stratum"),
    (
        "unknown diet label",
        [("a.csv", replaced(1, "diet_group", "keto"))],
        "unknown labels 'keto' (1 row, e.g. file line 3)",
    ),
    ("unknown sex label", [("a.csv", replaced(1, "sex", "x"))], "unknown labels 'x'"),
    (
        "no biomarker column",
        [("a.csv", micro("1,30", header="respondent_id,age\n"))],
        "No column is mapped to Serum/plasma total B12",
    ),
    (
        "no biomarker values",
        [("a.csv", micro("1,30,", "2,40,", header="respondent_id,age,serum_b12_pmol_l\n"))],
        "has no values",
    ),
    ("cases > n", [("t.csv", (TABLE + "USA,both,general,10,11,\n").encode())], "cases > n"),
    (
        "negative cases",
        [("t.csv", (TABLE + "USA,both,general,10,-1,\n").encode())],
        "negative or not whole",
    ),
    (
        "n not positive",
        [("t.csv", (TABLE + "USA,both,general,0,0,\n").encode())],
        "not a positive whole number",
    ),
    (
        "prevalence over 100%",
        [("t.csv", (TABLE + "USA,both,general,10,,120\n").encode())],
        "outside 0-100%",
    ),
    (
        "negative prevalence",
        [("t.csv", (TABLE + "USA,both,general,10,,-2\n").encode())],
        "outside 0-100%",
    ),
    (
        # Line 3 (header = line 1) holds the swapped pair; line 2 is fine.
        "table age_min above age_max",
        [("t.csv", b"diet_group,age_min,age_max,n,cases\nvegan,20,39,10,1\nvegan,60,40,10,2\n")],
        "age_min above age_max in 1 row (file line 3: '60 > 40')",
    ),
    (
        "table age outside 0-120",
        [("t.csv", b"diet_group,age_min,age_max,n,cases\nvegan,20,39,10,1\nvegan,-5,300,10,2\n")],
        "Column 'age_max' (age max): 1 value outside 0-120 (file line 3: 300)",
    ),
    (
        "table age not a number",
        [("t.csv", b"diet_group,age_min,age_max,n,cases\nvegan,twenty,39,10,1\n")],
        "Column 'age_min' (age min): 1 value is not a number (file line 2: 'twenty')",
    ),
    (
        "unknown table label",
        [("t.csv", (TABLE + "USA,both,keto,10,1,\n").encode())],
        "unknown labels 'keto'",
    ),
]


@pytest.mark.parametrize(
    ("files", "expected"),
    [pytest.param(files, expected, id=case) for case, files, expected in BAD_VALUES],
)
def test_invalid_values_raise_input_error_naming_the_problem(files, expected):
    assert_refused(files, expected)


@pytest.fixture(scope="module")
def golden_bytes() -> bytes:
    return MICRODATA.read_bytes()


def test_missing_biomarker_rows_are_dropped_counted_and_shown():
    prepared = analyse([("a.csv", replaced(1, "serum_b12_pmol_l", ""))])
    assert list(prepared.frame.index) == [2, 4, 5]  # CSV lines of the kept rows
    assert prepared.dropped.to_dict("records") == [
        {"file": "a.csv", "row": 3, "reason": "missing serum_b12 value (column 'serum_b12_pmol_l')"}
    ]
    assert any("1 row without" in w and "line 3" in w for w in prepared.warnings)
    assert ingest.summarize_dropped(prepared.dropped) == [
        "'a.csv': 1 row dropped: missing serum_b12 value (column 'serum_b12_pmol_l')."
    ]


def test_labels_after_dropped_rows_name_the_file_lines():
    # Line 3 has no B12 (dropped); line 4's diet 'keto' is unknown: the message names line 4,
    # and the kept rows keep their lines (2, 4, 5) as 32-bit row numbers.
    rows = [GOOD_ROWS[0], "2,1,2,1200,45,female,vegan,", "3,2,1,900,62,female,keto,210",
            GOOD_ROWS[3]]
    assert_refused([("a.csv", micro(*rows))], "unknown labels 'keto' (1 row, e.g. file line 4)")
    rows[2] = GOOD_ROWS[2]
    prepared = analyse([("a.csv", micro(*rows))])
    assert list(prepared.frame.index) == [2, 4, 5]
    assert prepared.frame.index.dtype == "int32"
    assert prepared.frame["diet_group"].tolist() == ["omnivore", "vegetarian", "omnivore"]
    assert prepared.frame["sex"].tolist() == ["male", "female", "male"]


def test_an_id_shared_with_a_dropped_row_is_still_a_duplicate():
    # Lines 2 and 3 share id 1; line 3 has no B12 and is dropped, line 2 is kept. The id
    # check looks at the whole file, as before: line 2 is named.
    rows = [GOOD_ROWS[0], "1,1,2,1200,45,female,vegan,", *GOOD_ROWS[2:]]
    assert_refused([("a.csv", micro(*rows))], "1 row share an id (file line 2")


def test_prepared_columns_share_the_upload_buffers_when_no_row_is_dropped():
    """Columns that pass through unchanged are the upload's arrays, not copies: preparing a
    file adds only the derived columns (outcome, age band, mapped labels)."""
    rows = [r.replace(",1000,", ",1000.5,") + ".5" for r in GOOD_ROWS]  # weights, B12 floats
    up = ingest.read_upload("a.csv", micro(*rows))
    prepared = ingest.prepare_microdata(up, ingest.propose_mapping(up.frame), "b12_lt148")
    for role, column in [("weight", "weight"), ("stratum", "stratum"), ("psu", "psu"),
                         ("age", "age"), ("id", "respondent_id"),
                         ("serum_b12_pmol_l", "serum_b12_pmol_l")]:
        assert np.shares_memory(prepared.frame[role].to_numpy(), up.frame[column].to_numpy()), role
    assert prepared.frame["weight"].tolist() == [1000.5, 1200, 900, 1100]


def test_single_psu_stratum_is_a_warning_naming_the_adjustment():
    prepared = analyse([("a.csv", replaced(1, "stratum", "3"))])
    # Stratum 1 keeps only PSU 1 and stratum 3 has one PSU: two lonely strata.
    lonely = [w for w in prepared.warnings if "single PSU" in w]
    assert len(lonely) == 1
    assert "2 strata with a single PSU (1, 3)" in lonely[0]
    assert 'survey.lonely.psu = "adjust"' in lonely[0]


def test_missing_labels_and_ages_form_unknown_groups_with_a_warning():
    content = micro(GOOD_ROWS[0], "2,1,2,1200,,,vegan,120", *GOOD_ROWS[2:])
    prepared = analyse([("a.csv", content)])
    assert prepared.frame.loc[3, "age_band"] == "unknown"
    assert prepared.frame.loc[3, "sex"] == "unknown"
    assert any("age band 'unknown'" in w for w in prepared.warnings)
    assert any("without a sex label" in w for w in prepared.warnings)


@pytest.mark.parametrize(
    ("column", "unit", "values", "suggested"),
    [
        # Median 520 pmol/L is plausible.
        ("serum_b12_pmol_l", "pmol/L", [400, 520, 700], None),
        # Median 1,500 "pmol/L" is not; as pg/mL: 1,500 x 0.738 = 1,107 (still > 1,000)...
        ("serum_b12_pmol_l", "pmol/L", [1400, 1500, 1600], "Check the unit"),
        # ... 1,200 x 0.738 = 886 pmol/L fits: pg/mL (or ng/L) suggested.
        ("serum_b12_pmol_l", "pmol/L", [1100, 1200, 1300], "set the unit to pg/mL"),
        # 0.35 nmol/L = 350 pmol/L.
        ("serum_b12_pmol_l", "pmol/L", [0.3, 0.35, 0.4], "set the unit to nmol/L"),
        # MMA 180 "umol/L" is 0.18 umol/L in nmol/L.
        ("mma_umol_l", "umol/L", [150, 180, 250], "set the unit to nmol/L"),
        ("mma_nmol_l", "nmol/L", [0.15, 0.18, 0.25], "set the unit to umol/L"),
        ("holotc_pmol_l", "pmol/L", [0.05, 0.07, 0.09], "set the unit to nmol/L"),
    ],
)
def test_unit_plausibility(column, unit, values, suggested):
    biomarker = column.rsplit("_", 2)[0]
    problems = _unit_problems(
        ingest.BiomarkerColumn(column, unit), biomarker, pd.Series(values, dtype=float)
    )
    if suggested is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert "implausible values for the unit" in problems[0]
        assert suggested in problems[0]


def test_prevalence_table_fills_cases_from_prevalence():
    content = (TABLE + "USA,both,general,200,,12.5\nGBR,female,Vegans,40,8,\n").encode()
    prepared = analyse([("t.csv", content)])
    # 12.5% of 200 = 25 cases; 8 / 40 = 0.2.
    assert prepared.frame.to_dict("list") == {
        "country_iso3": ["USA", "GBR"],
        "sex": ["both", "female"],
        "diet_group": ["general", "vegan"],
        "n": [200.0, 40.0],
        "cases": [25.0, 8.0],
        "prevalence": [0.125, 0.2],
        "cases_from_prevalence": [True, False],
    }


def test_prevalence_table_row_without_cases_or_prevalence_is_dropped_and_recorded():
    content = (TABLE + "USA,both,general,200,,\nGBR,female,vegan,40,8,\n").encode()
    prepared = analyse([("t.csv", content)])
    assert prepared.frame["country_iso3"].tolist() == ["GBR"]
    assert prepared.dropped.to_dict("records") == [
        {"file": "t.csv", "row": 2, "reason": "no cases and no prevalence"}
    ]


def test_mapping_to_a_column_that_is_not_there():
    up = ingest.read_upload("a.csv", micro(*GOOD_ROWS))
    mapping = replace(ingest.propose_mapping(up.frame), age="AGE_Y")
    with pytest.raises(ingest.InputError, match="age is set to column 'AGE_Y'"):
        ingest.prepare_microdata(up, mapping)


def test_prepare_does_not_change_the_upload(golden_bytes):
    up = ingest.read_upload("survey.csv", golden_bytes)
    before = up.frame.copy()
    ingest.prepare_microdata(up, ingest.propose_mapping(up.frame), "b12_lt148")
    pd.testing.assert_frame_equal(up.frame, before)



@settings(max_examples=100, deadline=None)
@given(name=ANY_NAME, content=ANY_CONTENT)
def test_whatever_is_read_is_prepared_or_refused_with_problems(name, content):
    """After a file is read, the proposed mapping is prepared (and estimated) or refused with
    an InputError naming at least one problem; any other exception fails the test."""
    try:
        upload = ingest.read_upload(name, content)
    except ingest.InputError:
        return
    mapping = ingest.propose_mapping(upload.frame)
    try:
        if mapping.kind == "microdata":
            result = ingest.estimate(ingest.prepare_microdata(upload, mapping))
        else:
            result = ingest.prepare_table(upload, mapping).frame
    except ingest.InputError as err:
        problems = err.problems
    else:
        assert isinstance(result, pd.DataFrame)
        return
    assert problems
    assert all(isinstance(p, str) and p.strip() for p in problems)
