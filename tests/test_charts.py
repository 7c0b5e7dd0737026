"""Chart builders, asserted on the figure spec (traces, colours, titles, intervals, geometry)."""

from __future__ import annotations

import json
import math
from urllib.parse import unquote

import numpy as np
import pandas as pd
import plotly.io
import pytest

from dashboard import charts, schema
from tests.apptest import plain

TITLE = charts.chart_title("Prevalence of deficiency", "b12_lt148", "% of people", "adults")

# Four pooled cells; the 20-39 vegan estimate is suppressed (NCHS).
POOLED = pd.DataFrame({
    "age_band": ["0-19", "20-39", "0-19", "20-39"],
    "diet_group": ["omnivore", "omnivore", "vegan", "vegan"],
    "estimate": [0.10, 0.20, 0.30, 0.50],
    "ci_low": [0.08, 0.15, 0.25, 0.20],
    "ci_high": [0.13, 0.26, 0.36, 0.80],
    "pi_low": [0.05, 0.10, 0.20, 0.05],
    "pi_high": [0.18, 0.35, 0.45, 0.95],
    "tau2": [0.1, 0.2, 0.0, 0.5],
    "i2": [40.0, 55.5, 0.0, 80.0],
    "q": [3.0, 4.0, 1.0, 9.0],
    "k": [3, 4, 2, 2],
    "n_total": [12345, 800, 150, 40],
    "cases_total": [1234, 160, 45, 20],
    "reliability": ["ok", "review; complement unreliable", "ok", "suppress"],
    "study_ids": [("a", "b", "c"), ("a",), ("d",), ("e",)],
})

STUDIES = pd.DataFrame({
    "row_id": [1, 2, 3, 4],
    "study_id": ["s1", "s2", "s3", "s4"],
    "first_author": ["Smith", "Lee", None, "Diaz"],
    "year": pd.array([2010, 2015, None, 2020], dtype="Int64"),
    "country_iso3": ["GBR", "KOR", "USA", "BRA"],
    "diet_group": ["omnivore", "vegan", "vegan", "omnivore"],
    "age_band": ["0-19", "20-39", "20-39", "20-39"],
    "prevalence": [0.10, 0.40, 0.20, np.nan],
    "n": pd.array([100, 25, 400, None], dtype="Int64"),
    "ci_low": [np.nan, 0.30, np.nan, np.nan],
    "ci_high": [np.nan, 0.50, np.nan, np.nan],
    "interval_low": [0.05, 0.30, 0.16, np.nan],
    "interval_high": [0.17, 0.50, 0.24, np.nan],
    "ci_source": ["wilson", "reported", "wilson", "none"],
    "reliability": ["ok", "suppress", "ok", "unknown"],
})


def _spec(fig) -> dict:
    return fig.to_dict()


def _title(fig) -> str:
    return plain(fig.layout.title.text)


# --- config and style --------------------------------------------------------------------------


def test_plotly_config_downloads_png_offline():
    config = charts.plotly_config("explore-bars")
    assert config["displaylogo"] is False
    assert config["toImageButtonOptions"] == {"format": "png", "filename": "explore-bars",
                                              "scale": 2}
    assert charts.PLOTLY_CONFIG["toImageButtonOptions"]["filename"] == "b12-risk-atlas"
    # plotly.js builds the topojson address as topojsonURL + "/" + "world_110m.json"
    # (lib/topojson_utils getTopojsonPath); the file name must land in the fragment.
    url = config["topojsonURL"]
    requested = url + ("" if url.endswith("/") else "/") + "world_110m.json"
    assert requested.startswith("data:application/json,")
    body, _, fragment = requested.partition("#")
    assert fragment == "/world_110m.json"
    topology = json.loads(unquote(body.removeprefix("data:application/json,")))
    assert topology["type"] == "Topology"
    assert set(topology["objects"]) >= {"land", "coastlines", "countries", "ocean"}


def test_chart_title_names_definition_unit_and_population():
    assert TITLE == ("Prevalence of deficiency, Serum B12 < 148 pmol/L (< 200 pg/mL) "
                     "(% of people) - adults")
    assert charts.chart_title("Share", "b12_lt126", "%", "all") == "Share, b12_lt126 (%) - all"


def test_figure_table_formats_every_kind_of_column():
    table = charts.figure_table(POOLED, ["age_band", "diet_group", "estimate", "ci_low",
                                         "ci_high", "pi_low", "i2", "tau2", "k", "n_total",
                                         "reliability", "study_ids"])
    assert list(table.columns) == ["Age band", "Diet group", "Prevalence", "95% CI",
                                   "95% prediction interval", "I2", "tau2", "Studies", "n",
                                   "Reliability", "Studies (ids)"]
    assert table.iloc[0].tolist() == [
        "0-19", "Omnivore", "10.0%", "8.0-13.0%", "5.0-18.0%", "40.0%", "0.100", "3",
        "12,345", "reliable", "a, b, c",
    ]
    assert table.iloc[1]["Reliability"] == ("flagged for statistical review "
                                            "(complement unreliable)")
    assert table.iloc[3]["Reliability"] == "suppressed: too imprecise to report (NCHS)"
    assert POOLED["estimate"].iloc[0] == 0.10  # input untouched


def test_figure_table_burden_and_study_columns():
    burden = pd.DataFrame({"location": ["World"], "population": [8.1e9], "cases": [1.2345e9],
                           "cases_low": [1.0e9], "cases_high": [1.5e9], "prevalence": [0.152],
                           "prevalence_low": [0.123], "prevalence_high": [0.185]})
    assert charts.figure_table(burden).iloc[0].tolist() == [
        "World", "8,100,000,000", "1,234,500,000", "1,000,000,000-1,500,000,000", "15.2%",
        "12.3-18.5%",
    ]
    studies = charts.figure_table(STUDIES, ["first_author", "prevalence", "ci_low",
                                            "interval_low"])
    assert list(studies.columns) == ["First author", "Prevalence", "Reported 95% CI",
                                     "95% CI"]
    assert studies.iloc[0].tolist() == ["Smith", "10.0%", "", "5.0-17.0%"]
    with pytest.raises(ValueError, match="no column\\(s\\) nope"):
        charts.figure_table(STUDIES, ["nope"])


# --- evidence charts ---------------------------------------------------------------------------


def test_prevalence_bars_one_trace_per_diet_in_its_colour_with_ci():
    fig = charts.prevalence_bars_figure(POOLED, TITLE, subtitle="12 studies")
    spec = _spec(fig)
    bars = spec["data"]
    assert [t["type"] for t in bars] == ["bar", "bar"]
    assert [t["name"] for t in bars] == ["Omnivore", "Vegan"]
    assert [t["marker"]["color"] for t in bars] == [schema.DIET_COLOURS["omnivore"],
                                                    schema.DIET_COLOURS["vegan"]]
    omnivore = bars[0]
    assert list(omnivore["x"]) == ["0-19", "20-39"]
    assert list(omnivore["y"]) == pytest.approx([10.0, 20.0])
    # CI 8-13% around 10%: +3, -2; 15-26% around 20%: +6, -5
    assert omnivore["error_y"]["array"] == pytest.approx([3.0, 6.0])
    assert omnivore["error_y"]["arrayminus"] == pytest.approx([2.0, 5.0])
    # the suppressed vegan 20-39 estimate is hatched; the others are solid
    assert list(bars[1]["marker"]["pattern"]["shape"]) == ["", "/"]
    assert list(omnivore["marker"]["pattern"]["shape"]) == ["", ""]
    # hover: CI, n with thousands separator, k, reliability words
    assert list(omnivore["customdata"][0]) == ["8.0-13.0%", "12,345", "3", "reliable"]
    assert "studies" in omnivore["hovertemplate"]
    assert "Serum B12 < 148 pmol/L" in _title(fig)
    assert "% of people" in _title(fig)
    assert "suppressed" in fig.layout.title.subtitle.text
    assert fig.layout.yaxis.title.text == "Prevalence (%), with 95% CI"
    assert fig.layout.barmode == "group"


