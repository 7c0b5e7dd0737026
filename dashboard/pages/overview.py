"""Overview page: headline figures and prevalence by age band x diet group, each as the pool
of published studies beside the prevalence model's estimate for the same people."""

import streamlit as st

from dashboard import aggregate, charts, schema, state, tables, ui
from dashboard.format import (
    format_difference,
    format_difference_interval,
    format_estimate,
    format_interval,
)

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

rows = ui.filter_rows(studies, view)
status = schema.STATUS_LABELS[view["status"]].lower()
if rows.empty:
    ui.render_empty(view)
    ui.render_page_links(view)
    ui.render_profile_link(view)
    st.stop()

# --- headline estimates ----------------------------------------------------------------------
headlines = ui.per_view("overview_headlines", studies,
                         lambda: aggregate.estimate_headlines(rows), view)
modelled = ui.load_modelled(view)
model_ok = isinstance(modelled, aggregate.ModelledCells)
view_bands = [b for b in view["age"] if b in schema.AGE_BAND_LABELS] or None


def render_modelled(label: str, diet: str, bands: tuple[str, ...] | None) -> None:
    """The model's estimate for a headline's group, for the view's population and ages."""
    chosen = [b for b in (bands or schema.AGE_BAND_LABELS) if not view_bands or b in view_bands]
    cell = ui.per_view("overview_modelled", studies,
                       lambda: aggregate.combine_modelled(modelled, diet, chosen), view, diet,
                       tuple(chosen)) if model_ok and chosen else None
    if cell is None:
        st.metric(f"Modelled: {label}", "no estimate",
                  help=modelled if isinstance(modelled, str) else "Outside the view's ages.")
        return
    if not cell["estimable"]:
        st.metric(f"Modelled: {label}", "not estimable",
                  help="The model has no estimates of this group near these ages.")
        return
    # The model's figure leans on the studies of this group and of these ages: fewer than
    # three of either make it as thin as a pool of as few studies.
    support = min(cell["support_diet"], cell["support_age"])
    ui.render_headline_figure(f"Modelled: {label}", f"{100 * cell['estimate']:.1f}%",
                              aggregate.assess_headline(support))
    st.caption(format_estimate(cell["estimate"], cell["ci_low"], cell["ci_high"]))
    st.caption(f"Studies behind it: {cell['support_diet']} of this group, "
               f"{cell['support_age']} at these ages, {cell['support_location']} in "
               "these places.")


def render_pool(pool: aggregate.PooledSubset | None, label: str) -> None:
    """One pooled subset: its figure (a metric only when the evidence holds it), k studies
    and n, the 95% CI beside the prediction interval, definition, reliability and sources."""
    if pool is None:
        st.metric(label, "no data", help="No poolable study matches this group and filter.")
        return
    ui.render_headline_figure(pool.label, f"{100 * pool.estimate:.1f}%",
                              aggregate.assess_headline(pool.k, pool.reliability),
                              help="Studies: " + "; ".join(pool.citations))
    studies_word = "study" if pool.k == 1 else "studies"
    st.markdown(f"k = {pool.k} {studies_word}, n = {pool.n_total:,}")
    st.caption(
        f"95% CI {format_interval(pool.ci_low, pool.ci_high)}; 95% prediction interval "
        f"{format_interval(pool.pi_low, pool.pi_high)} (where a new study's figure would "
        "fall)."
    )
    st.caption(
        f"{status.capitalize()}, {pool.definition_label}. Random-effects pool of "
        f"{pool.n_estimates} estimates from {pool.k} {studies_word}"
        f"{ui.marked_note(pool.n_marked, pool.n_estimates)}. "
        f"{ui.reliability_note(pool.reliability)}"
    )


def render_headline(container, pool: aggregate.PooledSubset | None, label: str,
                    model_label: str, diet: str, bands: tuple[str, ...] | None) -> None:
    """One headline group: the pool of published studies and the model's estimate for the
    same group side by side, each labelled."""
    with container.container(border=True):
        pooled_side, modelled_side = st.columns(2)
        with pooled_side:
            st.markdown(f"**{charts.POOLED_NAME}**")
            render_pool(pool, label)
        with modelled_side:
            st.markdown(f"**{charts.MODELLED_NAME}**")
            render_modelled(model_label, diet, bands)


