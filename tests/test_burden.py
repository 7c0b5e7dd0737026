"""Tests of dashboard.burden: prevalence model, diet shares, burden, summaries, standardisation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

from dashboard import burden, schema
from tests.test_aggregate import make_studies

BANDS = schema.AGE_BAND_LABELS
DIETS = schema.DIET_GROUPS
N_WPP = len(schema.WPP_AGE_BANDS)


def make_model(prevalence: float | dict, *, logit_se: float = 0.0, tau2: float = 0.0,
               default: float = 0.1) -> pd.DataFrame:
    """A prevalence model with every (analysis band, diet) cell; dict keys override cells."""
    rows = []
    for band in BANDS:
        for diet in DIETS:
            if isinstance(prevalence, dict):
                p = prevalence.get((band, diet), prevalence.get(diet, default))
            else:
                p = prevalence
            rows.append({"analysis_band": band, "diet_group": diet, "estimate": p,
                         "logit": float(special.logit(p)), "logit_se": logit_se, "tau2": tau2})
    return pd.DataFrame(rows)


PLACES = {
    "A": {"location_code": 1, "location": "Aland", "iso3": "AAA",
          "location_type": "Country/Area", "region": "Europe", "subregion": "North"},
    "B": {"location_code": 2, "location": "Bland", "iso3": "BBB",
          "location_type": "Country/Area", "region": "Europe", "subregion": "South"},
    "W": {"location_code": 900, "location": "World", "iso3": None, "location_type": "World",
          "region": None, "subregion": None},
    "E": {"location_code": 908, "location": "Europe", "iso3": None, "location_type": "Region",
          "region": None, "subregion": None},
}


def make_population(per_band: dict[str, float | list[float]],
                    years: tuple[int, ...] = (2025,)) -> pd.DataFrame:
    """WPP-shaped population: per place a constant or 21 band counts, for each year."""
    rows = []
    for key, pop in per_band.items():
        counts = pop if isinstance(pop, list) else [pop] * N_WPP
        for year in years:
            for (label, lo, hi), count in zip(schema.WPP_AGE_BANDS, counts, strict=True):
                rows.append({**PLACES[key], "parent_code": 0, "variant": "medium",
                             "year": year, "age_band": label, "age_min": lo, "age_max": hi,
                             "population": float(count)})
    frame = pd.DataFrame(rows)
    for column in ("location", "iso3", "location_type", "region", "subregion"):
        frame[column] = frame[column].astype("category")
    return frame


def make_shares(**countries: dict[str, float]) -> pd.DataFrame:
    """A share model: omnivores take the remainder of the given groups."""
    rows = []
    for iso3, given in countries.items():
        full = {"pescatarian": 0.0, "vegetarian": 0.0, "vegan": 0.0, **given}
        full["omnivore"] = 1 - sum(full.values())
        rows += [{"country_iso3": iso3, "diet_group": d, "share": full[d]} for d in DIETS]
    return pd.DataFrame(rows)


# --- estimate_burden -------------------------------------------------------------------------


def test_burden_is_population_times_share_times_prevalence() -> None:
    population = make_population({"A": 1000})
    shares = make_shares(AAA={"vegan": 0.1})
    model = make_model({"vegan": 0.2, "omnivore": 0.05})
    out = burden.estimate_burden(population, shares, model, locations=["AAA"], years=[2025])
    assert len(out) == N_WPP * len(DIETS)
    vegan = out[out["diet_group"] == "vegan"]
    # 1000 people x share 0.1 x prevalence 0.2 = 20 per five-year band, no uncertainty
    assert vegan["cases"].to_numpy() == pytest.approx(np.full(N_WPP, 20.0))
    assert vegan["cases_low"].to_numpy() == pytest.approx(np.full(N_WPP, 20.0))
    assert vegan["cases_high"].to_numpy() == pytest.approx(np.full(N_WPP, 20.0))
    omni = out[out["diet_group"] == "omnivore"]
    # 1000 x 0.9 x 0.05 = 45
    assert omni["cases"].to_numpy() == pytest.approx(np.full(N_WPP, 45.0))
    assert list(out.columns[:13]) == [
        "location_code", "location", "iso3", "year", "age_band", "analysis_band",
        "diet_group", "population", "share", "prevalence", "prevalence_low", "prevalence_high",
        "cases",
    ]
    assert out.loc[out["age_band"] == "60-64", "analysis_band"].iloc[0] == "60-79"
    assert out.loc[out["age_band"] == "100+", "analysis_band"].iloc[0] == "80+"
    assert out.loc[out["age_band"] == "15-19", "analysis_band"].iloc[0] == "0-19"


def test_burden_uses_each_analysis_band() -> None:
    population = make_population({"A": 1000})
    shares = make_shares(AAA={})
    model = make_model({(b, "omnivore"): 0.1 * (i + 1) for i, b in enumerate(BANDS)})
    out = burden.estimate_burden(population, shares, model, locations=[1], years=[2025])
    summary = burden.summarize_burden(out, by=("analysis_band",))
    # bands hold 4, 4, 4, 4 and 5 WPP bands of 1000 omnivores: cases 400, 800, 1200, 1600, 2500
    assert summary["cases"].to_numpy() == pytest.approx([400, 800, 1200, 1600, 2500])
    assert summary["population"].to_numpy() == pytest.approx([4000, 4000, 4000, 4000, 5000])


def test_burden_aggregate_takes_population_weighted_shares() -> None:
    population = make_population({"A": 1000, "B": 3000, "W": 4000, "E": 4000})
    shares = make_shares(AAA={"vegan": 0.1}, BBB={"vegan": 0.02})
    model = make_model({"vegan": 0.5, "omnivore": 0.1})
    out = burden.estimate_burden(population, shares, model, locations=["World", "Europe"],
                                 years=[2025])
    vegan = out[(out["diet_group"] == "vegan") & (out["age_band"] == "0-4")]
    # (21000 x 0.1 + 63000 x 0.02) / 84000 = 0.04 -> 4000 x 0.04 x 0.5 = 80 cases
    assert vegan["share"].to_numpy() == pytest.approx([0.04, 0.04])
    assert vegan["cases"].to_numpy() == pytest.approx([80.0, 80.0])
    # Summing the two countries gives the same: 1000 x 0.1 x 0.5 + 3000 x 0.02 x 0.5 = 80
    countries = burden.estimate_burden(population, shares, model, locations=["AAA", "BBB"],
                                       years=[2025])
    both = countries[(countries["diet_group"] == "vegan") & (countries["age_band"] == "0-4")]
    assert both["cases"].sum() == pytest.approx(80.0)


def test_burden_draws_are_seeded_and_intervals_contain_the_point() -> None:
    population = make_population({"A": 1000, "B": 500}, years=(2025, 2050))
    shares = make_shares(AAA={"vegan": 0.1, "vegetarian": 0.05}, BBB={"vegan": 0.01})
    model = make_model({"vegan": 0.3, "omnivore": 0.05}, logit_se=0.2, tau2=0.3)
    kwargs = {"locations": ["AAA", "BBB"], "years": [2025, 2050], "draws": 400}
    first = burden.estimate_burden(population, shares, model, **kwargs)
    again = burden.estimate_burden(population, shares, model, **kwargs)
    other = burden.estimate_burden(population, shares, model, seed=7, **kwargs)
    pd.testing.assert_frame_equal(first, again)
    assert first.attrs["prevalence_draws"] == again.attrs["prevalence_draws"]
    assert not np.allclose(first["cases_high"], other["cases_high"])
    assert (first["cases_low"] <= first["cases"]).all()
    assert (first["cases"] <= first["cases_high"]).all()
    some = first["share"] > 0
    assert (first.loc[some, "cases_low"] < first.loc[some, "cases_high"]).all()
    summary = burden.summarize_burden(first)
    assert (summary["cases_low"] < summary["cases"]).all()
    assert (summary["cases"] < summary["cases_high"]).all()


def test_burden_draws_use_prediction_variance() -> None:
    population = make_population({"A": 1000})
    shares = make_shares(AAA={})
    model = make_model(0.2, logit_se=0.1, tau2=0.2)
    out = burden.estimate_burden(population, shares, model, locations=["AAA"], years=[2025],
                                 draws=20000)
    cells = out.drop_duplicates(["analysis_band", "diet_group"])
    # 95% of expit(logit(0.2) +/- 1.959964 sqrt(0.2 + 0.01)) = expit(-1.386294 -/+ 0.898171)
    # = 0.09242, 0.38034. Each of the 20 cells has its own Monte Carlo quantiles (SE about
    # 0.002 with 20000 draws); their mean is within 0.002 of the exact value.
    assert cells["prevalence_low"].mean() == pytest.approx(0.09242, abs=0.002)
    assert cells["prevalence_high"].mean() == pytest.approx(0.38034, abs=0.002)
    # with se alone (no tau2) the interval would end at expit(-1.386294 + 0.195996) = 0.2332
    assert cells["prevalence_high"].min() > 0.3
    assert cells["prevalence"].to_numpy() == pytest.approx(np.full(20, 0.2))


def test_summary_sums_draws_not_bounds() -> None:
    population = make_population({"A": 1000})
    shares = make_shares(AAA={"vegan": 0.5})
    model = make_model({"vegan": 0.3, "omnivore": 0.1}, logit_se=0.3, tau2=0.5)
    out = burden.estimate_burden(population, shares, model, locations=["AAA"], years=[2025],
                                 draws=500, seed=11)
    summary = burden.summarize_burden(out, by=("location",))
    # From first principles: the same standard normals, cell by cell, summed per draw.
    z = np.random.default_rng(11).standard_normal((len(BANDS) * len(DIETS), 500))
    logit = np.array([special.logit(0.1), special.logit(0.1), special.logit(0.1),
                      special.logit(0.3)] * len(BANDS))
    draws = special.expit(logit[:, None] + math.sqrt(0.5 + 0.09) * z)
    people = np.zeros(len(BANDS) * len(DIETS))
    for i, band in enumerate(BANDS):
        n_wpp = 5 if band == "80+" else 4
        people[i * 4:(i + 1) * 4] = n_wpp * 1000 * np.array([0.5, 0.0, 0.0, 0.5])
    sums = people @ draws
    low, high = np.quantile(sums, [0.025, 0.975])
    assert summary["cases_low"].iloc[0] == pytest.approx(low)
    assert summary["cases_high"].iloc[0] == pytest.approx(high)
    # Adding the rows' bounds would claim a much wider interval.
    assert out["cases_high"].sum() > high
    assert out["cases_low"].sum() < low
    assert summary["cases"].iloc[0] == pytest.approx(out["cases"].sum())
    # 21000 people: prevalence = cases / people
    assert summary["population"].iloc[0] == pytest.approx(21000)
    assert summary["prevalence"].iloc[0] == pytest.approx(out["cases"].sum() / 21000)


def test_summary_survives_filtering_and_concatenation() -> None:
    population = make_population({"A": 1000}, years=(2025, 2050))
    shares = make_shares(AAA={"vegan": 0.1})
    model = make_model(0.2, logit_se=0.2)
    out = burden.estimate_burden(population, shares, model, locations=["AAA"],
                                 years=[2025, 2050], draws=200)
    subset = out[out["year"] == 2025]
    assert len(burden.summarize_burden(subset, by=("year",))) == 1
    doubled = pd.concat([subset, out[out["year"] == 2050]])
    by_year = burden.summarize_burden(doubled, by=("year",))
    assert list(by_year["year"]) == [2025, 2050]
    bare = out.copy()
    bare.attrs = {}
    with pytest.raises(ValueError, match="no prevalence draws"):
        burden.summarize_burden(bare)
    assert len(burden.summarize_burden(bare, draws=out.attrs["prevalence_draws"])) == 2


@pytest.mark.parametrize(
    ("diet", "expected"),
    [
        # coverage 0.5 x effect 0.4 = 20% fewer cases: prevalence 0.2 x 0.8 = 0.16 in vegans
        ("vegan", {"vegan": 0.16, "omnivore": 0.2}),
        (None, {"vegan": 0.16, "omnivore": 0.16}),
    ],
)
def test_supplementation_scales_prevalence(diet: str | None, expected: dict) -> None:
    population = make_population({"A": 1000})
    shares = make_shares(AAA={"vegan": 0.1})
    model = make_model(0.2, logit_se=0.2)
    base = burden.estimate_burden(population, shares, model, locations=["AAA"], years=[2025])
    out = burden.estimate_burden(
        population, shares, model, locations=["AAA"], years=[2025],
        supplementation={"diet_group": diet, "coverage": 0.5, "effect": 0.4},
    )
    for group, p in expected.items():
        rows = out["diet_group"] == group
        assert out.loc[rows, "prevalence"].to_numpy() == pytest.approx(np.full(N_WPP, p))
        ratio = p / 0.2
        assert out.loc[rows, "cases_high"].to_numpy() == pytest.approx(
            base.loc[rows, "cases_high"].to_numpy() * ratio)
    default = burden.estimate_burden(population, shares, model, locations=["AAA"],
                                     years=[2025], supplementation=None)
    pd.testing.assert_frame_equal(default, base)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"locations": ["Atlantis"]}, "unknown locations: 'Atlantis'"),
        ({"locations": [999]}, "unknown locations: 999"),
        ({"years": [1900]}, "no complete population by age for: Aland 1900"),
        ({"draws": 1}, "draws must be at least 2"),
        ({"level": 1.5}, "level"),
        ({"supplementation": {"diet_group": "keto", "coverage": 0.5, "effect": 0.5}},
         "unknown supplementation diet_group 'keto'"),
        ({"supplementation": {"coverage": 1.5, "effect": 0.5}}, "coverage must lie in"),
        ({"supplementation": {"coverage": 0.5, "effect": -0.1}}, "effect must lie in"),
        ({"supplementation": {"coverage": 0.5, "dose": 2}}, "unknown supplementation keys"),
    ],
)
def test_burden_rejects_bad_input(kwargs: dict, message: str) -> None:
    population = make_population({"A": 1000})
    shares = make_shares(AAA={"vegan": 0.1})
    args = {"locations": ["AAA"], "years": [2025], **kwargs}
    with pytest.raises(ValueError, match=message):
        burden.estimate_burden(population, shares, make_model(0.2), **args)


def test_burden_rejects_incomplete_models_and_shares() -> None:
    population = make_population({"A": 1000, "B": 1000, "W": 2000})
    shares = make_shares(AAA={"vegan": 0.1})
    model = make_model(0.2)
    with pytest.raises(ValueError, match="lacks the cells: 80\\+ vegan"):
        burden.estimate_burden(population, shares, model.iloc[:-1], locations=["AAA"],
                               years=[2025])
    with pytest.raises(ValueError, match="no row for BBB"):
        burden.estimate_burden(population, shares, model, locations=["World"], years=[2025])
    bad = shares.assign(share=shares["share"] * 2)
    with pytest.raises(ValueError, match="sum to 1"):
        burden.estimate_burden(population, bad, model, locations=["AAA"], years=[2025])


# --- prevalence_model ------------------------------------------------------------------------

FALLBACK_ROWS = (
    {"study_id": "v", "diet_group": "vegan", "age_band": "20-39", "cases": 30, "n": 100},
    {"study_id": "o", "diet_group": "omnivore", "age_band": "20-39", "cases": 5, "n": 100},
    {"study_id": "g", "diet_group": "general", "age_band": "60-79", "cases": 10, "n": 100},
    # another definition and a display row: never used
    {"study_id": "x", "diet_group": "vegetarian", "age_band": "60-79", "cases": 90, "n": 100,
     "definition": "b12_lt221", "status": "low_or_marginal"},
    {"study_id": "y", "diet_group": "vegetarian", "age_band": "20-39", "cases": None,
     "n": None, "usable_for": "display"},
)


def _cell(model: pd.DataFrame, band: str, diet: str) -> pd.Series:
    return model[(model["analysis_band"] == band) & (model["diet_group"] == diet)].iloc[0]


@pytest.mark.parametrize(
    ("band", "diet", "basis", "estimate", "k"),
    [
        ("20-39", "vegan", "age_diet", 0.30, 1),
        ("60-79", "vegan", "diet_all_ages", 0.30, 1),  # vegans of all ages
        ("20-39", "omnivore", "age_diet", 0.05, 1),
        ("60-79", "omnivore", "general_age", 0.10, 1),  # same-age general population first
        ("60-79", "pescatarian", "omnivore_proxy", 0.10, 1),  # follows the omnivore cell
        ("80+", "omnivore", "diet_all_ages", 0.05, 1),  # no general row aged 80+: all ages
        ("20-39", "pescatarian", "omnivore_proxy", 0.05, 1),
        ("0-19", "vegetarian", "all_rows", None, 3),  # no vegetarian row: all three rows
    ],
)
def test_prevalence_model_fallbacks(band: str, diet: str, basis: str,
                                    estimate: float | None, k: int) -> None:
    model = burden.prevalence_model(make_studies(*FALLBACK_ROWS), "b12_lt148", "deficient")
    assert len(model) == len(BANDS) * len(DIETS)
    row = _cell(model, band, diet)
    assert row["basis"] == basis
    assert row["k"] == k
    if estimate is not None:
        assert row["estimate"] == pytest.approx(estimate)
        # one study: logit(p) and se sqrt(1/x + 1/(n-x)), no heterogeneity
        assert row["logit"] == pytest.approx(special.logit(estimate))
        assert row["tau2"] == 0
    assert row["source"].endswith(f"(k={k})")


def test_prevalence_model_uses_general_population_without_omnivore_studies() -> None:
    rows = [r for r in FALLBACK_ROWS if r["study_id"] != "o"]
    model = burden.prevalence_model(make_studies(*rows), "b12_lt148", "deficient")
    older = _cell(model, "60-79", "omnivore")
    assert older["basis"] == "general_age"
    assert older["estimate"] == pytest.approx(0.10)
    # no general row aged 20-39 either: all rows of the definition (k = 2)
    assert _cell(model, "20-39", "omnivore")["basis"] == "all_rows"
    pesc = _cell(model, "60-79", "pescatarian")
    assert pesc["basis"] == "omnivore_proxy"
    assert pesc["estimate"] == pytest.approx(0.10)
    assert "general population aged 60-79" in pesc["source"]
    # Vegans never borrow the general population.
    assert _cell(model, "60-79", "vegan")["basis"] == "diet_all_ages"


@pytest.mark.parametrize(
    ("definition", "status", "message"),
    [
        ("b12_lt999", "deficient", "unknown definition 'b12_lt999'"),
        ("b12_lt148", "low", "unknown status 'low'"),
        ("b12_lt148", "marginal", "no poolable study rows for definition 'b12_lt148'"),
    ],
)
def test_prevalence_model_rejects_bad_input(definition: str, status: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        burden.prevalence_model(make_studies(*FALLBACK_ROWS), definition, status)


# --- diet_share_model ------------------------------------------------------------------------


def share_rows(*rows: tuple) -> pd.DataFrame:
    """Rows (iso3, year, diet_group, share, method_class, source) of the diet shares dataset."""
    frame = pd.DataFrame(rows, columns=["country_iso3", "year", "diet_group", "share",
                                        "method_class", "source"])
    frame["population_basis"] = "adults"
    frame["url_or_doi"] = "https://example.org/" + frame["source"]
    return frame


HEALTH = burden.HEALTH_SURVEY_CLASS
POLL = "poll or panel"
SHARES = share_rows(
    # AAA: an older health survey (incl - vegan) beats a newer poll
    ("AAA", 2010, "vegetarian_incl_vegan", 0.05, HEALTH, "hs"),
    ("AAA", 2010, "vegan", 0.01, HEALTH, "hs"),
    ("AAA", 2020, "vegetarian_excl_vegan", 0.10, POLL, "poll"),
    ("AAA", 2020, "vegan", 0.05, POLL, "poll"),
    # BBB: a health survey with vegetarians and vegans reported separately
    ("BBB", 2015, "vegetarian_excl_vegan", 0.02, HEALTH, "hs2"),
    ("BBB", 2015, "vegan", 0.03, HEALTH, "hs2"),
    ("BBB", 2015, "pescatarian", 0.02, HEALTH, "hs2"),
    # CCC: a poll giving only vegetarians including vegans
    ("CCC", 2018, "vegetarian_incl_vegan", 0.08, POLL, "poll3"),
)


def test_diet_share_model_picks_and_derives_shares() -> None:
    out = burden.diet_share_model(SHARES, ["AAA", "BBB", "CCC", "ZZZ"])
    share = out.set_index(["country_iso3", "diet_group"])["share"]
    basis = out.set_index(["country_iso3", "diet_group"])["basis"]
    # AAA: health survey 2010 wins: vegetarian = 0.05 - 0.01 = 0.04, vegan 0.01
    assert share["AAA", "vegetarian"] == pytest.approx(0.04)
    assert share["AAA", "vegan"] == pytest.approx(0.01)
    assert basis["AAA", "vegan"] == "survey: hs, 2010"
    # Defaults: vegan fraction = median(0.01/0.05, 0.05/0.15, 0.03/0.05)
    # = median(0.2, 0.333, 0.6) = 1/3; vegetarian total incl. vegans = median over the health
    # surveys (AAA 0.04 + 0.01, BBB 0.02 + 0.03) = 0.05, split: vegetarian 0.05 x 2/3,
    # vegan 0.05 x 1/3; pescatarian = median(0.02) = 0.02
    assert share["AAA", "pescatarian"] == pytest.approx(0.02)
    assert basis["AAA", "pescatarian"].startswith("default: median of 1 measured pescatarian")
    # AAA omnivores: 1 - 0.04 - 0.01 - 0.02 = 0.93
    assert share["AAA", "omnivore"] == pytest.approx(0.93)
    assert share["BBB", "pescatarian"] == pytest.approx(0.02)
    assert basis["BBB", "pescatarian"] == "survey: hs2, 2015"
    # CCC: 0.08 split with vegan fraction 1/3: vegan 0.02667, vegetarian 0.05333
    assert share["CCC", "vegan"] == pytest.approx(0.08 / 3)
    assert share["CCC", "vegetarian"] == pytest.approx(0.08 * 2 / 3)
    assert "split with default vegan fraction 0.33" in basis["CCC", "vegan"]
    # ZZZ: no survey at all -> every non-omnivore group is a default
    assert share["ZZZ", "vegetarian"] == pytest.approx(0.05 * 2 / 3)
    assert share["ZZZ", "vegan"] == pytest.approx(0.05 / 3)
    assert basis["ZZZ", "vegetarian"].startswith(
        "default: median vegetarian share incl. vegans of 2 countries' health/nutrition "
        "surveys (AAA, BBB: 5.00%), split with the median vegan fraction 0.33"
    )
    assert out.loc[out["country_iso3"] == "ZZZ", "is_default"].sum() == 3
    totals = out.groupby("country_iso3")["share"].sum()
    assert totals.to_numpy() == pytest.approx(np.ones(4))


def test_diet_share_model_averages_figures_by_sex() -> None:
    shares = pd.concat([SHARES, share_rows(
        ("DDD", 2021, "vegetarian_incl_vegan", 0.10, HEALTH, "nfhs"),
        ("DDD", 2021, "vegetarian_incl_vegan", 0.20, HEALTH, "nfhs"),
    )])
    out = burden.diet_share_model(shares, ["DDD"]).set_index("diet_group")
    # (0.10 + 0.20) / 2 = 0.15 including vegans
    assert out.loc["vegetarian", "share"] + out.loc["vegan", "share"] == pytest.approx(0.15)
    assert "mean of 2 figures" in out.loc["vegan", "basis"]


@pytest.mark.parametrize(
    ("overrides", "diet", "expected"),
    [
        # AAA vegan 0.01 doubles to 0.02; omnivores drop by the same 0.01 to 0.92
        ({"vegan": 2.0}, "vegan", 0.02),
        ({"vegan": 0.0}, "vegan", 0.0),
        ({"vegetarian": 1.5}, "vegetarian", 0.06),
    ],
)
def test_diet_share_overrides_move_omnivores(overrides: dict, diet: str,
                                             expected: float) -> None:
    base = burden.diet_share_model(SHARES, ["AAA"]).set_index("diet_group")
    out = burden.diet_share_model(SHARES, ["AAA"], overrides=overrides).set_index("diet_group")
    assert out.loc[diet, "share"] == pytest.approx(expected)
    change = out.loc[diet, "share"] - base.loc[diet, "share"]
    assert out.loc["omnivore", "share"] == pytest.approx(base.loc["omnivore", "share"] - change)
    assert out["share"].sum() == pytest.approx(1.0)
    assert "(scenario: x" in out.loc[diet, "basis"]
    assert out.loc[diet, "scenario_factor"] == overrides[diet]


@pytest.mark.parametrize(
    ("frame", "locations", "overrides", "message"),
    [
        (SHARES, ["AAA"], {"vegan": 200.0}, "diet shares for AAA exceed 1"),
        (SHARES, ["AAA"], {"omnivore": 2.0}, "cannot change omnivores"),
        (SHARES, ["AAA"], {"keto": 2.0}, "unknown diet group in overrides: 'keto'"),
        (SHARES, ["AAA"], {"vegan": -1}, "finite factor >= 0"),
        (SHARES, ["Germany"], None, "ISO3 codes"),
        (share_rows(("AAA", 2010, "vegan", 1.5, HEALTH, "x")), ["AAA"], None,
         "fractions in \\[0, 1\\].*AAA 2010 vegan=1.5"),
        (share_rows(("AAA", 2010, "carnivore", 0.5, HEALTH, "x")), ["AAA"], None,
         "unknown diet_group carnivore"),
        (share_rows(("AAA", 2010, "vegetarian_incl_vegan", 0.01, HEALTH, "x"),
                    ("AAA", 2010, "vegan", 0.02, HEALTH, "x")), ["AAA"], None,
         "vegan share 0.02 exceeds"),
    ],
)
def test_diet_share_model_rejects_bad_input(frame: pd.DataFrame, locations: list,
                                            overrides: dict | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        burden.diet_share_model(frame, locations, overrides=overrides)


def test_health_survey_class_is_a_schema_class() -> None:
    assert burden.HEALTH_SURVEY_CLASS in schema.METHOD_CLASSES


# --- age_standardized_prevalence -------------------------------------------------------------

TWO_GROUP_STANDARD = pd.DataFrame({
    "standard": ["two", "two"], "age_min": [0, 60], "age_max": [59, None], "weight": [3.0, 1.0],
})


def test_age_standardization_by_hand() -> None:
    # 1000 people in each five-year band below 60 (12 bands), 100 in each from 60 (9 bands)
    population = make_population({"A": [1000.0] * 12 + [100.0] * 9})
    shares = make_shares(AAA={})
    model = make_model({(b, "omnivore"): (0.1 if i < 3 else 0.3) for i, b in enumerate(BANDS)})
    out = burden.estimate_burden(population, shares, model, locations=["AAA"], years=[2025])
    result = burden.age_standardized_prevalence(out, TWO_GROUP_STANDARD, "two")
    row = result.iloc[0]
    # standardised: (3 x 0.1 + 1 x 0.3) / 4 = 0.15
    assert row["age_standardized"] == pytest.approx(0.15)
    # crude: (12000 x 0.1 + 900 x 0.3) / 12900 = 1470 / 12900
    assert row["crude"] == pytest.approx(1470 / 12900)
    assert row["population"] == pytest.approx(12900)
    # no uncertainty in the model: the intervals collapse onto the point
    assert row["age_standardized_low"] == pytest.approx(0.15)
    assert row["crude_high"] == pytest.approx(1470 / 12900)


@pytest.mark.parametrize("standard", ["who_2000_2025", "esp_2013", "us_2000", "segi_1960"])
def test_age_standardization_of_a_flat_rate_is_that_rate(standard: str) -> None:
    # With the same prevalence at every age any standard gives it back; the top groups
    # (85+, 95+, 100+) must gather WPP's top bands without losing or doubling weight.
    standards = pd.read_csv(schema.SOURCES_DIR / "reference" / "standard_populations.csv")
    population = make_population({"A": [float(1000 + 50 * i) for i in range(N_WPP)]})
    shares = make_shares(AAA={"vegan": 0.2})
    model = make_model(0.25, logit_se=0.3, tau2=0.1)
    out = burden.estimate_burden(population, shares, model, locations=["AAA"], years=[2025],
                                 draws=300)
    row = burden.age_standardized_prevalence(out, standards, standard).iloc[0]
    assert row["age_standardized"] == pytest.approx(0.25)
    assert row["crude"] == pytest.approx(0.25)
    assert row["age_standardized_low"] < 0.25 < row["age_standardized_high"]
    assert row["standard_label"] == schema.STANDARD_POPULATIONS[standard]


def test_age_standardization_weights_top_group_by_population() -> None:
    # 85+ gathers 85-89 ... 100+ (4 WPP bands, all in the 80+ analysis band), so with one
    # diet the rate is the same whatever the split; check the weights instead.
    standard = pd.DataFrame({"standard": ["s"] * 2, "age_min": [0, 85], "age_max": [84, None],
                             "weight": [9.0, 1.0]})
    weights, groups = burden._standard_weights(standard, "s")
    assert weights.sum() == pytest.approx(1.0)
    assert list(groups[-4:]) == [1, 1, 1, 1]
    # 0.9 spread over the 17 bands of 0-84, 0.1 over the 4 bands of 85+
    assert weights[0] == pytest.approx(0.9 / 17)
    assert weights[-1] == pytest.approx(0.1 / 4)


@pytest.mark.parametrize(
    ("standard", "name", "message"),
    [
        (TWO_GROUP_STANDARD, "who", "unknown standard 'who'"),
        (pd.DataFrame({"standard": ["x"] * 2, "age_min": [0, 62], "age_max": [61, None],
                       "weight": [1.0, 1.0]}), "x", "do not align"),
        (pd.DataFrame({"standard": ["x"] * 2, "age_min": [0, 60], "age_max": [50, None],
                       "weight": [1.0, 1.0]}), "x", "without gaps"),
    ],
)
def test_age_standardization_rejects_bad_standards(standard: pd.DataFrame, name: str,
                                                   message: str) -> None:
    population = make_population({"A": 1000})
    out = burden.estimate_burden(population, make_shares(AAA={}), make_model(0.2),
                                 locations=["AAA"], years=[2025])
    with pytest.raises(ValueError, match=message):
        burden.age_standardized_prevalence(out, standard, name)


def test_age_standardization_needs_whole_locations() -> None:
    population = make_population({"A": 1000})
    out = burden.estimate_burden(population, make_shares(AAA={"vegan": 0.1}), make_model(0.2),
                                 locations=["AAA"], years=[2025])
    with pytest.raises(ValueError, match="every WPP age band and every diet group"):
        burden.age_standardized_prevalence(out[out["diet_group"] != "vegan"],
                                           TWO_GROUP_STANDARD, "two")
    with pytest.raises(ValueError, match="year 2030 is not in the burden frame"):
        burden.age_standardized_prevalence(out, TWO_GROUP_STANDARD, "two", year=2030)
    with pytest.raises(ValueError, match="locations not in the burden frame"):
        burden.age_standardized_prevalence(out, TWO_GROUP_STANDARD, "two", locations=["BBB"])


# --- the real built data ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> dict[str, pd.DataFrame]:
    if not (schema.DATA_DIR / schema.MANIFEST_NAME).exists():
        pytest.skip("data/manifest.json is absent: run `make data` to build the datasets")
    from dashboard import data

    return {
        "studies": data.load_studies(),
        "population": data.load_population(),
        "diet_shares": data.load_diet_shares(),
        "standards": data.load_standard_populations(),
    }


def _countries(population: pd.DataFrame) -> list[str]:
    countries = population["location_type"] == "Country/Area"
    return sorted(population.loc[countries, "iso3"].dropna().astype(str).unique())


def test_real_every_country_gets_shares_with_a_basis(real: dict) -> None:
    iso3 = _countries(real["population"])
    shares = burden.diet_share_model(real["diet_shares"], iso3)
    assert len(shares) == len(iso3) * len(DIETS)
    assert shares["basis"].str.len().gt(0).all()
    totals = shares.groupby("country_iso3")["share"].sum()
    assert totals.to_numpy() == pytest.approx(np.ones(len(iso3)))
    assert shares["share"].between(0, 1).all()


def test_real_world_burden_is_positive_and_finite(real: dict) -> None:
    model = burden.prevalence_model(real["studies"], schema.DEFAULT_DEFINITION,
                                    schema.DEFAULT_STATUS)
    assert set(model["basis"]) <= {"age_diet", "diet_all_ages", "general_age", "all_rows",
                                   "omnivore_proxy"}
    iso3 = _countries(real["population"])
    shares = burden.diet_share_model(real["diet_shares"], iso3)
    world = burden.estimate_burden(real["population"], shares, model, locations=["World"],
                                   years=[2025], draws=200)
    total = burden.summarize_burden(world).iloc[0]
    assert np.isfinite(total[["cases", "cases_low", "cases_high"]].astype(float)).all()
    assert 0 < total["cases_low"] < total["cases"] < total["cases_high"] < total["population"]
    std = burden.age_standardized_prevalence(world, real["standards"], "who_2000_2025")
    assert 0 < std["age_standardized"].iloc[0] < 1


@pytest.mark.parametrize("region", list(schema.SDG_REGIONS))
def test_real_sdg_regions_sum_their_member_countries(real: dict, region: str) -> None:
    """An SDG region is modelled on WPP's own population for it, with its member countries'
    diet shares; the members' populations add up to that total (WPP rounds to thousands)."""
    model = burden.prevalence_model(real["studies"], schema.DEFAULT_DEFINITION,
                                    schema.DEFAULT_STATUS)
    shares = burden.diet_share_model(real["diet_shares"], _countries(real["population"]))
    out = burden.estimate_burden(real["population"], shares, model, locations=[region],
                                 years=[2025], draws=50)
    pop = real["population"]
    own = pop.loc[(pop["location"] == region) & (pop["location_type"] == "SDG region")
                  & (pop["year"] == 2025), "population"].sum()
    assert burden.summarize_burden(out)["population"].iloc[0] == pytest.approx(own)
    members = burden._members(pop[pop["year"] == 2025],
                              pop[(pop["location"] == region) & (pop["year"] == 2025)
                                  & (pop["location_type"] == "SDG region")].head(1))
    (codes,) = members.values()
    in_members = pop["location_code"].isin(codes) & (pop["year"] == 2025)
    assert pop.loc[in_members, "population"].sum() == pytest.approx(own, rel=1e-3)


