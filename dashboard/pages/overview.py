"""Overview page: headline pooled figures and prevalence by age band x diet group."""

import streamlit as st

from dashboard import aggregate, charts, schema, state, tables, ui
from dashboard.format import format_estimate

# Columns of the chart's table alternative (aggregate.pool_groups output).
TABLE_COLUMNS = ("age_band", "diet_group", "estimate", "ci_low", "pi_low", "k", "n_estimates",
                 "n_total", "reliability", "study_ids")

st.title("B12 Risk Atlas")
st.markdown(
    "How common low vitamin B12 status is by age, diet, sex and country, pooled from published "
    "studies. Every figure carries its 95% interval, the studies behind it and their size."
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
    st.stop()

# --- headline estimates ----------------------------------------------------------------------
headlines = aggregate.estimate_headlines(rows)


def render_headline(container, pool: aggregate.PooledSubset | None, label: str) -> None:
    """One pooled subset as a metric with its interval, population, definition and sources."""
    with container.container(border=True):
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
render_headline(columns[0], headlines.overall, "All poolable studies")
render_headline(columns[1], headlines.older_adults, "General population aged 60+")
render_headline(columns[2], headlines.vegans, "Vegans, all ages")
with columns[3].container(border=True):
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

# --- main chart ------------------------------------------------------------------------------
st.subheader("Pooled prevalence by age band and diet group")
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
    fig = ui.figure(charts.prevalence_bars_figure, pooled, title)
    ui.render_figure(
        fig, charts.figure_table(pooled, TABLE_COLUMNS), key="overview_bars",
        caption=(
            "Random-effects pooled prevalence (REML, logit scale) with 95% confidence intervals;"
            " hover for n, number of estimates and NCHS reliability (Parker et al. 2017). "
            "Source: published studies in the Methods & sources reference list."
        ),
    )

st.divider()
st.markdown("**Look further**, keeping these filters:")
ui.render_page_links(view)
