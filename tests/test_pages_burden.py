"""AppTest of the Burden page: headline, map on the shipped outlines, drivers, bars,
projection, state."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import burden, data, geo, model, schema
from dashboard.format import (
    format_people_supported,
    format_percent,
)
from tests.apptest import Query, page_app, plain

PAGE = "dashboard/pages/burden.py"


def run_page(query: Query | None = None) -> AppTest:
    return page_app(PAGE, query).run()


def specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def metrics(at: AppTest) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in at.metric:
        out.setdefault(m.label, []).append(m.value)
    return out


@pytest.fixture(scope="module")
def page() -> AppTest:
    return run_page()


@pytest.fixture(scope="module")
def fitted() -> model.Model:
    countries = data.load_countries()
    shares = burden.diet_share_model(data.load_diet_shares(), countries["iso3"].tolist())
    return model.fit(data.load_studies(), countries, shares)


@pytest.fixture(scope="module")
def world_2025(fitted) -> tuple:
    """The core's own figures for the default view: World, 2025, default definition."""
    population = data.load_population()
    iso3 = sorted(population.loc[population["location_type"] == "Country/Area", "iso3"]
                  .astype(str).unique())
    shares = burden.diet_share_model(data.load_diet_shares(), iso3)
    rows = burden.estimate_burden(population, shares, fitted, locations=["World"], years=[2025])
    asp = burden.age_standardized_prevalence(rows, data.load_standard_populations(),
                                             schema.DEFAULT_STANDARD)
    return burden.summarize_burden(rows, by=["location"]).iloc[0], asp.iloc[0]


def test_default_run_shows_the_world_headline(page: AppTest, world_2025) -> None:
    assert not page.exception
    assert not page.info
    assert not page.warning
    assert not page.error
    summary, asp = world_2025
    shown = metrics(page)
    cases, cases_ui = format_people_supported(summary["cases"], summary["cases_low"],
                                              summary["cases_high"])
    assert shown["People affected (modelled)"] == [cases]
    assert shown["Crude prevalence (modelled)"] == [format_percent(asp["crude"])]
    assert shown["Age-standardised prevalence (modelled)"] == [
        format_percent(asp["age_standardized"])]
    captions = " ".join(c.value for c in page.caption)
    assert f"95% UI {cases_ui} persons" in captions
    assert schema.STANDARD_POPULATIONS[schema.DEFAULT_STANDARD] in captions


def test_defaults_seed_the_widgets(page: AppTest) -> None:
    assert page.multiselect(key="loc").value == ["World"]
    assert page.slider(key="year").value == 2025
    assert page.selectbox(key="std").value == schema.DEFAULT_STANDARD
    assert page.radio(key="measure").value == "share"
    assert [page.number_input(key=f"x{d}").value for d in ("pescatarian", "vegetarian",
                                                           "vegan")] == [1.0, 1.0, 1.0]
    assert page.selectbox(key="sgrp").value == "all"
    assert (page.slider(key="scov").value, page.slider(key="seff").value) == (0.0, 0.0)


def test_map_draws_the_shipped_outlines_not_plotly_geometry(page: AppTest) -> None:
    spec = specs(page)[0]
    shipped = sorted(f["properties"]["iso3"] for f in geo.load_world()["features"])
    # no country is extrapolated for the default view, so no trace of not-estimable marks
    assert [t["type"] for t in spec["data"]] == ["choropleth", "choropleth"]
    drawn = []
    for trace in spec["data"]:
        # Outlines come with the figure (GeoJSON joined on ISO3), never plotly's own map.
        assert trace["locationmode"] == "geojson-id"
        assert trace["featureidkey"] == "properties.iso3"
        drawn += [f["properties"]["iso3"] for f in trace["geojson"]["features"]]
    # Every shipped outline once (Antarctica left out: no population to show).
    assert sorted(drawn) == [c for c in shipped if c != "ATA"]
    assert spec["layout"]["geo"]["showland"] is False
    assert "%" in plain(spec["layout"]["title"]["text"])
    assert "2025" in plain(spec["layout"]["title"]["text"])
    assert "modelled" in plain(spec["layout"]["title"]["subtitle"]["text"])
    # The data trace colours every country with a population and an outline.
    data_trace = spec["data"][1]
    assert len(data_trace["locations"]) == len(data_trace["z"]) > 150
    # the hover carries each country's 95% UI and the studies behind it
    usa = data_trace["customdata"][data_trace["locations"].index("USA")]
    assert "95% UI" in usa[1]
    assert "Studies:" in usa[3]
    assert "in its region" in usa[3]