# --- locations and view summaries ------------------------------------------------------------


def test_locations_table_has_one_row_per_location() -> None:
    table = burden.locations_table(make_population({"A": 1000, "W": 1000}, years=(2025, 2050)))
    # 2 places x 2 years x 21 bands collapse to one row per location
    expected = pd.DataFrame({
        "location_code": [1, 900], "location": ["Aland", "World"], "iso3": ["AAA", np.nan],
        "location_type": ["Country/Area", "World"],
    }, dtype=object).astype({"location_code": "int64"})
    pd.testing.assert_frame_equal(table.reset_index(drop=True), expected)
    assert burden.country_names(table) == {"AAA": "Aland"}
    assert burden.country_codes(table) == ["AAA"]


def test_country_codes_are_sorted_countries_only() -> None:
    table = burden.locations_table(make_population({"B": 1, "W": 1, "A": 1, "E": 1}))
    assert burden.country_codes(table) == ["AAA", "BBB"]
    assert burden.country_names(table) == {"BBB": "Bland", "AAA": "Aland"}


LOCATIONS = pd.DataFrame({
    "location_code": [1, 900, 1503],
    "location": ["Aland", "World", "High-income countries"],
    "iso3": ["AAA", None, None],
    "location_type": ["Country/Area", "World", "Income Group"],
})


