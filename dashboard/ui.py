"""Shared Streamlit widgets and the cached wrappers around dashboard.data."""

from __future__ import annotations

import html
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import (
    aggregate,
    burden,
    charts,
    citation,
    data,
    evidence,
    model,
    profile,
    schema,
    state,
    tables,
    validation,
)
from dashboard.data import DataError
from dashboard.format import FORMULA_START as FORMULA_START
from dashboard.format import markdown_literal, table_bytes
from dashboard.format import neutralize_formulas as neutralize_formulas
from dashboard.schema import DATASETS

# Loaded once per process and shared by every session (cache_resource: no per-call copy of
# the 19 MB population frame). The frames are read-only by contract: every core function
# returns new frames and never mutates its input. The loaders verify them against the
# manifest. A rebuild changes the manifest's checksums, which are part of the cache key, so
# the next run picks up the new files.


def current_build() -> str:
    """The id of the current build (data.build_id; empty if the manifest is unreadable), the
    key of every cache of the bundled data (data.current_build_id: the manifest is read
    again when it changes)."""
    return data.current_build_id()


@st.cache_resource(show_spinner=False, max_entries=len(DATASETS) * 2)
def _load(name: str, key: str) -> pd.DataFrame:
    del key
    return data.load_dataset(name)


def load_studies() -> pd.DataFrame:
    """Published prevalence estimates (cached)."""
    return _load("studies", current_build())


def load_population() -> pd.DataFrame:
    """UN WPP 2022 population by location, year and age band (cached)."""
    return _load("population", current_build())


def load_standard_populations() -> pd.DataFrame:
    """Standard populations with weight shares (cached)."""
    return _load("standard_populations", current_build())


def load_diet_shares() -> pd.DataFrame:
    """Survey shares of diet groups by country and year (cached)."""
    return _load("diet_shares", current_build())


def load_countries() -> pd.DataFrame:
    """WPP countries with region and World Bank income group (cached)."""
    return _load("countries", current_build())


@st.cache_resource(show_spinner=False, max_entries=16)
def _model(build: str, definition: str) -> model.Model:
    del build
    return tables.fit_model({"studies": load_studies(), "countries": load_countries(),
                             "diet_shares": load_diet_shares()}, definition)


def load_model(definition: str = schema.DEFAULT_DEFINITION) -> model.Model:
    """The prevalence model fitted on the bundled evidence, once per process and data build
    (shared read-only by every session). Serum B12 definitions share one crosswalk fit
    (tables.model_definition)."""
    return _model(current_build(), tables.model_definition(definition))


@st.cache_data(show_spinner=False, max_entries=128)
def _profile(build: str, iso3: str, ages: tuple[int, int], sex: str, diet_group: str,
             supplement_users: str, pregnancy: str, year: int) -> profile.SegmentProfile:
    del build
    fitted = load_model()
    return profile.segment_profile(
        fitted, load_population(), fitted.shares, studies=load_studies(), iso3=iso3, age=ages,
        sex=sex, diet_group=diet_group, supplement_users=supplement_users,
        pregnancy=pregnancy, year=year)


def load_profile(iso3: str, ages: tuple[int, int], sex: str, diet_group: str,
                 supplement_users: str, pregnancy: str, year: int) -> profile.SegmentProfile:
    """The risk profile of one segment from the shared serum B12 model (``load_model``; its
    diet shares are the diet share model of every country), once per segment and data build
    (and one copy per process: st.cache_data hands out a new one on every call)."""
    args = (iso3, tuple(ages), sex, diet_group, supplement_users, pregnancy, int(year))
    try:
        studies = load_studies()
    except DataError:
        return _profile(current_build(), *args)
    return per_view("profile", studies, lambda: _profile(current_build(), *args), args)


def load_model_validation() -> pd.DataFrame:
    """Held-out predictions of the model and of the old cell pooling, as the build wrote
    them (the refits take seconds; cached)."""
    return _load("model_validation", current_build())


@st.cache_resource(show_spinner=False, max_entries=4)
def _in_sample_surveys(build: str, definition: str) -> pd.DataFrame:
    del build
    return validation.in_sample_surveys(load_model(definition), load_studies())


def model_in_sample_surveys(definition: str = schema.DEFAULT_DEFINITION) -> pd.DataFrame:
    """Each national survey's published figure beside the fitted model's prediction
    (validation.in_sample_surveys), once per process and data build."""
    return _in_sample_surveys(current_build(), definition)


@st.cache_data(show_spinner=False, max_entries=4)
def _population_weights(build: str) -> pd.DataFrame:
    del build
    return aggregate.population_weights(load_population(), load_countries()["iso3"].tolist())


@st.cache_data(show_spinner="Asking the model for this view...", max_entries=64)
def _modelled(build: str, definition: str, countries: tuple[str, ...], regions: tuple[str, ...],
              sexes: tuple[str, ...], supp: tuple[str, ...], diets: tuple[str, ...],
              cutoffs: tuple[float, ...]) -> aggregate.ModelledCells | str:
    return tables.modelled_cells(load_model, load_countries(), _population_weights(build),
                                 definition, countries, regions, sexes, supp, diets, cutoffs)


def load_modelled(view: state.State, *, diets: Sequence[str] = (),
                  cutoffs: Sequence[float] = ()) -> aggregate.ModelledCells | str:
    """The model's estimates of every age band x diet cell (``diets``: these only; with
    ``cutoffs``: at each of those cut-offs) for the population of the view's places, sex and
    supplement use (``aggregate.model_population``), cached per data build and view; or,
    when there is nothing to model, the reason in words."""
    values = view.as_dict()
    args = (values.get("def", schema.DEFAULT_DEFINITION), tuple(values.get("country", ())),
            tuple(values.get("region", ())), tuple(values.get("sex", ())),
            tuple(values.get("supp", ())), tuple(diets), tuple(float(c) for c in cutoffs))
    # st.cache_data hands out a copy on every call; per_view shares one per process.
    try:
        studies = load_studies()
    except DataError:
        return _modelled(current_build(), *args)
    return per_view("modelled", studies, lambda: _modelled(current_build(), *args), args)


