"""URL <-> view state: round trips, fallbacks with notices, aliases, links, Streamlit glue."""

from __future__ import annotations

import textwrap
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard import schema, state

# --- registry ----------------------------------------------------------------------------------


def test_every_page_has_a_default_state_with_every_param():
    for page in schema.PAGES:
        s = state.default_state(page)
        assert [n for n, _ in s.values] == [p.name for p in state.PAGE_PARAMS[page]]
        assert state.to_query(s) == {}  # the default link carries no parameters


def test_names_and_aliases_are_short():
    # The import-time check makes names unique lower-case identifiers; links stay short
    # only if nobody adds a long one.
    for p in state.PARAMETERS:
        assert len(p.name) <= 12, p.name
        assert all(len(a) <= 16 for a in p.aliases), p.aliases


def _param(name: str, pages: tuple[str, ...] = ("explore",), aliases: tuple[str, ...] = ()):
    return state.Param(name, state.ONE, "a", name, pages, allowed=("a", "b"), aliases=aliases)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ([_param("x"), _param("x")], "used twice: x$"),
        ([_param("x"), _param("y", aliases=("x",))], "used twice: x$"),
        ([_param("x", aliases=("old",)), _param("y", aliases=("old",))], "used twice: old$"),
        ([_param("v")], "used twice: v$"),  # the state version's key
        ([_param("Def")], "'Def' must be lower-case"),
        ([_param("min-n")], "'min-n' must be lower-case"),
        ([_param("x", pages=("explore", "nope"))], "parameter x: unknown pages nope$"),
    ],
)
def test_registry_check_refuses_a_bad_registry(parameters, message):
    with pytest.raises(ValueError, match=message):
        state._check_registry(parameters)


def test_registry_check_passes_the_registry():
    state._check_registry(state.PARAMETERS)


def test_unknown_page_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown page 'nope'"):
        state.from_query("nope", {})


def test_parameters_markdown_lists_every_parameter():
    table = state.parameters_markdown()
    for p in state.PARAMETERS:
        assert f"| `{p.name}` |" in table
    assert "| `v` |" in table


# --- round trips -------------------------------------------------------------------------------

_SAMPLES = {
    "country": ("FRA", "DEU", "USA", "IND", "MULTI"),
    "place": ("FRA", "GBR", "USA", "IND"),
    "loc": ("World", "Europe", "Sub-Saharan Africa", "Australia/New Zealand", "GBR", "BRA"),
    "bands": ("0-19,20-39,40-59,60-79,80+", "0-17,18-64,65+", "0-120"),
}


def _value_strategy(p: state.Param) -> st.SearchStrategy:
    if p.kind == state.BOOL:
        return st.booleans()
    if p.kind == state.INT:
        return st.integers(int(p.lo), int(min(p.hi, 100_000)))
    if p.kind == state.FLOAT:
        return st.floats(p.lo, p.hi, allow_nan=False)
    if p.kind == state.RANGE:
        return st.tuples(st.integers(int(p.lo), int(p.hi)), st.integers(int(p.lo), int(p.hi))
                         ).map(lambda t: tuple(sorted(t)))
    if p.name == "fp":
        return st.sampled_from(["", "0123456789ab", "ffffffffffff"])
    pool = _SAMPLES.get(p.name) or p.allowed
    if p.kind == state.ONE:
        return st.sampled_from(pool)
    rank = {v: i for i, v in enumerate(p.allowed)}
    min_size = max(p.min_items, 0)

    def canonical(items: list[str]) -> tuple[str, ...]:
        # vocabulary order first, then values the validator accepts, alphabetically
        return tuple(sorted(set(items), key=lambda v: (rank.get(v, len(rank)), v)))

    return st.lists(st.sampled_from(pool), min_size=min_size, max_size=4).map(canonical)