def test_prevalence_dots_mark_suppressed_hollow():
    spec = _spec(charts.prevalence_bars_figure(POOLED, TITLE, mode="dots"))
    assert [t["type"] for t in spec["data"]] == ["scatter", "scatter"]
    assert list(spec["data"][1]["marker"]["symbol"]) == ["circle", "circle-open"]
    assert spec["data"][1]["marker"]["color"] == schema.DIET_COLOURS["vegan"]


def test_prevalence_bars_orders_age_bands_and_diets_by_schema():
    shuffled = POOLED.iloc[[3, 1, 2, 0]]
    spec = _spec(charts.prevalence_bars_figure(shuffled, TITLE))
    assert [t["name"] for t in spec["data"]] == ["Omnivore", "Vegan"]
    assert list(spec["data"][0]["x"]) == ["0-19", "20-39"]
    assert spec["layout"]["xaxis"]["categoryarray"] == ["0-19", "20-39"]


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (POOLED.drop(columns="ci_low"), {}, "lacks the column\\(s\\) ci_low"),
        (POOLED, {"mode": "pie"}, "mode must be 'bars' or 'dots'"),
        (pd.concat([POOLED, POOLED.iloc[:1]]), {}, "one row per age_band and diet_group"),
    ],
)
def test_prevalence_bars_bad_input(frame, kwargs, message):
    with pytest.raises(ValueError, match=message):
        charts.prevalence_bars_figure(frame, TITLE, **kwargs)


def test_empty_frame_says_so():
    fig = charts.prevalence_bars_figure(POOLED.iloc[:0], TITLE)
    assert fig.layout.annotations[0].text == "No estimate for this selection"
    assert _title(fig) == TITLE


def test_heatmap_cells_labels_and_hover():
    fig = charts.heatmap_figure(POOLED, TITLE)
    (trace,) = _spec(fig)["data"]
    assert trace["type"] == "heatmap"
    assert list(trace["x"]) == ["Omnivore", "Vegan"]
    assert list(trace["y"]) == ["0-19", "20-39"]
    assert np.array(trace["z"]) == pytest.approx(np.array([[10.0, 30.0], [20.0, 50.0]]))
    # the fixed scale: 0-100% whatever the estimates (before: 0 to the largest, 50%)
    assert (trace["zmin"], trace["zmax"]) == (0, 100)
    assert [list(r) for r in trace["text"]] == [["10.0%", "30.0%"], ["20.0%", "50.0%*"]]
    assert list(trace["customdata"][0][0]) == ["8.0-13.0%", "12,345", "3", "reliable", "10.0%"]
    assert "95% CI" in trace["hovertemplate"]
    assert "Serum B12 < 148 pmol/L" in _title(fig)
    assert "suppressed" in fig.layout.title.subtitle.text


def test_heatmap_leaves_missing_cells_blank():
    trace = _spec(charts.heatmap_figure(POOLED.iloc[:3], TITLE))["data"][0]
    assert math.isnan(trace["z"][1][1])
    assert trace["text"][1][1] == ""


def test_study_dots_one_point_per_row_with_interval():
    fig = charts.study_dots_figure(STUDIES, TITLE)
    traces = _spec(fig)["data"]
    assert [t["name"] for t in traces] == ["Omnivore", "Vegan"]
    assert [t["marker"]["color"] for t in traces] == [schema.DIET_COLOURS["omnivore"],
                                                      schema.DIET_COLOURS["vegan"]]
    omnivore, vegan = traces
    assert list(omnivore["x"]) == pytest.approx([10.0])  # the row without prevalence is left out
    assert list(vegan["x"]) == pytest.approx([40.0, 20.0])
    # shown interval (interval_low/high): 30-50% around 40%, 16-24% around 20%
    assert vegan["error_x"]["array"] == pytest.approx([10.0, 4.0])
    assert vegan["error_x"]["arrayminus"] == pytest.approx([10.0, 4.0])
    assert list(vegan["marker"]["symbol"]) == ["circle-open", "circle"]
    # the unnamed study is labelled by its id; every row has its own line
    assert vegan["customdata"][1][0] == "s3 (USA)"
    assert vegan["customdata"][0][0] == "Lee 2015 (KOR)"
    assert len({*omnivore["y"], *vegan["y"]}) == 3
    assert list(fig.layout.yaxis.ticktext) == ["0-19", "20-39"]


def _cells(fig, column: str) -> list[str]:
    """Texts of one right-hand column of a forest plot, top to bottom (heading left out)."""
    cells = [a for a in fig.layout.annotations if a.name == column]
    return [a.text for a in sorted(cells, key=lambda a: -a.y)]


def _heterogeneity(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations if a.text.startswith("k = ")]


def test_forest_plot_squares_diamond_prediction_interval_and_heterogeneity():
    rows = STUDIES.iloc[:3]
    pooled = POOLED.iloc[[0]]
    fig = charts.forest_figure(rows, pooled, TITLE)
    spec = _spec(fig)
    squares = [t for t in spec["data"] if t.get("marker", {}).get("symbol") == "square"]
    assert len(squares) == 3
    assert [t["marker"]["color"] for t in squares] == [
        schema.DIET_COLOURS[d] for d in ("omnivore", "vegan", "vegan")]
    # size by n: 5 + 15 * sqrt(n / max n) -> n = 100, 25, 400 -> 12.5, 8.75, 20
    assert [t["marker"]["size"] for t in squares] == pytest.approx([12.5, 8.75, 20.0])
    diamond = next(t for t in spec["data"] if t.get("fill") == "toself")
    assert list(diamond["x"]) == pytest.approx([8.0, 10.0, 13.0, 10.0, 8.0])
    pi = next(t for t in spec["data"] if t["name"] == "95% prediction interval")
    assert list(pi["x"]) == pytest.approx([5.0, 18.0])
    # The prediction interval has its own row, below the diamond.
    assert pi["y"][0] < diamond["y"][0]
    assert _heterogeneity(fig) == ["k = 3, I\u00b2 = 40%, \u03c4\u00b2 = 0.100"]
    labels = [t for t in fig.layout.yaxis.ticktext if t]
    # Each row names its stratum (age band and diet; no sex column here).
    assert labels == ["Smith 2010 (GBR): 0-19, omnivore", "Lee 2015 (KOR): 20-39, vegan",
                      "s3 (USA): 20-39, vegan", "<b>Pooled (random effects)</b>",
                      "95% prediction interval"]