@st.cache_data(show_spinner=False, max_entries=64)
def _pooled_by_cutoff(build: str, filters: tuple[tuple[str, Any], ...]) -> pd.DataFrame:
    del build
    kwargs = {k: list(v) if isinstance(v, tuple) and k != "year_range" else v
              for k, v in filters}
    return aggregate.pool_by_cutoff(aggregate.filter_studies(load_studies(), **kwargs))


def pooled_by_cutoff(view: state.State) -> pd.DataFrame:
    """``aggregate.pool_by_cutoff`` of the studies the view's population filters keep (every
    definition and status), cached per data build and filters: pooling every cut-off's
    groups costs more than a page may spend on each run."""
    kwargs = state.filter_kwargs(view) | {"definition": None, "status": None}
    frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                          for k, v in kwargs.items()))
    return _pooled_by_cutoff(current_build(), frozen)


# Per-process memo of what a page derives from the bundled data for one view (filtered rows,
# pools, tables, figures): every session that opens the same view, and every rerun of it,
# reuses them. Keyed by the data build, a name and the view (State is hashable), bounded, and
# shared read-only like the cache_resource loaders. Never an upload's: only for values that
# depend on nothing but the bundled data and the key.
_VIEW_MEMO_SIZE = 512
_view_memo: OrderedDict[tuple, Any] = OrderedDict()
_view_memo_lock = threading.Lock()


def per_view(name: str, studies: pd.DataFrame, compute: Callable[[], Any], *key: Hashable
             ) -> Any:
    """``compute()``, once per process for ``name``, the data build, the bundled ``studies``
    frame it reads and ``key`` (the view, and anything else the value depends on). Treat the
    value as read-only. For any other frame (an upload) it is computed on every call."""
    if not _bundled(studies):
        return compute()
    # The frame's identity too (its entry holds it, so the identity stays its own): a loader
    # that returns another frame under the same build is not served this one's values.
    full = (current_build(), id(studies), name, *key)
    with _view_memo_lock:
        if full in _view_memo:
            _view_memo.move_to_end(full)
            return _view_memo[full][1]
    value = compute()
    with _view_memo_lock:
        _view_memo[full] = (studies, value)
        while len(_view_memo) > _VIEW_MEMO_SIZE:
            _view_memo.popitem(last=False)
    return value


_BUNDLED: dict[str, pd.DataFrame] = {}  # build id -> the studies frame loaded for it


def _bundled(studies: pd.DataFrame) -> bool:
    """Whether ``studies`` is the bundled studies frame of the current build (not an upload
    or a test's own); asked many times a run, so the frame is remembered per build."""
    build = current_build()
    known = _BUNDLED.get(build)
    if known is None:
        try:
            known = load_studies()
        except DataError:
            return False
        _BUNDLED.clear()
        _BUNDLED[build] = known
    return studies is known


def filter_rows(studies: pd.DataFrame, view: state.State) -> pd.DataFrame:
    """tables.filter_rows, once per process and view (per_view)."""
    return per_view("filter_rows", studies, lambda: tables.filter_rows(studies, view), view)


def estimate_rows(studies: pd.DataFrame, view: state.State) -> pd.DataFrame:
    """tables.estimate_rows, once per process and view (per_view)."""
    return per_view("estimate_rows", studies, lambda: tables.estimate_rows(studies, view), view)


def load_manifest() -> dict:
    """The build manifest (small; read on every call so that a rebuild is seen at once)."""
    return data.load_manifest()


def loaded_or_stop(*loaders: Callable[[], Any]) -> tuple[Any, ...]:
    """What each loader returns; on a dataset problem, the message with its fix and the page
    stops (the opening of every page that reads the bundled data)."""
    try:
        return tuple(load() for load in loaders)
    except DataError as err:
        render_data_error(err)
        st.stop()


def studies_or_stop() -> pd.DataFrame:
    """The published estimates, or the page stops with the data problem (``loaded_or_stop``)."""
    return loaded_or_stop(load_studies)[0]


def render_data_error(err: DataError) -> None:
    """Show a dataset problem as a message with its fix, not a traceback."""
    st.error(
        f"**The data could not be loaded.** {literal(data.project_path(err.path))}: "
        f"{literal(err.problem)}.\n\nTo fix it, {err.fix}.",
        icon=":material/database:",
    )


# Below this width (px) the narrow form of a chart and the phone's page menu show instead of
# the wide chart and the top navigation; Streamlit stacks st.columns below the same width.
NARROW_SCREEN = 640


def render_data_state() -> None:
    """Above every page: a warning when a source changed after the datasets were built
    (data.stale_inputs), naming the changed files. A manifest problem is left to the page's
    loader, which names it."""
    try:
        changed = data.stale_inputs(data.load_manifest())
    except DataError:
        return
    if changed:
        st.warning(
            f"**{data.STALE[0].upper()}{data.STALE[1:]}.** Changed since the last build: "
            f"{literal(', '.join(changed))}. The pages show the datasets as last built.",
            icon=":material/update:",
        )


# On a screen narrower than NARROW_SCREEN Streamlit moves the top navigation into the sidebar,
# above the page's filters; there it is hidden, and a "Pages" menu at the top of the page
# takes its place, so the sidebar opens on the filters. Wider screens keep the top bar.
_PHONE_NAVIGATION_CSS = """<style>
@media (max-width: %(edge)dpx) { [data-testid="stSidebarNav"],
  [data-testid="stSidebarNavSeparator"] { display: none; } }
@media (min-width: %(over)dpx) { .st-key-phone-navigation { display: none; } }
</style>"""


def render_phone_navigation(current: str | None = None) -> None:
    """The pages of schema.PAGES, by group, in a "Pages" menu shown on narrow screens only
    (see _PHONE_NAVIGATION_CSS); ``current`` is the title of the page being shown."""
    st.html(_PHONE_NAVIGATION_CSS % {"edge": NARROW_SCREEN, "over": NARROW_SCREEN + 1})
    with st.container(key="phone-navigation"), st.popover(
            "Pages" if not current else f"Pages: {current}", icon=":material/menu:"):
        groups: dict[str, list[schema.Page]] = {}
        for page in schema.PAGES.values():
            groups.setdefault(page.group, []).append(page)
        for group, pages in groups.items():
            st.markdown(f"**{group}**")
            for page in pages:
                st.page_link(page.file, label=page.title, icon=page.icon)


