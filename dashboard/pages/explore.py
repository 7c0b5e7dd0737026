"""Explore page: every filter, three views of the evidence beside the prevalence model's
estimates, and the filtered table to download."""

import streamlit as st

from dashboard import aggregate, charts, schema, state, tables, ui

# Chart views (URL parameter `view`) and their labels.
VIEWS: dict[str, str] = {
    "bars": "Grouped bars",
    "heatmap": "Age x diet heatmap",
    "dots": "Study dots",
}
# Columns of the filtered table, in the order shown and downloaded.
TABLE_COLUMNS: tuple[str, ...] = tables.EXPLORE_COLUMNS  # the /api/explore.csv columns

st.title("Explore the evidence")
st.markdown(
    "Narrow the published estimates with the filters in the sidebar, switch between views, and "
    "download exactly the rows shown. The link in **Share** reproduces this view."
)

studies = ui.studies_or_stop()

view = state.read("explore", ui.filter_choices(studies))
ui.render_filters("explore", studies, view)
st.radio(state.PARAMS["view"].label, list(VIEWS), key="view", format_func=VIEWS.get,
         horizontal=True)
view = state.write(view)
state.render_share(view)

rows = ui.estimate_rows(studies, view)
if rows.empty:
    ui.render_empty(view)
    ui.render_page_links(view)
    st.stop()

status = schema.STATUS_LABELS[view["status"]].lower()
population = ui.describe_population(view)
pooled = ui.per_view("explore_pooled", studies,
                     lambda: aggregate.pool_groups(rows, by=("age_band", "diet_group")), view)
modelled = ui.load_modelled(view)
cells = ui.per_view("overview_cells", studies, lambda: tables.overview_cells(modelled, view),
                    view)
if view["view"] == "dots":
    title = charts.chart_title(f"Published prevalence of {status} B12 status", view["def"], "%",
                               population)
    fig = ui.per_view("explore_figure", studies,
                      lambda: ui.figure(charts.study_dots_figure, rows, title), view)
    table = ui.per_view("explore_chart_table", studies, lambda: charts.figure_table(
        rows, ["first_author", "year", "country_iso3", "age_band", "diet_group", "prevalence",
               "interval_low", "n", "ci_source", "reliability"]), view)
    caption = (
        f"Each dot is one published estimate ({len(rows)} rows from "
        f"{rows['study_id'].nunique()} studies) with its 95% interval: as published where "
        "reported, else Wilson's score interval from n (Wilson 1927). Hollow dots: too "
        "imprecise under NCHS standards (Parker et al. 2017)."
    )
elif pooled.empty:
    fig = None
    st.warning(
        f"None of the {len(rows)} matching rows can be pooled (they lack n or cases); choose "
        "the Study dots view to see them.", icon=":material/filter_alt_off:",
    )
else:
    title = charts.chart_title(f"Pooled prevalence of {status} B12 status", view["def"], "%",
                               population)
    if view["view"] == "heatmap":
        fig = ui.per_view("explore_figure", studies,
                          lambda: ui.figure(charts.heatmap_figure, pooled, title), view)
    elif cells is None:
        fig = ui.per_view("explore_figure", studies,
                          lambda: ui.figure(charts.prevalence_bars_figure, pooled, title), view)
    else:
        title = charts.chart_title(f"Prevalence of {status} B12 status", view["def"], "%",
                                   population)
        fig = ui.per_view("explore_figure", studies, lambda: ui.figure(
            charts.observed_modelled_figure, pooled, cells, title,
            subtitle=f"Modelled for {modelled.population.describe()}"), view)
    table = ui.per_view("explore_chart_table", studies, lambda: charts.figure_table(
        pooled, ["age_band", "diet_group", "estimate", "ci_low", "pi_low", "k", "n_estimates",
                 "n_total", "reliability"]), view)
    caption = (
        f"Random-effects pooled prevalence (REML, logit scale) with 95% confidence intervals, "
        f"from {int(pooled['n_estimates'].sum())} estimates that share no people, of the "
        f"{len(rows)} rows shown below. "
        f"{aggregate.describe_pattern(pooled)}"
    )
    if view["view"] == "heatmap":
        caption += (" Colours: one fixed scale for every definition and filter, 0-100% in "
                    "classes 0-5, 5-10, 10-20, 20-30, 30-50 and 50-100%, so a colour means the "
                    "same prevalence in every view.")
    if view["view"] == "bars" and cells is not None:
        caption = (f"Dots: {caption[0].lower()}{caption[1:]} Bars: the prevalence model's "
                   "estimate with its 95% interval; hatched grey bars are not estimable.")
if fig is not None:
    ui.render_figure(fig, table, key=f"explore_{view['view']}", caption=caption)

st.header(f"{charts.POOLED_NAME} and {charts.MODELLED_NAME.lower()}, cell by cell")
if cells is None:
    st.caption(f"No modelled figures: {modelled}.")
else:
    comparison = ui.per_view("explore_comparison", studies,
                             lambda: aggregate.compare_observed_modelled(pooled, cells), view)
    st.dataframe(ui.per_view("explore_modelled_table", studies,
                             lambda: charts.modelled_table(comparison), view),
                 hide_index=True, width="stretch", key="explore_modelled")
    st.caption(
        f"Modelled for {modelled.population.describe()}: the prevalence model's estimate "
        "with the 95% interval of that population's prevalence, and the independent studies "
        "behind it (of the group, at its ages, in its places). 'not estimable': the model "
        "would extrapolate beyond its data. Survey years and minimum n narrow the published "
        "pools only."
    )
    ui.render_downloads(comparison, f"b12-pooled-modelled-{view['def']}-{view['status']}")

st.header("Filtered estimates")
st.caption(
    f"{len(rows)} rows from {rows['study_id'].nunique()} studies: "
    f"{ui.describe_filters(view)}. Prevalence and interval are fractions (0-1) in the "
    "downloads. Rows marked 'display' lack n or cases and are shown but not pooled."
)
ui.render_study_table(ui.per_view("explore_table", studies, lambda: tables.explore_table(rows),
                                  view), TABLE_COLUMNS, key="explore_table",
                      filename=f"b12-estimates-{view['def']}-{view['status']}")

st.divider()
ui.render_page_links(view)
