"""The table each page shows for a view, built once for the page and its data API twin (pure;
no streamlit): a link's ``/api/<page>.csv`` is exactly what that page shows for it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from dashboard import aggregate, burden, citation, model, profile, schema, state

# Columns of each page's table, in the order shown and downloaded.
OVERVIEW_BY: tuple[str, ...] = ("age_band", "diet_group")
# aggregate.compare_observed_modelled: the pool and the model's estimate of each cell.
OVERVIEW_COLUMNS: tuple[str, ...] = (
    "age_band", "diet_group", "pooled_estimate", "pooled_ci_low", "pooled_ci_high", "k",
    "n_total", "modelled_estimate", "modelled_ci_low", "modelled_ci_high", "estimable",
    "support_location", "support_diet", "support_age",
)
EXPLORE_COLUMNS: tuple[str, ...] = (
    "row_id", "study_id", "first_author", "year", "country_iso3", "country_name",
    "population", "population_marks", "data_years", "sex", "age_label", "age_band", "diet_group",
    "supplement_users", "definition", "status", "cutoff_operator", "cutoff_value", "cutoff_unit",
    "prevalence", "interval_low", "interval_high", "ci_source", "n", "cases", "reliability",
    "usable_for", "reason", "source_location", "doi_url",
)
# The citation and its links first, so a reader can find the paper; ids last.
EVIDENCE_COLUMNS: tuple[str, ...] = (
    "citation", "doi_url", "pmid_url", "title", "journal", "country_name", "population",
    "population_marks", "sample_frame", "data_years", "sex", "age_label", "diet_group",
    "prevalence", "interval_low", "interval_high", "ci_source",
    "n", "cases", "reliability", "usable_for", "reason", "source_location", "notes",
    "first_author", "year", "study_id", "estimate_id", "parent_id", "row_id",
)
CUTOFFS_COLUMNS: tuple[str, ...] = (
    "population_label", "country_iso3", "definition", "definition_label", "status",
    "prevalence", "ci_low", "ci_high", "n", "n_definitions", "spread", "study_id",
)
BURDEN_COLUMNS: tuple[str, ...] = (
    "location", "age_band", "diet_group", "population", "cases", "cases_low", "cases_high",
    "prevalence", "prevalence_low", "prevalence_high", "estimable",
)
MODEL_COLUMNS: tuple[str, ...] = ("label", "odds_ratio", "or_low", "or_high", "beta", "se")
# profile.SegmentProfile.status: the segment and its general population, per status class.
PROFILE_COLUMNS: tuple[str, ...] = ("population", "status", "estimate", "ci_low", "ci_high",
                                    "pi_low", "pi_high")


@dataclass(frozen=True)
class TableInfo:
    """What a page's table is, for its metadata: one row is ..., units of its columns."""

    title: str
    row: str
    units: Mapping[str, str]


_FRACTION = "fraction (0-1)"
_PEOPLE = "persons"
TABLE_INFO: dict[str, TableInfo] = {
    "overview": TableInfo(
        "Prevalence by age band and diet group: pooled and modelled",
        "one age band x diet group: the random-effects pool (REML, logit scale) of the "
        "matching published estimates with its 95% CI, beside the prevalence model's estimate "
        "for the view's population with its 95% interval and the independent studies behind "
        "it (of the diet group, at its ages, in its places); modelled columns are empty when "
        "the model has nothing for the view, and estimable is false where it extrapolates",
        {"pooled_estimate": _FRACTION, "pooled_ci_low": _FRACTION, "pooled_ci_high": _FRACTION,
         "modelled_estimate": _FRACTION, "modelled_ci_low": _FRACTION,
         "modelled_ci_high": _FRACTION, "n_total": _PEOPLE}),
    "explore": TableInfo(
        "Filtered published estimates",
        "one published estimate with its 95% interval (reported, else Wilson) and NCHS "
        "reliability", {"prevalence": _FRACTION, "interval_low": _FRACTION,
                        "interval_high": _FRACTION, "n": _PEOPLE, "cases": _PEOPLE}),
    "evidence": TableInfo(
        "Studies behind the forest plot",
        "one published estimate with its source, 95% interval and NCHS reliability",
        {"prevalence": _FRACTION, "interval_low": _FRACTION, "interval_high": _FRACTION,
         "n": _PEOPLE, "cases": _PEOPLE}),
    "cutoffs": TableInfo(
        "The same populations under alternative definitions",
        "one study population under one definition; spread = highest minus lowest "
        "prevalence of the population", {"prevalence": _FRACTION, "ci_low": _FRACTION,
                                         "ci_high": _FRACTION, "spread": _FRACTION,
                                         "n": _PEOPLE}),
    "burden": TableInfo(
        "Modelled people with low B12 status by location, age band and diet group",
        "one location x age band x diet group in the chosen year: population x diet share x "
        "the prevalence model's prediction, with 95% uncertainty intervals; estimable is "
        "false where the model extrapolates",
        {"population": _PEOPLE, "cases": _PEOPLE, "cases_low": _PEOPLE, "cases_high": _PEOPLE,
         "prevalence": _FRACTION, "prevalence_low": _FRACTION, "prevalence_high": _FRACTION}),
    "model": TableInfo(
        "Odds ratios of low serum B12 status in the prevalence model",
        "one term of the REML multilevel meta-regression: odds ratio with its 95% CI, and the "
        "coefficient (log odds) with its standard error", {}),
    "profile": TableInfo(
        "Modelled B12 status of one population segment and of its general population",
        "one population (segment; general: the country's general population of the same ages "
        "and sex) x status class (deficient, marginal, adequate): modelled share with its 95% "
        "CI and 95% prediction interval; a segment the model cannot estimate is replaced by "
        "the nearest one it can, as on the page",
        {c: _FRACTION for c in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}),
    "methods": TableInfo(
        "Bibliography", "one source the figures use, with its link and what it is used for",
        {}),
}


