"""Browser tests of issue 12's Overview and Burden fixes: keyboard steps on a slider pressed
while the page reruns are all kept (six presses gave 0.15 instead of 0.30); headings go
h1 -> h2 -> h3 (axe heading-order) and the "thin evidence" badge is legible (axe
color-contrast)."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests import screenshots as driver
from tests.live_server import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} missing: `make chromium` installs it"),
]

LABEL = "Supplementation: share covered"
PRESSES = 6
STEP = 0.05
# Gaps between key presses, in ms. A press that lands while the previous press's rerun is on
# its way back lost steps (without widget_changed, 3 of 6 rounds at 200-800 ms ended short:
# 0.25, 0.25, 0.15); 0 presses faster than any rerun.
GAPS_MS = (300, 400, 800, 0)


def test_arrow_keys_on_a_slider_keep_every_step(app_server: str):
    from playwright.sync_api import sync_playwright

    server = app_server
    with sync_playwright() as playwright:
        browser = driver.launch(playwright)
        try:
            for gap in GAPS_MS:
                context = driver.offline_context(browser)
                page = driver.open_page(context, server, "burden")
                slider = driver.widget(page, "stSlider", LABEL)
                slider.locator('input[type="range"]').focus()
                started = time.monotonic()
                for _ in range(PRESSES):
                    page.keyboard.press("ArrowRight")
                    page.wait_for_timeout(gap)
                want = f"{PRESSES * STEP:g}"
                driver.wait_until(
                    page, lambda page=page, want=want: parse_qs(
                        urlsplit(page.url).query).get("scov") == [want],
                    f"scov={want} in the address")
                print(f"gap {gap} ms: {PRESSES} presses -> scov={want} in "
                      f"{time.monotonic() - started:.1f} s")
                # a little later nothing has undone a step
                page.wait_for_timeout(1500)
                driver.wait_settled(page)
                assert parse_qs(urlsplit(page.url).query)["scov"] == [want]
                assert slider.locator('input[type="range"]').input_value() == want
                assert slider.get_by_test_id("stSliderThumbValue").inner_text() == (
                    f"{PRESSES * STEP:.2f}")
                context.close()
        finally:
            browser.close()


# Pages and what each must show before axe reads it (the Overview's default view has a thin
# vegan pool, so its badge is on the page; Nigeria has no study of its own).
AXE_VIEWS = {"overview": "", "burden": "loc=NGA"}


def test_headings_keep_their_order_and_the_badge_its_contrast(app_server: str):
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    server = app_server
    with sync_playwright() as playwright:
        browser = driver.launch(playwright)
        try:
            context = driver.offline_context(browser)
            for name, query in AXE_VIEWS.items():
                page = driver.open_page(context, server, name, query)
                badge = page.get_by_text("thin evidence").first
                badge.wait_for()
                levels = page.evaluate(
                    "() => Array.from(document.querySelectorAll("
                    "'[data-testid=\"stMain\"] h1, [data-testid=\"stMain\"] h2, "
                    "[data-testid=\"stMain\"] h3')).map(h => Number(h.tagName[1]))")
                assert levels[:2] == [1, 2], (name, levels)
                assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels
                results = Axe().run(page, options={"runOnly": ["heading-order",
                                                               "color-contrast"]}).response
                found = [(v["id"], n["target"][-1]) for v in results["violations"]
                         for n in v["nodes"]]
                print(f"{name}: headings {levels}, axe {found or 'clean'}")
                assert not found, (name, found)
            context.close()
        finally:
            browser.close()
