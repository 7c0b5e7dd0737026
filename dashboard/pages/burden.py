"""Burden page: modelled number and share of people with low B12 status, by place and year."""

from __future__ import annotations

import streamlit as st

from dashboard import aggregate, burden, charts, schema, state, tables, ui
from dashboard.format import (
    format_count,
    format_interval,
    format_people_supported,
    format_percent,
)

MEASURE_LABELS: dict[str, str] = {"share": "Share of the population", "number": "Number of people"}
SUPPLEMENT_LABELS: dict[str, str] = {"all": "Everyone", **schema.DIET_LABELS}


def location_label(code: str, names: dict[str, str]) -> str:
    return f"{names[code]} ({code})" if code in names else code


# --- page --------------------------------------------------------------------------------------

st.title("Burden")
st.markdown(
    "How many people have low vitamin B12 status, **modelled** as population x diet share x "
    "the prevalence model's prediction for each country, age band and diet group (one "
    "meta-regression over all the evidence). Every figure is an estimate from the model, "
    "with its 95% uncertainty interval (UI); the assumptions are listed under the map."
)

studies, population, standards = ui.loaded_or_stop(ui.load_studies, ui.load_population,
                                                    ui.load_standard_populations)
build = ui.current_build()
table = ui.per_view("burden_locations", studies, lambda: burden.locations_table(population))
country_names = ui.per_view("burden_country_names", studies,
                            lambda: burden.country_names(table))

view = state.read("burden", ui.filter_choices(studies))
ui.render_filters("burden", studies, view, names=("def", "status"))
p = state.PARAMS
covered, refused = burden.split_locations(view["loc"], table)
overrides = tuple((d, float(view[f"x{d}"])) for d in state.SCENARIO_DIETS
                  if view[f"x{d}"] != 1.0)
limits = ui.per_view("burden_limits", studies, lambda: ui.burden_scenario_limits(
    build, overrides, tuple(covered)), overrides, tuple(covered))
location_options = [schema.WORLD, *schema.WPP_REGIONS, *schema.WPP_SUBREGIONS,
                     *sorted(country_names, key=country_names.get)]
# on_change: a rerun started by one of these keeps its value even if the URL it carries is
# a step behind (arrow keys on a slider pressed faster than the page reruns).
kept = {"on_change": state.widget_changed}
with st.sidebar:
    st.header("Burden")
    st.multiselect(p["loc"].label, [*location_options,
                                    *(v for v in view["loc"] if v not in location_options)],
                   key="loc", format_func=lambda c: location_label(c, country_names),
                   help="The World, a UN WPP region or subregion, or countries.", **kept)
    st.slider(p["year"].label, int(p["year"].lo), int(p["year"].hi), key="year",
              help=f"UN WPP 2022 estimates to {schema.WPP_LAST_ESTIMATE_YEAR}, medium-variant "
              "projections after.", **kept)
    st.selectbox(p["std"].label, list(schema.STANDARD_POPULATIONS), key="std",
                 format_func=schema.STANDARD_POPULATIONS.get,
                 help="Weights of the age-standardised prevalence.", **kept)
    st.radio(p["measure"].label, ["share", "number"], key="measure",
             format_func=MEASURE_LABELS.get, horizontal=True, **kept)
    st.subheader("Scenario: diet shares")
    for diet in state.SCENARIO_DIETS:
        st.number_input(p[f"x{diet}"].label, min_value=float(p[f"x{diet}"].lo),
                        max_value=float(p[f"x{diet}"].hi), step=0.1, key=f"x{diet}",
                        help="1 = as surveyed; 2 = twice the surveyed share. Omnivores take "
                        "up the difference. " + burden.describe_limit(limits[diet]), **kept)
    st.subheader("Scenario: supplementation")
    st.selectbox(p["sgrp"].label, list(state.SUPPLEMENT_GROUPS), key="sgrp",
                 format_func=SUPPLEMENT_LABELS.get, **kept)
    st.slider(p["scov"].label, 0.0, 1.0, step=0.05, key="scov",
              help="Share of the group taking a B12 supplement.", **kept)
    st.slider(p["seff"].label, 0.0, 1.0, step=0.05, key="seff",
              help="Relative reduction of low status among those covered (0: no effect).",
              **kept)
view = state.write(view)
state.render_share(view)
if ui.describe_population(view) != ui.describe_population(state.default_state("burden")):
    st.caption(f"The evidence filters of the other pages ({ui.describe_population(view)}) are "
               "kept in the link but not applied here: the model is fitted on every study and "
               "predicts the general population (both sexes).")

