"""Browser test of the Risk profile: a shared profile link opened in a fresh, offline context
shows the API's headline and draws the status chart with the API's numbers."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from dashboard import data, model, profile
from tests import screenshots as driver
from tests.live_server import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} missing: `make chromium` installs it"),
]

QUERY = "place=IND&ages=10-19&pdiet=vegetarian"


def _expected() -> profile.SegmentProfile:
    """The profile from the Python API (the same fit as ui.load_model)."""
    from dashboard import burden

    countries = data.load_countries()
    shares = burden.diet_share_model(data.load_diet_shares(), countries["iso3"].tolist())
    fitted = model.fit(data.load_studies(), countries, shares)
    return profile.segment_profile(fitted, data.load_population(), shares, iso3="IND",
                                   age=(10, 19), sex="both", diet_group="vegetarian",
                                   supplement_users="included")


def test_a_shared_profile_link_shows_the_headline_and_the_chart(app_server: str):
    from playwright.sync_api import sync_playwright

    want = _expected()
    server = app_server
    with sync_playwright() as playwright:
        browser = driver.launch(playwright)
        try:
            first = driver.offline_context(browser)
            page = driver.open_page(first, server, "profile", QUERY)
            link = driver.share_link(page)
            first.close()
            query = parse_qs(urlsplit(link).query)
            assert urlsplit(link).path == "/profile"
            assert query["place"] == ["IND"]
            assert query["ages"] == ["10-19"]
            assert query["pdiet"] == ["vegetarian"]
            assert query["v"] == ["1"]

            blocked: list[str] = []
            fresh = driver.offline_context(browser, blocked)
            again = driver.open_view(fresh, link, driver.READY["profile"])
            headline = again.locator('[data-testid="stMain"] h2').first.inner_text()
            assert headline.strip() == want.headline()
            assert not again.locator('[data-testid="stException"]').count()
            status = driver.plotly_traces(again)[0]
            assert [t["name"] for t in status] == ["Deficient", "Marginal", "Adequate"]
            assert status[0]["x"][0] == pytest.approx(100 * want.value("segment", "deficient"))
            assert status[2]["x"][1] == pytest.approx(100 * want.value("general", "adequate"))
            fresh.close()
            assert blocked == []
        finally:
            browser.close()
