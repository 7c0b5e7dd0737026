"""Your data page: an analyst's own survey microdata or prevalence table, estimated in-session."""

import dataclasses
import html

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import aggregate, charts, ingest, schema, server, state, stats, ui
from dashboard.data import DataError

PAGE = "your_data"
NOT_MAPPED = "(not in the file)"
SURVEY_STANDARD = state.SURVEY_STANDARD  # standardise to the survey's own age distribution
OPERATORS = {"lt": "<", "gt": ">"}
OPERATOR_LABELS = {"lt": "below the cut-off (<)", "gt": "above the cut-off (>)"}
GROUP_LABELS = {"age_band": "Age band", "diet_group": "Diet group", "sex": "Sex"}
ROLE_LABELS = {
    "age": "Age in years",
    "sex": "Sex",
    "diet_group": "Diet group",
    "supplement_use": "Supplement use",
    "weight": "Sampling weight",
    "stratum": "Design stratum",
    "psu": "Primary sampling unit (PSU)",
    "id": "Person id",
    "n": "Sample size n",
    "cases": "Cases",
    "prevalence": "Prevalence",
}
# Definitions an analyst can apply to individual values: one marker, one cut-off.
PRESETS = ingest.VALUE_DEFINITIONS
# Markers with a value per person, and their units (the URL admits others: state.measured_marker).
MEASURED_UNITS = {b: tuple(ingest.UNIT_FACTORS[b]) for b in ingest.VALUE_BIOMARKERS}
# Tables show the downloadable numbers (fractions 0-1) at a readable precision.
FRACTIONS = {c: st.column_config.NumberColumn(format="%.4f")
             for c in ("estimate", "se", "ci_low", "ci_high", "prevalence", "interval_low",
                       "interval_high", "n_eff", "pi_low", "pi_high")}
MAX_LABEL_WIDGETS = 20  # unmapped labels offered for mapping one by one (the rest are listed)


def _render_problems(title: str, problems: list[str]) -> None:
    """Every problem of one InputError under a title, so that all can be fixed at once."""
    st.error(f"**{title}**\n\n" + "\n".join(f"- {ui.literal(p)}" for p in problems),
             icon=":material/error:")


def _render_notes(upload: ingest.Upload) -> None:
    """Every warning and every dropped row of the files, with the reason."""
    for warning in upload.warnings:
        st.warning(ui.literal(warning), icon=":material/warning:")
    for line in ingest.summarize_dropped(upload.dropped):
        st.warning(ui.literal(line), icon=":material/playlist_remove:")


def _apply_preset() -> None:
    d = schema.DEFINITIONS_BY_ID.get(st.session_state.get("yd_preset") or "")
    if d is not None:
        st.session_state.update(marker=d.biomarker, unit=d.unit, cut=float(d.cutoff),
                                op="lt" if d.direction == "<" else "gt")


def _marker_changed() -> None:
    marker = st.session_state["marker"]
    d = next(p for p in PRESETS if p.biomarker == marker)
    st.session_state.update(unit=d.unit, cut=float(d.cutoff),
                            op="lt" if d.direction == "<" else "gt")


def _use_measured_marker() -> list[str]:
    """Replace a linked marker or unit that has no per-person values; the unit choices."""
    marker, unit, notices = state.measured_marker(
        st.session_state.get("marker"), st.session_state.get("unit"), MEASURED_UNITS)
    for notice in notices:
        st.info(ui.literal(notice), icon=":material/link_off:")
    if st.session_state.get("marker") != marker:
        st.session_state["marker"] = marker
    if st.session_state.get("unit") != unit:
        st.session_state["unit"] = unit
    return state.marker_units(marker, MEASURED_UNITS)


