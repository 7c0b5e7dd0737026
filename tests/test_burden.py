"""Tests of dashboard.burden: burden on the prevalence model, diet shares, summaries,
standardisation, drivers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboard import burden, model, schema
from tests.test_model import COUNTRIES, _known_vegan_effect, expit
from tests.test_model import SHARES as FIT_SHARES

BANDS = schema.AGE_BAND_LABELS
DIETS = schema.DIET_GROUPS
N_WPP = len(schema.WPP_AGE_BANDS)
WPP_AGES = [(lo, hi) for _, lo, hi in schema.WPP_AGE_BANDS]


@pytest.fixture(scope="module")
def toy() -> model.Model:
    """A model fitted on twelve studies of omnivores and vegans aged 20-39 (vegan log-odds
    ratio 2) in the six countries of tests.test_model, at 148 pmol/L only."""
    return model.fit(_known_vegan_effect(), COUNTRIES, FIT_SHARES)


@pytest.fixture(scope="module")
def crosswalk() -> model.Model:
    """The same studies also reporting < 221 pmol/L (1.2 logits more), so the fit has a
    cut-off crosswalk and can predict the 148-221 band."""
    rows = _known_vegan_effect()
    extra = rows.assign(estimate_id=rows["estimate_id"] + "h", cutoff_low=221.0,
                        definition="b12_lt221",
                        prevalence=[expit(math.log(p / (1 - p)) + 1.2)
                                    for p in rows["prevalence"]])
    return model.fit(pd.concat([rows, extra], ignore_index=True), COUNTRIES, FIT_SHARES)


PLACES = {
    "A": {"location_code": 1, "location": "Aland", "iso3": "AAA",
          "location_type": "Country/Area", "region": "Europe", "subregion": "North"},
    "B": {"location_code": 2, "location": "Bland", "iso3": "BBB",
          "location_type": "Country/Area", "region": "Europe", "subregion": "South"},
    "C": {"location_code": 3, "location": "Cland", "iso3": "CCA",
          "location_type": "Country/Area", "region": "Asia", "subregion": "East"},
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


def with_prevalence(out: pd.DataFrame, prevalence: dict | float, *, spread: float = 0.0,
                    draws: int = 400, seed: int = 5) -> pd.DataFrame:
    """A burden frame with a known prevalence per (analysis band, diet) (dict keys override
    diets, default 0.1): each row its own cell, draws expit(logit(p) + spread x N(0, 1))
    shared by a cell's rows."""
    frame = out.copy()

    def p_of(band: str, diet: str) -> float:
        if isinstance(prevalence, dict):
            return prevalence.get((band, diet), prevalence.get(diet, 0.1))
        return prevalence

    p = np.array([p_of(b, d) for b, d in zip(frame["analysis_band"].astype(str),
                                              frame["diet_group"].astype(str), strict=True)])
    frame["prevalence"] = p
    frame["cases"] = frame["population"] * frame["share"] * p
    frame["cell"] = np.arange(len(frame))
    z = np.random.default_rng(seed).standard_normal((len(frame), draws))
    values = expit_array(np.log(p / (1 - p))[:, None] + spread * z)
    frame.attrs["prevalence_draws"] = burden.PrevalenceDraws(
        pd.DataFrame({"row": np.arange(len(frame))}), values, 0.95, seed)
    return frame