definition, status, year, measure = view["def"], view["status"], view["year"], view["measure"]
overrides, supplementation = tables.burden_scenario(view)
definition_text = (f"{aggregate.definition_label(definition)}, "
                   f"{schema.STATUS_LABELS[status].lower()}")
status_text = f"{schema.STATUS_LABELS[status]} status"

if refused:
    st.warning("Not modelled: " + "; ".join(refused) + ".", icon=":material/location_off:")
if not covered:
    st.warning("None of the chosen locations can be modelled. Choose the World, a WPP region "
               "or subregion, or a country.", icon=":material/location_off:")
    st.stop()

try:
    model = ui.load_model(definition)
    burden.model_cutoffs(model, definition, status)
except ValueError as err:
    st.warning(f"The burden cannot be modelled for {definition_text}: {err}. Choose another "
               "definition or status in the sidebar.", icon=":material/filter_alt_off:")
    st.stop()
shares = ui.per_view("burden_shares", studies, lambda: ui.burden_share_model(build, overrides),
                     overrides)
capped = ui.per_view("burden_capped", studies, lambda: burden.capped_countries(shares),
                     overrides)
if capped:
    st.warning(burden.describe_capped(capped, country_names, dict(overrides),
                                      ui.burden_scenario_limits(build, (), tuple(covered))),
               icon=":material/vertical_align_top:")

headline, cells, share_by_diet, drivers = ui.per_view(
    "burden_summaries", studies, lambda: ui.burden_location_summaries(
        build, definition, status, overrides, supplementation, year, tuple(covered),
        view["std"]), view)
variant = ("UN WPP 2022 estimate" if year <= schema.WPP_LAST_ESTIMATE_YEAR
           else "UN WPP 2022 medium-variant projection")

# --- headline ----------------------------------------------------------------------------------
st.header(f"People with low B12 status in {year} (modelled)")
for r in headline.itertuples():
    st.markdown(f"**{r.location}**: population {format_count(r.population)} "
                f"({variant}); {definition_text}.")
    if not r.estimable:
        st.warning(f"{r.location}: not estimable. {charts.NOT_ESTIMABLE_TEXT.capitalize()} "
                   "(ages, diet groups or cut-off without estimates near them); the figures "
                   "below are extrapolations.", icon=":material/warning:")
    # k: the independent studies in the location itself; fewer than three and the figure
    # leans on its region and the fixed effects, so it is marked, not a headline.
    k = burden.location_studies(drivers, r.location)
    weak = aggregate.assess_headline(k)
    st.markdown(f"k = {k} {'study' if k == 1 else 'studies'} in {r.location} behind the "
                "model's figures")
    if weak:
        ui.render_thin_evidence(weak)
    c1, c2, c3 = st.columns(3)
    cases, cases_ui = format_people_supported(r.cases, r.cases_low, r.cases_high)
    with c1:
        ui.render_headline_figure(
            "People affected (modelled)", cases, weak,
            help="Population x diet share x modelled prevalence, summed over ages and diets "
            "(a region: over its countries); rounded to what its interval supports.",
            marked=False)
        st.caption(f"95% UI {cases_ui} persons")
    with c2:
        ui.render_headline_figure("Crude prevalence (modelled)", format_percent(r.crude), weak,
                                  marked=False)
        st.caption(f"95% UI {format_interval(r.crude_low, r.crude_high)}")
    with c3:
        ui.render_headline_figure("Age-standardised prevalence (modelled)",
                                  format_percent(r.age_standardized), weak, marked=False)
        st.caption(f"95% UI {format_interval(r.age_standardized_low, r.age_standardized_high)}"
                   f"; {r.standard_label}")

# --- map ---------------------------------------------------------------------------------------
st.header("World map")
world = ui.per_view("burden_world", studies, lambda: ui.burden_map_summary(
    build, definition, status, overrides, supplementation, year), view)
map_title = charts.chart_title(
    "Modelled " + ("prevalence in the general population" if measure == "share"
                   else "number of people") + " with low B12 status", definition,
    "%" if measure == "share" else "persons", f"every country, {year}")
