"""Tests of dashboard.ingest.roles: kinds, proposed column roles, biomarker units, labels."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import ingest, schema


@pytest.mark.parametrize(
    ("columns", "role", "expected"),
    [
        (["RIDAGEYR"], "age", "RIDAGEYR"),
        (["Age (years)"], "age", "Age (years)"),
        (["RIAGENDR"], "sex", "RIAGENDR"),
        (["Gender"], "sex", "Gender"),
        (["SDMVSTRA"], "stratum", "SDMVSTRA"),
        (["SDMVPSU"], "psu", "SDMVPSU"),
        (["WTINT2YR", "WTMEC2YR"], "weight", "WTMEC2YR"),
        (["WTMEC4YR"], "weight", "WTMEC4YR"),
        (["WTSAF2YR"], "weight", "WTSAF2YR"),
        (["SEQN"], "id", "SEQN"),
        (["respondent_id"], "id", "respondent_id"),
        (["Diet"], "diet_group", "Diet"),
        (["notes"], "age", None),
    ],
)
def test_propose_mapping_by_name(columns, role, expected):
    frame = pd.DataFrame({c: [1.0] for c in columns} | {"LBXB12": [400.0]})
    assert getattr(ingest.propose_mapping(frame), role) == expected


@pytest.mark.parametrize(
    ("column", "biomarker", "unit"),
    [
        ("LBXB12", "serum_b12", "pg/mL"),
        ("LBDB12SI", "serum_b12", "pmol/L"),
        ("LBXMMA", "mma", "umol/L"),
        ("serum_b12_pmol_l", "serum_b12", "pmol/L"),
        ("B12 (pg/mL)", "serum_b12", "pg/mL"),
        ("vitB12_ng_l", "serum_b12", "ng/L"),
        ("holotc_pmol_l", "holotc", "pmol/L"),
        ("HoloTC", "holotc", "pmol/L"),  # no unit in the name: canonical assumed
        ("mma_umol_l", "mma", "umol/L"),
        ("MMA nmol/L", "mma", "nmol/L"),
        ("cobalamin", "serum_b12", "pmol/L"),
    ],
)
def test_propose_mapping_recognizes_biomarkers_and_units(column, biomarker, unit):
    mapping = ingest.propose_mapping(pd.DataFrame({column: [1.0]}))
    assert mapping.biomarkers == {biomarker: ingest.BiomarkerColumn(column, unit)}
    assert mapping.notes[f"{biomarker}_value"].startswith(f"'{column}'")


@pytest.mark.parametrize("column", ["b12_flag", "B12_supplement", "LBXB12LC", "gamma"])
def test_columns_about_a_biomarker_that_hold_no_values_are_not_proposed(column):
    assert ingest.propose_mapping(pd.DataFrame({column: [1.0], "age": [3]})).biomarkers == {}


def test_propose_mapping_by_content_finds_label_columns():
    frame = pd.DataFrame(
        {
            "serum_b12_pmol_l": [300.0] * 10,
            "q7": ["F", "m"] * 5,
            "grp": ["Vegan", "omnivore", "Lacto-ovo vegetarian", "pescatarian", "keto"] * 2,
            "x": ["a", "b"] * 5,
        }
    )
    mapping = ingest.propose_mapping(frame)
    assert mapping.sex == "q7"
    # 8 of 10 diet labels known (80%) is below the 90% needed to propose.
    assert mapping.diet_group is None
    frame["grp"] = ["Vegan", "omnivore", "Lacto-ovo vegetarian", "pescatarian", "vegan"] * 2
    assert ingest.propose_mapping(frame).diet_group == "grp"


def test_propose_mapping_for_a_prevalence_table():
    frame = pd.DataFrame(
        {
            "country_iso3": ["USA"],
            "sex": ["both"],
            "diet_group": ["vegan"],
            "n": [10],
            "cases": [2],
            "prevalence_pct": [20.0],
        }
    )
    assert ingest.detect_kind(frame.columns) == "prevalence_table"
    mapping = ingest.propose_mapping(frame)
    assert (mapping.kind, mapping.n, mapping.cases, mapping.prevalence) == (
        "prevalence_table",
        "n",
        "cases",
        "prevalence_pct",
    )
    assert mapping.groups == ("country_iso3", "sex", "diet_group")
    assert mapping.prevalence_scale == "percent"


@pytest.mark.parametrize(
    ("values", "vocabulary", "overrides", "mapped", "unmapped"),
    [
        (
            ["Male", " F ", "women", None],
            ("female", "male"),
            None,
            ["male", "female", "female", None],
            [],
        ),
        (
            [1.0, 2.0, 1.0],
            ("female", "male"),
            {"1": "male", "2": "female"},
            ["male", "female", "male"],
            [],
        ),
        (
            ["Lacto-ovo vegetarian", "VEGAN", "fish_eater", "meat-eater"],
            schema.DIET_GROUPS,
            None,
            ["vegetarian", "vegan", "pescatarian", "omnivore"],
            [],
        ),
        (
            ["keto", "vegan", "keto", "raw"],
            schema.DIET_GROUPS,
            None,
            [None, "vegan", None, None],
            [("keto", 2, "10, 12"), ("raw", 1, "13")],
        ),
        (["keto"], schema.DIET_GROUPS, {"Keto": "omnivore"}, ["omnivore"], []),
        (["semi-vegetarian"], schema.DIET_GROUPS, None, [None], [("semi-vegetarian", 1, "10")]),
        (["semi-vegetarian"], schema.STUDY_DIET_GROUPS, None, ["semi_vegetarian"], []),
        (
            ["yes", "No", 0, 1],
            ingest.PERSON_SUPPLEMENT_USE,
            None,
            ["user", "non_user", "non_user", "user"],
            [],
        ),
    ],
)
@pytest.mark.parametrize("dtype", [object, "category"])
def test_map_labels(values, vocabulary, overrides, mapped, unmapped, dtype):
    # A categorical column (as the reader keeps few distinct labels) maps as text does.
    series = pd.Series(values, index=range(10, 10 + len(values)), dtype=dtype)
    got, preview = ingest.map_labels(series, vocabulary, overrides)
    assert got.index.equals(series.index)
    assert [None if pd.isna(v) else v for v in got] == mapped
    assert list(preview.itertuples(index=False, name=None)) == unmapped


def test_categorical_labels_preview_in_order_of_first_appearance():
    # Categories sort as ['x', 'y']; 'y' appears first, and both have 2 rows: 'y' leads.
    series = pd.Series(["y", "vegan", "x", "y", None, "x"], dtype="category",
                       index=range(2, 8))
    got, preview = ingest.map_labels(series, schema.DIET_GROUPS)
    assert [None if pd.isna(v) else v for v in got] == [None, "vegan", None, None, None, None]
    assert list(preview.itertuples(index=False, name=None)) == [("y", 2, "2, 5"),
                                                                 ("x", 2, "4, 7")]


def test_map_labels_rejects_an_override_outside_the_vocabulary():
    with pytest.raises(ingest.InputError, match="'carnivore' is not one of"):
        ingest.map_labels(pd.Series(["x"]), schema.DIET_GROUPS, {"x": "carnivore"})