def expit_array(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _query(iso3: str, diets=DIETS, cutoff: float = 148.0, high: float | None = None
           ) -> pd.DataFrame:
    """Model.predict rows of one country x WPP band x diet, band-major as burden rows."""
    return pd.DataFrame([
        {"iso3": iso3, "age_min": lo, "age_max": hi, "sex": "both", "diet_group": d,
         "supplement_users": "included", "cutoff": cutoff, "cutoff_high": high}
        for lo, hi in WPP_AGES for d in diets
    ])


# --- estimate_burden -------------------------------------------------------------------------


def test_burden_is_population_times_share_times_the_models_prevalence(toy) -> None:
    population = make_population({"A": 1000})
    shares = make_shares(AAA={"vegan": 0.1})
    out = burden.estimate_burden(population, shares, toy, locations=["AAA"], years=[2025])
    assert len(out) == N_WPP * len(DIETS)
    # every cell's prevalence is the model's own prediction for that country, age and diet
    expected = toy.predict(_query("AAA"), draws=50)["estimate"].to_numpy()
    np.testing.assert_allclose(out["prevalence"].to_numpy(), expected, rtol=1e-12)
    people = np.where(out["diet_group"] == "vegan", 1000 * 0.1, 1000 * 0.9)
    people = np.where(out["diet_group"].isin(["pescatarian", "vegetarian"]), 0.0, people)
    np.testing.assert_allclose(out["cases"].to_numpy(), people * expected, rtol=1e-12)
    assert list(out.columns[:13]) == [
        "location_code", "location", "iso3", "year", "age_band", "analysis_band",
        "diet_group", "population", "share", "prevalence", "prevalence_low", "prevalence_high",
        "cases",
    ]
    assert {"cases_low", "cases_high", "estimable", "estimable_general", "cell"} <= set(out)
    assert out.loc[out["age_band"] == "60-64", "analysis_band"].iloc[0] == "60-79"
    assert out.loc[out["age_band"] == "100+", "analysis_band"].iloc[0] == "80+"
    # the vegan log-odds ratio of the fit, in every band
    vegan = out.loc[out["diet_group"] == "vegan", "prevalence"].to_numpy()
    omni = out.loc[out["diet_group"] == "omnivore", "prevalence"].to_numpy()
    beta = toy.coefficients().set_index("term").loc["vegan", "beta"]
    np.testing.assert_allclose(np.log(vegan / (1 - vegan)) - np.log(omni / (1 - omni)), beta)


def test_cell_draws_are_the_models_joint_draws(toy) -> None:
    population = make_population({"A": 1000, "C": 500}, years=(2025, 2050))
    shares = make_shares(AAA={"vegan": 0.1}, CCA={})
    out = burden.estimate_burden(population, shares, toy, locations=["AAA", "CCA"],
                                 years=[2025, 2050], draws=300, seed=9)
    values = out.attrs["prevalence_draws"].values
    # Model.draws of every model country in its order draws the effects in the same order
    frame = pd.concat([_query(c) for c in COUNTRIES["iso3"]], ignore_index=True)
    direct = toy.draws(frame, draws=300, seed=9).reshape(len(COUNTRIES), N_WPP * len(DIETS), -1)
    for iso3, position in (("AAA", 0), ("CCA", 4)):
        rows = out[(out["iso3"] == iso3) & (out["year"] == 2050)]
        np.testing.assert_allclose(values[rows["cell"].to_numpy()], direct[position],
                                   rtol=1e-5)
    # the years share the country's draws: no time trend in the model
    a = out[out["iso3"] == "AAA"]
    assert (a.loc[a["year"] == 2025, "cell"].to_numpy()
            == a.loc[a["year"] == 2050, "cell"].to_numpy()).all()


def test_aggregates_are_the_sum_of_their_countries_per_draw(toy) -> None:
    population = make_population({"A": 1000, "B": 3000, "W": 4000, "E": 4000})
    shares = make_shares(AAA={"vegan": 0.1}, BBB={"vegan": 0.02})
    kwargs = {"years": [2025], "draws": 200}
    regions = burden.estimate_burden(population, shares, toy, locations=["World", "Europe"],
                                     **kwargs)
    countries = burden.estimate_burden(population, shares, toy, locations=["AAA", "BBB"],
                                       **kwargs)
    vegan = regions[(regions["diet_group"] == "vegan") & (regions["age_band"] == "0-4")]
    # (1000 x 0.1 + 3000 x 0.02) / 4000 = 0.04 of the aggregate's 4000 people
    assert vegan["share"].to_numpy() == pytest.approx([0.04, 0.04])
    assert vegan["population"].to_numpy() == pytest.approx([4000, 4000])
    _, world = burden.case_draws(regions[regions["location"] == "World"], by=())
    _, summed = burden.case_draws(countries, by=())
    np.testing.assert_allclose(world, summed, rtol=1e-5)
    by_band = burden.case_draws(regions[regions["location"] == "Europe"], by=["age_band"])[1]
    np.testing.assert_allclose(by_band, burden.case_draws(countries, by=["age_band"])[1],
                               rtol=1e-5)
    assert regions.groupby("location")["cases"].sum().to_numpy() == pytest.approx(
        [countries["cases"].sum()] * 2)


def test_seeded_draws_repeat_and_intervals_bracket_the_point(toy) -> None:
    population = make_population({"A": 1000, "B": 500}, years=(2025, 2050))
    shares = make_shares(AAA={"vegan": 0.1, "vegetarian": 0.05}, BBB={"vegan": 0.01})
    kwargs = {"locations": ["AAA", "BBB"], "years": [2025, 2050], "draws": 400}
    first = burden.estimate_burden(population, shares, toy, **kwargs)
    again = burden.estimate_burden(population, shares, toy, **kwargs)
    other = burden.estimate_burden(population, shares, toy, seed=7, **kwargs)
    pd.testing.assert_frame_equal(first, again)
    assert first.attrs["prevalence_draws"] == again.attrs["prevalence_draws"]
    assert not np.allclose(first["cases_high"], other["cases_high"])
    some = first["share"] > 0
    assert (first.loc[some, "cases_low"] < first.loc[some, "cases_high"]).all()
    summary = burden.summarize_burden(first)
    assert (summary["cases_low"] < summary["cases"]).all()
    assert (summary["cases"] < summary["cases_high"]).all()


def test_a_country_without_studies_draws_its_effect_from_sigma2(toy) -> None:
    effects = toy.location_effects(["AAA", "ZZZ"]).set_index("iso3")
    assert bool(effects.loc["AAA", "region_observed"])
    assert not bool(effects.loc["ZZZ", "country_observed"])
    assert effects.loc["ZZZ", "country_se"] == pytest.approx(math.sqrt(toy.fit.sigma2[1]))
    assert effects.loc["ZZZ", "country_blup"] == 0.0


def test_not_estimable_cells_are_flagged(toy) -> None:
    population = make_population({"A": 1000})
    shares = make_shares(AAA={"vegan": 0.1, "pescatarian": 0.05})
    out = burden.estimate_burden(population, shares, toy, locations=["AAA"], years=[2025],
                                 draws=50).set_index(["age_band", "diet_group"])
    # The fit has estimates at 20-39 only (AGE_REACH 10 years) and none of pescatarians.
    assert out.loc[("20-24", "vegan"), "estimable"]
    assert not out.loc[("80-84", "vegan"), "estimable"]
    assert not out.loc[("20-24", "pescatarian"), "estimable"]
    assert out.loc[("20-24", "pescatarian"), "estimable_general"]
    assert not out.loc[("80-84", "omnivore"), "estimable_general"]
    rows = out.reset_index()
    by_cell = burden.summarize_burden(rows, by=["age_band", "diet_group"]).set_index(
        ["age_band", "diet_group"])
    assert by_cell.loc[("25-29", "omnivore"), "estimable"]
    assert not by_cell.loc[("25-29", "pescatarian"), "estimable"]
    # a whole band takes the general population's rule; the whole country has old ages
    young = rows[rows["age_band"] == "20-24"]
    assert burden.summarize_burden(young, by=["location"])["estimable"].iloc[0]
    assert not burden.summarize_burden(rows, by=["location"])["estimable"].iloc[0]


def test_the_marginal_band_is_the_difference_of_the_two_thresholds(crosswalk) -> None:
    population = make_population({"A": 1000})
    shares = make_shares(AAA={"vegan": 0.1})
    kwargs = {"locations": ["AAA"], "years": [2025], "draws": 100}
    low = burden.estimate_burden(population, shares, crosswalk, definition="b12_lt148",
                                 **kwargs)
    high = burden.estimate_burden(population, shares, crosswalk, definition="b12_lt221",
                                  status="low_or_marginal", **kwargs)
    band = burden.estimate_burden(population, shares, crosswalk, definition="b12_148_221",
                                  status="marginal", **kwargs)
    np.testing.assert_allclose(band["prevalence"] + low["prevalence"], high["prevalence"],
                               atol=1e-12)
    np.testing.assert_allclose(
        band.attrs["prevalence_draws"].values + low.attrs["prevalence_draws"].values,
        high.attrs["prevalence_draws"].values, atol=1e-6)
    assert (band["prevalence"] > 0).all()


@pytest.mark.parametrize(
    ("definition", "status", "expected"),
    [
        ("b12_lt148", "deficient", (148.0, None)),
        ("b12_lt221", "low_or_marginal", (221.0, None)),
        ("b12_148_221", "marginal", (148.0, 221.0)),
        ("b12_lt156", "deficient", (156.0, None)),  # generated id: read from the id
        ("b12_lt110p7", "deficient", (110.7, None)),
        ("b12_126_287", "marginal", (126.0, 287.0)),
    ],
)
def test_view_cutoffs(definition: str, status: str, expected: tuple) -> None:
    assert burden.view_cutoffs(definition, status) == expected


@pytest.mark.parametrize(
    ("definition", "status", "message"),
    [
        ("b12_lt148", "marginal", "needs a band"),
        ("b12_lt148", "bad", "unknown status"),
        ("thcy_gt12", "deficient", "unknown definition"),
    ],
)
def test_view_cutoffs_refuse(definition: str, status: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        burden.view_cutoffs(definition, status)


def test_summary_sums_draws_not_bounds(toy) -> None:
    population = make_population({"A": 1000})
    shares = make_shares(AAA={"vegan": 0.5})
    out = burden.estimate_burden(population, shares, toy, locations=["AAA"], years=[2025],
                                 draws=500, seed=11)
    summary = burden.summarize_burden(out, by=("location",))
    # From first principles: people x each draw of each cell's prevalence, summed per draw.
    values = out.attrs["prevalence_draws"].values.astype(float)
    people = (out["population"] * out["share"]).to_numpy()
    sums = people @ values[out["cell"].to_numpy()]
    low, high = np.quantile(sums, [0.025, 0.975])
    assert summary["cases_low"].iloc[0] == pytest.approx(low)
    assert summary["cases_high"].iloc[0] == pytest.approx(high)
    assert summary["cases"].iloc[0] == pytest.approx(out["cases"].sum())
    # 21000 people: prevalence = cases / people
    assert summary["population"].iloc[0] == pytest.approx(21000)
    assert summary["prevalence"].iloc[0] == pytest.approx(out["cases"].sum() / 21000)


def test_summary_survives_filtering_and_concatenation(toy) -> None:
    population = make_population({"A": 1000}, years=(2025, 2050))
    shares = make_shares(AAA={"vegan": 0.1})
    out = burden.estimate_burden(population, shares, toy, locations=["AAA"],
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
    ("diet", "factors"),
    [
        # coverage 0.5 x effect 0.4 = 20% fewer cases in the covered group
        ("vegan", {"vegan": 0.8, "omnivore": 1.0}),
        (None, {"vegan": 0.8, "omnivore": 0.8}),
    ],
)
def test_supplementation_scales_prevalence(toy, diet: str | None, factors: dict) -> None:
    population = make_population({"A": 1000})
    shares = make_shares(AAA={"vegan": 0.1})
    kwargs = {"locations": ["AAA"], "years": [2025], "draws": 200}
    base = burden.estimate_burden(population, shares, toy, **kwargs)
    out = burden.estimate_burden(
        population, shares, toy, supplementation={"diet_group": diet, "coverage": 0.5,
                                                  "effect": 0.4}, **kwargs)
    for group, ratio in factors.items():
        rows = out["diet_group"] == group
        np.testing.assert_allclose(out.loc[rows, "prevalence"],
                                   base.loc[rows, "prevalence"] * ratio, rtol=1e-12)
        np.testing.assert_allclose(out.loc[rows, "cases_high"],
                                   base.loc[rows, "cases_high"] * ratio, rtol=1e-5)
    default = burden.estimate_burden(population, shares, toy, supplementation=None, **kwargs)
    pd.testing.assert_frame_equal(default, base)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"locations": ["Atlantis"]}, "unknown locations: 'Atlantis'"),
        ({"locations": [999]}, "unknown locations: 999"),
        ({"years": [1900]}, "no complete population by age for: Aland 1900"),
        ({"draws": 1}, "draws must be at least 2"),
        ({"level": 1.5}, "level"),
        ({"status": "marginal"}, "needs a band"),
        ({"definition": "holotc_lt35"}, "serum B12 model does not predict"),
        ({"supplementation": {"diet_group": "keto", "coverage": 0.5, "effect": 0.5}},
         "unknown supplementation diet_group 'keto'"),
        ({"supplementation": {"coverage": 1.5, "effect": 0.5}}, "coverage must lie in"),
        ({"supplementation": {"coverage": 0.5, "effect": -0.1}}, "effect must lie in"),
        ({"supplementation": {"coverage": 0.5, "dose": 2}}, "unknown supplementation keys"),
    ],
)
def test_burden_rejects_bad_input(toy, kwargs: dict, message: str) -> None:
    population = make_population({"A": 1000})
    shares = make_shares(AAA={"vegan": 0.1})
    args = {"locations": ["AAA"], "years": [2025], **kwargs}
    with pytest.raises(ValueError, match=message):
        burden.estimate_burden(population, shares, toy, **args)