def literal(text: object) -> str:
    """Text from a link, a file or a label, made safe to pass to any Streamlit element that
    renders Markdown (alerts, captions, status and widget labels, help): shown as typed,
    never as a link, image, HTML or formatting (format.markdown_literal)."""
    return markdown_literal(text)


# --- shared page widgets -----------------------------------------------------------------------
# Filter widgets use the URL parameter's name as key and pass no value of their own:
# state.read() seeds st.session_state from the link, so the link decides what they show.

FILTER_NAMES: tuple[str, ...] = (
    "def", "status", "sex", "age", "diet", "country", "region", "years", "undated", "supp", "minn",
)


def filter_choices(studies: pd.DataFrame) -> dict[str, list[str]]:
    """Values the data adds to the URL vocabulary (tables.filter_choices, shared with the
    data API); once per process for the bundled studies."""
    choices = per_view("filter_choices", studies, lambda: tables.filter_choices(studies))
    return {name: list(values) for name, values in choices.items()}


def definition_statuses(studies: pd.DataFrame) -> dict[str, list[str]]:
    """The statuses each definition reports in the data, in schema.STATUSES order.

    A definition fixes what its cut-off means: a 148-221 pmol/L band is "marginal", a
    < 148 pmol/L cut-off "deficient"; other pairs select nothing. Once per process for the
    bundled studies."""
    return per_view("definition_statuses", studies, lambda: _definition_statuses(studies))


def _definition_statuses(studies: pd.DataFrame) -> dict[str, list[str]]:
    pairs = studies[["definition", "status"]].dropna().astype(str).drop_duplicates()
    rank = {s: i for i, s in enumerate(schema.STATUSES)}
    return {d: sorted(group["status"], key=lambda s: rank.get(s, len(rank)))
            for d, group in pairs.groupby("definition", sort=False)}


def definition_counts(studies: pd.DataFrame, view: state.State) -> dict[str, int]:
    """Studies (publications) per definition under the view's other filters, any status
    (once per process and view for the bundled studies)."""
    return per_view("definition_counts", studies, lambda: _definition_counts(studies, view),
                    view)


def _definition_counts(studies: pd.DataFrame, view: state.State) -> dict[str, int]:
    kwargs = {**state.filter_kwargs(view), "definition": None, "status": None}
    rows = aggregate.filter_studies(studies, **kwargs)
    return rows.groupby("definition")["study_id"].nunique().astype(int).to_dict()


def _follow_definition(studies: pd.DataFrame, view: state.State) -> list[str]:
    """The statuses the chosen definition allows; a status it does not report (from a link,
    or left over from the previous definition) is replaced by its first, with a notice."""
    definition = st.session_state.get("def", view["def"])
    allowed = definition_statuses(studies).get(definition) or list(schema.STATUSES)
    current = st.session_state.get("status", view["status"])
    if current not in allowed:
        st.session_state["status"] = allowed[0]
        st.info(
            f"{aggregate.definition_label(definition)} is reported only as "
            f"{', '.join(schema.STATUS_LABELS[s].lower() for s in allowed)}: status set to "
            f"{schema.STATUS_LABELS[allowed[0]].lower()} (was "
            f"{schema.STATUS_LABELS.get(current, literal(current)).lower()}).",
            icon=":material/sync_alt:",
        )
    return allowed


def _definition_option(counts: Mapping[str, int]) -> Callable[[str], str]:
    def label(definition: str) -> str:
        k = counts.get(definition, 0)
        return f"{aggregate.definition_label(definition)} ({k} stud{'y' if k == 1 else 'ies'})"
    return label


def _with_current(options: Sequence[str], current: Any) -> list[str]:
    """Options plus any value of the current state they lack (a link may name one)."""
    chosen = [current] if isinstance(current, str) else list(current or ())
    return [*options, *(v for v in chosen if v not in options)]


def _country_names(studies: pd.DataFrame) -> dict[str, str]:
    return per_view("country_names", studies, lambda: _study_country_names(studies))


def _study_country_names(studies: pd.DataFrame) -> dict[str, str]:
    names = studies[["country_iso3", "country_name"]].dropna().drop_duplicates("country_iso3")
    return dict(zip(names["country_iso3"].astype(str), names["country_name"].astype(str),
                    strict=True))


def render_filters(
    page: str, studies: pd.DataFrame, view: state.State, names: Sequence[str] = FILTER_NAMES
) -> None:
    """The evidence filters in the sidebar (keys = URL parameter names; options from the data).

    ``names`` picks a subset of the shared filters (all by default). Call ``state.write``
    after every widget of the page has been drawn.
    """
    unknown = [n for n in names if n not in FILTER_NAMES]
    if unknown:
        raise ValueError(f"unknown filter(s) {', '.join(unknown)}: filters are "
                         f"{', '.join(FILTER_NAMES)}")
    p = state.PARAMS
    choices = filter_choices(studies)
    countries = _country_names(studies)
    country_options = sorted(countries, key=lambda c: countries[c])
    with st.sidebar:
        st.header("Filters")
        allowed = _follow_definition(studies, view) if "status" in names else []
        if "def" in names:
            counts = definition_counts(studies, view)
            chosen = st.selectbox(
                p["def"].label, _with_current(choices["def"], view["def"]), key="def",
                format_func=_definition_option(counts),
                help="Biomarker and cut-off; in brackets, the studies reporting it under the "
                "other filters. Only studies using this cut-off are shown and pooled together.")
            # The box cuts long labels: the chosen one in full, with its count, below it.
            st.caption(_definition_option(counts)(chosen))
        if "status" in names:
            st.selectbox(p["status"].label, allowed, key="status",
                         format_func=schema.STATUS_LABELS.get,
                         help="Only the statuses the chosen definition reports.")
        if "sex" in names:
            st.multiselect(p["sex"].label, list(schema.SEXES), key="sex",
                           placeholder="All", help="'both': estimates for women and men together.")
        if "age" in names:
            st.multiselect(p["age"].label, list(schema.STUDY_AGE_BANDS), key="age",
                           placeholder="All")
        if "diet" in names:
            st.multiselect(p["diet"].label, list(schema.STUDY_DIET_GROUPS), key="diet",
                           format_func=schema.DIET_LABELS.get, placeholder="All")
        if "country" in names:
            st.multiselect(p["country"].label, _with_current(country_options, view["country"]),
                           key="country", placeholder="All",
                           format_func=lambda c: f"{countries.get(c, c)} ({c})")
        if "region" in names:
            st.multiselect(p["region"].label, _with_current(choices["region"], view["region"]),
                           key="region", placeholder="All",
                           help="UN region or subregion of the study population.")
        if "years" in names:
            st.slider(p["years"].label, int(p["years"].lo), int(p["years"].hi), key="years",
                      help="Keeps rows whose data collection overlaps these years.")
        if "undated" in names:
            st.toggle(p["undated"].label, key="undated",
                      help="Most publications do not report when their data were collected.")
        if "supp" in names:
            st.multiselect(p["supp"].label, list(schema.SUPPLEMENT_USE), key="supp",
                           placeholder="All",
                           help="Whether supplement users were included in the sample.")
        if "minn" in names:
            st.number_input(p["minn"].label, min_value=0, max_value=int(p["minn"].hi), step=10,
                            key="minn", help="Rows with fewer people (or no reported n) are "
                            "left out.")