class ViewError(ValueError):
    """A valid link whose view cannot be computed (no model for the definition, a location
    without population data); the message says why."""


# Fits the prevalence model for a definition (model_definition gives the fit it needs);
# the pages and the API each pass their own cached one.
Fit = Callable[[str], model.Model]


def filter_choices(studies: pd.DataFrame) -> dict[str, list[str]]:
    """Values the data adds to the URL vocabulary (for ``state.read(page, choices)``).

    Generated definition ids (cut-offs outside the documented definitions) and the region and
    subregion names as the studies table spells them, so that links naming them are valid.
    """
    regions = pd.concat([studies["region"], studies["subregion"]]).dropna().astype(str)
    rank = {d.id: i for i, d in enumerate(schema.DEFINITIONS)}
    ids = set(studies["definition"].dropna().astype(str))
    return {
        "def": sorted(ids, key=lambda d: (rank.get(d, len(rank)), d)),
        "region": sorted(regions.unique()),
    }


def page_choices(page: str, studies: pd.DataFrame) -> dict[str, list[str]]:
    """filter_choices, and on Cutoffs every documented definition (a link may name one
    without rows), then generated ids, for ``defs``."""
    choices = filter_choices(studies)
    if page == "cutoffs":
        documented = [d.id for d in schema.DEFINITIONS]
        choices["defs"] = documented + [d for d in choices["def"] if d not in documented]
    return choices


# --- the prevalence model ------------------------------------------------------------------


def model_definition(definition: str = schema.DEFAULT_DEFINITION) -> str:
    """The definition whose fit serves ``definition``: serum B12 definitions (documented or
    generated) share the crosswalk fit of the default definition."""
    d = schema.DEFINITIONS_BY_ID.get(definition)
    serum = (d.biomarker == model.CROSSWALK_BIOMARKER if d is not None
             else definition.split("_")[0] == schema.DEFINITION_ID_PREFIX["serum_b12"])
    return schema.DEFAULT_DEFINITION if serum else definition


def fit_model(frames: Mapping[str, Any], definition: str = schema.DEFAULT_DEFINITION
              ) -> model.Model:
    """The prevalence model of ``model_definition(definition)`` fitted on the bundled frames
    (studies, countries, diet_shares), with the diet share model of every country."""
    countries = frames["countries"]
    shares = burden.diet_share_model(frames["diet_shares"], countries["iso3"].tolist())
    return model.fit(frames["studies"], countries, shares,
                     definition=model_definition(definition))


def modelled_cells(fit: Fit, countries: pd.DataFrame, weights: pd.DataFrame, definition: str,
                   places: Sequence[str] = (), regions: Sequence[str] = (),
                   sexes: Sequence[str] = (), supplement_users: Sequence[str] = (),
                   diets: Sequence[str] = (), cutoffs: Sequence[float] = ()
                   ) -> aggregate.ModelledCells | str:
    """The model's estimates of every age band x diet cell (``diets``: these only; with
    ``cutoffs``: at each of those cut-offs) for the population of the places, sexes and
    supplement use given (``aggregate.model_population``; ``weights``:
    ``aggregate.population_weights``); or, when there is nothing to model, the reason."""
    population = aggregate.model_population(countries, iso3=tuple(places),
                                            regions=tuple(regions), sexes=tuple(sexes),
                                            supplement_users=tuple(supplement_users))
    if population is None:
        return "the places chosen hold no country the model knows"
    if definition not in schema.DEFINITIONS_BY_ID:
        return ("the model predicts the documented definitions; the Cutoffs page gives any "
                "serum B12 cut-off")
    try:
        fitted = fit(definition)
    except ValueError as err:
        return f"the model cannot be fitted for this definition ({err})"
    if not fitted.crosswalk and fitted.definition != definition:
        return "the model has no fit for this definition"
    cells = aggregate.model_cells(diet_groups=list(diets) or None)
    if cutoffs:
        cells = aggregate.cutoff_cells(cells, cutoffs)
    return aggregate.draw_modelled(fitted, cells, population, weights, definition=definition)