def _render_sidebar(unit_options: list[str]) -> None:
    """The definition and grouping widgets, keyed by their URL parameters."""
    p = state.PARAMS
    with st.sidebar:
        st.header("Definition")
        st.selectbox("Start from a published definition", ["", *(d.id for d in PRESETS)],
                     key="yd_preset", on_change=_apply_preset,
                     format_func=lambda i: schema.DEFINITIONS_BY_ID[i].label if i else "(choose)",
                     help="Sets biomarker, cut-off, unit and direction at once.")
        st.selectbox(p["marker"].label, list(ingest.VALUE_BIOMARKERS), key="marker",
                     format_func=schema.BIOMARKER_LABELS.get, on_change=_marker_changed)
        st.radio(p["op"].label, list(OPERATORS), key="op", format_func=OPERATOR_LABELS.get,
                 horizontal=True)
        st.number_input(p["cut"].label, min_value=float(p["cut"].lo), max_value=float(p["cut"].hi),
                        key="cut", format="%g")
        st.selectbox(p["unit"].label, unit_options, key="unit",
                     help="The cut-off's unit; values are converted from the column's unit.")
        st.header("Groups")
        st.multiselect(p["grp"].label, list(GROUP_LABELS), key="grp",
                       format_func=GROUP_LABELS.get, placeholder="Whole sample")
        st.text_input(p["bands"].label, key="bands",
                      help="Whole years, contiguous from 0, the last may be open: 0-19,20-59,60+")
        st.selectbox(p["astd"].label, [*schema.STANDARD_POPULATIONS, SURVEY_STANDARD],
                     key="astd",
                     format_func=lambda s: schema.STANDARD_POPULATIONS.get(
                         s, "The survey's own age distribution"))


def _render_uploader() -> list:
    """The file uploader, stating the formats and limits the readers accept."""
    return st.file_uploader(
    "Survey files", type=[ext.lstrip(".") for ext in ingest.FORMATS],
    accept_multiple_files=True, key="yd_files",
    help="CSV (comma, semicolon or tab; UTF-8 or Latin-1), Parquet or SAS transport (.xpt, as "
    f"NHANES publishes it); up to {ingest.MAX_BYTES // 1024**2} MB, "
    f"{ingest.MAX_ROWS:,} rows and {ingest.MAX_COLUMNS} columns per file. Several files are "
    "merged on a key column (e.g. NHANES DEMO + B12 on SEQN).",
)


def _read_files(uploaded: list) -> list[ingest.Upload]:
    """Each file read once per session (never st.cache_*: files stay in this session)."""
    reads: dict = st.session_state.setdefault("_yd_reads", {})
    removed = set(reads) - {f.file_id for f in uploaded}
    for stale in removed:
        del reads[stale]
    if removed:  # a removed file's frames and results go now, not when the session ends
        st.session_state.pop("_yd_results", None)
        server.release_memory()
    new = [f for f in uploaded if f.file_id not in reads]
    if new:
        with st.status("Reading files", expanded=False) as progress:
            for f in new:
                progress.update(label=f"Reading {ui.literal(f.name)} ({f.size / 1024**2:,.1f} MB)")
                try:
                    reads[f.file_id] = ingest.read_upload(f.name, f.getvalue())
                except ingest.InputError as err:
                    reads[f.file_id] = err
            progress.update(label="Files read", state="complete")
        # The parser's working memory is freed but stays with the process until trimmed: the
        # session then holds the file's frame, not the parse's peak (26 MB for 150 MB).
        server.release_memory()
    uploads = [reads[f.file_id] for f in uploaded if isinstance(reads[f.file_id], ingest.Upload)]
    for f in uploaded:
        if isinstance(reads[f.file_id], ingest.InputError):
            _render_problems(f"'{ui.literal(f.name)}' could not be read:",
                             reads[f.file_id].problems)
    return uploads