def describe_population(view: state.State) -> str:
    """The narrowing filters of a view in words ("all study populations" when none)."""
    values = view.as_dict()
    parts = []
    for name in FILTER_NAMES[2:]:
        param = state.PARAMS[name]
        value = values.get(name, param.default)
        if value == param.default:
            continue
        if name == "undated":
            parts.append("rows without survey years left out")
        elif name == "years":
            parts.append(f"survey years {value[0]}-{value[1]}")
        elif name == "minn":
            parts.append(f"n at least {value:,}")
        elif name == "diet":
            parts.append("diet: " + ", ".join(schema.DIET_LABELS[v].lower() for v in value))
        else:
            parts.append(f"{param.label.lower()}: {', '.join(map(str, value))}")
    return "; ".join(parts) if parts else "all study populations"


def describe_filters(view: state.State) -> str:
    """The filters of a view in words: definition and status, then the population."""
    values = view.as_dict()
    status = schema.STATUS_LABELS.get(values["status"], values["status"]).lower()
    return f"{aggregate.definition_label(values['def'])}; {status}; {describe_population(view)}"


# NCHS Data Presentation Standards for Proportions (Parker et al. 2017) flags, as sentences.
RELIABILITY_NOTES: dict[str, str] = {
    "ok": "Reliable by NCHS standards.",
    "review": "Flagged for statistical review by NCHS standards.",
    "suppress": "Too imprecise by NCHS standards, which would suppress it: read with caution.",
    "unknown": "Reliability not rated (no n or interval).",
}


@st.cache_data(show_spinner=False, max_entries=4)
def _evidence_checks(build: str) -> dict[str, Any]:
    del build
    studies = load_studies()
    return {
        "summary": evidence.summary_line(studies),
        "coverage": evidence.coverage_summary(studies),
        "depth": evidence.depth_targets(studies),
        "frames": evidence.frame_counts(studies),
        "reasons": evidence.reason_counts(studies),
        "subgroups": evidence.overlap_structure(studies),
        "shared": evidence.shared_samples(studies),
        "disagreements": evidence.count_disagreements(studies),
    }


def evidence_checks() -> dict[str, Any]:
    """The data checks of the loaded evidence table (``evidence``), once per data build."""
    return _evidence_checks(current_build())


def marked_note(marked: int, estimates: int) -> str:
    """", of which 3 are of pregnant women, clinic, care-home or diet-cohort samples" (or "")
    for a pool that mixes such estimates with general-population ones."""
    if marked <= 0:
        return ""
    which = "all" if marked == estimates else f"{marked}"
    verb = "is" if marked == 1 and which != "all" else "are"
    return (f", of which {which} {verb} of pregnant women, clinic, care-home or diet-cohort "
            "samples")


def reliability_note(flag: str) -> str:
    """An NCHS reliability flag ("ok", "review; complement unreliable", ...) as a sentence."""
    head, _, footnote = str(flag).partition("; ")
    note = RELIABILITY_NOTES.get(head, f"NCHS reliability: {head}.")
    return f"{note[:-1]} ({footnote})." if footnote else note


THIN_EVIDENCE = "thin evidence"


def render_thin_evidence(weak: Sequence[str]) -> None:
    """The "thin evidence" badge and the reasons (aggregate.assess_headline)."""
    st.badge(THIN_EVIDENCE, icon=":material/warning:", color="orange")
    st.caption("Not a headline figure: " + "; ".join(weak) + ".")


def render_headline_figure(label: str, value: str, weak: Sequence[str] = (),
                           help: str | None = None, marked: bool = True) -> None:
    """A headline figure: a metric when the evidence holds it, else (``weak`` gives the
    reasons, aggregate.assess_headline) a plain line with a "thin evidence" badge, so a
    fragile number never stands in the largest type. ``marked`` False leaves the badge out
    (figures sharing one, drawn once by render_thin_evidence)."""
    if not weak:
        st.metric(label, value, help=help)
        return
    if marked:
        st.badge(THIN_EVIDENCE, icon=":material/warning:", color="orange")
    st.markdown(f"{label}: **{value}**", help=help)
    if marked:
        st.caption("Not a headline figure: " + "; ".join(weak) + ".")


# Alternatives offered when filters leave nothing (render_empty).
MAX_ALTERNATIVES = 6
MAX_OTHER_DEFINITIONS = 3


def _region_parents(studies: pd.DataFrame) -> dict[str, str]:
    pairs = studies[["subregion", "region"]].dropna().astype(str).drop_duplicates("subregion")
    return dict(zip(pairs["subregion"], pairs["region"], strict=True))


