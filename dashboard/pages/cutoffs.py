"""Cutoffs page: the same populations under alternative definitions, how far they move, and
the prevalence model's share below any serum B12 cut-off."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import aggregate, charts, schema, state, tables, ui

# Shared filters that narrow the populations compared; definition and status do not apply,
# since the page shows every definition (and the status each study gives it).
FILTERS: tuple[str, ...] = ("sex", "age", "diet", "country", "region", "years", "undated",
                            "supp", "minn")

st.title("Cutoffs")
st.markdown(
    "Some studies report the same people under several cut-offs. Side by side they show how "
    "much the choice of definition alone moves the prevalence: the **spread** is the highest "
    "minus the lowest prevalence of one population, in percentage points."
)

studies = ui.studies_or_stop()

choices = tables.page_choices("cutoffs", studies)
view = state.read("cutoffs", choices)
ui.render_filters("cutoffs", studies, view, names=FILTERS)
with st.sidebar:
    st.multiselect(state.PARAMS["defs"].label, choices["defs"], key="defs",
                   format_func=aggregate.definition_label, placeholder="All reported",
                   help="Compare only these definitions; a population needs two of them.")
    st.slider(state.PARAMS["mcut"].label, float(state.PARAMS["mcut"].lo),
              float(state.PARAMS["mcut"].hi), step=1.0, key="mcut",
              help="Any serum B12 cut-off: the model's crosswalk gives the share below it.")
view = state.write(view)
state.render_share(view)

comparison = ui.per_view("cutoffs_comparison", studies,
                         lambda: tables.cutoffs_comparison(studies, view), view)
population = ui.describe_population(view)
chosen = ", ".join(aggregate.definition_label(d) for d in view["defs"]) or "all definitions"
if comparison.empty:
    st.warning(
        f"No population in this selection is reported under two or more definitions "
        f"({population}; definitions: {chosen}). Widen or clear a filter in the sidebar.",
        icon=":material/filter_alt_off:",
    )
else:
    spreads = ui.per_view("cutoffs_spreads", studies, lambda: comparison.drop_duplicates(
        "population_id").sort_values("spread", ascending=False), view)
    widest = spreads.iloc[0]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Populations", len(spreads), help="Strata reported under two or more definitions.")
    c2.metric("Studies", comparison["study_id"].nunique())
    c3.metric("Median spread", f"{100 * spreads['spread'].median():.1f} pp",
              help="Half the populations move by more than this when the cut-off changes.")
    c4.metric("Largest spread", f"{100 * widest['spread']:.1f} pp", help=widest["population_label"])

    st.header("The same people under several definitions")
    fig = ui.per_view("cutoffs_figure", studies, lambda: ui.figure(
        charts.cutoffs_figure, comparison,
        "Prevalence of low B12 status under alternative definitions (%)",
        subtitle=f"Published estimates; {population}; definitions: {chosen}"), view)
    ui.render_figure(
        fig,
        ui.per_view("cutoffs_chart_table", studies, lambda: charts.figure_table(
            comparison, ["population_label", "definition_label", "status", "prevalence",
                         "ci_low", "ci_high", "n", "spread"]), view),
        key="cutoffs",
        caption=(
            "Each row is one study population; each dot its published prevalence under one "
            "definition, with the reported 95% CI where the publication gives one; the grey bar "
            "spans the spread. Differences mix the cut-off with the status each author attached "
            "to it (see the table) and are not pooled."
        ),
    )

    st.subheader("Spread by population")
    st.dataframe(
        ui.per_view("cutoffs_spread_table", studies, lambda: spreads[
            ["population_label", "n_definitions", "spread"]].assign(
                spread=lambda f: 100 * f["spread"]), view),
        hide_index=True,
        width="stretch",
        column_config={
            "population_label": st.column_config.TextColumn("Population", width="large"),
            "n_definitions": st.column_config.NumberColumn("Definitions"),
            "spread": st.column_config.NumberColumn("Spread (percentage points)", format="%.1f"),
        },
    )

    st.subheader("Estimates compared")
    table = ui.per_view("cutoffs_table", studies, lambda: tables.cutoffs_table(comparison),
                        view)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "population_label": st.column_config.TextColumn("Population", width="large"),
            "country_iso3": "Country",
            "definition": "Definition id",
            "definition_label": st.column_config.TextColumn("Definition", width="medium"),
            "status": "Status",
            "prevalence": st.column_config.NumberColumn("Prevalence", format="percent"),
            "ci_low": st.column_config.NumberColumn("95% CI low", format="percent"),
            "ci_high": st.column_config.NumberColumn("95% CI high", format="percent"),
            "n": st.column_config.NumberColumn("n", format="localized"),
            "n_definitions": st.column_config.NumberColumn("Definitions"),
            "spread": st.column_config.NumberColumn("Spread", format="percent"),
            "study_id": "Study id",
        },
    )
    ui.render_downloads(table, "b12_cutoffs")
    st.caption(
        "Prevalence, interval and spread are fractions in the downloads (0.12 = 12%). Source: "
        "the publications named in each row (Methods & sources lists them with DOI and PMID)."
    )

# --- age x diet under each definition, on one colour scale ---------------------------------
st.header("Age and diet under each definition")
panels = ui.per_view("cutoffs_panels", studies, lambda: (
    ui.pooled_by_cutoff(view).loc[lambda p: p["definition"].isin(view["defs"])]
    if view["defs"] else ui.pooled_by_cutoff(view)), view)
if panels.empty:
    st.warning(f"No published estimate below a serum B12 cut-off in this selection "
               f"({population}; definitions: {chosen}).", icon=":material/filter_alt_off:")
else:
    fig = ui.per_view("cutoffs_panels_figure", studies, lambda: ui.figure(
        charts.cutoff_panels_figure, panels,
        "Pooled prevalence below each cut-off, by age band and diet group",
        subtitle=f"Published studies; {population}"), view)
    ui.render_figure(
        fig,
        ui.per_view("cutoffs_panels_table", studies, lambda: charts.figure_table(
            panels, ["definition_label", "age_band", "diet_group", "estimate", "ci_low", "k",
                     "n_total", "reliability"]), view),
        key="cutoffs_panels",
        caption=(
            f"One panel per definition ({panels['definition'].nunique()}), each an age band "
            "x diet group grid of the random-effects pool of the published estimates below "
            "that serum B12 cut-off, whatever status their authors gave it. Every panel has "
            "the same rows, columns and fixed colour scale (0-5, 5-10, 10-20, 20-30, 30-50 "
            "and 50-100%), so a cell reads across definitions; cells give the percent, the "
            "hover and the table its 95% CI; blank: no estimate."
        ),
    )

# --- any cut-off, from the model's crosswalk ------------------------------------------------
st.header("Any cut-off: the modelled share below it")
cut = view["mcut"]
diets = [d for d in view["diet"] if d in aggregate.MODELLED_DIETS] or ["general"]
grid = ui.load_modelled(view, diets=diets, cutoffs=aggregate.CUTOFF_GRID)
at_model = ui.load_modelled(view, diets=diets, cutoffs=(cut,))
if isinstance(at_model, str) or isinstance(grid, str):
    st.warning(f"No modelled figures: {at_model if isinstance(at_model, str) else grid}.",
               icon=":material/filter_alt_off:")
else:
    at_cut = ui.per_view("cutoffs_at_cut", studies, lambda: aggregate.select_cells(
        aggregate.summarize_modelled(at_model), view["age"]), view)
    who = at_model.population.describe()

    def curves_figure():
        """The model's curves and the published pools below each cut-off, as a figure."""
        curves = aggregate.select_cells(
            pd.concat([aggregate.summarize_modelled(grid), at_cut]), view["age"])
        observed = aggregate.select_cells(
            ui.pooled_by_cutoff(view),
            [b for b in schema.AGE_BAND_LABELS if not view["age"] or b in view["age"]], diets)
        return ui.figure(charts.cutoff_curves_figure, curves, observed, cut,
                         "Share with serum B12 below a cut-off, by age band (%)",
                         subtitle=f"Modelled for {who}; diamonds: published definitions, "
                         "pooled")

    fig = ui.per_view("cutoffs_curves_figure", studies, curves_figure, view)
    at_cut_table = ui.per_view("cutoffs_at_cut_table", studies,
                               lambda: charts.cutoff_table(at_cut, cut), view)
    ui.render_figure(
        fig, at_cut_table, key="cutoffs_model",
        caption=(
            "Lines: the prevalence model's share below each cut-off (its crosswalk: the "
            "log cut-off is one term of the meta-regression, learnt from studies reporting "
            "several cut-offs), with 95% intervals of the population's prevalence; dotted "
            "lines are not estimable. Diamonds: random-effects pools of the published "
            "estimates below each definition's cut-off, whatever status their authors gave "
            f"it, for the same age bands and {', '.join(diets)} groups. Modelled for {who}."
        ),
    )
    st.dataframe(at_cut_table, hide_index=True, width="stretch",
                 key="cutoffs_at_cut")

ui.render_page_links(view)