def _render_merge(uploads: list[ingest.Upload]) -> ingest.Upload | None:
    """One upload of the files, merged on the key the analyst picks when there are several."""
    upload = None
    if len(uploads) > 1:
        common = [c for c in uploads[0].frame.columns if all(c in u.frame for u in uploads[1:])]
        key_options = common or list(uploads[0].frame.columns)
        key = st.selectbox("Merge the files on", key_options, key="yd_merge_key",
                           index=key_options.index("SEQN") if "SEQN" in key_options else 0,
                           help="The column that identifies a person in every file.")
        try:
            upload = ingest.merge_uploads(uploads, on=str(key))
        except ingest.InputError as err:
            _render_problems("The files could not be merged:", err.problems)
    elif uploads:
        upload = uploads[0]
    return upload


def _linked_fingerprint(view: state.State, upload: ingest.Upload | None) -> str:
    """The link's file fingerprint: kept while no file is loaded, compared once one is.

    A fingerprint this session gave the URL itself (a file since removed) is not a link's:
    it is cleared, so that no shared-link notice appears and Share names no file.
    """
    own: set[str] = st.session_state.setdefault("_yd_own_fps", set())
    if upload is None:
        linked = "" if view["fp"] in own else view["fp"]
        st.session_state["_yd_linked_fp"] = linked
        if not linked:
            st.session_state["fp"] = ""
    else:
        own.add(upload.fingerprint)
        st.session_state["fp"] = upload.fingerprint
    return st.session_state.get("_yd_linked_fp", "")


def _render_band_notice(view: state.State, typed_bands: str | None) -> None:
    """Say when the typed age bands were refused, since the page then uses other bands."""
    if view["bands"] != typed_bands:
        st.warning(f"Age bands '{ui.literal(typed_bands)}' ignored: bands must be whole years, "
                   "contiguous "
                   f"from 0, ascending, only the last open (e.g. 0-19,20-59,60+). Using "
                   f"{view['bands']}.", icon=":material/warning:")


def _view_words(outcome: ingest.Outcome, groups: list[str], view: state.State) -> str:
    """The view in words, for a link opened without its file."""
    return (f"definition {outcome.label}, grouped by "
            f"{', '.join(GROUP_LABELS[g].lower() for g in groups) or 'nothing'}, "
            f"age bands {view['bands']}")


def _render_no_file(linked_fp: str, uploaded: list, view_words: str) -> None:
    """What to upload: the linked file (by fingerprint) or any file."""
    if linked_fp:
        st.info(
            f"This link shows a view of a file that is not part of the dashboard ({view_words}). "
            f"Upload the file whose fingerprint is **`{linked_fp}`** to see it: the fingerprint "
            "is the first 12 hex digits of the file's SHA-256 (`sha256sum FILE`; for several "
            "merged files, of the set).", icon=":material/upload_file:")
    elif not uploaded:
        st.info("Upload a file to begin. The settings in the sidebar apply once it is read.",
                icon=":material/upload_file:")


def _render_file(upload: ingest.Upload, linked_fp: str) -> None:
    """The file as read, with a note when it is not the linked one, and its warnings."""
    if linked_fp and linked_fp != upload.fingerprint:
        st.warning(f"The link was made with the file whose fingerprint is `{linked_fp}`; this "
                   f"file is `{upload.fingerprint}`, so the numbers can differ from the shared "
                   "view. The Share link now names this file.", icon=":material/difference:")
    st.subheader("File")
    st.dataframe(
        pd.DataFrame([{"file": upload.filename, "format": ingest.FORMAT_LABELS.get(upload.format,
                       upload.format), "rows": len(upload.frame), "columns": upload.frame.shape[1],
                       "fingerprint": upload.fingerprint, "rows named as": upload.row_note}]),
        hide_index=True, width="stretch",
    )
    _render_notes(upload)


def _render_kind(upload: ingest.Upload) -> str:
    """Microdata or prevalence table, as detected unless the analyst says otherwise."""
    kinds = {"microdata": "Microdata (one row per person)",
             "prevalence_table": "Prevalence table (one row per group)"}
    return st.radio("The file holds", list(kinds), key=f"yd_kind_{upload.fingerprint}",
                    index=list(kinds).index(upload.kind), format_func=kinds.get,
                    horizontal=True)