def empty_alternatives(studies: pd.DataFrame, view: state.State
                       ) -> list[tuple[str, state.State, int]]:
    """The nearest views that are not empty: one change each, with the estimates it shows.

    Other definitions (with a status each reports; the MAX_OTHER_DEFINITIONS with most rows),
    then each narrowing filter widened: a subregion to its region, any other filter cleared.
    Returns (what changes, the new state, rows), at most MAX_ALTERNATIVES, rows > 0.
    """
    kwargs = state.filter_kwargs(view)
    choices = filter_choices(studies)

    def rows(candidate: state.State) -> int:
        return len(aggregate.filter_studies(studies, **state.filter_kwargs(candidate)))

    definitions = []
    for definition, statuses in definition_statuses(studies).items():
        for status in statuses:
            if (definition, status) == (kwargs["definition"], kwargs["status"]):
                continue
            candidate = view.replace(choices, **{"def": definition, "status": status})
            n = rows(candidate)
            if n:
                what = (f"{aggregate.definition_label(definition)}, "
                        f"{schema.STATUS_LABELS[status].lower()}")
                definitions.append((what, candidate, n))
    definitions.sort(key=lambda item: -item[2])
    widened = []
    parents = _region_parents(studies)
    values = view.as_dict()
    for name in FILTER_NAMES[2:]:
        param = state.PARAMS[name]
        if name not in values or values[name] == param.default:
            continue
        if name == "region" and any(r in parents for r in values[name]):
            wider = tuple(dict.fromkeys(parents.get(r, r) for r in values[name]))
            candidate = view.replace(choices, region=wider)
            what = f"region {', '.join(wider)} instead of {', '.join(values[name])}"
        else:
            candidate = view.replace(choices, **{name: param.default})
            what = f"any {param.label.lower()}" if param.kind == state.MULTI else (
                f"without the filter '{param.label}'")
        n = rows(candidate)
        if n:
            widened.append((what, candidate, n))
    return (widened + definitions[:MAX_OTHER_DEFINITIONS])[:MAX_ALTERNATIVES]


def other_definition_rows(studies: pd.DataFrame, view: state.State) -> int:
    """Estimates the view's filters other than definition and status select, under another
    definition or status than the view's."""
    kwargs = state.filter_kwargs(view)
    rows = aggregate.filter_studies(studies, **{**kwargs, "definition": None, "status": None})
    same = (rows["definition"] == kwargs["definition"]) & (rows["status"] == kwargs["status"])
    return int((~same).sum())


def render_empty(view: state.State) -> None:
    """Say that the filters leave nothing to show, naming them, and link the nearest views
    that are not empty (empty_alternatives) with what each would show."""
    st.warning(
        f"No published estimate matches these filters ({describe_filters(view)}). "
        "Widen or clear a filter in the sidebar, or try one of the views below.",
        icon=":material/filter_alt_off:",
    )
    studies = load_studies()
    alternatives = empty_alternatives(studies, view)
    if not alternatives:
        return
    others = other_definition_rows(studies, view)
    st.markdown("**Nearest views with estimates**" + (
        f" ({others} estimate{'s' if others != 1 else ''} match the other filters under other "
        "definitions)" if others else ""))
    st.markdown("\n".join(
        f"- [{literal(what)}: {n} estimate{'s' if n != 1 else ''}]({alternative_href(candidate)})"
        for what, candidate, n in alternatives))


def alternative_href(view: state.State) -> str:
    """A link to ``view`` relative to the page showing it: "?" and its query (defaults left
    out; "v=1" when every value is a default, so that the link still replaces the query)."""
    query = state.to_query(view) or {state.VERSION_KEY: [str(state.STATE_VERSION)]}
    return "?" + urlencode(query, doseq=True, quote_via=quote)


# --- where a view comes from: citation, source notes ---------------------------------------


def view_url(view: state.State | None = None) -> str | None:
    """The short link of a view on the deployment's public address (citation.public_url),
    else as this browser reached it; None without a view."""
    view = view or state.current()
    if view is None:
        return None
    return state.link_url(view, citation.public_url() or state.base_url(view.page))


def view_citation(view: state.State | None = None) -> citation.Citation:
    """The citation of a view: its full link on the public address, or no URL when the
    deployment sets none (never the server's own address)."""
    view = view or state.current()
    public = citation.public_url()
    url = state.share_url(view, public) if public and view is not None else None
    return citation.make_citation(current_build(), url)


def download_metadata(frame: pd.DataFrame, view: state.State | None = None) -> dict[str, Any]:
    """The sidecar ``.metadata.json`` of a download: the view, columns, rows, data build and
    the citation (the same fields as the data API's metadata)."""
    view = view or state.current()
    return {
        "page": view.page if view else None,
        "filters": state.to_query(view, include_defaults=True) if view else {},
        "columns": [{"name": str(c), "dtype": str(frame[c].dtype)} for c in frame.columns],
        "rows": len(frame),
        "data_build": current_build(),
        "citation": view_citation(view).as_dict(),
    }


def source_lines(view: state.State | None = None) -> list[str]:
    """What every chart states under its plot (charts.with_source): definition, the 95%
    interval note, "Source: B12 Risk Atlas, data build <id>, <view URL>" and the studies."""
    view = view or state.current()
    build = current_build()
    url = view_url(view) or ""
    if view is None or view.page == "your_data":
        lines = ["Intervals: 95% confidence intervals (survey design)." if view else "",
                 f"Source: your data, analysed with {citation.PROJECT}, {url}".rstrip(", ")]
        return [line for line in lines if line]
    values = view.as_dict()
    lines = []
    modelled_page = view.page in ("burden", "model", "profile")
    if view.page == "cutoffs":
        chosen = ", ".join(aggregate.definition_label(d) for d in values["defs"])
        lines.append(f"Definitions: {chosen or 'every reported definition'}.")
    elif "def" in values:
        status = schema.STATUS_LABELS.get(values["status"], values["status"]).lower()
        lines.append(f"Definition: {aggregate.definition_label(values['def'])}; {status}.")
    elif modelled_page:
        lines.append("Prevalence model: serum/plasma B12, every published cut-off "
                     "(crosswalk).")
    lines.append("Intervals: 95% uncertainty intervals of the model." if modelled_page
                 else "Intervals: 95% confidence intervals (published and pooled), 95% "
                 "intervals of the model (modelled).")
    lines.append(f"Source: {citation.PROJECT}, data build {build}, {url}")
    try:
        count = _study_count(build, view.page, repr(sorted(values.items())),
                             repr(sorted(state.filter_kwargs(view).items())), view)
    except (DataError, ValueError):
        count = 0
    lines.append(f"Studies: {count:,} publications.")
    return lines