def test_forest_plot_has_estimate_ci_n_and_weight_columns():
    rows = STUDIES.iloc[:3].assign(weight=[0.5, 0.2, 0.3])
    fig = charts.forest_figure(rows, POOLED.iloc[[0]], TITLE, weight="weight")
    headings = [a.text for a in fig.layout.annotations if a.yanchor == "bottom"]
    assert headings == ["<b>Estimate [95% CI]</b>", "<b>n</b>", "<b>Weight</b>"]
    # Shown intervals (interval_low/high); pooled row bold; the PI row has only its interval.
    assert _cells(fig, "Estimate [95% CI]") == [
        "10.0% [5.0-17.0%]", "40.0% [30.0-50.0%]", "20.0% [16.0-24.0%]",
        "<b>10.0% [8.0-13.0%]</b>", "[5.0-18.0%]"]
    assert _cells(fig, "n") == ["100", "25", "400", "<b>12,345</b>"]
    assert _cells(fig, "Weight") == ["50.0%", "20.0%", "30.0%", "<b>100%</b>"]
    # Squares follow the weight: 5 + 15 * sqrt(w / max w) -> 20, 5 + 15 sqrt(0.4), ...
    squares = [t for t in _spec(fig)["data"] if t.get("marker", {}).get("symbol") == "square"]
    assert [t["marker"]["size"] for t in squares] == pytest.approx(
        [20.0, 5 + 15 * math.sqrt(0.4), 5 + 15 * math.sqrt(0.6)])
    # The columns sit in the right margin, which is wide enough for them.
    assert fig.layout.margin.r >= max(edge for _, edge in charts.FOREST_COLUMNS)


def test_forest_plot_labels_name_sex_and_age_of_a_study_s_strata():
    rows = pd.DataFrame({
        "first_author": ["Evatt"] * 3, "year": [2009] * 3, "country_iso3": ["USA"] * 3,
        "sex": ["female", "male", "female"], "age_label": ["60-69", "60-69", "70-79"],
        "diet_group": ["general"] * 3, "prevalence": [0.1, 0.2, 0.3], "n": [10, 20, 30],
        "interval_low": [0.05, 0.1, 0.2], "interval_high": [0.2, 0.3, 0.4],
    })
    pooled = POOLED.iloc[[0]].assign(diet_group="general")
    fig = charts.forest_figure(rows, pooled, TITLE, by="diet_group")
    labels = list(fig.layout.yaxis.ticktext)
    # The subgroup (diet) is the header, so the rows name sex and age only, each once.
    assert labels[:4] == ["<b>General population</b>", "Evatt 2009 (USA): female, 60-69",
                          "Evatt 2009 (USA): male, 60-69", "Evatt 2009 (USA): female, 70-79"]


def test_forest_plot_by_subgroup_has_a_diamond_per_group_in_its_diet_colour():
    fig = charts.forest_figure(STUDIES.iloc[:3], POOLED.iloc[[0, 2]], TITLE, by="diet_group")
    diamonds = [t for t in _spec(fig)["data"] if t.get("fill") == "toself"]
    assert [t["fillcolor"] for t in diamonds] == [schema.DIET_COLOURS["omnivore"],
                                                  schema.DIET_COLOURS["vegan"]]
    assert "<b>Omnivore</b>" in list(fig.layout.yaxis.ticktext)
    assert len(_heterogeneity(fig)) == 2
    with pytest.raises(ValueError, match="weight column 'w'"):
        charts.forest_figure(STUDIES, POOLED, TITLE, weight="w")


# --- burden charts -----------------------------------------------------------------------------

WORLD = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "id": iso3, "properties": {"iso3": iso3, "name": iso3},
         "geometry": {"type": "Polygon", "coordinates": [[[x, 0], [x, 1], [x + 1, 1], [x, 0]]]}}
        for x, iso3 in enumerate(["ATA", "DEU", "FRA", "IND"])
    ],
}
MAP_FRAME = pd.DataFrame({
    "iso3": ["DEU", "IND", "XXA"],  # XXA has no geometry: not drawn
    "location": ["Germany", "India", "Nowhere"],
    "population": [8.4e7, 1.4e9, 1.0],
    "cases": [8.4e6, 2.1e8, 0.5],
    "cases_low": [6e6, 1.5e8, 0.1],
    "cases_high": [1.1e7, 2.8e8, 0.9],
    "prevalence": [0.10, 0.15, 0.5],
    "prevalence_low": [0.07, 0.11, 0.1],
    "prevalence_high": [0.13, 0.20, 0.9],
})


@pytest.mark.parametrize(
    ("measure", "z", "hover"),
    [
        ("share", [10.0, 15.0], "10.0% (95% UI 7.0-13.0%)"),
        # a 5 million wide interval supports hundreds of thousands (format.count_unit)
        ("number", [8.4e6, 2.1e8], "8.4 million (95% UI 6.0 million-11.0 million)"),
    ],
)
def test_burden_map_uses_only_the_shipped_geometry(measure, z, hover):
    fig = charts.burden_map_figure(MAP_FRAME, WORLD, measure, "People deficient, 2025")
    spec = _spec(fig)
    background, values = spec["data"]
    for trace in spec["data"]:
        assert trace["type"] == "choropleth"
        assert trace["geojson"]["type"] == "FeatureCollection"
        assert trace["featureidkey"] == "properties.iso3"
        assert trace["locationmode"] == "geojson-id"
    # every outline once: coloured countries in the value trace, the rest (not Antarctica)
    # underneath in grey
    assert [f["id"] for f in background["geojson"]["features"]] == ["FRA"]
    assert [f["id"] for f in values["geojson"]["features"]] == ["DEU", "IND"]
    assert list(background["locations"]) == ["FRA"]
    assert background["showscale"] is False
    assert list(values["locations"]) == ["DEU", "IND"]
    assert list(values["z"]) == pytest.approx(z)
    assert values["customdata"][0][:2] == ["Germany", hover]
    geo = spec["layout"]["geo"]
    assert geo["visible"] is False
    assert not any(geo.get(f"show{layer}") for layer in
                   ("coastlines", "land", "countries", "ocean", "lakes", "rivers", "frame"))
    text = json.dumps(spec, default=str)
    assert '"ISO-3"' not in text
    assert "country names" not in text
    assert "cdn.plot.ly" not in text


def test_burden_map_writes_a_missing_value_as_null_not_nan():
    # plotly's JSON encoder writes NaN as null too, but only after parsing and writing the
    # whole figure a second time: None gives the same JSON in one pass.
    frame = MAP_FRAME.assign(prevalence=[0.1, float("nan"), 0.2])
    fig = charts.burden_map_figure(frame, WORLD, "share", "x")
    assert list(fig.data[1].z) == [pytest.approx(10.0), None]
    text = plotly.io.to_json(fig, validate=False)
    assert '"z":[10.0,null]' in text
    assert "NaN" not in text


def test_burden_map_rejects_unknown_measure():
    with pytest.raises(ValueError, match="measure must be one of share, number"):
        charts.burden_map_figure(MAP_FRAME, WORLD, "rate", "x")


def test_burden_map_marks_countries_that_are_not_estimable():
    frame = MAP_FRAME.assign(estimable=[True, False, True], support_country=[3, 0, 0],
                             support_region=[8, 14, 0])
    spec = _spec(charts.burden_map_figure(frame, WORLD, "share", "x"))
    assert [t["type"] for t in spec["data"]] == ["choropleth", "choropleth", "scattergeo"]
    marks = spec["data"][2]
    # India's outline runs from x = 3 to 4 and y = 0 to 1: its mark sits at the box centre
    assert (list(marks["lon"]), list(marks["lat"])) == ([3.5], [0.5])
    assert marks["marker"]["symbol"] == charts.NOT_ESTIMABLE_MARKER
    assert marks["text"] == [f"India: {charts.NOT_ESTIMABLE_TEXT}"]
    hover = spec["data"][1]["customdata"]
    assert hover[0][3] == "<br>Studies: 3 in the country, 8 in its region"
    assert hover[1][3].endswith(charts.NOT_ESTIMABLE_TEXT)