@pytest.mark.parametrize(
    ("chosen", "covered", "refused"),
    [
        (("World", "AAA"), ["World", "AAA"], []),
        (("Aland",), ["Aland"], []),
        (("High-income countries",), [],
         ["High-income countries (a WPP Income Group: the model covers the World, WPP "
          "regions, subregions, SDG regions and countries)"]),
        (("Atlantis", "World"), ["World"], ["Atlantis (no UN WPP 2022 population)"]),
        ((), [], []),
    ],
)
def test_split_locations(chosen: tuple, covered: list, refused: list) -> None:
    assert burden.split_locations(chosen, LOCATIONS) == (covered, refused)


def test_estimate_summary_is_burden_then_summary() -> None:
    population = make_population({"A": 1000, "B": 3000}, years=(2025, 2030))
    shares = make_shares(AAA={"vegan": 0.1}, BBB={})
    model = make_model({"vegan": 0.2, "omnivore": 0.05})
    out = burden.estimate_summary(population, shares, model, locations=["AAA", "BBB"],
                                  years=[2030], by=["iso3", "location"])
    assert list(out["iso3"]) == ["AAA", "BBB"]
    assert list(out["location"]) == ["Aland", "Bland"]
    # Aland: 21 bands x 1000 = 21000 people; cases 21000 x (0.1 x 0.2 + 0.9 x 0.05) = 1365
    # Bland: 21 x 3000 = 63000 omnivores x 0.05 = 3150
    assert out["population"].to_numpy() == pytest.approx([21000, 63000])
    assert out["cases"].to_numpy() == pytest.approx([1365, 3150])
    assert out["prevalence"].to_numpy() == pytest.approx([0.065, 0.05])


