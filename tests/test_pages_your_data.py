"""AppTest of the Your data page: upload, mapping, results, links and bad files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import plain

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "dashboard" / "pages" / "your_data.py")
GOLDEN = ROOT / "tests" / "golden"
MICRODATA = (GOLDEN / "survey_microdata.csv").read_bytes()
# sha256sum tests/golden/survey_microdata.csv | cut -c1-12
MICRODATA_FP = "319a436b7b83"
OTHER_FP = "0123456789ab"


def _app(query: dict[str, str | list[str]] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def _upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    at.file_uploader(key="yd_files").set_value([(n, b, "application/octet-stream")
                                               for n, b in files])
    return at.run()


def _confirm(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Confirm mapping").click()
    return at.run()


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def _frame_with(at: AppTest, *columns: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if set(columns) <= set(d.value.columns))


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_default_run_asks_for_a_file():
    at = _app()
    assert not at.exception
    assert "Upload a file to begin" in _texts(at.info)
    assert at.file_uploader(key="yd_files").accept_multiple_files


@pytest.mark.parametrize(
    ("query", "widgets"),
    [
        (
            {"marker": "mma", "op": "gt", "cut": "0.37", "unit": "umol/L"},
            {"marker": "mma", "op": "gt", "cut": 0.37, "unit": "umol/L"},
        ),
        ({"grp": ["sex", "age_band"], "bands": "0-39,40+"},
         {"grp": ["age_band", "sex"], "bands": "0-39,40+"}),
        ({"marker": "holotc", "cut": "35"}, {"marker": "holotc", "cut": 35.0, "unit": "pmol/L"}),
        ({"astd": "survey"}, {"astd": "survey"}),
    ],
)
def test_link_sets_the_widgets(query, widgets):
    at = _app(query)
    assert not at.exception
    for key, value in widgets.items():
        assert at.session_state[key] == value, key
    assert not at.info or "Ignored" not in _texts(at.info)


def test_tampered_link_runs_and_says_what_it_ignored():
    at = _app({"zzz": "1", "cut": "lots", "marker": "tHcy", "grp": "planet", "fp": "xyz",
               "bands": "5-10", "unit": "furlongs"})
    assert not at.exception
    notices = _texts(at.info)
    for name in ("zzz", "cut=lots", "grp=planet", "fp=xyz", "bands=5-10", "unit=furlongs",
                 "marker=tHcy"):
        assert f"Ignored {name}" in notices or f"'{name}'" in notices, name
    # Fallbacks: defaults of the registry, and a marker with values per person.
    assert at.session_state["marker"] == "serum_b12"
    assert at.session_state["cut"] == 148.0


def test_link_without_the_file_names_the_file_and_the_view():
    at = _app({"fp": OTHER_FP, "marker": "serum_b12", "cut": "185", "grp": "diet_group"})
    assert not at.exception
    text = _texts(at.info)
    assert OTHER_FP in text
    assert "Upload the file" in text
    assert "Serum B12 < 185 pmol/L" in text
    assert "diet group" in text


def test_upload_map_and_results_reproduce_r():
    at = _confirm(_upload(_app(), ("survey_microdata.csv", MICRODATA)))
    assert not at.exception
    assert not at.error
    assert at.query_params["fp"] == MICRODATA_FP
    # 124 rows without serum B12 are dropped, counted and shown with the reason.
    assert "124 rows" in _texts(at.warning)
    dropped = _frame_with(at, "file", "row", "reason")
    assert len(dropped) == 124
    # svydesign(ids=~psu, strata=~stratum, weights=~weight, nest=TRUE, data=d)
    # svyby(~deficient, ~age_group+diet_group, design, svymean) (tests/golden/README.md)
    expected = pd.read_csv(GOLDEN / "survey_expected_by_age_diet.csv")
    shown = _frame_with(at, "age_band", "diet_group", "estimate", "se", "reliability")
    merged = shown.merge(expected, left_on=["age_band", "diet_group"],
                         right_on=["age_group", "diet_group"], validate="one_to_one")
    assert len(merged) == len(expected) == len(shown)
    np.testing.assert_allclose(merged["estimate_x"], merged["estimate_y"], rtol=1e-6)
    np.testing.assert_allclose(merged["se_x"], merged["se_y"], rtol=1e-6)
    np.testing.assert_allclose(merged["ci_low"], merged["ci_kg_low"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(merged["ci_high"], merged["ci_kg_high"], rtol=1e-6)
    assert (merged["n_x"] == merged["n_y"]).all()
    # The chart: one trace per diet group in its colour, title with definition, unit, data.
    crude = _figures(at)[0]
    assert [t["name"] for t in crude["data"]] == ["Omnivore", "Pescatarian", "Vegetarian",
                                                  "Vegan"]
    title = plain(crude["layout"]["title"]["text"])
    assert "Serum B12 < 148 pmol/L" in title
    assert "(%)" in title
    assert "survey_microdata.csv" in title
    assert all(t["error_y"]["array"] for t in crude["data"])
    # Published comparison for b12_lt148 by age band x diet group.
    comparison = _frame_with(at, "estimate_yours", "estimate_published")
    assert len(comparison) > 0


def test_age_standardized_to_the_survey_own_distribution_by_diet():
    from dashboard import ingest

    at = _upload(_app({"grp": "diet_group"}), ("survey_microdata.csv", MICRODATA))
    at.selectbox(key="astd").set_value("survey")
    at = _confirm(at)
    assert not at.exception
    figures = _figures(at)
    assert len(figures) == 2
    assert "Age-standardised prevalence" in plain(figures[1]["layout"]["title"]["text"])
    subtitle = plain(figures[1]["layout"]["title"]["subtitle"]["text"])
    assert "survey's own age distribution" in subtitle
    # The standard is the weighted number of analysed people per band (sum of weights).
    up = ingest.read_upload("survey_microdata.csv", MICRODATA)
    prepared = ingest.prepare_microdata(up, ingest.propose_mapping(up.frame), "b12_lt148")
    weights = prepared.frame.groupby("age_band", observed=True)["weight"].sum().to_dict()
    expected = ingest.estimate(prepared, ["diet_group"], standardize=("age_band", weights))
    shown = [d.value for d in at.dataframe
             if list(d.value.columns[:2]) == ["Diet group", "Prevalence"]]
    assert shown[-1]["Prevalence"].tolist() == [f"{100 * v:.1f}%" for v in expected["estimate"]]


def test_age_standardized_to_a_standard_matches_the_statistics_core():
    from dashboard import data, ingest

    at = _confirm(_upload(_app({"grp": "diet_group"}), ("survey_microdata.csv", MICRODATA)))
    assert not at.exception
    # WHO 2000-2025 shares summed over the five-year groups inside each band by hand.
    std = data.load_dataset("standard_populations")
    who = std[std["standard"] == "who_2000_2025"]
    edges = [(0, 19), (20, 39), (40, 59), (60, 79), (80, 200)]
    weights = {
        label: float(who.loc[(who["age_min"] >= lo) & (who["age_min"] <= hi),
                             "weight_share"].sum())
        for label, (lo, hi) in zip(["0-19", "20-39", "40-59", "60-79", "80+"], edges,
                                   strict=True)
    }
    up = ingest.read_upload("survey_microdata.csv", MICRODATA)
    prepared = ingest.prepare_microdata(up, ingest.propose_mapping(up.frame), "b12_lt148")
    expected = ingest.estimate(prepared, ["diet_group"], standardize=("age_band", weights))
    shown = [d.value for d in at.dataframe
             if list(d.value.columns[:2]) == ["Diet group", "Prevalence"]]
    assert shown, "table of the age-standardised chart"
    assert shown[-1]["Prevalence"].tolist() == [f"{100 * v:.1f}%" for v in expected["estimate"]]


def test_the_session_keeps_the_estimates_not_the_analysed_rows():
    """Once the estimates are made the prepared frame is let go (the upload's frame is held,
    not a second copy of its rows); a new standard population prepares the file again."""
    import dataclasses

    at = _confirm(_upload(_app({"grp": "diet_group"}), ("survey_microdata.csv", MICRODATA)))
    assert not at.exception
    kept = at.session_state["_yd_results"][1]
    frames = [v for v in (getattr(kept, f.name) for f in dataclasses.fields(kept))
              if isinstance(v, pd.DataFrame)] + [kept.standardized.frame]
    assert kept.people > 100
    assert all(len(frame) < kept.people for frame in frames)  # results and rows left out only
    assert not any(type(v).__name__ == "Prepared" for v in vars(kept).values())
    at.selectbox(key="astd").set_value("survey")
    at = at.run()
    assert not at.exception
    subtitle = plain(_figures(at)[1]["layout"]["title"]["subtitle"]["text"])
    assert "survey's own age distribution" in subtitle


def test_without_an_age_column_standardisation_asks_for_one():
    frame = pd.read_csv(GOLDEN / "survey_microdata.csv").drop(columns=["age"])
    at = _confirm(_upload(_app({"grp": "diet_group"}),
                          ("no_age.csv", frame.to_csv(index=False).encode())))
    assert not at.exception
    assert "Map an age column to standardise by age." in _texts(at.info)
    assert len(_figures(at)) == 1  # the crude estimate only


def test_link_with_another_file_says_so_and_still_works():
    at = _confirm(_upload(_app({"fp": OTHER_FP}), ("survey_microdata.csv", MICRODATA)))
    assert not at.exception
    warning = _texts(at.warning)
    assert OTHER_FP in warning
    assert MICRODATA_FP in warning
    assert at.query_params["fp"] == MICRODATA_FP
    assert _figures(at)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.csv", b"", "is empty"),
        ("header.csv", b"age,serum_b12_pmol_l\n", "header"),
        ("garbage.parquet", bytes(range(256)) * 4, "Parquet"),
        ("binary.csv", bytes(range(256)) * 4, "binary data"),
        ("pipes.csv", b"a|b|c\n1|2|3\n", "pipe"),
    ],
)
def test_bad_upload_shows_the_problem_and_the_page_still_works(name, content, problem):
    at = _upload(_app(), (name, content))
    assert not at.exception
    errors = _texts(at.error)
    assert name in errors
    assert problem in errors
    # A good file next to the bad one is read and estimated.
    at = _confirm(_upload(at, (name, content), ("survey_microdata.csv", MICRODATA)))
    assert not at.exception
    assert name in _texts(at.error)
    assert _figures(at)


def test_values_that_fail_validation_are_listed_and_fixable_by_mapping_labels():
    bad = MICRODATA.replace(b",vegan,", b",raw vegan,")
    at = _confirm(_upload(_app(), ("raw.csv", bad)))
    assert not at.exception
    assert "raw vegan" in _texts(at.error)
    preview = _frame_with(at, "value", "count", "rows")
    assert preview["value"].tolist() == ["raw vegan"]
    at.selectbox(key=f"yd_label_diet_group_{_tag(at)}_raw vegan").set_value("vegan").run()
    assert not at.exception
    assert not at.error
    assert [t["name"] for t in _figures(at)[0]["data"]][-1] == "Vegan"


def _tag(at: AppTest) -> str:
    fp = at.query_params["fp"]
    return f"{fp}_microdata"


def test_prevalence_table_gets_wilson_rows_and_pooling():
    table = (b"study,diet_group,n,cases\nA,vegan,100,20\nB,vegan,80,10\n"
             b"C,omnivore,500,15\nD,omnivore,400,8\n")
    at = _confirm(_upload(_app({"grp": "diet_group"}), ("table.csv", table)))
    assert not at.exception
    assert not at.error
    rows = _frame_with(at, "interval_low", "interval_high", "reliability")
    # prop.test(20, 100, correct = FALSE)$conf.int: 0.1333669 0.2888292
    np.testing.assert_allclose(rows.loc[0, ["interval_low", "interval_high"]].astype(float),
                               [0.1333669, 0.2888292], atol=1e-7)
    pooled = _frame_with(at, "diet_group", "estimate", "pi_low", "k")
    assert pooled["diet_group"].tolist() == ["omnivore", "vegan"]
    assert pooled["k"].tolist() == [2, 2]
    assert [t["name"] for t in _figures(at)[0]["data"]] == ["Omnivore", "Vegan"]


# Markdown, HTML and an image address in a file's name, column names and labels.
EVIL_LINK = "[Data moved: log in](https://e.vil/x)"
EVIL_IMAGE = "![i](http://127.0.0.1:9/i.png)"
# What would render as a link, image or tag: an unescaped "](" or "<", or an address that
# remark-gfm links by itself (://, @ without the word joiner).
_LIVE_MARKUP = re.compile(r"(?<!\\)\]\(|(?<!\\)<|://|\w@")


def _markdown_sources(at: AppTest) -> list[str]:
    """Every text the page hands to Streamlit's Markdown renderer: alerts, captions,
    markdown, and widget labels and help."""
    texts = [str(e.value) for kind in ("error", "warning", "info", "caption", "markdown")
             for e in getattr(at, kind)]
    texts += [str(w.label) for w in at.selectbox] + [str(w.help or "") for w in at.selectbox]
    return texts


def test_labels_file_names_and_columns_from_a_file_are_shown_as_text():
    bad = MICRODATA.replace(b",vegan,", f",{EVIL_LINK} <b>x</b>,".encode())
    # A file name cannot hold "/": a link without one, in a file that cannot be read.
    at = _confirm(_upload(_app(), ("survey.csv", bad), ("[log in](mailto:x@e.vil).csv", b"")))
    assert not at.exception
    shown = [t for t in _markdown_sources(at) if "e.vil" in t]
    assert len(shown) >= 3  # the unreadable file, the unknown labels, the label widget
    assert any("\\[log in\\](mailto\\:x\u2060@e.vil).csv" in t for t in shown)
    for text in shown:
        assert not _LIVE_MARKUP.search(text), text
    assert any("\\[Data moved\\: log in\\](https\\:\u2060//e.vil/x)" in t for t in shown)


def test_url_notices_are_shown_as_text():
    at = _app({"grp": [EVIL_LINK, EVIL_IMAGE], EVIL_IMAGE: "1"})
    assert not at.exception
    notices = [i.value for i in at.info if i.value.startswith("Ignored")]
    assert len(notices) == 2
    for text in notices:
        assert not _LIVE_MARKUP.search(text), text


def _inside_collapsible(at: AppTest) -> list[str]:
    """Texts of the error alerts that sit inside an expander or status container (collapsed
    until clicked)."""
    found: list[str] = []

    def walk(node, hidden: bool) -> None:
        kind = getattr(node, "type", "")
        hidden = hidden or kind in ("expandable", "status")
        if kind == "error" and hidden:
            found.append(str(node.value))
        for child in getattr(node, "children", {}).values():
            walk(child, hidden)

    walk(at.main, False)
    return found


def test_a_refused_file_shows_the_full_message_open_not_in_a_collapsed_status():
    # Every diet label unknown: estimation refuses the file after "Confirm mapping".
    bad = MICRODATA.replace(b",vegan,", b",raw vegan,")
    at = _confirm(_upload(_app(), ("raw.csv", bad)))
    assert not at.exception
    assert "The file cannot be estimated yet" in _texts(at.error)
    assert "raw vegan" in _texts(at.error)
    assert not _inside_collapsible(at)


def test_a_refused_prevalence_table_names_the_rows_with_swapped_ages():
    table = b"diet_group,age_min,age_max,n,cases\nvegan,20,39,100,20\nvegan,60,40,80,10\n"
    at = _confirm(_upload(_app({"grp": "diet_group"}), ("table.csv", table)))
    assert not at.exception
    # Markdown-escaped as shown: age\_min.
    assert "age\\_min above age\\_max in 1 row (file line 3" in _texts(at.error)
    assert not _inside_collapsible(at)


def test_an_html_page_saved_as_csv_is_named_as_such():
    at = _upload(_app(), ("export.csv", b"<!DOCTYPE html>\n<html><body>Log in</body></html>"))
    assert not at.exception
    assert "its content is an HTML page" in _texts(at.error)


def test_removing_a_file_gives_no_shared_link_notice():
    at = _confirm(_upload(_app(), ("survey_microdata.csv", MICRODATA)))
    assert at.query_params["fp"] == MICRODATA_FP
    at.file_uploader(key="yd_files").set_value([])
    at.run()
    assert not at.exception
    assert "This link shows a view of a file" not in _texts(at.info)
    assert "Upload a file to begin" in _texts(at.info)
    assert "fp" not in at.query_params
    # A link that names a file still says so.
    linked = _app({"fp": OTHER_FP})
    assert "This link shows a view of a file" in _texts(linked.info)