ui.render_figure(
    ui.burden_map_figure(build, definition, status, overrides, supplementation, year, measure,
                         map_title, f"{status_text}; {variant}; modelled"),
    ui.per_view("burden_map_table", studies, lambda: charts.figure_table(
        world, ["location", "iso3", "population", "cases", "cases_low", "prevalence",
                "prevalence_low", "estimable", "support_country", "support_region"]), view),
    key="burden-map",
    caption="Modelled, not measured: each country's prevalence in its general population "
    "(its ages and diet mix, both sexes), with the 95% UI and the studies behind it in the "
    "hover; countries marked x are not estimable (the model extrapolates). Grey countries "
    "have no population figure. Natural Earth 1:110m outlines; boundaries imply no position "
    "on disputed territories.",
)
n_flagged = int((~world["estimable"].astype(bool)).sum())
if n_flagged:
    st.caption(f"{n_flagged} of {len(world)} countries not estimable for {definition_text}.")

# --- what drives this number -------------------------------------------------------------------
st.header("What drives this number")
st.markdown("The model terms that move each location's modelled prevalence, as odds ratios "
            "(above 1: more low status). Income group, region and country effects come from "
            "the fit; age structure and diet mix compare the location's figure with the same "
            "population at the standard's ages or with everyone omnivorous.")
for loc_name in headline["location"]:
    part = drivers.loc[drivers["location"] == loc_name]
    support = dict(zip(part["driver"].str.split().str[0], part["studies"], strict=True))
    st.markdown(f"**{loc_name}**: evidence behind it: {int(support['Country'])} independent "
                f"studies in {loc_name}, {int(support['Region'])} in its WPP region"
                f"{'' if loc_name in country_names.values() else 's'} (the model's "
                "support_country and support_region).")
    st.dataframe(
        part[["driver", "detail", "odds_ratio", "or_low", "or_high", "studies"]],
        hide_index=True, width="stretch", key=f"burden-drivers-{loc_name}",
        column_config={
            "driver": "Term", "detail": "For this location",
            "odds_ratio": st.column_config.NumberColumn("Odds ratio", format="%.2f"),
            "or_low": st.column_config.NumberColumn("95% CI low", format="%.2f"),
            "or_high": st.column_config.NumberColumn("95% CI high", format="%.2f"),
            "studies": st.column_config.NumberColumn("Studies", format="%d"),
        },
    )

# --- assumptions -------------------------------------------------------------------------------
sigma2 = ui.per_view("burden_sigma2", studies, lambda: dict(zip(
    model.variance_components()["level"], model.variance_components()["sigma2"], strict=True)),
    definition)
n_default, n_countries = ui.per_view("burden_defaults", studies,
                                     lambda: burden.count_default_countries(shares), overrides)
st.markdown("**Assumptions of the model**")
assumptions = [
    f"Prevalence: the prevalence model ({definition_text}; {len(model.data)} estimates) "
    "predicts every country x five-year age band x diet group for both sexes, supplement "
    "users included, not pregnant: age spline, diet, the country's World Bank income group "
    "and its region and country effects. Pescatarians have no estimate of their own and are "
    "predicted as omnivores; cells far from the data are flagged not estimable (hatched).",
    f"Uncertainty: {burden.DEFAULT_DRAWS} seeded joint draws: coefficients shared by every "
    "country, one region and one country effect per location (from its estimate where "
    "studies exist, from the fitted spread where not: region "
    f"sigma2 = {sigma2['region']:.3f}, country sigma2 = {sigma2['country']:.3f}); a region's "
    "or the world's interval is the 2.5th-97.5th percentiles of its countries' summed "
    "draws. Years share the prevalence (the model has no time trend).",
    f"Diet shares: the best survey per country (health or nutrition surveys first, then the "
    f"most recent); {n_default} of {n_countries} countries have "
    "no survey and take default shares, and groups a survey does not measure take defaults "
    "(table below).",
    "Diet shares are held constant over the years and applied to every age (surveys are of "
    "adults); a region's figures are the sums of its countries'.",
    f"Population: UN World Population Prospects 2022, estimates to "
    f"{schema.WPP_LAST_ESTIMATE_YEAR} and the medium variant from "
    f"{schema.WPP_LAST_ESTIMATE_YEAR + 1}; both sexes.",
]
if overrides:
    assumptions.append("Scenario: " + ", ".join(
        f"{schema.DIET_LABELS[d].lower()} share x{f:g}" for d, f in overrides)
        + "; omnivores take up the difference.")
if supplementation:
    supp = dict(supplementation)
    assumptions.append(
        f"Supplementation scenario: {100 * supp['coverage']:g}% of "
        f"{SUPPLEMENT_LABELS[view['sgrp']].lower()} covered, low status reduced by "
        f"{100 * supp['effect']:g}% among them (user-entered effect, not from studies).")
else:
    assumptions.append("No supplementation effect (the default).")
st.markdown("\n".join(f"- {a}" for a in assumptions))

