"""Modelled number of people with low vitamin B12 status: population x diet share x the
prevalence model's prediction, with joint draws summed from countries up to the world."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from dashboard import model as model_module
from dashboard import schema
from dashboard.frames import require_columns as _require_columns

# Which WPP location type a shared name refers to, first to last.
NAME_PRECEDENCE: tuple[str, ...] = ("Country/Area", "World", "Region", "Subregion")

# WPP location types the model resolves to member countries (``_members``); other WPP
# aggregates (income groups, development groups) have no member list here.
MODELLED_TYPES: tuple[str, ...] = ("World", "Region", "Subregion", "SDG region", "Country/Area")
DEFAULT_DRAWS = 1000
DEFAULT_SEED = 20240101

# The `method_class` (schema.METHOD_CLASSES) of health and nutrition surveys: their
# behavioural definitions are the better basis for intake-related risk (reference README).
HEALTH_SURVEY_CLASS = "health or nutrition survey"
# The diets a survey source can measure besides omnivores (who are the remainder).
MEASURED_DIETS: tuple[str, ...] = ("pescatarian", "vegetarian", "vegan")
REPORTED_DIET_LABELS: tuple[str, ...] = (
    "vegetarian_excl_vegan",
    "vegetarian_incl_vegan",
    "vegetarian_unspecified",
    "vegan",
    "pescatarian",
)

_BAND_STARTS = np.array([b[1] for b in schema.AGE_BANDS])
_N_DIETS = len(schema.DIET_GROUPS)
_WPP_LABELS = tuple(b[0] for b in schema.WPP_AGE_BANDS)


def analysis_band_of(age_min: np.ndarray | Sequence[int]) -> np.ndarray:
    """Index into schema.AGE_BANDS of the analysis band holding each lower age bound.

    The analysis bands are 20 years wide, so every WPP five-year band lies inside one.
    """
    ages = np.asarray(age_min, dtype=float)
    if np.isnan(ages).any() or (ages < 0).any():
        raise ValueError("age_min must be a non-negative number for every population row")
    return np.searchsorted(_BAND_STARTS, ages, side="right") - 1


# --- diet shares -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    """What one source (survey and year) says about one country."""

    country: str
    source: str
    year: int
    health: bool
    values: dict[str, float]  # measured pescatarian / vegetarian (excl. vegans) / vegan
    vegetarian_total: float | None  # vegetarians incl. vegans when vegans are not separable
    url: str
    note: str = ""

    @property
    def completeness(self) -> int:
        return int("vegetarian" in self.values) + int("vegan" in self.values)


def _candidates(diet_shares: pd.DataFrame) -> list[_Candidate]:
    """Per country and (source, year), the shares the source measures, in modelled groups.

    vegetarian = vegetarian_excl_vegan; or vegetarian_incl_vegan - vegan from the same source;
    or vegetarian_unspecified when the source also reports vegans (they are separate answer
    options in most polls). An incl/unspecified figure without a vegan figure is kept as a
    total to be split later. Several figures for one group from one source (NFHS reports men
    and women separately) are averaged with equal weight, and the basis says so.
    """
    out = []
    frame = diet_shares.astype({"source": "object", "url_or_doi": "object"})
    for (iso3, source, year), g in frame.groupby(["country_iso3", "source", "year"], sort=True):
        by_diet: dict[str, float] = {}
        notes = []
        for diet, part in g.groupby(g["diet_group"].astype("object"), sort=True):
            by_diet[diet] = float(part["share"].mean())
            if len(part) > 1:
                # e.g. NFHS reports men and women separately: the two halves of the population
                # are averaged with equal weight.
                bases = "; ".join(part["population_basis"].astype("object").fillna("?"))
                notes.append(f"{diet.replace('_', ' ')}: mean of {len(part)} figures ({bases})")
        values: dict[str, float] = {}
        total = None
        if "vegan" in by_diet:
            values["vegan"] = by_diet["vegan"]
        if "pescatarian" in by_diet:
            values["pescatarian"] = by_diet["pescatarian"]
        if "vegetarian_excl_vegan" in by_diet:
            values["vegetarian"] = by_diet["vegetarian_excl_vegan"]
        elif "vegetarian_incl_vegan" in by_diet and "vegan" in by_diet:
            rest = by_diet["vegetarian_incl_vegan"] - by_diet["vegan"]
            if rest < 0:
                raise ValueError(
                    f"diet shares: {iso3} {year} {source!r}: vegan share "
                    f"{by_diet['vegan']} exceeds vegetarian-including-vegan share "
                    f"{by_diet['vegetarian_incl_vegan']}"
                )
            values["vegetarian"] = rest
        elif "vegetarian_unspecified" in by_diet and "vegan" in by_diet:
            values["vegetarian"] = by_diet["vegetarian_unspecified"]
        else:
            total = by_diet.get("vegetarian_incl_vegan", by_diet.get("vegetarian_unspecified"))
        if not values and total is None:
            continue
        out.append(_Candidate(
            country=str(iso3), source=str(source), year=int(year),
            health=bool((g["method_class"].astype("object") == HEALTH_SURVEY_CLASS).any()),
            values=values, vegetarian_total=total,
            url=str(g["url_or_doi"].dropna().iloc[0]) if g["url_or_doi"].notna().any() else "",
            note="; ".join(notes),
        ))
    return out


def _best(candidates: list[_Candidate]) -> _Candidate:
    """Health/nutrition surveys first, then the most recent, then the most complete."""
    return max(candidates, key=lambda c: (c.health, c.year, c.completeness, c.source))


def diet_share_model(
    diet_shares: pd.DataFrame,
    locations_iso3: Sequence[str],
    overrides: Mapping[str, float] | None = None,
    *,
    cap: bool = False,
) -> pd.DataFrame:
    """Share of each diet group per country, summing to 1, with the basis of every figure.

    One row per (country_iso3, diet_group in schema.DIET_GROUPS). Per country the best source
    is chosen (health or nutrition surveys first, then the most recent year, then the one
    measuring most groups) and its figures mapped to the modelled groups (see
    ``_candidates``). Groups the chosen source does not measure, and countries without any
    source, take DEFAULT shares, each shown as ``default: ...`` in ``basis``:

    - vegetarian, vegan: the median, over countries whose chosen source is a health or
      nutrition survey (all countries when none is), of the vegetarian share including
      vegans, split with the median vegan fraction below;
    - pescatarian: the median of all measured pescatarian shares (0 if none is measured);
    - a vegetarian total that includes vegans is split with the median vegan fraction
      vegan / (vegetarian + vegan) of the sources that measure both.

    Omnivores are the remainder. Shares are held constant over years and applied to every age
    (surveys are of adults). ``overrides`` multiplies a group's share for a scenario, e.g.
    ``{"vegan": 2.0}``; omnivores absorb the difference. Scaled shares that would sum above 1
    raise ValueError, unless ``cap``: then that country's scaled groups are shrunk in
    proportion to sum to exactly 1 (no omnivores left), ``capped`` is True on its rows and its
    ``basis`` says so (``capped_countries`` lists them).
    """
    _require_columns(
        diet_shares,
        ["country_iso3", "year", "diet_group", "share", "method_class", "source", "url_or_doi",
         "population_basis"],
        "diet shares frame",
    )
    unknown = sorted(set(diet_shares["diet_group"].astype(str)) - set(REPORTED_DIET_LABELS))
    if unknown:
        raise ValueError(f"diet shares: unknown diet_group {', '.join(unknown)}")
    shares = pd.to_numeric(diet_shares["share"], errors="coerce")
    bad = diet_shares.loc[(shares.isna() | (shares < 0) | (shares > 1)).to_numpy(dtype=bool)]
    if len(bad):
        raise ValueError(
            "diet shares must be fractions in [0, 1]; offending rows: "
            + ", ".join(f"{r.country_iso3} {r.year} {r.diet_group}={r.share}"
                        for r in bad.itertuples())
        )
    locations = list(dict.fromkeys(str(c) for c in locations_iso3))
    bad_codes = [c for c in locations if not (len(c) == 3 and c.isalpha() and c.isupper())]
    if bad_codes:
        raise ValueError(f"locations_iso3 must be ISO3 codes, got {', '.join(bad_codes)}")
    factors = _check_overrides(overrides)

    candidates = _candidates(diet_shares)
    by_country: dict[str, list[_Candidate]] = {}
    for c in candidates:
        by_country.setdefault(c.country, []).append(c)
    chosen = {iso3: _best(cs) for iso3, cs in by_country.items()}
    defaults = _default_shares(candidates, chosen)

    records = []
    for iso3 in locations:
        best = chosen.get(iso3)
        values: dict[str, tuple[float, str, str, int | None, str]] = {}
        for diet in MEASURED_DIETS:
            share, rule = defaults[diet]
            values[diet] = (share, f"default: {rule}", "", None, "")
        if best is not None:
            where = f"survey: {best.source}, {best.year}" + (
                f" ({best.note})" if best.note else "")
            for diet, share in best.values.items():
                values[diet] = (share, where, best.source, best.year, best.url)
            if best.vegetarian_total is not None:
                frac, rule = defaults["vegan_fraction"]
                split = (f"{where}; vegetarians incl. vegans split with default vegan fraction "
                         f"{frac:.2f} ({rule})")
                values["vegan"] = (best.vegetarian_total * frac, split, best.source, best.year,
                                   best.url)
                values["vegetarian"] = (best.vegetarian_total * (1 - frac), split, best.source,
                                        best.year, best.url)
        for diet, factor in factors.items():
            share, basis, *rest = values[diet]
            values[diet] = (share * factor, f"{basis} (scenario: x{factor:g})", *rest)
        others = sum(v[0] for v in values.values())
        capped = others > 1 + 1e-12
        if capped and not cap:
            detail = ", ".join(f"{d} {v[0]:.3f}" for d, v in values.items())
            raise ValueError(
                f"diet shares for {iso3} exceed 1 ({detail})"
                + (f" with scenario {describe_overrides(factors)}" if factors else "")
            )
        if capped:
            values = {d: (share / others, f"{basis} (capped: the groups sum to 100%)", *rest)
                      for d, (share, basis, *rest) in values.items()}
            others = 1.0
        values["omnivore"] = (max(0.0, 1.0 - others), "remainder: 1 - the other groups", "",
                              None, "")
        for diet in schema.DIET_GROUPS:
            share, basis, source, year, url = values[diet]
            records.append({
                "country_iso3": iso3, "diet_group": diet, "share": share, "basis": basis,
                "is_default": basis.startswith("default:"), "source": source, "year": year,
                "url_or_doi": url, "scenario_factor": factors.get(diet, 1.0), "capped": capped,
            })
    out = pd.DataFrame.from_records(
        records,
        columns=["country_iso3", "diet_group", "share", "basis", "is_default", "source", "year",
                 "url_or_doi", "scenario_factor", "capped"],
    )
    return out.astype({"year": "Int64", "capped": bool})


def describe_overrides(overrides: Mapping[str, float]) -> str:
    """A scenario's multipliers as people read them ("vegan x10, vegetarian x2")."""
    return ", ".join(f"{diet} x{float(factor):g}" for diet, factor in overrides.items())


