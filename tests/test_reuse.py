"""Reuse helpers: data and embed URLs (state), the source note of every chart (charts), the
citation and bibliography (citation), Parquet files that carry the citation (format)."""

from __future__ import annotations

import copy
import datetime as dt
import io

import pandas as pd
import plotly.graph_objects as go
import plotly.io
import pyarrow.parquet as pq
import pytest

from dashboard import charts, citation, state, tables
from dashboard.format import table_bytes

VIEW = state.default_state("explore").replace(diet=["vegan"])


def test_data_url_carries_the_full_query():
    got = state.data_url(VIEW, "https://atlas.example.org/", "json")
    assert got.startswith("https://atlas.example.org/api/explore.json?def=b12_lt148&")
    assert "diet=vegan" in got
    assert got.endswith("&v=1")
    with pytest.raises(ValueError, match="no data API"):
        state.data_url(state.default_state("your_data"))


def test_embed_snippet_is_a_lazy_full_width_iframe_of_the_embedded_view():
    snippet = state.embed_snippet(VIEW, "https://atlas.example.org")
    assert snippet.startswith('<iframe src="https://atlas.example.org/explore?')
    assert "&amp;embed=true&amp;embed_options=light_theme" in snippet
    assert 'loading="lazy"' in snippet
    assert "width: 100%; height: 600px" in snippet
    assert "&diet" not in snippet  # every & is escaped


def test_check_query_names_every_problem_and_reads_what_from_query_reads():
    good = {"diet": ["vegan"], "embed": ["true"], "v": ["1"]}
    view, problems = state.check_query("explore", good)
    assert problems == {}
    assert view == state.from_query("explore", good)[0]
    _, problems = state.check_query("explore", {"diet": ["vegan,x"], "zzz": ["1"], "loc": ["DEU"]})
    assert set(problems) == {"diet", "zzz", "loc"}
    assert problems["loc"] == "not a parameter of the explore page"


def fig() -> go.Figure:
    out = go.Figure(go.Bar(x=["a"], y=[1]))
    return charts.style_figure(out, "Title")


def test_with_source_adds_the_note_as_an_annotation_and_leaves_the_input_alone():
    original = fig()
    lines = ["Definition: Serum B12 < 148 pmol/L; deficient.", "Intervals: 95% CI.",
             "Source: B12 Risk Atlas, data build abc, https://x.org/explore?diet=vegan",
             "Studies: 12 publications."]
    out = charts.with_source(original, lines).to_dict()["layout"]
    (note,) = [a for a in out["annotations"] if a.get("name") == "source"]
    assert note["text"].split("<br>") == [line.replace("<", "&lt;") for line in lines]
    assert note["yanchor"] == "bottom"
    block = charts.SOURCE_LINE_HEIGHT * 4 + 10 + charts.TICK_ROOM
    assert out["height"] == charts.DEFAULT_HEIGHT + block
    assert out["margin"]["b"] == 10 + block
    assert not original.layout.annotations  # the cached figure is shared: never changed


def test_a_frozen_figure_serialises_as_the_figure_and_hands_out_one_dict():
    original = fig()
    frozen = charts.freeze(original)
    assert isinstance(frozen, charts.FrozenFigure)
    assert charts.freeze(frozen) is frozen
    assert frozen.to_dict() is frozen.to_dict()  # no deep copy per call
    assert plotly.io.to_json(frozen) == plotly.io.to_json(original)
    assert frozen.layout.title.text == original.layout.title.text


def test_with_source_of_a_frozen_figure_leaves_its_shared_dict_alone():
    frozen = charts.freeze(fig())
    before = copy.deepcopy(frozen.to_dict())
    lines = ["Source: B12 Risk Atlas, data build abc, https://x.org/"]
    out = charts.with_source(frozen, lines)
    assert frozen.to_dict() == before
    assert plotly.io.to_json(out) == plotly.io.to_json(charts.with_source(fig(), lines))


@pytest.mark.parametrize("image_format", ["png", "svg"])
def test_plotly_config_downloads_png_or_svg(image_format):
    config = charts.plotly_config("b12-x", image_format)
    assert config["toImageButtonOptions"]["format"] == image_format
    assert config["toImageButtonOptions"]["filename"] == "b12-x"


def test_parquet_downloads_carry_the_citation_in_their_metadata():
    frame = pd.DataFrame({"x": [1.5, -0.5], "label": ["=1+1", "a"]})
    raw = table_bytes(frame, "parquet", {"citation": "B12 Risk Atlas (2026)."})
    table = pq.read_table(io.BytesIO(raw))
    assert table.schema.metadata[b"citation"] == b"B12 Risk Atlas (2026)."
    assert b"pandas" in table.schema.metadata  # pandas' own metadata kept
    pd.testing.assert_frame_equal(table.to_pandas(), frame)


