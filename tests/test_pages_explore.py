"""Explore page (AppTest): filters from the link, the three views, the table and downloads."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import aggregate, schema, state, ui
from tests.apptest import Query, page_app, plain

PAGE = "dashboard/pages/explore.py"


def _app(query: Query | None = None) -> AppTest:
    return page_app(PAGE, query)


def _table(at: AppTest) -> pd.DataFrame:
    """The filtered table (the chart's table alternative has display names, no row_id)."""
    (frame,) = [d.value for d in at.dataframe if "row_id" in d.value.columns]
    return frame


def _widget(at: AppTest, key: str):
    kinds = {"def": at.selectbox, "view": at.radio, "minn": at.number_input,
             "years": at.slider, "undated": at.toggle}
    return kinds.get(key, at.multiselect)(key=key)


def _expected(query: dict) -> pd.DataFrame:
    view, notices = state.from_query("explore", query, ui.filter_choices(ui.load_studies()))
    assert not notices
    rows = aggregate.filter_studies(ui.load_studies(), **state.filter_kwargs(view))
    return aggregate.study_estimates(rows)


# --- the page ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "widgets", "trace_type"),
    [
        ({}, {"view": "bars", "def": "b12_lt148", "diet": []}, "bar"),
        ({"view": "heatmap"}, {"view": "heatmap"}, "heatmap"),
        # the widget lists diet groups in vocabulary order, whatever the link's order
        ({"view": "dots", "diet": ["vegan", "vegetarian"]},
         {"view": "dots", "diet": ["vegetarian", "vegan"]}, "scatter"),
        ({"def": "b12_lt185", "view": "dots", "country": "chn"},
         {"def": "b12_lt185", "country": ["CHN"]}, "scatter"),
        ({"country": "USA", "undated": "0", "years": "1990-2010", "minn": "100"},
         {"country": ["USA"], "undated": False, "years": (1990, 2010), "minn": 100}, "bar"),
        ({"sex": "female", "age": ["unknown", "20-39"]},
         {"sex": ["female"], "age": ["20-39", "unknown"]}, "bar"),
    ],
)
def test_link_sets_widgets_chart_and_table(query, widgets, trace_type):
    at = _app(query).run()
    assert not at.exception
    assert not at.info
    for key, value in widgets.items():
        assert _widget(at, key).value == value

    # the table is exactly aggregate.filter_studies + study_estimates for these filters
    expected = _expected(query)
    shown = _table(at)
    assert shown["row_id"].tolist() == expected["row_id"].tolist()
    for column in ("prevalence", "interval_low", "interval_high", "n"):
        pd.testing.assert_series_equal(
            pd.to_numeric(shown[column]).astype(float).reset_index(drop=True),
            pd.to_numeric(expected[column]).astype(float).reset_index(drop=True),
            check_names=False,
        )
    for column in ("ci_source", "reliability", "usable_for", "study_id"):
        assert shown[column].astype(str).tolist() == expected[column].astype(str).tolist()

    (spec,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    # the bars view draws the model's bars under the published pools' dots
    expected_types = {"bar", "scatter"} if trace_type == "bar" else {trace_type}
    assert {t["type"] for t in spec["data"]} == expected_types
    title = plain(spec["layout"]["title"]["text"])
    assert schema.DEFINITIONS_BY_ID[query.get("def", "b12_lt148")].label in title
    assert "(%)" in title
    if trace_type == "scatter":
        # one dot per row with a prevalence, error bars on x
        assert sum(len(t["x"]) for t in spec["data"]) == int(expected["prevalence"].notna().sum())
        assert all(t["error_x"]["array"] for t in spec["data"])
    if trace_type == "heatmap":
        assert spec["data"][0]["colorbar"]["ticksuffix"] == "%"


def test_changing_the_view_and_a_filter_follows_into_the_url():
    at = _app().run()
    assert at.query_params == {}
    at.radio(key="view").set_value("heatmap").run()
    at.multiselect(key="diet").set_value(["vegan"]).run()
    assert not at.exception
    assert at.query_params == {"view": "heatmap", "diet": "vegan"}
    assert _table(at)["row_id"].tolist() == _expected({"diet": "vegan"})["row_id"].tolist()
    share = at.code[0].value  # the page link; the data URL and embed snippet follow
    assert "/explore?" in share
    assert "diet=vegan" in share
    assert "view=heatmap" in share
    assert share.endswith("v=1")


def test_downloads_are_offered_for_the_table():
    at = _app({"diet": "vegan"}).run()
    labels = [b.proto.label for b in at.get("download_button")]
    # the pooled-and-modelled comparison, then the filtered table, each with its metadata
    assert labels == ["Download CSV", "Download Parquet", "Metadata and citation"] * 2


def test_tampered_query_falls_back_with_notices():
    at = _app({"view": "pie", "diet": ["vegetarian", "carnivore"], "country": ["ind", "ZZZ"],
               "minn": "1e9", "undated": "maybe", "bogus": "1"}).run()
    assert not at.exception
    notices = " ".join(i.value for i in at.info)
    for text in ("view=pie", "diet=carnivore", "country=ZZZ", "minn=1e9", "undated=maybe",
                 "'bogus'"):
        assert text in notices
    assert at.radio(key="view").value == "bars"
    assert at.multiselect(key="diet").value == ["vegetarian"]
    assert at.multiselect(key="country").value == ["IND"]
    assert at.toggle(key="undated").value is True
    assert _table(at)["row_id"].tolist() == _expected(
        {"diet": "vegetarian", "country": "IND"})["row_id"].tolist()


def test_rows_that_cannot_be_pooled_are_listed_without_a_pooled_chart():
    # Serum B12 < 185 pmol/L, deficient, in China: only rows without n (display only)
    query = {"def": "b12_lt185", "country": "CHN"}
    expected = _expected(query)
    assert len(expected)
    assert (expected["usable_for"] == "display").all()
    at = _app(query).run()
    assert not at.exception
    (warning,) = at.warning
    assert f"None of the {len(expected)} matching rows can be pooled" in warning.value
    assert not at.get("plotly_chart")
    assert _table(at)["row_id"].tolist() == expected["row_id"].tolist()


def test_empty_selection_warns_and_shows_no_table():
    at = _app({"country": "NOR", "diet": "vegan", "age": "80+"}).run()
    assert not at.exception
    (warning,) = at.warning
    assert "countries: NOR" in warning.value
    assert not at.dataframe
    assert not at.get("plotly_chart")


def test_pooled_and_modelled_cells_side_by_side():
    at = _app({"diet": ["vegan", "general"], "age": ["20-39", "60-79"]}).run()
    assert not at.exception
    (table,) = [d.value for d in at.dataframe if "Modelled (95% CI)" in d.value.columns]
    assert set(table["Diet group"]) == {"Vegan", "General population"}
    assert set(table["Age band"]) == {"20-39", "60-79"}
    general = table[(table["Diet group"] == "General population")
                    & (table["Age band"] == "20-39")].iloc[0]
    assert general["Modelled (95% CI)"].endswith("%)")
    # cells the model cannot estimate are named so, never given as numbers
    modelled = table["Modelled (95% CI)"]
    assert all(v == "not estimable" or "%" in v for v in modelled)
    (spec,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    groups = {t["legendgroup"] for t in spec["data"]}
    assert groups == {"modelled", "pooled"}
    assert "the world: 236 countries" in plain(spec["layout"]["title"]["subtitle"]["text"])
    captions = " ".join(c.value for c in at.caption)
    assert "Modelled for the world" in captions


def test_one_country_is_modelled_for_itself():
    at = _app({"country": "IND"}).run()
    assert not at.exception
    (spec,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert plain(spec["layout"]["title"]["subtitle"]["text"]).startswith("Modelled for India")


def test_a_generated_definition_says_why_it_has_no_modelled_figures():
    at = _app({"def": "b12_lt126"}).run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "No modelled figures: the model predicts the documented definitions" in captions


# --- one colour scale, headings ------------------------------------------------------------


def _heatmap(at: AppTest) -> dict:
    (trace,) = [t for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"]
                if t["type"] == "heatmap"]
    return trace


@pytest.mark.parametrize("query", [
    {"view": "heatmap"},
    {"view": "heatmap", "def": "b12_lt221", "status": "low"},
    {"view": "heatmap", "diet": "vegan"},
])
def test_heatmap_colours_are_on_one_fixed_scale_that_the_caption_states(query) -> None:
    at = _app(query).run()
    assert not at.exception
    trace = _heatmap(at)
    # before: zmin 0 and the largest estimate of the view, so colours changed with filters
    assert (trace["zmin"], trace["zmax"]) == (0, 100)
    assert [s[0] for s in trace["colorscale"][1::2]] == [0.05, 0.1, 0.2, 0.3, 0.5, 1.0]
    captions = " ".join(c.value for c in at.caption)
    assert "one fixed scale for every definition and filter, 0-100%" in captions


def test_headings_go_from_the_title_to_sections_without_a_skip() -> None:
    at = _app().run()
    assert not at.exception
    # h1 title, then h2 sections (st.header), no h3 straight under the h1 (axe heading-order)
    assert [h.value for h in at.title] == ["Explore the evidence"]
    assert [h.value for h in at.header if h.value != "Filters"] == [
        "Published studies, pooled and modelled, cell by cell", "Filtered estimates"]
    assert not at.subheader
