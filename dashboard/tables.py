"""The table each page shows for a view, built once for the page and its data API twin (pure;
no streamlit): a link's ``/api/<page>.csv`` is exactly what that page shows for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from dashboard import aggregate, burden, citation, schema, state

# Columns of each page's table, in the order shown and downloaded.
OVERVIEW_BY: tuple[str, ...] = ("age_band", "diet_group")
OVERVIEW_COLUMNS: tuple[str, ...] = (
    "age_band", "diet_group", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "k",
    "n_estimates", "n_total", "reliability", "study_ids",
)
EXPLORE_COLUMNS: tuple[str, ...] = (
    "row_id", "study_id", "first_author", "year", "country_iso3", "country_name",
    "population", "population_marks", "data_years", "sex", "age_label", "age_band", "diet_group",
    "supplement_users", "definition", "status", "cutoff_operator", "cutoff_value", "cutoff_unit",
    "prevalence", "interval_low", "interval_high", "ci_source", "n", "cases", "reliability",
    "usable_for", "reason", "source_location", "doi_url",
)
EVIDENCE_COLUMNS: tuple[str, ...] = (
    "first_author", "year", "title", "journal", "country_name", "population",
    "population_marks", "sample_frame", "data_years", "sex", "age_label", "diet_group",
    "prevalence", "interval_low", "interval_high", "ci_source",
    "n", "cases", "reliability", "usable_for", "reason", "source_location", "notes", "doi_url",
    "pmid_url", "study_id", "estimate_id", "parent_id", "row_id",
)
CUTOFFS_COLUMNS: tuple[str, ...] = (
    "population_label", "country_iso3", "definition", "definition_label", "status",
    "prevalence", "ci_low", "ci_high", "n", "n_definitions", "spread", "study_id",
)
BURDEN_COLUMNS: tuple[str, ...] = (
    "location", "age_band", "diet_group", "population", "cases", "cases_low", "cases_high",
    "prevalence", "prevalence_low", "prevalence_high",
)


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
        "Pooled prevalence by age band and diet group",
        "one age band x diet group: random-effects pool (REML, logit scale) of the matching "
        "published estimates, with 95% confidence and prediction intervals",
        {"estimate": _FRACTION, "ci_low": _FRACTION, "ci_high": _FRACTION, "pi_low": _FRACTION,
         "pi_high": _FRACTION, "n_total": _PEOPLE}),
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
        "pooled prevalence, with 95% uncertainty intervals",
        {"population": _PEOPLE, "cases": _PEOPLE, "cases_low": _PEOPLE, "cases_high": _PEOPLE,
         "prevalence": _FRACTION, "prevalence_low": _FRACTION, "prevalence_high": _FRACTION}),
    "methods": TableInfo(
        "Bibliography", "one source the figures use, with its link and what it is used for",
        {}),
}


class ViewError(ValueError):
    """A valid link whose view cannot be computed (no model for the definition, a location
    without population data); the message says why."""


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


def filter_rows(studies: pd.DataFrame, view: state.State) -> pd.DataFrame:
    """The published estimates a view's shared filters keep (aggregate.filter_studies)."""
    return aggregate.filter_studies(studies, **state.filter_kwargs(view))


def estimate_rows(studies: pd.DataFrame, view: state.State) -> pd.DataFrame:
    """The rows of the Explore and Evidence tables: the filtered estimates with their
    intervals and reliability (aggregate.study_estimates)."""
    return aggregate.study_estimates(filter_rows(studies, view))


def overview_pooled(rows: pd.DataFrame) -> pd.DataFrame:
    """The Overview chart's numbers: the rows pooled per age band x diet group."""
    return aggregate.pool_groups(rows, by=OVERVIEW_BY)


def cutoffs_comparison(studies: pd.DataFrame, view: state.State) -> pd.DataFrame:
    """Populations reported under two or more definitions, within the view's filters (every
    definition and status unless ``defs`` narrows them)."""
    kwargs = {**state.filter_kwargs(view), "definition": list(view["defs"]) or None,
              "status": None}
    return aggregate.compare_definitions(aggregate.filter_studies(studies, **kwargs))


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