BURDEN = pd.DataFrame({
    "age_band": ["0-19", "0-19", "20-39", "20-39"],
    "diet_group": ["omnivore", "vegan", "omnivore", "vegan"],
    "population": [1000.0, 100.0, 2000.0, 50.0],
    "cases": [100.0, 30.0, 300.0, 20.0],
    "cases_low": [80.0, 20.0, 250.0, 10.0],
    "cases_high": [130.0, 45.0, 380.0, 35.0],
    "prevalence": [0.1, 0.3, 0.15, 0.4],
    "prevalence_low": [0.08, 0.2, 0.125, 0.2],
    "prevalence_high": [0.13, 0.45, 0.19, 0.7],
})


def test_burden_bars_by_age_and_diet_with_uncertainty():
    fig = charts.burden_bars_figure(BURDEN, "People deficient, World 2025 (people)")
    bars = _spec(fig)["data"]
    assert [t["name"] for t in bars] == ["Omnivore", "Vegan"]
    assert [t["marker"]["color"] for t in bars] == [schema.DIET_COLOURS["omnivore"],
                                                    schema.DIET_COLOURS["vegan"]]
    assert list(bars[0]["y"]) == [100.0, 300.0]
    # 80-130 around 100: +30, -20; 250-380 around 300: +80, -50
    assert bars[0]["error_y"]["array"] == pytest.approx([30.0, 80.0])
    assert bars[0]["error_y"]["arrayminus"] == pytest.approx([20.0, 50.0])
    assert fig.layout.yaxis.title.text == "People with low status"
    share = charts.burden_bars_figure(BURDEN, "x", measure="share")
    assert list(share.data[1].y) == pytest.approx([30.0, 40.0])
    assert share.layout.yaxis.ticksuffix == "%"
    # bars the model extrapolates to are hatched and say so in the hover
    flagged = charts.burden_bars_figure(BURDEN.assign(estimable=[True, True, True, False]), "x")
    vegan = _spec(flagged)["data"][1]
    assert list(vegan["marker"]["pattern"]["shape"]) == ["", charts.NOT_ESTIMABLE_PATTERN]
    assert charts.NOT_ESTIMABLE_TEXT in vegan["customdata"][1][2]


def test_projection_line_with_uncertainty_band():
    frame = pd.DataFrame({"year": [2030, 2020, 2025], "cases": [3.0, 1.0, 2.0],
                          "cases_low": [2.0, 0.5, 1.5], "cases_high": [4.0, 1.5, 2.5],
                          "prevalence": [0.1] * 3, "prevalence_low": [0.05] * 3,
                          "prevalence_high": [0.2] * 3})
    fig = charts.projection_figure(frame, "People deficient, World (people)")
    band, line = _spec(fig)["data"]
    assert list(line["x"]) == [2020, 2025, 2030]
    assert list(line["y"]) == [1.0, 2.0, 3.0]
    assert band["fill"] == "toself"
    assert list(band["x"]) == [2020, 2025, 2030, 2030, 2025, 2020]
    assert list(band["y"]) == [1.5, 2.5, 4.0, 2.0, 1.5, 0.5]
    assert fig.layout.shapes[0].x0 == schema.WPP_LAST_ESTIMATE_YEAR + 0.5


def test_projection_by_diet_uses_diet_colours():
    frame = BURDEN.assign(year=[2020, 2020, 2030, 2030]).drop(columns="age_band")
    spec = _spec(charts.projection_figure(frame, "x", group="diet_group", measure="share"))
    lines = [t for t in spec["data"] if t.get("fill") != "toself"]
    assert [t["line"]["color"] for t in lines] == [schema.DIET_COLOURS["omnivore"],
                                                   schema.DIET_COLOURS["vegan"]]
    assert list(lines[1]["y"]) == pytest.approx([30.0, 40.0])


def test_cutoffs_dumbbell_one_trace_per_definition():
    frame = pd.DataFrame({
        "population_id": [0, 0, 1, 1],
        "population_label": ["Smith 2010: adults", "Smith 2010: adults", "Lee 2015: " + "x" * 80,
                             "Lee 2015: " + "x" * 80],
        "definition": ["b12_lt221", "b12_lt148", "b12_lt148", "b12_lt126"],
        "definition_label": ["Serum B12 < 221 pmol/L (< 300 pg/mL)",
                             "Serum B12 < 148 pmol/L (< 200 pg/mL)",
                             "Serum B12 < 148 pmol/L (< 200 pg/mL)", "b12_lt126"],
        "prevalence": [0.30, 0.10, 0.05, 0.04],
        "n": [100, 100, 2000, 2000],
        "ci_low": [0.2, 0.05, 0.04, 0.03],
        "ci_high": [0.4, 0.17, 0.06, 0.05],
    })
    fig = charts.cutoffs_figure(frame, "Prevalence under each definition (%)")
    spans, *points = _spec(fig)["data"]
    # schema order first, generated ids after
    # (a name wider than a phone's legend is broken over lines: Plotly would not wrap it)
    assert [plain(t["name"]) for t in points] == ["Serum B12 < 148 pmol/L (< 200 pg/mL)",
                                                  "Serum B12 < 221 pmol/L (< 300 pg/mL)",
                                                  "b12_lt126"]
    assert "<br>" in points[0]["name"]
    assert list(points[0]["x"]) == pytest.approx([10.0, 5.0])
    assert len({t["marker"]["color"] for t in points}) == 3
    # each population's range: 10-30% and 4-5%
    assert list(spans["x"]) == pytest.approx([10.0, 30.0, None, 4.0, 5.0, None])
    # a long label: cut to ROW_LABEL_CHARS and set on two lines that fit half a phone
    long_label = list(fig.layout.yaxis.categoryarray)[0]
    assert len(plain(long_label)) == charts.ROW_LABEL_CHARS
    assert long_label.endswith("\u2026")
    assert long_label.split("<br>") == ["Lee 2015:", "x" * 33 + "\u2026"]


# --- survey estimates as bars ------------------------------------------------------------------

# Design-based estimates (stats.survey_prevalence columns) by sex; the male one suppressed.
SURVEY = pd.DataFrame({
    "sex": ["female", "male"],
    "estimate": [0.12, 0.30],
    "se": [0.02, 0.15],
    "ci_low": [0.085, 0.05],
    "ci_high": [0.16, 0.70],
    "n": [1500, 25],
    "n_eff": [812.4, 9.6],
    "df": [30.0, 4.0],
    "reliability": ["ok", "suppress"],
})


