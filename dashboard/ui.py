"""Shared Streamlit widgets and the cached wrappers around dashboard.data."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

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
    schema,
    state,
    tables,
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
    key of every cache of the bundled data."""
    try:
        manifest = data.load_manifest()
    except DataError:
        return ""
    return data.build_id(manifest)


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
    countries = load_countries()
    shares = burden.diet_share_model(load_diet_shares(), countries["iso3"].tolist())
    return model.fit(load_studies(), countries, shares, definition=definition)


def load_model(definition: str = schema.DEFAULT_DEFINITION) -> model.Model:
    """The prevalence model fitted on the bundled evidence, once per process and data build
    (shared read-only by every session). Serum B12 definitions share one crosswalk fit."""
    d = schema.DEFINITIONS_BY_ID.get(definition)
    serum = (d.biomarker == model.CROSSWALK_BIOMARKER if d is not None
             else definition.split("_")[0] == schema.DEFINITION_ID_PREFIX["serum_b12"])
    return _model(current_build(), schema.DEFAULT_DEFINITION if serum else definition)


def load_manifest() -> dict:
    """The build manifest (small; read on every call so that a rebuild is seen at once)."""
    return data.load_manifest()


def studies_or_stop() -> pd.DataFrame:
    """The published estimates; on a dataset problem, the message with its fix and the page
    stops (the opening of every evidence page)."""
    try:
        return load_studies()
    except DataError as err:
        render_data_error(err)
        st.stop()


def render_data_error(err: DataError) -> None:
    """Show a dataset problem as a message with its fix, not a traceback."""
    st.error(
        f"**The data could not be loaded.** {literal(data.project_path(err.path))}: "
        f"{literal(err.problem)}.\n\nTo fix it, {err.fix}.",
        icon=":material/database:",
    )


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
    data API)."""
    return tables.filter_choices(studies)


def _with_current(options: Sequence[str], current: Any) -> list[str]:
    """Options plus any value of the current state they lack (a link may name one)."""
    chosen = [current] if isinstance(current, str) else list(current or ())
    return [*options, *(v for v in chosen if v not in options)]


def _country_names(studies: pd.DataFrame) -> dict[str, str]:
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
        if "def" in names:
            st.selectbox(p["def"].label, _with_current(choices["def"], view["def"]), key="def",
                         format_func=aggregate.definition_label,
                         help="Biomarker and cut-off. Only studies using this cut-off are shown "
                         "and pooled together.")
        if "status" in names:
            st.selectbox(p["status"].label, list(schema.STATUSES), key="status",
                         format_func=schema.STATUS_LABELS.get)
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


def render_empty(view: state.State) -> None:
    """Say that the filters leave nothing to show, naming them."""
    st.warning(
        f"No published estimate matches these filters ({describe_filters(view)}). "
        "Widen or clear a filter in the sidebar.",
        icon=":material/filter_alt_off:",
    )


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
    if view.page == "cutoffs":
        chosen = ", ".join(aggregate.definition_label(d) for d in values["defs"])
        lines.append(f"Definitions: {chosen or 'every reported definition'}.")
    elif "def" in values:
        status = schema.STATUS_LABELS.get(values["status"], values["status"]).lower()
        lines.append(f"Definition: {aggregate.definition_label(values['def'])}; {status}.")
    lines.append("Intervals: 95% uncertainty intervals of the model." if view.page == "burden"
                 else "Intervals: 95% confidence intervals.")
    lines.append(f"Source: {citation.PROJECT}, data build {build}, {url}")
    try:
        count = tables.count_studies(load_studies(), view)
    except DataError:
        count = 0
    lines.append(f"Studies: {count:,} publications.")
    return lines


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


def render_figure(
    fig: Any,
    table: pd.DataFrame,
    *,
    key: str,
    caption: str,
    column_config: Mapping[str, Any] | None = None,
) -> None:
    """A plotly chart with its source note (charts.with_source: definition, 95% interval,
    source, view URL and studies, so PNG and SVG downloads carry them), its caption, the
    image format of the modebar's download, and a table of the same numbers in an expander
    for readers who cannot use the chart."""
    image_format = st.session_state.get(f"_image_{key}") or "png"
    st.plotly_chart(charts.with_source(fig, source_lines()),
                    config=charts.plotly_config(f"b12-risk-atlas-{key}", image_format), key=key,
                    width="stretch")
    st.caption(caption)
    st.segmented_control("Chart download (camera icon of the chart)", charts.IMAGE_FORMATS,
                         key=f"_image_{key}", default="png", format_func=str.upper)
    with st.expander("Table of the chart", icon=":material/table:"):
        st.dataframe(table, hide_index=True, width="stretch", column_config=column_config)


def render_page_links(view: state.State) -> None:
    """Links into the other pages, carrying the shared filters of this view."""
    targets = [p for p in schema.PAGES.values() if p.about and p.key != view.page]
    columns = st.columns(len(targets))
    for column, target in zip(columns, targets, strict=True):
        column.page_link(target.file, label=target.title, icon=target.icon, help=target.about,
                         query_params=state.carry_query(view, target.key))


# --- Burden page -------------------------------------------------------------------------------
# The Burden page's models, cached once per process and shared by every session. ``build``
# (current_build) is the first argument of each, so a rebuild of the data is a new key.

BURDEN_PROJECTION_YEARS: tuple[int, ...] = tuple(range(2020, 2051))


@st.cache_data(show_spinner=False, max_entries=64)
def burden_prevalence_model(build: str, definition: str, status: str, method: str) -> pd.DataFrame:
    """Pooled prevalence per analysis band x diet for one definition and status."""
    del build
    return burden.prevalence_model(load_studies(), definition, status, method=method)


@st.cache_data(show_spinner=False, max_entries=64)
def burden_share_model(build: str, overrides: tuple[tuple[str, float], ...]) -> pd.DataFrame:
    """Diet shares of every WPP country, with a scenario's multipliers applied."""
    return burden.diet_share_model(load_diet_shares(), burden_countries(build),
                                   overrides=dict(overrides))