def _pick(label: str, role: str, current: str | None, options: list[str],
          proposal: ingest.ColumnMapping, tag: str, container=st) -> str | None:
    """One role's column, proposed as the mapping says and explained in the help."""
    note = proposal.notes.get(role)
    chosen = container.selectbox(label, options, key=f"yd_map_{role}_{tag}",
                                 index=options.index(current) if current in options else 0,
                                 help=f"Proposed from {ui.literal(note)}." if note
                                 else "Nothing proposed.")
    return None if chosen == NOT_MAPPED else chosen


def _pick_biomarkers(options: list[str], proposal: ingest.ColumnMapping,
                     tag: str) -> dict[str, ingest.BiomarkerColumn]:
    """Each biomarker's column and unit, since values convert from the column's own unit."""
    biomarkers: dict[str, ingest.BiomarkerColumn] = {}
    for biomarker in ingest.VALUE_BIOMARKERS:
        left, right = st.columns([3, 1])
        current = proposal.biomarkers.get(biomarker)
        col = _pick(schema.BIOMARKER_LABELS[biomarker], f"{biomarker}_value",
                    current.column if current else None, options, proposal, tag, left)
        units = list(ingest.UNIT_FACTORS[biomarker])
        unit = right.selectbox(
            "Unit", units, key=f"yd_unit_{biomarker}_{tag}",
            index=units.index(current.unit if current else schema.CANONICAL_UNITS[biomarker]))
        if col is not None:
            biomarkers[biomarker] = ingest.BiomarkerColumn(col, unit)
    return biomarkers


def _render_mapping_form(upload: ingest.Upload, kind: str, proposal: ingest.ColumnMapping,
                         tag: str) -> tuple[dict, dict[str, ingest.BiomarkerColumn], bool]:
    """Column roles (and biomarker units) as confirmed in a form: (roles, biomarkers, pressed)."""
    columns = [str(c) for c in upload.frame.columns]
    options = [NOT_MAPPED, *columns]
    with st.form(f"yd_mapping_{tag}"):
        st.caption("Proposed from the column names and contents: confirm or change each role.")
        found: dict = {}
        biomarkers: dict[str, ingest.BiomarkerColumn] = {}
        if kind == "microdata":
            biomarkers = _pick_biomarkers(options, proposal, tag)
            cells = st.columns(4)
            for i, role in enumerate(ingest.MICRODATA_ROLES):
                found[role] = _pick(ROLE_LABELS[role], role, getattr(proposal, role), options,
                                    proposal, tag, cells[i % 4])
        else:
            cells = st.columns(3)
            for i, role in enumerate(ingest.TABLE_ROLES):
                found[role] = _pick(ROLE_LABELS[role], role, getattr(proposal, role), options,
                                    proposal, tag, cells[i])
            scales = ["percent", "fraction"]
            found["prevalence_scale"] = st.radio(
                "Prevalence is", scales, key=f"yd_scale_{tag}", horizontal=True,
                index=scales.index(proposal.prevalence_scale),
                format_func={"percent": "a percent (0-100)", "fraction": "a fraction (0-1)"}.get)
            found["groups"] = tuple(st.multiselect(
                "Group columns", [c for c in columns if c not in found.values()],
                default=[g for g in proposal.groups if g not in found.values()],
                key=f"yd_groups_{tag}"))
        confirmed = st.form_submit_button("Confirm mapping", type="primary")
    return found, biomarkers, confirmed


def _confirmed(tag: str, pressed: bool) -> bool:
    """Whether this mapping was confirmed: results wait for it, and a new mapping asks again."""
    if pressed:
        st.session_state["_yd_confirmed"] = tag
    if st.session_state.get("_yd_confirmed") != tag:
        st.info("Check the proposed columns above and press **Confirm mapping** to see results.",
                icon=":material/rule:")
        return False
    return True