def render_contrast() -> None:
    """Vegans vs omnivores: the unadjusted difference of the two pools beside the model's
    adjusted one; a difference whose interval spans zero reads "no clear difference"."""
    contrast = headlines.vegans_vs_omnivores
    pooled_side, modelled_side = st.columns(2)
    with pooled_side:
        st.markdown(f"**{charts.POOLED_NAME}**")
        if contrast is None:
            st.metric("Vegans vs omnivores", "no data",
                      help="Needs poolable studies of both vegans and omnivores.")
        else:
            first, second = contrast.first, contrast.second
            weak = tuple(f"{name}: {reason}" for name, pool in (("vegans", first),
                                                                 ("omnivores", second))
                         for reason in aggregate.assess_headline(pool.k, pool.reliability))
            ui.render_headline_figure(
                "Vegans vs omnivores",
                format_difference(contrast.difference, contrast.difference_low,
                                  contrast.difference_high),
                weak, help="Unadjusted: the two pools come from different studies.")
            st.markdown(f"k = {first.k} + {second.k} studies, n = "
                        f"{first.n_total:,} + {second.n_total:,}")
            st.caption(
                f"Difference {100 * contrast.difference:+.1f} percentage points (95% CI "
                f"{format_difference_interval(contrast.difference_low, contrast.difference_high)}"
                f"); ratio {contrast.ratio:.2f} (95% CI {contrast.ratio_low:.2f}-"
                f"{contrast.ratio_high:.2f})."
            )
            st.caption(
                f"Vegans {100 * first.estimate:.1f}% vs omnivores {100 * second.estimate:.1f}%"
                ", all ages; unadjusted, since the pools come from different studies."
            )
    with modelled_side:
        st.markdown(f"**{charts.MODELLED_NAME}**")
        model_contrast = ui.per_view(
            "overview_contrast", studies,
            lambda: aggregate.contrast_modelled(modelled, "vegan", "omnivore", view_bands),
            view) if model_ok else None
        if model_contrast is None:
            st.metric("Modelled: vegans vs omnivores", "no estimate",
                      help=modelled if isinstance(modelled, str) else "Outside the view.")
        elif not model_contrast["estimable"]:
            st.metric("Modelled: vegans vs omnivores", "not estimable",
                      help="The model has no estimates of vegans or omnivores near these ages.")
        else:
            st.metric("Modelled: vegans vs omnivores",
                      format_difference(model_contrast["difference"], model_contrast["ci_low"],
                                        model_contrast["ci_high"]))
            st.caption(
                f"Difference {100 * model_contrast['difference']:+.1f} percentage points (95% CI "
                f"{format_difference_interval(model_contrast['ci_low'], model_contrast['ci_high'])}"
                "); the same people, ages and places, so adjusted."
            )


top = st.columns(2)
render_headline(top[0], headlines.overall, "All poolable studies",
                "general population", "general", None)
render_headline(top[1], headlines.older_adults, "General population aged 60+",
                "general population aged 60+", "general", ("60-79", "80+"))
bottom = st.columns(2)
render_headline(bottom[0], headlines.vegans, "Vegans, all ages", "vegans", "vegan", None)
with bottom[1].container(border=True):
    render_contrast()
if model_ok:
    st.caption(f"Modelled for {modelled.population.describe()}; the view's ages apply, "
               "survey years and minimum n only narrow the published pools. A figure from "
               f"fewer than {aggregate.MIN_HEADLINE_STUDIES} studies, or one the NCHS rules "
               "would suppress or flag, is shown as text marked "
               f"“{ui.THIN_EVIDENCE}”, not as a headline.")
else:
    st.caption(f"No modelled figures: {modelled}.")

# --- main chart ------------------------------------------------------------------------------
st.header("Prevalence by age band and diet group: pooled and modelled")
pooled = ui.per_view("overview_pooled", studies, lambda: tables.overview_pooled(rows), view)
if pooled.empty:
    st.warning(
        f"None of the {len(rows)} matching rows can be pooled (they lack n or cases): see "
        "them on the Explore page.", icon=":material/filter_alt_off:",
    )
else:
    st.markdown(f"**{aggregate.describe_pattern(pooled)}**")
    title = charts.chart_title(f"Pooled prevalence of {status} B12 status", view["def"], "%",
                               ui.describe_population(view))
    cells = ui.per_view("overview_cells", studies,
                        lambda: tables.overview_cells(modelled, view), view)
    if cells is None:
        fig = ui.per_view("overview_figure", studies,
                          lambda: ui.figure(charts.prevalence_bars_figure, pooled, title), view)
        table = ui.per_view("overview_table", studies,
                            lambda: charts.figure_table(pooled, TABLE_COLUMNS), view)
    else:
        title = charts.chart_title(f"Prevalence of {status} B12 status", view["def"], "%",
                                   ui.describe_population(view))
        fig = ui.per_view("overview_figure", studies, lambda: ui.figure(
            charts.observed_modelled_figure, pooled, cells, title,
            subtitle=f"Modelled for {modelled.population.describe()}"), view)
        # The numbers of /api/overview.csv, formatted for reading.
        table = ui.per_view("overview_table", studies, lambda: charts.modelled_table(
            tables.overview_table(pooled, cells)), view)
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
