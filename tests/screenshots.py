"""Browser drivers for the live dashboard, and `make screenshots`: a PNG of every page.

The helpers here (offline routing, waiting for Streamlit to settle, reading widgets and
Plotly figures) are shared by tests/test_browser.py. Run as a module to write
docs/screenshots/<page>.png (desktop) and <page>-phone.png for the README:

    .venv/bin/python -m tests.screenshots
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, sync_playwright

from dashboard import schema, state
from tests.live_server import CHROMIUM, CHROMIUM_ARGS, ROOT, streamlit_server

SHOTS_DIR = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1440, "height": 1000}
PHONE_VIEWPORT = {"width": 390, "height": 844}  # an iPhone 12-15
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
# Generous: the first visit of a page loads and validates every dataset once per process.
LOAD_TIMEOUT_MS = 60_000

# Page name -> selector that shows the page has drawn its main content.
READY: dict[str, str] = {
    "overview": ".js-plotly-plot .main-svg >> visible=true",
    "explore": ".js-plotly-plot .main-svg >> visible=true",
    "evidence": ".js-plotly-plot .main-svg >> visible=true",
    "burden": ".js-plotly-plot .main-svg >> visible=true",
    "cutoffs": ".js-plotly-plot .main-svg >> visible=true",
    "profile": ".js-plotly-plot .main-svg >> visible=true",
    "model": ".js-plotly-plot .main-svg >> visible=true",
    "methods": '[data-testid="stMain"] h1',
    "your_data": '[data-testid="stMain"] h1',
}
# Pages that draw at least one chart with no upload and default filters.
CHART_PAGES: tuple[str, ...] = ("overview", "explore", "evidence", "burden", "cutoffs",
                                "profile", "model")

# Streamlit shows its status widget while a script runs, and marks the elements of the
# previous run stale until the new run replaces them: settled = neither is on the page.
_SETTLED_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app !== null
        && document.querySelector('[data-testid="stStatusWidget"]') === null
        && document.querySelector('[data-stale="true"]') === null;
}"""

_TRACES_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(
    div => (div.data || []).map(t => ({
        type: t.type || 'scatter', name: t.name === undefined ? null : t.name,
        x: t.x === undefined ? null : Array.from(t.x),
        y: t.y === undefined ? null : Array.from(t.y),
        z: t.z === undefined ? null : Array.from(t.z, r => Array.isArray(r) ? r : [r]),
        locations: t.locations === undefined ? null : Array.from(t.locations),
    })))"""


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, with the flags that keep it off the network."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} not found: run `make chromium` to install it")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def offline_context(browser: Browser, blocked: list[str] | None = None,
                    viewport: dict[str, int] | None = None) -> BrowserContext:
    """A fresh browser context (``viewport``, else the desktop VIEWPORT) in which every
    request not to localhost is aborted.

    The aborted URLs are appended to ``blocked`` so a test can say what the app tried to fetch.
    """
    context = browser.new_context(viewport=viewport or VIEWPORT, accept_downloads=True)

    def route(r: Route) -> None:
        url = r.request.url
        host = urlsplit(url).hostname
        if url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            r.continue_()
        else:
            if blocked is not None:
                blocked.append(url)
            r.abort()

    context.route("**/*", route)
    return context


def wait_settled(page: Page, timeout_ms: int = LOAD_TIMEOUT_MS) -> None:
    """Wait until Streamlit has finished the current run (no status widget, nothing stale)."""
    page.wait_for_function(_SETTLED_JS, timeout=timeout_ms, polling=100)


def open_view(
    context: BrowserContext, url: str, ready: str, timeout_ms: int = LOAD_TIMEOUT_MS
) -> Page:
    """A new tab at ``url``, returned once ``ready`` is on the page and the run has settled."""
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_selector(ready, timeout=timeout_ms)
    wait_settled(page, timeout_ms)
    return page


def open_page(context: BrowserContext, base_url: str, name: str, query: str = "") -> Page:
    """Open one dashboard page by name (schema.PAGES), optionally with a query string."""
    url = state.page_url(name, base_url) + (f"?{query}" if query else "")
    return open_view(context, url, READY[name])


def wait_until(page: Page, predicate: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    """Poll a Python-side check of the page until it holds (a rerun is asynchronous)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        page.wait_for_timeout(100)
    wait_settled(page)