def _label_columns(kind: str, found: dict) -> dict[str, str]:
    """Role -> column of the mapped columns whose labels must be in a vocabulary."""
    if kind == "microdata":
        return {r: found[r] for r in ("sex", "diet_group", "supplement_use") if found.get(r)}
    return {g.lower(): g for g in found["groups"] if g.lower() in ingest.TABLE_ROLE_VOCABULARIES}


def _render_labels(upload: ingest.Upload, kind: str, proposal: ingest.ColumnMapping,
                   found: dict, tag: str) -> dict[str, dict[str, str]]:
    """Labels: the built-in synonyms first, then the analyst's choice for each unmapped label."""
    labels: dict[str, dict[str, str]] = {r: dict(v) for r, v in proposal.labels.items()}
    label_columns = _label_columns(kind, found)
    vocabularies = (ingest.ROLE_VOCABULARIES if kind == "microdata"
                    else ingest.TABLE_ROLE_VOCABULARIES)
    if label_columns:
        st.subheader("Labels")
    for role, col in label_columns.items():
        vocab = vocabularies[role]
        _, preview = ingest.map_labels(upload.frame[col], vocab, labels.get(role))
        if preview.empty:
            st.caption(f"'{ui.literal(col)}': every label is one of {', '.join(vocab)} "
                       "(or a known synonym).")
            continue
        st.markdown(f"'{ui.literal(col)}' has labels that are not one of {', '.join(vocab)}: "
                    "map each one.")
        st.dataframe(preview, hide_index=True, column_config={
            "value": "Label", "count": "Rows", "rows": f"Example rows ({upload.row_note})"})
        cells = st.columns(4)
        for i, r in enumerate(preview.head(MAX_LABEL_WIDGETS).itertuples()):
            term = cells[i % 4].selectbox(f"'{ui.literal(r.value)}' means", ["", *vocab],
                                          key=f"yd_label_{role}_{tag}_{r.value}",
                                          format_func=lambda t: t or "(choose)")
            if term:
                labels.setdefault(role, {})[r.value] = term
    return labels


def _render_table_results(upload: ingest.Upload, mapping: ingest.ColumnMapping,
                          groups: list[str]) -> None:
    """A prevalence table: each row with its interval, then pooled by the chosen groups."""
    try:
        table = ingest.prepare_table(upload, mapping)
    except ingest.InputError as err:
        _render_problems("The table cannot be used yet:", err.problems)
        st.stop()
    for warning in table.warnings:
        if warning not in upload.warnings:
            st.warning(ui.literal(warning), icon=":material/warning:")
    st.subheader("Each row, with its Wilson 95% interval and NCHS reliability")
    rows = aggregate.study_estimates(table.frame.assign(ci_low=np.nan, ci_high=np.nan))
    shown = rows.drop(columns=["ci_low", "ci_high", "ci_source"]).reset_index(drop=True)
    st.dataframe(shown, hide_index=True, width="stretch", column_config=FRACTIONS)
    ui.render_downloads(shown, "your-table-rows")
    by = [g for g in groups if g in table.frame.columns]
    st.subheader("Random-effects pooled prevalence" + (
        f" by {', '.join(GROUP_LABELS[g].lower() for g in by)}" if by else ""))
    pooled = aggregate.pool_table(table.frame, by=by)
    chart, x, colour = charts.bar_axes(pooled, by)
    fig = charts.prevalence_bars_figure(
        chart, charts.chart_title("Pooled prevalence", "as defined in the table", "%",
                                  html.escape(upload.filename)), x=x, colour=colour,
        subtitle="Random effects on the logit scale (REML); bars: 95% CI.")
    ui.render_figure(fig, charts.figure_table(pooled), key="yd_pooled_chart",
                     caption=f"Source: {ui.literal(upload.filename)} "
                     f"(fingerprint {upload.fingerprint}). "
                     "Rows pooled as separate strata (metafor rma, measure PLO); reliability by "
                     "the NCHS standards with the pooled effective n.")
    st.dataframe(pooled, hide_index=True, width="stretch", column_config=FRACTIONS)
    ui.render_downloads(pooled, "your-table-pooled")


