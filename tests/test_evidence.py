"""Tests of the evidence-table structure: age bands, effective n, overlap, data checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboard import evidence, schema


# --- age bands -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("age_min", "age_max", "band"),
    [
        (20, 39, "20-39"),
        (35, 64, "40-59"),   # [35, 65): 20 of 30 years in 40-59 = 67%
        (26, 83, "wide"),    # 20 of 58 years in 40-59 = 34%
        (18, 50, "20-39"),   # 20 of 33 years = 61%
        (15, 49, "wide"),    # 20 of 35 years = 57%
        (27, 55, "wide"),    # 16 of 29 years in 40-59 = 55%
        (51, None, "wide"),  # [51, 71): 9 in 40-59, 11 in 60-79 = 55%
        (65, None, "60-79"),  # [65, 85): 15 of 20 = 75%
        (85, 108, "80+"),
        (20, 59, "wide"),    # 20 of 40 years = 50%
        (70, None, "wide"),  # [70, 90): 10 of 20 years in 60-79
        (0, 0, "0-19"),
        (9, 9, "0-19"),
        (None, None, "unknown"),
        (None, 40, "unknown"),
    ],
)
def test_age_band_takes_the_band_holding_most_of_the_range(age_min, age_max, band):
    assert evidence.age_band_for(age_min, age_max) == band


def test_age_band_refuses_an_inverted_range():
    with pytest.raises(ValueError, match="below age_min"):
        evidence.age_band_for(50, 40)


# --- effective n -----------------------------------------------------------------------------
def test_effective_n_of_a_published_survey_interval():
    # p = 0.185, CI 0.044-0.531: logit width 0.1241 + 3.0783 = 3.2024, se = 3.2024 / 3.9199
    # = 0.81696, n_eff = 1 / (0.81696^2 * 0.185 * 0.815) = 9.935
    got = evidence.effective_n([0.185], [0.044], [0.531], n=[499])
    assert got[0] == pytest.approx(9.935, abs=1e-3)


def test_effective_n_is_the_binomial_n_for_a_logit_wald_interval():
    # An interval built as expit(logit(p) +- z / sqrt(n p (1-p))) gives back n.
    p, n, z = 0.2, 400.0, 1.959963984540054
    se = 1 / math.sqrt(n * p * (1 - p))
    lo, hi = (1 / (1 + math.exp(-(math.log(p / (1 - p)) + s * z * se))) for s in (-1, 1))
    assert evidence.effective_n([p], [lo], [hi])[0] == pytest.approx(n, rel=1e-9)


def test_effective_n_is_capped_at_the_people_examined():
    # A binomial interval for n = 400 implies n_eff = 400; with n = 100 the cap applies.
    p, n, z = 0.2, 400.0, 1.959963984540054
    se = 1 / math.sqrt(n * p * (1 - p))
    lo, hi = (1 / (1 + math.exp(-(math.log(p / (1 - p)) + s * z * se))) for s in (-1, 1))
    assert evidence.effective_n([p], [lo], [hi], n=[100])[0] == 100


def test_effective_n_uses_one_half_when_the_interval_touches_zero():
    # p = 0.004, CI 0-0.011: se = (logit(0.011) - logit(0.004)) / z
    #   = (-4.4988 + 5.5175) / 1.96 = 0.51976; n_eff = 1 / (0.51976^2 * 0.004 * 0.996) = 929.3
    got = evidence.effective_n([0.004], [0.0], [0.011])[0]
    se = (math.log(0.011 / 0.989) - math.log(0.004 / 0.996)) / 1.959963984540054
    assert got == pytest.approx(1 / (se**2 * 0.004 * 0.996), rel=1e-12)
    assert got == pytest.approx(929.3, abs=0.1)


@pytest.mark.parametrize(
    ("p", "lo", "hi"),
    [(np.nan, 0.1, 0.2), (0.15, np.nan, 0.2), (0.0, 0.0, 0.1), (0.3, 0.1, 0.2), (1.0, 0.9, 1.0)],
)
def test_effective_n_is_missing_when_it_cannot_be_derived(p, lo, hi):
    assert np.isnan(evidence.effective_n([p], [lo], [hi])[0])


# --- overlap ---------------------------------------------------------------------------------
def _rows(records: list[dict]) -> pd.DataFrame:
    base = {
        "study_id": "s1", "sample_id": None, "parent_id": None, "split": None,
        "repeat_of": None, "sex": "both",
        "supplement_users": "included", "diet_group": "general", "age_min": 20, "age_max": 39,
        "pregnancy": "not_pregnant", "population": "adults", "usable_for": "pooling",
        "biomarker": "serum_b12", "cutoff_operator": "<", "cutoff_value": "148",
        "cutoff_unit": "pmol/L", "status": "deficient", "definition": "b12_lt148",
    }
    frame = pd.DataFrame([{**base, **r} for r in records])
    frame["sample_id"] = frame["sample_id"].fillna(frame["study_id"])
    return frame


# A study with "all" (n 100) and men (74) + women (26), and a second study with one row.
FAMILY = [
    {"estimate_id": "s1-01", "n": 100},
    {"estimate_id": "s1-02", "n": 74, "sex": "male", "parent_id": "s1-01", "split": "sex"},
    {"estimate_id": "s1-03", "n": 26, "sex": "female", "parent_id": "s1-01", "split": "sex"},
    {"estimate_id": "s2-01", "study_id": "s2", "n": 50},
]


def test_whole_is_kept_when_it_can_be_pooled():
    kept = evidence.non_overlapping(_rows(FAMILY), prefer="whole")
    assert list(kept["estimate_id"]) == ["s1-01", "s2-01"]


def test_finest_complete_partition_replaces_the_whole():
    kept = evidence.non_overlapping(_rows(FAMILY), prefer="finest")
    assert list(kept["estimate_id"]) == ["s1-02", "s1-03", "s2-01"]


def test_an_incomplete_partition_never_replaces_the_whole():
    rows = _rows([{**FAMILY[0]}, {**FAMILY[1]}, {**FAMILY[2], "n": 20}])  # 74 + 20 != 100
    assert list(evidence.non_overlapping(rows, prefer="finest")["estimate_id"]) == ["s1-01"]


def test_subgroups_stand_in_for_a_whole_that_cannot_be_pooled():
    rows = _rows([{**FAMILY[0], "n": None, "usable_for": "display"}, FAMILY[1], FAMILY[2]])
    for prefer in evidence.PREFERENCES:
        assert list(evidence.non_overlapping(rows, prefer)["estimate_id"]) == ["s1-02", "s1-03"]


def test_subgroups_without_their_whole_stand_alone():
    rows = _rows(FAMILY[1:3])
    assert list(evidence.non_overlapping(rows)["estimate_id"]) == ["s1-02", "s1-03"]


def test_grandchildren_resolve_recursively():
    rows = _rows([
        {"estimate_id": "a", "n": 100},
        {"estimate_id": "b", "n": 60, "sex": "male", "parent_id": "a", "split": "sex"},
        {"estimate_id": "c", "n": 40, "sex": "female", "parent_id": "a", "split": "sex"},
        {"estimate_id": "b1", "n": 10, "supplement_users": "only", "parent_id": "b",
         "split": "supplement_use"},
        {"estimate_id": "b2", "n": 50, "supplement_users": "excluded", "parent_id": "b",
         "split": "supplement_use"},
    ])
    assert list(evidence.non_overlapping(rows, "finest")["estimate_id"]) == ["c", "b1", "b2"]
    assert list(evidence.non_overlapping(rows, "whole")["estimate_id"]) == ["a"]


# A whole (n 100) split two ways: by age (60 + 40, complete) and by area (30, incomplete).
TWO_SPLITS = [
    {"estimate_id": "w", "n": 100},
    {"estimate_id": "y", "n": 60, "age_max": 29, "parent_id": "w", "split": "age"},
    {"estimate_id": "o", "n": 40, "age_min": 30, "parent_id": "w", "split": "age"},
    {"estimate_id": "north", "n": 30, "population": "north", "parent_id": "w", "split": "area"},
]


def test_two_splits_are_never_combined():
    rows = _rows(TWO_SPLITS)
    assert list(evidence.non_overlapping(rows, "finest")["estimate_id"]) == ["y", "o"]
    assert list(evidence.non_overlapping(rows, "whole")["estimate_id"]) == ["w"]
    unpoolable = _rows([{**TWO_SPLITS[0], "n": None, "usable_for": "display"}, *TWO_SPLITS[1:]])
    # the whole cannot be pooled: the split holding most people stands in (age: 100 vs 30)
    assert list(evidence.non_overlapping(unpoolable)["estimate_id"]) == ["y", "o"]


def test_a_repeat_measurement_of_kept_people_is_dropped():
    rows = _rows([
        {"estimate_id": "wk18", "n": 136},
        {"estimate_id": "wk36", "n": 116, "repeat_of": "wk18"},
    ])
    assert list(evidence.non_overlapping(rows)["estimate_id"]) == ["wk18"]
    first_unpoolable = _rows([{"estimate_id": "wk18", "n": None, "usable_for": "display"},
                              {"estimate_id": "wk36", "n": 116, "repeat_of": "wk18"}])
    assert list(evidence.non_overlapping(first_unpoolable)["estimate_id"]) == ["wk36"]


def test_one_publication_per_sample():
    # Two papers on one survey: the one holding more people stays.
    rows = _rows([
        {"estimate_id": "p1-01", "study_id": "p1", "sample_id": "nhanes", "n": 300},
        {"estimate_id": "p2-01", "study_id": "p2", "sample_id": "nhanes", "n": 900},
        {"estimate_id": "p3-01", "study_id": "p3", "n": 10},
    ])
    kept = evidence.non_overlapping(rows)
    assert list(kept["estimate_id"]) == ["p2-01", "p3-01"]
    assert evidence.count_samples(rows) == 2


def test_unusable_rows_never_come_back():
    rows = _rows([{"estimate_id": "x", "n": None, "usable_for": "display"}])
    assert evidence.non_overlapping(rows).empty


def test_prefer_is_checked():
    with pytest.raises(ValueError, match="prefer"):
        evidence.non_overlapping(_rows(FAMILY), prefer="coarse")


def test_overlapping_pairs_finds_ancestor_repeat_and_shared_sample():
    rows = _rows([*FAMILY,
                  {"estimate_id": "s3-01", "study_id": "s3", "sample_id": "s2", "n": 50},
                  {"estimate_id": "s2-02", "study_id": "s2", "n": 45, "repeat_of": "s2-01"}])
    pairs = evidence.overlapping_pairs(rows, rows)
    assert ("s1-01", "s1-02") in pairs
    assert ("s1-01", "s1-03") in pairs
    assert ("s2-01", "s3-01") in pairs
    assert ("s2-01", "s2-02") in pairs
    assert evidence.overlapping_pairs(evidence.non_overlapping(rows), rows) == []


# --- structure checks ------------------------------------------------------------------------
def test_check_structure_accepts_a_sound_family():
    assert evidence.check_structure(_rows(FAMILY)) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"estimate_id": "s1-03", "parent_id": "nope"}, "is not an estimate_id"),
        ({"estimate_id": "s1-03", "cutoff_value": "221"}, "differs from its parent"),
        ({"estimate_id": "s1-03", "split": None}, "needs a split"),
        ({"estimate_id": "s1-01", "split": "sex"}, "needs a split"),
        ({"estimate_id": "s1-03", "split": "colour"}, "is not one of"),
        ({"estimate_id": "s1-03", "repeat_of": "s9-01"}, "repeat_of s9-01 is not"),
        ({"estimate_id": "s1-01", "parent_id": "s1-02", "split": "sex"}, "cycle"),
        ({"estimate_id": "s1-03", "new_id": "s1-02"}, "repeated"),
    ],
)
def test_check_structure_names_each_problem(change, message):
    frame = _rows(FAMILY)
    i = frame.index[frame["estimate_id"] == change["estimate_id"]][0]
    for column, value in change.items():
        if column == "new_id":
            frame.loc[i, "estimate_id"] = value
        elif column != "estimate_id":
            frame.loc[i, column] = value
    assert any(message in p for p in evidence.check_structure(frame))


# --- data checks -----------------------------------------------------------------------------
def _checked(records: list[dict]) -> pd.DataFrame:
    frame = _rows(records)
    frame["age_band"] = [evidence.age_band_for(a, b) for a, b in
                         zip(frame["age_min"], frame["age_max"], strict=True)]
    frame["sample_frame"] = "national_survey"
    frame["reason"] = None
    return frame


def test_coverage_counts_rows_studies_and_studies_with_n():
    frame = _checked([*FAMILY, {"estimate_id": "s4-01", "study_id": "s4", "n": None,
                                "diet_group": "vegan", "age_min": 65, "age_max": None}])
    table = evidence.coverage_table(frame).set_index("age_band")
    assert table.loc["20-39", "general_rows"] == 4
    assert table.loc["20-39", "general_studies"] == 2
    assert table.loc["60-79", "vegan_rows"] == 1
    assert table.loc["60-79", "vegan_studies_with_n"] == 0
    assert list(table.index) == [*schema.AGE_BAND_LABELS, "wide", "unknown"]


def _depth_frame() -> pd.DataFrame:
    """Three surveys and a diet cohort: s1 (USA, two cut-offs on the same adults and a
    repeat at a later visit), s2 (GBR, children and older adults), s3 (a multi-country
    review) and s4 (vegans 65+ without n, a clinic sample, no row that can be pooled)."""
    frame = _checked([
        {"estimate_id": "s1-01", "n": 100, "country_iso3": "USA", "region": "Northern America"},
        {"estimate_id": "s1-02", "n": 100, "country_iso3": "USA", "region": "Northern America",
         "definition": "b12_lt221", "cutoff_value": "221"},
        {"estimate_id": "s1-03", "n": 90, "country_iso3": "USA", "region": "Northern America",
         "definition": "b12_lt185", "repeat_of": "s1-01"},
        {"estimate_id": "s2-01", "study_id": "s2", "n": 50, "age_min": 6, "age_max": 11,
         "country_iso3": "GBR", "region": "Europe"},
        {"estimate_id": "s2-02", "study_id": "s2", "n": 60, "age_min": 65, "age_max": 79,
         "country_iso3": "GBR", "region": "Europe"},
        {"estimate_id": "s3-01", "study_id": "s3", "n": 500, "country_iso3": "MULTI",
         "region": None},
        {"estimate_id": "s3-02", "study_id": "s3", "n": 500, "country_iso3": "MULTI",
         "region": None, "definition": "b12_lt221"},
        {"estimate_id": "s4-01", "study_id": "s4", "n": None, "diet_group": "vegan",
         "age_min": 65, "age_max": None, "country_iso3": "NZL", "region": "Oceania"},
        {"estimate_id": "s4-02", "study_id": "s4", "n": None, "diet_group": "pescatarian",
         "age_min": 65, "age_max": None, "country_iso3": "NZL", "region": "Oceania"},
    ])
    frame.loc[frame["study_id"] == "s4", ["sample_frame", "usable_for"]] = [
        "clinic_sample", "display"]
    return frame


def test_age_band_surveys_lists_single_country_surveys_with_their_bands():
    got = evidence.age_band_surveys(_depth_frame())
    assert got.to_dict("records") == [
        {"sample_id": "s1", "country_iso3": "USA", "region": "Northern America",
         "age_bands": "20-39"},
        {"sample_id": "s2", "country_iso3": "GBR", "region": "Europe",
         "age_bands": "0-19, 60-79"},
    ]


def test_multi_cutoff_samples_need_two_definitions_on_one_stratum():
    frame = _depth_frame()
    assert evidence.multi_cutoff_samples(frame) == ["s1"]
    # s2's two rows are different people (two age bands): one cut-off each.
    frame.loc[frame["estimate_id"] == "s1-02", "definition"] = "b12_lt148"
    assert evidence.multi_cutoff_samples(frame) == []


def test_depth_targets_count_against_their_goals():
    got = evidence.depth_targets(_depth_frame()).set_index("target")
    assert got.loc["estimate rows", "now"] == 9
    assert got.loc["independent studies", "now"] == 4
    assert got.loc["countries", "now"] == 3  # MULTI is not a country
    assert got.loc["countries with a poolable row", "now"] == 2  # NZL's rows are display-only
    assert got.loc["surveys with general-population rows by age band", "now"] == 2
    assert got.loc["WPP regions of those surveys (of 6)", "now"] == 2
    assert got.loc["studies with two or more cut-offs on the same people", "now"] == 1
    assert got.loc["pescatarian rows", "now"] == 1
    assert got.loc["age band x diet cells with >= 3 studies with n (of 15)", "now"] == 0
    assert not got["met"].iloc[:8].any()
    assert got.loc["estimate rows", "goal"] == 450


def test_overlap_structure_reports_split_and_completeness():
    table = evidence.overlap_structure(_checked(FAMILY))
    assert table.to_dict("records") == [
        {"estimate_id": "s1-01", "study_id": "s1", "split": "sex", "subgroups": 2,
         "complete": True}
    ]


def test_source_kind_counts_rows_and_samples():
    frame = _checked(FAMILY).assign(source_kind=["primary", "primary", "secondary", "primary"])
    got = evidence.source_kind_counts(frame).to_dict("records")
    # s1-01 and s1-02 (one sample) and s2-01 primary; s1-03 secondary
    assert got == [{"source_kind": "primary", "rows": 3, "studies": 2},
                   {"source_kind": "secondary", "rows": 1, "studies": 1}]


def test_reason_counts_split_joined_reasons():
    frame = _checked(FAMILY)
    frame.loc[0, ["usable_for", "reason"]] = ["display", "no cut-off reported; no sample size"]
    frame.loc[1, ["usable_for", "reason"]] = ["display", "no cut-off reported"]
    got = evidence.reason_counts(frame).to_dict("records")
    assert got == [{"reason": "no cut-off reported", "rows": 2},
                   {"reason": "no sample size", "rows": 1}]


@pytest.mark.parametrize(
    ("frame", "pregnancy", "text"),
    [
        ("national_survey", "not_pregnant", ""),
        ("clinic_sample", "not_pregnant", "clinic sample"),
        ("community_sample", "trimester_2", "pregnant (trimester 2)"),
        ("institution", "mixed", "includes pregnant women; care home"),
        (None, None, ""),
    ],
)
def test_flag_text(frame, pregnancy, text):
    assert evidence.flag_text(frame, pregnancy) == text


# --- the shipped table -----------------------------------------------------------------------
GROUPINGS = ((), ("age_band", "diet_group"), ("age_band",), ("diet_group",), ("sex",),
             ("country_iso3",))


@pytest.fixture(scope="module")
def shipped() -> pd.DataFrame:
    from dashboard import data

    return data.load_studies()


def test_the_shipped_links_are_sound(shipped):
    assert evidence.check_structure(shipped) == []


def test_no_pooled_set_of_the_shipped_table_counts_anyone_twice(shipped):
    from dashboard import aggregate

    pooled = shipped[shipped["usable_for"] == "pooling"]
    checked = 0
    for (definition, status), rows in pooled.groupby(["definition", "status"], observed=True):
        for by in GROUPINGS:
            kept = aggregate.pooled_rows(rows, by)
            groups = [kept] if not by else [g for _, g in kept.groupby(list(by), observed=True)]
            for group in groups:
                assert evidence.overlapping_pairs(group, shipped) == [], (definition, status, by)
                checked += 1
    assert checked > 100
    # and the overlap the table holds is real: without the rule the pools would double count
    everything = shipped[shipped["usable_for"] == "pooling"]
    assert evidence.overlapping_pairs(everything, shipped) != []


def test_k_counts_samples_on_the_shipped_table(shipped):
    from dashboard import aggregate

    rows = shipped[(shipped["definition"] == "b12_lt148") & (shipped["status"] == "deficient")]
    pooled = aggregate.pool_groups(rows, by=())
    kept = aggregate.pooled_rows(rows, by=())
    assert pooled["k"].iloc[0] == kept["sample_id"].nunique()
    assert pooled["n_estimates"].iloc[0] == len(kept)
    assert pooled["k"].iloc[0] < pooled["n_estimates"].iloc[0]  # a few studies give subgroups
