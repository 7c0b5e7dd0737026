"""The Share control's embed snippet in another site's page: the chart is drawn inside the
iframe with no Streamlit toolbar, once the deployment allows that site to frame it
(B12_FRAME_ANCESTORS); the data API answers on the same server."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from dashboard import state
from tests import screenshots as driver
from tests.live_server import CHROMIUM, free_port, streamlit_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} missing: `make chromium` installs it"),
]


def test_the_embed_snippet_shows_the_chart_without_a_toolbar(tmp_path):
    port = free_port()
    site = f"http://localhost:{port}"  # another origin than 127.0.0.1:<streamlit>
    with streamlit_server("serve.py", env={"B12_FRAME_ANCESTORS": f"'self' {site}"}) as base:
        view = state.default_state("explore").replace(diet=["vegan", "omnivore"])
        snippet = state.embed_snippet(view, base)
        (tmp_path / "index.html").write_text(
            f"<!doctype html><html><body><h1>Ministry page</h1>{snippet}</body></html>")
        handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                    directory=str(tmp_path))
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            with sync_playwright() as playwright:
                browser = driver.launch(playwright)
                context = driver.offline_context(browser)
                page = context.new_page()
                page.goto(f"{site}/index.html")
                frame = page.frame_locator("iframe")
                frame.locator(".js-plotly-plot .main-svg .trace").first.wait_for(timeout=60_000)
                assert frame.locator('[data-testid="stToolbar"]').count() == 0
                assert frame.locator('[data-testid="stException"]').count() == 0
                box = page.locator("iframe").bounding_box()
                assert box is not None
                assert box["height"] == 600
                browser.close()
        finally:
            httpd.shutdown()
            httpd.server_close()
