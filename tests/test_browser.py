"""What a person sees in Chromium: shared links, Share, the offline map, downloads, every page.

One `streamlit run` server and one headless Chromium for the module; a fresh browser context
per test in which every request that does not go to localhost is aborted, so each test also
shows that the dashboard works offline. Expected numbers come from the Python API
(aggregate.filter_studies + study_estimates / pool_groups) for the state the link asks for.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from dashboard import aggregate, data, schema, state, ui
from tests import screenshots as driver
from tests.live_server import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} missing: `make chromium` installs it"),
]

# A link with non-default filters, chart view and minimum n (issue 4, browser test 1).
LINKED = {
    "def": "b12_lt148",
    "status": "deficient",
    "diet": ["vegan", "vegetarian"],
    "view": "bars",
    "minn": "20",
}
# Plotly's drawn traces: SVG groups per trace (bars, scatter, choropleth) or heatmap images.
PLOTLY_TRACES = ".js-plotly-plot .main-svg .trace, .js-plotly-plot .main-svg .hm"


@pytest.fixture(scope="module")
def server(app_server: str) -> str:
    return app_server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = driver.launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def blocked() -> list[str]:
    """URLs outside localhost that the page tried to fetch (all were aborted)."""
    return []


@pytest.fixture
def context(browser: Browser, blocked: list[str]) -> Iterator[BrowserContext]:
    ctx = driver.offline_context(browser, blocked)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def studies() -> pd.DataFrame:
    return data.load_studies()


def query_string(query: dict[str, str | list[str]]) -> str:
    return "&".join(
        f"{k}={v}" for k, values in query.items()
        for v in ([values] if isinstance(values, str) else values)
    )


def expected_rows(studies: pd.DataFrame, query: dict[str, list[str]]) -> pd.DataFrame:
    """The rows the Explore table shows for a link, from the Python API."""
    view, notices = state.from_query("explore", query, ui.filter_choices(studies))
    assert not notices, notices
    return aggregate.study_estimates(
        aggregate.filter_studies(studies, **state.filter_kwargs(view))
    )


def bar_traces(pooled: pd.DataFrame) -> list[dict]:
    """The pooled traces of charts.prevalence_bars_figure (bars) or
    charts.observed_modelled_figure (dots): one per diet group in schema order, x = age
    bands present, y = pooled estimate in percent."""
    traces = []
    for diet in schema.STUDY_DIET_GROUPS:
        part = pooled.loc[pooled["diet_group"].astype(str) == diet]
        if part.empty:
            continue
        traces.append({
            "name": schema.DIET_LABELS[diet],
            "x": part["age_band"].astype(str).tolist(),
            "y": (part["estimate"] * 100).tolist(),
        })
    return traces


def as_pooled_dots(figure: list[dict]) -> list[dict]:
    """The published pools of observed_modelled_figure (its dots; the model is the bars)."""
    return [{"name": t["name"], "x": t["x"], "y": t["y"]} for t in figure
            if t["type"] == "scatter"]


def assert_traces_close(got: list[dict], want: list[dict]) -> None:
    assert [t["name"] for t in got] == [t["name"] for t in want]
    for g, w in zip(got, want, strict=True):
        assert g["x"] == w["x"], g["name"]
        np.testing.assert_allclose(g["y"], w["y"], rtol=1e-9, err_msg=g["name"])


def rows_caption(rows: pd.DataFrame) -> str:
    return f"{len(rows)} rows from {rows['study_id'].nunique()} studies"


def download_csv(page: Page, tmp_path: Path) -> pd.DataFrame:
    with page.expect_download() as info:
        # the filtered table's buttons come last, after the pooled-and-modelled table's
        page.get_by_role("button", name="Download CSV").last.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    return pd.read_csv(path)


def explore_view(page: Page) -> dict:
    """What the Explore page shows: widgets, the table caption and the chart's traces."""
    return {
        "def": driver.selectbox_value(page, "Definition"),
        "status": driver.selectbox_value(page, "Status"),
        "diet": driver.multiselect_values(page, "Diet groups"),
        "view": driver.radio_value(page, "Chart"),
        "minn": driver.number_value(page, state.PARAMS["minn"].label),
        "caption": page.get_by_text(" rows from ").first.inner_text(),
        "traces": driver.plotly_traces(page),
    }


