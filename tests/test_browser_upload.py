"""Browser test of the Your data page: upload through the file input, confirm, download."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import stats
from tests import screenshots as driver
from tests.live_server import CHROMIUM

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
MICRODATA = ROOT / "tests" / "golden" / "survey_microdata.csv"
WAIT_MS = 30_000


def _expected() -> pd.DataFrame:
    """survey_prevalence for deficient = serum_b12_pmol_l < 148 by age band x diet group,
    computed here from the raw file without the page's reading and mapping code."""
    raw = pd.read_csv(MICRODATA)
    kept = raw.loc[raw["serum_b12_pmol_l"].notna()]
    frame = kept.assign(
        deficient=kept["serum_b12_pmol_l"] < 148,
        age_band=pd.cut(np.floor(kept["age"]), [0, 20, 40, 60, 80, np.inf], right=False,
                        labels=["0-19", "20-39", "40-59", "60-79", "80+"]),
        diet_group=pd.Categorical(kept["diet_group"],
                                  ["omnivore", "pescatarian", "vegetarian", "vegan"]),
    )
    return stats.survey_prevalence(frame, "deficient", by=["age_band", "diet_group"],
                                   weight="weight", strata="stratum", psu="psu")


def test_upload_confirm_and_download_equal_survey_prevalence(tmp_path: Path, app_server: str):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium`")
    external: list[str] = []  # what the page tried to fetch beyond localhost
    base = app_server
    with playwright.sync_playwright() as pw:
        browser = driver.launch(pw)
        try:
            context = driver.offline_context(browser, blocked=external)
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(f"{base}/your-data")
            page.get_by_text("Upload a file to begin").wait_for()
            page.locator("input[type=file]").set_input_files(str(MICRODATA))
            page.get_by_role("button", name="Confirm mapping").click()
            page.get_by_role("heading", name="Prevalence of Serum B12 < 148 pmol/L").wait_for()
            assert page.get_by_text("124 rows without a Serum/plasma total B12").count() >= 1
            page.get_by_role("heading", name="Age-standardised prevalence").wait_for()
            assert "fp=319a436b7b83" in page.url
            # The run has finished: every section's buttons are drawn, in page order.
            driver.wait_settled(page)
            # The button by its key (Streamlit's st-key-<key> class): the sections' buttons
            # share a label, and the order they reach the browser is not fixed.
            button = page.locator(".st-key-_download_your-data-prevalence_csv button")
            with page.expect_download() as info:
                button.click()
            download = info.value
            assert download.suggested_filename == "your-data-prevalence.csv"
            path = tmp_path / download.suggested_filename
            download.save_as(path)
        finally:
            browser.close()

    got = pd.read_csv(path)
    expected = _expected()
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected) == 20
    assert got["age_band"].tolist() == expected["age_band"].astype(str).tolist()
    assert got["diet_group"].tolist() == expected["diet_group"].astype(str).tolist()
    for column in ("estimate", "se", "ci_low", "ci_high", "n_eff", "df"):
        np.testing.assert_allclose(got[column], expected[column], rtol=0, atol=1e-9,
                                   err_msg=column)
    assert got["n"].tolist() == expected["n"].tolist()
    assert got["reliability"].tolist() == expected["reliability"].astype(str).tolist()
    assert external == [], external