def test_survey_bars_hover_gives_n_effective_n_and_df():
    chart, x, colour = charts.bar_axes(SURVEY, ["sex"])
    spec = _spec(charts.prevalence_bars_figure(chart, TITLE, x=x, colour=colour,
                                               source="survey"))
    (trace,) = spec["data"]
    assert list(trace["x"]) == ["female", "male"]
    # n_eff 812.4 -> "812", 9.6 -> "10"; df 30 and 4
    assert [list(c) for c in trace["customdata"]] == [
        ["8.5-16.0%", "1,500", "812", "30", "reliable"],
        ["5.0-70.0%", "25", "10", "4", "suppressed: too imprecise to report (NCHS)"],
    ]
    assert "effective n = %{customdata[2]}, df = %{customdata[3]}" in trace["hovertemplate"]
    assert "studies" not in trace["hovertemplate"]
    assert list(trace["marker"]["pattern"]["shape"]) == ["", "/"]


@pytest.mark.parametrize(
    ("frame", "source", "message"),
    [
        (SURVEY.assign(group="All"), "census", "source must be one of studies, survey"),
        (SURVEY.assign(group="All").drop(columns="n_eff"), "survey",
         "lacks the column\\(s\\) n_eff"),
        # survey estimates have no k or n_total: the default source asks for them
        (SURVEY.assign(group="All"), "studies", "lacks the column\\(s\\) k, n_total"),
    ],
)
def test_prevalence_bars_source_checks_its_columns(frame, source, message):
    with pytest.raises(ValueError, match=message):
        charts.prevalence_bars_figure(frame, TITLE, x="sex", colour="group", source=source)


GROUPED = pd.DataFrame({
    "age_band": ["0-39", "0-39", "40+"],
    "sex": ["female", "male", "female"],
    "diet_group": ["vegan", "vegan", "omnivore"],
    "estimate": [0.1, 0.2, 0.3],
})


@pytest.mark.parametrize(
    ("by", "x", "colour", "x_values", "colours"),
    [
        ([], "All", "group", ["All"] * 3, ["All"] * 3),
        (["sex"], "sex", "group", ["female", "male", "female"], ["All"] * 3),
        (["diet_group"], "All", "diet_group", ["All"] * 3, ["vegan", "vegan", "omnivore"]),
        (["age_band", "diet_group"], "age_band", "diet_group", ["0-39", "0-39", "40+"],
         ["vegan", "vegan", "omnivore"]),
        (["age_band", "sex"], "Age band, Sex", "group",
         ["0-39, female", "0-39, male", "40+, female"], ["All"] * 3),
        (["age_band", "sex", "diet_group"], "Age band, Sex", "diet_group",
         ["0-39, female", "0-39, male", "40+, female"], ["vegan", "vegan", "omnivore"]),
    ],
)
def test_bar_axes(by, x, colour, x_values, colours):
    out, got_x, got_colour = charts.bar_axes(GROUPED, by)
    assert (got_x, got_colour) == (x, colour)
    assert list(out[x]) == x_values
    assert list(out[colour]) == colours
    assert list(GROUPED.columns) == ["age_band", "sex", "diet_group", "estimate"]  # unchanged


@pytest.mark.parametrize(
    ("row", "label"),
    [
        ({"first_author": "Evatt", "year": 2009, "country_iso3": "USA"}, "Evatt 2009 (USA)"),
        # no author: the survey, cut to 28 characters (27 + ellipsis)
        ({"first_author": None, "survey_or_cohort": "Cross-sectional study of long-term "
          "vegetarians, Beijing", "study_id": "apjcn_x", "country_iso3": "CHN"},
         "Cross-sectional study of lo… (CHN)"),
        ({"first_author": None, "survey_or_cohort": None, "study_id": "nz1997"}, "nz1997"),
        ({}, "Unnamed study"),
    ],
)
def test_study_label_prefers_names_over_ids(row, label) -> None:
    assert charts._study_label(pd.Series(row, dtype=object)) == label


# --- Risk profile ------------------------------------------------------------------------------

PROFILE_STATUS = pd.DataFrame({
    "population": ["segment"] * 3 + ["general"] * 3,
    "status": ["deficient", "marginal", "adequate"] * 2,
    "estimate": [0.2, 0.3, 0.5, 0.1, 0.2, 0.7],
    "ci_low": [0.1, 0.2, 0.4, 0.05, 0.1, 0.6],
    "ci_high": [0.3, 0.4, 0.6, 0.15, 0.3, 0.8],
})


def test_profile_status_figure_stacks_the_classes_with_cumulative_whiskers():
    fig = charts.profile_status_figure(PROFILE_STATUS, {"segment": "Seg", "general": "Gen"},
                                       "Status (%)").to_dict()
    assert [t["name"] for t in fig["data"]] == ["Deficient", "Marginal", "Adequate"]
    assert fig["layout"]["barmode"] == "stack"
    deficient, marginal, adequate = fig["data"]
    assert deficient["x"] == pytest.approx([20, 10])
    assert marginal["x"] == pytest.approx([30, 20])
    assert deficient["error_x"]["array"] == pytest.approx([10, 5])
    # below 221 = 1 - adequate: 50% (40-60) and 30% (20-40): whiskers 10 either side
    assert marginal["error_x"]["array"] == pytest.approx([10, 10])
    assert marginal["error_x"]["arrayminus"] == pytest.approx([10, 10])
    assert "error_x" not in adequate or not adequate["error_x"].get("array")
    assert fig["layout"]["xaxis"]["title"]["text"] == "Share of the population (%)"


def test_whatif_figure_draws_differences_in_points_in_frame_order():
    whatif = pd.DataFrame({"label": ["Vegan diet", "Omnivore diet"],
                           "estimate": [0.5, 0.1], "difference": [0.3, -0.1],
                           "difference_low": [0.2, -0.15], "difference_high": [0.4, -0.05]})
    fig = charts.whatif_figure(whatif, "What if").to_dict()
    (dots,) = fig["data"]
    assert dots["y"] == ["Vegan diet", "Omnivore diet"]
    assert dots["x"] == pytest.approx([30, -10])
    assert dots["error_x"]["array"] == pytest.approx([10, 5])
    assert fig["layout"]["yaxis"]["categoryarray"] == ["Omnivore diet", "Vegan diet"]
    assert "percentage points" in fig["layout"]["xaxis"]["title"]["text"]
# --- the Model page ----------------------------------------------------------------------------

ODDS = pd.DataFrame({
    "term": ["vegan", "log_cutoff", "upper_middle"],
    "label": ["Vegan (vs omnivore)", "Cut-off (per doubling, pmol/L)", "Upper-middle income"],
    "odds_ratio": [4.0, 2.0, 0.5],
    "or_low": [2.0, 1.5, 0.25],
    "or_high": [8.0, 3.0, 1.0],
})


def test_odds_ratios_are_dots_with_intervals_on_a_log_axis():
    fig = charts.odds_ratio_figure(ODDS, "Odds ratios").to_dict()
    (trace,) = fig["data"]
    assert list(trace["x"]) == [4.0, 2.0, 0.5]
    # asymmetric interval: upper minus estimate, estimate minus lower
    assert list(trace["error_x"]["array"]) == [4.0, 1.0, 0.5]
    assert list(trace["error_x"]["arrayminus"]) == [2.0, 0.5, 0.25]
    assert fig["layout"]["xaxis"]["type"] == "log"
    assert "Odds ratio" in fig["layout"]["xaxis"]["title"]["text"]
    # the no-effect line at 1, and the first term drawn on top
    assert [s["x0"] for s in fig["layout"]["shapes"]] == [1.0]
    assert list(fig["layout"]["yaxis"]["categoryarray"])[-1] == "Vegan (vs omnivore)"
    assert trace["customdata"][0] == ["Vegan (vs omnivore)", "2.00-8.00"]


