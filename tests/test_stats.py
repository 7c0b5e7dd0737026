"""Tests of dashboard.stats against R reference values and hand-computed cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import schema, stats

GOLDEN = Path(__file__).parent / "golden"
REL = 1e-6
# Reference values near zero (e.g. 2.5e-52) are compared relatively; exact zeros need an abs.
ABS = 1e-300
DESIGN = {"weight": "weight", "strata": "stratum", "psu": "psu"}


def close(expected):
    """Elementwise pytest.approx at 1e-6 relative, NaN where the reference is NA."""
    return pytest.approx(np.asarray(expected, dtype=float), rel=REL, abs=ABS, nan_ok=True)


@pytest.fixture(scope="module")
def microdata() -> pd.DataFrame:
    """tests/golden/survey_microdata.csv prepared as for the reference values: rows with a
    missing serum B12 dropped, deficient = serum B12 < 148 pmol/L, age groups 0-19 ... 80+."""
    frame = pd.read_csv(GOLDEN / "survey_microdata.csv")
    frame = frame[frame["serum_b12_pmol_l"].notna()].reset_index(drop=True)
    frame["deficient"] = (frame["serum_b12_pmol_l"] < 148).astype(np.int8)
    edges = [-1] + [hi for _, _, hi in schema.AGE_BANDS[:-1]] + [200]
    frame["age_group"] = pd.cut(frame["age"], edges, labels=list(schema.AGE_BAND_LABELS))
    frame["diet_group"] = frame["diet_group"].astype("category")
    return frame


# --- proportion_ci -----------------------------------------------------------------------------

# R: for each (x, n): prop.test(x, n, correct=FALSE)$conf.int; binom.test(x, n)$conf.int
PROPORTION_CI = pd.read_csv(GOLDEN / "proportion_ci_expected.csv")


@pytest.mark.parametrize(("method", "prefix"), [("wilson", "wilson"), ("clopper-pearson", "cp")])
def test_proportion_ci_matches_r(method, prefix):
    low, high = stats.proportion_ci(PROPORTION_CI["cases"], PROPORTION_CI["n"], method=method)
    assert low == close(PROPORTION_CI[f"{prefix}_low"])
    assert high == close(PROPORTION_CI[f"{prefix}_high"])


@pytest.mark.parametrize(
    ("cases", "n", "method", "expected"),
    [
        # Clopper-Pearson at 0 and n cases: exactly 0 / 1 at the end, 1 - 0.025^(1/n) at the
        # other: n = 10 -> 1 - 0.025^0.1 = 0.3084971078
        (0, 10, "clopper-pearson", (0.0, 1 - 0.025**0.1)),
        (10, 10, "clopper-pearson", (0.025**0.1, 1.0)),
        # Wilson, 0 of 10: high = (z^2/n) / (1 + z^2/n), z = 1.959964 -> 0.2775328
        (0, 10, "wilson", (0.0, (1.959964**2 / 10) / (1 + 1.959964**2 / 10))),
    ],
)
def test_proportion_ci_edges(cases, n, method, expected):
    low, high = stats.proportion_ci(cases, n, method=method)
    assert isinstance(low, float)
    assert isinstance(high, float)
    assert (low, high) == pytest.approx(expected, rel=1e-6, abs=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cases": 3, "n": 0}, "n must be positive"),
        ({"cases": 11, "n": 10}, "between 0 and n"),
        ({"cases": -1, "n": 10}, "between 0 and n"),
        ({"cases": 1, "n": 10, "method": "wald"}, "unknown interval method"),
        ({"cases": 1, "n": 10, "level": 95}, "level must lie"),
        ({"cases": np.nan, "n": 10}, "missing"),
    ],
)
def test_proportion_ci_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        stats.proportion_ci(**kwargs)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=10_000),
    share=st.floats(min_value=0, max_value=1),
    method=st.sampled_from(stats.CI_METHODS),
    level=st.floats(min_value=0.5, max_value=0.999),
)
def test_proportion_ci_contains_estimate(n, share, method, level):
    cases = round(share * n)
    low, high = stats.proportion_ci(cases, n, method=method, level=level)
    assert 0.0 <= low <= cases / n <= high <= 1.0


# --- survey_prevalence: reference values -------------------------------------------------------

# R (survey 4.1-1), rows with missing B12 dropped, options(survey.lonely.psu = "adjust"):
#   des <- svydesign(ids=~psu, strata=~stratum, weights=~weight, nest=TRUE, data=d)
#   svyby(~deficient, ~age_group+diet_group, des, svymean)
#   per domain: svyciprop(~deficient, subset(des, ...), method="logit" / "beta", df=df_domain)
BY_AGE_DIET = pd.read_csv(GOLDEN / "survey_expected_by_age_diet.csv")


@pytest.mark.parametrize(
    ("ci", "prefix"), [("korn-graubard", "kg"), ("beta", "beta"), ("logit", "logit")]
)
def test_domains_match_r(microdata, ci, prefix):
    result = stats.survey_prevalence(
        microdata, "deficient", by=("age_group", "diet_group"), ci=ci, **DESIGN
    )
    assert list(result.columns) == ["age_group", "diet_group", *stats.SURVEY_COLUMNS]
    result["age_group"] = result["age_group"].astype(str)
    merged = BY_AGE_DIET.merge(
        result, on=["age_group", "diet_group"], suffixes=("_r", ""), validate="1:1"
    )
    assert len(merged) == len(BY_AGE_DIET) == len(result) == 20
    assert merged["estimate"].to_numpy() == close(merged["estimate_r"])
    assert merged["se"].to_numpy() == close(merged["se_r"])
    assert merged["n"].tolist() == merged["n_r"].tolist()
    assert merged["df"].tolist() == merged["df_domain"].astype(float).tolist()
    assert merged["ci_low"].to_numpy() == close(merged[f"ci_{prefix}_low"])
    assert merged["ci_high"].to_numpy() == close(merged[f"ci_{prefix}_high"])


def test_korn_graubard_cap_binds_where_r_beta_differs(microdata):
    # The reference marks two domains where the NCHS cap (n_eff <= n) changes the interval.
    result = stats.survey_prevalence(
        microdata, "deficient", by=("age_group", "diet_group"), **DESIGN
    )
    capped = result["n_eff"] == result["n"]
    differs = ~np.isclose(BY_AGE_DIET["ci_kg_low"], BY_AGE_DIET["ci_beta_low"], rtol=1e-6)
    assert capped.sum() == differs.sum() == 2


def test_logit_interval_is_na_where_r_is(microdata):
    # 0-19 pescatarian has df 1: R's confint.svyglm level rounds to 1, giving (0, NA).
    result = stats.survey_prevalence(
        microdata, "deficient", by=("age_group", "diet_group"), ci="logit", **DESIGN
    )
    row = result[(result["age_group"] == "0-19") & (result["diet_group"] == "pescatarian")]
    assert row["ci_low"].item() == 0.0
    assert math.isnan(row["ci_high"].item())


def test_overall_matches_r(microdata):
    # R: svymean(~deficient, des); degf(des)
    expected = pd.read_csv(GOLDEN / "survey_expected_overall.csv").iloc[0]
    result = stats.survey_prevalence(microdata, "deficient", **DESIGN)
    assert len(result) == 1
    assert result["estimate"].item() == pytest.approx(expected["estimate"], rel=REL)
    assert result["se"].item() == pytest.approx(expected["se"], rel=REL)
    assert result["df"].item() == expected["df"]
    assert result.attrs["design_df"] == expected["df"]


def test_age_standardized_matches_r(microdata):
    # R: std <- svystandardize(des, by=~age_group, over=~diet_group,
    #                          population=c(0.30, 0.30, 0.22, 0.14, 0.04))
    #    svyby(~deficient, ~diet_group, std, svymean)
    expected = pd.read_csv(GOLDEN / "survey_expected_agestd_by_diet.csv")
    weights = {"0-19": 0.30, "20-39": 0.30, "40-59": 0.22, "60-79": 0.14, "80+": 0.04}
    result = stats.survey_prevalence(
        microdata, "deficient", by="diet_group", standardize=("age_group", weights), **DESIGN
    )
    merged = expected.merge(result, on="diet_group", suffixes=("_r", ""), validate="1:1")
    assert len(merged) == len(expected) == len(result)
    assert merged["estimate"].to_numpy() == close(merged["estimate_r"])
    assert merged["se"].to_numpy() == close(merged["se_r"])


@pytest.mark.parametrize(
    "setting",
    [
        # Chunked, threaded grouped sums give the same result as one pass.
        {"_PARALLEL_MIN_ROWS": 1000, "_CHUNK_ROWS": 1500},
        # Compact PSU renumbering instead of the stratum x PSU grid.
        {"_MAX_PSU_GRID": 1},
    ],
)
def test_engine_paths_agree(microdata, monkeypatch, setting):
    by = ("age_group", "diet_group")
    reference = stats.survey_prevalence(microdata, "deficient", by=by, **DESIGN)
    for name, value in setting.items():
        monkeypatch.setattr(stats, name, value)
    result = stats.survey_prevalence(microdata, "deficient", by=by, **DESIGN)
    pd.testing.assert_frame_equal(result, reference, check_exact=False, rtol=1e-12)


def test_text_and_integer_design_columns_give_the_same_result(microdata):
    plain = microdata.assign(
        age_group=microdata["age_group"].astype(str),
        diet_group=microdata["diet_group"].astype(str),
        stratum=microdata["stratum"].astype(str),
    )
    a = stats.survey_prevalence(microdata, "deficient", by=("age_group", "diet_group"), **DESIGN)
    b = stats.survey_prevalence(plain, "deficient", by=("age_group", "diet_group"), **DESIGN)
    a["age_group"] = a["age_group"].astype(str)
    pd.testing.assert_frame_equal(
        a.sort_values(["age_group", "diet_group"]).reset_index(drop=True),
        b.sort_values(["age_group", "diet_group"]).reset_index(drop=True),
        check_exact=False,
        rtol=1e-12,
        check_dtype=False,
    )


# --- survey_prevalence: hand-computed cases ----------------------------------------------------


def test_srs_unweighted():
    # svydesign(ids=~1): p = 2/5 = 0.4; se = sqrt(p (1 - p) / (n - 1)) = sqrt(0.24 / 4);
    # df = n - 1 = 4
    frame = pd.DataFrame({"y": [1, 0, 0, 1, 0]})
    result = stats.survey_prevalence(frame, "y")
    assert result["estimate"].item() == pytest.approx(0.4)
    assert result["se"].item() == pytest.approx(math.sqrt(0.06))
    assert result["df"].item() == 4
    assert result["n"].item() == 5


def test_srs_weighted():
    # y = (1, 0, 1), w = (1, 2, 1): p = 2 / 4 = 0.5; scores w (y - p) / W = (.125, -.25, .125);
    # var = n/(n-1) sum z^2 = 1.5 * 0.09375 = 0.140625; se = 0.375
    frame = pd.DataFrame({"y": [1, 0, 1], "w": [1.0, 2.0, 1.0]})
    result = stats.survey_prevalence(frame, "y", weight="w")
    assert result["estimate"].item() == pytest.approx(0.5)
    assert result["se"].item() == pytest.approx(0.375)


def test_domain_is_estimated_over_the_whole_design():
    # Domain "a" = rows 1-2 (y = 1, 0) of n = 4, unweighted SRS: p_a = 0.5; scores
    # (y - p_a) 1[a] / W_a = (0.25, -0.25, 0, 0); var = 4/3 * 0.125 = 1/6, se = 0.4082483
    # (subsetting would give sqrt(0.25 / 1) = 0.5). df = n_a - 1 = 1.
    frame = pd.DataFrame({"y": [1, 0, 1, 1], "g": ["a", "a", "b", "b"]})
    result = stats.survey_prevalence(frame, "y", by="g").set_index("g")
    assert result.loc["a", "estimate"] == pytest.approx(0.5)
    assert result.loc["a", "se"] == pytest.approx(math.sqrt(1 / 6))
    assert result.loc["a", "df"] == 1
    assert result.loc["b", "estimate"] == 1.0


def test_lonely_psu_is_adjusted():
    # Stratum A: PSUs 1 (y = 1) and 2 (y = 0); stratum B: one PSU with y = 1, 1 (lonely).
    # p = 3/4; scores (y - p) / 4: A1 = 0.0625, A2 = -0.1875, B1 = 0.0625 + 0.0625 = 0.125.
    # A: mean -0.0625, 2/1 * (0.125^2 + 0.125^2) = 0.0625; B ("adjust"): centred at the grand
    # mean 0: 0.125^2 = 0.015625. se = sqrt(0.078125) = 0.2795085; df = 3 PSUs - 2 strata.
    frame = pd.DataFrame({"y": [1, 0, 1, 1], "s": ["A", "A", "B", "B"], "p": [1, 2, 1, 1]})
    result = stats.survey_prevalence(frame, "y", strata="s", psu="p")
    assert result["estimate"].item() == pytest.approx(0.75)
    assert result["se"].item() == pytest.approx(math.sqrt(0.078125))
    assert result["df"].item() == 1


def test_all_and_none_deficient_domains():
    # p = 1 and p = 0 with se 0: n_eff = n = 3; Clopper-Pearson: all -> (0.025^(1/3), 1) =
    # (0.2924018, 1); none -> (0, 1 - 0.025^(1/3)) = (0, 0.7075982).
    frame = pd.DataFrame({"y": [1, 1, 1, 0, 0, 0], "g": ["all"] * 3 + ["none"] * 3})
    result = stats.survey_prevalence(frame, "y", by="g").set_index("g")
    assert result.loc["all", ["estimate", "se", "n_eff"]].tolist() == [1.0, 0.0, 3.0]
    assert result.loc["all", "ci_low"] == pytest.approx(0.025 ** (1 / 3))
    assert result.loc["all", "ci_high"] == 1.0
    assert result.loc["none", ["estimate", "ci_low"]].tolist() == [0.0, 0.0]
    assert result.loc["none", "ci_high"] == pytest.approx(1 - 0.025 ** (1 / 3))
    assert set(result["reliability"]) == {stats.RELIABILITY_SUPPRESS}  # n_eff 3 < 30


def test_empty_domain_is_absent():
    frame = pd.DataFrame(
        {"y": [1, 0, 1], "g": pd.Categorical(["a", "a", "c"], categories=["a", "b", "c"])}
    )
    result = stats.survey_prevalence(frame, "y", by="g")
    assert result["g"].tolist() == ["a", "c"]


def test_missing_outcome_rows_are_dropped_and_counted():
    frame = pd.DataFrame({"y": [1.0, np.nan, 0.0, 1.0, np.nan], "w": [1.0, 9.0, 1.0, 2.0, 5.0]})
    result = stats.survey_prevalence(frame, "y", weight="w")
    expected = stats.survey_prevalence(frame.dropna(), "y", weight="w")
    pd.testing.assert_frame_equal(result, expected)
    assert result.attrs["dropped_missing_outcome"] == 2
    # p = (1 + 2) / (1 + 1 + 2) = 0.75
    assert result["estimate"].item() == pytest.approx(0.75)


def test_missing_domain_rows_stay_in_design_but_in_no_domain():
    # Row 3 has no group: it is counted, belongs to no domain, but still is a PSU of the design,
    # so domain "a" (y = 1, 0) has scores (0.25, -0.25, 0) and var = 3/2 * 0.125 = 0.1875.
    frame = pd.DataFrame({"y": [1, 0, 1], "g": ["a", "a", None]})
    result = stats.survey_prevalence(frame, "y", by="g")
    assert result["g"].tolist() == ["a"]
    assert result.attrs["dropped_missing_by"] == 1
    assert result["se"].item() == pytest.approx(math.sqrt(0.1875))


def test_boolean_outcome_equals_integer_outcome():
    ints = pd.DataFrame({"y": [1, 0, 0, 1, 1], "g": ["a", "b", "a", "b", "a"]})
    bools = ints.assign(y=ints["y"].astype(bool))
    pd.testing.assert_frame_equal(
        stats.survey_prevalence(ints, "y", by="g"), stats.survey_prevalence(bools, "y", by="g")
    )


def test_standardization_by_hand():
    # Domain d: age a1 rows y = 1, 0 (p = 0.5), a2 row y = 1 (p = 1); weights 0.75 / 0.25:
    # estimate = 0.75 * 0.5 + 0.25 * 1 = 0.625. Scores pi_a / W_a (y - p_a): a1 = +-0.1875,
    # a2 = 0; var = 3/2 * 2 * 0.1875^2 = 0.10546875. Domain e has only a1 (y = 0, 1, 1): the
    # weights are renormalised over the ages present, so its estimate is 2/3.
    frame = pd.DataFrame(
        {
            "y": [1, 0, 1, 0, 1, 1],
            "diet": ["d", "d", "d", "e", "e", "e"],
            "age": ["a1", "a1", "a2", "a1", "a1", "a1"],
        }
    )
    weights = {"a1": 0.75, "a2": 0.25}
    both = stats.survey_prevalence(frame, "y", by="diet", standardize=("age", weights))
    both = both.set_index("diet")
    assert both.loc["e", "estimate"] == pytest.approx(2 / 3)
    only_d = stats.survey_prevalence(frame.iloc[:3], "y", standardize=("age", weights))
    assert only_d["estimate"].item() == pytest.approx(0.625)
    assert only_d["se"].item() == pytest.approx(math.sqrt(0.10546875))
    assert both.loc["d", "estimate"] == pytest.approx(0.625)


def test_standardization_rows_without_age_belong_to_no_domain():
    frame = pd.DataFrame({"y": [1, 0, 1, 1], "age": ["a1", "a1", "a2", None]})
    weights = {"a1": 0.5, "a2": 0.5}
    result = stats.survey_prevalence(frame, "y", standardize=("age", weights))
    # 0.5 * 1/2 + 0.5 * 1 = 0.75 over the 3 rows with an age group
    assert result["estimate"].item() == pytest.approx(0.75)
    assert result["n"].item() == 3
    assert result.attrs["dropped_missing_by"] == 1


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (pd.DataFrame({"y": [0, 2, 1]}), {}, r"outcome column 'y' must be 0/1.*\[2\]"),
        (pd.DataFrame({"y": [0.0, 0.5, 1.0]}), {}, r"'y' must be 0/1.*0\.5"),
        (pd.DataFrame({"y": ["no", "yes"]}), {}, r"'y' must hold 0/1.*'no'"),
        (pd.DataFrame({"y": [0, 1], "w": [1.0, -2.0]}), {"weight": "w"}, r"'w'.*positive.*-2"),
        (pd.DataFrame({"y": [0, 1], "w": [1.0, np.nan]}), {"weight": "w"}, r"'w'.*positive"),
        (pd.DataFrame({"y": [0, 1], "w": ["a", "b"]}), {"weight": "w"}, r"'w' must be numeric"),
        (pd.DataFrame({"y": [0, 1]}), {"ci": "wald"}, "unknown interval method ci='wald'"),
        (pd.DataFrame({"y": [0, 1]}), {"level": 1.5}, "level must lie"),
        (pd.DataFrame({"y": [0, 1]}), {"by": "nope"}, r"the frame lacks the column\(s\) nope"),
        (pd.DataFrame({"y": [0, 1], "s": [1, None]}), {"strata": "s"}, "'s' has missing"),
        (
            pd.DataFrame({"y": [0, 1], "a": ["x", "z"]}),
            {"standardize": ("a", {"x": 1.0})},
            r"without a standard weight: \['z'\]",
        ),
    ],
)
def test_survey_prevalence_rejects_bad_input(frame, kwargs, message):
    with pytest.raises(ValueError, match=message):
        stats.survey_prevalence(frame, "y", **kwargs)


@st.composite
def survey_frames(draw):
    n = draw(st.integers(min_value=2, max_value=40))
    ints = st.integers
    return pd.DataFrame(
        {
            "y": draw(st.lists(ints(0, 1), min_size=n, max_size=n)),
            "g": draw(st.lists(st.sampled_from("abc"), min_size=n, max_size=n)),
            "s": draw(st.lists(ints(0, 2), min_size=n, max_size=n)),
            "p": draw(st.lists(ints(0, 2), min_size=n, max_size=n)),
            "w": draw(st.lists(st.floats(0.1, 1000.0), min_size=n, max_size=n)),
        }
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=survey_frames(), seed=st.integers(0, 2**32 - 1))
def test_survey_properties(frame, seed):
    result = stats.survey_prevalence(frame, "y", by="g", weight="w", strata="s", psu="p")
    assert ((result["estimate"] >= 0) & (result["estimate"] <= 1)).all()
    defined = result["ci_low"].notna() & result["ci_high"].notna()
    inside = (result["ci_low"] <= result["estimate"] + 1e-12) & (
        result["estimate"] <= result["ci_high"] + 1e-12
    )
    assert inside[defined].all()
    assert set(result["reliability"]) <= set(stats.RELIABILITY_LABELS)
    shuffled = frame.sample(frac=1.0, random_state=seed % 2**32)
    again = stats.survey_prevalence(shuffled, "y", by="g", weight="w", strata="s", psu="p")
    pd.testing.assert_frame_equal(result, again, check_exact=False, rtol=1e-9, atol=1e-12)


# --- pooling -----------------------------------------------------------------------------------

# R (metafor 3.8-1), per group and method:
#   fit <- rma(measure="PLO", xi=cases, ni=n, method=method, data=subset(meta_input, group==g))
#   predict(fit, transf=transf.ilogit); fit$tau2; fit$I2; fit$QE; coef(fit); fit$se
META_INPUT = pd.read_csv(GOLDEN / "meta_input.csv")
META_EXPECTED = pd.read_csv(GOLDEN / "meta_expected.csv")
META_FIELDS = {
    "estimate": "pooled",
    "ci_low": "ci_low",
    "ci_high": "ci_high",
    "pi_low": "pi_low",
    "pi_high": "pi_high",
    "tau2": "tau2",
    "i2": "i2_pct",
    "q": "q",
    "k": "k",
    "logit": "logit",
    "logit_se": "logit_se",
}


@pytest.mark.parametrize(
    "row",
    [row for _, row in META_EXPECTED.iterrows()],
    ids=[f"{g}-{m}" for g, m in zip(META_EXPECTED["group"], META_EXPECTED["method"], strict=True)],
)
def test_pooling_matches_metafor(row):
    studies = META_INPUT[META_INPUT["group"] == row["group"]]
    pooled = stats.pool_prevalence(studies["cases"], studies["n"], method=row["method"])
    for field, column in META_FIELDS.items():
        assert getattr(pooled, field) == pytest.approx(row[column], rel=REL, abs=1e-12), field


def test_pool_prevalence_frame_matches_metafor():
    result = stats.pool_prevalence_frame(META_INPUT, by="group", method="DL")
    expected = META_EXPECTED[META_EXPECTED["method"] == "DL"]
    merged = expected.merge(result, on="group", suffixes=("_r", ""), validate="1:1")
    assert len(merged) == len(expected) == len(result)
    assert merged["estimate"].to_numpy() == close(merged["pooled"])
    assert merged["tau2"].to_numpy() == close(merged["tau2_r"])
    totals = META_INPUT.groupby("group")["n"].sum()
    assert merged["n_total"].tolist() == totals[merged["group"]].astype(float).tolist()


@pytest.mark.parametrize(
    ("cases", "n", "expected"),
    [
        (12, 80, 12 / 80),
        # A zero cell gets 0.5 added: (0 + 0.5) / (40 + 1)
        (0, 40, 0.5 / 41),
        (30, 30, 30.5 / 31),
    ],
)
@pytest.mark.parametrize("method", stats.POOL_METHODS)
def test_pooling_one_study_is_that_study(cases, n, expected, method):
    pooled = stats.pool_prevalence([cases], [n], method=method)
    assert pooled.estimate == pytest.approx(expected)
    assert (pooled.tau2, pooled.i2, pooled.q, pooled.k) == (0.0, 0.0, 0.0, 1)
    assert (pooled.ci_low, pooled.ci_high) == pytest.approx((pooled.pi_low, pooled.pi_high))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=5000),
    share=st.floats(min_value=0, max_value=1),
    method=st.sampled_from(stats.POOL_METHODS),
)
def test_pooling_one_study_property(n, share, method):
    cases = round(share * n)
    x, m = (cases + 0.5, n + 1) if cases in (0, n) else (cases, n)
    pooled = stats.pool_prevalence([cases], [n], method=method)
    assert pooled.estimate == pytest.approx(x / m, rel=1e-12)
    assert pooled.ci_low <= pooled.estimate <= pooled.ci_high


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cases": [1, 2], "n": [10, 0]}, "n must be positive"),
        ({"cases": [11], "n": [10]}, "between 0 and n"),
        ({"cases": [1], "n": [10], "method": "PM"}, "unknown pooling method"),
        ({"cases": [], "n": []}, "at least one study"),
    ],
)
def test_pool_prevalence_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        stats.pool_prevalence(**kwargs)


# --- reliability -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("estimate", "n_eff", "low", "high", "df", "expected"),
    [
        # width 0.04 <= 0.05: presented whatever the relative width
        (0.02, 500, 0.01, 0.05, 20, "ok"),
        (0.02, 29.9, 0.01, 0.05, 20, "suppress"),  # n_eff < 30
        (0.50, 100, 0.35, 0.65, 20, "suppress"),  # width 0.30 >= 0.30
        # width 0.06 > 0.05 and 0.06 / 0.04 = 150 % > 130 %
        (0.04, 200, 0.02, 0.08, 20, "suppress"),
        # width 0.06, 0.06 / 0.05 = 120 %: ok
        (0.05, 200, 0.03, 0.09, 20, "ok"),
        (0.05, 200, 0.03, 0.09, 7, "review"),  # df < 8
        (0.05, 200, 0.03, 0.09, None, "ok"),  # df unknown: rule skipped
        (0.0, 200, 0.0, 0.02, 20, "review"),  # p = 0
        (1.0, 200, 0.98, 1.0, 20, "review"),  # p = 1
        # complement: width 0.06, 0.06 / (1 - 0.96) = 150 % > 130 %
        (0.96, 200, 0.92, 0.98, 20, "ok; complement unreliable"),
        (0.96, 200, 0.92, 0.98, 5, "review; complement unreliable"),
        (0.5, np.nan, 0.4, 0.6, 20, "suppress"),
    ],
)
def test_nchs_reliability(estimate, n_eff, low, high, df, expected):
    assert stats.nchs_reliability(estimate, n_eff, low, high, df) == expected
    vectorised = stats.nchs_reliability([estimate], [n_eff], [low], [high], df)
    assert vectorised.tolist() == [expected]
    assert expected in stats.RELIABILITY_LABELS


# --- age_standardize ---------------------------------------------------------------------------


def test_age_standardize_by_hand():
    # x: 0.1 * 0.6 + 0.3 * 0.4 = 0.18; y lacks "old": weights renormalised -> 0.2 (covered 0.6)
    frame = pd.DataFrame(
        {
            "loc": ["x", "x", "y"],
            "age": ["young", "old", "young"],
            "rate": [0.1, 0.3, 0.2],
            "draw": [0.2, 0.4, 0.5],
        }
    )
    result = stats.age_standardize(
        frame, ["rate", "draw"], "age", {"young": 3, "old": 2}, by="loc"
    ).set_index("loc")
    assert result.loc["x", "rate"] == pytest.approx(0.18)
    assert result.loc["x", "draw"] == pytest.approx(0.2 * 0.6 + 0.4 * 0.4)
    assert result.loc["y", ["rate", "draw", "weight_covered"]].tolist() == pytest.approx(
        [0.2, 0.5, 0.6]
    )
    overall = stats.age_standardize(frame.iloc[:2], "rate", "age", {"young": 3, "old": 2})
    assert overall["rate"].item() == pytest.approx(0.18)


@pytest.mark.parametrize(
    ("frame", "weights", "message"),
    [
        (pd.DataFrame({"age": ["a", "b"], "r": [0.1, 0.2]}), {"a": 1}, r"without a standard.*'b'"),
        (pd.DataFrame({"age": ["a", "a"], "r": [0.1, 0.2]}), {"a": 1}, "must appear once"),
        (pd.DataFrame({"age": ["a"], "r": [np.nan]}), {"a": 1}, "'r' has missing"),
        (pd.DataFrame({"age": ["a"], "r": [0.1]}), {"a": -1}, "non-negative"),
    ],
)
def test_age_standardize_rejects_bad_input(frame, weights, message):
    with pytest.raises(ValueError, match=message):
        stats.age_standardize(frame, "r", "age", weights)


# --- standard weights for custom age bands -----------------------------------------------------

# A toy standard: 0-19 0.4, 20-39 0.3, 40-59 0.2, 60+ 0.1 (open top group); and another.
STANDARDS = pd.DataFrame({
    "standard": ["toy"] * 4 + ["other"],
    "age_min": pd.array([0, 20, 40, 60, 0], dtype="Int64"),
    "age_max": pd.array([19, 39, 59, None, None], dtype="Int64"),
    "weight_share": [0.4, 0.3, 0.2, 0.1, 1.0],
})


@pytest.mark.parametrize(
    ("bands", "expected"),
    [
        # 0-39 = 0.4 + 0.3; 40+ = 0.2 + 0.1
        ((("0-39", 0, 39), ("40+", 40, None)), {"0-39": 0.7, "40+": 0.3}),
        ((("0-19", 0, 19), ("20-59", 20, 59), ("60+", 60, None)),
         {"0-19": 0.4, "20-59": 0.5, "60+": 0.1}),
        # everyone in one open band
        ((("0+", 0, None),), {"0+": 1.0}),
    ],
)
def test_standard_weights_for_bands(bands, expected):
    got = stats.standard_weights_for_bands(STANDARDS, "toy", bands)
    assert list(got) == list(expected)
    assert list(got.values()) == pytest.approx(list(expected.values()))


@pytest.mark.parametrize(
    ("standard", "bands", "message"),
    [
        # 20-39 straddles the edge at 29/30
        ("toy", (("0-29", 0, 29), ("30+", 30, None)), "age group 20-39 crosses an edge"),
        # the open 60+ group cannot end at 79
        ("toy", (("0-59", 0, 59), ("60-79", 60, 79)), "age group 60\\+ crosses an edge"),
        ("nope", (("0+", 0, None),), "unknown standard population 'nope'"),
    ],
)
def test_standard_weights_for_bands_refuses_splits(standard, bands, message):
    with pytest.raises(ValueError, match=message):
        stats.standard_weights_for_bands(STANDARDS, standard, bands)
