"""Accessibility in Chromium: axe-core on every page, named charts with table alternatives.

axe-core comes bundled with axe-playwright-python (its axe.min.js is injected into the page
from the installed package), so nothing is fetched; the offline context aborts any request
outside localhost. A serious or critical violation fails the test unless every node of it
lies in markup Streamlit itself draws, listed in STREAMLIT_MARKUP with the upstream issue.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import axe_playwright_python
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

from dashboard import schema, state
from tests import screenshots as driver
from tests.live_server import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} missing: `make chromium` installs it"),
]

BLOCKING = ("serious", "critical")


@dataclass(frozen=True)
class Allowed:
    """A violation in Streamlit's own markup: the rule, where (a selector its nodes are in),
    the upstream issue and why the app cannot fix it."""

    rule: str
    inside: str
    issue: str
    why: str


STREAMLIT_MARKUP: tuple[Allowed, ...] = (
    Allowed("list", '[data-testid="stSidebarNav"]',
            "https://github.com/streamlit/streamlit/issues/8399",
            "st.navigation draws its page links as a <ul> whose direct children are <div> "
            "wrappers, not <li>; the app only passes the pages."),
    Allowed("listitem", '[data-testid="stSidebarNav"]',
            "https://github.com/streamlit/streamlit/issues/8399",
            "the <li> of those page links sit inside the <div> wrappers, not in the <ul>."),
    Allowed("color-contrast",
            '[data-testid="stElementContainer"]:has(input:disabled, [aria-disabled="true"])'
            ' [data-testid="stWidgetLabel"]',
            "https://www.w3.org/TR/WCAG22/#contrast-minimum",
            "Streamlit greys the label of a disabled widget (Risk profile's Pregnancy while the "
            "segment cannot be pregnant); WCAG 1.4.3 exempts inactive controls. Axe sees it "
            "since the sidebar opens on the filters instead of the page links."),
    Allowed("scrollable-region-focusable", ".katex-display",
            "https://github.com/streamlit/streamlit/issues/4304",
            "st.latex / $$ math renders in a KaTeX block that scrolls sideways (overflow-x, "
            "the fix of that issue) without tabindex, so it is not reachable by keyboard."),
)


@pytest.fixture(scope="module")
def pages(app_server: str) -> Iterator[dict[str, Page | Exception]]:
    base = app_server
    with sync_playwright() as playwright:
        browser: Browser = driver.launch(playwright)
        ctx = driver.offline_context(browser)
        opened: dict[str, Page | Exception] = {}
        for name in schema.PAGES:
            page = ctx.new_page()
            try:
                page.goto(state.page_url(name, base))
                page.wait_for_selector(driver.READY[name], timeout=driver.LOAD_TIMEOUT_MS)
                driver.wait_settled(page)
                opened[name] = page
            except Exception as exc:  # reported by that page's test
                opened[name] = exc
        yield opened
        ctx.close()
        browser.close()


def _allowed(page: Page, rule: str, target: list[str]) -> Allowed | None:
    for allowed in STREAMLIT_MARKUP:
        if allowed.rule != rule:
            continue
        inside = page.evaluate(
            "([sel, within]) => { const el = document.querySelector(sel);"
            " return el !== null && el.closest(within) !== null; }",
            [target[-1], allowed.inside],
        )
        if inside:
            return allowed
    return None


def test_axe_ships_with_the_package():
    # Injected from the installed wheel: nothing is downloaded when the tests run.
    script = Path(axe_playwright_python.__file__).parent / "axe.min.js"
    assert script.stat().st_size > 100_000
    assert "axe v4." in script.read_text(encoding="utf-8")[:2_000]


@pytest.mark.parametrize("name", list(schema.PAGES))
def test_no_serious_or_critical_axe_violation_from_the_app_s_markup(pages, name):
    page = pages[name]
    if isinstance(page, Exception):
        raise page
    results = Axe().run(page).response
    own = []
    for violation in results["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        for node in violation["nodes"]:
            if _allowed(page, violation["id"], node["target"]) is None:
                own.append((violation["id"], node["target"][-1],
                            node.get("failureSummary", "")[:200]))
    assert not own, f"{name}: {own}"


@pytest.mark.parametrize("name", driver.CHART_PAGES)
def test_every_chart_is_named_and_has_its_table(pages, name):
    page = pages[name]
    if isinstance(page, Exception):
        raise page
    # the charts shown: a chart with a phone form has the other hidden (display: none)
    charts = page.locator('[data-testid="stPlotlyChart"], .stPlotlyChart').filter(visible=True)
    driver.wait_until(page, lambda: all(
        (charts.nth(i).get_attribute("aria-label") or "") for i in range(charts.count())),
        "every chart named")
    count = charts.count()
    assert count >= 1
    for i in range(count):
        chart = charts.nth(i)
        assert chart.get_attribute("role") == "figure"
        label = chart.get_attribute("aria-label") or ""
        # Title, then a one-sentence summary.
        assert ". " in label, label
        assert len(label) > 40, label
    tables = page.get_by_text("Table of the chart", exact=True)
    assert tables.count() >= count