@st.cache_data(show_spinner=False, max_entries=8)
def burden_countries(build: str) -> list[str]:
    """ISO3 codes of the WPP countries and areas, the units of the map."""
    del build
    return burden.country_codes(burden.locations_table(load_population()))


@st.cache_data(show_spinner=False, max_entries=32)
def burden_map_summary(build: str, definition: str, status: str, overrides: tuple,
                       supplementation: tuple, year: int) -> pd.DataFrame:
    """Modelled cases and share per country in one year (the map's input)."""
    return burden.estimate_summary(
        load_population(), burden_share_model(build, overrides),
        burden_prevalence_model(build, definition, status, "REML"),
        locations=burden_countries(build), years=[year], by=["iso3", "location"],
        supplementation=dict(supplementation) or None,
    )


@st.cache_data(show_spinner=False, max_entries=32)
def burden_projection_summary(build: str, definition: str, status: str, overrides: tuple,
                              supplementation: tuple, locations: tuple[str, ...]) -> pd.DataFrame:
    """Modelled cases and share per location and year, 2020-2050."""
    return burden.estimate_summary(
        load_population(), burden_share_model(build, overrides),
        burden_prevalence_model(build, definition, status, "REML"), locations=list(locations),
        years=list(BURDEN_PROJECTION_YEARS), by=["location", "year"],
        supplementation=dict(supplementation) or None,
    )


@st.cache_resource(show_spinner=False, max_entries=16)
def burden_map_figure(build: str, definition: str, status: str, overrides: tuple,
                      supplementation: tuple, year: int, measure: str, title: str,
                      subtitle: str) -> go.Figure:
    """The world map figure, shared read-only by every session: validating 200 kB of outlines
    into a plotly figure is the slowest step of a view."""
    world = burden_map_summary(build, definition, status, overrides, supplementation, year)
    return charts.burden_map_figure(world, load_world(), measure, title, subtitle=subtitle)


@st.cache_data(show_spinner=False, max_entries=64)
def burden_location_summaries(build: str, definition: str, status: str, overrides: tuple,
                              supplementation: tuple, year: int, locations: tuple[str, ...],
                              standard: str) -> tuple[pd.DataFrame, ...]:
    """What the page shows of the chosen locations' burden: headline (cases with UI, crude and
    age-standardised prevalence), age x diet cells, people per diet group."""
    return tables.burden_summaries(
        load_population(), burden_share_model(build, overrides),
        burden_prevalence_model(build, definition, status, "REML"), load_standard_populations(),
        list(locations), year, supplementation, standard)


@st.cache_resource(show_spinner=False)
def load_world() -> dict:
    """The shipped world map GeoJSON (geo.load_world), parsed once per process."""
    from dashboard import geo

    return geo.load_world()


@st.cache_resource(show_spinner=False, max_entries=256)
def _figure(name: str, *args: Any, **kwargs: Any) -> go.Figure:
    return getattr(charts, name)(*args, **kwargs)


def figure(builder: Callable[..., go.Figure], *args: Any, **kwargs: Any) -> go.Figure:
    """``builder(*args, **kwargs)`` built once per process for the same inputs.

    Building a Plotly figure (property validation) costs more than the aggregation behind it,
    and every session viewing the same filters asks for the same figure. The figure is shared:
    treat it as read-only. Only for figures of the bundled data, never of an upload (an
    upload stays in its session).
    """
    if getattr(charts, builder.__name__, None) is not builder:
        raise ValueError(f"{builder.__name__} is not a figure builder of dashboard.charts")
    return _figure(builder.__name__, *args, **kwargs)


def study_column_config() -> dict[str, Any]:
    """Column headings of a table of published estimates (Explore, Evidence): percentages,
    the interval's origin, NCHS reliability, and DOI/PubMed as links."""
    col = st.column_config
    return {
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


def render_study_table(rows: pd.DataFrame, columns: Sequence[str], *, key: str,
                       filename: str) -> None:
    """A table of published estimates (those ``columns`` of ``rows``) with CSV and Parquet
    downloads of exactly what it shows."""
    shown = rows.loc[:, list(columns)]
    st.dataframe(shown, hide_index=True, width="stretch", key=key,
                 column_config=study_column_config())
    render_downloads(shown, filename)