def test_burden_rejects_incomplete_shares(toy) -> None:
    population = make_population({"A": 1000, "B": 1000, "W": 2000})
    shares = make_shares(AAA={"vegan": 0.1})
    with pytest.raises(ValueError, match="no row for BBB"):
        burden.estimate_burden(population, shares, toy, locations=["World"], years=[2025])
    bad = shares.assign(share=shares["share"] * 2)
    with pytest.raises(ValueError, match="sum to 1"):
        burden.estimate_burden(population, bad, toy, locations=["AAA"], years=[2025])


def test_drivers_list_the_terms_with_their_odds_ratios(toy) -> None:
    population = make_population({"A": 1000, "B": 3000, "E": 4000})
    shares = make_shares(AAA={"vegan": 0.1}, BBB={})
    standards = pd.read_csv(schema.SOURCES_DIR / "reference" / "standard_populations.csv")
    rows = burden.estimate_burden(population, shares, toy, locations=["AAA", "Europe"],
                                  years=[2025], draws=100)
    out = burden.estimate_drivers(toy, population, rows, "Aland", standards).set_index("driver")
    assert list(out.index) == ["Income group (vs high income)", "Region effect (WPP region)",
                               "Country effect", "Age structure",
                               "Diet mix (vs everyone omnivorous)", "Vegan (vs omnivore)"]
    effects = toy.location_effects(["AAA"]).iloc[0]
    assert out.loc["Country effect", "odds_ratio"] == pytest.approx(
        math.exp(effects["country_blup"]))
    assert out.loc["Country effect", "studies"] == 2  # two of the twelve studies are in AAA
    assert out.loc["Income group (vs high income)", "odds_ratio"] == 1.0  # all high income
    vegan = toy.coefficients().set_index("term").loc["vegan", "odds_ratio"]
    assert out.loc["Vegan (vs omnivore)", "odds_ratio"] == pytest.approx(vegan)
    # 10% vegans with an odds ratio above 1 raise the figure above all-omnivore
    assert out.loc["Diet mix (vs everyone omnivorous)", "odds_ratio"] > 1
    region = burden.estimate_drivers(toy, population, rows, "Europe", standards)
    assert "2 countries" in region.set_index("driver").loc["Country effect", "detail"]


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