# --- bars by age x diet -------------------------------------------------------------------------
st.header(f"By age and diet, {year}")
tabs = st.tabs(list(headline["location"])) if len(headline) > 1 else [st.container()]
for tab, loc_name in zip(tabs, headline["location"], strict=True):
    part = ui.per_view("burden_cells", studies,
                       lambda loc=loc_name: cells.loc[cells["location"] == loc], view,
                       loc_name)
    with tab:
        ui.render_figure(
            ui.per_view("burden_bars", studies, lambda part=part, loc=loc_name: ui.figure(
                charts.burden_bars_figure, part, charts.chart_title(
                    "Modelled " + ("share" if measure == "share" else "number")
                    + " with low B12 status", definition,
                    "%" if measure == "share" else "persons", f"{loc}, {year}"),
                measure=measure, subtitle=f"{status_text}; by age band and diet; modelled"),
                view, loc_name),
            ui.per_view("burden_bars_table", studies, lambda part=part: charts.figure_table(
                part, ["age_band", "diet_group", "population", "cases", "cases_low",
                       "prevalence", "prevalence_low", "estimable"]), view, loc_name),
            key=f"burden-bars-{loc_name}",
            caption="Modelled; bars are 95% UI; hatched bars are not estimable (the model "
            "extrapolates to that age and diet group). Assumptions as listed under the map.",
        )

# --- projection --------------------------------------------------------------------------------
st.header("Projection 2020-2050")
projection = ui.per_view("burden_projection", studies, lambda: ui.burden_projection_summary(
    build, definition, status, overrides, supplementation, tuple(covered)), view)
ui.render_figure(
    ui.per_view("burden_projection_figure", studies, lambda: ui.figure(
        charts.projection_figure, projection, charts.chart_title(
            "Modelled " + ("share" if measure == "share" else "number")
            + " with low B12 status", definition, "%" if measure == "share" else "persons",
            ", ".join(covered) + ", 2020-2050"),
        measure=measure, group="location",
        subtitle=f"{status_text}; modelled; band: 95% UI"), view),
    ui.per_view("burden_projection_table", studies, lambda: charts.figure_table(
        projection, ["location", "year", "population", "cases", "cases_low", "prevalence",
                     "prevalence_low"]), view),
    key="burden-projection",
    caption="Modelled: WPP population changes over time; diet shares and prevalence are held "
    "at today's values, so the projection shows the effect of population growth and ageing.",
)

# --- the inputs --------------------------------------------------------------------------------
st.header("Diet shares used")
st.dataframe(
    ui.per_view("burden_diet_shares", studies, lambda: burden.whole_people(
        share_by_diet[["location", "diet_group", "share", "population"]], ["population"]),
        view),
    hide_index=True, width="stretch",
    column_config={"location": "Location", "diet_group": "Diet group",
                   "share": st.column_config.NumberColumn("Share", format="percent"),
                   "population": st.column_config.NumberColumn("People", format="localized")},
)
st.caption("Change a share with the scenario multipliers in the sidebar. A region's share is "
           "the population-weighted mean of its countries' shares.")
with st.expander("Diet share of every country, with its source or default rule"):
    st.dataframe(shares, hide_index=True, width="stretch",
                 column_config={"share": st.column_config.NumberColumn("share",
                                                                       format="percent"),
                                "url_or_doi": st.column_config.LinkColumn("url_or_doi")})
    ui.render_downloads(shares, "b12_diet_shares")
st.header("Table")
table_shown = ui.per_view("burden_table", studies, lambda: tables.burden_table(cells), view)
st.dataframe(
    table_shown, hide_index=True, width="stretch",
    column_config={
        "population": st.column_config.NumberColumn("People in group", format="localized"),
        **{c: st.column_config.NumberColumn(c, format="localized")
           for c in ("cases", "cases_low", "cases_high")},
        **{c: st.column_config.NumberColumn(c, format="percent")
           for c in ("prevalence", "prevalence_low", "prevalence_high")},
        "estimable": st.column_config.CheckboxColumn(
            "estimable", help="False: the model extrapolates to this age and diet group; "
            "read the figure as an extrapolation, not an estimate."),
    },
)
ui.render_downloads(table_shown, "b12_burden")
st.caption(f"Modelled people with low B12 status ({definition_text}) by location, age band and "
           f"diet group in {year}; 95% UI; rows with estimable unticked are extrapolations. "
           "Sources: UN WPP 2022 (CC BY 3.0 IGO), the studies "
           "and diet surveys listed on Methods & sources.")
ui.render_page_links(view)