@dataclasses.dataclass(frozen=True)
class _Standardized:
    """The age-standardised estimate of one view, or why there is none."""

    frame: pd.DataFrame | None = None
    weights: dict | None = None
    label: str = ""
    info: str | None = None  # no age column mapped
    warning: str | None = None  # a standard that does not fit the bands
    error: DataError | None = None  # the standard populations could not be read


@dataclasses.dataclass(frozen=True)
class _Estimates:
    """What the session keeps of one estimation: the results and the notes, not the prepared
    frame (the analysed rows, nearly as large as the upload's frame)."""

    people: int
    warnings: tuple[str, ...]
    dropped: pd.DataFrame
    by: list[str]
    absent: list[str]
    results: pd.DataFrame
    standardized: _Standardized


def _standardize(prepared: ingest.Prepared, by: list[str], view: state.State) -> _Standardized:
    """Prevalence directly standardised to the chosen standard population (or the survey's)."""
    if "age_band" not in prepared.frame.columns:
        return _Standardized(info="Map an age column to standardise by age.")
    standard = view["astd"]
    std_by = [g for g in by if g != "age_band"]
    try:
        if standard == SURVEY_STANDARD:
            weights = ingest.survey_age_weights(prepared)
            label = "the survey's own age distribution"
        else:
            weights = stats.standard_weights_for_bands(
                ui.load_standard_populations(), standard, ingest.parse_age_bands(view["bands"]))
            label = schema.STANDARD_POPULATIONS[standard]
        frame = ingest.estimate_standardized(prepared, std_by, weights)
    except DataError as err:
        return _Standardized(error=err)
    except ValueError as err:
        return _Standardized(warning=f"Cannot standardise to {standard}: {err}.")
    return _Standardized(frame=frame, weights=weights, label=label)


def _estimate(upload: ingest.Upload, mapping: ingest.ColumnMapping, outcome: ingest.Outcome,
              view: state.State, groups: list[str]) -> _Estimates:
    """The estimates of the view, kept in the session until an input changes. The prepared
    frame is let go once they are made, so that a file is held once (its upload frame), not
    twice; a change of the standard population prepares the file again."""
    bands = ingest.parse_age_bands(view["bands"])
    cache_key = (upload.sha256, repr(dataclasses.asdict(mapping)), outcome, view["bands"],
                 tuple(groups), view["astd"])
    cached = st.session_state.get("_yd_results")
    if cached is None or cached[0] != cache_key:
        st.session_state.pop("_yd_results", None)
        refused: ingest.InputError | None = None
        with st.status(f"Estimating from {len(upload.frame):,} rows", expanded=False) as progress:
            try:
                progress.update(label="Checking values and deriving the outcome")
                prepared = ingest.prepare_microdata(upload, mapping, outcome, bands)
                progress.update(label="Design-based estimation")
                absent = [g for g in groups if g not in prepared.frame.columns]
                by = [g for g in groups if g in prepared.frame.columns]
                results = ingest.estimate(prepared, by)
                standardized = _Standardized() if results.empty else _standardize(
                    prepared, by, view)
            except ingest.InputError as err:
                progress.update(label="The file cannot be estimated yet", state="error")
                refused = err
            else:
                progress.update(label="Estimated", state="complete")
        if refused is not None:
            # Outside the collapsed status: the message says what to fix, so it shows open.
            _render_problems("The file cannot be estimated yet:", refused.problems)
            st.stop()
        estimates = _Estimates(people=len(prepared.frame), warnings=prepared.warnings,
                               dropped=prepared.dropped, by=by, absent=absent, results=results,
                               standardized=standardized)
        del prepared
        st.session_state["_yd_results"] = (cache_key, estimates)
        server.release_memory()  # the prepared frame and the validation's temporary columns
    return st.session_state["_yd_results"][1]


