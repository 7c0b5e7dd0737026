"""AppTest of the Risk profile page: headline, charts, evidence links, non-estimable
segments, the URL and the Overview's link into it."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import profile, ui
from tests.apptest import Query, page_app

PAGE = "dashboard/pages/profile.py"
# The acceptance's three segments.
OLDER_VEGAN_USA = {"place": "USA", "ages": "70-79", "pdiet": "vegan"}
YOUNG_VEGAN_WOMAN_UK = {"place": "GBR", "ages": "20-29", "psex": "female", "pdiet": "vegan"}
VEGETARIAN_ADOLESCENT_INDIA = {"place": "IND", "ages": "10-19", "pdiet": "vegetarian"}


def run_page(query: Query | None = None) -> AppTest:
    return page_app(PAGE, query).run()


def expected(query: Query) -> profile.SegmentProfile:
    ages = tuple(int(a) for a in query.get("ages", "40-59").split("-"))
    return ui.load_profile(query.get("place", "USA"), ages, query.get("psex", "both"),
                           query.get("pdiet", "omnivore"), query.get("psupp", "included"),
                           query.get("preg", "not_pregnant"), int(query.get("year", 2025)))


def specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


@pytest.fixture(scope="module")
def adolescents() -> AppTest:
    return run_page(VEGETARIAN_ADOLESCENT_INDIA)


def test_an_estimable_segment_shows_headline_status_and_evidence(adolescents):
    at = adolescents
    assert not at.exception
    assert not at.warning
    want = expected(VEGETARIAN_ADOLESCENT_INDIA)
    assert want.estimable
    assert at.main.header[0].value == want.headline()
    assert at.main.header[0].value.startswith("About 1 in ")
    assert [m.value for m in at.metric] == [
        f"{100 * want.value('segment', s):.1f}%" for s in profile.STATUS_CLASSES]
    text = " ".join(m.value for m in at.markdown)
    assert "times** theirs" in text
    assert "people of both sexes aged 10-19 in India" in text
    evidence = next(d.value for d in at.dataframe if "doi_url" in d.value.columns)
    assert evidence["estimate_id"].tolist() == want.evidence["estimate_id"].tolist()
    assert evidence["doi_url"].dropna().str.startswith("https://doi.org/").all()
    assert "not a diagnosis" in at.info[-1].value
    assert "serum or plasma total vitamin B12" in at.info[-1].value


def test_the_charts_are_the_stacked_status_bar_and_the_whatif_dots(adolescents):
    status, whatif = specs(adolescents)
    assert [t["name"] for t in status["data"]] == ["Deficient", "Marginal", "Adequate"]
    assert status["layout"]["barmode"] == "stack"
    want = expected(VEGETARIAN_ADOLESCENT_INDIA)
    assert status["data"][0]["x"][0] == pytest.approx(100 * want.value("segment", "deficient"))
    shown = want.whatif[want.whatif["estimable"]]
    assert whatif["data"][0]["y"] == shown["label"].tolist()
    assert whatif["data"][0]["x"] == pytest.approx((100 * shown["difference"]).tolist())
    assert "percentage points" in whatif["layout"]["xaxis"]["title"]["text"]


@pytest.mark.parametrize("query", [OLDER_VEGAN_USA, YOUNG_VEGAN_WOMAN_UK])
def test_a_segment_the_model_cannot_estimate_says_so_and_shows_the_nearest(query):
    at = run_page(query)
    assert not at.exception
    want = expected(query)
    assert not want.estimable
    (warning,) = at.warning
    assert "cannot estimate this segment" in warning.value
    assert want.reasons[0] in warning.value
    assert profile.describe_segment(want.nearest.segment) in warning.value
    assert at.main.header[0].value == want.nearest.headline()


def test_widgets_follow_the_link_and_the_url_follows_the_widgets():
    at = run_page(YOUNG_VEGAN_WOMAN_UK)
    assert at.selectbox(key="place").value == "GBR"
    assert at.slider(key="ages").value == (20, 29)
    assert at.selectbox(key="psex").value == "female"
    assert not at.selectbox(key="preg").disabled  # a woman aged 20-29 can be pregnant
    at.selectbox(key="pdiet").set_value("vegetarian").run()
    assert not at.exception
    assert at.query_params["pdiet"] == "vegetarian"
    assert at.query_params["place"] == "GBR"


def test_pregnancy_outside_women_15_49_is_ignored_with_a_notice():
    at = run_page({"place": "GBR", "ages": "60-69", "psex": "female", "preg": "trimester_2"})
    assert not at.exception
    assert at.selectbox(key="preg").disabled
    assert any("Pregnancy applies only to women aged 15-49" in i.value for i in at.info)


def test_tampered_query_falls_back_with_notices():
    at = run_page({"place": "XXX", "ages": "90-20", "pdiet": "carnivore", "zzz": "1"})
    assert not at.exception
    notices = " ".join(i.value for i in at.info)
    for name in ("place=XXX", "ages=90-20", "pdiet=carnivore", "'zzz'"):
        assert name in notices
    assert at.selectbox(key="place").value == "USA"


def test_the_overview_links_to_the_profile_of_its_filtered_segment():
    at = page_app("dashboard/pages/overview.py",
                  {"country": "GBR", "sex": "female", "diet": "vegan", "age": "20-39"}).run()
    assert not at.exception
    links = {link.proto.label: link.proto for link in at.get("page_link")}
    link = links["Risk profile of this segment"]
    assert link.page.endswith("profile")
    assert link.query_string == "place=GBR&ages=20-39&psex=female&pdiet=vegan"


def test_the_cards_name_the_studies_behind_them(adolescents):
    want = expected(VEGETARIAN_ADOLESCENT_INDIA)
    k_diet, k_age = want.support["diet"], want.support["age"]
    text = [m.value for m in adolescents.markdown]
    assert (f"k = {k_diet} {'study' if k_diet == 1 else 'studies'} of this diet group, "
            f"{k_age} at these ages behind the model's figures") in text
    # enough studies: the figures stay metrics, unmarked
    assert min(k_diet, k_age) >= 3
    assert not any("thin evidence" in t for t in text)
    # the count of people is rounded to its interval (format.count_unit)
    count = want.count.set_index("status").loc["deficient"]
    from dashboard.format import format_people_supported
    cases, cases_ui = format_people_supported(count["cases"], count["cases_low"],
                                              count["cases_high"])
    assert any(f"about **{cases}** of them (95% UI {cases_ui})" in t for t in text)