HELD_OUT = pd.DataFrame({
    "estimate_id": ["a", "b", "c"],
    "observed": [0.10, 0.30, 0.42],
    "predicted": [0.12, 0.25, 0.40],
    "pi_low": [0.02, 0.10, 0.15],
    "pi_high": [0.40, 0.60, 0.70],
    "old_predicted": [0.20, np.nan, 0.30],
    "old_pi_low": [0.10, np.nan, 0.20],
    "old_pi_high": [0.30, np.nan, 0.40],
})


def test_validation_plot_has_both_models_in_percent_and_the_identity_line():
    fig = charts.validation_figure(HELD_OUT, "Held out").to_dict()
    new, old, line = fig["data"]
    assert (new["name"], old["name"]) == ("Multilevel model", "Cell pooling (previous)")
    np.testing.assert_allclose(new["x"], [10, 30, 42])
    np.testing.assert_allclose(new["y"], [12, 25, 40])
    # the old model could not predict b: it has no point
    np.testing.assert_allclose(old["x"], [10, 42])
    np.testing.assert_allclose(old["y"], [20, 30])
    assert new["marker"]["color"] != old["marker"]["color"]
    assert old["customdata"][0] == ["a", "10.0-30.0%"]
    # y = x up to the next ten percent above the largest value (42 -> 50)
    assert list(line["x"]) == list(line["y"]) == [0, 50]
    assert fig["layout"]["xaxis"]["title"]["text"] == "Observed prevalence (%)"
    assert fig["layout"]["yaxis"]["title"]["text"].startswith("Predicted")

# --- published pools beside the model ----------------------------------------------------------

MODELLED = pd.DataFrame({
    "age_band": ["20-39", "20-39", "60-79"],
    "diet_group": ["omnivore", "vegan", "vegan"],
    "estimate": [0.10, 0.30, 0.50],
    "ci_low": [0.05, 0.20, 0.30],
    "ci_high": [0.20, 0.45, 0.70],
    "estimable": [True, True, False],
    "support_diet": [8, 4, 4], "support_age": [16, 16, 11], "support_location": [43, 43, 43],
})


def test_observed_modelled_figure_puts_pools_on_the_models_bars():
    fig = charts.observed_modelled_figure(POOLED, MODELLED, TITLE, subtitle="Modelled for X")
    spec = fig.to_dict()
    bars = [t for t in spec["data"] if t["type"] == "bar"]
    dots = [t for t in spec["data"] if t["type"] == "scatter"]
    assert {t["legendgroup"] for t in bars} == {"modelled"}
    assert {t["legendgroup"] for t in dots} == {"pooled"}
    assert bars[0]["legendgrouptitle"]["text"] == "Modelled"
    assert dots[0]["legendgrouptitle"]["text"] == "Published studies, pooled"
    # each dot shares its diet's offset group with the bar, so it sits on it
    assert {t["offsetgroup"] for t in dots} <= {t["offsetgroup"] for t in bars}
    vegan = next(t for t in bars if t["name"] == "Vegan")
    assert list(vegan["y"]) == pytest.approx([30.0, 50.0])
    # the not-estimable cell: hatched, grey, labelled, without an interval
    assert list(vegan["marker"]["pattern"]["shape"]) == ["", charts.NOT_ESTIMABLE_HATCH]
    assert list(vegan["marker"]["color"])[1] == charts.NO_DATA
    assert list(vegan["text"]) == ["", "not estimable"]
    assert list(vegan["error_y"]["array"]) == pytest.approx([15.0, 0.0])
    assert "not estimable" in vegan["customdata"][1][0]
    assert "4 studies of this group" in vegan["customdata"][0][1]
    assert "Hatched grey bars: not estimable" in plain(spec["layout"]["title"]["subtitle"]["text"])
    # the legend is below the plot, under the x axis, clear of the title and subtitle
    legend = spec["layout"]["legend"]
    assert (legend["yref"], legend["yanchor"], legend["orientation"]) == ("paper", "top", "h")
    assert legend["y"] < 0


def test_modelled_table_never_prints_a_not_estimable_number():
    comparison = pd.DataFrame({
        "age_band": ["20-39", "60-79"], "diet_group": ["vegan", "vegan"],
        "pooled_estimate": [0.25, math.nan], "pooled_ci_low": [0.2, math.nan],
        "pooled_ci_high": [0.3, math.nan], "k": [3, math.nan],
        "modelled_estimate": [0.30, 0.50], "modelled_ci_low": [0.20, 0.30],
        "modelled_ci_high": [0.45, 0.70], "estimable": [True, False],
        "support_diet": [4, 4], "support_age": [16, 11], "support_location": [43, 43],
    })
    table = charts.modelled_table(comparison)
    assert table.to_dict("list") == {
        "Age band": ["20-39", "60-79"],
        "Diet group": ["Vegan", "Vegan"],
        "Published studies, pooled (95% CI)": ["25.0% (20.0-30.0%)", ""],
        "Studies pooled": ["3", ""],
        "Modelled (95% CI)": ["30.0% (20.0-45.0%)", "not estimable"],
        "Studies behind the model (group / ages / place)": ["4 / 16 / 43", "4 / 11 / 43"],
    }


CURVES = pd.DataFrame({
    "age_band": ["20-39"] * 3 + ["80+"] * 3,
    "diet_group": ["general"] * 6,
    "cutoff": [100.0, 200.0, 300.0] * 2,
    "estimate": [0.05, 0.20, 0.50, 0.10, 0.30, 0.60],
    "ci_low": [0.03, 0.15, 0.40, 0.05, 0.20, 0.40],
    "ci_high": [0.08, 0.25, 0.60, 0.20, 0.40, 0.80],
    "estimable": [True] * 3 + [False] * 3,
})
OBSERVED = pd.DataFrame({
    "cutoff": [148.0, 221.0], "age_band": ["20-39", "20-39"], "diet_group": ["general"] * 2,
    "definition_label": ["Serum B12 < 148 pmol/L", "Serum B12 < 221 pmol/L"],
    "estimate": [0.12, 0.30], "ci_low": [0.08, 0.20], "ci_high": [0.18, 0.40],
    "k": [7, 1], "n_total": [5000, 300], "reliability": ["ok", "ok"],
})


def test_cutoff_curves_figure_draws_the_crosswalk_and_the_pools_on_one_axis():
    spec = charts.cutoff_curves_figure(CURVES, OBSERVED, 221.0, "Share below (%)",
                                       subtitle="Modelled for the world").to_dict()
    names = [t["name"] for t in spec["data"]]
    assert names == ["20-39: 95% CI", "Modelled, 20-39", "Modelled, 80+ (not estimable)",
                     "Published studies, pooled, 20-39"]
    band, line, flagged, points = spec["data"]
    assert band["fill"] == "toself"
    assert list(line["x"]) == [100.0, 200.0, 300.0]
    assert list(line["y"]) == pytest.approx([5.0, 20.0, 50.0])
    assert flagged["line"]["dash"] == "dot"  # no band for the curve the model cannot estimate
    assert list(points["x"]) == [148.0, 221.0]
    assert points["marker"]["color"] == line["line"]["color"]
    assert list(points["error_y"]["array"]) == pytest.approx([6.0, 10.0])
    assert spec["layout"]["xaxis"]["title"]["text"] == "Cut-off: serum B12 below (pmol/L)"
    assert [s["x0"] for s in spec["layout"]["shapes"]] == [221.0]
    # the legend is below the plot (under the axis), so it never covers the subtitle
    legend = spec["layout"]["legend"]
    assert (legend["yref"], legend["yanchor"]) == ("paper", "top")
    assert legend["y"] < 0
    assert spec["layout"]["title"]["subtitle"]["text"] == "Modelled for the world"