def test_map_shades_by_the_modelled_country_prevalence(page: AppTest, fitted) -> None:
    population = data.load_population()
    iso3 = burden.country_codes(burden.locations_table(population))
    shares = burden.diet_share_model(data.load_diet_shares(), iso3)
    summary = burden.estimate_summary(population, shares, fitted, locations=iso3,
                                      years=[2025], by=["iso3"]).set_index("iso3")
    trace = specs(page)[0]["data"][1]
    shown = dict(zip(trace["locations"], trace["z"], strict=True))
    for code in ("USA", "IND", "NGA"):
        assert shown[code] == pytest.approx(100 * summary.loc[code, "prevalence"])
    assert shown["IND"] > 2 * shown["USA"]


def test_drivers_list_the_terms_that_move_the_figure(page: AppTest) -> None:
    frames = [d.value for d in page.dataframe if "driver" in d.value.columns]
    assert len(frames) == 1
    drivers = frames[0].set_index("driver")
    for term in ("Income group (vs high income)", "Region effect (WPP region)",
                 "Country effect", "Age structure", "Diet mix (vs everyone omnivorous)"):
        assert drivers.loc[term, "odds_ratio"] > 0
    text = " ".join(m.value for m in page.markdown)
    assert "What drives this number" in " ".join(h.value for h in page.header)
    assert "evidence behind it" in text
    assert "support_country" in text


def test_bars_and_projection_carry_units_and_intervals(page: AppTest) -> None:
    _, bars, projection = specs(page)
    assert [t["name"] for t in bars["data"]] == [schema.DIET_LABELS[d] for d in
                                                 schema.DIET_GROUPS]
    assert bars["data"][0]["x"] == list(schema.AGE_BAND_LABELS)
    # Every bar carries its 95% UI (uncertain modelled prevalence: both arms positive).
    for trace in bars["data"]:
        assert len(trace["error_y"]["array"]) == len(schema.AGE_BAND_LABELS)
        assert min(trace["error_y"]["array"]) > 0
        assert min(trace["error_y"]["arrayminus"]) > 0
    assert bars["layout"]["yaxis"]["title"]["text"] == "Share with low status (%)"
    years = projection["data"][1]["x"]
    assert (years[0], years[-1], len(years)) == (2020, 2050, 31)
    band = projection["data"][0]
    assert band["fill"] == "toself"
    assert band["name"].endswith("95% UI")


def test_assumptions_are_listed_under_the_map(page: AppTest) -> None:
    text = " ".join(m.value for m in page.markdown)
    for phrase in ("held constant over the years", "seeded joint draws",
                   "medium variant", "No supplementation effect", "not estimable",
                   "both sexes", "no time trend"):
        assert phrase in text


def test_assumptions_count_default_countries(page: AppTest) -> None:
    population = data.load_population()
    iso3 = sorted(population.loc[population["location_type"] == "Country/Area", "iso3"]
                  .astype(str).unique())
    shares = burden.diet_share_model(data.load_diet_shares(), iso3)
    measured = shares.loc[shares["diet_group"] != "omnivore"]
    no_survey = int(measured.groupby("country_iso3")["is_default"].all().sum())
    text = " ".join(m.value for m in page.markdown)
    assert f"{no_survey} of {len(iso3)} countries have no survey" in text
    assert 0 < no_survey < len(iso3)