def capped_countries(shares: pd.DataFrame) -> list[str]:
    """ISO3 codes of the countries whose scenario shares ``diet_share_model(cap=True)`` had
    to cap at 100%, sorted."""
    if "capped" not in shares:
        return []
    return sorted(shares.loc[shares["capped"].astype(bool), "country_iso3"].astype(str).unique())


def scenario_limits(shares: pd.DataFrame, overrides: Mapping[str, float],
                    iso3: Sequence[str]) -> dict[str, float]:
    """Per scenario diet group, the largest multiplier that keeps every country in ``iso3``
    at or below 100%, the other groups' multipliers as in ``overrides`` (1 when absent).

    ``shares`` is a ``diet_share_model`` frame without a scenario. Per country: (1 - the
    other groups' shares times their multipliers, at least 0) / the group's share; the
    minimum over the countries; infinite when none of them has any of the group.
    """
    factors = _check_overrides(overrides)
    rows = shares.loc[shares["country_iso3"].isin(list(iso3))
                      & (shares["diet_group"] != "omnivore")]
    if (rows["scenario_factor"] != 1.0).any():
        raise ValueError("scenario_limits needs the shares without a scenario")
    wide = rows.pivot(index="country_iso3", columns="diet_group", values="share").reindex(
        columns=list(MEASURED_DIETS), fill_value=0.0).fillna(0.0)
    scaled = wide * pd.Series({d: factors.get(d, 1.0) for d in MEASURED_DIETS})
    out = {}
    for diet in MEASURED_DIETS:
        room = (1.0 - scaled.drop(columns=diet).sum(axis=1)).clip(lower=0.0).to_numpy()
        base = wide[diet].to_numpy(dtype=float)
        limit = np.full(len(base), np.inf)
        np.divide(room, base, out=limit, where=base > 0)
        out[diet] = float(limit.min()) if len(limit) else math.inf
    return out