@st.cache_data(show_spinner=False, max_entries=256)
def _study_count(build: str, page: str, values: str, filters: str, _view: state.State) -> int:
    """Publications behind a view (tables.count_studies), cached per data build, page, view
    values and the filters they make: every chart caption of every rerun states it."""
    modelled_page = page in ("burden", "model", "profile")
    fitted = (load_model(_view.as_dict().get("def", schema.DEFAULT_DEFINITION))
              if modelled_page else None)
    return tables.count_studies(load_studies(), _view, fitted)


def render_downloads(frame: pd.DataFrame, name: str) -> None:
    """CSV and Parquet download buttons holding exactly ``frame`` (built only when clicked),
    and its sidecar .metadata.json with the citation (also in the Parquet key-value
    metadata)."""
    def parquet() -> bytes:
        meta = download_metadata(frame)
        return table_bytes(frame, "parquet", {"b12_risk_atlas": json.dumps(meta),
                                              "citation": meta["citation"]["text"]})

    left, middle, right = st.columns(3)
    left.download_button(
        "Download CSV", lambda: table_bytes(frame, "csv"), file_name=f"{name}.csv",
        mime="text/csv", key=f"_download_{name}_csv", on_click="ignore",
        icon=":material/download:",
    )
    middle.download_button(
        "Download Parquet", parquet, file_name=f"{name}.parquet",
        mime="application/vnd.apache.parquet", key=f"_download_{name}_parquet",
        on_click="ignore", icon=":material/download:",
    )
    right.download_button(
        "Metadata and citation", lambda: json.dumps(download_metadata(frame), indent=2) + "\n",
        file_name=f"{name}.metadata.json", mime="application/json",
        key=f"_download_{name}_metadata", on_click="ignore", icon=":material/description:",
    )


# Sets the accessible name of a chart (role figure, aria-label) once Streamlit has mounted it:
# st.plotly_chart takes no ARIA attributes. The values are JSON with <, > and & escaped, so
# no text from a file or a link can end the script.
_NAME_CHART_JS = """<script>(function () {
  const key = %s, name = %s, count = %d;
  let tries = 0;
  function apply() {
    const found = document.querySelectorAll(".st-key-" + key + " .stPlotlyChart");
    if (found.length >= count) {
      found.forEach(function (chart) {
        chart.setAttribute("role", "figure");
        chart.setAttribute("aria-label", name);
      });
    } else if (tries++ < 100) {
      setTimeout(apply, 100);
    }
  }
  apply();
})();</script>"""


def _script_json(value: str) -> str:
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace(
        "&", "\\u0026")


def chart_name(fig: Any, caption: str) -> str:
    """A chart's accessible name: its title (without markup) and the first sentence of its
    caption, the one-sentence summary of what it shows."""
    # Plotly's own tags go (b, i, br, ...); a "<" of "B12 < 148" stays; entities are decoded.
    title = html.unescape(re.sub(r"</?(?:b|i|em|br|sup|sub|span|a)\b[^>]*>", " ",
                                 str(fig.layout.title.text or ""))).strip()
    first = re.split(r"(?<=[.!?])\s", caption.strip(), maxsplit=1)[0] if caption else ""
    first = re.sub(r"[*_`\\]", "", first)  # Markdown marks and escapes of the caption
    title = re.sub(r"\s+", " ", title)
    return f"{title}. {first}" if first else title


# Shared figures (charts.FrozenFigure, from ``figure`` or ``burden_map_figure``) with a view's
# source note, once per process: the note's copy of the figure costs more than the rest of a
# page run. Keyed by the figure's identity and the note; each entry holds its figure, so an
# identity cannot be reused by another figure while its entry lives. Never per session, and
# never an upload's figure (those are not frozen, and are annotated on each run).
_ANNOTATED_SIZE = 64
_annotated: OrderedDict[tuple[int, tuple[str, ...]], tuple[go.Figure, go.Figure]] = OrderedDict()
_annotated_lock = threading.Lock()


def with_source(fig: go.Figure, lines: Sequence[str]) -> go.Figure:
    """``charts.with_source(fig, lines)``; for a shared (frozen) figure, made once per process
    and note, and frozen itself, so that st.plotly_chart reads its dict without a copy."""
    if not isinstance(fig, charts.FrozenFigure):
        return charts.with_source(fig, lines)
    key = (id(fig), tuple(lines))
    with _annotated_lock:
        hit = _annotated.get(key)
        if hit is not None:
            _annotated.move_to_end(key)
            return hit[1]
    out = charts.freeze(charts.with_source(fig, lines))
    with _annotated_lock:
        _annotated[key] = (fig, out)
        while len(_annotated) > _ANNOTATED_SIZE:
            _annotated.popitem(last=False)
    return out


_WIDTH_SWITCH_CSS = """<style>
@media (max-width: %(edge)dpx) { .st-key-%(box)s-wide { display: none; } }
@media (min-width: %(over)dpx) { .st-key-%(box)s-narrow { display: none; } }
</style>"""