CITE = citation.make_citation(
    "0123456789ab", "https://atlas.example.org/methods?v=1", dt.date(2026, 3, 4),
    {"authors": ["B12 Risk Atlas contributors"], "version": "0.1.0"})


def test_citation_text_bibtex_and_ris():
    assert CITE.text() == (
        "B12 Risk Atlas contributors (2026). " + citation.TITLE + ". Version 0.1.0, data build "
        "0123456789ab. https://atlas.example.org/methods?v=1. Accessed 2026-03-04.")
    assert "  url = {https://atlas.example.org/methods?v=1},\n" in CITE.bibtex()
    assert "  year = {2026},\n" in CITE.bibtex()
    assert CITE.ris().splitlines()[:2] == ["TY  - DATA", "AU  - B12 Risk Atlas contributors"]
    assert "UR  - https://atlas.example.org/methods?v=1" in CITE.ris()


@pytest.mark.parametrize(("env", "config", "expected"), [
    ({"B12_PUBLIC_URL": "https://a.org/"}, "", "https://a.org"),
    ({}, '[b12]\npublic_url = "https://b.org/atlas"\n', "https://b.org/atlas"),
    ({"B12_PUBLIC_URL": "https://a.org"}, '[b12]\npublic_url = "https://b.org"\n', "https://a.org"),
    ({}, "", None),
    ({"B12_PUBLIC_URL": "javascript:alert(1)"}, "", None),
])
def test_public_url_from_environment_or_config(tmp_path, env, config, expected):
    path = tmp_path / "config.toml"
    path.write_text(config)
    assert citation.public_url(env, path) == expected


def test_bibliography_links_are_web_addresses():
    frame = pd.DataFrame({
        "study_id": ["s1"], "first_author": ["Allen"], "year": [2009],
        "title": ["How common is vitamin B-12 deficiency?"], "journal": ["Am J Clin Nutr"],
        "doi_url": ["https://doi.org/10.3945/ajcn.2008.26947A"],
        "pmid_url": ["https://pubmed.ncbi.nlm.nih.gov/19116323/"]})
    shares = pd.DataFrame({"source": ["Survey X 2019"], "url_or_doi": ["doi:10.1/x"],
                           "year": [2019], "country_iso3": ["DEU"]})
    standards = pd.DataFrame({"standard": ["esp_2013"], "source": ["Eurostat 2013"]})
    got = citation.bibliography(frame, shares, standards)
    assert got["reference"].iloc[0] == ("Allen (2009). How common is vitamin B-12 deficiency? "
                                        "Am J Clin Nutr. PMID 19116323.")
    assert got["link"].tolist()[:2] == ["https://doi.org/10.3945/ajcn.2008.26947A",
                                        "https://doi.org/10.1/x"]
    assert got["reference"].iloc[1] == "Survey X 2019."
    assert list(got["section"]) == ["Prevalence studies", "Diet-share surveys",
                                    "Standard populations", "Population", "Map",
                                    "Country income groups", "Prevalence model"]
    assert got["link"].iloc[-1] == "https://doi.org/10.18637/jss.v036.i03"


@pytest.mark.parametrize(("definition", "fit"), [
    ("b12_lt148", "b12_lt148"), ("b12_148_221", "b12_lt148"),
    ("b12_lt137p5", "b12_lt148"),  # a generated serum B12 cut-off: the crosswalk fit
    ("holotc_lt35", "holotc_lt35"), ("mma_gt026", "mma_gt026"),
])
def test_serum_b12_definitions_share_one_model_fit(definition, fit):
    assert tables.model_definition(definition) == fit


@pytest.mark.parametrize(("query", "expected"), [
    ({}, ("USA", "not_pregnant", [])),
    ({"place": ["ATA"]}, ("USA", "not_pregnant", ["place"])),  # no WPP population
    ({"psex": ["male"], "preg": ["trimester_1"]}, ("USA", "not_pregnant", ["preg"])),
    ({"psex": ["female"], "ages": ["40-49"], "preg": ["trimester_1"]},
     ("USA", "trimester_1", [])),
    ({"psex": ["female"], "ages": ["45-55"], "preg": ["trimester_1"]},  # past 49
     ("USA", "not_pregnant", ["preg"])),
])
def test_profile_inputs_say_which_values_the_profile_replaces(query, expected):
    view, problems = state.check_query("profile", query)
    assert problems == {}
    assert tables.profile_inputs(view, ["USA", "IND", "DEU"]) == expected