def test_cutoff_table_marks_what_the_model_cannot_estimate():
    at = CURVES[CURVES["cutoff"] == 200.0].assign(support_diet=31, support_age=[16, 8],
                                                   support_location=43)
    table = charts.cutoff_table(at, 200.0)
    assert list(table["Modelled: below 200 pmol/L (95% CI)"]) == ["20.0% (15.0-25.0%)",
                                                                  "not estimable"]


# --- accessibility: text contrast -------------------------------------------------------------


def _font_colours(node, inside_font: bool = False):
    """Every colour set on a font (layout, titles, annotations, legend, axes), recursively."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "color" and inside_font and isinstance(value, str):
                yield value
            else:
                yield from _font_colours(value, inside_font or key in ("font", "tickfont"))
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _font_colours(item, inside_font)


@pytest.mark.parametrize(
    "build",
    [
        lambda: charts.prevalence_bars_figure(POOLED, TITLE, subtitle="Sub"),
        lambda: charts.heatmap_figure(POOLED, TITLE),
        lambda: charts.study_dots_figure(STUDIES, TITLE),
        lambda: charts.forest_figure(STUDIES.iloc[:3], POOLED.iloc[[0]], TITLE),
        lambda: charts.prevalence_bars_figure(POOLED.iloc[0:0], TITLE),  # "no estimate" note
    ],
    ids=["bars", "heatmap", "dots", "forest", "empty"],
)
def test_chart_text_has_at_least_4_5_to_1_contrast_on_white(build):
    layout = build().to_dict()["layout"]
    colours = set(_font_colours(layout))
    assert colours, "the template sets the text colour"
    for colour in colours:
        assert charts.contrast_ratio(colour, "#FFFFFF") >= 4.5, colour


def test_contrast_ratio_matches_wcag_reference_values():
    # WebAIM contrast checker: #767676 on white 4.54:1; black on white 21:1.
    assert charts.contrast_ratio("#767676", "#FFFFFF") == pytest.approx(4.54, abs=0.01)
    assert charts.contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert charts.contrast_ratio("#FFFFFF", "#000000") == pytest.approx(21.0)


def test_theme_text_and_captions_have_at_least_4_5_to_1_contrast():
    import tomllib

    from tests.live_server import ROOT

    theme = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["theme"]
    text = theme["textColor"]

    def faded(background: str, alpha: float = 0.6) -> str:
        # Streamlit's captions and help text: textColor at 60% opacity (fadedText60).
        fg = [int(text[i : i + 2], 16) for i in (1, 3, 5)]
        bg = [int(background[i : i + 2], 16) for i in (1, 3, 5)]
        return "#" + "".join(f"{round(alpha * f + (1 - alpha) * b):02X}"
                             for f, b in zip(fg, bg, strict=True))

    for background in (theme["backgroundColor"], theme["secondaryBackgroundColor"]):
        assert charts.contrast_ratio(text, background) >= 7.0, background
        assert charts.contrast_ratio(faded(background), background) >= 4.5, background
        assert charts.contrast_ratio(theme["primaryColor"], background) >= 4.5, background


# --- layout for every screen: titles, legends, fixed colour scale, small multiples ---------


@pytest.mark.parametrize(("text", "width", "size", "expected"), [
    # 0.55 em a character: at 16 px, 8.8 px; 100 px hold 11 characters
    ("one two three four", 100, 16, "one two<br>three four"),
    ("short", 100, 16, "short"),
    # a word longer than a line keeps a line of its own
    ("a " + "x" * 20 + " b", 100, 16, "a<br>" + "x" * 20 + "<br>b"),
    # a comparison sign stays with its number; breaks already there are kept
    ("B12 < 148 pmol/L", 50, 16, "B12<br>< 148<br>pmol/L"),
    ("first<br>second line", 1000, 16, "first<br>second line"),
    ("", 100, 16, ""),
])
def test_fit_text_breaks_between_words_to_fit_a_width(text, width, size, expected):
    assert charts.fit_text(text, width, size) == expected
    for line in charts.fit_text(text, width, size).split("<br>"):
        assert " " not in line or charts.text_width(line, size) <= width


def test_text_width_counts_characters_without_tags():
    # "<b>ab</b>" is 2 characters: 2 * 10 px * 0.55
    assert charts.text_width("<b>ab</b>", 10) == pytest.approx(11.0)


@pytest.mark.parametrize(("names", "width", "rows"), [
    ([], 340, 0),
    (["Omnivore", "Vegan"], 340, 1),  # 46 + 8 * 7.15 = 103.2, 46 + 35.75 = 81.75: one row
    (["x" * 40] * 3, 340, 3),  # 46 + 286 = 332 each: one a row
    (["a<br>b", "c"], 340, 2),  # a two-line entry makes its row two lines tall
])
def test_legend_rows_packs_entries_left_to_right(names, width, rows):
    assert charts.legend_rows(names, width) == rows


def test_titles_are_fitted_to_a_phone_and_the_top_margin_holds_them():
    title = "Prevalence of deficient B12 status, Serum B12 < 148 pmol/L (%) - all ages, " \
            "every diet group, both sexes"
    fig = charts.prevalence_bars_figure(POOLED, title, subtitle="Modelled for the world " * 6)
    lines = fig.layout.title.text.split("<br>")
    assert len(lines) > 1
    assert all(charts.text_width(line, charts.TITLE_SIZE) <= charts.NARROW_WIDTH
               for line in lines)
    sub = fig.layout.title.subtitle.text.split("<br>")
    assert len(sub) > 1
    # 14 + lines * 16 * 1.3 for the title, 6 + lines * 12 * 1.35 for the subtitle, 18 gap
    expected = 14 + round(len(lines) * 16 * 1.3) + 6 + round(len(sub) * 12 * 1.35) + 18
    assert fig.layout.margin.t == expected
    assert (fig.layout.title.yref, fig.layout.title.yanchor) == ("container", "top")


def test_the_legend_sits_below_the_plot_with_room_for_its_rows():
    fig = charts.prevalence_bars_figure(POOLED, TITLE)
    legend = fig.layout.legend
    assert (legend.orientation, legend.yref, legend.yanchor) == ("h", "paper", "top")
    # two entries, one row at a phone's width: 24 px and 12 of padding; the margin holds it
    # and the axis
    assert fig.layout.margin.b == 10 + 24 + 12 + charts.AXIS_ROOM
    plot = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    # the legend's top is AXIS_ROOM px under the plot
    assert legend.y * plot == pytest.approx(-charts.AXIS_ROOM)
    # one trace: no legend, no room kept for it
    single = charts.prevalence_bars_figure(POOLED[POOLED["diet_group"] == "vegan"], TITLE)
    assert single.layout.margin.b == 10


def test_prevalence_colour_scale_steps_at_the_fixed_breaks():
    scale = charts.prevalence_colour_scale()
    # two stops a class, at its breaks / 100: 0-5% the first colour, 50-100% the last
    assert scale[:2] == [[0.0, "#FFFFB2"], [0.05, "#FFFFB2"]]
    assert scale[-2:] == [[0.5, "#BD0026"], [1.0, "#BD0026"]]
    assert [stop for stop, _ in scale[1::2]] == [0.05, 0.1, 0.2, 0.3, 0.5, 1.0]


def test_heatmap_scale_is_the_same_whatever_the_estimates():
    # Before: zmin 0 and the largest estimate as zmax, so one view's colours meant another
    # prevalence in the next. Now two views that share no value share the scale.
    low = charts.heatmap_figure(POOLED.assign(estimate=[0.01, 0.02, 0.03, 0.04]), TITLE)
    high = charts.heatmap_figure(POOLED.assign(estimate=[0.6, 0.7, 0.8, 0.9],
                                               ci_high=0.95), TITLE)
    a, b = low.data[0], high.data[0]
    assert (a.zmin, a.zmax) == (b.zmin, b.zmax) == (0, 100)
    assert a.colorscale == b.colorscale
    assert list(a.colorbar.tickvals) == [0, 10, 20, 30, 50, 100]
    # the range is stated in the subtitle, and the colour bar lies below the plot
    assert "0-5, 5-10, 10-20, 20-30, 30-50 and 50-100%" in plain(low.layout.title.subtitle.text)
    assert (a.colorbar.orientation, a.colorbar.yanchor) == ("h", "top")
    assert a.colorbar.y < 0
    # each class one flat colour: the scale steps at i/6
    assert a.colorscale[0][1] == a.colorscale[1][1] == charts.PREVALENCE_COLOURS[0]


PANELS = pd.DataFrame({
    "definition": ["b12_lt221", "b12_lt148", "b12_lt148"],
    "definition_label": ["Serum B12 < 221 pmol/L (< 300 pg/mL)",
                         "Serum B12 < 148 pmol/L (< 200 pg/mL)",
                         "Serum B12 < 148 pmol/L (< 200 pg/mL)"],
    "cutoff": [221.0, 148.0, 148.0],
    "age_band": ["20-39", "20-39", "60-79"],
    "diet_group": ["vegan", "vegan", "omnivore"],
    "estimate": [0.45, 0.12, 0.04], "ci_low": [0.3, 0.08, 0.02], "ci_high": [0.6, 0.17, 0.07],
    "k": [2, 3, 4], "n_total": [100, 300, 400], "reliability": ["ok", "ok", "ok"],
})


def test_cutoff_panels_one_heatmap_per_definition_on_one_grid_and_scale():
    fig = charts.cutoff_panels_figure(PANELS, "Prevalence below each cut-off")
    first, second = fig.data
    # schema order: 148 before 221; panel titles name the definitions
    assert [plain(t.name) for t in fig.data] == ["Serum B12 < 148 pmol/L (< 200 pg/mL)",
                                                 "Serum B12 < 221 pmol/L (< 300 pg/mL)"]
    titles = [plain(a.text) for a in fig.layout.annotations]
    assert titles == ["Serum B12 < 148 pmol/L (< 200 pg/mL)",
                      "Serum B12 < 221 pmol/L (< 300 pg/mL)"]
    # the same rows and columns in every panel, even where a panel lacks the cell
    assert list(first.y) == list(second.y) == ["20-39", "60-79"]
    assert list(first.x) == list(second.x) == ["Omni", "Vegan"]
    assert first.z[0][1] == pytest.approx(12.0)
    assert first.z[1][0] == pytest.approx(4.0)
    assert second.z[0][1] == pytest.approx(45.0)
    assert math.isnan(second.z[1][0])
    assert [list(r) for r in first.text] == [["", "12"], ["4", ""]]
    assert (first.zmin, first.zmax) == (second.zmin, second.zmax) == (0, 100)
    # one colour bar for all panels
    assert [t.showscale for t in fig.data] == [True, False]
    assert "fixed scale" in plain(fig.layout.title.subtitle.text)


def test_cutoff_panels_wrap_in_columns_and_refuse_none():
    three = pd.concat([PANELS, PANELS.iloc[[0]].assign(definition="b12_lt185",
                                                       definition_label="Serum B12 < 185")])
    fig = charts.cutoff_panels_figure(three, "T", columns=2)
    # three panels in two columns: two rows of panels
    assert {t.xaxis for t in fig.data} == {"x", "x2", "x3"}
    assert fig.data[2].yaxis == "y3"
    with pytest.raises(ValueError, match="columns must be 1 or more"):
        charts.cutoff_panels_figure(PANELS, "T", columns=0)


def test_stacked_forest_plot_puts_label_and_numbers_above_each_marker():
    rows = STUDIES.iloc[:3].assign(weight=[0.5, 0.2, 0.3])
    fig = charts.forest_figure(rows, POOLED.iloc[[0]], TITLE, weight="weight",
                               layout="stacked")
    lines = [(a.y, a.text) for a in fig.layout.annotations]
    texts = [t for _, t in lines]
    assert texts[:2] == ["Smith 2010 (GBR): 0-19, omnivore",
                         "10.0% [5.0-17.0%] \u00b7 n = 100 \u00b7 weight 50.0%"]
    assert "<b>Pooled (random effects): 10.0% [8.0-13.0%]</b>" in texts
    assert "95% prediction interval [5.0-18.0%]" in texts
    assert "n = 12,345 \u00b7 k = 3, I\u00b2 = 40%, \u03c4\u00b2 = 0.100" in texts
    # every line starts at the plot's left edge; nothing in a right-hand column
    assert {(a.x, a.xref, a.xanchor) for a in fig.layout.annotations} == {(0, "paper", "left")}
    assert fig.layout.margin.r == 10
    assert fig.layout.yaxis.showticklabels is False
    # each study's marker sits below its two lines
    squares = [t for t in fig.data if t.marker.symbol == "square"]
    ys = {t: y for y, t in lines}
    assert squares[0].y[0] < ys["10.0% [5.0-17.0%] \u00b7 n = 100 \u00b7 weight 50.0%"] < ys[
        "Smith 2010 (GBR): 0-19, omnivore"]
    # the lines are FOREST_LINE px apart or more: never on top of each other
    plot = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    px_per_unit = plot / (fig.layout.yaxis.range[1] - fig.layout.yaxis.range[0])
    gaps = np.diff(sorted(y for y, _ in lines))
    assert min(gaps) * px_per_unit >= charts.FOREST_LINE - 0.5
    with pytest.raises(ValueError, match="layout must be"):
        charts.forest_figure(rows, POOLED.iloc[[0]], TITLE, layout="grid")


def test_burden_map_of_a_share_uses_the_fixed_scale_and_a_number_its_own():
    share = charts.burden_map_figure(MAP_FRAME, WORLD, "share", "Share").data[1]
    assert (share.zmin, share.zmax) == (0, 100)  # before: 0 to the largest share (15%)
    assert share.colorscale == tuple(tuple(s) for s in charts.prevalence_colour_scale())
    number = charts.burden_map_figure(MAP_FRAME, WORLD, "number", "People").data[1]
    assert number.zmax is None
    assert number.colorbar.title.text == "people"
    # both colour bars lie under the map, horizontal
    assert {(c.orientation, c.yanchor) for c in (share.colorbar, number.colorbar)} == {
        ("h", "top")}
