"""Tests of the prevalence model on small hand-made tables and on the shipped evidence."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboard import model, stats
from tests.model_tables import COUNTRIES, SHARES, expit


def _row(i: int, **over) -> dict:
    base = {
        "estimate_id": f"s{i}-01", "study_id": f"s{i}", "sample_id": f"s{i}", "parent_id": None,
        "split": None, "repeat_of": None, "country_iso3": "AAA", "sex": "both",
        "age_min": 20, "age_max": 39, "age_mean": None, "diet_group": "omnivore",
        "supplement_users": "included", "pregnancy": "not_pregnant",
        "sample_frame": "community_sample", "biomarker": "serum_b12", "cutoff_operator": "<",
        "cutoff_low": 148.0, "cutoff_high": None, "canonical_unit": "pmol/L",
        "definition": "b12_lt148", "status": "deficient", "usable_for": "pooling",
        "prevalence": 0.05, "n": 4000, "n_effective": None, "population": "adults",
    }
    return {**base, **over}


def _studies(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _known_vegan_effect() -> pd.DataFrame:
    """Twelve studies, each with omnivores and vegans (log-odds ratio 2 exactly), in six
    countries and at two cut-offs, with study-level spread."""
    rows = []
    rng = np.random.default_rng(1)
    for i in range(12):
        iso3 = COUNTRIES["iso3"][i % 6]
        base = -3.0 + rng.normal(0, 0.3)
        for j, (diet, shift) in enumerate((("omnivore", 0.0), ("vegan", 2.0))):
            rows.append(_row(i, estimate_id=f"s{i}-{j}", country_iso3=iso3, diet_group=diet,
                             prevalence=expit(base + shift), n=20000))
    return _studies(rows)


def test_a_known_diet_effect_is_recovered():
    fitted = model.fit(_known_vegan_effect(), COUNTRIES, SHARES)
    coef = fitted.coefficients().set_index("term")
    # The within-study contrast is exactly 2 on the logit scale; n is large, so the
    # estimate is 2 within a few of its standard errors (tiny here).
    assert coef.loc["vegan", "beta"] == pytest.approx(2.0, abs=0.05)
    assert coef.loc["vegan", "odds_ratio"] == pytest.approx(math.exp(coef.loc["vegan", "beta"]))
    assert "pescatarian" in fitted.dropped_terms  # no pescatarian estimate: no term
    assert "vegetarian" in fitted.dropped_terms


def _two_regions() -> pd.DataFrame:
    """Region Ra sits 1.0 above region Rb on the logit scale, each with four studies."""
    rows = []
    for i in range(8):
        iso3 = ["AAA", "AAB", "BBA", "BBB"][i % 4]
        shift = 1.0 if iso3.startswith("A") else 0.0
        noise = (-0.1, 0.1)[i % 2]
        rows.append(_row(i, country_iso3=iso3, prevalence=expit(-3.0 + shift + noise),
                         n=5000))
    return _studies(rows)


def test_an_unobserved_country_gets_the_fixed_part_and_its_region_effect():
    fitted = model.fit(_two_regions(), COUNTRIES, SHARES)
    # CCA is in no fitted region: fixed part only; AAx countries are in region Ra.
    query = pd.DataFrame([
        {"iso3": "CCA", "age_min": 20, "age_max": 39, "sex": "both", "diet_group": "omnivore",
         "supplement_users": "included", "cutoff": 148.0},
    ])
    out = fitted.predict(query, draws=200)
    x = model.design_matrix(model.pd.DataFrame({
        "iso3": ["CCA"], "age": [30.0], "sex": ["both"], "diet_group": ["omnivore"],
        "supplement_users": ["included"], "cutoff": [148.0]}), COUNTRIES, SHARES,
        fitted.terms).to_numpy()[0]
    fixed = float(fitted.fit.beta[0] + x @ fitted.fit.beta[1:])
    assert out["estimate"].iloc[0] == pytest.approx(expit(fixed), rel=1e-9)
    # A country of region Ra that no study covers: fixed part plus Ra's BLUP.
    region = fitted.fit.ranef("region").set_index("id")
    both = fitted.predict(query.assign(iso3="AAA"), draws=200)
    country = fitted.fit.ranef("country").set_index("id")
    u = region.loc["Ra", "blup"] + country.loc["Ra/AAA", "blup"]
    assert both["estimate"].iloc[0] == pytest.approx(expit(fixed + u), rel=1e-9)
    assert region.loc["Ra", "blup"] > region.loc["Rb", "blup"]


def test_the_marginal_band_is_the_difference_of_two_cumulative_predictions():
    rows = _known_vegan_effect()
    extra = rows.assign(estimate_id=rows["estimate_id"] + "h", cutoff_low=221.0,
                        definition="b12_lt221",
                        prevalence=[expit(math.log(p / (1 - p)) + 1.2) for p in rows["prevalence"]])
    fitted = model.fit(pd.concat([rows, extra], ignore_index=True), COUNTRIES, SHARES)
    base = {"iso3": "AAA", "age_min": 20, "age_max": 39, "sex": "both",
            "diet_group": "general", "supplement_users": "included"}
    query = pd.DataFrame([{**base, "cutoff": 148.0}, {**base, "cutoff": 221.0},
                          {**base, "cutoff": 148.0, "cutoff_high": 221.0}])
    point = fitted.predict(query, draws=300)["estimate"].to_numpy()
    assert point[2] == pytest.approx(point[1] - point[0], abs=1e-12)
    draws = fitted.draws(query, draws=300)
    np.testing.assert_allclose(draws[0] + draws[2], draws[1], atol=1e-12)
    # the crosswalk learnt the shift of 1.2 logits from 148 to 221 pmol/L
    slope = fitted.coefficients().set_index("term").loc["log_cutoff", "beta"]
    assert slope * math.log2(221 / 148) == pytest.approx(1.2, abs=0.02)


def test_general_population_mixes_the_diet_groups_by_the_countrys_shares():
    fitted = model.fit(_known_vegan_effect(), COUNTRIES, SHARES)
    base = {"iso3": "AAA", "age_min": 20, "age_max": 39, "sex": "both",
            "supplement_users": "included", "cutoff": 148.0}
    query = pd.DataFrame([{**base, "diet_group": d} for d in
                          ("omnivore", "vegetarian", "vegan", "general")])
    est = fitted.predict(query, draws=100)["estimate"].to_numpy()
    # vegetarians have no term: predicted as omnivores; 0.9 + 0.08 omnivore-like, 0.02 vegan
    assert est[1] == pytest.approx(est[0])
    assert est[3] == pytest.approx((0.9 + 0.08) * est[0] + 0.02 * est[2], rel=1e-9)


def test_intervals_nest_and_draws_are_seeded():
    fitted = model.fit(_two_regions(), COUNTRIES, SHARES)
    query = pd.DataFrame([{"iso3": "BBA", "age_min": 20, "age_max": 39, "sex": "both",
                           "diet_group": "omnivore", "supplement_users": "included",
                           "definition": "b12_lt148"}])
    a = fitted.predict(query, draws=500, seed=3)
    b = fitted.predict(query, draws=500, seed=3)
    pd.testing.assert_frame_equal(a, b)
    r = a.iloc[0]
    assert r["pi_low"] <= r["ci_low"] <= r["estimate"] <= r["ci_high"] <= r["pi_high"]


def test_extrapolation_is_flagged_not_estimable():
    fitted = model.fit(_known_vegan_effect(), COUNTRIES, SHARES)  # ages 20-39 only
    base = {"iso3": "AAA", "sex": "both", "supplement_users": "included", "cutoff": 148.0}
    query = pd.DataFrame([
        {**base, "age_min": 20, "age_max": 39, "diet_group": "vegan"},
        {**base, "age_min": 80, "age_max": None, "diet_group": "vegan"},    # no vegans near 80
        {**base, "age_min": 20, "age_max": 39, "diet_group": "pescatarian"},  # no own estimate
        {**base, "age_min": 20, "age_max": 39, "diet_group": "vegan", "cutoff": 400.0},
    ])
    assert fitted.estimable(query).tolist() == [True, False, False, False]
    support = fitted.support(query)
    assert support["support_country"].iloc[0] == 2  # two of the twelve studies are in AAA
    assert support["support_diet"].iloc[0] == 12


def test_bad_queries_are_refused_with_the_reason():
    fitted = model.fit(_two_regions(), COUNTRIES, SHARES)
    base = {"iso3": "AAA", "age_min": 20, "age_max": 39, "sex": "both",
            "supplement_users": "included"}
    with pytest.raises(ValueError, match="diet_group must be one of"):
        fitted.predict(pd.DataFrame([{**base, "diet_group": "keto", "cutoff": 148.0}]))
    with pytest.raises(ValueError, match="definition or a cutoff"):
        fitted.predict(pd.DataFrame([{**base, "diet_group": "vegan"}]))
    with pytest.raises(ValueError, match="upper cut-off"):
        fitted.predict(pd.DataFrame([{**base, "diet_group": "vegan", "cutoff": 221.0,
                                      "cutoff_high": 148.0}]))
    with pytest.raises(ValueError, match="too few estimates"):
        model.fit(_two_regions().iloc[:2], COUNTRIES, SHARES)


def test_natural_spline_is_linear_beyond_the_boundary_knots():
    ages = np.array([85.0, 95.0, 105.0, 0.0, -10.0, -20.0])
    basis = model.natural_spline_basis(ages)
    # equal steps beyond the knots give equal differences in every column
    np.testing.assert_allclose(basis[1] - basis[0], basis[2] - basis[1], atol=1e-12)
    np.testing.assert_allclose(basis[4] - basis[3], basis[5] - basis[4], atol=1e-12)
    assert basis.shape[1] == len(model.AGE_KNOTS) - 1
    np.testing.assert_allclose(basis[:, 0], ages / 10)


def test_cumulative_rows_add_a_band_to_its_lower_threshold():
    low = _row(1, prevalence=0.10)
    band = _row(1, estimate_id="s1-02", cutoff_operator="between", cutoff_low=148.0,
                cutoff_high=221.0, definition="b12_148_221", status="marginal", prevalence=0.25)
    out = model._cumulative_rows(_studies([low, band]))
    derived = out[out["derived"]].iloc[0]
    assert (derived["cutoff_low"], derived["prevalence"]) == (221.0, pytest.approx(0.35))
    assert derived["estimate_id"] == "s1-01+s1-02"


# --- the shipped evidence ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped():
    from dashboard import burden, data

    countries = data.load_countries()
    shares = burden.diet_share_model(data.load_diet_shares(), countries["iso3"].tolist())
    return model.fit(data.load_studies(), countries, shares), countries


def test_the_shipped_fit_counts_nobody_twice(shipped):
    from dashboard import data, evidence

    fitted, _ = shipped
    studies = data.load_studies()
    rows = fitted.data[~fitted.data["derived"]]
    for _, group in rows.groupby("cutoff"):
        kept = studies[studies["estimate_id"].isin(group["estimate_id"])]
        assert evidence.overlapping_pairs(kept, studies) == []


def test_the_shipped_fit_converges_by_scoring_alone(shipped, monkeypatch):
    # Near the optimum the likelihood is flat to rounding; scoring then steps by the gradient.
    # Before, every step there was refused, and each fit fell back to L-BFGS-B and a polish:
    # about 150 likelihood evaluations where scoring needs about 20.
    from dashboard import metareg

    fitted, _ = shipped
    evaluations = []
    evaluate = metareg._evaluate

    def counted(*args, **kwargs):
        evaluations.append(1)
        return evaluate(*args, **kwargs)

    def refused(*args, **kwargs):
        raise AssertionError("scoring did not converge: L-BFGS-B was called")

    from dashboard import burden, data

    monkeypatch.setattr(metareg, "_evaluate", counted)
    monkeypatch.setattr(metareg.optimize, "minimize", refused)
    countries = data.load_countries()
    shares = burden.diet_share_model(data.load_diet_shares(), countries["iso3"].tolist())
    again = model.fit(data.load_studies(), countries, shares)
    assert 0 < len(evaluations) < 40
    assert again.fit.sigma2 == pytest.approx(fitted.fit.sigma2)


def test_the_shipped_fit_gives_vegans_more_low_status_than_omnivores(shipped):
    fitted, _ = shipped
    coef = fitted.coefficients().set_index("term")
    assert coef.loc["vegan", "beta"] > coef.loc["vegetarian", "beta"] > 0
    assert coef.loc["log_cutoff", "beta"] > 0  # a higher cut-off counts more people
    assert isinstance(fitted.fit, stats.MetaRegression)


def test_countries_differ_and_every_prediction_has_an_interval(shipped):
    fitted, _ = shipped
    query = model.general_population_frame(["USA", "IND"], {"20-39": (20, 39)})
    out = fitted.predict(query, draws=300)
    assert out["estimate"].iloc[1] > 2 * out["estimate"].iloc[0]  # India vs the USA
    assert (out["ci_low"] < out["estimate"]).all()
    assert (out["estimate"] < out["ci_high"]).all()


def test_odds_ratios_read_the_age_spline_as_ten_years_more(shipped):
    fitted, countries = shipped
    ratios = fitted.odds_ratios().set_index("term")
    assert "intercept" not in ratios.index
    assert not any(t.startswith("age_") and t[4:].isdigit() for t in ratios.index)
    coef = fitted.coefficients().set_index("term")["beta"]
    for a in model.AGE_CONTRAST_AGES:
        # the fixed part at a + 10 minus at a, every other covariate equal
        basis = model.natural_spline_basis([a, a + 10])
        diff = sum((basis[1, j] - basis[0, j]) * coef[f"age_{j + 1}"] for j in range(3))
        row = ratios.loc[f"age_{a:g}_{a + 10:g}"]
        assert row["beta"] == pytest.approx(diff, rel=1e-12)
        assert row["or_low"] < row["odds_ratio"] < row["or_high"]
    assert ratios.loc["vegan", "odds_ratio"] == pytest.approx(math.exp(coef["vegan"]))
