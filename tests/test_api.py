"""The data API (dashboard/api.py) through Starlette's TestClient: each page's CSV is the table
the page shows for the same link (AppTest), bad parameters are refused by name, metadata and
citation travel with every answer, CORS is open for GET, and no query gives a traceback."""

from __future__ import annotations

import io
import json
import math
from urllib.parse import urlencode

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from dashboard import api, charts, data, state, tables
from dashboard.format import table_bytes
from tests.apptest import page_app

Query = dict[str, list[str]]


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(api.api)


def url(page: str, fmt: str, query: Query | None = None) -> str:
    return f"/{page}.{fmt}" + (f"?{urlencode(query, doseq=True)}" if query else "")


def shown_frame(at, columns) -> pd.DataFrame:
    """The dataframe of the page whose columns are ``columns``."""
    for element in at.dataframe:
        if list(element.value.columns) == list(columns):
            return element.value
    raise AssertionError(f"no table with columns {list(columns)[:3]}... on the page")


# page, file, query: links whose page shows its table (the Overview: its chart's table).
PAGE_LINKS = [
    ("explore", {"diet": ["vegan", "vegetarian"], "minn": ["20"]}),
    ("explore", {"def": ["b12_lt148"], "status": ["deficient"], "age": ["60-79"]}),
    ("evidence", {"diet": ["vegan"], "by": ["age_band"]}),
    ("cutoffs", {"diet": ["omnivore"]}),
    ("burden", {"loc": ["DEU", "IND"], "year": ["2030"], "xvegan": ["2"]}),
    ("model", {"folds": ["country"]}),
    ("profile", {"place": ["IND"], "ages": ["20-39"], "pdiet": ["vegetarian"]}),
    ("profile", {"place": ["DEU"], "ages": ["0-4"], "pdiet": ["vegan"]}),  # the nearest segment
    ("methods", {}),
]


@pytest.mark.parametrize(("page", "query"), PAGE_LINKS)
def test_the_csv_is_the_table_the_page_shows(client, page, query):
    response = client.get(url(page, "csv", query))
    assert response.status_code == 200, response.text
    at = page_app(f"dashboard/pages/{page}.py", query).run()
    assert not at.exception
    columns = pd.read_csv(io.BytesIO(response.content), nrows=0).columns
    shown = shown_frame(at, columns)
    assert len(shown) > 0
    assert table_bytes(shown, "csv") == response.content


@pytest.mark.parametrize("query", [{"diet": ["vegan", "omnivore"]},
                                   {"country": ["DEU", "GBR"], "age": ["20-39", "40-59"]}])
def test_the_overview_csv_holds_the_numbers_of_its_chart_table(client, query):
    # The page shows the pools beside the model's estimates, formatted for reading.
    records = client.get(url("overview", "json", query)).json()
    assert list(records[0]) == list(tables.OVERVIEW_COLUMNS)
    assert any(r["modelled_estimate"] is not None for r in records)
    at = page_app("dashboard/pages/overview.py", query).run()
    assert not at.exception
    expected = charts.modelled_table(pd.DataFrame(records))
    shown = shown_frame(at, expected.columns)
    pd.testing.assert_frame_equal(shown.reset_index(drop=True), expected, check_dtype=False)


def test_the_profile_and_burden_refuse_values_the_data_cannot_take(client):
    # The pages replace them with a notice; the API names them.
    for page, query, named in [
        ("profile", {"place": ["ZZZ"]}, "place"),
        ("profile", {"psex": ["male"], "preg": ["trimester_1"]}, "preg"),
        ("profile", {"psex": ["female"], "ages": ["60-79"], "preg": ["trimester_2"]}, "preg"),
    ]:
        response = client.get(url(page, "csv", query))
        assert response.status_code == 400, (page, query)
        assert [p["name"] for p in response.json()["parameters"]] == [named]
    ok = client.get(url("profile", "csv", {"psex": ["female"], "ages": ["20-39"],
                                           "preg": ["trimester_2"]}))
    assert ok.status_code == 200


def test_the_profile_metadata_says_which_segment_the_table_is_of(client):
    asked = client.get(url("profile", "metadata.json", {"place": ["IND"]})).json()
    assert asked["view_notes"]["nearest"] is False
    assert asked["view_notes"]["segment"] == asked["view_notes"]["asked"]
    query = {"place": ["DEU"], "ages": ["0-4"], "pdiet": ["vegan"]}
    nearest = client.get(url("profile", "metadata.json", query)).json()["view_notes"]
    assert nearest["nearest"] is True
    assert nearest["segment"] != nearest["asked"]
    assert "vegan" in nearest["asked"].lower()


def test_the_model_csv_holds_every_term_with_its_odds_ratio(client):
    frame = pd.read_csv(io.BytesIO(client.get(url("model", "csv")).content))
    assert list(frame.columns) == list(tables.MODEL_COLUMNS)
    # each odds ratio is exp(beta), inside its 95% CI
    assert (abs(frame["odds_ratio"] - frame["beta"].map(math.exp))
            < 1e-9).all()
    assert ((frame["or_low"] <= frame["odds_ratio"]) & (frame["odds_ratio"] <= frame["or_high"])
            ).all()
    assert client.get(url("model", "csv", {"folds": ["nope"]})).status_code == 400


def test_json_is_the_csv_as_records(client):
    query = {"diet": ["vegan"]}
    csv = pd.read_csv(io.BytesIO(client.get(url("explore", "csv", query)).content))
    records = client.get(url("explore", "json", query)).json()
    assert len(records) == len(csv)
    assert [r["row_id"] for r in records] == csv["row_id"].tolist()
    assert list(records[0]) == list(tables.EXPLORE_COLUMNS)