def render_figure(
    fig: Any,
    table: pd.DataFrame,
    *,
    key: str,
    caption: str,
    column_config: Mapping[str, Any] | None = None,
    narrow: Any = None,
) -> None:
    """A plotly chart with its source note (charts.with_source: definition, 95% interval,
    source, view URL and studies, so PNG and SVG downloads carry them), named for screen
    readers (chart_name: title and a one-sentence summary), its caption, the image format of
    the modebar's download, and a table of the same numbers in an expander for readers who
    cannot use the chart.

    ``narrow``: another layout of the same chart for screens narrower than NARROW_SCREEN
    (a phone); the browser shows one of the two by its width (a CSS media query), so the
    choice follows the screen, also when a phone turns.
    """
    # charts imports plotly, which only pages with a figure need.
    from dashboard import charts

    box = f"figure-{key}"
    image_format = st.session_state.get(f"_image_{key}") or "png"
    with st.container(key=box):
        config = charts.plotly_config(f"b12-risk-atlas-{key}", image_format)
        if narrow is None:
            st.plotly_chart(with_source(fig, source_lines()), config=config, key=key,
                            width="stretch")
        else:
            st.html(_WIDTH_SWITCH_CSS % {"edge": NARROW_SCREEN, "over": NARROW_SCREEN + 1,
                                         "box": box})
            # the phone's form breaks each source line to the phone's width
            narrow_lines = [part for line in source_lines() for part in charts.fit_text(
                line, size=charts.SOURCE_FONT_SIZE).split("<br>")]
            for form, figure, lines in (("wide", fig, source_lines()),
                                        ("narrow", narrow, narrow_lines)):
                with st.container(key=f"{box}-{form}"):
                    st.plotly_chart(with_source(figure, lines),
                                    key=f"{key}_{form}", width="stretch", config=config)
        st.caption(caption)
        st.segmented_control("Chart download (camera icon of the chart)", charts.IMAGE_FORMATS,
                             key=f"_image_{key}", default="png", format_func=str.upper)
        with st.expander("Table of the chart", icon=":material/table:"):
            st.dataframe(table, hide_index=True, width="stretch", column_config=column_config)
        st.html(_NAME_CHART_JS % (_script_json(box), _script_json(chart_name(fig, caption)),
                                  1 if narrow is None else 2),
                unsafe_allow_javascript=True)


def render_page_links(view: state.State) -> None:
    """Links into the other pages, carrying the shared filters of this view."""
    targets = [p for p in schema.PAGES.values() if p.about and p.key != view.page]
    columns = st.columns(len(targets))
    for column, target in zip(columns, targets, strict=True):
        column.page_link(target.file, label=target.title, icon=target.icon, help=target.about,
                         query_params=state.carry_query(view, target.key))


def render_profile_link(view: state.State) -> None:
    """A link to the Risk profile of the segment the view's filters name
    (``state.profile_query``)."""
    target = schema.PAGES["profile"]
    st.page_link(target.file, label="Risk profile of this segment", icon=target.icon,
                 query_params=state.profile_query(view),
                 help="The modelled B12 status of one country, age, sex, diet and supplement "
                 "use, taken from these filters (first value of each)")


# --- Burden page -------------------------------------------------------------------------------
# The Burden page's models, cached once per process and shared by every session. ``build``
# (current_build) is the first argument of each, so a rebuild of the data is a new key.

BURDEN_PROJECTION_YEARS: tuple[int, ...] = tuple(range(2020, 2051))


@st.cache_data(show_spinner=False, max_entries=64)
def burden_share_model(build: str, overrides: tuple[tuple[str, float], ...]) -> pd.DataFrame:
    """Diet shares of every WPP country, with a scenario's multipliers applied; a country
    whose scenario shares would exceed 100% is capped there (``burden.capped_countries``)."""
    return burden.diet_share_model(load_diet_shares(), burden_countries(build),
                                   overrides=dict(overrides), cap=True)


@st.cache_data(show_spinner=False, max_entries=32)
def burden_scenario_limits(build: str, overrides: tuple[tuple[str, float], ...],
                           locations: tuple[str, ...]) -> dict[str, float]:
    """Per scenario diet group, the largest multiplier that keeps every country of the
    locations within 100%, the other groups' multipliers as in ``overrides``."""
    iso3 = burden.member_countries(load_population(), list(locations)) if locations else []
    return burden.scenario_limits(burden_share_model(build, ()), dict(overrides), iso3)


@st.cache_data(show_spinner=False, max_entries=8)
def burden_countries(build: str) -> list[str]:
    """ISO3 codes of the WPP countries and areas, the units of the map."""
    del build
    return burden.country_codes(burden.locations_table(load_population()))


@st.cache_data(show_spinner=False, max_entries=32)
def burden_map_summary(build: str, definition: str, status: str, overrides: tuple,
                       supplementation: tuple, year: int) -> pd.DataFrame:
    """Modelled cases and general-population prevalence per country in one year, with the
    studies behind each country's figure (the map's input)."""
    fitted = load_model(definition)
    out = burden.estimate_summary(
        load_population(), burden_share_model(build, overrides), fitted,
        locations=burden_countries(build), years=[year], by=["iso3", "location"],
        definition=definition, status=status, supplementation=dict(supplementation) or None,
    )
    return out.merge(burden.country_support(fitted, out["iso3"]), on="iso3", how="left")


@st.cache_data(show_spinner=False, max_entries=32)
def burden_projection_summary(build: str, definition: str, status: str, overrides: tuple,
                              supplementation: tuple, locations: tuple[str, ...]) -> pd.DataFrame:
    """Modelled cases and share per location and year, 2020-2050."""
    return burden.estimate_summary(
        load_population(), burden_share_model(build, overrides), load_model(definition),
        locations=list(locations), years=list(BURDEN_PROJECTION_YEARS),
        by=["location", "year"], definition=definition, status=status,
        supplementation=dict(supplementation) or None,
    )


@st.cache_resource(show_spinner=False, max_entries=16)
def burden_map_figure(build: str, definition: str, status: str, overrides: tuple,
                      supplementation: tuple, year: int, measure: str, title: str,
                      subtitle: str) -> go.Figure:
    """The world map figure, shared read-only by every session: validating 200 kB of outlines
    into a plotly figure is the slowest step of a view."""
    world = burden_map_summary(build, definition, status, overrides, supplementation, year)
    return charts.freeze(charts.burden_map_figure(world, load_world(), measure, title,
                                                  subtitle=subtitle))