def view_modelled(fit: Fit, countries: pd.DataFrame, weights: pd.DataFrame,
                  view: state.State, diets: Sequence[str] = (),
                  cutoffs: Sequence[float] = ()) -> aggregate.ModelledCells | str:
    """modelled_cells for the population a view's filters name (places, sex, supplement use)."""
    values = view.as_dict()
    return modelled_cells(fit, countries, weights, values.get("def", schema.DEFAULT_DEFINITION),
                          values.get("country", ()), values.get("region", ()),
                          values.get("sex", ()), values.get("supp", ()), diets, cutoffs)


# --- the pages' tables ---------------------------------------------------------------------


def filter_rows(studies: pd.DataFrame, view: state.State) -> pd.DataFrame:
    """The published estimates a view's shared filters keep (aggregate.filter_studies)."""
    return aggregate.filter_studies(studies, **state.filter_kwargs(view))


def estimate_rows(studies: pd.DataFrame, view: state.State) -> pd.DataFrame:
    """The rows of the Explore and Evidence tables: the filtered estimates with their
    intervals and reliability (aggregate.study_estimates)."""
    return aggregate.study_estimates(filter_rows(studies, view))


def overview_pooled(rows: pd.DataFrame) -> pd.DataFrame:
    """The Overview chart's pools: the rows pooled per age band x diet group."""
    return aggregate.pool_groups(rows, by=OVERVIEW_BY)


def overview_cells(modelled: aggregate.ModelledCells | str, view: state.State
                   ) -> pd.DataFrame | None:
    """The modelled cells the Overview shows beside the pools (the view's ages and diets), or
    None when there is nothing modelled."""
    if not isinstance(modelled, aggregate.ModelledCells):
        return None
    return aggregate.select_cells(aggregate.summarize_modelled(modelled), view["age"],
                                  view["diet"])


def overview_table(pooled: pd.DataFrame, cells: pd.DataFrame | None) -> pd.DataFrame:
    """The Overview's table: each cell's pool beside the model's estimate
    (aggregate.compare_observed_modelled; charts.modelled_table formats it for reading),
    modelled columns empty when ``cells`` is None."""
    if cells is None:
        cells = pd.DataFrame(columns=["age_band", "diet_group", "estimate", "ci_low", "ci_high",
                                      "estimable", "support_location", "support_diet",
                                      "support_age"])
    return aggregate.compare_observed_modelled(pooled, cells).reindex(
        columns=list(OVERVIEW_COLUMNS))