# query -> the parameters the 400 must name
BAD = [
    ({"diet": ["bogus"]}, {"diet"}),
    ({"diet": ["vegan,carnivore"]}, {"diet"}),  # one bad value is enough
    ({"foo": ["1"], "minn": ["-3"]}, {"foo", "minn"}),
    ({"by": ["age_band"]}, {"by"}),  # an Evidence parameter on Explore
    ({"v": ["7"]}, {"v"}),
    ({"view": ["pie", "bars"]}, {"view"}),
    ({"years": ["2030-1990"], "undated": ["maybe"]}, {"years", "undated"}),
]


@pytest.mark.parametrize(("query", "named"), BAD)
def test_bad_parameters_are_refused_by_name(client, query, named):
    response = client.get(url("explore", "csv", query))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid query"
    assert {p["name"] for p in body["parameters"]} == named
    assert all(p["problem"] and "default" not in p["problem"] for p in body["parameters"])


def test_the_pages_fallbacks_are_not_the_apis(client):
    # The page shows the default view with a notice; the API refuses.
    at = page_app("dashboard/pages/explore.py", {"diet": "bogus"}).run()
    assert at.info
    assert not at.exception
    assert client.get(url("explore", "csv", {"diet": ["bogus"]})).status_code == 400


@pytest.mark.parametrize(("path", "status"), [
    ("/your_data.csv", 404), ("/explore.xlsx", 404), ("/nope.json", 404), ("/explore", 404),
])
def test_unknown_pages_and_formats_are_404_json(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert "error" in response.json()


def test_a_view_the_model_cannot_compute_is_422(client):
    # Valid parameters; no poolable study for this definition and status.
    response = client.get(url("burden", "csv", {"def": ["holotc_lt35"], "status": ["marginal"]}))
    assert response.status_code in (200, 422)
    if response.status_code == 422:
        assert response.json()["error"] == "this view cannot be computed"


def test_metadata_describes_the_table(client):
    query = {"diet": ["vegan"], "minn": ["20"]}
    meta = client.get(url("explore", "metadata.json", query)).json()
    csv = pd.read_csv(io.BytesIO(client.get(url("explore", "csv", query)).content))
    build = data.build_id(data.load_manifest())
    assert meta["page"] == "explore"
    assert meta["rows"] == len(csv)
    assert [c["name"] for c in meta["columns"]] == list(csv.columns)
    assert meta["units"]["prevalence"] == "fraction (0-1)"
    assert meta["definition"]["id"] == "b12_lt148"
    assert meta["filters"]["diet"] == ["vegan"]
    assert meta["filters"]["v"] == ["1"]
    assert meta["data_build"] == build
    names = " ".join(s["name"] for s in meta["sources"])
    for source in ("World Population Prospects", "vegetarians", "Standard populations",
                   "World Bank", "Natural Earth"):
        assert source.lower() in names.lower()
    assert build in meta["citation"]["text"]
    assert meta["citation"]["bibtex"].startswith("@misc")
    assert meta["urls"]["csv"].startswith("http://testserver/api/explore.csv?")


def test_every_answer_links_its_citation_and_metadata(client, monkeypatch):
    monkeypatch.setenv("B12_PUBLIC_URL", "https://atlas.example.org")
    response = client.get(url("explore", "csv", {"diet": ["vegan"]}))
    link = response.headers["link"]
    assert '<https://atlas.example.org/explore?' in link
    assert 'rel="cite-as"' in link
    assert '/api/explore.metadata.json?' in link
    assert 'rel="describedby"' in link
    meta = client.get(url("explore", "metadata.json", {"diet": ["vegan"]})).json()
    assert meta["citation"]["url"].startswith("https://atlas.example.org/explore?")


def test_cors_is_open_for_get(client):
    response = client.get("/explore.csv", headers={"Origin": "https://elsewhere.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    preflight = client.options("/explore.csv", headers={
        "Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 200
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert client.post("/explore.csv").status_code == 405


def test_formula_cells_are_neutralised_in_the_csv(client):
    # Negative numbers stay numbers; no text cell of the table starts a formula.
    text = client.get(url("methods", "csv")).text
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert not frame.map(lambda v: v.startswith(("=", "+", "@", "\t", "\r"))).any().any()


def test_the_index_lists_every_page_and_its_parameters(client):
    index = client.get("/").json()
    assert set(index["pages"]) == set(state.DATA_PAGES)
    names = [p["name"] for p in index["pages"]["burden"]["parameters"]]
    assert names == [p.name for p in state.PAGE_PARAMS["burden"]]


keys = st.sampled_from([*state.PARAMS, "v", "embed", "", "Diet", "x" * 30, "def[]", "%00"])
values = st.one_of(st.text(max_size=40), st.sampled_from(
    ["vegan", "1", "-1", "1e309", "nan", "2030-1990", "World", ",", "b12_lt148", "\x00"]))


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page=st.sampled_from(state.DATA_PAGES), fmt=st.sampled_from(api.FORMATS),
       query=st.lists(st.tuples(keys, values), max_size=6))
def test_no_query_gives_a_traceback(client, page, fmt, query):
    response = client.get(f"/{page}.{fmt}?{urlencode(query)}")
    assert response.status_code in (200, 400, 422), response.text
    assert "Traceback" not in response.text
    if response.status_code != 200:
        body = json.loads(response.text)
        assert body["error"]
        if response.status_code == 400:
            assert all(p["name"] is not None for p in body["parameters"])
