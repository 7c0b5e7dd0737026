"""AppTest of the Cutoffs page: populations under several definitions, spread, filters, state."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import aggregate, charts, data, state, ui
from tests.apptest import Query, page_app, plain

PAGE = "dashboard/pages/cutoffs.py"


def run_page(query: Query | None = None) -> AppTest:
    return page_app(PAGE, query).run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def compared(at: AppTest):
    """The table of compared estimates (the one offered for download)."""
    return next(d.value for d in at.dataframe if "n_definitions" in d.value.columns
                and "definition" in d.value.columns)


@pytest.fixture(scope="module")
def studies():
    return data.load_studies()


@pytest.fixture(scope="module")
def page() -> AppTest:
    return run_page()


def test_default_run_compares_every_population(page: AppTest, studies) -> None:
    assert not page.exception
    assert not page.info
    assert not page.warning
    expected = aggregate.compare_definitions(studies)
    table = compared(page)
    assert len(table) == len(expected)
    assert list(table["definition"]) == list(expected["definition"])
    spreads = expected.drop_duplicates("population_id")["spread"]
    shown = metrics(page)
    assert shown["Populations"] == str(len(spreads))
    assert shown["Studies"] == str(expected["study_id"].nunique())
    assert shown["Median spread"] == f"{100 * spreads.median():.1f} pp"
    assert shown["Largest spread"] == f"{100 * spreads.max():.1f} pp"


def test_figure_has_one_trace_per_definition(page: AppTest, studies) -> None:
    spec = json.loads(page.get("plotly_chart")[0].proto.spec)
    expected = aggregate.compare_definitions(studies)
    # First trace: grey range lines; then one marker trace per definition.
    names = [plain(t["name"]) for t in spec["data"][1:]]
    assert sorted(names) == sorted(expected["definition_label"].unique())
    assert spec["layout"]["xaxis"]["title"]["text"] == "Prevalence (%)"
    assert "(%)" in plain(spec["layout"]["title"]["text"])
    # One grey range line per population (labels are shortened for the axis).
    populations = set(spec["data"][0]["y"]) - {None}
    assert len(populations) == expected["population_id"].nunique()


@pytest.mark.parametrize(
    ("query", "widget_values", "kwargs"),
    [
        # Only studies of vegans.
        ({"diet": "vegan"}, {"diet": ["vegan"]}, {"diet_groups": ["vegan"]}),
        # Two definitions: a population needs both to be kept.
        ({"defs": ["b12_lt148", "b12_lt221"]}, {"defs": ["b12_lt148", "b12_lt221"]},
         {"definition": ["b12_lt148", "b12_lt221"]}),
        ({"sex": "female", "minn": "100"}, {"sex": ["female"], "minn": 100},
         {"sexes": ["female"], "min_n": 100}),
    ],
)
def test_query_parameters_filter_the_comparison(query: dict, widget_values: dict,
                                                kwargs: dict, studies) -> None:
    at = run_page(query)
    assert not at.exception
    for key, value in widget_values.items():
        assert at.get_by_key(key).value == value
    expected = aggregate.compare_definitions(aggregate.filter_studies(studies, **kwargs))
    assert not expected.empty  # each case keeps some populations
    table = compared(at)
    for column in ("population_label", "definition", "prevalence", "spread"):
        assert list(table[column]) == list(expected[column])


def test_filters_that_leave_nothing_say_which() -> None:
    at = run_page({"country": "ISL", "defs": "holotc_lt35"})
    assert not at.exception
    message = at.warning[0].value
    assert "No population" in message
    assert "ISL" in message
    assert "HoloTC < 35" in message
    # only the model's chart, for Iceland: no comparison of definitions
    (spec,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert plain(spec["layout"]["title"]["subtitle"]["text"]).startswith("Modelled for Iceland")


def test_tampered_query_falls_back_with_notices() -> None:
    at = run_page({"defs": ["b12_lt148", "nonsense"], "sex": "robot", "minn": "-5",
                   "years": "2030-1990", "zzz": "1"})
    assert not at.exception
    notices = " ".join(i.value for i in at.info)
    for name in ("defs=nonsense", "sex=robot", "minn=-5", "years=2030-1990", "'zzz'"):
        assert name in notices
    assert at.multiselect(key="defs").value == ["b12_lt148"]
    assert at.multiselect(key="sex").value == []


def test_widget_change_updates_the_url(page: AppTest) -> None:
    page.multiselect(key="diet").set_value(["vegan", "omnivore"]).run()
    assert not page.exception
    assert page.query_params["diet"] == ["omnivore", "vegan"]


def model_spec(at: AppTest) -> dict:
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if "below a cut-off" in plain(json.loads(c.proto.spec)["layout"]["title"]["text"]))


def at_cut(at: AppTest):
    return next(d.value for d in at.dataframe
                if any(c.startswith("Modelled: below") for c in d.value.columns))


def test_cutoff_slider_reads_the_link_and_draws_the_crosswalk() -> None:
    at = run_page({"mcut": "221", "age": ["20-39", "60-79"]})
    assert not at.exception
    assert at.slider(key="mcut").value == 221.0
    spec = model_spec(at)
    lines = [t for t in spec["data"] if t["name"].startswith("Modelled, ")]
    assert [t["name"] for t in lines] == ["Modelled, 20-39", "Modelled, 60-79"]
    assert 221.0 in lines[0]["x"]
    assert min(lines[0]["x"]) == 100.0
    assert max(lines[0]["x"]) == 300.0
    assert [s["x0"] for s in spec["layout"]["shapes"]] == [221.0]
    points = [t for t in spec["data"] if t["name"].startswith("Published studies, pooled")]
    assert points  # published definitions below a cut-off, pooled, at their cut-offs
    assert all(100 <= x <= 300 for t in points for x in t["x"])
    legend = spec["layout"]["legend"]  # below the plot, off the subtitle
    assert (legend["yanchor"], legend["orientation"]) == ("top", "h")
    assert legend["y"] < 0
    table = at_cut(at)
    assert list(table["Age band"]) == ["20-39", "60-79"]
    assert all(v.endswith("%)") for v in table["Modelled: below 221 pmol/L (95% CI)"])


def test_moving_the_slider_writes_the_link(page: AppTest) -> None:
    page.slider(key="mcut").set_value(185.0).run()
    assert not page.exception
    assert page.query_params["mcut"] == "185"
    assert "Modelled: below 185 pmol/L (95% CI)" in at_cut(page).columns


def test_cutoff_outside_the_slider_falls_back_with_a_notice() -> None:
    at = run_page({"mcut": "900"})
    assert not at.exception
    assert "mcut=900" in " ".join(i.value for i in at.info)
    assert at.slider(key="mcut").value == 148.0


# --- age x diet under each definition, headings ------------------------------------------


def panels_spec(at: AppTest) -> dict:
    (spec,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart")
               if "each cut-off" in plain(json.loads(c.proto.spec)["layout"]["title"]["text"])]
    return spec


def test_small_multiples_one_panel_per_definition_on_one_scale(studies) -> None:
    page = run_page()  # default filters (the shared page's were changed by the tests above)
    spec = panels_spec(page)
    view, _ = state.from_query("cutoffs", {}, ui.filter_choices(studies))
    expected = ui.pooled_by_cutoff(view)
    heatmaps = [t for t in spec["data"] if t["type"] == "heatmap"]
    # one panel per definition below a cut-off, each on the same rows, columns and scale
    assert len(heatmaps) == expected["definition"].nunique() > 1
    assert len({tuple(t["y"]) for t in heatmaps}) == 1
    assert len({tuple(t["x"]) for t in heatmaps}) == 1
    assert {(t["zmin"], t["zmax"]) for t in heatmaps} == {(0, 100)}
    assert sum(bool(t.get("showscale", True)) for t in heatmaps) == 1
    # the cells hold the pooled estimates, in percent
    first = expected[expected["definition"] == "b12_lt148"].iloc[0]
    panel = next(t for t in heatmaps if plain(t["name"]).startswith("Serum B12 < 148"))
    row = panel["y"].index(first["age_band"])
    cell = panel["z"][row][panel["x"].index(charts.SHORT_DIET_LABELS[first["diet_group"]])]
    assert cell == pytest.approx(100 * first["estimate"])
    assert "fixed colour scale" in " ".join(c.value for c in page.caption)


def test_small_multiples_follow_the_chosen_definitions() -> None:
    at = run_page({"defs": ["b12_lt148", "b12_lt221"]})
    assert not at.exception
    heatmaps = [t for t in panels_spec(at)["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 2


def test_headings_go_from_the_title_to_sections_without_a_skip() -> None:
    page = run_page()
    # h1 title, h2 sections (st.header); the h3 tables sit inside the first section
    assert [h.value for h in page.title] == ["Cutoffs"]
    assert [h.value for h in page.header if h.value != "Filters"] == [
        "The same people under several definitions", "Age and diet under each definition",
        "Any cut-off: the modelled share below it"]
    assert [h.value for h in page.subheader] == ["Spread by population", "Estimates compared"]
