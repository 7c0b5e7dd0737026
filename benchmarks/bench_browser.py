"""What a visitor waits for in a real browser: first chart, and a filter change to a redrawn chart.

Starts the app and a minimal Streamlit + Plotly page (one sidebar multiselect, one bar chart)
with `streamlit run` on free ports, and drives Debian's Chromium (Playwright; never a
downloaded browser) against both, in the same run:

- first chart: a fresh browser context opens a page and waits until its first Plotly chart
  is drawn (`.js-plotly-plot .main-svg` visible); for every page with a chart and for the
  minimal page, median of --repeat visits after one warm-up visit each;
- filter change: on Explore (vegetarians and vegans shown) and on the minimal page, one more
  group is picked in the sidebar multiselect, and the time runs from the click until the first
  chart holds new data and the run has settled; median of --repeat changes.

Prints the times and their ratios to the minimal page's against the targets (first chart
<= 1.2x, filter change <= 1.5x), marked OVER where missed. Asserts nothing.

    .venv/bin/python benchmarks/bench_browser.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Browser, sync_playwright  # noqa: E402

from dashboard import schema, state  # noqa: E402
from tests import screenshots as driver  # noqa: E402
from tests.live_server import streamlit_server  # noqa: E402

# Targets of issue 16, item 2.
FIRST_CHART_TARGET = 1.2
FILTER_CHANGE_TARGET = 1.5
CHART = ".js-plotly-plot .main-svg >> visible=true"
EXPLORE_QUERY = "def=b12_lt148&status=deficient&diet=vegan&diet=vegetarian&view=bars&minn=20"

MINIMAL_PAGE = '''"""The yardstick of bench_browser.py: a minimal Plotly page with one filter."""
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="Minimal", layout="wide")
st.title("Minimal page")
groups = ["Omnivore", "Pescatarian", "Vegetarian", "Vegan"]
chosen = st.sidebar.multiselect("Groups", groups, default=["Vegetarian", "Vegan"])
st.write("One chart of the chosen groups.")
figure = go.Figure(go.Bar(x=chosen, y=[groups.index(g) + 1 for g in chosen]))
st.plotly_chart(figure)
'''

# The first chart's data, to tell a redraw with new data from the chart already there.
_FIRST_DATA_JS = """() => {
    const div = document.querySelector('.js-plotly-plot');
    return div && div.data ? JSON.stringify(div.data.map(t => [t.x, t.y, t.z])) : null;
}"""


def timed(step: Callable[[], None]) -> float:
    """Seconds that ``step`` took."""
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def first_chart(browser: Browser, url: str) -> float:
    """Seconds from opening ``url`` in a fresh context to its first chart drawn."""
    context = driver.offline_context(browser)
    try:
        page = context.new_page()
        return timed(lambda: (page.goto(url),
                              page.wait_for_selector(CHART, timeout=driver.LOAD_TIMEOUT_MS)))
    finally:
        context.close()


def filter_change(browser: Browser, url: str, label: str, option: str) -> float:
    """Seconds from picking ``option`` in the multiselect ``label`` to the first chart redrawn
    with new data and the run settled."""
    context = driver.offline_context(browser)
    try:
        page = driver.open_view(context, url, CHART)
        before = page.evaluate(_FIRST_DATA_JS)
        chooser = driver.widget(page, "stMultiSelect", label)
        driver.open_options(page, chooser)
        choice = page.get_by_role("option", name=option, exact=True)

        def change() -> None:
            choice.click()
            page.wait_for_function(f"(before) => ({_FIRST_DATA_JS})() !== before", arg=before,
                                   timeout=driver.LOAD_TIMEOUT_MS, polling="raf")
            driver.wait_settled(page)

        return timed(change)
    finally:
        context.close()


def median_of(repeat: int, measure: Callable[[], float]) -> float:
    """One warm-up, then the median of ``repeat`` measurements."""
    measure()
    return statistics.median(measure() for _ in range(repeat))


def verdict(ratio: float, target: float) -> str:
    """'meets' or 'OVER' the target (a ratio that must stay at or below it)."""
    return f"meets <= {target}" if ratio <= target else f"OVER the target of {target}"


def run(browser: Browser, app: str, minimal: str, repeat: int) -> None:
    """Print the first-chart and filter-change tables."""
    base = median_of(repeat, lambda: first_chart(browser, minimal))
    print(f"first chart, median of {repeat} fresh visits (minimal page {base * 1000:.0f} ms)")
    print(f"  {'page':<10} {'ms':>6} {'x minimal':>10}")
    worst = 0.0
    for name in driver.CHART_PAGES:
        url = state.page_url(name, app)
        seconds = median_of(repeat, lambda url=url: first_chart(browser, url))
        worst = max(worst, seconds / base)
        print(f"  {name:<10} {seconds * 1000:>6.0f} {seconds / base:>10.2f}")
    print(f"  slowest page: {worst:.2f}x the minimal page: {verdict(worst, FIRST_CHART_TARGET)}")

    small = median_of(repeat, lambda: filter_change(browser, minimal, "Groups", "Omnivore"))
    explore = state.page_url("explore", app) + "?" + EXPLORE_QUERY
    omnivore = schema.DIET_LABELS["omnivore"]
    big = median_of(repeat, lambda: filter_change(browser, explore, "Diet groups", omnivore))
    ratio = big / small
    print(f"filter change to a redrawn chart, median of {repeat} (add omnivores)")
    print(f"  minimal page {small * 1000:.0f} ms; Explore {big * 1000:.0f} ms = {ratio:.2f}x: "
          f"{verdict(ratio, FILTER_CHANGE_TARGET)}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="measurements per figure")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, not {args.repeat}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "minimal_filter.py"
        script.write_text(MINIMAL_PAGE)
        with streamlit_server() as app, streamlit_server(str(script)) as minimal, \
                sync_playwright() as playwright:
            browser = driver.launch(playwright)
            try:
                run(browser, app, minimal, args.repeat)
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