def test_cap_shrinks_a_country_over_100_percent_and_says_so() -> None:
    out = burden.diet_share_model(SHARES, ["AAA", "BBB"], {"vegan": 200.0}, cap=True)
    share = out.set_index(["country_iso3", "diet_group"])["share"]
    # AAA: vegan 0.01 x 200 = 2.00, vegetarian 0.04, pescatarian 0.02 (default): 2.06 in all,
    # each divided by 2.06; no omnivores left
    assert share["AAA", "vegan"] == pytest.approx(2.0 / 2.06)
    assert share["AAA", "vegetarian"] == pytest.approx(0.04 / 2.06)
    assert share["AAA", "pescatarian"] == pytest.approx(0.02 / 2.06)
    assert share["AAA", "omnivore"] == 0.0
    # BBB: vegan 0.03 x 200 = 6 > 1 as well
    assert burden.capped_countries(out) == ["AAA", "BBB"]
    assert out.groupby("country_iso3")["share"].sum().to_numpy() == pytest.approx([1.0, 1.0])
    assert "(capped: the groups sum to 100%)" in out.set_index(
        ["country_iso3", "diet_group"]).loc[("AAA", "vegan"), "basis"]
    # x20: AAA 0.20 + 0.06 is fine, BBB 0.60 + 0.04 too: nothing capped
    assert burden.capped_countries(
        burden.diet_share_model(SHARES, ["AAA", "BBB"], {"vegan": 20.0}, cap=True)) == []