def _state_strategy(page: str) -> st.SearchStrategy:
    params = state.PAGE_PARAMS[page]
    return st.tuples(*(_value_strategy(p) for p in params)).map(
        lambda values: state.State(page, tuple(zip((p.name for p in params), values,
                                                   strict=True)))
    )


@pytest.mark.parametrize("page", list(schema.PAGES))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_round_trip(page, data):
    s = data.draw(_state_strategy(page))
    for include_defaults in (False, True):
        back, notices = state.from_query(page, state.to_query(s, include_defaults))
        assert notices == []
        assert back == s
    # the Share link parses back to the same state too
    query = parse_qs(urlsplit(state.share_url(s)).query, keep_blank_values=True)
    assert state.from_query(page, query) == (s, [])


def test_state_is_hashable_and_comparable():
    a, _ = state.from_query("explore", {"view": "heatmap"})
    b, _ = state.from_query("explore", {"view": ["HEATMAP"]})
    assert a == b
    assert len({a, b, state.default_state("explore")}) == 2


def test_include_defaults_writes_every_parameter_and_the_version():
    s = state.default_state("burden")
    query = state.to_query(s, include_defaults=True)
    assert list(query) == [p.name for p in state.PAGE_PARAMS["burden"]] + ["v"]
    assert query["v"] == ["1"]
    assert query["loc"] == ["World"]
    assert query["year"] == ["2025"]
    assert query["diet"] == [""]  # empty multi value = all, written explicitly
    assert query["xvegan"] == ["1"]


# --- parsing: table of query -> expected values -----------------------------------------------


@pytest.mark.parametrize(
    ("page", "query", "expected"),
    [
        # repeated keys and comma lists, normalised to the vocabulary order
        ("explore", {"age": ["60-79", "0-19"]}, {"age": ("0-19", "60-79")}),
        ("explore", {"age": "80+,20-39"}, {"age": ("20-39", "80+")}),
        ("explore", {"diet": ["VEGAN", "vegan", "Omnivore"]}, {"diet": ("omnivore", "vegan")}),
        # case-insensitive keys and values
        ("explore", {"DEF": "B12_LT118", "View": "Heatmap"},
         {"def": "b12_lt118", "view": "heatmap"}),
        ("explore", {"country": "fra,usa"}, {"country": ("FRA", "USA")}),
        ("explore", {"country": "multi"}, {"country": ("MULTI",)}),
        ("explore", {"region": "western europe"}, {"region": ("Western Europe",)}),
        ("explore", {"region": "australia/new zealand,south-eastern asia"},
         {"region": ("South-Eastern Asia", "Australia/New Zealand")}),
        ("evidence", {"method": "dl", "by": "country"}, {"method": "DL", "by": "country"}),
        # ranges: "lo-hi" or one year
        ("overview", {"years": "1990-2010"}, {"years": (1990, 2010)}),
        ("overview", {"years": "2001"}, {"years": (2001, 2001)}),
        ("overview", {"undated": "no", "minn": "50"}, {"undated": False, "minn": 50}),
        ("burden", {"loc": ["deu", "europe", "WORLD"], "year": "2050"},
         {"loc": ("World", "Europe", "DEU"), "year": 2050}),
        ("burden", {"xvegan": "2", "scov": "0.5", "seff": "0.25", "sgrp": "vegan"},
         {"xvegan": 2.0, "scov": 0.5, "seff": 0.25, "sgrp": "vegan"}),
        ("your_data", {"fp": "0123456789AB", "bands": "0-17, 18-64, 65+", "unit": "PG/ML"},
         {"fp": "0123456789ab", "bands": "0-17,18-64,65+", "unit": "pg/mL"}),
        ("your_data", {"marker": "THCY", "op": "gt", "cut": "15"},
         {"marker": "tHcy", "op": "gt", "cut": 15.0}),
        # an explicitly empty multi value means all (not the default)
        ("your_data", {"grp": ""}, {"grp": ()}),
        ("cutoffs", {"defs": "b12_lt221,b12_lt148"}, {"defs": ("b12_lt148", "b12_lt221")}),
    ],
)
def test_from_query_values(page, query, expected):
    s, notices = state.from_query(page, query)
    assert notices == []
    for name, value in expected.items():
        assert s[name] == value


