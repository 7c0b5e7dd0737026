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