def _render_estimate_notes(upload: ingest.Upload, estimates: _Estimates) -> None:
    """Warnings the file did not already show, groups left out, and the rows left out."""
    for warning in estimates.warnings:
        if warning not in upload.warnings:  # those are shown with the file above
            st.warning(ui.literal(warning), icon=":material/warning:")
    if estimates.absent:
        st.warning(f"Not grouped by {', '.join(GROUP_LABELS[g].lower() for g in estimates.absent)}"
                   ": no column is mapped to it.", icon=":material/warning:")
    if len(estimates.dropped):
        with st.expander(f"Rows left out ({len(estimates.dropped):,}), with the reason"):
            st.dataframe(estimates.dropped, hide_index=True, width="stretch")


def _source_note(upload: ingest.Upload, mapping: ingest.ColumnMapping) -> str:
    """The caption naming the file, its design and the methods, under every chart."""
    design = ", ".join(f"{k} '{ui.literal(getattr(mapping, k))}'"
                       for k in ("weight", "stratum", "psu")
                       if getattr(mapping, k)) or "none (simple random sample)"
    return (f"Source: {ui.literal(upload.filename)} (fingerprint {upload.fingerprint}); "
          f"design: {design}. "
          "Taylor-linearised standard errors with domains in the whole design, Korn-Graubard "
          "95% CI, NCHS reliability (Parker et al. 2017).")


def _render_prevalence(results: pd.DataFrame, by: list[str], outcome: ingest.Outcome,
                       population: str, source: str) -> None:
    """The design-based prevalence chart, table and downloads."""
    chart, x, colour = charts.bar_axes(results, by)
    fig = charts.prevalence_bars_figure(
        chart, charts.chart_title("Prevalence", outcome.label, "%", population), x=x, colour=colour,
        subtitle="Design-based estimates; bars: Korn-Graubard 95% CI.", source="survey")
    ui.render_figure(fig, charts.figure_table(results), key="yd_prevalence_chart", caption=source)
    st.dataframe(results, hide_index=True, width="stretch", column_config=FRACTIONS)
    ui.render_downloads(results, "your-data-prevalence")


def _render_standardized(standardized: _Standardized, by: list[str], view: state.State,
                         outcome: ingest.Outcome, population: str, source: str) -> None:
    """The age-standardised estimate (made with the others, _standardize), or why there is none."""
    if standardized.error is not None:
        ui.render_data_error(standardized.error)
        st.stop()
    if standardized.info is not None:
        st.info(standardized.info, icon=":material/info:")
    if standardized.warning is not None:
        st.warning(standardized.warning, icon=":material/warning:")
    if standardized.frame is None:
        return
    std_by = [g for g in by if g != "age_band"]
    chart, x, colour = charts.bar_axes(standardized.frame, std_by)
    fig = charts.prevalence_bars_figure(
        chart, charts.chart_title("Age-standardised prevalence", outcome.label, "%",
                                  population), x=x, colour=colour, source="survey",
        subtitle=f"Direct standardisation to {standardized.label} over bands {view['bands']}.")
    weights = standardized.weights
    weights_text = ", ".join(f"{k} {v / sum(weights.values()):.1%}" for k, v in weights.items())
    ui.render_figure(fig, charts.figure_table(standardized.frame),
                     key="yd_standardized_chart",
                     caption=f"Standard weights: {weights_text}. People without a known "
                     f"age band are left out. {source}")
    ui.render_downloads(standardized.frame, "your-data-age-standardised")