def open_options(page: Page, widget_locator: Any, attempts: int = 4) -> None:
    """Open a select widget's option list. A click that lands while the page is still
    rerunning (a cached figure arriving, say) has its list closed by the redraw, so the click
    is repeated until options show."""
    for _ in range(attempts):
        widget_locator.get_by_role("combobox").click()
        try:
            page.get_by_role("option").first.wait_for(timeout=3000)
            return
        except Exception:  # noqa: BLE001 - closed by a rerun: try again
            page.keyboard.press("Escape")
    raise AssertionError("the option list never opened")


def widget(page: Page, testid: str, label: str) -> Any:
    """The widget of a kind (stSelectbox, stMultiSelect, stRadio, ...) with this label."""
    return page.locator(f'[data-testid="{testid}"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)
    ).first


def multiselect_values(page: Page, label: str) -> list[str]:
    """The chips a multiselect shows, in order."""
    chips = widget(page, "stMultiSelect", label).locator("[data-tag] > span[title]")
    return [chips.nth(i).get_attribute("title") or "" for i in range(chips.count())]


def selectbox_value(page: Page, label: str) -> str:
    """The option a selectbox shows."""
    box = widget(page, "stSelectbox", label)
    return box.get_by_role("combobox").input_value()


def number_value(page: Page, label: str) -> str:
    """The text of a number input."""
    return widget(page, "stNumberInput", label).get_by_test_id("stNumberInputField").input_value()


def radio_value(page: Page, label: str) -> str:
    """The label of the checked option of a radio group."""
    group = widget(page, "stRadio", label)
    return group.locator("label:has(input:checked)").inner_text().strip()


def plotly_traces(page: Page) -> list[list[dict[str, Any]]]:
    """Every Plotly figure's traces (type, name, x, y, z, locations), figure by figure."""
    return page.evaluate(_TRACES_JS)


def share_link(page: Page) -> str:
    """Open the Share popover and return the link it shows (the first code block; the data
    URL and the embed snippet follow)."""
    page.get_by_role("button", name="Share").click()
    code = page.locator('[data-testid="stPopoverBody"] [data-testid="stCode"] code').first
    code.wait_for()
    link = code.inner_text().strip()
    page.keyboard.press("Escape")
    return link


# The Your data page is empty until a file is read: its screenshot shows the results for the
# survey microdata the statistics tests use.
SAMPLE_UPLOAD = ROOT / "tests" / "golden" / "survey_microdata.csv"


def show_sample_results(page: Page, upload: Path = SAMPLE_UPLOAD) -> None:
    """On the Your data page: upload a file, confirm the proposed mapping, show the first chart."""
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(upload)
    page.get_by_role("button", name="Confirm mapping").click()
    chart = page.locator(".js-plotly-plot .main-svg >> visible=true").first
    chart.wait_for(timeout=LOAD_TIMEOUT_MS)
    wait_settled(page)
    chart.scroll_into_view_if_needed()


def show_first_chart(page: Page) -> None:
    """Scroll the page's first chart shown to the top of the window (a phone shows little
    more than the page's introduction otherwise); a page without a chart stays as it is."""
    chart = page.locator(".js-plotly-plot").filter(visible=True).first
    if chart.count():
        # Streamlit's header covers the top of the window: leave room for it
        chart.evaluate("""el => { el.scrollIntoView({block: 'start'});
            let box = el.parentElement;
            while (box && box.scrollHeight <= box.clientHeight) { box = box.parentElement; }
            if (box) { box.scrollTop -= 90; } }""")


# The two screens every page is shot on: (file name suffix, viewport).
SCREENS: tuple[tuple[str, dict[str, int]], ...] = (
    ("", VIEWPORT),
    ("-phone", PHONE_VIEWPORT),
)


def save_screenshots(out_dir: Path = SHOTS_DIR) -> list[Path]:
    """Serve the app offline and save a PNG of each page as it opens (schema.PAGES order; Your
    data with a sample file read), on a desktop (<page>.png, 1440x1000) and on a phone
    (<page>-phone.png, 390x844)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with streamlit_server() as base, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for suffix, viewport in SCREENS:
                context = offline_context(browser, viewport=viewport)
                for name in schema.PAGES:
                    page = open_page(context, base, name)
                    if name == "your_data":
                        show_sample_results(page)
                    if suffix == "-phone":
                        show_first_chart(page)
                    # Plotly animates its first layout; let transitions end before the shot.
                    page.wait_for_timeout(500)
                    path = out_dir / f"{name}{suffix}.png"
                    page.screenshot(path=path, full_page=False, animations="disabled")
                    page.close()
                    written.append(path)
                context.close()
        finally:
            browser.close()
    return written


def main() -> int:
    for path in save_screenshots():
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