def test_estimate_summary_applies_supplementation() -> None:
    population = make_population({"A": 1000})
    shares = make_shares(AAA={})
    model = make_model(0.2)
    out = burden.estimate_summary(population, shares, model, locations=["AAA"], years=[2025],
                                  by=["location"],
                                  supplementation={"coverage": 0.5, "effect": 0.5})
    # 21000 omnivores x 0.2 x (1 - 0.5 x 0.5) = 3150
    assert out["cases"].iloc[0] == pytest.approx(3150)


def test_diet_share_summary_shares_sum_to_one_per_location() -> None:
    population = make_population({"A": 1000, "B": 3000})
    shares = make_shares(AAA={"vegan": 0.1}, BBB={"vegetarian": 0.2})
    out = burden.estimate_burden(population, shares, make_model(0.1), locations=["AAA", "BBB"],
                                 years=[2025])
    summary = burden.diet_share_summary(out).set_index(["location", "diet_group"])
    # Aland: 21000 people, vegans 0.1 -> 2100; Bland: 63000, vegetarians 0.2 -> 12600
    assert summary.loc[("Aland", "vegan"), "population"] == pytest.approx(2100)
    assert summary.loc[("Aland", "vegan"), "share"] == pytest.approx(0.1)
    assert summary.loc[("Bland", "vegetarian"), "share"] == pytest.approx(0.2)
    assert summary.loc[("Bland", "omnivore"), "share"] == pytest.approx(0.8)
    assert summary.groupby(level="location")["share"].sum().to_numpy() == pytest.approx([1, 1])


@pytest.mark.parametrize(
    ("defaults", "expected"),
    [
        # AAA: every non-omnivore group on defaults; BBB: vegans measured
        ({"AAA": (True, True, True), "BBB": (True, True, False)}, (1, 2)),
        ({"AAA": (False, False, False)}, (0, 1)),
        ({"AAA": (True, True, True), "BBB": (True, True, True)}, (2, 2)),
    ],
)
def test_count_default_countries_ignores_omnivores(defaults: dict, expected: tuple) -> None:
    rows = []
    for iso3, flags in defaults.items():
        # omnivores are never a default, whatever the other groups are
        rows.append({"country_iso3": iso3, "diet_group": "omnivore", "is_default": False})
        rows += [{"country_iso3": iso3, "diet_group": d, "is_default": f}
                 for d, f in zip(("pescatarian", "vegetarian", "vegan"), flags, strict=True)]
    assert burden.count_default_countries(pd.DataFrame(rows)) == expected