@pytest.mark.parametrize(
    ("page", "query", "name", "value", "notice"),
    [
        ("explore", {"age": "150-200"}, "age", (),
         "Ignored age=150-200 (not an age band: allowed 0-19, 20-39, 40-59, 60-79, 80+, wide, "
         "unknown); using the default (none)"),
        # the bad item is dropped, the good one kept
        ("explore", {"age": ["150-200", "0-19"]}, "age", ("0-19",),
         "Ignored age=150-200 (not an age band: allowed 0-19, 20-39, 40-59, 60-79, 80+, wide, "
         "unknown)"),
        ("explore", {"view": "pie"}, "view", "bars",
         "Ignored view=pie (not a chart view: allowed bars, heatmap, dots); using the default "
         "(bars)"),
        ("explore", {"def": "b12_lt999"}, "def", schema.DEFAULT_DEFINITION,
         "Ignored def=b12_lt999 (not a definition id: allowed b12_lt148, b12_lt118, b12_lt185, "
         "b12_lt221, b12_lt258, b12_148_221, b12_148_258, holotc_lt35, mma_gt026, mma_gt037, "
         "combined_lt148, cb12_lt_neg05); using the default (b12_lt148)"),
        ("explore", {"country": "XXX"}, "country", (),
         "Ignored country=XXX (not an ISO 3166-1 alpha-3 country code); using the default "
         "(none)"),
        ("explore", {"years": "2010-1990"}, "years", (1980, 2030),
         "Ignored years=2010-1990 (not a year range lo-hi within 1980-2030); using the default "
         "(1980-2030)"),
        ("explore", {"years": "1800-1900"}, "years", (1980, 2030),
         "Ignored years=1800-1900 (not a year range lo-hi within 1980-2030); using the default "
         "(1980-2030)"),
        ("explore", {"minn": "-1"}, "minn", 0,
         "Ignored minn=-1 (not a count within 0-10000000); using the default (0)"),
        ("explore", {"minn": "ten"}, "minn", 0,
         "Ignored minn=ten (not a count within 0-10000000); using the default (0)"),
        ("explore", {"undated": "maybe"}, "undated", True,
         "Ignored undated=maybe (not a yes/no value); using the default (1)"),
        ("explore", {"status": ""}, "status", "deficient",
         "Ignored status= (empty); using the default (deficient)"),
        ("explore", {"status": ["marginal", "deficient"]}, "status", "marginal",
         "Ignored extra values of status (deficient): it takes one value"),
        ("burden", {"year": "2100"}, "year", 2025,
         "Ignored year=2100 (not a year within 1990-2050); using the default (2025)"),
        ("burden", {"xvegan": "nan"}, "xvegan", 1.0,
         "Ignored xvegan=nan (not a multiplier within 0-10); using the default (1)"),
        ("burden", {"scov": "1.5"}, "scov", 0.0,
         "Ignored scov=1.5 (not a share within 0-1); using the default (0)"),
        ("burden", {"loc": ""}, "loc", ("World",),
         "Ignored loc (at least one value is needed); using the default (World)"),
        ("burden", {"loc": "Atlantis"}, "loc", ("World",),
         "Ignored loc=Atlantis (not a location (World, a WPP region name or an ISO3 code))"),
        ("your_data", {"fp": "xyz"}, "fp", "",
         "Ignored fp=xyz (not a file fingerprint); using the default (none)"),
        ("your_data", {"bands": "0-19,30-39"}, "bands", state.DEFAULT_AGE_SPEC,
         "Ignored bands=0-19,30-39 (not an age band list); using the default "
         "(0-19,20-39,40-59,60-79,80+)"),
        ("your_data", {"grp": "weight"}, "grp", ("age_band", "diet_group"),
         "Ignored grp=weight (not a grouping column: allowed age_band, diet_group, sex); "
         "using the default (age_band, diet_group)"),
    ],
)
def test_invalid_values_fall_back_with_a_notice(page, query, name, value, notice):
    s, notices = state.from_query(page, query)
    assert s[name] == value
    assert notice in notices