def test_scenario_limits_keep_every_country_within_100_percent() -> None:
    shares = burden.diet_share_model(SHARES, ["AAA", "BBB"])
    # vegan: AAA (1 - 0.04 - 0.02) / 0.01 = 94, BBB (1 - 0.02 - 0.02) / 0.03 = 32 -> 32
    # vegetarian: AAA (1 - 0.01 - 0.02) / 0.04 = 24.25, BBB (1 - 0.05) / 0.02 = 47.5
    # pescatarian: AAA (1 - 0.05) / 0.02 = 47.5, BBB (1 - 0.05) / 0.02 = 47.5
    assert burden.scenario_limits(shares, {}, ["AAA", "BBB"]) == pytest.approx(
        {"pescatarian": 47.5, "vegetarian": 24.25, "vegan": 32.0})
    assert burden.scenario_limits(shares, {}, ["AAA"])["vegan"] == pytest.approx(94.0)
    # with vegans x32, BBB has 1 - 0.96 - 0.02 = 0.02 left for its 0.02 of vegetarians: x1
    limits = burden.scenario_limits(shares, {"vegan": 32.0}, ["AAA", "BBB"])
    assert limits["vegetarian"] == pytest.approx(1.0)
    # a multiplier at its limit is valid (sums to exactly 1), just past it is capped
    at_limit = burden.diet_share_model(SHARES, ["AAA", "BBB"], {"vegan": 32.0}, cap=True)
    assert burden.capped_countries(at_limit) == []
    past = burden.diet_share_model(SHARES, ["AAA", "BBB"], {"vegan": 32.5}, cap=True)
    assert burden.capped_countries(past) == ["BBB"]


