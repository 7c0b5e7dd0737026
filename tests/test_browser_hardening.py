"""What Chromium shows for hostile links: notices as plain text, one notice for a huge link."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

from dashboard import format
from tests.live_server import CHROMIUM, CHROMIUM_ARGS, streamlit_server

pytestmark = pytest.mark.browser

LINK = "[Data moved: log in](https://e.vil/x)"
IMAGE = "![i](http://127.0.0.1:9/i.png)"
ALERTS = "[data-testid=stAlert]"


def test_hostile_links_show_text_and_a_flood_gives_one_notice():
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium`")
    requested: list[str] = []

    def local_only(route) -> None:
        url = route.request.url
        requested.append(url)
        if urlparse(url).hostname == "127.0.0.1" and urlparse(url).port != 9:
            route.continue_()
        else:
            route.abort()

    with streamlit_server("serve.py") as base, playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.route("**/*", local_only)
            page.goto(f"{base}/evidence?method={quote(LINK)}&diet={quote(IMAGE)}")
            page.locator(ALERTS).filter(has_text="Ignored method").wait_for()
            alerts = page.locator(ALERTS).filter(has_text="Ignored")
            texts = [t.replace(format.WORD_JOINER, "") for t in alerts.all_inner_texts()]
            assert any(f"Ignored method={LINK} (" in t for t in texts), texts
            assert any(f"Ignored diet={IMAGE}" in t for t in texts), texts
            assert alerts.locator("a, img").count() == 0

            # The server refuses a request line much over 16 kB (the 100 kB link of the issue
            # does not reach the app); 11 kB reaches it and is over MAX_QUERY_CHARS.
            flood = "&".join(f"diet=x{i}" for i in range(1_000))
            page.goto(f"{base}/explore?{flood}")
            page.locator(ALERTS).filter(has_text="Ignored the whole link").wait_for()
            assert page.locator(ALERTS).filter(has_text="Ignored").count() == 1
        finally:
            browser.close()
    # Nothing fetched the image address or the link's host.
    assert not [u for u in requested
                if urlparse(u).port == 9 or urlparse(u).hostname == "e.vil"], requested