@pytest.mark.parametrize(
    ("page", "query", "notice"),
    [
        ("explore", {"foo": "1"}, "Ignored parameter 'foo' (unknown)"),
        ("explore", {"year": "2030"}, "Ignored parameter 'year' (not used on this page)"),
        ("methods", {"def": "b12_lt118"}, "Ignored parameter 'def' (not used on this page)"),
        ("explore", {"v": "2"},
         "Ignored v=2 (this version of the dashboard reads links of version 1)"),
        ("explore", {"def": "b12_lt118", "definition": "b12_lt185"},
         "Ignored parameter 'definition' (old name of 'def', also given)"),
    ],
)
def test_unknown_keys_are_ignored_with_a_notice(page, query, notice):
    s, notices = state.from_query(page, query)
    assert notices == [notice]
    assert s == state.from_query(page, {k: v for k, v in query.items()
                                        if k in ("def",)})[0]


def test_garbage_never_raises():
    garbage = {"def": "\x00'; DROP", "age": ["", ",,,", "🙂"], "years": "x-y", "minn": "1e999",
               "": "", "view": ["a" * 5000], "v": ["1", "1"], "country": None}
    for page in schema.PAGES:
        s, notices = state.from_query(page, garbage)
        assert isinstance(s, state.State)
        assert notices


def test_streamlit_keys_are_not_reported():
    assert state.from_query("overview", {"embed": "true", "embed_options": "dark_theme"})[1] == []


@pytest.mark.parametrize(
    ("alias", "name", "raw", "value"),
    [
        ("definition", "def", "b12_lt118", "b12_lt118"),
        ("iso3", "country", "FRA", ("FRA",)),
        ("countries", "country", "FRA", ("FRA",)),
        ("age_band", "age", "0-19", ("0-19",)),
        ("diet_group", "diet", "vegan", ("vegan",)),
        ("min_n", "minn", "30", 30),
        ("year_range", "years", "1990-2000", (1990, 2000)),
        ("supplement_users", "supp", "excluded", ("excluded",)),
    ],
)
def test_old_names_still_work(alias, name, raw, value):
    s, notices = state.from_query("explore", {alias: raw})
    assert notices == []
    assert s[name] == value
    assert state.to_query(s) == {name: state._encode(state.PARAMS[name], value)}


def test_choices_add_generated_definition_ids():
    query = {"def": "b12_lt126"}
    s, notices = state.from_query("explore", query)
    assert s["def"] == schema.DEFAULT_DEFINITION
    assert notices
    s, notices = state.from_query("explore", query, choices={"def": ["b12_lt126"]})
    assert (s["def"], notices) == ("b12_lt126", [])
    assert state.from_query("explore", state.to_query(s), {"def": ["b12_lt126"]})[0] == s


def test_replace_validates():
    s = state.default_state("explore").replace(view="dots", age=["80+", "0-19"])
    assert (s["view"], s["age"]) == ("dots", ("0-19", "80+"))
    with pytest.raises(ValueError, match="view=pie"):
        s.replace(view="pie")
    with pytest.raises(ValueError, match="no parameter 'year'"):
        s.replace(year=2020)


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("0-19,20-39,40+", None),
        ("0-120", None),
        ("5-19", "should start at 0"),
        ("0-19,40-59", "should start at 20"),
        ("0-19,20+,40-59", "must be the last"),
        ("0-19,39-20", "should start at 20"),
        ("0-19,20-10", "ends before it starts"),
        ("0-200", "ends after 120"),
        ("zero-19", "not of the form"),
    ],
)
def test_parse_age_spec(spec, error):
    if error is None:
        assert ",".join(b[0] for b in state.parse_age_spec(spec)) == spec
    else:
        with pytest.raises(ValueError, match=error):
            state.parse_age_spec(spec)