def with_citation(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with a ``citation`` column, "Author year" ("Evatt 2009"; the study id when
    no author is recorded), the first thing a reader looks for in a study table."""
    author = rows["first_author"].astype("object").where(rows["first_author"].notna(),
                                                           rows["study_id"])
    year = rows["year"].astype("Int64").astype("string").fillna("")
    return rows.assign(citation=(author.astype(str) + " " + year).str.strip())


def evidence_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The Evidence page's study table: estimate_rows, citation first."""
    return with_citation(rows).loc[:, list(EVIDENCE_COLUMNS)]


def explore_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The Explore page's filtered table of estimate_rows."""
    return rows.loc[:, list(EXPLORE_COLUMNS)]


def cutoffs_comparison(studies: pd.DataFrame, view: state.State) -> pd.DataFrame:
    """Populations reported under two or more definitions, within the view's filters (every
    definition and status unless ``defs`` narrows them)."""
    kwargs = {**state.filter_kwargs(view), "definition": list(view["defs"]) or None,
              "status": None}
    return aggregate.compare_definitions(aggregate.filter_studies(studies, **kwargs))


def cutoffs_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """The Cutoffs page's "Estimates compared" table."""
    return comparison.reindex(columns=list(CUTOFFS_COLUMNS))


def burden_scenario(view: state.State) -> tuple[tuple[tuple[str, float], ...], tuple]:
    """The Burden view's diet-share multipliers (diet, factor; those not 1) and its
    supplementation scenario as hashable tuples (empty when coverage x effect is 0)."""
    overrides = tuple((d, float(view[f"x{d}"])) for d in state.SCENARIO_DIETS
                      if view[f"x{d}"] != 1.0)
    supplementation = () if view["scov"] * view["seff"] == 0 else (
        ("diet_group", None if view["sgrp"] == "all" else view["sgrp"]),
        ("coverage", float(view["scov"])), ("effect", float(view["seff"])),
    )
    return overrides, supplementation


def burden_summaries(population: pd.DataFrame, shares: pd.DataFrame, fitted: model.Model,
                     standards: pd.DataFrame, locations: Sequence[str], year: int,
                     definition: str, status: str, supplementation: tuple, standard: str
                     ) -> tuple[pd.DataFrame, ...]:
    """What the Burden page shows of the chosen locations' burden: headline (cases with UI,
    crude and age-standardised prevalence, estimable), age x diet cells, people per diet
    group, and what drives each location's prevalence (``burden.estimate_drivers``)."""
    rows = burden.estimate_burden(
        population, shares, fitted, locations=list(locations), years=[year],
        definition=definition, status=status, supplementation=dict(supplementation) or None)
    by_location = burden.summarize_burden(rows, by=["location"])
    headline = burden.age_standardized_prevalence(rows, standards, standard).merge(
        by_location[["location", "cases_low", "cases_high", "estimable"]], on="location")
    cells = burden.summarize_burden(rows, by=["location", "analysis_band", "diet_group"]).rename(
        columns={"analysis_band": "age_band"})
    drivers = pd.concat(
        [burden.estimate_drivers(fitted, population, rows, loc, standards,
                                 standard).assign(location=loc)
         for loc in headline["location"]], ignore_index=True)
    return headline, cells, burden.diet_share_summary(rows), drivers


def burden_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The Burden page's table: the age x diet cells of every chosen location, its counts in
    whole people (burden.whole_people)."""
    return burden.whole_people(cells[list(BURDEN_COLUMNS)],
                               ["population", "cases", "cases_low", "cases_high"])


def model_table(fitted: model.Model) -> pd.DataFrame:
    """The Model page's table of its odds-ratio chart: every term of the fit."""
    return fitted.odds_ratios()[list(MODEL_COLUMNS)]


def profile_inputs(view: state.State, places: Sequence[str]) -> tuple[str, str, list[str]]:
    """The place and pregnancy the Risk profile models for a view, and which of the view's
    values it could not take ("place": not a country of the population table, shown as the
    default; "preg": pregnancy outside women aged 15-49, shown as not pregnant)."""
    changed = []
    place = view["place"]
    if place not in places:
        changed.append("place")
        place = state.PARAMS["place"].default
    pregnancy = view["preg"]
    if pregnancy != "not_pregnant" and not profile.pregnancy_applies(view["psex"],
                                                                     *view["ages"]):
        changed.append("preg")
        pregnancy = "not_pregnant"
    return place, pregnancy, changed


def profile_shown(asked: profile.SegmentProfile) -> profile.SegmentProfile | None:
    """The profile the page shows: the segment asked for, else the nearest estimable one
    (None when there is none)."""
    return asked if asked.estimable else asked.nearest


def profile_table(shown: profile.SegmentProfile) -> pd.DataFrame:
    """The Risk profile's status table (the table of its status chart)."""
    return shown.status.loc[:, list(PROFILE_COLUMNS)]


def view_problems(page: str, frames: Mapping[str, Any], view: state.State) -> dict[str, str]:
    """Values of a well-formed view that the data cannot take (parameter -> why), which the
    page replaces with a notice and the API refuses: Burden locations without population
    figures, a Risk profile place outside the population table or pregnancy outside women
    aged 15-49."""
    if page == "burden":
        _, refused = burden.split_locations(view["loc"],
                                            burden.locations_table(frames["population"]))
        return {"loc": "not modelled: " + "; ".join(refused)} if refused else {}
    if page == "profile":
        _, _, changed = profile_inputs(view, frames["countries"]["iso3"].astype(str).tolist())
        why = {"place": f"{view['place']} is not a country of the UN WPP population table",
               "preg": "pregnancy applies only to women aged 15-49 (psex=female, ages within)"}
        return {name: why[name] for name in changed}
    return {}


def _burden(frames: Mapping[str, Any], view: state.State, fit: Fit) -> pd.DataFrame:
    population = frames["population"]
    covered, refused = burden.split_locations(view["loc"], burden.locations_table(population))
    if refused or not covered:
        raise ViewError("not modelled: " + ("; ".join(refused) or "no location"))
    overrides, supplementation = burden_scenario(view)
    definition, status = view["def"], view["status"]
    try:
        fitted = fit(definition)
        burden.model_cutoffs(fitted, definition, status)
    except ValueError as err:
        raise ViewError(f"the burden cannot be modelled for this definition: {err}") from None
    # As on the page: a country whose scenario shares would pass 100% is capped there.
    countries = burden.country_codes(burden.locations_table(population))
    shares = burden.diet_share_model(frames["diet_shares"], countries,
                                     overrides=dict(overrides), cap=True)
    _, cells, _, _ = burden_summaries(population, shares, fitted,
                                      frames["standard_populations"], covered,
                                      int(view["year"]), definition, status, supplementation,
                                      view["std"])
    return burden_table(cells)


def _profile(frames: Mapping[str, Any], view: state.State, fit: Fit) -> pd.DataFrame:
    countries = frames["countries"]
    place, pregnancy, changed = profile_inputs(view, countries["iso3"].astype(str).tolist())
    if "place" in changed:
        raise ViewError(f"{view['place']} is not a country of the UN WPP population table")
    if "preg" in changed:
        raise ViewError("pregnancy applies only to women aged 15-49")
    fitted = fit(schema.DEFAULT_DEFINITION)
    asked = profile.segment_profile(
        fitted, frames["population"], fitted.shares, studies=frames["studies"], iso3=place,
        age=tuple(view["ages"]), sex=view["psex"], diet_group=view["pdiet"],
        supplement_users=view["psupp"], pregnancy=pregnancy, year=int(view["year"]))
    shown = profile_shown(asked)
    if shown is None:
        raise ViewError("the model cannot estimate this segment, and no nearby segment "
                        "either: " + "; ".join(asked.reasons))
    table = profile_table(shown).copy()
    # What the page says above the table, for the metadata (api.metadata reads attrs).
    table.attrs = {"segment": profile.describe_segment(shown.segment),
                   "asked": profile.describe_segment(asked.segment),
                   "nearest": shown is not asked}
    return table


def page_table(page: str, frames: Mapping[str, Any], view: state.State,
               fit: Fit | None = None) -> pd.DataFrame:
    """The table ``page`` shows for ``view``, from the bundled ``frames`` (name -> frame, as
    api.PAGE_FRAMES lists them) and ``fit`` (definition -> fitted model; default: fit_model
    on the frames, uncached). The Overview gives the numbers of its chart's table
    (charts.modelled_table formats them for reading).

    Raises ViewError when the view cannot be computed, KeyError for a page without one.
    """
    if fit is None:
        def fit(definition: str) -> model.Model:
            return fit_model(frames, definition)
    studies = frames["studies"]
    if page == "overview":
        pooled = overview_pooled(filter_rows(studies, view))
        if pooled.empty:
            return overview_table(pooled, None)
        weights = aggregate.population_weights(frames["population"],
                                               frames["countries"]["iso3"].tolist())
        modelled = view_modelled(fit, frames["countries"], weights, view)
        return overview_table(pooled, overview_cells(modelled, view))
    if page == "explore":
        return explore_table(estimate_rows(studies, view))
    if page == "evidence":
        return evidence_table(estimate_rows(studies, view))
    if page == "cutoffs":
        return cutoffs_table(cutoffs_comparison(studies, view))
    if page == "burden":
        return _burden(frames, view, fit)
    if page == "model":
        return model_table(fit(schema.DEFAULT_DEFINITION))
    if page == "profile":
        return _profile(frames, view, fit)
    if page == "methods":
        return methods_table(studies, frames["diet_shares"], frames["standard_populations"])
    raise KeyError(page)


def methods_table(studies: pd.DataFrame, diet_shares: pd.DataFrame,
                  standard_populations: pd.DataFrame) -> pd.DataFrame:
    """The Methods page's reference list (citation.bibliography)."""
    return citation.bibliography(studies, diet_shares, standard_populations)


def count_studies(studies: pd.DataFrame, view: state.State,
                  fitted: model.Model | None = None) -> int:
    """Publications behind a view: those of its filtered rows (Burden, Model, Risk profile:
    those the prevalence model ``fitted`` is fitted on; Cutoffs: every definition)."""
    if view.page in ("burden", "model", "profile"):
        rows = fitted.data if fitted is not None else studies.iloc[:0]
    elif view.page == "cutoffs":
        rows = cutoffs_comparison(studies, view)
    elif "def" in view.as_dict():
        rows = filter_rows(studies, view)
    else:
        rows = studies
    return int(rows["study_id"].nunique()) if "study_id" in rows else 0
