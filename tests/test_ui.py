"""Shared widgets and caches: view descriptions, filter choices, downloads, data errors, and
figures of the bundled data built once per process for the same inputs."""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs

import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import aggregate, charts, schema, state, ui

POOLED = pd.DataFrame({
    "age_band": ["20-39"], "diet_group": ["vegan"], "estimate": [0.3], "ci_low": [0.2],
    "ci_high": [0.4], "k": [2], "n_total": [150], "reliability": ["ok"],
})


def test_figure_is_built_once_for_the_same_inputs() -> None:
    first = ui.figure(charts.prevalence_bars_figure, POOLED, "Title A")
    again = ui.figure(charts.prevalence_bars_figure, POOLED.copy(), "Title A")
    other = ui.figure(charts.prevalence_bars_figure, POOLED, "Title B")
    assert first is again  # same content, same cached object
    assert other is not first
    assert other.layout.title.text.startswith("Title B")


def test_a_shared_figure_gets_its_source_note_once_per_note() -> None:
    shared = ui.figure(charts.prevalence_bars_figure, POOLED, "Title A")
    assert isinstance(shared, charts.FrozenFigure)
    lines = ["Source: B12 Risk Atlas, data build abc, https://x.org/"]
    first = ui.with_source(shared, lines)
    assert ui.with_source(shared, list(lines)) is first  # the same note: the same figure
    other = ui.with_source(shared, ["Source: another view"])
    assert other is not first
    (note,) = [a for a in first.layout.annotations if a.name == "source"]
    assert note.text == lines[0]
    assert not shared.layout.annotations  # the shared figure itself is never changed
    # a figure of an upload (not frozen, not shared) is annotated afresh on every run
    own = charts.prevalence_bars_figure(POOLED, "Title A")
    assert ui.with_source(own, lines) is not ui.with_source(own, lines)


def test_per_view_computes_once_per_view_of_the_bundled_studies() -> None:
    studies = ui.load_studies()
    calls = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    view = state.default_state("explore")
    other = view.replace(minn=50)
    assert ui.per_view("test_count", studies, compute, view) == 1
    assert ui.per_view("test_count", studies, compute, view) == 1  # the same view: reused
    assert ui.per_view("test_count", studies, compute, other) == 2  # another view: computed
    # a frame that is not the bundled one (an upload, a test's own) is never memoised
    own = studies.head(3)
    assert ui.per_view("test_count", own, compute, view) == 3
    assert ui.per_view("test_count", own, compute, view) == 4


def test_figure_refuses_builders_outside_charts() -> None:
    with pytest.raises(ValueError, match="not a figure builder of dashboard.charts"):
        ui.figure(lambda: go.Figure())


def test_studies_or_stop_shows_the_problem_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from dashboard import data

    def broken(name: str, data_dir: Path = data.DATA_DIR):
        raise data.DataError(Path("data/studies.parquet"), "the file is missing")

    monkeypatch.setattr(data, "load_dataset", broken)
    monkeypatch.setattr(ui, "current_build", lambda: "broken-build")  # a fresh cache entry

    def page() -> None:
        import streamlit as st

        from dashboard import ui

        ui.studies_or_stop()
        st.write("not reached")

    at = AppTest.from_function(page).run()
    assert not at.exception
    assert "the file is missing" in at.error[0].value
    assert "make data" in at.error[0].value
    assert not any("not reached" in m.value for m in at.markdown)


# --- describing a view ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("ok", "Reliable by NCHS standards."),
        ("review; complement unreliable",
         "Flagged for statistical review by NCHS standards (complement unreliable)."),
        ("suppress",
         "Too imprecise by NCHS standards, which would suppress it: read with caution."),
        ("unknown", "Reliability not rated (no n or interval)."),
        ("suppress; few events",
         "Too imprecise by NCHS standards, which would suppress it: read with caution "
         "(few events)."),
        ("something else", "NCHS reliability: something else."),
    ],
)
def test_reliability_note(flag, expected):
    assert ui.reliability_note(flag) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, "Serum B12 < 148 pmol/L (< 200 pg/mL); deficient; all study populations"),
        ({"def": "b12_lt185", "sex": "female", "diet": ["vegan", "omnivore"],
          "years": "1990-2000", "undated": "0", "minn": "1000"},
         "Serum B12 < 185 pmol/L (< 250 pg/mL); deficient; sex: female; "
         "diet: omnivore, vegan; survey years 1990-2000; rows without survey years left out; "
         "n at least 1,000"),
    ],
)
def test_describe_filters(query, expected):
    view, notices = state.from_query("overview", query)
    assert not notices
    assert ui.describe_filters(view) == expected


# --- downloads ---------------------------------------------------------------------------------


@pytest.fixture
def small_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "study_id": pd.Series(["a", "b", None], dtype="str"),
        "prevalence": [0.1, 0.25, float("nan")],
        "n": pd.array([10, None, 3], dtype="Int64"),
        "diet_group": pd.Categorical(["vegan", "omnivore", "vegan"]),
    })