def test_linked_explore_view_shows_the_link_and_the_api_numbers(context, server, studies):
    page = driver.open_page(context, server, "explore", query_string(LINKED))
    shown = explore_view(page)
    # The option names the definition, then the studies reporting it under the filters.
    assert shown["def"].startswith(aggregate.definition_label("b12_lt148") + " (")
    assert shown["def"].endswith(" studies)")
    assert shown["status"] == schema.STATUS_LABELS["deficient"]
    assert shown["diet"] == ["Vegetarian", "Vegan"]  # schema order, not link order
    assert shown["view"] == "Grouped bars"
    assert shown["minn"] == "20"
    assert not page.locator('[data-testid="stException"]').count()

    rows = expected_rows(studies, {k: [v] if isinstance(v, str) else v
                                   for k, v in LINKED.items()})
    assert len(rows) > 3, "the linked filters should leave several rows to compare"
    assert rows_caption(rows) in shown["caption"]
    pooled = aggregate.pool_groups(rows, by=("age_band", "diet_group"))
    (figure,) = shown["traces"]
    assert_traces_close(as_pooled_dots(figure), bar_traces(pooled))


def test_csv_download_holds_exactly_the_rows_shown(context, server, studies, tmp_path):
    page = driver.open_page(context, server, "explore", query_string(LINKED))
    got = download_csv(page, tmp_path)
    rows = expected_rows(studies, {k: [v] if isinstance(v, str) else v
                                   for k, v in LINKED.items()})
    # Same rows in the same order as the table, and the caption counts them.
    assert got["row_id"].tolist() == rows["row_id"].tolist()
    assert rows_caption(rows) in page.get_by_text(" rows from ").first.inner_text()
    missing = sorted(set(got.columns) - set(rows.columns))
    assert not missing, f"CSV columns not in the API's rows: {missing}"
    want = rows.loc[:, list(got.columns)]
    for column in ("prevalence", "interval_low", "interval_high", "n", "cases", "cutoff_value"):
        if column in got.columns:
            np.testing.assert_allclose(got[column].astype(float), want[column].astype(float),
                                       rtol=1e-12, equal_nan=True, err_msg=column)
    for column in ("study_id", "diet_group", "age_band", "definition", "status", "reliability"):
        if column in got.columns:
            assert got[column].astype(str).tolist() == want[column].astype(str).tolist(), column


