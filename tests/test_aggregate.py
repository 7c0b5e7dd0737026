"""Tests of dashboard.aggregate: filters, per-row intervals, pooling, headline estimates."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboard import aggregate, data, schema

# One row of the studies frame with every documented column; tests override what they need.
BASE_ROW: dict = {
    "row_id": 0,
    "estimate_id": None,  # make_studies numbers the rows
    "study_id": "s1",
    "parent_id": None,
    "split": None,
    "repeat_of": None,
    "sample_id": None,  # make_studies: the study_id
    "first_author": "Smith",
    "year": 2010,
    "title": "A study",
    "journal": "J Nutr",
    "doi": None,
    "pmid": None,
    "doi_url": None,
    "pmid_url": None,
    "country_iso3": "DEU",
    "country_name": "Germany",
    "region": "Europe",
    "subregion": "Western Europe",
    "survey_or_cohort": "cohort",
    "data_years": None,
    "year_start": None,
    "year_end": None,
    "population": "adults",
    "sex": "both",
    "age_min": 20,
    "age_max": 39,
    "age_label": "20-39 y",
    "age_band": "20-39",
    "diet_group": "omnivore",
    "supplement_users": "unknown",
    "biomarker": "serum_b12",
    "cutoff_operator": "<",
    "cutoff_value": 148.0,
    "cutoff_unit": "pmol/L",
    "cutoff_low": 148.0,
    "cutoff_high": None,
    "canonical_unit": "pmol/L",
    "definition": "b12_lt148",
    "status": "deficient",
    "prevalence": 0.2,
    "n": 100,
    "cases": 20,
    "cases_derived": False,
    "n_effective": None,
    "n_effective_basis": None,
    "ci_low": None,
    "ci_high": None,
    "source_location": "Table 1",
    "notes": "",
    "usable_for": "pooling",
    "reason": "",
}


def make_studies(*rows: dict) -> pd.DataFrame:
    """A studies frame in the dtypes data.load_studies() documents."""
    records = [{**BASE_ROW, "row_id": i, **r} for i, r in enumerate(rows)]
    frame = pd.DataFrame.from_records(records, columns=list(BASE_ROW))
    frame["estimate_id"] = frame["estimate_id"].fillna(
        pd.Series([f"e{i}" for i in range(len(frame))], index=frame.index))
    frame["sample_id"] = frame["sample_id"].fillna(frame["study_id"])
    frame["diet_group"] = pd.Categorical(
        frame["diet_group"], categories=schema.STUDY_DIET_GROUPS, ordered=True
    )
    for column in ("n", "cases", "year_start", "year_end", "year"):
        frame[column] = pd.array(frame[column], dtype="Int64")
    for column in ("prevalence", "ci_low", "ci_high", "age_min", "age_max"):
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    return frame


# --- filter_studies --------------------------------------------------------------------------

FILTER_ROWS = (
    {"study_id": "a", "sex": "female", "age_band": "20-39", "diet_group": "vegan",
     "country_iso3": "DEU", "year_start": 2000, "year_end": 2002, "n": 50},
    {"study_id": "b", "sex": "male", "age_band": "60-79", "diet_group": "omnivore",
     "country_iso3": "USA", "region": "Americas", "subregion": "Northern America",
     "year_start": 1991, "year_end": 1994, "n": 500, "supplement_users": "excluded"},
    {"study_id": "c", "sex": "both", "age_band": "unknown", "diet_group": "general",
     "country_iso3": "MULTI", "region": None, "subregion": None, "n": None,
     "definition": "b12_lt118", "status": "deficient"},
    {"study_id": "d", "sex": "both", "age_band": "80+", "diet_group": "vegetarian",
     "country_iso3": "IND", "region": "Asia", "subregion": "Southern Asia",
     "year_start": 2015, "year_end": 2015, "n": 30, "status": "marginal"},
)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ["a", "b", "c", "d"]),
        ({"sexes": ["female", "male"]}, ["a", "b"]),
        ({"age_bands": "unknown"}, ["c"]),
        ({"diet_groups": ["vegan", "vegetarian"]}, ["a", "d"]),
        ({"countries": ["USA", "MULTI"]}, ["b", "c"]),
        ({"regions": ["Europe", "Southern Asia"]}, ["a", "d"]),
        ({"definition": "b12_lt118"}, ["c"]),
        ({"status": ["marginal"]}, ["d"]),
        ({"supplement_users": ["excluded"]}, ["b"]),
        # 2001..2016 overlaps a (2000-02) and d (2015); c has no years and is kept by default.
        ({"year_range": (2001, 2016)}, ["a", "c", "d"]),
        ({"year_range": (2001, 2016), "include_unknown_years": False}, ["a", "d"]),
        # 1994 is the last year of b's 1991-1994 collection: inclusive bounds.
        ({"year_range": (1994, 1994)}, ["b", "c"]),
        # min_n 50 keeps a (50) and b (500); c has no n, so it cannot qualify.
        ({"min_n": 50}, ["a", "b"]),
        ({"sexes": [], "min_n": 0}, []),
    ],
)
def test_filter_studies_selects_rows(kwargs: dict, expected: list[str]) -> None:
    studies = make_studies(*FILTER_ROWS)
    before = studies.copy()
    out = aggregate.filter_studies(studies, **kwargs)
    assert list(out["study_id"]) == expected
    pd.testing.assert_frame_equal(studies, before)  # input untouched


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"definition": "b12_lt999"}, "unknown definition: b12_lt999"),
        ({"status": "low"}, "unknown status: low"),
        ({"sexes": ["women"]}, "unknown sex: women"),
        ({"age_bands": ["20-29"]}, "unknown age_band: 20-29"),
        ({"diet_groups": ["keto"]}, "unknown diet_group: keto"),
        ({"supplement_users": ["yes"]}, "unknown supplement_users: yes"),
        ({"countries": ["Germany"]}, "ISO3"),
        ({"year_range": (2010, 2000)}, "starts after it ends"),
        ({"year_range": "recent"}, "two years"),
        ({"min_n": -1}, "min_n"),
    ],
)
def test_filter_studies_rejects_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        aggregate.filter_studies(make_studies(*FILTER_ROWS), **kwargs)


def test_filter_studies_names_missing_columns() -> None:
    with pytest.raises(ValueError, match="lacks the column"):
        aggregate.filter_studies(make_studies(BASE_ROW).drop(columns=["region"]))


# --- study_estimates -------------------------------------------------------------------------


def test_study_estimates_chooses_interval_source() -> None:
    p = 52 / 232
    studies = make_studies(
        # reported interval wins even though n is known
        {"prevalence": p, "n": 232, "cases": 52, "ci_low": 0.15, "ci_high": 0.26},
        # Wilson from 52/232
        {"prevalence": p, "n": 232, "cases": 52},
        # only a percentage and n: cases = p x 232 = 52, the same Wilson interval
        {"prevalence": p, "n": 232, "cases": None},
        # nothing to build an interval from
        {"prevalence": p, "n": None, "cases": None},
    )
    out = aggregate.study_estimates(studies)
    assert list(out["ci_source"]) == ["reported", "wilson", "wilson", "none"]
    assert out["interval_low"].iloc[0] == 0.15
    assert out["interval_high"].iloc[0] == 0.26
    # R: prop.test(52, 232, correct = FALSE)$conf.int -> 0.17522031289001 0.282042203038896
    # (tests/golden/proportion_ci_expected.csv)
    for i in (1, 2):
        assert out["interval_low"].iloc[i] == pytest.approx(0.17522031289001, rel=1e-6)
        assert out["interval_high"].iloc[i] == pytest.approx(0.282042203038896, rel=1e-6)
    assert math.isnan(out["interval_low"].iloc[3])
    assert out["reliability"].iloc[3] == "unknown"
    assert "interval_low" not in studies.columns


def test_study_estimates_uses_wilson_at_other_levels() -> None:
    studies = make_studies({"n": 100, "cases": 20, "ci_low": 0.15, "ci_high": 0.26})
    out = aggregate.study_estimates(studies, level=0.9)
    # A reported 95% interval is not a 90% interval.
    assert out["ci_source"].iloc[0] == "wilson"
    # Wilson, z = 1.644854, z^2 = 2.705543: centre (0.2 + 2.705543/200) / (1 + 2.705543/100)
    # = 0.2079028; half = z sqrt(0.0016 + 2.705543/40000) / 1.02705543 = 0.0654010
    assert out["interval_low"].iloc[0] == pytest.approx(0.2079028 - 0.0654010, abs=1e-6)
    assert out["interval_high"].iloc[0] == pytest.approx(0.2079028 + 0.0654010, abs=1e-6)


def test_study_estimates_flags_small_samples() -> None:
    # n = 20 < 30 effective sample size: NCHS suppresses (Parker et al. 2017).
    studies = make_studies({"n": 20, "cases": 4, "prevalence": 0.2},
                           {"n": 2000, "cases": 400, "prevalence": 0.2})
    out = aggregate.study_estimates(studies)
    assert out["reliability"].iloc[0] == "suppress"
    assert out["reliability"].iloc[1] != "suppress"


def test_study_estimates_rejects_bad_level() -> None:
    with pytest.raises(ValueError, match="level"):
        aggregate.study_estimates(make_studies(BASE_ROW), level=95)


# --- pool_groups -----------------------------------------------------------------------------


def test_pool_groups_single_study_equals_that_study() -> None:
    out = aggregate.pool_groups(make_studies({"cases": 20, "n": 100}))
    assert len(out) == 1
    row = out.iloc[0]
    # logit(0.2) = log(20/80) = -1.3862944; se = sqrt(1/20 + 1/80) = 0.25;
    # CI expit(-1.3862944 -/+ 1.959964 x 0.25) = expit(-1.8762854), expit(-0.8963034)
    # = 0.1328161, 0.2898107
    assert row["estimate"] == pytest.approx(0.2)
    assert row["logit"] == pytest.approx(-1.3862944, abs=1e-7)
    assert row["logit_se"] == pytest.approx(0.25)
    assert row["ci_low"] == pytest.approx(0.1328161, abs=1e-6)
    assert row["ci_high"] == pytest.approx(0.2898107, abs=1e-6)
    assert (row["k"], row["n_total"], row["cases_total"]) == (1, 100, 20)
    assert row["tau2"] == 0
    assert row["study_ids"] == "s1"
    assert list(out.columns) == ["age_band", "diet_group", *aggregate.POOLED_COLUMNS]


# Input and expected values of the golden group combined|<-0.5|low_or_marginal (three strata).
# R: metafor::rma(measure = "PLO", xi = c(4, 3, 3), ni = c(32, 29, 33), method = "REML")
#    predict(res, transf = transf.ilogit) -> 0.1072234 [0.05864714, 0.1879991], tau2 = 0
R_REML_POOLED = (0.107223410771354, 0.0586471380942183, 0.187999104487887)


def test_pool_groups_matches_metafor_per_group() -> None:
    studies = make_studies(
        {"study_id": "b1", "cases": 4, "n": 32, "diet_group": "semi_vegetarian"},
        {"study_id": "b2", "cases": 3, "n": 29, "diet_group": "semi_vegetarian"},
        {"study_id": "b3", "cases": 3, "n": 33, "diet_group": "semi_vegetarian"},
        # another group and a display-only row that must not enter any pool
        {"study_id": "v1", "cases": 30, "n": 60, "diet_group": "vegan"},
        {"study_id": "x", "cases": None, "n": None, "diet_group": "vegan",
         "usable_for": "display"},
    )
    out = aggregate.pool_groups(studies, by=("diet_group",))
    assert list(out["diet_group"]) == ["semi_vegetarian", "vegan"]  # vocabulary order
    semi = out.iloc[0]
    assert (semi["estimate"], semi["ci_low"], semi["ci_high"]) == pytest.approx(
        R_REML_POOLED, rel=1e-6
    )
    assert semi["k"] == 3
    assert semi["n_total"] == 32 + 29 + 33
    assert semi["cases_total"] == 4 + 3 + 3
    assert semi["study_ids"] == "b1, b2, b3"
    assert out.iloc[1]["k"] == 1  # the display row is left out


def test_pool_groups_pools_two_rows_of_one_study_as_strata() -> None:
    # Two disjoint strata of one study: two estimates, one study.
    studies = make_studies({"sex": "female", "cases": 10, "n": 50},
                           {"sex": "male", "cases": 5, "n": 50})
    out = aggregate.pool_groups(studies)
    assert (out.iloc[0]["k"], out.iloc[0]["n_estimates"]) == (1, 2)
    assert out.iloc[0]["study_ids"] == "s1"


def test_pool_groups_never_pools_a_whole_with_its_subgroups() -> None:
    # "all" (15/100) with its women (10/50) and men (5/50): the whole alone is pooled.
    studies = make_studies(
        {"estimate_id": "s1-01", "cases": 15, "n": 100},
        {"estimate_id": "s1-02", "sex": "female", "cases": 10, "n": 50,
         "parent_id": "s1-01", "split": "sex"},
        {"estimate_id": "s1-03", "sex": "male", "cases": 5, "n": 50,
         "parent_id": "s1-01", "split": "sex"},
    )
    out = aggregate.pool_groups(studies).iloc[0]
    assert (out["k"], out["n_estimates"], out["n_total"], out["cases_total"]) == (1, 1, 100, 15)
    assert out["estimate"] == pytest.approx(0.15)


def test_pool_groups_takes_the_variance_from_a_published_interval() -> None:
    # A survey stratum of n 499 whose interval implies n_effective 9.9: pooled alone, its CI
    # is the logit Wald interval of 18.5% with n 9.9, not of n 499.
    studies = make_studies({"cases": 92, "n": 499, "prevalence": 0.185})
    studies["n_effective"] = 9.935
    studies["n_effective_basis"] = "published CI"
    out = aggregate.pool_groups(studies).iloc[0]
    se = 1 / math.sqrt(9.935 * 0.185 * 0.815)
    logit = math.log(0.185 / 0.815)
    assert out["logit_se"] == pytest.approx(se, rel=1e-9)
    assert out["ci_low"] == pytest.approx(1 / (1 + math.exp(-(logit - 1.959963984540054 * se))))
    assert out["n_total"] == 499


def test_pool_groups_leaves_out_empty_groups_and_handles_empty_frames() -> None:
    studies = make_studies({"age_band": "80+"}, {"usable_for": "display", "age_band": "0-19"})
    out = aggregate.pool_groups(studies)
    assert list(out["age_band"]) == ["80+"]
    empty = aggregate.pool_groups(studies.iloc[0:0])
    assert empty.empty
    assert list(empty.columns) == ["age_band", "diet_group", *aggregate.POOLED_COLUMNS]


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ({"definition": "b12_lt185"}, "several definitions"),
        ({"status": "marginal"}, "several statuses"),
        ({"cases": None}, "lack cases or n"),
    ],
)
def test_pool_groups_refuses_mixed_or_incomplete_rows(other: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        aggregate.pool_groups(make_studies({}, other))


# --- pool_table --------------------------------------------------------------------------------


def test_pool_table_pools_a_plain_table_like_pool_groups() -> None:
    # An analyst's table: rows labelled by file line, groups in a plain column.
    table = pd.DataFrame({"sex": ["female", "female", "female", "male"],
                          "cases": [4.0, 3.0, 3.0, 30.0], "n": [32.0, 29.0, 33.0, 60.0]},
                         index=[2, 3, 4, 5])
    out = aggregate.pool_table(table, by=["sex"])
    assert list(out.columns) == ["sex", *aggregate.POOLED_COLUMNS]
    assert list(out["sex"]) == ["female", "male"]
    female, male = out.iloc[0], out.iloc[1]
    # the metafor reference above: the same three strata
    assert (female["estimate"], female["ci_low"], female["ci_high"]) == pytest.approx(
        R_REML_POOLED, rel=1e-6)
    assert (female["k"], female["n_total"], female["cases_total"]) == (3, 94, 10)
    assert female["study_ids"] == "2, 3, 4"  # the rows pooled, by their labels
    # one stratum: the pool is its proportion, 30 / 60 = 0.5
    assert male["estimate"] == pytest.approx(0.5)
    assert (male["k"], male["study_ids"]) == (1, "5")


def test_pool_table_without_groups_pools_every_row() -> None:
    table = pd.DataFrame({"cases": [20, 20], "n": [100, 100]})
    out = aggregate.pool_table(table)
    # two identical strata 20/100: no heterogeneity, pooled 0.2, n 200
    assert len(out) == 1
    assert out.iloc[0]["estimate"] == pytest.approx(0.2)
    assert (out.iloc[0]["k"], out.iloc[0]["n_total"], out.iloc[0]["tau2"]) == (2, 200, 0.0)
    assert aggregate.pool_table(table.iloc[0:0]).empty


@pytest.mark.parametrize(
    ("table", "by", "message"),
    [
        (pd.DataFrame({"cases": [1.0, None], "n": [10, 10]}, index=["a", "b"]), [],
         "rows without cases or n cannot be pooled \\(rows: b\\)"),
        (pd.DataFrame({"cases": [1], "n": [10]}), ["sex"], "table lacks the column\\(s\\) sex"),
        (pd.DataFrame({"n": [10]}), [], "table lacks the column\\(s\\) cases"),
    ],
)
def test_pool_table_rejects_incomplete_tables(table: pd.DataFrame, by: list,
                                              message: str) -> None:
    with pytest.raises(ValueError, match=message):
        aggregate.pool_table(table, by=by)


# --- compare_with_published ------------------------------------------------------------------

YOURS = pd.DataFrame({"age_band": ["20-39", "40-59"], "estimate": [0.1, 0.2],
                      "ci_low": [0.05, 0.1], "ci_high": [0.15, 0.3], "n": [200, 100],
                      "se": [0.02, 0.05]})
PUBLISHED = pd.DataFrame({"age_band": ["20-39", "60-79"], "estimate": [0.12, 0.3],
                          "ci_low": [0.1, 0.2], "ci_high": [0.14, 0.4], "k": [4, 2],
                          "n_total": [5000, 300], "tau2": [0.1, 0.0]})


def test_compare_with_published_pairs_shared_groups() -> None:
    out = aggregate.compare_with_published(YOURS, PUBLISHED, ["age_band"])
    # only 20-39 is on both sides
    assert out.to_dict("records") == [{
        "age_band": "20-39", "estimate_yours": 0.1, "ci_low_yours": 0.05,
        "ci_high_yours": 0.15, "n": 200, "estimate_published": 0.12,
        "ci_low_published": 0.1, "ci_high_published": 0.14, "k": 4, "n_total": 5000,
    }]


def test_compare_with_published_without_groups_pairs_the_overall_rows() -> None:
    out = aggregate.compare_with_published(YOURS.iloc[:1].drop(columns="age_band"),
                                           PUBLISHED.iloc[:1].drop(columns="age_band"), [])
    assert out[["estimate_yours", "estimate_published", "n", "k"]].values.tolist() == [
        [0.1, 0.12, 200, 4]]


@pytest.mark.parametrize(
    ("by", "message"),
    [
        (["sex"], "cannot compare by sex: the published estimates share only age_band, "
                  "diet_group"),
        (["diet_group"], "your estimates lacks the column\\(s\\) diet_group"),
    ],
)
def test_compare_with_published_rejects_other_groups(by: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        aggregate.compare_with_published(YOURS, PUBLISHED, by)


# --- headline estimates ----------------------------------------------------------------------

HEADLINE_ROWS = (
    {"study_id": "g1", "first_author": "Allen", "year": 2009, "diet_group": "general",
     "age_band": "60-79", "cases": 20, "n": 100},
    {"study_id": "g2", "first_author": "Baker", "year": 2015, "diet_group": "general",
     "age_band": "80+", "cases": 20, "n": 100},
    {"study_id": "g3", "diet_group": "general", "age_band": "20-39", "cases": 5, "n": 100},
    {"study_id": "v1", "diet_group": "vegan", "age_band": "20-39", "cases": 40, "n": 100},
    {"study_id": "o1", "diet_group": "omnivore", "age_band": "20-39", "cases": 10, "n": 100},
)


def test_estimate_headlines_pool_the_right_subsets() -> None:
    heads = aggregate.estimate_headlines(make_studies(*HEADLINE_ROWS))
    older = heads.older_adults
    assert older is not None
    # Two identical strata 20/100: no heterogeneity, pooled 0.2 with k 2, n 200.
    assert older.estimate == pytest.approx(0.2)
    assert (older.k, older.n_total) == (2, 200)
    assert older.study_ids == ("g1", "g2")
    assert older.citations == ("Allen 2009", "Baker 2015")
    assert older.definition == "b12_lt148"
    assert older.definition_label == schema.DEFINITIONS_BY_ID["b12_lt148"].label
    assert heads.overall is not None
    assert heads.overall.k == 5
    assert heads.vegans.estimate == pytest.approx(0.4)
    assert heads.omnivores.estimate == pytest.approx(0.1)
    comp = heads.vegans_vs_omnivores
    assert comp.difference == pytest.approx(0.3)
    assert comp.ratio == pytest.approx(4.0)
    # se(p) = se_logit p(1-p): vegan sqrt(1/40+1/60) x 0.24 = 0.0489898,
    # omnivore sqrt(1/10+1/90) x 0.09 = 0.03; half width 1.959964 x sqrt(0.0024+0.0009)
    half = 1.959964 * math.sqrt(0.0489898**2 + 0.03**2)
    assert comp.difference_low == pytest.approx(0.3 - half, abs=1e-6)
    assert comp.difference_high == pytest.approx(0.3 + half, abs=1e-6)
    assert comp.ratio_low < 4.0 < comp.ratio_high


def test_estimate_headlines_are_none_without_studies() -> None:
    heads = aggregate.estimate_headlines(make_studies(HEADLINE_ROWS[2]))
    assert heads.older_adults is None
    assert heads.vegans is None
    assert heads.vegans_vs_omnivores is None
    assert heads.overall is not None


# --- describe_pattern ------------------------------------------------------------------------


def test_describe_pattern_names_highest_and_lowest() -> None:
    pooled = pd.DataFrame({
        "age_band": ["20-39", "20-39", "60-79"],
        "diet_group": ["vegan", "omnivore", "general"],
        "estimate": [0.52, 0.04, 0.1],
        "ci_low": [0.40, 0.021, 0.08],
        "ci_high": [0.64, 0.07, 0.12],
        "k": [3, 1, 2],
    })
    assert aggregate.describe_pattern(pooled) == (
        "Among the 3 groups with data, vegans aged 20-39 have the highest pooled prevalence "
        "(52%, 95% CI 40-64%, 3 estimates) and omnivores aged 20-39 the lowest "
        "(4.0%, 95% CI 2.1-7.0%, 1 estimate)."
    )


@pytest.mark.parametrize(
    ("pooled", "expected"),
    [
        (pd.DataFrame(), "No group in this selection has studies that can be pooled."),
        (
            pd.DataFrame({"age_band": ["80+"], "diet_group": ["general"], "estimate": [0.25],
                          "ci_low": [0.2], "ci_high": [0.3], "k": [2]}),
            "Only one group has data: the general population aged 80+, with a pooled "
            "prevalence of 25%, 95% CI 20-30%, 2 estimates.",
        ),
    ],
)
def test_describe_pattern_handles_empty_and_single(pooled: pd.DataFrame, expected: str) -> None:
    assert aggregate.describe_pattern(pooled) == expected


def test_describe_pattern_reads_pool_groups_output() -> None:
    pooled = aggregate.pool_groups(make_studies(*HEADLINE_ROWS))
    text = aggregate.describe_pattern(pooled)
    assert text.startswith("Among the 5 groups with data, vegans aged 20-39 have the highest")
    assert "the general population aged 20-39 the lowest (5.0%" in text


# --- compare_definitions ---------------------------------------------------------------------


def test_compare_definitions_pairs_the_same_population() -> None:
    studies = make_studies(
        {"study_id": "p", "definition": "b12_lt148", "prevalence": 0.1},
        {"study_id": "p", "definition": "b12_lt221", "status": "low_or_marginal",
         "prevalence": 0.35},
        # same study, other sex: another population with a single definition -> dropped
        {"study_id": "p", "sex": "female", "definition": "b12_lt148", "prevalence": 0.12},
        # cut-off not stated: never compared
        {"study_id": "q", "definition": None, "prevalence": 0.3},
        {"study_id": "q", "definition": "b12_lt148", "prevalence": 0.05},
    )
    out = aggregate.compare_definitions(studies)
    assert list(out["definition"]) == ["b12_lt148", "b12_lt221"]
    assert list(out["population_id"]) == [0, 0]
    assert list(out["n_definitions"]) == [2, 2]
    # spread = 0.35 - 0.10
    assert out["spread"].iloc[0] == pytest.approx(0.25)
    assert out["population_label"].iloc[0] == "Smith 2010: adults (both, 20-39 y, omnivore)"
    assert aggregate.compare_definitions(studies.iloc[2:]).empty


def test_compare_definitions_filters_biomarkers() -> None:
    studies = make_studies(
        {"definition": "b12_lt148"},
        {"definition": "holotc_lt35", "biomarker": "holotc"},
    )
    assert len(aggregate.compare_definitions(studies)) == 2
    assert aggregate.compare_definitions(studies, biomarkers=["serum_b12"]).empty
    with pytest.raises(ValueError, match="unknown biomarker: b12"):
        aggregate.compare_definitions(studies, biomarkers=["b12"])


# --- reference_list --------------------------------------------------------------------------


def test_reference_list_one_row_per_study() -> None:
    studies = make_studies(
        {"study_id": "z", "first_author": "Zhou", "year": 2001},
        {"study_id": "a", "first_author": "Allen", "year": 2009},
        {"study_id": "z", "first_author": "Zhou", "year": 2001},
    )
    out = aggregate.reference_list(studies)
    assert list(out["study_id"]) == ["a", "z"]
    assert list(out["n_rows"]) == [1, 2]
    assert list(out.columns) == ["study_id", "first_author", "year", "title", "journal",
                                 "doi_url", "pmid_url", "n_rows"]
    assert aggregate.reference_list(studies.iloc[0:0]).empty


# --- the real built data ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_studies() -> pd.DataFrame:
    if not (schema.DATA_DIR / schema.MANIFEST_NAME).exists():
        pytest.skip("data/manifest.json is absent: run `make data` to build the datasets")
    from dashboard import data

    return data.load_studies()


def test_real_default_view_pools_and_reads(real_studies: pd.DataFrame) -> None:
    view = aggregate.filter_studies(real_studies, definition=schema.DEFAULT_DEFINITION,
                                    status=schema.DEFAULT_STATUS)
    pooled = aggregate.pool_groups(view)
    assert len(pooled) > 0
    assert np.all((pooled["ci_low"] <= pooled["estimate"])
                  & (pooled["estimate"] <= pooled["ci_high"]))
    assert aggregate.describe_pattern(pooled).startswith("Among the")
    heads = aggregate.estimate_headlines(view)
    assert heads.overall is not None
    assert 0 < heads.overall.estimate < 1


def test_real_estimates_references_and_comparisons(real_studies: pd.DataFrame) -> None:
    shown = aggregate.study_estimates(real_studies)
    assert set(shown["ci_source"]) <= {"reported", "wilson", "none"}
    has = shown["ci_source"] != "none"
    assert (shown.loc[has, "interval_low"] <= shown.loc[has, "interval_high"]).all()
    refs = aggregate.reference_list(real_studies)
    assert refs["n_rows"].sum() == len(real_studies)
    assert refs["study_id"].is_unique
    comparison = aggregate.compare_definitions(real_studies)
    assert (comparison["n_definitions"] >= 2).all()


# --- definitions_table -----------------------------------------------------------------------


def test_definitions_table_counts_and_cites_each_definition() -> None:
    studies = make_studies(
        {"study_id": "s1", "first_author": "Smith", "year": 2010, "definition": "b12_lt148"},
        {"study_id": "s1", "first_author": "Smith", "year": 2010, "definition": "b12_lt148"},
        {"study_id": "s2", "first_author": "", "year": None, "definition": "b12_lt148"},
        {"study_id": "s3", "first_author": "Lee", "year": 2015, "definition": "b12_lt137p5"},
        {"study_id": "s4", "definition": None},
    )
    out = aggregate.definitions_table(studies).set_index("id")
    # documented first, in schema order (unused ones too), then the generated id
    assert list(out.index) == [*(d.id for d in schema.DEFINITIONS), "b12_lt137p5"]
    # b12_lt148: rows 0, 1, 2 -> 3 estimates from s1 and s2; s2 has no author or year
    assert out.loc["b12_lt148", ["estimates", "studies", "cited"]].tolist() == [
        3, 2, "Smith 2010; s2"]
    assert out.loc["b12_lt148", "kind"] == "documented"
    assert out.loc["b12_lt118", ["estimates", "studies", "cited"]].tolist() == [0, 0, ""]
    generated = out.loc["b12_lt137p5"]
    assert generated[["label", "biomarker", "unit", "kind", "estimates", "studies", "cited"]
                     ].tolist() == ["b12_lt137p5", "Serum/plasma total B12", "pmol/L",
                                    "generated from the data", 1, 1, "Lee 2015"]
    # the row without a definition is counted nowhere: 3 + 1 = 4 of 5 rows
    assert out["estimates"].sum() == 4


def test_definitions_table_without_rows_lists_the_documented_definitions() -> None:
    out = aggregate.definitions_table(make_studies({}).iloc[0:0])
    assert list(out["id"]) == [d.id for d in schema.DEFINITIONS]
    assert (out["estimates"] == 0).all()
    assert (out["cited"] == "").all()


# --- modelled estimates for a view -----------------------------------------------------------

MODEL_COUNTRIES = pd.DataFrame({
    "iso3": ["AAA", "AAB", "BBA"],
    "country_name": ["Aland", "Abland", "Beland"],
    "region": ["Ra", "Ra", "Rb"],
    "subregion": ["Ra west", "Ra east", "Rb"],
})


@pytest.mark.parametrize(
    ("kwargs", "scope", "iso3", "sex", "supp"),
    [
        ({}, "world", ("AAA", "AAB", "BBA"), "both", "included"),
        ({"iso3": ["AAB"]}, "country", ("AAB",), "both", "included"),
        ({"iso3": ["AAA", "BBA"]}, "countries", ("AAA", "BBA"), "both", "included"),
        ({"regions": ["Ra"]}, "region", ("AAA", "AAB"), "both", "included"),
        ({"regions": ["Ra east"]}, "region", ("AAB",), "both", "included"),
        # of the chosen countries, those inside the chosen region: here one country
        ({"iso3": ["AAA", "BBA"], "regions": ["Ra"]}, "country", ("AAA",), "both", "included"),
        ({"sexes": ["female"], "supplement_users": ["excluded"]}, "world",
         ("AAA", "AAB", "BBA"), "female", "excluded"),
        # several sexes or an unknown supplement stratum: the general population
        ({"sexes": ["female", "male"], "supplement_users": ["unknown"]}, "world",
         ("AAA", "AAB", "BBA"), "both", "included"),
    ],
)
def test_model_population_follows_the_places_chosen(kwargs, scope, iso3, sex, supp):
    population = aggregate.model_population(MODEL_COUNTRIES, **kwargs)
    assert (population.scope, population.iso3, population.sex,
            population.supplement_users) == (scope, iso3, sex, supp)


def test_model_population_names_itself_and_refuses_unknown_places():
    assert aggregate.model_population(MODEL_COUNTRIES, iso3=["AAB"]).describe() == "Abland"
    world = aggregate.model_population(MODEL_COUNTRIES, sexes=["male"]).describe()
    assert world.startswith("men, the world: 3 countries")
    assert "2025 population" in world
    assert aggregate.model_population(MODEL_COUNTRIES, iso3=["MULTI"]) is None
    assert aggregate.model_population(MODEL_COUNTRIES, iso3=["BBA"], regions=["Ra"]) is None


def test_population_weights_sum_five_year_groups_into_analysis_bands():
    population = pd.DataFrame({
        "location_type": ["Country/Area"] * 5 + ["World"],
        "iso3": ["AAA", "AAA", "AAA", "AAA", "AAA", None],
        "year": [2025, 2025, 2025, 2025, 2024, 2025],
        "age_min": [0, 15, 20, 100, 0, 0],
        "population": [10.0, 5.0, 7.0, 1.0, 99.0, 1e9],
    })
    out = aggregate.population_weights(population, ["AAA"])
    # 0-4 and 15-19 -> 0-19 (10 + 5); 20-24 -> 20-39; 100+ -> 80+; 2024 and World ignored
    assert out.to_dict("records") == [
        {"iso3": "AAA", "age_band": "0-19", "population": 15.0},
        {"iso3": "AAA", "age_band": "20-39", "population": 7.0},
        {"iso3": "AAA", "age_band": "80+", "population": 1.0},
    ]


def test_model_cells_are_the_views_bands_by_modelled_diets():
    cells = aggregate.model_cells(["20-39", "wide"], ["vegan", "semi_vegetarian"])
    assert cells.to_dict("records") == [{"age_band": "20-39", "diet_group": "vegan"}]
    assert len(aggregate.model_cells()) == 5 * len(aggregate.MODELLED_DIETS)


class _FakeModel:
    """A stand-in for model.Model: fixed point and draws per (iso3, age_band, diet)."""

    def __init__(self, values: dict[tuple[str, str, str], list[float]]) -> None:
        self.values = values
        self.data = pd.DataFrame({"iso3": ["AAA", "AAA", "BBA"], "sample_id": ["s1", "s2", "s3"]})

    def estimate_draws(self, frame, *, draws, seed):
        rows = [self.values[(r.iso3, r.age_band, r.diet_group)] for r in frame.itertuples()]
        return np.array([r[0] for r in rows]), np.array([r[1:] for r in rows])

    def support(self, frame):
        return pd.DataFrame({"support_diet": [3] * len(frame),
                             "support_age": [2 if b == "80+" else 5 for b in frame["age_band"]]},
                            index=frame.index)

    def estimable(self, frame):
        return pd.Series([d != "vegan" or b != "80+" for b, d in
                          zip(frame["age_band"], frame["diet_group"], strict=True)],
                         index=frame.index)


def _fake_modelled():
    values = {  # point, then two draws
        ("AAA", "20-39", "general"): [0.10, 0.08, 0.12],
        ("BBA", "20-39", "general"): [0.30, 0.20, 0.40],
        ("AAA", "80+", "general"): [0.20, 0.10, 0.30],
        ("BBA", "80+", "general"): [0.40, 0.40, 0.40],
        ("AAA", "20-39", "vegan"): [0.50, 0.50, 0.50],
        ("BBA", "20-39", "vegan"): [0.50, 0.50, 0.50],
        ("AAA", "80+", "vegan"): [0.60, 0.60, 0.60],
        ("BBA", "80+", "vegan"): [0.60, 0.60, 0.60],
    }
    weights = pd.DataFrame({"iso3": ["AAA", "BBA", "AAA", "BBA"],
                            "age_band": ["20-39", "20-39", "80+", "80+"],
                            "population": [300.0, 100.0, 100.0, 100.0]})
    population = aggregate.ModelPopulation(("AAA", "BBA"), "countries", "the chosen countries")
    cells = pd.DataFrame({"age_band": ["20-39", "80+", "20-39", "80+"],
                          "diet_group": ["general", "general", "vegan", "vegan"]})
    return aggregate.draw_modelled(_FakeModel(values), cells, population, weights, draws=2)


def test_draw_modelled_weights_countries_by_their_people_draw_by_draw():
    modelled = _fake_modelled()
    # 20-39 general: (300 x 0.10 + 100 x 0.30) / 400 = 0.15; draws (24+20)/400, (36+40)/400
    np.testing.assert_allclose(modelled.point, [0.15, 0.30, 0.50, 0.60])
    np.testing.assert_allclose(modelled.draws[0], [0.11, 0.19])
    np.testing.assert_allclose(modelled.draws[1], [0.25, 0.35])
    assert modelled.band_population == {"20-39": 400.0, "80+": 200.0}
    assert modelled.support_location == 3  # s1, s2 in AAA and s3 in BBA
    summary = aggregate.summarize_modelled(modelled, level=0.5)
    assert list(summary["estimable"]) == [True, True, True, False]
    assert list(summary["support_age"]) == [5, 2, 5, 2]
    # quantiles of two draws at 25% and 75%: 0.11 + (0.19 - 0.11) / 4 = 0.13, 0.17
    np.testing.assert_allclose(summary.loc[0, ["ci_low", "ci_high"]].astype(float), [0.13, 0.17])


def test_combine_and_contrast_join_bands_by_their_people():
    modelled = _fake_modelled()
    both = aggregate.combine_modelled(modelled, "general", level=0.5)
    # 400 people aged 20-39, 200 aged 80+: (2 x 0.15 + 0.30) / 3 = 0.20
    assert both["estimate"] == pytest.approx(0.20)
    assert both["estimable"]
    assert both["support_age"] == 2
    assert aggregate.combine_modelled(modelled, "general", ["20-39"])["estimate"] == (
        pytest.approx(0.15))
    assert aggregate.combine_modelled(modelled, "omnivore") is None
    assert not aggregate.combine_modelled(modelled, "vegan")["estimable"]
    young = aggregate.contrast_modelled(modelled, "vegan", "general", ["20-39"], level=0.5)
    # draws 0.50 - 0.11 and 0.50 - 0.19: 0.39, 0.31; point 0.50 - 0.15
    assert young["difference"] == pytest.approx(0.35)
    assert (young["ci_low"], young["ci_high"]) == (pytest.approx(0.33), pytest.approx(0.37))
    assert young["estimable"]
    assert not aggregate.contrast_modelled(modelled, "vegan", "general")["estimable"]


def test_draw_modelled_refuses_bands_without_a_population():
    with pytest.raises(ValueError, match="analysis age bands"):
        aggregate.draw_modelled(_FakeModel({}), pd.DataFrame(
            {"age_band": ["wide"], "diet_group": ["general"]}),
            aggregate.ModelPopulation(("AAA",), "country", "Aland"), pd.DataFrame())


def test_pool_by_cutoff_pools_each_definition_whatever_its_status():
    studies = data.load_studies()
    out = aggregate.pool_by_cutoff(studies, by=("age_band",))
    assert set(out["definition"]) >= {"b12_lt148", "b12_lt221"}
    assert out["cutoff"].between(100, 300).all()
    assert not out["definition"].isin(["b12_148_221", "holotc_lt35"]).any()
    rows = studies[studies["definition"] == "b12_lt221"].assign(status="below")
    expected = aggregate.pool_groups(rows, by=("age_band",))
    mine = out[out["definition"] == "b12_lt221"].reset_index(drop=True)
    assert mine["cutoff"].eq(221.0).all()
    np.testing.assert_allclose(mine["estimate"], expected["estimate"])


def test_compare_observed_modelled_keeps_cells_of_either_side():
    pooled = pd.DataFrame({"age_band": ["20-39", "wide"], "diet_group": ["vegan", "vegan"],
                           "estimate": [0.2, 0.3], "ci_low": [0.1, 0.2], "ci_high": [0.3, 0.4],
                           "k": [2, 1], "n_total": [100, 50]})
    modelled = pd.DataFrame({"age_band": ["0-19", "20-39"], "diet_group": ["vegan", "vegan"],
                             "estimate": [0.4, 0.25], "ci_low": [0.3, 0.2],
                             "ci_high": [0.5, 0.3], "estimable": [False, True],
                             "support_location": [3, 3], "support_diet": [4, 4],
                             "support_age": [1, 2]})
    out = aggregate.compare_observed_modelled(pooled, modelled)
    assert list(out["age_band"]) == ["0-19", "20-39", "wide"]
    assert out.loc[1, ["pooled_estimate", "modelled_estimate"]].tolist() == [0.2, 0.25]
    assert math.isnan(out.loc[0, "pooled_estimate"])
    assert out.loc[2, "k"] == 1
    assert math.isnan(out.loc[2, "modelled_estimate"])


def test_forest_rows_weights_are_random_effects_shares_within_each_pool():
    # Two strata of one group: cases 10/100 and 30/100. Logit variances
    # 1/10 + 1/90 = 0.11111 and 1/30 + 1/70 = 0.047619; with tau2 = 0.1 the weights are
    # 1/0.21111 = 4.73684 and 1/0.147619 = 6.77419 (sum 11.51103), shares 0.41150, 0.58850.
    rows = pd.DataFrame({
        "row_id": [1, 2], "study_id": ["a", "b"], "sample_id": ["a", "b"],
        "estimate_id": ["a1", "b1"], "parent_id": [None, None], "repeat_of": [None, None],
        "split": [None, None], "diet_group": ["vegan", "vegan"], "cases": [10, 30],
        "n": [100, 100], "prevalence": [0.1, 0.3], "usable_for": ["pooling", "pooling"],
        "definition": ["d", "d"], "status": ["deficient", "deficient"],
    })
    pooled = pd.DataFrame({"diet_group": ["vegan"], "tau2": [0.1]})
    got = aggregate.forest_rows(rows, pooled, ["diet_group"])
    np.testing.assert_allclose(got["weight"], [0.41150, 0.58850], atol=1e-5)


def test_coinciding_groups_names_the_pools_whose_tau2_agree():
    reml = pd.DataFrame({"diet_group": ["vegan", "omnivore"], "tau2": [0.2, 0.5]})
    dl = pd.DataFrame({"diet_group": ["omnivore", "vegan"], "tau2": [0.3, 0.2]})
    assert aggregate.coinciding_groups(reml, dl, ["diet_group"]) == ["vegan"]


@pytest.mark.parametrize(
    ("k", "reliability", "reasons"),
    [
        (3, "ok", ()),
        (28, "ok; complement unreliable", ()),
        (2, "ok", ("2 studies, fewer than 3",)),
        (1, None, ("1 study, fewer than 3",)),
        (2, "suppress", ("2 studies, fewer than 3",
                         "too imprecise by NCHS standards, which would suppress it")),
        (4, "suppress", ("too imprecise by NCHS standards, which would suppress it",)),
        (5, "review; complement unreliable",
         ("flagged for statistical review by NCHS standards",)),
    ],
)
def test_assess_headline_names_why_a_figure_is_weak(k, reliability, reasons) -> None:
    assert aggregate.assess_headline(k, reliability) == reasons
