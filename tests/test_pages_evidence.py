"""Evidence page (AppTest): forest plot per subgroup, REML/DL switch and the study table."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import aggregate, schema, state, ui
from tests.apptest import Query, page_app, plain

PAGE = "dashboard/pages/evidence.py"


def _app(query: Query | None = None) -> AppTest:
    return page_app(PAGE, query)


def _forest(at: AppTest) -> dict:
    """The forest plot in its wide form (the page sends a stacked one for phones too)."""
    wide, stacked = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    # the phone's form has no text beside the plot: no tick labels, no right-hand columns
    assert stacked["layout"]["yaxis"]["showticklabels"] is False
    assert "margin" not in stacked["layout"] or stacked["layout"]["margin"].get("r", 10) <= 10
    return wide


def _pooled(query: dict) -> pd.DataFrame:
    view, notices = state.from_query("evidence", query)
    assert not notices
    rows = aggregate.filter_studies(ui.load_studies(), **state.filter_kwargs(view))
    return aggregate.pool_groups(rows, by=(state.SUBGROUP_COLUMNS[view["by"]],),
                                 method=view["method"])


def _annotations(spec: dict) -> list[str]:
    return [a["text"] for a in spec["layout"]["annotations"] if a["text"].startswith("k = ")]


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"method": "DL"},
        {"by": "age_band", "method": "REML"},
        {"by": "sex", "diet": ["general"]},
        {"by": "country", "method": "DL", "def": "b12_lt148"},
    ],
)
def test_forest_has_one_pool_per_subgroup_with_heterogeneity(query):
    at = _app(query).run()
    assert not at.exception
    assert not [i for i in at.info if "Ignored" in i.value]  # no link notice
    assert at.selectbox(key="by").value == query.get("by", "diet_group")
    assert at.radio(key="method").value == query.get("method", "REML")
    pooled = _pooled(query)
    spec = _forest(at)
    diamonds = [t for t in spec["data"] if t.get("name") == "Pooled estimate"]
    assert len(diamonds) == len(pooled)
    # each diamond spans the pooled 95% CI (in percent): x = [lo, est, hi, est, lo]
    for trace, (_, row) in zip(diamonds, pooled.iterrows(), strict=True):
        assert trace["x"][0] == pytest.approx(100 * row["ci_low"])
        assert trace["x"][1] == pytest.approx(100 * row["estimate"])
        assert trace["x"][2] == pytest.approx(100 * row["ci_high"])
    # k, I2 and tau2 of each pool, as the annotation prints them
    expected = [
        f"k = {int(r.k)}, I\u00b2 = {r.i2:.0f}%, \u03c4\u00b2 = {r.tau2:.3f}"
        for r in pooled.itertuples()
    ]
    assert _annotations(spec) == expected
    assert sum(t.get("name") == "95% prediction interval" for t in spec["data"]) == len(pooled)
    title = plain(spec["layout"]["title"]["text"])
    assert schema.DEFINITIONS_BY_ID["b12_lt148"].label in title
    assert "(%)" in title
    assert spec["layout"]["xaxis"]["ticksuffix"] == "%"


def test_reml_and_dl_give_their_own_tau2():
    reml = _annotations(_forest(_app({"by": "age_band"}).run()))
    at = _app({"by": "age_band"}).run()
    at.radio(key="method").set_value("DL").run()
    assert at.query_params == {"by": "age_band", "method": "DL"}
    dl = _annotations(_forest(at))
    assert dl == [
        f"k = {int(r.k)}, I\u00b2 = {r.i2:.0f}%, \u03c4\u00b2 = {r.tau2:.3f}"
        for r in _pooled({"by": "age_band", "method": "DL"}).itertuples()
    ]
    assert dl != reml  # the estimators differ where studies are heterogeneous


def test_study_table_lists_every_row_with_links_and_reliability():
    at = _app({"diet": ["vegan", "vegetarian"]}).run()
    assert not at.exception
    view, _ = state.from_query("evidence", {"diet": ["vegan", "vegetarian"]})
    expected = aggregate.study_estimates(
        aggregate.filter_studies(ui.load_studies(), **state.filter_kwargs(view)))
    (table,) = [d for d in at.dataframe if "row_id" in d.value.columns]
    shown = table.value
    assert shown["row_id"].tolist() == expected["row_id"].tolist()
    assert shown["reliability"].astype(str).tolist() == expected["reliability"].tolist()
    for column in ("doi_url", "pmid_url", "source_location", "notes"):
        assert column in shown.columns
    # DOI and PMID columns are links
    config = json.loads(table.proto.columns)
    assert config["doi_url"]["type_config"]["type"] == "link"
    assert config["pmid_url"]["type_config"]["type"] == "link"


def test_tampered_query_falls_back_with_notices():
    at = _app({"method": "bayes", "by": "planet", "sex": "robot", "x": "1"}).run()
    assert not at.exception
    notices = " ".join(i.value for i in at.info)
    for text in ("method=bayes", "by=planet", "sex=robot", "'x'"):
        assert text in notices
    assert at.radio(key="method").value == "REML"
    assert at.selectbox(key="by").value == "diet_group"
    assert at.multiselect(key="sex").value == []
    assert len(_annotations(_forest(at))) == len(_pooled({}))


def test_empty_selection_warns():
    at = _app({"by": "sex", "country": "NOR", "diet": "vegan"}).run()
    assert not at.exception
    (warning,) = at.warning
    assert "diet: vegan" in warning.value
    assert not at.get("plotly_chart")


def test_filters_chosen_on_overview_follow_through_the_sidebar():
    at = AppTest.from_file("../app.py", default_timeout=30)
    at.switch_page("dashboard/pages/overview.py").run()
    at.multiselect(key="diet").set_value(["vegan"]).run()
    assert at.query_params == {"diet": "vegan"}
    # sidebar navigation opens the page without parameters
    at.query_params.clear()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.multiselect(key="diet").value == ["vegan"]
    assert at.query_params == {"diet": "vegan"}
    assert len(_annotations(_forest(at))) == len(_pooled({"diet": "vegan"}))


def test_forest_rows_show_estimate_n_and_weight_of_what_is_pooled():
    at = _app({"diet": "vegan"}).run()
    spec = _forest(at)
    pooled = _pooled({"diet": "vegan"})
    view, _ = state.from_query("evidence", {"diet": "vegan"})
    rows = aggregate.study_estimates(
        aggregate.filter_studies(ui.load_studies(), **state.filter_kwargs(view)))
    forest = aggregate.forest_rows(rows, pooled, ["diet_group"])
    weights = [a["text"] for a in spec["layout"]["annotations"] if a.get("name") == "Weight"]
    # One weight per pooled estimate plus the pool's 100%, the shares adding up to 100%.
    assert len(weights) == len(forest) + len(pooled)
    assert sum(float(w.rstrip("%")) for w in weights if "<b>" not in w) == pytest.approx(
        100.0, abs=0.1 * len(forest))
    headings = {a["text"] for a in spec["layout"]["annotations"]
                if a.get("yanchor") == "bottom" and a.get("name") != "source"}  # not the note
    assert headings == {"<b>Estimate [95% CI]</b>", "<b>n</b>", "<b>Weight</b>"}
    labels = [t for t in spec["layout"]["yaxis"]["ticktext"] if t and "(" in t]
    # Every study row names its stratum after the study.
    assert labels
    assert all(": " in t for t in labels if not t.startswith("<b>"))


def test_a_note_says_when_reml_and_dl_coincide():
    # The vegan pool of the default definition in the USA and China has two studies: both
    # estimators agree.
    two = {"diet": "vegan", "country": ["USA", "CHN"]}
    pooled = _pooled(two)
    assert pooled["k"].tolist() == [2]
    at = _app(two).run()
    (note,) = [i.value for i in at.info if "give the same pool" in i.value]
    assert "every subgroup" in note
    at = _app({"diet": ["omnivore", "vegetarian"]}).run()
    assert not [i for i in at.info if "give the same pool" in i.value]


def test_study_table_starts_with_the_citation_and_its_links_under_readable_headers():
    at = _app({"diet": "vegan"}).run()
    (table,) = [d for d in at.dataframe if "row_id" in d.value.columns]
    assert list(table.value.columns[:3]) == ["citation", "doi_url", "pmid_url"]
    first = table.value.iloc[0]
    assert first["citation"] == f"{first['first_author']} {int(first['year'])}"
    config = json.loads(table.proto.columns)
    assert config["citation"]["label"] == "Study"
    for column in table.value.columns:
        label = config.get(column, {}).get("label", column)
        assert "_" not in label, f"raw header {column!r}"