def whole_people(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A copy of ``frame`` with the count ``columns`` rounded to whole people (nullable
    integers): a modelled count is a sum of fractions of people, which no table should show."""
    out = frame.copy()
    for column in columns:
        out[column] = pd.to_numeric(out[column], errors="coerce").round().astype("Int64")
    return out


def describe_limit(limit: float) -> str:
    """The largest valid multiplier of a scenario input as a sentence for its help text."""
    if not math.isfinite(limit):
        return "No country of the chosen locations reports this group, so any value is valid."
    return (f"Up to x{math.floor(100 * limit) / 100:g} keeps every country of the chosen "
            "locations within 100% (the other multipliers as set); above it a country's "
            "shares are capped.")


def describe_capped(capped: Sequence[str], names: Mapping[str, str],
                    overrides: Mapping[str, float], limits: Mapping[str, float],
                    max_named: int = 12) -> str:
    """The notice for a scenario that ``diet_share_model(cap=True)`` capped: the countries
    (by name, at most ``max_named``), what capping did, and the largest value of each
    multiplier, the others as surveyed, valid in every country of the chosen locations
    (``limits``: ``scenario_limits`` without a scenario)."""
    shown = [names.get(c, c) for c in capped]
    named = ", ".join(shown[:max_named]) + (
        f" and {len(shown) - max_named} more" if len(shown) > max_named else "")
    valid = "; ".join(
        f"{diet} x{math.floor(100 * limits[diet]) / 100:g}"
        for diet in overrides if diet in limits and math.isfinite(limits[diet]))
    country = "country" if len(capped) == 1 else "countries"
    return (f"The scenario ({describe_overrides(overrides)}) would put more than 100% of people "
            f"in these diets in {len(capped)} {country} of the map: {named}. There the "
            "scenario's groups are shrunk in proportion to sum to 100%, with no omnivores "
            "left; elsewhere the multipliers apply as entered."
            + (f" Each alone (the others as surveyed) stays within 100% in every country of "
               f"the chosen locations up to: {valid}." if valid else ""))


def _check_overrides(overrides: Mapping[str, float] | None) -> dict[str, float]:
    if not overrides:
        return {}
    out = {}
    for diet, factor in overrides.items():
        if diet == "omnivore":
            raise ValueError("overrides cannot change omnivores: they absorb the difference")
        if diet not in MEASURED_DIETS:
            raise ValueError(
                f"unknown diet group in overrides: {diet!r} (allowed: {', '.join(MEASURED_DIETS)})"
            )
        try:
            value = float(factor)
        except (TypeError, ValueError):
            raise ValueError(f"override for {diet} must be a number, got {factor}") from None
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"override for {diet} must be a finite factor >= 0, got {factor}")
        out[diet] = value
    return out


def _default_shares(
    candidates: list[_Candidate], chosen: Mapping[str, _Candidate]
) -> dict[str, tuple[float, str]]:
    """Default share per group and the rule that produced it (see diet_share_model)."""
    health = [c for c in chosen.values() if c.health]
    pool, pool_name = (health, "health/nutrition surveys") if health else (
        list(chosen.values()), "surveys")
    both = [c.values["vegan"] / (c.values["vegan"] + c.values["vegetarian"])
            for c in candidates
            if "vegan" in c.values and "vegetarian" in c.values
            and c.values["vegan"] + c.values["vegetarian"] > 0]
    if not both:
        raise ValueError("diet shares: no source measures both vegetarians and vegans")
    frac = float(np.median(both))
    out: dict[str, tuple[float, str]] = {
        "vegan_fraction": (frac, f"median of {len(both)} sources measuring both")
    }
    # The total of vegetarians including vegans is what every survey measures, split or not;
    # taking its median over all chosen health surveys uses all of them, not only the few
    # that report vegans separately.
    totals = sorted(
        (c.country, c.vegetarian_total if c.vegetarian_total is not None
         else c.values.get("vegetarian", 0.0) + c.values.get("vegan", 0.0))
        for c in pool
        if c.vegetarian_total is not None or "vegetarian" in c.values
    )
    if not totals:
        raise ValueError("diet shares: no source measures the vegetarian share")
    total = float(np.median([v for _, v in totals]))
    rule = (f"median vegetarian share incl. vegans of {len(totals)} countries' {pool_name} "
            f"({', '.join(c for c, _ in totals)}: {total:.2%}), split with the median vegan "
            f"fraction {frac:.2f} of {len(both)} sources measuring both")
    out["vegetarian"] = (total * (1 - frac), rule)
    out["vegan"] = (total * frac, rule)
    pesc = sorted((c.country, c.year, c.values["pescatarian"]) for c in candidates
                  if "pescatarian" in c.values)
    out["pescatarian"] = (
        (float(np.median([v for *_, v in pesc])),
         f"median of {len(pesc)} measured pescatarian shares "
         f"({', '.join(f'{c} {y}' for c, y, _ in pesc)})")
        if pesc else (0.0, "no survey measures pescatarians; assumed 0")
    )
    return out


# --- burden ----------------------------------------------------------------------------------


class PrevalenceDraws:
    """Monte Carlo draws of prevalence per cell of a burden frame, carried in its attrs.

    ``values`` (float32, cells x draws) has one row per cell of ``cells``: a country x WPP
    age band x diet group (``year`` missing: the model has no time trend, so every year of
    the run shares the country's draws), or an aggregate x year x band x diet, whose draws
    are its member countries' draws weighted by their people that year. A burden row's
    ``cell`` column is its row here. Immutable, so copies of the frame share it.
    """

    def __init__(self, cells: pd.DataFrame, values: np.ndarray, level: float, seed: int):
        if len(cells) != len(values):
            raise ValueError("one row of draws per cell")
        self.cells = cells
        self.values = np.asarray(values, dtype=np.float32)
        self.values.flags.writeable = False
        self.level = float(level)
        self.seed = int(seed)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PrevalenceDraws)
            and self.cells.equals(other.cells)
            and self.level == other.level
            and self.seed == other.seed
            and np.array_equal(self.values, other.values)
        )

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict) -> PrevalenceDraws:
        return self

    def __repr__(self) -> str:
        return (f"PrevalenceDraws({len(self.cells)} cells x {self.values.shape[1]} draws, "
                f"level={self.level}, seed={self.seed})")


def _check_supplementation(supplementation: Mapping | None) -> tuple[np.ndarray, str] | None:
    """Multiplier of prevalence per diet: 1 - coverage x effect in the covered group(s)."""
    if supplementation is None:
        return None
    extra = sorted(map(str, set(supplementation) - {"diet_group", "coverage", "effect"}))
    if extra:
        raise ValueError(f"unknown supplementation keys: {', '.join(extra)}")
    diet = supplementation.get("diet_group")
    if diet is not None and diet not in schema.DIET_GROUPS:
        raise ValueError(
            f"unknown supplementation diet_group {diet!r} "
            f"(allowed: {', '.join(schema.DIET_GROUPS)} or None for everyone)"
        )
    values = {}
    for key in ("coverage", "effect"):
        try:
            v = float(supplementation.get(key, 0.0))
        except (TypeError, ValueError):
            raise ValueError(f"supplementation {key} must be a number in [0, 1]") from None
        if not 0 <= v <= 1:
            raise ValueError(f"supplementation {key} must lie in [0, 1], got {v}")
        values[key] = v
    factor = 1 - values["coverage"] * values["effect"]
    multiplier = np.array([
        factor if diet is None or d == diet else 1.0 for d in schema.DIET_GROUPS
    ])
    return multiplier, f"{diet or 'everyone'}: coverage {values['coverage']:g}, " \
                       f"effect {values['effect']:g}"


# A generated serum B12 definition id: "b12_lt<value>" or "b12_<low>_<high>" ("p" for the
# decimal point), as the build writes them for cut-offs outside schema.DEFINITIONS.
_SERUM_ID = re.compile(r"^b12_(?:lt(?P<a>[0-9p]+)|(?P<lo>[0-9p]+)_(?P<hi>[0-9p]+))$")


def view_cutoffs(definition: str, status: str = schema.DEFAULT_STATUS
                 ) -> tuple[float, float | None]:
    """The serum B12 cut-off(s), pmol/L, that a view's definition and status ask the model
    for: (cut-off, None) for the share below it, (low, high) for a band between two
    cut-offs, which the model gives as the difference of the two cumulative predictions.

    The definition fixes the cut-offs (``model.cutoffs_of``; a generated id such as
    "b12_lt156" is read from the id); the status says what the figure is called. Status
    "marginal" needs a band (e.g. b12_148_221): the share below a single cut-off is not a
    marginal band, and ValueError says so.
    """
    if status not in schema.STATUSES:
        raise ValueError(f"unknown status {status!r} (allowed: {', '.join(schema.STATUSES)})")
    if definition in schema.DEFINITIONS_BY_ID:
        low, high = model_module.cutoffs_of(pd.DataFrame({"definition": [definition]}))
        low_c, high_c = float(low[0]), (None if np.isnan(high[0]) else float(high[0]))
    else:
        match = _SERUM_ID.match(definition)
        if match is None:
            raise ValueError(f"unknown definition {definition!r}: no cut-off to predict")

        def number(text: str) -> float:
            return float(text.replace("p", "."))

        low_c, high_c = ((number(match["a"]), None) if match["a"] is not None
                         else (number(match["lo"]), number(match["hi"])))
    if status == "marginal" and high_c is None:
        raise ValueError(
            f"status 'marginal' needs a band between two cut-offs (e.g. b12_148_221); "
            f"{definition} is the share below one cut-off")
    return low_c, high_c


def model_cutoffs(fitted: model_module.Model, definition: str | None = None,
                  status: str = schema.DEFAULT_STATUS) -> tuple[float, float | None]:
    """Cut-offs of the query: the view's (``view_cutoffs``) for a crosswalk model; a model
    of one other definition predicts that definition, whatever the number."""
    definition = fitted.definition if definition is None else definition
    if fitted.crosswalk:
        known = schema.DEFINITIONS_BY_ID.get(definition)
        if known is not None and known.biomarker != model_module.CROSSWALK_BIOMARKER:
            raise ValueError(f"the serum B12 model does not predict {definition!r} "
                             f"({known.biomarker}): fit that definition's own model")
        return view_cutoffs(definition, status)
    if definition != fitted.definition:
        raise ValueError(f"the model is fitted for {fitted.definition!r}, not {definition!r}")
    if status not in schema.STATUSES:
        raise ValueError(f"unknown status {status!r} (allowed: {', '.join(schema.STATUSES)})")
    return model_module.REFERENCE_CUTOFF, None


def _resolve_locations(population: pd.DataFrame, locations: Sequence) -> np.ndarray:
    """Location codes for location codes (int), ISO3 codes or exact WPP location names."""
    if isinstance(locations, (str, int, np.integer)):
        locations = [locations]
    table = population[["location_code", "location", "iso3", "location_type"]].drop_duplicates(
        "location_code"
    )
    # WPP reuses a few names (e.g. "Latin America and the Caribbean" is a Region and an SDG
    # region): a name means the country, the World, the region or the subregion first.
    rank = {t: i for i, t in enumerate(NAME_PRECEDENCE)}
    table = table.assign(
        _rank=table["location_type"].astype("object").map(lambda t: rank.get(t, len(rank)))
    ).sort_values(["_rank", "location_code"], ascending=[False, False])
    by_code = dict.fromkeys(table["location_code"].astype(int))
    by_iso = dict(zip(table["iso3"].astype("object"), table["location_code"], strict=True))
    by_name = dict(zip(table["location"].astype("object"), table["location_code"], strict=True))
    codes, unknown = [], []
    for item in locations:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            ok = int(item) in by_code
            code = int(item)
        elif isinstance(item, str):
            code = by_iso.get(item, by_name.get(item))
            ok = code is not None
        else:
            ok, code = False, None
        (codes if ok else unknown).append(code if ok else item)
    if unknown:
        raise ValueError(f"unknown locations: {', '.join(map(repr, unknown))}")
    if not codes:
        raise ValueError("no locations given")
    return np.array(list(dict.fromkeys(int(c) for c in codes)))


def _members(population: pd.DataFrame, aggregate_rows: pd.DataFrame) -> dict[int, np.ndarray]:
    """Member countries (location codes) of each aggregate location.

    World: every Country/Area; a region or subregion: the countries naming it as theirs; an
    SDG region: the countries of its regions and subregions (schema.SDG_REGIONS).
    """
    countries = population.loc[
        (population["location_type"] == "Country/Area").to_numpy(dtype=bool),
        ["location_code", "region", "subregion"],
    ].drop_duplicates("location_code")
    out = {}
    for code, name, kind in aggregate_rows[["location_code", "location",
                                            "location_type"]].itertuples(index=False):
        if kind == "World":
            members = countries["location_code"]
        else:
            parts = list(schema.SDG_REGIONS.get(name, (name,)))
            members = countries.loc[
                (countries["region"].isin(parts) | countries["subregion"].isin(parts)).to_numpy(
                    dtype=bool), "location_code"]
        if members.empty:
            raise ValueError(
                f"no member countries known for {name!r} ({kind}): choose countries, WPP "
                "regions, subregions or SDG regions, or the World"
            )
        out[int(code)] = np.sort(members.to_numpy(dtype=int))
    return out


def member_countries(population: pd.DataFrame, locations: Sequence) -> list[str]:
    """Sorted ISO3 codes of the countries the locations stand for: a country itself, an
    aggregate (World, region, subregion, SDG region) its member countries."""
    codes = _resolve_locations(population, locations)
    table = locations_table(population)
    asked = table.loc[table["location_code"].isin(codes)]
    aggregates = asked.loc[asked["iso3"].isna().to_numpy()]
    members = _members(population, aggregates) if len(aggregates) else {}
    wanted = set(asked["location_code"].loc[asked["iso3"].notna()].astype(int))
    wanted.update(int(c) for m in members.values() for c in m)
    iso = table.loc[table["location_code"].isin(wanted), "iso3"].dropna().astype(str)
    return sorted(iso.unique())


def _share_matrix(shares_model: pd.DataFrame) -> tuple[dict[str, int], np.ndarray]:
    _require_columns(shares_model, ["country_iso3", "diet_group", "share"], "diet share model")
    wide = shares_model.pivot(index="country_iso3", columns="diet_group", values="share")
    missing = [d for d in schema.DIET_GROUPS if d not in wide.columns]
    if missing:
        raise ValueError(f"diet share model lacks the groups {', '.join(missing)}")
    matrix = wide[list(schema.DIET_GROUPS)].to_numpy(dtype=float)
    if np.isnan(matrix).any():
        raise ValueError("diet share model has countries without a share for every group")
    if not np.allclose(matrix.sum(axis=1), 1.0, atol=1e-9):
        raise ValueError("diet shares of a country must sum to 1")
    return {str(c): i for i, c in enumerate(wide.index)}, matrix


@functools.lru_cache(maxsize=32)
def _estimable_cells(fitted: model_module.Model, iso3: str, cutoffs: tuple[float, float | None]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``Model.estimable`` of each WPP band x diet group (bands x diets) and of each band's
    general population (any diet): the rule looks at ages, diet and cut-off, not at place,
    so one country's rows serve all. Cached per model and cut-offs (a Model is immutable)."""
    bands = {label: (lo, hi) for label, lo, hi in schema.WPP_AGE_BANDS}
    frame = model_module.general_population_frame([iso3], bands)
    frame = pd.concat([frame.assign(diet_group=d) for d in (*schema.DIET_GROUPS, "general")],
                      ignore_index=True).drop(columns="definition")
    frame["cutoff"] = cutoffs[0]
    frame["cutoff_high"] = np.nan if cutoffs[1] is None else cutoffs[1]
    ok = fitted.estimable(frame).to_numpy().reshape(_N_DIETS + 1, len(bands)).T
    return ok[:, :_N_DIETS], ok[:, _N_DIETS]


def estimate_burden(
    population: pd.DataFrame,
    diet_shares_model: pd.DataFrame,
    model: model_module.Model,
    *,
    locations: Sequence,
    years: Sequence[int],
    definition: str | None = None,
    status: str = schema.DEFAULT_STATUS,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
    supplementation: Mapping | None = None,
) -> pd.DataFrame:
    """Expected people with low B12 status per location, year, WPP age band and diet group.

    cases = population(country, year, age band) x share(country, diet) x
    prevalence(country, age band, diet), the prevalence from the fitted ``model``
    (``Model.grid_draws``) for ``definition`` and ``status`` (``view_cutoffs``; default the
    model's definition): both sexes (the UN WPP population is not split by sex here),
    supplement users included, not pregnant, as a population sample. Locations are WPP
    location codes, ISO3 codes or exact location names. An aggregate (the World, a WPP region
    or subregion, an SDG region) is the sum of its member countries: its population, people
    per diet and cases per age band are their sums, and its ``share`` and ``prevalence`` the
    ratios of those sums.

    Uncertainty: ``draws`` seeded joint draws (Monte Carlo, as GBD's 1,000 draws): the
    coefficient draws are shared by every country, each region and country effect is one
    draw shared by its rows (from its BLUP distribution where the model has estimates there,
    from sigma^2 where not), and every year of a country shares its draws (the model has no
    time trend). An aggregate's draws are the sums of its members' draws, so its interval
    is the quantiles of summed draws. ``prevalence_low``/``_high`` and ``cases_low``/``_high``
    are the ``level`` quantiles of each row's draws; the draws travel in
    ``attrs["prevalence_draws"]`` (``cell`` is a row's row there) for ``summarize_burden``
    and ``age_standardized_prevalence``.

    ``estimable`` is ``Model.estimable`` for the row's age band and diet group (False:
    the model extrapolates, to be shown flagged, never as a plain number);
    ``estimable_general`` is the same for the band's general population, which the
    summaries of whole populations use. ``supplementation={"diet_group": str | None,
    "coverage": c, "effect": e}`` multiplies the prevalence of the group (None: everyone) by
    1 - c x e (the covered share with a relative reduction e); default: no effect.
    """
    frame, values = _burden_frame(
        population, diet_shares_model, model, locations=locations, years=years,
        definition=definition, status=status, draws=draws, seed=seed, level=level,
        supplementation=supplementation)
    alpha = 1 - level
    low, high = np.quantile(values.values, [alpha / 2, 1 - alpha / 2], axis=1)
    cell = frame["cell"].to_numpy()
    people = frame["population"].to_numpy() * frame["share"].to_numpy()
    frame.insert(frame.columns.get_loc("prevalence") + 1, "prevalence_low", low[cell])
    frame.insert(frame.columns.get_loc("prevalence_low") + 1, "prevalence_high", high[cell])
    frame.insert(frame.columns.get_loc("cases") + 1, "cases_low", people * low[cell])
    frame.insert(frame.columns.get_loc("cases_low") + 1, "cases_high", people * high[cell])
    frame.attrs["prevalence_draws"] = values
    if supplementation is not None:
        frame.attrs["supplementation"] = dict(supplementation)
    return frame


def _burden_frame(
    population: pd.DataFrame, diet_shares_model: pd.DataFrame, model: model_module.Model, *,
    locations: Sequence, years: Sequence[int], definition: str | None, status: str,
    draws: int, seed: int, level: float, supplementation: Mapping | None,
) -> tuple[pd.DataFrame, PrevalenceDraws]:
    """The burden rows without their own intervals, and the cells' draws."""
    _require_columns(
        population,
        ["location_code", "location", "iso3", "location_type", "year", "age_band", "age_min",
         "population"],
        "population frame",
    )
    if int(draws) < 2:
        raise ValueError(f"draws must be at least 2, got {draws}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie between 0 and 1, got {level}")
    supp = _check_supplementation(supplementation)
    cutoffs = model_cutoffs(model, definition, status)
    codes = _resolve_locations(population, locations)
    year_list = sorted({int(y) for y in ([years] if isinstance(years, int) else years)})
    if not year_list:
        raise ValueError("no years given")
    asked = _population_by_age(population, codes, year_list).drop_duplicates("location_code")
    aggregates = asked.loc[asked["iso3"].isna().to_numpy()]
    members = _members(population, aggregates) if len(aggregates) else {}
    own = asked.loc[asked["iso3"].notna().to_numpy(), "location_code"].to_numpy(dtype=int)
    needed = np.unique(np.concatenate([own, *members.values()]).astype(int))
    sub = _population_by_age(population, needed, year_list)
    n_c, n_y, n_a = len(needed), len(year_list), len(_WPP_LABELS)
    pop = sub["population"].to_numpy(dtype=float).reshape(n_c, n_y, n_a)
    iso3 = sub["iso3"].astype("object").to_numpy()[::n_y * n_a].astype(str)
    iso_index, share_matrix = _share_matrix(diet_shares_model)
    absent = sorted(c for c in iso3 if c not in iso_index)
    if absent:
        raise ValueError(f"diet share model has no row for {', '.join(absent[:20])}"
                         + (" ..." if len(absent) > 20 else ""))
    shares = share_matrix[[iso_index[c] for c in iso3]]
    ages = [(lo, hi) for _, lo, hi in schema.WPP_AGE_BANDS]
    values, point = model.grid_draws(list(iso3), ages, cutoff=cutoffs[0],
                                     cutoff_high=cutoffs[1], draws=int(draws), seed=seed)
    if supp is not None:
        values *= supp[0].astype(np.float32)[None, None, :, None]
        point = point * supp[0][None, None, :]
    ok, ok_general = _estimable_cells(model, str(iso3[0]), cutoffs)

    # Countries asked for: their own cells (shared by the years); aggregates: one cell per
    # year, band and diet, the people-weighted sum of their members' draws.
    n_cell = n_a * _N_DIETS
    position = {int(c): i for i, c in enumerate(needed)}
    own_pos = np.array([position[int(c)] for c in own], dtype=int)
    n_k = values.shape[-1]
    whole = len(own_pos) == n_c and bool((own_pos == np.arange(n_c)).all())
    blocks = [values.reshape(-1, n_k) if whole else
              values[own_pos].reshape(len(own_pos) * n_cell, n_k)]
    cell_keys = [pd.DataFrame({
        "location_code": np.repeat(own, n_cell), "year": pd.array([pd.NA] * len(own) * n_cell,
                                                                   dtype="Int64"),
        "age_band": np.tile(np.repeat(_WPP_LABELS, _N_DIETS), len(own)),
        "diet_group": np.tile(schema.DIET_GROUPS, len(own) * n_a),
    })]
    next_cell = len(own) * n_cell
    # One block of rows per location and year: (code, name, iso3, year, population by band,
    # share by band x diet, prevalence by band x diet, first cell).
    blocks_rows: list[tuple] = []
    labels = asked.set_index("location_code")["location"].astype("object")
    own_first = {int(c): i * n_cell for i, c in enumerate(own)}
    for code in asked["location_code"].to_numpy(dtype=int):
        name = labels.at[code]
        if code not in members:
            i = position[int(code)]
            blocks_rows += [(code, name, iso3[i], year, pop[i, y], np.broadcast_to(
                shares[i], (n_a, _N_DIETS)), point[i], own_first[int(code)])
                for y, year in enumerate(year_list)]
            continue
        m = np.array([position[int(c)] for c in members[code]], dtype=int)
        inside = values if len(m) == n_c else values[m]  # no copy for the World
        for y, year in enumerate(year_list):
            weight = pop[m, y, :, None] * shares[m, None, :]            # members x a x d
            people = weight.sum(axis=0)
            band_pop = pop[m, y, :].sum(axis=0)
            per_band = np.where(band_pop > 0, band_pop, 1.0)[:, None]
            safe = np.where(people > 0, people, 1.0)
            # A diet nobody in the aggregate follows keeps its members' population-weighted
            # prevalence, so the row still says what the model predicts for it.
            prevalence = np.where(people > 0, (weight * point[m]).sum(axis=0) / safe,
                                  (pop[m, y, :, None] * point[m]).sum(axis=0) / per_band)
            sums = np.einsum("cad,cadk->adk", weight.astype(np.float32), inside)
            blocks.append((sums / safe[:, :, None].astype(np.float32)).reshape(n_cell, -1))
            cell_keys.append(pd.DataFrame({
                "location_code": code, "year": pd.array([year] * n_cell, dtype="Int64"),
                "age_band": np.repeat(_WPP_LABELS, _N_DIETS),
                "diet_group": np.tile(schema.DIET_GROUPS, n_a)}))
            blocks_rows.append((code, name, None, year, band_pop, people / per_band,
                                prevalence, next_cell))
            next_cell += n_cell
    frame = _rows(blocks_rows, ok, ok_general)
    frame = frame.sort_values(["location_code", "year"], kind="stable", ignore_index=True)
    values_all = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    cells = pd.concat(cell_keys, ignore_index=True)
    return frame, PrevalenceDraws(cells, values_all, level, seed)


def _rows(blocks: list[tuple], ok: np.ndarray, ok_general: np.ndarray) -> pd.DataFrame:
    """Burden rows of each (code, name, iso3, year, population by band, share and prevalence
    by band x diet, first cell) block: 21 WPP bands x diets, band-major."""
    n_a = len(_WPP_LABELS)
    n_cell = n_a * _N_DIETS
    n = len(blocks)
    band = np.tile(np.repeat(np.arange(n_a), _N_DIETS), n)
    diet = np.tile(np.arange(_N_DIETS), n_a * n)
    band_pop = np.stack([b[4] for b in blocks]).reshape(n, n_a)
    share = np.stack([b[5] for b in blocks]).reshape(n, n_cell)
    prevalence = np.stack([b[6] for b in blocks]).reshape(n, n_cell).ravel()
    population = np.repeat(band_pop, _N_DIETS, axis=1).ravel()
    share = share.ravel()
    starts = np.array([lo for _, lo, _ in schema.WPP_AGE_BANDS])
    cell = (np.array([b[7] for b in blocks])[:, None] + np.arange(n_cell)[None, :]).ravel()

    def each(i: int, dtype: type) -> np.ndarray:
        return np.repeat(np.array([b[i] for b in blocks], dtype=dtype), n_cell)

    return pd.DataFrame({
        "location_code": each(0, np.int64), "location": each(1, object),
        "iso3": each(2, object), "year": each(3, np.int64),
        "age_band": pd.Categorical.from_codes(band, categories=_WPP_LABELS, ordered=True),
        "analysis_band": pd.Categorical.from_codes(analysis_band_of(starts)[band],
                                                   categories=schema.AGE_BAND_LABELS,
                                                   ordered=True),
        "diet_group": pd.Categorical.from_codes(diet, categories=schema.DIET_GROUPS,
                                                ordered=True),
        "population": population, "share": share, "prevalence": prevalence,
        "cases": population * share * prevalence,
        "estimable": ok[band, diet], "estimable_general": ok_general[band], "cell": cell,
    })


def _population_by_age(
    population: pd.DataFrame, codes: np.ndarray, years: list[int]
) -> pd.DataFrame:
    """One row per WPP age band of each asked location and year, so every cell has people,
    sorted by location code, year and age."""
    sub = population.loc[
        (population["location_code"].isin(codes) & population["year"].isin(years)).to_numpy(
            dtype=bool)
    ]
    if "variant" in sub.columns and sub.duplicated(["location_code", "year", "age_band"]).any():
        # Observed estimates take precedence over projections where a year has both.
        sub = sub.sort_values("variant", key=lambda s: s.ne("estimate")).drop_duplicates(
            ["location_code", "year", "age_band"])
    sub = sub.sort_values(["location_code", "year", "age_min"], kind="stable")
    counts = sub.groupby(["location_code", "year"], observed=True).size()
    expected = pd.MultiIndex.from_product([codes, years], names=["location_code", "year"])
    found = counts.reindex(expected, fill_value=0).to_numpy()
    incomplete = list(expected[found != len(_WPP_LABELS)])
    if incomplete:
        names = dict(zip(population["location_code"], population["location"], strict=False))
        raise ValueError(
            "no complete population by age for: "
            + ", ".join(f"{names.get(c, c)} {y}" for c, y in incomplete[:10])
        )
    return sub


def _draws_of(burden: pd.DataFrame, draws: PrevalenceDraws | None) -> PrevalenceDraws:
    draws = draws if draws is not None else burden.attrs.get("prevalence_draws")
    if not isinstance(draws, PrevalenceDraws):
        raise ValueError(
            "burden frame carries no prevalence draws: pass a frame returned by "
            "estimate_burden (or its rows), or the draws explicitly"
        )
    return draws


# Draws summed per chunk of this many draws, in float64, so a sum over every country never
# holds a float64 copy of all the draws (about 160 MB for 236 countries).
_CHUNK_DRAWS = 128


def _weighted_draws(
    group: np.ndarray, n_groups: int, cell: np.ndarray, weight: np.ndarray,
    draws: PrevalenceDraws,
) -> np.ndarray:
    """Draws of sum(weight x prevalence) per group (groups x draws), in float64."""
    values = draws.values
    if len(cell) and (cell.min() < 0 or cell.max() >= len(values)):
        raise ValueError("burden rows point at cells the draws do not cover")
    matrix = sparse.csr_matrix((weight, (group, cell)), shape=(n_groups, len(values)))
    out = np.empty((n_groups, values.shape[1]))
    for start in range(0, values.shape[1], _CHUNK_DRAWS):
        chunk = values[:, start:start + _CHUNK_DRAWS].astype(np.float64)
        out[:, start:start + _CHUNK_DRAWS] = matrix @ chunk
    return out


def case_draws(
    burden: pd.DataFrame, by: Sequence[str] = ("location", "year"), *,
    draws: PrevalenceDraws | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The groups of burden rows (keys, sorted) and the draws of their summed cases
    (groups x draws): each draw adds population x share x that draw's prevalence."""
    by = list(by)
    _require_columns(burden, [*by, "population", "share", "cell"], "burden frame")
    _, keys, sims = _case_sims(burden, by, _draws_of(burden, draws))
    return keys, sims


def _case_sims(burden: pd.DataFrame, by: list[str], draws: PrevalenceDraws
               ) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    if by:
        group_id, keys = _groups(burden, by)
    else:
        group_id, keys = np.zeros(len(burden), dtype=int), pd.DataFrame(index=[0])
    people = burden["population"].to_numpy(dtype=float) * burden["share"].to_numpy(dtype=float)
    sims = _weighted_draws(group_id, len(keys), burden["cell"].to_numpy(dtype=int), people,
                           draws)
    return group_id, keys.reset_index(drop=True), sims


def summarize_burden(
    burden: pd.DataFrame,
    by: Sequence[str] = ("location", "year"),
    *,
    draws: PrevalenceDraws | None = None,
    level: float | None = None,
) -> pd.DataFrame:
    """Cases and prevalence per group of burden rows, with intervals from summed draws.

    For each draw the cases of the group's rows are added up (``case_draws``), and the
    interval is taken from the quantiles of those sums; adding the rows' interval bounds
    instead would overstate the width (it assumes every cell at its extreme at once).
    ``population`` is the number of people the rows stand for (population x share), so a
    group by diet counts that diet's people. ``estimable`` is True when the model predicts
    every row of the group without extrapolating; a group holding every diet group of its
    ages is a general population, and takes the general population's rule
    (``estimable_general``). Columns: [*by, population, cases, cases_low, cases_high,
    prevalence, prevalence_low, prevalence_high, estimable].
    """
    by = list(by)
    _require_columns(burden, [*by, "diet_group", "population", "share", "cases", "estimable",
                              "estimable_general", "cell"], "burden frame")
    prevalence_draws = _draws_of(burden, draws)
    level = prevalence_draws.level if level is None else level
    if not 0 < level < 1:
        raise ValueError(f"level must lie between 0 and 1, got {level}")
    columns = [*by, "population", "cases", "cases_low", "cases_high", "prevalence",
               "prevalence_low", "prevalence_high", "estimable"]
    if burden.empty:
        return pd.DataFrame(columns=columns)
    group_id, keys, sims = _case_sims(burden, by, prevalence_draws)
    n_groups = len(keys)
    people = burden["population"].to_numpy(dtype=float) * burden["share"].to_numpy(dtype=float)
    total_people = np.bincount(group_id, weights=people, minlength=n_groups)
    cases = np.bincount(group_id, weights=burden["cases"].to_numpy(dtype=float),
                        minlength=n_groups)
    alpha = 1 - level
    low, high = np.quantile(sims, [alpha / 2, 1 - alpha / 2], axis=1)
    out = keys.copy()
    out["population"] = total_people
    out["cases"] = cases
    out["cases_low"] = low
    out["cases_high"] = high
    with np.errstate(invalid="ignore", divide="ignore"):
        out["prevalence"] = cases / total_people
        out["prevalence_low"] = low / total_people
        out["prevalence_high"] = high / total_people
    out["estimable"] = _group_estimable(burden, group_id, n_groups)
    return out[columns]


def _group_estimable(burden: pd.DataFrame, group_id: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group: every row estimable, or (all diets of its ages present) every row's
    general population estimable."""
    own = np.bincount(group_id, weights=~burden["estimable"].to_numpy(dtype=bool),
                      minlength=n_groups) == 0
    general = np.bincount(group_id, weights=~burden["estimable_general"].to_numpy(dtype=bool),
                          minlength=n_groups) == 0
    diets = pd.Series(burden["diet_group"].astype("object").to_numpy()).groupby(
        group_id).nunique().reindex(range(n_groups), fill_value=0).to_numpy()
    return own | (general & (diets == _N_DIETS))


def _groups(frame: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Group number per row and the groups' keys, in sorted key order."""
    grouped = frame.groupby(by, sort=True, observed=True, dropna=False)
    group_id = grouped.ngroup().to_numpy()
    keys = grouped.size().reset_index()[by]
    return group_id, keys


# --- age standardisation ---------------------------------------------------------------------


def _standard_weights(
    standard_populations: pd.DataFrame, standard: str
) -> tuple[np.ndarray, np.ndarray]:
    """Weight share of the standard and the standard's group for each WPP five-year band.

    A standard group spanning several WPP bands (the open 85+ or 95+ groups of the US 2000,
    Segi and ESP 2013 standards gather WPP's 85-89 ... 100+) is returned per band as the group
    weight times 1/number of bands; ``age_standardized_prevalence`` re-spreads it by the
    location's own population, so the group's rate is the population-weighted rate of its
    bands. Weights are normalised to sum to 1 (WHO's published percentages add to 100.035).
    """
    _require_columns(standard_populations, ["standard", "age_min", "age_max", "weight"],
                     "standard populations frame")
    known = sorted(set(standard_populations["standard"].astype(str)))
    if standard not in known:
        raise ValueError(f"unknown standard {standard!r} (available: {', '.join(known)})")
    rows = standard_populations.loc[
        (standard_populations["standard"] == standard).to_numpy(dtype=bool)
    ].sort_values("age_min")
    lo = rows["age_min"].to_numpy(dtype=float)
    hi = pd.to_numeric(rows["age_max"], errors="coerce").to_numpy(dtype=float)
    weight = rows["weight"].to_numpy(dtype=float)
    if lo[0] != 0 or not np.isnan(hi[-1]) or not np.array_equal(lo[1:], hi[:-1] + 1):
        raise ValueError(f"standard {standard!r} must cover ages 0 to an open top group "
                         "without gaps or overlaps")
    wpp_lo = np.array([b[1] for b in schema.WPP_AGE_BANDS], dtype=float)
    wpp_hi = np.array([np.nan if b[2] is None else b[2] for b in schema.WPP_AGE_BANDS],
                      dtype=float)
    group = np.searchsorted(lo, wpp_lo, side="right") - 1
    fits = np.isnan(hi[group]) | (~np.isnan(wpp_hi) & (wpp_hi <= hi[group]))
    starts = np.isin(lo, wpp_lo)
    if not fits.all() or not starts.all():
        raise ValueError(f"standard {standard!r} has age groups that do not align with the "
                         "population's five-year bands")
    per_group = np.bincount(group, minlength=len(lo))
    return weight[group] / per_group[group] / weight.sum(), group


def age_standardized_prevalence(
    burden: pd.DataFrame,
    standard_populations: pd.DataFrame,
    standard: str = schema.DEFAULT_STANDARD,
    *,
    locations: Sequence | None = None,
    year: int | None = None,
    draws: PrevalenceDraws | None = None,
    level: float | None = None,
) -> pd.DataFrame:
    """Crude and directly age-standardised prevalence per location and year, with intervals.

    Direct standardisation (Ahmad et al. 2001): sum over the standard's age groups of
    weight x age-specific prevalence, weights normalised to 1. The age-specific prevalence of
    a WPP band is the share-weighted mean over diets of the modelled prevalence. A standard
    group that spans several WPP bands (85+ in US 2000 and Segi, 95+ in ESP 2013) takes the
    location's population-weighted prevalence over those bands (WPP's bands up to 100+ are
    gathered into the open top group). Crude = cases / population. Intervals come from the
    same draws as the burden (summed per draw, then quantiles). ``locations`` (codes, ISO3 or
    names, as in the burden frame) and ``year`` restrict the output; None keeps all.
    """
    frame = burden
    if locations is not None:
        items = [locations] if isinstance(locations, (str, int, np.integer)) else list(locations)
        keep = (frame["location_code"].isin([i for i in items if not isinstance(i, str)])
                | frame["iso3"].isin(items) | frame["location"].isin(items))
        found = set(frame.loc[keep, "location_code"])
        unknown = [i for i in items if not (
            (not isinstance(i, str) and i in found)
            or (isinstance(i, str) and ((frame["iso3"] == i) | (frame["location"] == i)).any())
        )]
        if unknown:
            raise ValueError(f"locations not in the burden frame: {unknown}")
        frame = frame.loc[keep.to_numpy(dtype=bool)]
    if year is not None:
        if not (frame["year"] == year).any():
            raise ValueError(f"year {year} is not in the burden frame")
        frame = frame.loc[(frame["year"] == year).to_numpy(dtype=bool)]
    prevalence_draws = _draws_of(burden, draws)
    level = prevalence_draws.level if level is None else level
    band_weight, band_group = _standard_weights(standard_populations, standard)

    keys_by = ["location_code", "location", "iso3", "year"]
    group_id, keys = _groups(frame, keys_by)
    n_groups = len(keys)
    wpp = frame["age_band"].astype("object")
    band = pd.Categorical(wpp, categories=_WPP_LABELS).codes
    if (band < 0).any():
        raise ValueError("burden frame has age bands outside schema.WPP_AGE_BANDS")
    pop = frame["population"].to_numpy(dtype=float)
    share = frame["share"].to_numpy(dtype=float)
    n_bands = len(_WPP_LABELS)
    share_sum = np.bincount(group_id * n_bands + band, weights=share,
                            minlength=n_groups * n_bands).reshape(n_groups, n_bands)
    if not np.allclose(share_sum, 1.0, atol=1e-9):
        raise ValueError("burden frame must hold every WPP age band and every diet group of "
                         "each location and year to standardise")
    # Population of each WPP band and of its standard group, per location-year.
    band_pop = np.bincount(group_id * n_bands + band, weights=pop * share,
                           minlength=n_groups * n_bands).reshape(n_groups, n_bands)
    n_std = band_group.max() + 1
    group_pop = band_pop @ (band_group[:, None] == np.arange(n_std)[None, :])
    group_weight = np.bincount(band_group, weights=band_weight, minlength=n_std)
    bands_per_group = np.bincount(band_group, minlength=n_std)
    with np.errstate(invalid="ignore", divide="ignore"):
        within = np.where(group_pop[:, band_group] > 0,
                          band_pop / group_pop[:, band_group],
                          1.0 / bands_per_group[band_group])
    row_weight = (group_weight[band_group][None, :] * within)[group_id, band] * share

    cell = frame["cell"].to_numpy(dtype=int)
    prevalence = frame["prevalence"].to_numpy(dtype=float)
    asp = np.bincount(group_id, weights=row_weight * prevalence, minlength=n_groups)
    asp_sims = _weighted_draws(group_id, n_groups, cell, row_weight, prevalence_draws)
    people = pop * share
    total = np.bincount(group_id, weights=people, minlength=n_groups)
    cases = np.bincount(group_id, weights=people * prevalence, minlength=n_groups)
    crude_sims = _weighted_draws(group_id, n_groups, cell, people, prevalence_draws)
    alpha = 1 - level
    out = keys.reset_index(drop=True).copy()
    out["standard"] = standard
    out["standard_label"] = schema.STANDARD_POPULATIONS.get(standard, standard)
    out["population"] = total
    out["cases"] = cases
    with np.errstate(invalid="ignore", divide="ignore"):
        out["crude"] = cases / total
        lo, hi = np.quantile(crude_sims, [alpha / 2, 1 - alpha / 2], axis=1)
        out["crude_low"] = lo / total
        out["crude_high"] = hi / total
    out["age_standardized"] = asp
    lo, hi = np.quantile(asp_sims, [alpha / 2, 1 - alpha / 2], axis=1)
    out["age_standardized_low"] = lo
    out["age_standardized_high"] = hi
    return out


# --- locations and summaries for a view ------------------------------------------------------


def locations_table(population: pd.DataFrame) -> pd.DataFrame:
    """One row per WPP location of the population frame: code, name, ISO3 (countries only;
    missing for aggregates) and location type, as plain object columns.
    Columns: [location_code, location, iso3, location_type]."""
    _require_columns(population, ["location_code", "location", "iso3", "location_type"],
                     "population frame")
    return population.drop_duplicates("location_code")[
        ["location_code", "location", "iso3", "location_type"]
    ].astype({"location": "object", "iso3": "object", "location_type": "object"})


def country_names(table: pd.DataFrame) -> dict[str, str]:
    """ISO3 -> WPP name of every location of ``locations_table`` that has an ISO3 code."""
    named = table.dropna(subset="iso3")
    return dict(zip(named["iso3"], named["location"], strict=True))


def country_codes(table: pd.DataFrame) -> list[str]:
    """Sorted ISO3 codes of the WPP countries and areas of ``locations_table`` (the units of
    the world map and of the diet-share model)."""
    return sorted(table.loc[table["location_type"] == "Country/Area", "iso3"].astype(str))


def split_locations(
    chosen: Sequence[str], table: pd.DataFrame
) -> tuple[list[str], list[str]]:
    """The chosen locations (names or ISO3 codes) the model covers, in the order given, and
    the others, each with the reason it is not modelled: a WPP location of a type outside
    ``MODELLED_TYPES``, or a name without a UN WPP 2022 population."""
    kind = dict(zip(table["location"], table["location_type"], strict=True))
    kind.update(zip(table["iso3"].dropna(), table["location_type"], strict=False))
    covered, refused = [], []
    for loc in chosen:
        if kind.get(loc) in MODELLED_TYPES:
            covered.append(loc)
        elif loc in kind:
            refused.append(f"{loc} (a WPP {kind[loc]}: the model covers the World, WPP regions, "
                           "subregions, SDG regions and countries)")
        else:
            refused.append(f"{loc} (no UN WPP 2022 population)")
    return covered, refused


def estimate_summary(
    population: pd.DataFrame,
    diet_shares_model: pd.DataFrame,
    model: model_module.Model,
    *,
    locations: Sequence,
    years: Sequence[int],
    by: Sequence[str],
    definition: str | None = None,
    status: str = schema.DEFAULT_STATUS,
    supplementation: Mapping | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """``estimate_burden`` for the locations and years, summarised by ``by`` with
    ``summarize_burden`` (intervals from summed draws): the input of the map (by country in
    one year) and of the projection (by location and year). Columns as ``summarize_burden``.
    The rows' own intervals are not computed (quantiles of every cell's draws would take
    longer than the rest).
    """
    rows, values = _burden_frame(
        population, diet_shares_model, model, locations=locations, years=years,
        definition=definition, status=status, draws=draws, seed=seed, level=0.95,
        supplementation=supplementation)
    return summarize_burden(rows, by=by, draws=values)


def diet_share_summary(burden: pd.DataFrame) -> pd.DataFrame:
    """People per location and diet group of burden rows, with each group's share of the
    location's people (all ages; for a region, its countries' population-weighted shares).
    Columns: as ``summarize_burden`` by [location, diet_group], plus share."""
    out = summarize_burden(burden, by=["location", "diet_group"])
    out["share"] = out["population"] / out.groupby("location")["population"].transform("sum")
    return out


def count_default_countries(diet_shares_model: pd.DataFrame) -> tuple[int, int]:
    """(countries without any diet survey, countries) of a ``diet_share_model`` frame.

    A country counts as without a survey when every group other than omnivores takes a
    default share: omnivores are the remainder, never a default, so they say nothing.
    """
    _require_columns(diet_shares_model, ["country_iso3", "diet_group", "is_default"],
                     "diet share model")
    measured = diet_shares_model.loc[
        (diet_shares_model["diet_group"] != "omnivore").to_numpy(dtype=bool)]
    all_default = measured.groupby("country_iso3")["is_default"].all()
    return int(all_default.sum()), len(all_default)


# --- what drives a location's prevalence -----------------------------------------------------


def country_support(model: model_module.Model, iso3: Sequence[str]) -> pd.DataFrame:
    """Independent studies behind each country's general-population prediction
    (``Model.support``): in the country and in its WPP region.
    Columns: [iso3, support_country, support_region]."""
    codes = [str(c) for c in iso3]
    support = model.support(pd.DataFrame({
        "iso3": codes, "age_min": 0, "age_max": None, "sex": "both", "diet_group": "general",
        "supplement_users": "included", "cutoff": model_module.REFERENCE_CUTOFF}))
    return pd.DataFrame({"iso3": codes,
                         "support_country": support["support_country"].to_numpy(),
                         "support_region": support["support_region"].to_numpy()})


def _odds(p: float) -> float:
    return p / (1 - p) if 0 < p < 1 else float("nan")


def location_studies(drivers: pd.DataFrame, location: str) -> int:
    """Independent studies the model fits in ``location`` itself (its countries), from
    ``estimate_drivers`` output with a ``location`` column: the Country row's ``studies``."""
    rows = drivers.loc[(drivers["location"] == location)
                       & drivers["driver"].astype(str).str.startswith("Country")]
    if rows.empty:
        raise ValueError(f"no Country driver for {location} in the drivers frame")
    return int(rows["studies"].iloc[0])


def estimate_drivers(
    model: model_module.Model,
    population: pd.DataFrame,
    burden: pd.DataFrame,
    location: str,
    standard_populations: pd.DataFrame,
    standard: str = schema.DEFAULT_STANDARD,
    level: float = 0.95,
) -> pd.DataFrame:
    """The model terms that move one location's modelled prevalence, as odds ratios.

    ``burden``: ``estimate_burden`` rows holding the location (one year). Rows, each with
    ``odds_ratio`` (and ``or_low``/``or_high`` where the model gives an interval), a
    ``detail`` sentence and ``studies`` (independent studies behind the term, NaN where it
    does not apply):

    - income group: the World Bank group's coefficient vs high income (an aggregate: its
      countries' population-weighted mix of the coefficients, se from the covariance);
    - region and country effects: exp(BLUP), interval exp(BLUP +/- z se); a region or
      country without estimates has no effect of its own (odds ratio 1, spread sigma^2);
      ``studies`` is ``Model.support``'s support_region / support_country (an aggregate:
      population-weighted means of its countries' effects, studies in its countries);
    - age structure: odds of the crude prevalence over the odds of the age-standardised one
      (``standard``): above 1 when the location's ages carry more low status;
    - diet mix: odds of the crude prevalence over the odds if everyone were omnivorous;
    - each diet term of the fit (vegetarian, vegan vs omnivore) with the location's share.
    """
    rows = burden.loc[(burden["location"] == location).to_numpy(dtype=bool)]
    if rows.empty:
        raise ValueError(f"{location!r} is not in the burden frame")
    if rows["year"].nunique() != 1:
        raise ValueError("drivers are of one year: filter the burden rows to one year")
    year = int(rows["year"].iloc[0])
    z = model_module.stats_norm_ppf(0.5 + level / 2)
    iso3 = rows["iso3"].iloc[0]
    if isinstance(iso3, str):
        members, weights = [iso3], np.array([1.0])
    else:
        table = rows.drop_duplicates("location_code").assign(
            location_type=population.loc[population["location_code"] == rows[
                "location_code"].iloc[0], "location_type"].astype("object").iloc[0])
        codes = _members(population, table)[int(rows["location_code"].iloc[0])]
        pop = population.loc[(population["location_code"].isin(codes)
                              & (population["year"] == year)).to_numpy(dtype=bool)]
        totals = pop.groupby(pop["iso3"].astype("object"))["population"].sum()
        members, weights = list(totals.index), totals.to_numpy(dtype=float) / totals.sum()
    single = len(members) == 1
    coef = model.coefficients(level).set_index("term")
    terms = list(model.fit.terms)
    out: list[dict] = []

    # Income group: the fit's income dummies of each member (fractional where the World
    # Bank does not classify a country), weighted by population.
    query = pd.DataFrame({"iso3": members, "age": 40.0, "sex": "both",
                          "diet_group": "omnivore", "supplement_users": "included",
                          "cutoff": model_module.REFERENCE_CUTOFF})
    income_terms = [t for t in model_module.INCOME_TERMS if t in terms]
    x = model_module.design_matrix(query, model.countries, model.shares, income_terms)
    w = weights @ x.to_numpy(dtype=float) if income_terms else np.zeros(0)
    pos = [terms.index(t) for t in income_terms]
    log_or = float(w @ model.fit.beta[pos]) if pos else 0.0
    se = float(np.sqrt(w @ model.fit.vcov[np.ix_(pos, pos)] @ w)) if pos else 0.0
    groups = model.countries.set_index("iso3")["income_group"].astype("object")
    if single:
        group = groups.get(members[0])
        detail = (f"World Bank: {str(group).replace('_', '-')} income" if isinstance(group, str)
                  else "not classified by the World Bank: its subregion's mix of groups")
    else:
        mix = pd.Series(weights, index=members).groupby(
            groups.reindex(members).fillna("unclassified").to_numpy()).sum()
        detail = "population mix: " + ", ".join(
            f"{v:.0%} {k.replace('_', '-')}" for k, v in mix.sort_values(ascending=False).items()
            if v >= 0.005)
    out.append({"driver": "Income group (vs high income)", "detail": detail,
                "odds_ratio": math.exp(log_or), "or_low": math.exp(log_or - z * se),
                "or_high": math.exp(log_or + z * se), "studies": np.nan})

    # Region and country effects, with the evidence behind them.
    effects = model.location_effects(members)
    support = country_support(model, members)
    data = model.data
    for level_name, label in (("region", "Region effect (WPP region)"),
                              ("country", "Country effect")):
        blup = effects[f"{level_name}_blup"].to_numpy()
        spread = effects[f"{level_name}_se"].to_numpy()
        observed = effects[f"{level_name}_observed"].to_numpy()
        if single:
            studies = float(support[f"support_{level_name}"].iloc[0])
            where = effects["region"].iloc[0] if level_name == "region" else members[0]
            detail = (f"{where}: estimated from {int(studies)} studies" if observed[0] else
                      f"{where}: no study, so no effect of its own (a new {level_name}'s "
                      f"spread, sigma^2 = {spread[0] ** 2:.3f})")
            lo, hi = math.exp(blup[0] - z * spread[0]), math.exp(blup[0] + z * spread[0])
        else:
            key = "region" if level_name == "region" else "iso3"
            inside = set(effects["region"]) if level_name == "region" else set(members)
            studies = float(data.loc[data[key].isin(inside), "sample_id"].nunique())
            detail = (f"population-weighted mean over {len(members)} countries, "
                      f"{int(observed.sum())} of them with studies in the {level_name}")
            lo = hi = np.nan
        out.append({"driver": label, "detail": detail,
                    "odds_ratio": math.exp(float(weights @ blup)), "or_low": lo, "or_high": hi,
                    "studies": studies})

    # Age structure and diet mix: what the location's own ages and diets do to its figure.
    people = rows["population"].to_numpy(dtype=float) * rows["share"].to_numpy(dtype=float)
    crude = float(rows["cases"].sum() / people.sum())
    std = age_standardized_prevalence(rows, standard_populations, standard)
    asp = float(std["age_standardized"].iloc[0])
    out.append({"driver": "Age structure",
                "detail": f"crude {crude:.1%} vs {asp:.1%} at the "
                          f"{schema.STANDARD_POPULATIONS.get(standard, standard)} ages",
                "odds_ratio": _odds(crude) / _odds(asp), "or_low": np.nan, "or_high": np.nan,
                "studies": np.nan})
    omni = rows.loc[(rows["diet_group"] == "omnivore").to_numpy(dtype=bool)]
    all_omni = float((omni["population"] * omni["prevalence"]).sum() / omni["population"].sum())
    shares = (pd.Series(people).groupby(rows["diet_group"].astype("object").to_numpy()).sum()
              / people.sum())
    mix = ", ".join(f"{shares.get(d, 0.0):.1%} {schema.DIET_LABELS[d].lower()}"
                    for d in schema.DIET_GROUPS if d != "omnivore")
    out.append({"driver": "Diet mix (vs everyone omnivorous)",
                "detail": f"{mix}; {all_omni:.1%} if everyone ate meat",
                "odds_ratio": _odds(crude) / _odds(all_omni), "or_low": np.nan,
                "or_high": np.nan, "studies": np.nan})
    for diet in ("vegetarian", "vegan"):
        if diet in coef.index:
            c = coef.loc[diet]
            n = data.loc[data["diet_group"] == diet, "sample_id"].nunique()
            out.append({"driver": model_module.TERM_LABELS.get(diet, diet),
                        "detail": f"{shares.get(diet, 0.0):.1%} of the people here",
                        "odds_ratio": float(c["odds_ratio"]), "or_low": float(c["or_low"]),
                        "or_high": float(c["or_high"]), "studies": float(n)})
    return pd.DataFrame(out, columns=["driver", "detail", "odds_ratio", "or_low", "or_high",
                                      "studies"])
