"""Overview page: headline figures and prevalence by age band x diet group, each as the pool
of published studies beside the prevalence model's estimate for the same people."""

import streamlit as st

from dashboard import aggregate, charts, schema, state, tables, ui
from dashboard.format import format_estimate

# Columns of the chart's table alternative (aggregate.pool_groups output).
TABLE_COLUMNS = ("age_band", "diet_group", "estimate", "ci_low", "pi_low", "k", "n_estimates",
                 "n_total", "reliability", "study_ids")

st.title("B12 Risk Atlas")
st.markdown(
    "How common low vitamin B12 status is by age, diet, sex and country. **Published studies, "
    "pooled** is what the studies matching the filters found; **Modelled** is the prevalence "
    "model's estimate for the population of the chosen places, which borrows strength from "
    "every study. Every figure carries its 95% interval and the studies behind it."
)

studies = ui.studies_or_stop()

view = state.read("overview", ui.filter_choices(studies))
ui.render_filters("overview", studies, view)
view = state.write(view)
state.render_share(view)

rows = tables.filter_rows(studies, view)
status = schema.STATUS_LABELS[view["status"]].lower()
if rows.empty:
    ui.render_empty(view)
    ui.render_page_links(view)
    ui.render_profile_link(view)
    st.stop()

# --- headline estimates ----------------------------------------------------------------------
headlines = aggregate.estimate_headlines(rows)
modelled = ui.load_modelled(view)
model_ok = isinstance(modelled, aggregate.ModelledCells)
view_bands = [b for b in view["age"] if b in schema.AGE_BAND_LABELS] or None


def render_modelled(label: str, diet: str, bands: tuple[str, ...] | None) -> None:
    """The model's estimate for a headline's group, for the view's population and ages."""
    chosen = [b for b in (bands or schema.AGE_BAND_LABELS) if not view_bands or b in view_bands]
    cell = aggregate.combine_modelled(modelled, diet, chosen) if model_ok and chosen else None
    if cell is None:
        st.metric(f"Modelled: {label}", "no estimate",
                  help=modelled if isinstance(modelled, str) else "Outside the view's ages.")
    elif not cell["estimable"]:
        st.metric(f"Modelled: {label}", "not estimable",
                  help="The model has no estimates of this group near these ages.")
    else:
        st.metric(f"Modelled: {label}", f"{100 * cell['estimate']:.1f}%")
        st.caption(format_estimate(cell["estimate"], cell["ci_low"], cell["ci_high"]))
        st.caption(f"Studies behind it: {cell['support_diet']} of this group, "
                   f"{cell['support_age']} at these ages, {cell['support_location']} in "
                   "these places.")


def render_headline(container, pool: aggregate.PooledSubset | None, label: str,
                    model_label: str, diet: str, bands: tuple[str, ...] | None) -> None:
    """One pooled subset as a metric with its interval, population, definition and sources,
    and the model's estimate for the same group below it."""
    with container.container(border=True):
        st.markdown(f"**{charts.POOLED_NAME}**")
        render_pool(pool, label)
        st.markdown(f"**{charts.MODELLED_NAME}**")
        render_modelled(model_label, diet, bands)


def render_pool(pool: aggregate.PooledSubset | None, label: str) -> None:
    """One pooled subset as a metric with its interval, population, definition and sources."""
    if pool is None:
        st.metric(label, "no data", help="No poolable study matches this group and filter.")
        return
    st.metric(pool.label, f"{100 * pool.estimate:.1f}%",
              help="Studies: " + "; ".join(pool.citations))
    st.caption(format_estimate(pool.estimate, pool.ci_low, pool.ci_high))
    st.caption(
        f"{status.capitalize()}, {pool.definition_label}. Random-effects pool of "
        f"{pool.n_estimates} estimates from {pool.k} studies, n = "
        f"{pool.n_total:,}{ui.marked_note(pool.n_marked, pool.n_estimates)}. "
        f"{ui.reliability_note(pool.reliability)}"
    )


columns = st.columns(4)
render_headline(columns[0], headlines.overall, "All poolable studies",
                "general population", "general", None)
render_headline(columns[1], headlines.older_adults, "General population aged 60+",
                "general population aged 60+", "general", ("60-79", "80+"))