# --- links -------------------------------------------------------------------------------------


def test_share_url_has_page_path_every_parameter_and_version():
    s, _ = state.from_query("explore", {"view": "dots", "country": ["FRA", "DEU"]})
    url = state.share_url(s, "https://atlas.example.org/app/")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "atlas.example.org",
                                                        "/app/explore")
    query = parse_qs(parts.query, keep_blank_values=True)
    assert set(query) == {p.name for p in state.PAGE_PARAMS["explore"]} | {"v"}
    assert query["country"] == ["DEU", "FRA"]
    assert query["v"] == ["1"]
    assert state.share_url(state.default_state("overview")).startswith("http://localhost:8501/?")


def test_carry_query_passes_only_shared_non_default_filters():
    s, _ = state.from_query("explore", {"view": "dots", "diet": "vegan", "minn": "20"})
    assert state.carry_query(s, "evidence") == {"diet": ["vegan"], "minn": ["20"]}
    assert state.carry_query(s, "methods") == {}
    target, notices = state.from_query("evidence", state.carry_query(s, "evidence"))
    assert notices == []
    assert target["diet"] == ("vegan",)


def test_filter_kwargs_maps_state_to_filter_arguments():
    s, _ = state.from_query("explore", {"sex": "female", "years": "1990-2000", "undated": "0"})
    kwargs = state.filter_kwargs(s)
    assert kwargs == {
        "definition": "b12_lt148", "status": "deficient", "sexes": ["female"],
        "age_bands": None, "diet_groups": None, "countries": None, "regions": None,
        "year_range": (1990, 2000), "supplement_users": None, "min_n": 0,
        "include_unknown_years": False,
    }
    assert state.filter_kwargs(state.default_state("overview"))["year_range"] is None
    # Dropping undated rows works at the full span too: it needs the (full) range.
    s, _ = state.from_query("explore", {"undated": "0"})
    assert state.filter_kwargs(s)["year_range"] == (1980, 2030)



# A page of per-person values: markers with a measured value and their units (ingest's).
_MEASURED = {"serum_b12": ("pmol/L", "pg/mL", "ng/L", "nmol/L"), "holotc": ("pmol/L", "pg/mL"),
             "mma": ("umol/L", "nmol/L")}


@pytest.mark.parametrize(
    ("marker", "unit", "expected", "notices"),
    [
        ("mma", "nmol/L", ("mma", "nmol/L"), []),
        ("holotc", "pg/mL", ("holotc", "pg/mL"), []),
        # tHcy is a biomarker the registry admits, but not one with a value per person.
        ("tHcy", "pmol/L", ("serum_b12", "pmol/L"),
         ["Ignored marker=tHcy (a value per person exists only for serum_b12, holotc, mma); "
          "using serum_b12."]),
        # ng/L is a unit of serum B12 here but not one the unit parameter admits.
        ("serum_b12", "ng/L", ("serum_b12", "pmol/L"),
         ["Ignored unit=ng/L (not a unit of serum_b12); using pmol/L."]),
        ("mma", "pmol/L", ("mma", "umol/L"),
         ["Ignored unit=pmol/L (not a unit of mma); using umol/L."]),
        # Both replaced: the unit is checked against the fallback marker.
        ("combined", "cB12 score", ("serum_b12", "pmol/L"),
         ["Ignored marker=combined (a value per person exists only for serum_b12, holotc, mma); "
          "using serum_b12.", "Ignored unit=cB12 score (not a unit of serum_b12); using pmol/L."]),
        (None, None, ("serum_b12", "pmol/L"),
         ["Ignored marker=None (a value per person exists only for serum_b12, holotc, mma); "
          "using serum_b12.", "Ignored unit=None (not a unit of serum_b12); using pmol/L."]),
    ],
)
def test_measured_marker_replaces_what_has_no_value_per_person(marker, unit, expected, notices):
    assert state.measured_marker(marker, unit, _MEASURED) == (*expected, notices)


