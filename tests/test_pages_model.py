"""Model page (AppTest): odds ratios, variance components, validation and the left-out rows."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import ui, validation
from tests.apptest import Query, page_app, plain

PAGE = "dashboard/pages/model.py"


def run_page(query: Query | None = None) -> AppTest:
    return page_app(PAGE, query).run()


def tables(at: AppTest) -> list:
    return [d.value for d in at.dataframe]


def specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


@pytest.fixture(scope="module")
def page() -> AppTest:
    return run_page()


def test_default_run_shows_every_part_without_an_exception(page: AppTest):
    assert not page.exception
    assert not page.info
    assert [h.value for h in page.header] == [
        "What moves the prevalence", "Variance components", "Out-of-sample validation",
        "National surveys against the model", "Estimates left out of the model"]
    odds, validation_plot = specs(page)
    assert odds["layout"]["xaxis"]["type"] == "log"
    assert {t["name"] for t in validation_plot["data"]} >= {"Multilevel model",
                                                            "Cell pooling (previous)"}
    assert page.radio(key="folds").value == "study"


def test_tables_show_the_fitted_model_and_the_validation(page: AppTest):
    fitted = ui.load_model()
    shown = tables(page)
    by_columns = {tuple(t.columns): t for t in shown}
    variance = next(t for t in shown if "sigma2" in t.columns)
    assert list(variance["level"]) == ["region", "country", "study", "estimate"]
    summary = next(t for t in shown if "coverage" in t.columns)
    expected = validation.summarize_validation(ui.load_model_validation())
    assert list(summary["model_label"]) == list(expected["model_label"])
    assert list(summary["coverage"]) == pytest.approx(list(expected["coverage"]))
    excluded = next(t for t in shown if "reason" in t.columns)
    assert len(excluded) == len(fitted.excluded)
    ratios = next(t for t in shown if "odds_ratio" in t.columns)
    assert "Vegan (vs omnivore)" in set(ratios["label"])
    assert "intercept" not in set(ratios["label"])
    assert any("in_fit" in columns for columns in by_columns)
    # the evidence behind it, in the first caption
    data = fitted.data
    assert (f"{len(data)} estimates from {data['sample_id'].nunique()} studies in "
            f"{data['iso3'].nunique()} countries") in page.caption[0].value


def test_the_plot_follows_the_url_and_the_widget_writes_it_back():
    at = run_page({"folds": "country"})
    assert not at.exception
    assert at.radio(key="folds").value == "country"
    title = plain(specs(at)[1]["layout"]["title"]["text"])
    assert "Leave one country out" in title
    held = ui.load_model_validation()
    n_new = int((held["fold_type"] == "country").sum())
    assert len(specs(at)[1]["data"][0]["x"]) == n_new
    at.radio(key="folds").set_value("study").run()
    assert not at.exception
    assert "folds" not in at.query_params  # the default stays out of the URL
    assert "Leave one study out" in plain(specs(at)[1]["layout"]["title"]["text"])
    at.radio(key="folds").set_value("country").run()
    assert at.query_params["folds"] == "country"


def test_an_invalid_fold_type_falls_back_with_a_notice():
    at = run_page({"folds": "region"})
    assert not at.exception
    assert at.radio(key="folds").value == "study"
    assert any("Ignored folds" in i.value for i in at.info)