def test_scenario_messages_name_countries_and_multipliers_in_words() -> None:
    text = burden.describe_capped(["AAA", "BBB"], {"AAA": "Aland"}, {"vegan": 200.0},
                                  {"vegan": 32.0, "vegetarian": 24.25})
    assert "(vegan x200)" in text
    assert "in 2 countries of the map: Aland, BBB." in text
    assert text.endswith("up to: vegan x32.")
    many = burden.describe_capped([f"C{i:02d}" for i in range(15)], {}, {"vegan": 2.0}, {})
    assert "C11 and 3 more." in many
    assert burden.describe_limit(24.2599) == (
        "Up to x24.25 keeps every country of the chosen locations within 100% (the other "
        "multipliers as set); above it a country's shares are capped.")
    with pytest.raises(ValueError, match=r"for AAA exceed 1 .* with scenario vegan x200$"):
        burden.diet_share_model(SHARES, ["AAA"], {"vegan": 200.0})


def test_whole_people_rounds_counts_in_tables() -> None:
    frame = pd.DataFrame({"cases": [2_387_784_996.687, 0.4, np.nan], "share": [0.5, 0.25, 1]})
    out = burden.whole_people(frame, ["cases"])
    assert out["cases"].tolist()[:2] == [2_387_784_997, 0]
    assert out["cases"].isna().tolist() == [False, False, True]
    assert out["share"].tolist() == [0.5, 0.25, 1]  # other columns untouched
    assert frame["cases"].iloc[0] == 2_387_784_996.687  # input not modified


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