def test_marker_units_keeps_the_admitted_units_in_order():
    assert state.marker_units("serum_b12", _MEASURED) == ["pmol/L", "pg/mL", "nmol/L"]
    assert state.marker_units("mma", _MEASURED) == ["umol/L", "nmol/L"]


# --- Streamlit glue (AppTest) ------------------------------------------------------------------

_SCRIPT = """
import streamlit as st
from dashboard import schema, state as ui_state

page = st.session_state.get("_test_page", "explore")
s = ui_state.read(page)
if page == "explore":
    st.selectbox("Definition", [d.id for d in schema.DEFINITIONS], key="def")
    st.multiselect("Age", list(schema.STUDY_AGE_BANDS), key="age")
    st.slider("Years", 1980, 2030, key="years")
    st.number_input("Minimum n", min_value=0, key="minn")
    st.radio("View", ["bars", "heatmap", "dots"], key="view")
else:
    st.slider("Year", 1990, 2050, key="year")
s = ui_state.write(s)
ui_state.render_share(s)
st.write(f"state:{s['def'] if 'def' in s else ''}")
"""


@pytest.fixture
def app(tmp_path: Path):
    from streamlit.testing.v1 import AppTest

    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    return AppTest.from_file(str(script), default_timeout=30)


def _code_text(at) -> str:
    return "\n".join(c.value for c in at.code)


def test_apptest_widgets_show_the_url(app):
    app.query_params["def"] = "b12_lt118"
    app.query_params["age"] = ["0-19", "80+"]
    app.query_params["years"] = "1990-2010"
    app.query_params["view"] = "dots"
    app.run()
    assert not app.exception
    assert app.selectbox(key="def").value == "b12_lt118"
    assert app.multiselect(key="age").value == ["0-19", "80+"]
    assert app.slider(key="years").value == (1990, 2010)
    assert app.radio(key="view").value == "dots"
    assert not app.info
    assert "explore?def=b12_lt118" in _code_text(app)
    assert "&v=1" in _code_text(app)


def test_apptest_widget_change_follows_into_url(app):
    app.run()
    assert app.query_params == {}
    app.selectbox(key="def").set_value("b12_lt185").run()
    app.radio(key="view").set_value("heatmap").run()
    assert not app.exception
    assert app.query_params == {"def": "b12_lt185", "view": "heatmap"}
    assert "def=b12_lt185" in _code_text(app)
    # and back to the default: the parameter leaves the URL
    app.selectbox(key="def").set_value(schema.DEFAULT_DEFINITION).run()
    assert app.query_params == {"view": "heatmap"}
    assert app.selectbox(key="def").value == schema.DEFAULT_DEFINITION


@pytest.mark.parametrize("stray", [2000, None, "1990"])
def test_widget_values_lost_by_a_rerun_keep_the_view(monkeypatch, stray):
    # A websocket rerun that sends no widget values (Streamlit's protocol allows it) left the
    # years slider holding one number, and _encode raised TypeError on it: the view keeps the
    # years it had, the other widgets still count.
    import streamlit

    view, _ = state.from_query("explore", {"years": ["1990-2010"], "minn": ["50"]})
    monkeypatch.setattr(streamlit, "session_state", {"years": stray, "minn": 100})
    got = state._from_widgets("explore", view, None)
    assert got["years"] == (1990, 2010)
    assert got["minn"] == 100
    assert state.to_query(got) == {"years": ["1990-2010"], "minn": ["100"]}


