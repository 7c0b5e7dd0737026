"""On a phone (390x844) in Chromium: chart titles and legends inside the chart and clear of
each other, a readable forest plot, the filters before the navigation, headings in order.

Each chart's parts are measured by their bounding boxes in the page (Plotly's SVG): the
title and subtitle lie within the chart's width, the legend overlaps neither them, nor a
plot area, nor the x axis; the forest plot's text lines lie inside the chart, none on top of
another. A desktop window (1440x1000) keeps the top navigation bar.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from dashboard import schema
from tests import screenshots as driver
from tests.live_server import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} missing: `make chromium` installs it"),
]

PHONE = driver.PHONE_VIEWPORT
DESKTOP = driver.VIEWPORT

# Boxes [left, top, right, bottom] of the parts of every chart shown (display is not none).
_CHART_BOXES_JS = """() => {
  const box = e => { const b = e.getBoundingClientRect();
                     return [b.left, b.top, b.right, b.bottom]; };
  const all = (root, s) => Array.from(root.querySelectorAll(s)).map(box);
  return Array.from(document.querySelectorAll('.js-plotly-plot'))
    .filter(p => p.offsetParent !== null)
    .map(p => {
      const one = s => { const e = p.querySelector(s); return e ? box(e) : null; };
      const title = p.querySelector('.gtitle');
      return {
        title: title ? title.textContent : '',
        svg: box(p.querySelector('.main-svg')),
        titleBox: one('.gtitle'), subtitle: one('.gtitle-subtitle'), legend: one('.legend'),
        colorbar: one('.colorbar'), plots: all(p, '.draglayer .nsewdrag, .geolayer .geo'),
        xtitle: one('.xtitle'), xticks: all(p, '.xaxislayer-above .xtick text'),
        yticks: all(p, '.yaxislayer-above .ytick text'),
        annotations: Array.from(p.querySelectorAll('.annotation-text-g')).map(
          e => [...box(e), e.textContent]),
      };
    });
}"""


def _meet(a: list[float] | None, b: list[float] | None, slack: float = 0.5) -> bool:
    """Whether two boxes overlap by more than ``slack`` px both ways."""
    if not a or not b:
        return False
    return (min(a[2], b[2]) - max(a[0], b[0]) > slack
            and min(a[3], b[3]) - max(a[1], b[1]) > slack)


def _inside(inner: list[float] | None, outer: list[float], slack: float = 1.0) -> bool:
    return inner is None or (inner[0] >= outer[0] - slack and inner[2] <= outer[2] + slack)


@pytest.fixture(scope="module")
def browser(app_server: str) -> Iterator[tuple[str, Browser]]:
    base = app_server
    with sync_playwright() as playwright:
        chromium = driver.launch(playwright)
        yield base, chromium
        chromium.close()


@pytest.fixture(scope="module")
def phone(browser) -> Iterator[tuple[str, BrowserContext]]:
    base, chromium = browser
    context = driver.offline_context(chromium, viewport=PHONE)
    yield base, context
    context.close()


def _open(context: BrowserContext, base: str, name: str, query: str = "") -> Page:
    page = driver.open_page(context, base, name, query)
    page.wait_for_timeout(400)  # Plotly's first layout
    return page


def _charts(page: Page) -> list[dict[str, Any]]:
    charts = page.evaluate(_CHART_BOXES_JS)
    assert charts, "no chart shown"
    return charts


@pytest.mark.parametrize(("name", "query"), [
    (name, "") for name in driver.CHART_PAGES
] + [("explore", "view=heatmap"), ("explore", "view=dots"), ("evidence", "by=age_band")])
def test_titles_fit_and_legends_sit_below_clear_of_text(phone, name, query):
    base, context = phone
    page = _open(context, base, name, query)
    try:
        for chart in _charts(page):
            svg, title = chart["svg"], chart["title"][:50]
            # inside the chart's width: not clipped on the right (before: one long line)
            assert _inside(chart["titleBox"], svg), f"{name}: title runs off: {title}"
            assert _inside(chart["subtitle"], svg), f"{name}: subtitle runs off: {title}"
            assert not _meet(chart["titleBox"], chart["subtitle"]), title
            for key in ("legend", "colorbar"):
                part = chart[key]
                if part is None:
                    continue
                assert _inside(part, svg), f"{name}: {key} wider than the chart: {title}"
                for other in ("titleBox", "subtitle", "xtitle"):
                    assert not _meet(part, chart[other]), f"{name}: {key} on {other}: {title}"
                assert not any(_meet(part, p) for p in chart["plots"]), (
                    f"{name}: {key} over the plot: {title}")
                assert not any(_meet(part, t) for t in chart["xticks"]), (
                    f"{name}: {key} over the x tick labels: {title}")
                # below the plot (before: above it, under the subtitle)
                assert part[1] >= max(p[3] for p in chart["plots"]) - 1, title
            # row labels (the Cutoffs populations: two lines each) never on one another
            ticks = chart["yticks"]
            clashes = [i for i in range(len(ticks) - 1) if _meet(ticks[i], ticks[i + 1])]
            assert not clashes, f"{name}: y labels overlap: {title}"
            if chart["legend"] and chart["colorbar"]:
                assert not _meet(chart["legend"], chart["colorbar"]), title
    finally:
        page.close()


def test_forest_plot_is_readable_at_390_px(phone):
    base, context = phone
    page = _open(context, base, "evidence")
    try:
        (chart,) = _charts(page)  # the stacked form; the wide one is hidden
        svg = chart["svg"]
        plot = chart["plots"][0]
        # the plot takes most of the width (before: about 40 of 340 px between the labels
        # and the right-hand columns)
        assert plot[2] - plot[0] > 0.8 * (svg[2] - svg[0])
        lines = chart["annotations"]
        assert any("Pooled (random effects)" in a[4] for a in lines)
        assert any("weight" in a[4] for a in lines)
        for a in lines:
            assert _inside(a, svg), f"cut off: {a[4]}"
        clashes = [(a[4], b[4]) for i, a in enumerate(lines) for b in lines[i + 1:]
                   if _meet(a, b)]
        assert not clashes, clashes[:3]
    finally:
        page.close()


def test_filters_come_before_the_navigation_on_a_phone(phone):
    base, context = phone
    page = _open(context, base, "explore")
    try:
        page.get_by_test_id("stExpandSidebarButton").click()
        sidebar = page.get_by_test_id("stSidebar")
        filters = sidebar.get_by_role("heading", name="Filters")
        filters.wait_for()
        # Streamlit moves the top navigation into the sidebar on a phone: it is hidden there
        # (before: seven page links above the filters)
        nav = sidebar.get_by_test_id("stSidebarNav")
        assert nav.count() == 0 or not nav.is_visible()
        assert filters.bounding_box()["y"] < PHONE["height"] / 2
        page.get_by_test_id("stSidebarCollapseButton").click()
        # the pages are one menu at the top of the page instead, all of them
        menu = page.locator(".st-key-phone-navigation").get_by_role("button")
        assert menu.is_visible()
        assert "Explore" in menu.inner_text()
        menu.click()
        body = page.get_by_test_id("stPopoverBody")
        body.wait_for()
        for target in schema.PAGES.values():
            assert body.get_by_role("link", name=target.title).count() == 1, target.title
    finally:
        page.close()


def test_a_desktop_keeps_the_top_navigation(browser):
    base, chromium = browser
    context = driver.offline_context(chromium, viewport=DESKTOP)
    page = _open(context, base, "explore")
    try:
        assert not page.locator(".st-key-phone-navigation").is_visible()
        header = page.get_by_test_id("stHeader")
        groups = {p.group for p in schema.PAGES.values()}
        for group in groups:
            assert header.get_by_text(group, exact=True).first.is_visible(), group
        first = page.get_by_test_id("stSidebarUserContent").get_by_role("heading").first
        assert first.inner_text() == "Filters"
    finally:
        page.close()
        context.close()


_HEADINGS_JS = """() => Array.from(document.querySelectorAll(
    '[data-testid="stApp"] h1, [data-testid="stApp"] h2, [data-testid="stApp"] h3,'
    + '[data-testid="stApp"] h4, [data-testid="stApp"] h5, [data-testid="stApp"] h6'))
  .filter(h => h.offsetParent !== null && h.textContent.trim())
  .map(h => [Number(h.tagName[1]), h.textContent.trim().slice(0, 40)])"""


@pytest.mark.parametrize("name", ["explore", "cutoffs"])
def test_headings_never_skip_a_level(phone, name):
    base, context = phone
    page = _open(context, base, name)
    try:
        headings = page.evaluate(_HEADINGS_JS)
        levels = [level for level, _ in headings]
        assert 1 in levels
        # axe's heading-order: a heading is at most one level below the one before it
        # (before: the page title h1, then h3 subheaders)
        jumps = [(a, b) for a, b in zip(headings, headings[1:], strict=False)
                 if b[0] > a[0] + 1]
        assert not jumps, jumps
    finally:
        page.close()


def test_the_page_menu_lists_the_registry(phone):
    # one home for the pages: the phone's menu follows schema.PAGES and its links open them
    base, context = phone
    page = _open(context, base, "overview")
    try:
        page.locator(".st-key-phone-navigation").get_by_role("button").click()
        link = page.get_by_test_id("stPopoverBody").get_by_role(
            "link", name=schema.PAGES["cutoffs"].title)
        href = (link.get_attribute("href") or "").rstrip("/")
        assert href.split("/")[-1] == schema.PAGES["cutoffs"].url_path
    finally:
        page.close()