def test_csv_download_holds_exactly_the_frame(small_frame):
    text = ui.table_bytes(small_frame, "csv").decode("utf-8")
    assert text.splitlines() == [
        "study_id,prevalence,n,diet_group", "a,0.1,10,vegan", "b,0.25,,omnivore", ",,3,vegan",
    ]


def test_parquet_download_round_trips(small_frame):
    back = pd.read_parquet(io.BytesIO(ui.table_bytes(small_frame, "parquet")))
    pd.testing.assert_frame_equal(back, small_frame)


def test_unknown_download_format_is_named(small_frame):
    with pytest.raises(ValueError, match="unknown table format 'xlsx'"):
        ui.table_bytes(small_frame, "xlsx")


def test_filter_choices_add_generated_definitions_and_data_regions():
    studies = pd.DataFrame({
        "definition": ["b12_lt185", "thcy_gt12", "b12_lt148", None],
        "region": ["Europe", "Asia", None, "Europe"],
        "subregion": ["Western Europe", None, None, "Western Europe"],
    })
    # schema order first (b12_lt148 before b12_lt185), then generated ids alphabetically
    assert ui.filter_choices(studies) == {
        "def": ["b12_lt148", "b12_lt185", "thcy_gt12"],
        "region": ["Asia", "Europe", "Western Europe"],
    }


# --- data problems ---------------------------------------------------------------------------


def test_render_data_error_shows_message_and_fix() -> None:
    def page() -> None:
        from pathlib import Path

        from dashboard import ui
        from dashboard.data import DataError

        ui.render_data_error(DataError(Path("data/studies.parquet"), "the file is missing"))

    at = AppTest.from_function(page).run()
    assert not at.exception
    assert len(at.error) == 1
    assert "studies.parquet" in at.error[0].value
    assert "make data" in at.error[0].value


# --- formula cells in CSV downloads ---------------------------------------------------------


def test_csv_download_neutralizes_formula_cells_and_parquet_keeps_them():
    cells = ["=HYPERLINK(\"http://e.vil\",\"x\")", "+1", "-2", "@SUM(A1)|cmd", "\tx",
             "plain", "a=b"]
    frame = pd.DataFrame({"label": cells, "=col": range(7), "value": [-0.5] * 7})
    got = pd.read_csv(io.StringIO(ui.table_bytes(frame, "csv").decode("utf-8")),
                      keep_default_na=False)
    assert got["label"].tolist() == ["'" + c for c in cells[:5]] + ["plain", "a=b"]
    assert list(got.columns) == ["label", "'=col", "value"]
    assert got["value"].tolist() == [-0.5] * 7  # numbers stay numbers
    assert ui.neutralize_formulas(pd.DataFrame({"x": ["\rx"]}))["x"].tolist() == ["'\rx"]
    back = pd.read_parquet(io.BytesIO(ui.table_bytes(frame, "parquet")))
    pd.testing.assert_frame_equal(back, frame)


def test_csv_download_neutralizes_categorical_labels():
    frame = pd.DataFrame({"group": pd.Categorical(["=1+1", "vegan"])})
    assert ui.table_bytes(frame, "csv").decode("utf-8").splitlines() == ["group", "'=1+1", "vegan"]


# --- data state --------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["overview", "explore", "evidence", "cutoffs", "burden",
                                  "your_data", "methods"])
def test_every_page_says_when_sources_changed_after_the_build(monkeypatch, page):
    from dashboard import data
    from tests.apptest import page_app

    monkeypatch.setattr(data, "stale_inputs",
                        lambda manifest: ["data/sources/reference/diet_shares.csv"])
    at = page_app(schema.PAGES[page].file).run()
    assert not at.exception
    warning = at.warning[0].value
    assert warning.startswith("**The datasets are older than their sources: run `make data`.**")
    assert "diet\\_shares.csv" in warning


def test_no_data_state_warning_when_sources_match():
    from tests.apptest import page_app

    at = page_app(schema.PAGES["methods"].file).run()
    assert not any("older than their sources" in w.value for w in at.warning)


# --- definition drives status; counts; empty results with alternatives ------------------------

EXPLORE = "dashboard/pages/explore.py"


def test_each_definition_knows_its_statuses():
    studies = ui.load_studies()
    statuses = ui.definition_statuses(studies)
    assert statuses["b12_148_221"] == ["marginal"]
    # exactly the statuses its rows use: one Delhi study calls < 150 pmol/L "low"
    lt148 = studies.loc[studies["definition"] == "b12_lt148", "status"].astype(str)
    assert set(lt148) == {"deficient", "low_or_marginal"}
    assert statuses["b12_lt148"] == ["deficient", "low_or_marginal"]
    # schema order: deficient, marginal, low or marginal
    assert statuses["b12_lt221"] == ["deficient", "marginal", "low_or_marginal"]