def test_age_standardization_by_hand(toy) -> None:
    # 1000 people in each five-year band below 60 (12 bands), 100 in each from 60 (9 bands)
    population = make_population({"A": [1000.0] * 12 + [100.0] * 9})
    shares = make_shares(AAA={})
    out = with_prevalence(
        burden.estimate_burden(population, shares, toy, locations=["AAA"], years=[2025],
                               draws=20),
        {(b, "omnivore"): (0.1 if i < 3 else 0.3) for i, b in enumerate(BANDS)})
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
def test_age_standardization_of_a_flat_rate_is_that_rate(toy, standard: str) -> None:
    # With the same prevalence at every age any standard gives it back; the top groups
    # (85+, 95+, 100+) must gather WPP's top bands without losing or doubling weight.
    standards = pd.read_csv(schema.SOURCES_DIR / "reference" / "standard_populations.csv")
    population = make_population({"A": [float(1000 + 50 * i) for i in range(N_WPP)]})
    shares = make_shares(AAA={"vegan": 0.2})
    out = with_prevalence(
        burden.estimate_burden(population, shares, toy, locations=["AAA"], years=[2025],
                               draws=20), 0.25, spread=0.5)
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
def test_age_standardization_rejects_bad_standards(toy, standard: pd.DataFrame, name: str,
                                                   message: str) -> None:
    population = make_population({"A": 1000})
    out = burden.estimate_burden(population, make_shares(AAA={}), toy,
                                 locations=["AAA"], years=[2025], draws=20)
    with pytest.raises(ValueError, match=message):
        burden.age_standardized_prevalence(out, standard, name)


def test_age_standardization_needs_whole_locations(toy) -> None:
    population = make_population({"A": 1000})
    out = burden.estimate_burden(population, make_shares(AAA={"vegan": 0.1}), toy,
                                 locations=["AAA"], years=[2025], draws=20)
    with pytest.raises(ValueError, match="every WPP age band and every diet group"):
        burden.age_standardized_prevalence(out[out["diet_group"] != "vegan"],
                                           TWO_GROUP_STANDARD, "two")
    with pytest.raises(ValueError, match="year 2030 is not in the burden frame"):
        burden.age_standardized_prevalence(out, TWO_GROUP_STANDARD, "two", year=2030)
    with pytest.raises(ValueError, match="locations not in the burden frame"):
        burden.age_standardized_prevalence(out, TWO_GROUP_STANDARD, "two", locations=["BBB"])