def burden_summaries(population: pd.DataFrame, shares: pd.DataFrame, model: pd.DataFrame,
                     standards: pd.DataFrame, locations: list[str], year: int,
                     supplementation: tuple, standard: str) -> tuple[pd.DataFrame, ...]:
    """What the Burden page shows of the chosen locations' burden: headline (cases with UI,
    crude and age-standardised prevalence), age x diet cells, people per diet group."""
    rows = burden.estimate_burden(population, shares, model, locations=list(locations),
                                  years=[year], supplementation=dict(supplementation) or None)
    by_location = burden.summarize_burden(rows, by=["location"])
    headline = burden.age_standardized_prevalence(rows, standards, standard).merge(
        by_location[["location", "cases_low", "cases_high"]], on="location")
    cells = burden.summarize_burden(rows, by=["location", "analysis_band", "diet_group"]).rename(
        columns={"analysis_band": "age_band"})
    return headline, cells, burden.diet_share_summary(rows)


def burden_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The Burden page's table: the age x diet cells of every chosen location."""
    return cells[list(BURDEN_COLUMNS)]


def _burden(frames: Mapping[str, Any], view: state.State) -> pd.DataFrame:
    population = frames["population"]
    covered, refused = burden.split_locations(view["loc"], burden.locations_table(population))
    if refused or not covered:
        raise ViewError("not modelled: " + ("; ".join(refused) or "no location"))
    overrides, supplementation = burden_scenario(view)
    try:
        model = burden.prevalence_model(frames["studies"], view["def"], view["status"],
                                        method="REML")
        countries = burden.country_codes(burden.locations_table(population))
        shares = burden.diet_share_model(frames["diet_shares"], countries,
                                         overrides=dict(overrides))
    except ValueError as err:
        raise ViewError(str(err)) from None
    _, cells, _ = burden_summaries(population, shares, model, frames["standard_populations"],
                                   covered, int(view["year"]), supplementation, view["std"])
    return burden_table(cells)


def page_table(page: str, frames: Mapping[str, Any], view: state.State) -> pd.DataFrame:
    """The table ``page`` shows for ``view``, from the bundled ``frames`` (name -> frame:
    studies; burden also population, diet_shares, standard_populations). Overview gives the
    numbers behind its chart's table (charts.figure_table formats them for reading).

    Raises ViewError when the view cannot be computed, KeyError for a page without one.
    """
    studies = frames["studies"]
    if page == "overview":
        pooled = overview_pooled(filter_rows(studies, view))
        return pooled.reindex(columns=list(OVERVIEW_COLUMNS))
    if page == "explore":
        return estimate_rows(studies, view).loc[:, list(EXPLORE_COLUMNS)]
    if page == "evidence":
        return estimate_rows(studies, view).loc[:, list(EVIDENCE_COLUMNS)]
    if page == "cutoffs":
        return cutoffs_comparison(studies, view).reindex(columns=list(CUTOFFS_COLUMNS))
    if page == "burden":
        return _burden(frames, view)
    if page == "methods":
        return citation.bibliography(studies, frames["diet_shares"],
                                     frames["standard_populations"])
    raise KeyError(page)


def count_studies(studies: pd.DataFrame, view: state.State) -> int:
    """Publications behind a view: those of its filtered rows (Burden: every study of the
    definition and status, which the model pools; Cutoffs: every definition)."""
    if view.page == "burden":
        rows = aggregate.filter_studies(studies, definition=view["def"], status=view["status"])
    elif view.page == "cutoffs":
        rows = cutoffs_comparison(studies, view)
    elif "def" in view.as_dict():
        rows = filter_rows(studies, view)
    else:
        rows = studies
    return int(rows["study_id"].nunique()) if "study_id" in rows else 0