QUERY = {
    "loc": ["DEU", "Western Europe"], "year": "2040", "std": "esp_2013", "measure": "number",
    "xvegan": "2", "sgrp": "vegan", "scov": "0.5", "seff": "0.4", "sex": "female",
}


@pytest.fixture(scope="module")
def linked() -> AppTest:
    return run_page(QUERY)


def test_query_parameters_set_the_widgets(linked: AppTest) -> None:
    assert not linked.exception
    assert not linked.info
    assert linked.multiselect(key="loc").value == ["Western Europe", "DEU"]
    assert linked.slider(key="year").value == 2040
    assert linked.selectbox(key="std").value == "esp_2013"
    assert linked.radio(key="measure").value == "number"
    assert linked.number_input(key="xvegan").value == 2.0
    assert linked.selectbox(key="sgrp").value == "vegan"
    assert (linked.slider(key="scov").value, linked.slider(key="seff").value) == (0.5, 0.4)


def test_linked_view_shows_each_location_and_the_scenario(linked: AppTest) -> None:
    # one figure per location: a metric, or marked text where fewer than 3 studies are in it
    shown = metrics(linked).get("People affected (modelled)", []) + [
        m.value for m in linked.markdown if m.value.startswith("People affected (modelled): ")]
    assert len(shown) == 2
    assert [t.label for t in linked.tabs] == ["Germany", "Western Europe"]
    spec = specs(linked)[0]
    assert spec["data"][1]["colorbar"]["title"]["text"] == "people"
    text = " ".join(m.value for m in linked.markdown)
    assert "vegan share x2" in text
    # 0.5 coverage x 0.4 effect, stated as entered.
    assert "50% of vegan covered, low status reduced by 40%" in text
    # The evidence filters travel with the link but do not change the model: it says so.
    assert any("sex: female" in c.value and "not applied" in c.value for c in linked.caption)
    projection = specs(linked)[-1]
    assert {t["name"] for t in projection["data"] if t.get("mode") == "lines+markers"} == {
        "Germany", "Western Europe"}


def test_tampered_query_falls_back_with_notices() -> None:
    at = run_page({"loc": ["XXX"], "year": "3000", "std": "mars", "measure": "volume",
                   "xvegan": "-1", "scov": "abc", "bogus": "1"})
    assert not at.exception
    notices = " ".join(i.value for i in at.info)
    for name in ("loc", "year=3000", "std=mars", "measure=volume", "xvegan=-1", "scov=abc",
                 "'bogus'"):
        assert name in notices
    assert at.multiselect(key="loc").value == ["World"]
    assert at.slider(key="year").value == 2025
    assert len(at.get("plotly_chart")) == 3


@pytest.mark.parametrize(
    ("query", "kind", "message"),
    [
        # No published MMA > 0.37 umol/L estimate: the model has nothing to fit.
        ({"def": "mma_gt037"}, "warning", "cannot be modelled"),
    ],
)
def test_impossible_views_say_why(query: dict, kind: str, message: str) -> None:
    at = run_page(query)
    assert not at.exception
    assert any(message in e.value for e in getattr(at, kind))


def test_sdg_region_is_modelled_from_its_member_countries() -> None:
    at = run_page({"loc": "Sub-Saharan Africa"})
    assert not at.exception
    assert not at.warning
    assert any("**Sub-Saharan Africa**" in m.value for m in at.markdown)


def test_widget_change_updates_the_url(page: AppTest) -> None:
    page.slider(key="year").set_value(2030).run()
    assert not page.exception
    assert page.query_params["year"] == "2030"
    assert "2030" in plain(specs(page)[0]["layout"]["title"]["text"])


# --- inputs bounded, whole people, rounded counts, headings (issue 12, item 6) -----------------


@pytest.fixture(scope="module")
def tenfold() -> AppTest:
    """The issue's view: ten times the vegetarian and vegan shares, which exceed 100% in
    some countries (it blanked the page with a Python dict in the message)."""
    return run_page({"xvegetarian": "10", "xvegan": "10"})