# --- the real built data ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> dict:
    if not (schema.DATA_DIR / schema.MANIFEST_NAME).exists():
        pytest.skip("data/manifest.json is absent: run `make data` to build the datasets")
    from dashboard import data

    countries = data.load_countries()
    fit_shares = burden.diet_share_model(data.load_diet_shares(), countries["iso3"].tolist())
    return {
        "studies": data.load_studies(),
        "population": data.load_population(),
        "diet_shares": data.load_diet_shares(),
        "standards": data.load_standard_populations(),
        "model": model.fit(data.load_studies(), countries, fit_shares),
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


def test_real_world_burden_is_the_sum_of_countries_and_countries_differ(real: dict) -> None:
    iso3 = _countries(real["population"])
    shares = burden.diet_share_model(real["diet_shares"], iso3)
    world = burden.estimate_burden(real["population"], shares, real["model"],
                                   locations=["World"], years=[2025], draws=200)
    total = burden.summarize_burden(world).iloc[0]
    assert np.isfinite(total[["cases", "cases_low", "cases_high"]].astype(float)).all()
    assert 0 < total["cases_low"] < total["cases"] < total["cases_high"] < total["population"]
    by_country = burden.estimate_summary(real["population"], shares, real["model"],
                                         locations=iso3, years=[2025], by=["iso3"], draws=200)
    assert by_country["cases"].sum() == pytest.approx(total["cases"])
    prevalence = by_country.set_index("iso3")["prevalence"]
    assert prevalence["IND"] > 2 * prevalence["USA"]  # income group, ages and diets differ
    std = burden.age_standardized_prevalence(world, real["standards"], "who_2000_2025")
    assert 0 < std["age_standardized"].iloc[0] < 1


@pytest.mark.parametrize("region", list(schema.SDG_REGIONS))
def test_real_sdg_regions_sum_their_member_countries(real: dict, region: str) -> None:
    """An SDG region is the sum of its member countries; their population adds up to WPP's
    own figure for the region (WPP rounds to thousands)."""
    shares = burden.diet_share_model(real["diet_shares"], _countries(real["population"]))
    out = burden.estimate_burden(real["population"], shares, real["model"], locations=[region],
                                 years=[2025], draws=50)
    pop = real["population"]
    own = pop.loc[(pop["location"] == region) & (pop["location_type"] == "SDG region")
                  & (pop["year"] == 2025), "population"].sum()
    assert burden.summarize_burden(out)["population"].iloc[0] == pytest.approx(own, rel=1e-3)


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


def test_estimate_summary_is_burden_then_summary(toy) -> None:
    population = make_population({"A": 1000, "B": 3000}, years=(2025, 2030))
    shares = make_shares(AAA={"vegan": 0.1}, BBB={})
    kwargs = {"locations": ["AAA", "BBB"], "years": [2030], "draws": 100}
    out = burden.estimate_summary(population, shares, toy, by=["iso3", "location"], **kwargs)
    rows = burden.estimate_burden(population, shares, toy, **kwargs)
    assert list(out["iso3"]) == ["AAA", "BBB"]
    assert list(out["location"]) == ["Aland", "Bland"]
    # Aland: 21 bands x 1000 = 21000 people; Bland: 21 x 3000 = 63000
    assert out["population"].to_numpy() == pytest.approx([21000, 63000])
    pd.testing.assert_frame_equal(out, burden.summarize_burden(rows, by=["iso3", "location"]))


def test_estimate_summary_applies_supplementation(toy) -> None:
    population = make_population({"A": 1000})
    shares = make_shares(AAA={})
    kwargs = {"locations": ["AAA"], "years": [2025], "by": ["location"], "draws": 50}
    base = burden.estimate_summary(population, shares, toy, **kwargs)
    out = burden.estimate_summary(population, shares, toy,
                                  supplementation={"coverage": 0.5, "effect": 0.5}, **kwargs)
    # everyone covered at half, half the effect: 1 - 0.5 x 0.5 = 0.75 of the cases
    assert out["cases"].iloc[0] == pytest.approx(0.75 * base["cases"].iloc[0])


def test_diet_share_summary_shares_sum_to_one_per_location(toy) -> None:
    population = make_population({"A": 1000, "B": 3000})
    shares = make_shares(AAA={"vegan": 0.1}, BBB={"vegetarian": 0.2})
    out = burden.estimate_burden(population, shares, toy, locations=["AAA", "BBB"],
                                 years=[2025], draws=20)
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


def test_real_member_countries_of_locations(real: dict) -> None:
    population = real["population"]
    # Germany itself and the nine WPP countries of Western Europe (Germany among them)
    assert burden.member_countries(population, ["DEU", "Western Europe"]) == [
        "AUT", "BEL", "CHE", "DEU", "FRA", "LIE", "LUX", "MCO", "NLD"]
    assert burden.member_countries(population, ["World"]) == _countries(population)


def test_real_ten_times_the_vegan_share_is_capped_in_mexico_only(real: dict) -> None:
    iso3 = _countries(real["population"])
    shares = burden.diet_share_model(real["diet_shares"], iso3, {"vegan": 10.0}, cap=True)
    assert burden.capped_countries(shares) == ["MEX"]
    limits = burden.scenario_limits(burden.diet_share_model(real["diet_shares"], iso3), {}, iso3)
    assert 1.0 < limits["vegan"] < 10.0
