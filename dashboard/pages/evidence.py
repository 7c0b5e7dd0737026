"""Evidence page: forest plot per subgroup with the random-effects pool, and the study table."""

import streamlit as st

from dashboard import aggregate, charts, evidence, schema, state, tables, ui

# Subgroups of the forest plot (URL parameter `by`) and their labels.
SUBGROUPS: dict[str, str] = {
    "age_band": "Age band",
    "diet_group": "Diet group",
    "sex": "Sex",
    "country": "Country",
}
METHODS: dict[str, str] = {
    "REML": "REML (restricted maximum likelihood)",
    "DL": "DerSimonian-Laird",
}
# Columns of the study table, in the order shown and downloaded: the citation and its links
# first, so a reader can find the paper; ids for cross-reference last.
TABLE_COLUMNS: tuple[str, ...] = tables.EVIDENCE_COLUMNS  # the /api/evidence.csv columns

st.title("Evidence")
st.markdown(
    "The studies behind each pooled figure: a forest plot per subgroup with the random-effects "
    "estimate, its prediction interval and heterogeneity, and every study with its source."
)

studies = ui.studies_or_stop()

view = state.read("evidence", ui.filter_choices(studies))
ui.render_filters("evidence", studies, view)
left, right = st.columns(2)
left.selectbox(state.PARAMS["by"].label, list(SUBGROUPS), key="by", format_func=SUBGROUPS.get)
right.radio(state.PARAMS["method"].label, list(METHODS), key="method", format_func=METHODS.get,
            horizontal=True,
            help="Estimator of the between-study variance tau2 (Viechtbauer 2005; "
            "DerSimonian & Laird 1986).")
view = state.write(view)
state.render_share(view)

rows = ui.estimate_rows(studies, view)
if rows.empty:
    ui.render_empty(view)
    ui.render_page_links(view)
    st.stop()

by = state.SUBGROUP_COLUMNS[view["by"]]
pooled = ui.per_view("evidence_pooled", studies,
                     lambda: aggregate.pool_groups(rows, by=(by,), method=view["method"]), view)
forest = ui.per_view("evidence_forest", studies,
                     lambda: aggregate.forest_rows(rows, pooled, (by,)), view)
status = schema.STATUS_LABELS[view["status"]].lower()

st.header(f"Forest plot by {SUBGROUPS[view['by']].lower()}")
if pooled.empty:
    st.warning(
        f"None of the {len(rows)} matching rows can be pooled (they lack n or cases); they "
        "are listed in the table below.", icon=":material/filter_alt_off:",
    )
else:
    ui.render_estimator_note(rows, pooled, by, view["method"], METHODS, studies=studies,
                             view=view)
    title = charts.chart_title(f"Prevalence of {status} B12 status by study", view["def"], "%",
                               ui.describe_population(view))
    fig = ui.per_view("evidence_figure", studies, lambda: ui.figure(
        charts.forest_figure, forest, pooled, title, by=by, weight="weight"), view)
    # on a phone: every row's label and numbers above its marker, the plot full width
    stacked = ui.per_view("evidence_figure_stacked", studies, lambda: ui.figure(
        charts.forest_figure, forest, pooled, title, by=by, weight="weight",
        layout="stacked"), view)
    ui.render_figure(
        fig,
        ui.per_view("evidence_chart_table", studies, lambda: charts.figure_table(
            pooled, [by, "estimate", "ci_low", "pi_low", "i2", "tau2", "k", "n_total",
                     "reliability", "study_ids"]), view),
        key=f"evidence_forest_{view['by']}",
        caption=(
            f"Each row is one of the {len(forest)} estimates pooled (a study's strata that "
            "share no people count separately), labelled by study and stratum, with its "
            "estimate [95% CI] (published, else Wilson), n and share of the pool's weight; "
            "squares are sized by that weight. Diamonds: random-effects pool on the logit "
            f"scale ({METHODS[view['method']]}) with its 95% CI; dotted line: 95% prediction "
            "interval for a new study (Higgins et al. 2009). I2 and tau2 (logit scale) "
            "measure heterogeneity."
        ),
        narrow=stacked,
    )

st.header("Studies")
st.caption(
    f"{len(rows)} estimates from {evidence.count_samples(rows)} independent studies "
    f"({rows['study_id'].nunique()} publications): "
    f"{ui.describe_filters(view)}. NCHS reliability per row (Parker et al. 2017) uses the "
    "reported n; 'display' rows lack n or cases and are not pooled."
)
ui.render_study_table(ui.per_view("evidence_table", studies,
                                  lambda: tables.evidence_table(rows), view),
                      TABLE_COLUMNS, key="evidence_table",
                      filename=f"b12-studies-{view['def']}-{view['status']}")

st.divider()
ui.render_page_links(view)