@st.cache_data(show_spinner=False, max_entries=64)
def burden_location_summaries(build: str, definition: str, status: str, overrides: tuple,
                              supplementation: tuple, year: int, locations: tuple[str, ...],
                              standard: str) -> tuple[pd.DataFrame, ...]:
    """What the page shows of the chosen locations' burden: headline (cases with UI, crude and
    age-standardised prevalence), age x diet cells, people per diet group, and what drives
    each location's prevalence (tables.burden_summaries, shared with the data API)."""
    return tables.burden_summaries(
        load_population(), burden_share_model(build, overrides), load_model(definition),
        load_standard_populations(), list(locations), year, definition, status,
        supplementation, standard)


@st.cache_resource(show_spinner=False)
def load_world() -> dict:
    """The shipped world map GeoJSON (geo.load_world), parsed once per process."""
    from dashboard import geo

    return geo.load_world()


@st.cache_resource(show_spinner=False, max_entries=256)
def _figure(name: str, *args: Any, **kwargs: Any) -> go.Figure:
    return charts.freeze(getattr(charts, name)(*args, **kwargs))


def figure(builder: Callable[..., go.Figure], *args: Any, **kwargs: Any) -> go.Figure:
    """``builder(*args, **kwargs)`` built once per process for the same inputs.

    Building a Plotly figure (property validation) costs more than the aggregation behind it,
    and every session viewing the same filters asks for the same figure. The figure is shared:
    treat it as read-only (a charts.FrozenFigure). Only for figures of the bundled data, never
    of an upload (an upload stays in its session).
    """
    if getattr(charts, builder.__name__, None) is not builder:
        raise ValueError(f"{builder.__name__} is not a figure builder of dashboard.charts")
    return _figure(builder.__name__, *args, **kwargs)


def study_column_config() -> dict[str, Any]:
    """Column headings of a table of published estimates (Explore, Evidence): percentages,
    the interval's origin, NCHS reliability, and DOI/PubMed as links."""
    col = st.column_config
    return {
        "citation": col.TextColumn("Study", help="First author and year of publication",
                                   pinned=True),
        "first_author": col.TextColumn("First author"),
        "year": col.NumberColumn("Year", format="%d"),
        "title": col.TextColumn("Title"),
        "journal": col.TextColumn("Journal"),
        "country_iso3": col.TextColumn("Country code"),
        "country_name": col.TextColumn("Country"),
        "population": col.TextColumn("Population"),
        "data_years": col.TextColumn("Survey years"),
        "sex": col.TextColumn("Sex"),
        "age_label": col.TextColumn("Age (years)"),
        "age_band": col.TextColumn("Age band"),
        "diet_group": col.TextColumn("Diet group"),
        "supplement_users": col.TextColumn("Supplement users"),
        "definition": col.TextColumn("Definition"),
        "status": col.TextColumn("Status"),
        "cutoff_operator": col.TextColumn("Cut-off rule"),
        "cutoff_value": col.NumberColumn("Cut-off"),
        "cutoff_unit": col.TextColumn("Cut-off unit"),
        "n": col.NumberColumn("n", help="People examined"),
        "cases": col.NumberColumn("Cases", help="People with low status"),
        "notes": col.TextColumn("Notes"),
        "study_id": col.TextColumn("Study id"),
        "row_id": col.NumberColumn("Row"),
        "prevalence": col.NumberColumn("Prevalence", format="percent"),
        "interval_low": col.NumberColumn("95% CI low", format="percent"),
        "interval_high": col.NumberColumn("95% CI high", format="percent"),
        "ci_source": col.TextColumn(
            "Interval from", help="reported: as published; wilson: from n and cases"),
        "reliability": col.TextColumn(
            "NCHS reliability", help="Parker et al. 2017 presentation standards"),
        "usable_for": col.TextColumn("Use", help="pooling: has n and cases; display: shown only"),
        "population_marks": col.TextColumn(
            "Sample", help="Marked when the estimate is not of a general-population sample: "
            "pregnant women, clinic or patient samples, care homes, diet-group cohorts"),
        "sample_frame": col.TextColumn("Sample frame"),
        "estimate_id": col.TextColumn("Estimate"),
        "parent_id": col.TextColumn("Subgroup of"),
        "reason": col.TextColumn("Why not pooled"),
        "source_location": col.TextColumn(
            "Where in the source", help="Table, figure or section the figure was taken from"),
        "doi_url": col.LinkColumn("DOI", display_text=r"https://doi\.org/(.*)"),
        "pmid_url": col.LinkColumn("PMID", display_text=r"https://pubmed\.ncbi\.nlm\.nih\.gov/(\d+)"),
    }


def with_citation(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with a ``citation`` column, "Author year" (tables.with_citation)."""
    return tables.with_citation(rows)


def render_estimator_note(rows: pd.DataFrame, pooled: pd.DataFrame, by: str, method: str,
                          labels: Mapping[str, str], *, studies: pd.DataFrame | None = None,
                          view: state.State | None = None) -> None:
    """Say where REML and DL give the same pool, so that the switch does not look broken.
    With the ``studies`` and ``view`` the rows come from, the comparison is made once per
    process and view (per_view)."""
    other = "DL" if method == "REML" else "REML"

    def coinciding() -> list[str]:
        return aggregate.coinciding_groups(
            pooled, aggregate.pool_groups(rows, by=(by,), method=other), [by])

    same = (coinciding() if studies is None or view is None
            else per_view("estimator_note", studies, coinciding, view, by, method))
    if not same:
        return
    names = [schema.DIET_LABELS.get(g, g) if by == "diet_group" else g for g in same]
    where = "every subgroup" if len(same) == len(pooled) else ", ".join(names)
    st.info(
        f"{labels['REML'].split(' (')[0]} and {labels['DL']} give the same pool for {where}: "
        "they agree when a pool has one or two studies, or when neither finds variation "
        "between studies, so switching the estimator changes nothing there.",
        icon=":material/info:",
    )


def render_study_table(rows: pd.DataFrame, columns: Sequence[str], *, key: str,
                       filename: str) -> None:
    """A table of published estimates (those ``columns`` of ``rows``) with CSV and Parquet
    downloads of exactly what it shows."""
    shown = rows.loc[:, list(columns)]
    st.dataframe(shown, hide_index=True, width="stretch", key=key,
                 column_config=study_column_config())
    render_downloads(shown, filename)