def test_share_link_reproduces_a_changed_view_in_a_new_context(browser, context, server, studies):
    page = driver.open_page(context, server, "explore", query_string(LINKED))
    # Add omnivores through the multiselect, then switch the chart to the heatmap.
    diet = driver.widget(page, "stMultiSelect", "Diet groups")
    driver.open_options(page, diet)
    page.get_by_role("option", name=schema.DIET_LABELS["omnivore"], exact=True).click()
    page.keyboard.press("Escape")
    driver.wait_until(page, lambda: "diet=omnivore" in page.url, "diet=omnivore in the URL")
    driver.widget(page, "stRadio", "Chart").get_by_text("Age x diet heatmap").click()
    driver.wait_until(page, lambda: "view=heatmap" in page.url, "view=heatmap in the URL")
    before = explore_view(page)
    # Chips keep the order they were picked in; the link (and so the new tab) uses the
    # vocabulary's order. Same selection either way.
    assert before["diet"] == ["Vegetarian", "Vegan", "Omnivore"]
    assert before["view"] == "Age x diet heatmap"

    link = driver.share_link(page)
    query = parse_qs(urlsplit(link).query, keep_blank_values=True)
    assert urlsplit(link).path == "/explore"
    assert query["v"] == [str(state.STATE_VERSION)]
    assert query["diet"] == ["omnivore", "vegetarian", "vegan"]
    assert query["view"] == ["heatmap"]
    assert query["minn"] == ["20"]

    fresh = driver.offline_context(browser)
    try:
        again = driver.open_view(fresh, link, driver.READY["explore"])
        after = explore_view(again)
    finally:
        fresh.close()
    assert after.pop("diet") == ["Omnivore", "Vegetarian", "Vegan"]
    before.pop("diet")
    assert after == before

    # And the heatmap holds the API's pooled estimates (percent) for the shared state.
    rows = expected_rows(studies, {k: v for k, v in query.items() if k != "v"})
    pooled = aggregate.pool_groups(rows, by=("age_band", "diet_group"))
    (heat,) = [t for t in after["traces"][0] if t["type"] == "heatmap"]
    # Rows are age bands (y), columns diet labels (x); empty cells are blank (null/NaN).
    cells = {
        (str(diet_), str(band)): value
        for band, row in zip(heat["y"], heat["z"], strict=True)
        for diet_, value in zip(heat["x"], row, strict=True)
        if value is not None and not np.isnan(value)
    }
    want = {
        (schema.DIET_LABELS[str(r.diet_group)], str(r.age_band)): r.estimate * 100
        for r in pooled.itertuples()
    }
    assert cells.keys() == want.keys()
    for key, value in want.items():
        assert cells[key] == pytest.approx(value, rel=1e-9), key


def test_burden_map_draws_countries_offline(context, server, blocked):
    page = driver.open_page(context, server, "burden")
    page.wait_for_selector(".js-plotly-plot .choroplethlayer path")
    paths = page.locator(".js-plotly-plot .choroplethlayer path").count()
    # Natural Earth 1:110m has 177 countries; the map must draw most of them from the
    # geometry shipped with the app, since every request outside localhost was aborted.
    assert paths > 100, f"only {paths} country shapes drawn; blocked requests: {blocked[:5]}"
    assert not [u for u in blocked if "plot.ly" in u or "topojson" in u], blocked
    assert not page.locator('[data-testid="stException"]').count()


@pytest.fixture(scope="module")
def outside_requests() -> list[str]:
    """URLs outside localhost that any page of the every_page tabs asked for."""
    return []


@pytest.fixture(scope="module")
def every_page(
    browser: Browser, server: str, outside_requests: list[str]
) -> Iterator[dict[str, Page | Exception]]:
    """All pages opened side by side in one offline context, as tabs (they load in parallel).

    A page that fails to draw is kept as its exception, so only its own test fails.
    """
    ctx = driver.offline_context(browser, outside_requests)
    pages = {}
    for name in schema.PAGES:
        pages[name] = ctx.new_page()
        pages[name].goto(state.page_url(name, server), wait_until="commit")
    opened: dict[str, Page | Exception] = {}
    for name, page in pages.items():
        try:
            page.wait_for_selector(driver.READY[name], timeout=driver.LOAD_TIMEOUT_MS)
            driver.wait_settled(page)
            opened[name] = page
        except Exception as exc:  # reported by that page's test
            opened[name] = exc
    yield opened
    ctx.close()


@pytest.mark.parametrize("name", list(schema.PAGES))
def test_every_page_opens_without_an_exception_and_draws(every_page, name):
    page = every_page[name]
    if isinstance(page, Exception):
        raise page
    assert not page.locator('[data-testid="stException"]').count(), name
    assert page.locator('[data-testid="stMain"] h1').count() >= 1
    if name in driver.CHART_PAGES:
        assert page.locator(".js-plotly-plot").count() >= 1
        # Drawn, not just mounted: Plotly has put its traces into the SVG.
        assert page.locator(PLOTLY_TRACES).count() > 0


def test_no_page_asks_for_anything_outside_localhost(every_page, outside_requests):
    # Fonts, icons, map geometry and Plotly are all served by the app itself.
    assert all(not isinstance(p, Exception) for p in every_page.values())
    assert outside_requests == []
