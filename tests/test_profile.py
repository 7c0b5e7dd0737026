"""Tests of the risk profile on a hand-made model whose coefficients are set by hand, so every
number has a closed form, and on the shipped evidence."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from dashboard import model, profile, schema
from tests.test_model import COUNTRIES, SHARES, _row, expit

# Logit-scale coefficients of the hand-made model (everything else is zero): the prevalence
# below a cut-off c of diet d is expit(INTERCEPT + BETA[d] + LOG_CUTOFF * log2(c / 148)).
INTERCEPT = -2.5
BETA = {"omnivore": 0.0, "pescatarian": 0.0, "vegetarian": 1.0, "vegan": 2.0}
SUPP_EXCLUDED = 0.5
FEMALE = 0.3
LOG_CUTOFF = 1.2
TERMS = {"vegetarian": 1.0, "vegan": 2.0, "supp_excluded": SUPP_EXCLUDED, "female": FEMALE,
         "log_cutoff": LOG_CUTOFF}


def below(diet: str, cutoff: float, *, excluded: bool = False, female: bool = False) -> float:
    return expit(INTERCEPT + BETA[diet] + LOG_CUTOFF * math.log2(cutoff / 148)
                 + SUPP_EXCLUDED * excluded + FEMALE * female)


def _evidence() -> pd.DataFrame:
    """Studies at ages 20-39 and 60-79 of omnivores, vegetarians and vegans, at two cut-offs,
    some of women and some without supplement users: every term of TERMS has rows."""
    rows = []
    rng = np.random.default_rng(3)
    for i in range(12):
        age = (20, 39) if i % 2 else (60, 79)
        for j, diet in enumerate(("omnivore", "vegetarian", "vegan")):
            for cut in (148.0, 221.0):
                rows.append(_row(
                    i, estimate_id=f"s{i}-{j}-{cut:g}", country_iso3=COUNTRIES["iso3"][i % 6],
                    age_min=age[0], age_max=age[1], diet_group=diet, cutoff_low=cut,
                    sex="female" if i % 3 == 0 else "both",
                    supplement_users="excluded" if i % 4 == 1 else "included",
                    prevalence=float(np.clip(0.1 + 0.05 * j + 0.1 * (cut > 148)
                                             + rng.normal(0, 0.01), 0.02, 0.9)),
                    n=2000))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def hand_made() -> model.Model:
    """A fit of _evidence whose coefficients are then set to TERMS, with no between-study
    variance and a negligible sampling variance: predictions are exactly the formula."""
    fitted = model.fit(_evidence(), COUNTRIES, SHARES)
    terms = fitted.fit.terms
    assert set(TERMS) <= set(terms), terms
    beta = np.array([INTERCEPT if t == "intercept" else TERMS.get(t, 0.0) for t in terms])
    fit = dataclasses.replace(fitted.fit, beta=beta, vcov=np.eye(len(terms)) * 1e-14,
                              sigma2=np.zeros_like(fitted.fit.sigma2))
    return dataclasses.replace(fitted, fit=fit, _effects={"region": {}, "country": {}})


def _population() -> pd.DataFrame:
    """1,000 people in every WPP five-year group of AAA in 2025 (100+ is open)."""
    bands = schema.WPP_AGE_BANDS
    return pd.DataFrame({
        "iso3": "AAA", "year": 2025, "age_band": [b[0] for b in bands],
        "age_min": [b[1] for b in bands],
        "age_max": pd.array([b[2] for b in bands], dtype="Int64"), "population": 1000.0,
        "variant": "medium",
    })


def run(hand_made: model.Model, **over) -> profile.SegmentProfile:
    kwargs = {"iso3": "AAA", "age": (20, 29), "sex": "both", "diet_group": "vegan",
              "supplement_users": "included", "draws": 200} | over
    return profile.segment_profile(hand_made, _population(), SHARES, **kwargs)


def test_status_classes_have_the_closed_form_and_sum_to_one(hand_made):
    p = run(hand_made)
    assert p.estimable
    deficient, marginal = below("vegan", 148), below("vegan", 221) - below("vegan", 148)
    status = p.status.set_index(["population", "status"])
    assert status.loc[("segment", "deficient"), "estimate"] == pytest.approx(deficient)
    assert status.loc[("segment", "marginal"), "estimate"] == pytest.approx(marginal)
    assert status.loc[("segment", "adequate"), "estimate"] == pytest.approx(
        1 - below("vegan", 221))
    for who in ("segment", "general"):
        assert status.loc[who, "estimate"].sum() == pytest.approx(1.0, abs=1e-12)
        for column in ("ci_low", "ci_high", "pi_low", "pi_high"):  # no uncertainty left
            np.testing.assert_allclose(status.loc[who, column], status.loc[who, "estimate"],
                                       atol=1e-5)


def test_general_population_mixes_the_diets_by_share_and_the_ratio_divides(hand_made):
    p = run(hand_made)
    # AAA: 90% omnivores, 8% vegetarians, 2% vegans (tests.test_model.SHARES).
    general = 0.9 * below("omnivore", 148) + 0.08 * below("vegetarian", 148) + 0.02 * below(
        "vegan", 148)
    assert p.value("general", "deficient") == pytest.approx(general)
    ratio = p.comparison.set_index("status").loc["deficient"]
    assert ratio["ratio"] == pytest.approx(below("vegan", 148) / general)
    assert ratio["ratio_low"] == pytest.approx(ratio["ratio"], rel=1e-4)


@pytest.mark.parametrize(
    ("segment_diet", "change", "log_odds_ratio"),
    [
        ("vegan", "Omnivore diet", -2.0),          # exp(0 - 2)
        ("vegan", "Vegetarian diet", -1.0),        # exp(1 - 2)
        ("omnivore", "Vegan diet", 2.0),
        ("omnivore", "Pescatarian diet", 0.0),     # no pescatarian term: the omnivore's
        ("vegetarian", "Supplement users excluded", SUPP_EXCLUDED),
        ("vegetarian", "Supplement users only", 0.0),  # supp_only has no coefficient here
    ],
)
def test_whatif_odds_ratios_are_exp_of_the_coefficient(hand_made, segment_diet, change,
                                                       log_odds_ratio):
    p = run(hand_made, diet_group=segment_diet)
    row = p.whatif.set_index("label").loc[change]
    assert row["odds_ratio"] == pytest.approx(math.exp(log_odds_ratio))
    base = below(segment_diet, 148)
    odds = base / (1 - base) * math.exp(log_odds_ratio)
    assert row["estimate"] == pytest.approx(odds / (1 + odds))
    assert row["difference"] == pytest.approx(odds / (1 + odds) - base)
    assert row["ratio"] == pytest.approx(row["estimate"] / base)


def test_whatif_covers_every_other_diet_and_supplement_use_sorted_by_effect(hand_made):
    whatif = run(hand_made, diet_group="vegetarian").whatif
    assert sorted(whatif["label"]) == sorted([
        "Omnivore diet", "Pescatarian diet", "Vegan diet", "General population diet mix",
        "Supplement users excluded", "Supplement users only"])
    assert whatif["difference"].is_monotonic_decreasing


@pytest.mark.parametrize(
    ("ages", "diet", "people"),
    [
        ((20, 29), "vegan", 2000 * 0.02),          # groups 20-24, 25-29; 2% vegans
        ((22, 26), "general", 1000.0),             # 3/5 of 20-24 + 2/5 of 25-29
        ((95, 100), "omnivore", 2000 * 0.9),       # 95-99 and the open 100+ group
        ((40, 40), "vegetarian", 200 * 0.08),      # one year: 1/5 of 40-44
    ],
)
def test_counts_are_population_times_share_times_prevalence(hand_made, ages, diet, people):
    p = run(hand_made, age=ages, diet_group=diet)
    count = p.count.set_index("status")
    assert count["people"].iloc[0] == pytest.approx(people)
    # The counted group is both sexes with supplement users, so its prevalence is that one.
    assert count.loc["deficient", "cases"] == pytest.approx(
        people * p.value("segment", "deficient"))
    assert count["cases"].sum() == pytest.approx(people)


def test_a_one_sex_segment_is_counted_for_both_sexes_and_says_so(hand_made):
    p = run(hand_made, sex="female", supplement_users="excluded")
    assert p.value("segment", "deficient") == pytest.approx(
        below("vegan", 148, excluded=True, female=True))
    count = p.count.set_index("status")
    # Both sexes, users included: 40 vegans aged 20-29, prevalence without the two terms.
    assert count.loc["deficient", "people"] == pytest.approx(40)
    assert count.loc["deficient", "cases"] == pytest.approx(40 * below("vegan", 148))
    assert "both sexes" in p.count_note
    assert "supplement users and non-users" in p.count_note


def test_a_segment_beyond_the_evidence_shows_the_nearest_estimable_one(hand_made):
    # Evidence ages 20-79; estimable within 10 years, so vegans aged 0-9 are not.
    p = run(hand_made, age=(0, 9))
    assert not p.estimable
    assert p.reasons == ("no estimate of vegans with a reported age range within 10 years "
                         "of 0-9",)
    near = p.nearest
    assert near is not None
    assert near.estimable
    assert (near.segment.diet_group, near.segment.age_min, near.segment.age_max) == (
        "vegan", 5, 14)


def test_a_diet_without_estimates_of_its_own_falls_back_to_the_general_population(hand_made):
    p = run(hand_made, diet_group="pescatarian")
    assert not p.estimable
    assert p.reasons == ("the evidence has no estimates of pescatarians of their own",)
    assert p.nearest.segment.diet_group == "general"
    assert (p.nearest.segment.age_min, p.nearest.segment.age_max) == (20, 29)


def test_headline_reads_one_in_n(hand_made):
    p = run(hand_made, diet_group="omnivore")
    n = round(1 / below("omnivore", 148))  # expit(-2.5) = 7.6%: 1 in 13
    assert p.headline().startswith(f"About 1 in {n} people aged 20-29 in AAA who eat meat")
    assert "below 148 pmol/L (deficient) in 2025" in p.headline()


@pytest.mark.parametrize(("p", "text"), [
    (0.0004, "Fewer than 1 in 1,000"), (0.25, "About 1 in 4"), (0.07, "About 1 in 14"),
    (0.67, "About 7 in 10"), (float("nan"), "An unknown share of"),
])
def test_one_in(p, text):
    assert profile.one_in(p) == text


def test_bad_segments_are_refused(hand_made):
    with pytest.raises(ValueError, match="not a country"):
        run(hand_made, iso3="ZZZ")
    with pytest.raises(ValueError, match="pregnancy applies only to women"):
        run(hand_made, sex="male", pregnancy="trimester_1")
    with pytest.raises(ValueError, match="age_min <= age_max"):
        run(hand_made, age=(30, 20))
    with pytest.raises(ValueError, match="cutoffs"):
        run(hand_made, cutoffs=(221, 148))


# --- the nearest published estimates ------------------------------------------------------------

EVIDENCE = pd.DataFrame([
    # id, country, region, sex, ages, diet -> distance from women aged 20-29 in AAA, vegans
    {"estimate_id": "a", "country_iso3": "AAA", "region": "Ra", "sex": "female",
     "age_min": 20, "age_max": 39, "diet_group": "vegan"},        # 0
    {"estimate_id": "b", "country_iso3": "AAB", "region": "Ra", "sex": "both",
     "age_min": 18, "age_max": 25, "diet_group": "vegan"},        # place 1 + sex 0.5 = 1.5
    {"estimate_id": "c", "country_iso3": "AAA", "region": "Ra", "sex": "male",
     "age_min": 50, "age_max": 59, "diet_group": "general"},      # age 20/10 + 0.5 + 1 = 3.5
    {"estimate_id": "d", "country_iso3": "BBA", "region": "Rb", "sex": "female",
     "age_min": None, "age_max": None, "diet_group": "omnivore"},  # 1.5 + 1 + 2 = 4.5
    {"estimate_id": "e", "country_iso3": "MULTI", "region": None, "sex": "female",
     "age_min": 25, "age_max": None, "diet_group": "vegetarian"},  # 0 + 1 + 2 = 3
]).assign(study_id=lambda f: f["estimate_id"], biomarker="serum_b12", prevalence=0.1, n=100,
          cutoff_low=148.0)


def test_estimate_distance_is_age_plus_diet_plus_place_plus_sex():
    segment = profile.Segment("AAA", 20, 29, "female", "vegan")
    distance = profile.estimate_distance(EVIDENCE, segment, COUNTRIES)
    assert distance.tolist() == [0.0, 1.5, 3.5, 4.5, 3.0]


def test_nearest_estimates_are_the_closest_one_per_study():
    segment = profile.Segment("AAA", 20, 29, "female", "vegan")
    studies = pd.concat([EVIDENCE, EVIDENCE.iloc[[0]].assign(estimate_id="a2", n=5)])
    nearest = profile.nearest_estimates(studies, segment, COUNTRIES, k=3)
    assert nearest["estimate_id"].tolist() == ["a", "b", "e"]  # a2 ties a with a smaller n
    assert list(nearest.columns) == list(profile.EVIDENCE_COLUMNS)


# --- the shipped evidence -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    from dashboard import burden, data

    countries = data.load_countries()
    shares = burden.diet_share_model(data.load_diet_shares(), countries["iso3"].tolist())
    return (model.fit(data.load_studies(), countries, shares), data.load_population(), shares,
            data.load_studies())


def test_a_shipped_profile_has_links_and_adds_up(shipped):
    fitted, population, shares, studies = shipped
    p = profile.segment_profile(fitted, population, shares, studies=studies, iso3="IND",
                                age=(10, 19), sex="both", diet_group="vegetarian",
                                supplement_users="included")
    assert p.estimable
    status = p.status.set_index(["population", "status"])["estimate"]
    assert status["segment"].sum() == pytest.approx(1)
    for who in ("segment", "general"):
        rows = p.status[p.status["population"] == who]
        assert (rows["ci_low"] <= rows["estimate"]).all()
        assert (rows["estimate"] <= rows["ci_high"]).all()
    assert len(p.evidence) == profile.NEAREST_EVIDENCE
    assert p.evidence["study_id"].is_unique
    links = pd.concat([p.evidence["doi_url"], p.evidence["pmid_url"]]).dropna()
    assert len(links) >= 1
    assert links.str.match(r"https://(doi\.org/|pubmed\.ncbi\.nlm\.nih\.gov/)").all()
    assert p.count["people"].iloc[0] > 1e6  # tens of millions of vegetarian adolescents