def test_apptest_tampered_query_shows_notices(app):
    app.query_params["foo"] = "bar"
    app.query_params["minn"] = "-5"
    app.query_params["age"] = ["0-19", "999"]
    app.run()
    assert not app.exception
    notices = [i.value for i in app.info]
    assert "Ignored parameter 'foo' (unknown)." in notices
    assert any(n.startswith("Ignored minn=-5") for n in notices)
    assert any(n.startswith("Ignored age=999") for n in notices)
    assert app.number_input(key="minn").value == 0
    assert app.multiselect(key="age").value == ["0-19"]
    # the URL is rewritten to what is shown
    assert app.query_params == {"age": "0-19"}


def test_apptest_shared_filters_survive_a_move_without_parameters(app):
    app.query_params["def"] = "b12_lt221"
    app.query_params["view"] = "dots"
    app.run()
    # another page, opened with no parameters (sidebar navigation)
    app.session_state["_test_page"] = "burden"
    app.query_params.clear()
    app.run()
    assert not app.exception
    assert app.slider(key="year").value == 2025
    assert "state:b12_lt221" in [m.value for m in app.markdown]
    assert app.query_params == {"def": "b12_lt221"}
    # back again: explore keeps its own view too
    app.session_state["_test_page"] = "explore"
    app.query_params.clear()
    app.run()
    assert app.selectbox(key="def").value == "b12_lt221"
    assert app.radio(key="view").value == "dots"


# --- bounded notices -----------------------------------------------------------------------


def test_a_flood_of_refused_values_gives_one_notice_per_parameter():
    # Under the length limit, hundreds of refused list items and unknown keys.
    query = {"diet": [f"x{i}" for i in range(300)], "method": "[a](b)"}
    query.update({f"k{i}": "1" for i in range(200)})
    _, notices = state.from_query("evidence", query)
    assert notices == [
        "Ignored parameters 'k0', 'k1', 'k2' and 197 more (unknown)",
        "Ignored diet=x0, x1, x2 and 297 more (not a diet group: allowed omnivore, "
        "semi_vegetarian, pescatarian, vegetarian, vegan, general); using the default (none)",
        "Ignored method=[a](b) (not a tau2 estimator: allowed REML, DL); using the default "
        "(REML)",
    ]


def test_extra_values_of_a_single_parameter_are_capped():
    _, notices = state.from_query("explore", {"view": ["bars", *[f"v{i}" for i in range(50)]]})
    assert notices == ["Ignored extra values of view (v0, v1, v2 and 47 more): it takes one value"]


def test_a_query_over_the_limit_is_refused_as_a_whole():
    query = {"diet": ",".join(["vegan"] * 25_000)}  # 150,005 characters
    view, notices = state.from_query("explore", query)
    assert view == state.default_state("explore")
    assert notices == ["Ignored the whole link after '?' (150,005 characters, over the limit "
                       "of 8,000); using the defaults"]


def test_the_longest_share_link_is_under_the_limit():
    countries = tuple(c.alpha_3 for c in state.pycountry.countries)
    view = state.default_state("burden").replace(loc=countries)
    assert state.query_length(state.to_query(view, include_defaults=True)) < state.MAX_QUERY_CHARS


@pytest.mark.parametrize(
    ("filters", "query"),
    [
        ({}, {}),
        ({"country": ["GBR"], "sex": ["female"], "diet": ["vegan"], "age": ["20-39"]},
         {"place": ["GBR"], "ages": ["20-39"], "psex": ["female"], "pdiet": ["vegan"]}),
        # first usable value of each (countries in code order); the bands span the lowest
        # band's start to the highest band's end (80+: to 100)
        ({"country": ["MULTI", "IND", "FRA"], "age": ["0-19", "80+", "wide"],
          "diet": ["semi_vegetarian", "vegetarian"], "supp": ["unknown", "excluded"]},
         {"place": ["FRA"], "ages": ["0-100"], "pdiet": ["vegetarian"], "psupp": ["excluded"]}),
        ({"diet": ["general"], "sex": ["both"]}, {"pdiet": ["general"]}),
    ],
)
def test_profile_query_names_the_filtered_segment(filters, query):
    view, notices = state.from_query("overview", filters)
    assert notices == []
    assert state.profile_query(view) == query
