"""Tests of dashboard.ingest.outcomes: definitions, parsed outcomes, units, age bands."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import ingest, schema
from dashboard.ingest.outcomes import _compare


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ("b12_lt148", ingest.Outcome("serum_b12", "<", 148.0, "pmol/L")),
        ("b12_lt258", ingest.Outcome("serum_b12", "<", 258.0, "pmol/L")),
        ("b12_148_221", ingest.Outcome("serum_b12", "between", 148.0, "pmol/L", 221.0)),
        ("holotc_lt35", ingest.Outcome("holotc", "<", 35.0, "pmol/L")),
        ("mma_gt026", ingest.Outcome("mma", ">", 0.26, "umol/L")),
        ("mma_gt037", ingest.Outcome("mma", ">", 0.37, "umol/L")),
    ],
)
def test_outcome_from_definition(definition, expected):
    assert ingest.outcome_from_definition(definition) == expected


def test_every_single_marker_definition_has_an_outcome():
    for d in schema.DEFINITIONS:
        if d.biomarker in ingest.VALUE_BIOMARKERS:
            outcome = ingest.outcome_from_definition(d.id)
            assert d.low_min <= outcome.cutoff <= d.low_max
        else:
            with pytest.raises(ingest.InputError, match="combines several markers"):
                ingest.outcome_from_definition(d.id)


@pytest.mark.parametrize(
    ("outcome", "unit", "values", "expected"),
    [
        # 200 pg/mL x 0.738 = 147.6 pmol/L < 148; 201 x 0.738 = 148.3 is not.
        (ingest.Outcome("serum_b12", "<", 148, "pmol/L"), "pg/mL", [200, 201], [True, False]),
        # Same unit: the cut-off itself is not below the cut-off, exactly.
        (ingest.Outcome("serum_b12", "<", 148, "pmol/L"), "pmol/L", [147.9, 148], [True, False]),
        (ingest.Outcome("serum_b12", "<=", 148, "pmol/L"), "pmol/L", [148, 148.1], [True, False]),
        # 0.26 umol/L = 260 nmol/L.
        (ingest.Outcome("mma", ">", 0.26, "umol/L"), "nmol/L", [260, 261], [False, True]),
        (ingest.Outcome("mma", ">=", 260, "nmol/L"), "umol/L", [0.26, 0.2], [True, False]),
        # Marginal band [148, 221): 148 in, 221 out.
        (
            ingest.Outcome("serum_b12", "between", 148, "pmol/L", 221),
            "pmol/L",
            [147, 148, 220.9, 221],
            [False, True, True, False],
        ),
        # 0.15 nmol/L = 150 pmol/L.
        (ingest.Outcome("serum_b12", "<", 148, "pmol/L"), "nmol/L", [0.147, 0.15], [True, False]),
    ],
)
def test_outcome_in_any_unit(outcome, unit, values, expected):
    assert _compare(pd.Series(values, dtype=float), outcome, unit).tolist() == expected


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("serum_b12_pmol_l < 148", None, ingest.Outcome("serum_b12", "<", 148.0, "pmol/L")),
        ("serum_b12_pg_ml<=200", None, ingest.Outcome("serum_b12", "<=", 200.0, "pg/mL")),
        ("mma_umol_l > 0.26", None, ingest.Outcome("mma", ">", 0.26, "umol/L")),
        (
            "LBXB12 < 200",
            "LBXB12",
            ingest.Outcome("serum_b12", "<", 200.0, "pg/mL", None, "LBXB12"),
        ),
        (
            "  LBXB12>=1e2 ",
            "LBXB12",
            ingest.Outcome("serum_b12", ">=", 100.0, "pg/mL", None, "LBXB12"),
        ),
    ],
)
def test_parse_outcome(text, column, expected):
    mapping = ingest.propose_mapping(pd.DataFrame({"LBXB12": [1.0], "LBXMMA": [1.0]}))
    assert ingest.parse_outcome(text, mapping) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("serum_b12_pmol_l == 148", "not of the form"),
        ("__import__('os').system('x') < 1", "not of the form"),
        ("serum_b12_pmol_l < abc", "not of the form"),
        ("", "not of the form"),
        ("weight < 3", "'weight' is neither a biomarker column"),
    ],
)
def test_parse_outcome_rejects(text, expected):
    with pytest.raises(ingest.InputError, match=expected):
        ingest.parse_outcome(text, ingest.ColumnMapping())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0-19,20-39,40-59,60-79,80+", schema.AGE_BANDS),
        ("18-64, 65+", (("18-64", 18, 64), ("65+", 65, None))),
        ("0-4", (("0-4", 0, 4),)),
    ],
)
def test_parse_age_bands(text, expected):
    assert ingest.parse_age_bands(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0-19,10-29", "overlaps"),
        ("80+,20-39", "overlaps"),
        ("20-10", "ends before it starts"),
        ("0-19,adults", "is not 'a-b' or"),
        ("", "is not 'a-b' or"),
    ],
)
def test_parse_age_bands_rejects(text, expected):
    with pytest.raises(ingest.InputError, match=expected):
        ingest.parse_age_bands(text)


def test_cut_age_bands_whole_years_gaps_and_missing():
    ages = pd.Series([0, 19.9, 20, 64.5, 65, 80, 120, None, 17])
    bands = ingest.parse_age_bands("18-64,65-79,80+")
    # 19.9 completed years is 19 (in 18-64); 0 and 17 fall in no band; None is missing.
    assert ingest.cut_age_bands(ages, bands).astype(str).tolist() == [
        "unknown",
        "18-64",
        "18-64",
        "18-64",
        "65-79",
        "80+",
        "80+",
        "unknown",
        "unknown",
    ]


def test_value_definitions_are_the_single_marker_single_cutoff_ones():
    # b12_148_221 and b12_148_258 are bands; combined and cb12 need several markers
    assert [d.id for d in ingest.VALUE_DEFINITIONS] == [
        "b12_lt148", "b12_lt118", "b12_lt185", "b12_lt221", "b12_lt258", "holotc_lt35",
        "mma_gt026", "mma_gt037",
    ]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (ingest.Outcome("serum_b12", "<", 148.0, "pmol/L"), "b12_lt148"),
        # 200 pg/mL x 0.738 = 147.6 pmol/L, inside b12_lt148's 145-151
        (ingest.Outcome("serum_b12", "<", 200.0, "pg/mL"), "b12_lt148"),
        # 250 pg/mL x 0.738 = 184.5 pmol/L, inside b12_lt185's 183-187
        (ingest.Outcome("serum_b12", "<", 250.0, "pg/mL"), "b12_lt185"),
        (ingest.Outcome("serum_b12", "<", 151.0, "pmol/L"), "b12_lt148"),  # range end
        (ingest.Outcome("serum_b12", "<", 152.0, "pmol/L"), None),
        (ingest.Outcome("serum_b12", "<", 137.5, "pmol/L"), None),
        (ingest.Outcome("serum_b12", ">", 148.0, "pmol/L"), None),  # other direction
        (ingest.Outcome("holotc", "<", 35.0, "pmol/L"), "holotc_lt35"),
        # 370 nmol/L x 0.001 = 0.37 umol/L
        (ingest.Outcome("mma", ">", 370.0, "nmol/L"), "mma_gt037"),
        (ingest.Outcome("mma", "<", 0.37, "umol/L"), None),
    ],
)
def test_matching_definition(outcome, expected):
    found = ingest.matching_definition(outcome)
    assert (found.id if found else None) == expected

