"""Vocabulary checks: definitions are consistent and every id in the data reads as a label."""

from __future__ import annotations

import pytest

from dashboard import schema


@pytest.mark.parametrize(
    ("definition_id", "label"),
    [
        ("b12_lt148", "Serum B12 < 148 pmol/L (< 200 pg/mL)"),  # documented: its own label
        ("b12_lt110p7", "Serum B12 < 110.7 pmol/L"),  # 150 pg/mL x 0.738 = 110.7
        ("b12_126_287", "Serum B12 126-287 pmol/L"),
        ("holotc_lt40", "HoloTC < 40 pmol/L"),
        ("thcy_gt12p8", "tHcy > 12.8 umol/L"),
        ("mma_gt0p25to0p32", "MMA > 0.25-0.32 umol/L (varies within range)"),
        ("cb12_ltneg1", "Combined < -1 cB12 score"),
        ("not_an_id", "not_an_id"),  # unknown ids come back unchanged
    ],
)
def test_definition_label(definition_id: str, label: str) -> None:
    assert schema.definition_label(definition_id) == label


def test_documented_definitions_hold_their_nominal_cutoff() -> None:
    for d in schema.DEFINITIONS:
        assert d.low_min <= d.cutoff <= d.low_max, d.id
        assert (d.cutoff_high is not None) == (d.direction == "between"), d.id


def test_a_nominal_cutoff_outside_the_range_is_refused() -> None:
    with pytest.raises(ValueError, match="cutoff 160.0 outside its range"):
        schema.Definition("x", "x", "serum_b12", "<", 145.0, 151.0, cutoff=160.0)


@pytest.mark.parametrize(
    ("biomarker", "factors"),
    [
        # 1 pg/mL = 1 ng/L = 0.738 pmol/L of cobalamin; 1 nmol/L = 1000 pmol/L
        ("serum_b12", {"pmol/L": 1.0, "pg/mL": 0.738, "ng/L": 0.738, "nmol/L": 1000.0}),
        ("holotc", {"pmol/L": 1.0, "pg/mL": 0.738, "ng/L": 0.738, "nmol/L": 1000.0}),
        # 1 nmol/L = 0.001 umol/L; pg/mL would need MMA's molar mass, so it is not offered
        ("mma", {"umol/L": 1.0, "nmol/L": 0.001}),
        ("tHcy", {"umol/L": 1.0, "nmol/L": 0.001}),
        ("unknown_marker", {}),
    ],
)
def test_unit_factors(biomarker: str, factors: dict[str, float]) -> None:
    got = schema.unit_factors(biomarker)
    assert got == factors
    assert list(got) == list(factors)  # the order a person is offered them


def test_every_canonical_unit_converts_to_itself() -> None:
    for biomarker, unit in schema.CANONICAL_UNITS.items():
        assert schema.unit_factors(biomarker)[unit] == 1.0, biomarker


def test_every_cutoff_unit_has_a_conversion_or_is_a_score() -> None:
    known = {unit for _, unit in schema.UNIT_FACTORS} | set(schema.SCORE_UNITS)
    assert set(schema.CUTOFF_UNITS) <= known


def test_every_page_has_its_script() -> None:
    for page in schema.PAGES.values():
        assert (schema.ROOT / page.file).is_file(), page.key