def _render_comparison(outcome: ingest.Outcome, results: pd.DataFrame, by: list[str]) -> None:
    """The analyst's estimates beside the published pooled ones under the same definition."""
    definition = ingest.matching_definition(outcome)
    compare_by = [g for g in by if g in aggregate.COMPARABLE_GROUPS]
    if definition is None:
        st.info(f"No published definition matches {outcome.label}: choose one in the sidebar "
                "('Start from a published definition') to compare.", icon=":material/info:")
        return
    studies = ui.studies_or_stop()
    published = aggregate.pool_groups(
        aggregate.filter_studies(studies, definition=definition.id, status=schema.DEFAULT_STATUS),
        by=compare_by)
    if published.empty:
        st.info(f"No published estimate under {definition.label} ({schema.DEFAULT_STATUS}) to "
                "compare with.", icon=":material/info:")
        return
    if len(by) != len(compare_by):
        st.info("The comparison needs groups the published estimates share (age band, diet group): "
                "remove sex from the groups to compare.", icon=":material/info:")
    else:
        comparison = aggregate.compare_with_published(results, published, compare_by)
        st.dataframe(comparison, hide_index=True, width="stretch")
        st.caption(f"Published: random-effects pooled estimates of studies under "
                   f"{definition.label} (status {schema.DEFAULT_STATUS}; REML, 95% CI; k studies, "
                   "n people), from the bundled studies table. Yours: the design-based estimates "
                   "above.")
        ui.render_downloads(comparison, "your-data-vs-published")


# --- page ----------------------------------------------------------------------------------

st.title("Your data")
st.markdown(
    "Upload your own survey microdata (one row per person with a biomarker value, and "
    "optionally age, sex, diet group, supplement use, sampling weight, stratum and PSU) or a "
    "prevalence table (one row per group with n and cases or prevalence). The estimates "
    "respect the survey design and use the same charts and tables as the published evidence."
)
st.caption(
    ":material/lock: Your files are held in this session's memory on the server: never "
    "written to disk, logged or shared with other sessions. Removing a file releases it at "
    f"once; closing the tab releases everything within {2 * server.RELEASE_SECONDS} seconds "
    "(the server keeps a closed tab's session for "
    f"{server.RELEASE_SECONDS} s in case it reconnects). A Share link carries the view and "
    "the file's fingerprint, never the data."
)

view = state.read(PAGE)

# Definition, bands and grouping live in the URL; a link may name values this page cannot use.
unit_options = _use_measured_marker()
_render_sidebar(unit_options)
typed_bands = st.session_state.get("bands")
uploaded = _render_uploader()
upload = _render_merge(_read_files(uploaded))
linked_fp = _linked_fingerprint(view, upload)
view = state.write(view)
with st.sidebar:
    state.render_share(view)
_render_band_notice(view, typed_bands)
outcome = ingest.Outcome(view["marker"], OPERATORS[view["op"]], float(view["cut"]), view["unit"])
groups = list(view["grp"])

if upload is None:
    _render_no_file(linked_fp, uploaded, _view_words(outcome, groups, view))
    st.stop()
_render_file(upload, linked_fp)

st.subheader("Columns")
kind = _render_kind(upload)
proposal = ingest.propose_mapping(upload.frame, kind)
tag = f"{upload.fingerprint}_{kind}"
found, biomarkers, pressed = _render_mapping_form(upload, kind, proposal, tag)
if not _confirmed(tag, pressed):
    st.stop()
labels = _render_labels(upload, kind, proposal, found, tag)
mapping = ingest.ColumnMapping(kind=kind, biomarkers=biomarkers, labels=labels,
                               notes=proposal.notes, **found)

if kind == "prevalence_table":
    _render_table_results(upload, mapping, groups)
    st.stop()

estimates = _estimate(upload, mapping, outcome, view, groups)
by, results = estimates.by, estimates.results
_render_estimate_notes(upload, estimates)
population = f"{html.escape(upload.filename)}, {estimates.people:,} people"  # a Plotly title
source = _source_note(upload, mapping)
st.subheader(f"Prevalence of {outcome.label}")
if results.empty:
    st.warning("No person falls into any group: check the groups and the age bands.",
               icon=":material/filter_alt_off:")
    st.stop()
_render_prevalence(results, by, outcome, population, source)
st.subheader("Age-standardised prevalence")
_render_standardized(estimates.standardized, by, view, outcome, population, source)
st.subheader("Compared with the published pooled estimates")
_render_comparison(outcome, results, by)