render_headline(columns[2], headlines.vegans, "Vegans, all ages", "vegans", "vegan", None)
with columns[3].container(border=True):
    st.markdown(f"**{charts.POOLED_NAME}**")
    contrast = headlines.vegans_vs_omnivores
    if contrast is None:
        st.metric("Vegans vs omnivores", "no data",
                  help="Needs poolable studies of both vegans and omnivores.")
    else:
        st.metric("Vegans vs omnivores", f"{100 * contrast.difference:+.1f} points",
                  help="Unadjusted: the two pools come from different studies.")
        st.caption(
            f"Difference {100 * contrast.difference:+.1f} percentage points (95% CI "
            f"{100 * contrast.difference_low:+.1f} to {100 * contrast.difference_high:+.1f}); "
            f"ratio {contrast.ratio:.2f} (95% CI {contrast.ratio_low:.2f}-"
            f"{contrast.ratio_high:.2f})."
        )
        st.caption(
            f"Vegans {100 * contrast.first.estimate:.1f}% (n = {contrast.first.n_total:,}) vs "
            f"omnivores {100 * contrast.second.estimate:.1f}% (n = {contrast.second.n_total:,})"
            ", all ages; unadjusted, since the pools come from different studies."
        )
    st.markdown(f"**{charts.MODELLED_NAME}**")
    model_contrast = (aggregate.contrast_modelled(modelled, "vegan", "omnivore", view_bands)
                      if model_ok else None)
    if model_contrast is None:
        st.metric("Modelled: vegans vs omnivores", "no estimate",
                  help=modelled if isinstance(modelled, str) else "Outside the view.")
    elif not model_contrast["estimable"]:
        st.metric("Modelled: vegans vs omnivores", "not estimable",
                  help="The model has no estimates of vegans or omnivores near these ages.")
    else:
        st.metric("Modelled: vegans vs omnivores",
                  f"{100 * model_contrast['difference']:+.1f} points")
        st.caption(
            f"Difference {100 * model_contrast['difference']:+.1f} percentage points (95% CI "
            f"{100 * model_contrast['ci_low']:+.1f} to {100 * model_contrast['ci_high']:+.1f})"
            "; the same people, ages and places, so adjusted."
        )
if model_ok:
    st.caption(f"Modelled for {modelled.population.describe()}; the view's ages apply, "
               "survey years and minimum n only narrow the published pools.")
else:
    st.caption(f"No modelled figures: {modelled}.")

# --- main chart ------------------------------------------------------------------------------
st.subheader("Prevalence by age band and diet group: pooled and modelled")
pooled = tables.overview_pooled(rows)
if pooled.empty:
    st.warning(
        f"None of the {len(rows)} matching rows can be pooled (they lack n or cases): see "
        "them on the Explore page.", icon=":material/filter_alt_off:",
    )
else:
    st.markdown(f"**{aggregate.describe_pattern(pooled)}**")
    title = charts.chart_title(f"Pooled prevalence of {status} B12 status", view["def"], "%",
                               ui.describe_population(view))
    cells = tables.overview_cells(modelled, view)
    if cells is None:
        fig = ui.figure(charts.prevalence_bars_figure, pooled, title)
        table = charts.figure_table(pooled, TABLE_COLUMNS)
    else:
        title = charts.chart_title(f"Prevalence of {status} B12 status", view["def"], "%",
                                   ui.describe_population(view))
        fig = ui.figure(charts.observed_modelled_figure, pooled, cells, title,
                        subtitle=f"Modelled for {modelled.population.describe()}")
        # The numbers of /api/overview.csv, formatted for reading.
        table = charts.modelled_table(tables.overview_table(pooled, cells))
    ui.render_figure(
        fig, table, key="overview_bars",
        caption=(
            "Dots: random-effects pooled prevalence of published studies (REML, logit scale) "
            "with 95% confidence intervals; hover for n, number of estimates and NCHS "
            "reliability (Parker et al. 2017). Bars: the prevalence model (one meta-regression "
            "over all serum B12 evidence, Methods) for "
            + (modelled.population.describe() if model_ok else "no population")
            + ", with 95% intervals of that population's prevalence and the studies behind "
            "it; hatched grey bars are not estimable (the model would extrapolate). "
            "Source: published studies in the Methods & sources reference list."
        ),
    )

st.divider()
st.markdown("**Look further**, keeping these filters:")
ui.render_page_links(view)
ui.render_profile_link(view)