@pytest.mark.parametrize(
    ("query", "options", "status"),
    [
        ({"def": "b12_148_221"}, ["marginal"], "marginal"),
        ({"def": "b12_148_221", "status": "low_or_marginal"}, ["marginal"], "marginal"),
        ({"def": "b12_lt221"}, ["deficient", "marginal", "low_or_marginal"], "deficient"),
    ],
)
def test_status_follows_the_definition(query, options, status):
    from tests.apptest import page_app

    at = page_app(EXPLORE, query).run()
    assert not at.exception
    assert at.selectbox(key="status").options == [schema.STATUS_LABELS[s] for s in options]
    assert at.session_state["status"] == status
    # The page shows rows: an incompatible pair can no longer leave it empty.
    assert not [w for w in at.warning if "No published estimate" in w.value]


def test_changing_the_definition_moves_the_status_with_a_notice():
    from tests.apptest import page_app

    at = page_app(EXPLORE).run()
    at.selectbox(key="def").set_value("b12_148_221").run()
    assert not at.exception
    assert at.session_state["status"] == "marginal"
    assert at.query_params["status"] == "marginal"
    assert any("status set to marginal" in i.value for i in at.info)


def test_definition_options_count_studies_under_the_other_filters_and_show_the_full_label():
    from tests.apptest import page_app

    studies = ui.load_studies()
    view, _ = state.from_query("explore", {"diet": "vegan"})
    counts = ui.definition_counts(studies, view)
    vegans = studies.loc[studies["diet_group"] == "vegan"]
    assert counts["b12_lt148"] == vegans.loc[vegans["definition"] == "b12_lt148",
                                             "study_id"].nunique()
    at = page_app(EXPLORE, {"diet": "vegan"}).run()
    box = at.selectbox(key="def")
    label = schema.DEFINITIONS_BY_ID["b12_lt148"].label
    k = counts["b12_lt148"]
    assert f"{label} ({k} studies)" in box.options
    assert box.value == "b12_lt148"
    assert f"{label} ({k} studies)" in [c.value for c in at.sidebar.caption]


def test_an_empty_result_links_the_nearest_views_with_their_counts():
    from tests.apptest import page_app

    query = {"diet": "vegan", "region": "Europe"}
    studies = ui.load_studies()
    view, _ = state.from_query("explore", query, ui.filter_choices(studies))
    assert ui.empty_alternatives(studies, view)  # the case the issue reports: 0 rows here
    at = page_app(EXPLORE, query).run()
    assert not at.exception
    assert any("No published estimate" in w.value for w in at.warning)
    (listing,) = [m.value for m in at.markdown if "estimate" in m.value and "](?" in m.value]
    links = re.findall(r"^- \[(.*)\]\(\?(.*)\)$", listing, flags=re.MULTILINE)
    assert links
    for label, query_string in links:
        # Each link opens this page with the one change, and shows what its label counts.
        linked, notices = state.from_query("explore", parse_qs(query_string),
                                           ui.filter_choices(studies))
        assert not notices
        n = len(aggregate.filter_studies(studies, **state.filter_kwargs(linked)))
        assert label.endswith(f": {n} estimate{'s' if n != 1 else ''}")
        assert n > 0
    assert any(label.startswith("any diet groups") for label, _ in links)
    others = ui.other_definition_rows(studies, view)
    vegan_europe = studies.loc[(studies["diet_group"] == "vegan")
                               & ((studies["region"] == "Europe")
                                  | (studies["subregion"] == "Europe"))]
    assert others == len(vegan_europe) > 0
    assert any(f"{others} estimate" in m.value for m in at.markdown)


def test_chart_name_is_the_title_and_the_caption_s_first_sentence():
    fig = go.Figure(layout={"title": {"text": "Pooled, <b>B12 < 148</b> - a &amp; b (%)"}})
    caption = "Random-effects pooled prevalence with 95% CI. From 12 estimates."
    assert ui.chart_name(fig, caption) == (
        "Pooled, B12 < 148 - a & b (%). Random-effects pooled prevalence with 95% CI.")


def test_every_chart_gets_a_name_script_that_no_file_text_can_break_out_of():
    def page() -> None:
        import pandas as pd
        import plotly.graph_objects as go

        from dashboard import ui

        fig = go.Figure(layout={"title": {"text": "B12 < 148 in x</script><img src=x>.csv"}})
        ui.render_figure(fig, pd.DataFrame({"a": [1]}), key="k1", caption="One sentence.")

    at = AppTest.from_function(page).run()
    assert not at.exception
    (body,) = [h.proto.body for h in at.get("html")]
    assert '".st-key-" + key + " .stPlotlyChart"' in body
    assert '"figure-k1"' in body
    assert body.count("</script>") == 1  # <, > and & of the name are escaped
    assert ("B12 \\u003c 148 in x\\u003c/script\\u003e\\u003cimg src=x\\u003e.csv. One sentence."
            in body)
    assert any(e.label == "Table of the chart" for e in at.expander)