def test_shares_over_100_percent_are_capped_with_a_notice_naming_the_countries(
        tenfold: AppTest) -> None:
    assert not tenfold.exception
    assert not tenfold.error
    (notice,) = [w.value for w in tenfold.warning if "more than 100%" in w.value]
    population = data.load_population()
    iso3 = burden.country_codes(burden.locations_table(population))
    shares = burden.diet_share_model(data.load_diet_shares(), iso3,
                                     {"vegetarian": 10.0, "vegan": 10.0}, cap=True)
    capped = burden.capped_countries(shares)
    names = burden.country_names(burden.locations_table(population))
    assert 1 < len(capped) < 10
    assert f"in {len(capped)} countries of the map: " in notice
    assert all(names[c] in notice for c in capped)
    assert "India" in notice
    assert "(vegetarian x10, vegan x10)" in notice
    # the page goes on: headline, map, bars and projection
    assert metrics(tenfold)["People affected (modelled)"]
    assert len(tenfold.get("plotly_chart")) == 3


def test_scenario_inputs_say_how_far_they_stay_valid(page: AppTest) -> None:
    population = data.load_population()
    iso3 = burden.country_codes(burden.locations_table(population))
    limits = burden.scenario_limits(burden.diet_share_model(data.load_diet_shares(), iso3), {},
                                    iso3)
    for diet in ("vegetarian", "vegan"):
        help_text = page.number_input(key=f"x{diet}").help
        assert burden.describe_limit(limits[diet]) in help_text
        assert "Up to x" in help_text


def test_tables_hold_whole_people(page: AppTest) -> None:
    frames = {tuple(d.value.columns): d.value for d in page.dataframe}
    table = next(f for cols, f in frames.items() if "cases_high" in cols)
    shares_used = next(f for cols, f in frames.items() if cols == ("location", "diet_group",
                                                                   "share", "population"))
    for frame, columns in ((table, ["population", "cases", "cases_low", "cases_high"]),
                           (shares_used, ["population"])):
        for column in columns:
            values = frame[column].dropna().astype(float)
            assert (values == values.round()).all(), column
    assert float(table["cases"].sum()) > 1e6


def test_headings_go_from_the_title_to_h2(page: AppTest) -> None:
    assert not page.main.subheader
    headers = [h.value for h in page.main.header]
    assert headers[0].startswith("People with low B12 status in ")
    assert headers[1:3] == ["World map", "What drives this number"]


def test_a_slider_step_survives_a_rerun_that_carries_a_stale_url() -> None:
    """Arrow keys pressed faster than the page reruns: the browser sends the second step
    with the address the first step's rerun has not yet written. The step must win."""
    at = run_page()
    at.slider(key="scov").set_value(0.05).run()
    assert at.query_params["scov"] in ("0.05", ["0.05"])
    stale = {k: v for k, v in at.query_params.items() if k != "scov"}
    at.query_params.clear()
    at.query_params.update(stale)  # the URL as it was before the first step landed
    at.slider(key="scov").set_value(0.1).run()
    assert not at.exception
    assert at.slider(key="scov").value == 0.1
    assert at.query_params["scov"] in ("0.1", ["0.1"])


def test_a_location_without_three_studies_is_marked_thin_evidence(page: AppTest) -> None:
    # The World has dozens of studies: metrics. Nigeria has none of its own (the model
    # leans on its region): the same figures as marked text, never a metric.
    world = [m.value for m in page.markdown]
    assert any(t.startswith("k = ") and "studies in World" in t for t in world)
    at = run_page({"loc": "NGA"})
    assert not at.exception
    text = [m.value for m in at.markdown]
    assert "k = 0 studies in Nigeria behind the model's figures" in text
    assert text.count(":orange-badge[:material/warning: thin evidence]") == 1
    assert not at.metric
    assert any(t.startswith("People affected (modelled): **") for t in text)
    assert "Not a headline figure: 0 studies, fewer than 3." in [c.value for c in at.caption]
