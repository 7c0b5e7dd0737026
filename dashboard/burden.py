"""Modelled number of people with low vitamin B12 status: population x diet share x prevalence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from dashboard import aggregate, schema
from dashboard.frames import require_columns as _require_columns

# Fallback levels of the prevalence model, from most to least specific (column `basis`).
BASIS_AGE_DIET = "age_diet"
BASIS_DIET_ALL_AGES = "diet_all_ages"
BASIS_GENERAL_AGE = "general_age"
BASIS_ALL_ROWS = "all_rows"
BASIS_OMNIVORE_PROXY = "omnivore_proxy"
# Diets whose missing cells may borrow the general-population estimate of the same age band:
# the general population is mostly omnivorous, so it stands in for omnivores (and, through
# the omnivore estimate, for pescatarians) but not for vegetarians or vegans.
GENERAL_PROXY_DIETS: tuple[str, ...] = ("omnivore",)
# No published estimate covers pescatarians; they borrow this group's estimate of their band.
PESCATARIAN_PROXY = "omnivore"

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
_N_CELLS = len(schema.AGE_BAND_LABELS) * _N_DIETS
_WPP_LABELS = tuple(b[0] for b in schema.WPP_AGE_BANDS)


def _cells() -> pd.MultiIndex:
    """The (analysis age band, diet group) cells of the model, band-major."""
    return pd.MultiIndex.from_product(
        [schema.AGE_BAND_LABELS, schema.DIET_GROUPS], names=["analysis_band", "diet_group"]
    )


def analysis_band_of(age_min: np.ndarray | Sequence[int]) -> np.ndarray:
    """Index into schema.AGE_BANDS of the analysis band holding each lower age bound.

    The analysis bands are 20 years wide, so every WPP five-year band lies inside one.
    """
    ages = np.asarray(age_min, dtype=float)
    if np.isnan(ages).any() or (ages < 0).any():
        raise ValueError("age_min must be a non-negative number for every population row")
    return np.searchsorted(_BAND_STARTS, ages, side="right") - 1


# --- prevalence model ------------------------------------------------------------------------


def prevalence_model(
    studies: pd.DataFrame,
    definition: str,
    status: str,
    method: str = "REML",
    level: float = 0.95,
) -> pd.DataFrame:
    """Pooled prevalence per (analysis age band, diet group), with explicit fallbacks.

    One row per band in schema.AGE_BAND_LABELS x diet in schema.DIET_GROUPS, pooled by
    random effects on the logit scale (``aggregate.pool_groups``; metafor's
    ``rma(measure="PLO")``) from the rows with this definition and status that are usable for
    pooling. A cell without studies borrows, in order and recorded in ``basis``/``source``:

    1. ``general_age``: for omnivores only, the general population (diet not stratified) of
       the same age band, which is mostly omnivores and keeps the age gradient;
    2. ``diet_all_ages``: the same diet pooled over all ages (including rows of unknown age);
    3. ``all_rows``: every poolable row of the definition and status.

    General-population rows inform omnivores only through step 1: they are mostly but not
    only omnivores, and pooling them with selected omnivore comparison groups would blur the
    contrast the diet groups are meant to show. Semi-vegetarian rows enter only step 3.
    No study reports pescatarians, so by default a pescatarian cell without its own studies
    takes the omnivore estimate of the same age band (``basis = "omnivore_proxy"``): fish is a
    good B12 source, so pescatarians are assumed to resemble omnivores rather than
    vegetarians. ``tau2`` and ``logit_se`` feed the prediction draws of ``estimate_burden``.
    """
    _require_columns(
        studies, ["definition", "status", "usable_for", "age_band", "diet_group"], "studies frame"
    )
    if status not in schema.STATUSES:
        raise ValueError(f"unknown status {status!r} (allowed: {', '.join(schema.STATUSES)})")
    known = set(studies["definition"].dropna().astype(str))
    if definition not in known:
        raise ValueError(
            f"unknown definition {definition!r}: no study row uses it "
            f"(available: {', '.join(sorted(known))})"
        )
    rows = studies.loc[
        ((studies["definition"] == definition) & (studies["status"] == status)
         & (studies["usable_for"] == "pooling")).to_numpy(dtype=bool)
    ]
    if rows.empty:
        raise ValueError(
            f"no poolable study rows for definition {definition!r} with status {status!r}"
        )
    age = rows["age_band"].astype("object")
    diet = rows["diet_group"].astype("object")
    cache: dict[tuple, dict | None] = {}

    def pooled(key: tuple, mask: pd.Series) -> dict | None:
        if key not in cache:
            subset = rows.loc[mask.to_numpy(dtype=bool)]
            frame = aggregate.pool_groups(subset, by=(), method=method, level=level)
            cache[key] = None if frame.empty else frame.iloc[0].to_dict()
        return cache[key]

    label = aggregate.definition_label(definition)
    records = []
    for band in schema.AGE_BAND_LABELS:
        resolved: dict[str, dict] = {}
        for d in schema.DIET_GROUPS:
            plural = aggregate.DIET_PHRASES[d]
            steps = [
                (BASIS_AGE_DIET, f"pooled {plural} aged {band}", (band, d),
                 (age == band) & (diet == d)),
            ]
            if d in GENERAL_PROXY_DIETS:
                # Before borrowing across ages: omnivore comparison groups are mostly young
                # adults, while the general population of the same age is mostly omnivores
                # and carries the age gradient.
                steps.append(
                    (BASIS_GENERAL_AGE,
                     f"no study of {plural} aged {band}: general population aged {band}",
                     (band, "general"), (age == band) & (diet == "general"))
                )
            steps.append(
                (BASIS_DIET_ALL_AGES, f"no study of {plural} aged {band}: {plural} of all ages",
                 ("*", d), diet == d)
            )
            found = next(
                ((b, s, e) for b, s, key, mask in steps if (e := pooled(key, mask)) is not None),
                None,
            )
            if found is not None:
                basis, source, est = found
            elif d == "pescatarian":
                omni = resolved[PESCATARIAN_PROXY]
                est, basis = omni["_est"], BASIS_OMNIVORE_PROXY
                source = f"no study of pescatarians: omnivore estimate ({omni['source']})"
            else:
                est = pooled(("*", "*"), pd.Series(True, index=rows.index))
                basis = BASIS_ALL_ROWS
                source = f"no study of {plural} at any age: all rows of the definition"
            resolved[d] = {"_est": est, "source": source}
            records.append({
                "analysis_band": band,
                "diet_group": d,
                **{c: est[c] for c in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high",
                                       "logit", "logit_se", "tau2", "k", "n_total",
                                       "study_ids")},
                "basis": basis,
                "source": f"{source} (k={int(est['k'])})",
                "definition": definition,
                "definition_label": label,
                "status": status,
            })
    out = pd.DataFrame.from_records(records)
    return out.astype({"k": "int64", "n_total": "int64"})


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
    ``{"vegan": 2.0}``; omnivores absorb the difference; a factor that would leave any share
    outside [0, 1] raises ValueError.
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
        raise ValueError(f"locations_iso3 must be ISO3 codes, got {bad_codes}")
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
        if others > 1 + 1e-12:
            detail = ", ".join(f"{d} {v[0]:.3f}" for d, v in values.items())
            raise ValueError(
                f"diet shares for {iso3} exceed 1 ({detail})"
                + (f" with scenario {dict(factors)}" if factors else "")
            )
        values["omnivore"] = (max(0.0, 1.0 - others), "remainder: 1 - the other groups", "",
                              None, "")
        for diet in schema.DIET_GROUPS:
            share, basis, source, year, url = values[diet]
            records.append({
                "country_iso3": iso3, "diet_group": diet, "share": share, "basis": basis,
                "is_default": basis.startswith("default:"), "source": source, "year": year,
                "url_or_doi": url, "scenario_factor": factors.get(diet, 1.0),
            })
    out = pd.DataFrame.from_records(
        records,
        columns=["country_iso3", "diet_group", "share", "basis", "is_default", "source", "year",
                 "url_or_doi", "scenario_factor"],
    )
    return out.astype({"year": "Int64"})


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
            raise ValueError(f"override for {diet} must be a number, got {factor!r}") from None
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"override for {diet} must be a finite factor >= 0, got {factor!r}")
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
    """Monte Carlo draws of prevalence per model cell, carried in a burden frame's attrs.

    ``values`` has one row per cell of ``cells`` (analysis band x diet group) and one column
    per draw. Immutable, so copies of the frame share it.
    """

    def __init__(self, cells: pd.MultiIndex, values: np.ndarray, level: float, seed: int):
        self.cells = cells
        self.values = np.array(values, dtype=float)
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


def _model_arrays(model: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Pooled logit and prediction SD per cell, in _cells() order."""
    _require_columns(model, ["analysis_band", "diet_group", "logit", "logit_se", "tau2"],
                     "prevalence model")
    index = pd.MultiIndex.from_arrays(
        [model["analysis_band"].astype("object"), model["diet_group"].astype("object")]
    )
    if index.duplicated().any():
        raise ValueError("prevalence model has duplicate (analysis_band, diet_group) rows")
    pos = index.get_indexer(_cells())
    if (pos < 0).any():
        missing = [f"{b} {d}" for (b, d), p in zip(_cells(), pos, strict=True) if p < 0]
        raise ValueError(f"prevalence model lacks the cells: {', '.join(missing)}")
    logit = model["logit"].to_numpy(dtype=float)[pos]
    tau2 = model["tau2"].to_numpy(dtype=float)[pos]
    var = tau2 + model["logit_se"].to_numpy(dtype=float)[pos] ** 2
    if np.isnan(logit).any() or np.isnan(var).any() or (var < 0).any():
        raise ValueError("prevalence model has missing or negative logit, logit_se or tau2")
    return logit, np.sqrt(var)


def draw_prevalence(
    prevalence_model: pd.DataFrame,
    *,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
    supplementation: Mapping | None = None,
) -> tuple[np.ndarray, PrevalenceDraws]:
    """Point prevalence per cell and seeded draws from the pooled logit-normal.

    The draws use the prediction variance tau2 + se^2 (Higgins, Thompson & Spiegelhalter
    2009): a country's true prevalence is a new draw from the random-effects distribution,
    not the pooled mean. Point = expit(pooled logit), the median of that distribution.
    """
    if int(draws) < 2:
        raise ValueError(f"draws must be at least 2, got {draws}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie between 0 and 1, got {level}")
    logit, sd = _model_arrays(prevalence_model)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((_N_CELLS, int(draws)))
    point = special.expit(logit)
    values = special.expit(logit[:, None] + sd[:, None] * z)
    supp = _check_supplementation(supplementation)
    if supp is not None:
        multiplier = np.tile(supp[0], len(schema.AGE_BAND_LABELS))
        point = point * multiplier
        values = values * multiplier[:, None]
    return point, PrevalenceDraws(_cells(), values, level, seed)


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
        out[int(code)] = members.to_numpy(dtype=int)
    return out


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


def estimate_burden(
    population: pd.DataFrame,
    diet_shares_model: pd.DataFrame,
    prevalence_model: pd.DataFrame,
    *,
    locations: Sequence,
    years: Sequence[int],
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
    supplementation: Mapping | None = None,
) -> pd.DataFrame:
    """Expected people with low B12 status per location, year, WPP age band and diet group.

    cases = population(location, year, age band) x share(location, diet) x
    prevalence(analysis band, diet). Locations are WPP location codes, ISO3 codes or exact
    location names. A country takes its own diet shares; an aggregate (World, WPP region or
    subregion) the mean of its member countries' shares weighted by their total population
    that year (so every member needs a row in ``diet_shares_model``).

    ``cases_low``/``cases_high`` (and ``prevalence_low``/``_high``) form the ``level``
    uncertainty interval from seeded Monte Carlo draws of each cell's prevalence (see
    ``draw_prevalence``). The draws of a cell are shared by every location and year of the
    run: the uncertainty is about the prevalence of that age and diet group, which is the same
    wherever it applies, so sums over locations need correlated draws. The draws travel in
    ``attrs["prevalence_draws"]`` for ``summarize_burden`` and
    ``age_standardized_prevalence``. ``supplementation={"diet_group": str | None,
    "coverage": c, "effect": e}`` multiplies the prevalence of the group (None: everyone) by
    1 - c x e (the covered share with a relative reduction e); default: no effect.
    """
    _require_columns(
        population,
        ["location_code", "location", "iso3", "location_type", "year", "age_band", "age_min",
         "population"],
        "population frame",
    )
    point, prevalence_draws = draw_prevalence(
        prevalence_model, draws=draws, seed=seed, level=level, supplementation=supplementation
    )
    codes = _resolve_locations(population, locations)
    year_list = sorted({int(y) for y in ([years] if isinstance(years, int) else years)})
    if not year_list:
        raise ValueError("no years given")
    sub = _population_by_age(population, codes, year_list)
    pair_id, pair_shares = _location_year_shares(population, sub, diet_shares_model)
    out = _burden_cells(sub, pair_id, pair_shares, point, prevalence_draws, level)
    out.attrs["prevalence_draws"] = prevalence_draws
    if supplementation is not None:
        out.attrs["supplementation"] = dict(supplementation)
    return out


def _population_by_age(
    population: pd.DataFrame, codes: np.ndarray, years: list[int]
) -> pd.DataFrame:
    """One row per WPP age band of each asked location and year, so every cell has people."""
    sub = population.loc[
        (population["location_code"].isin(codes) & population["year"].isin(years)).to_numpy(
            dtype=bool)
    ]
    if "variant" in sub.columns and sub.duplicated(["location_code", "year", "age_band"]).any():
        # Observed estimates take precedence over projections where a year has both.
        sub = sub.sort_values("variant", key=lambda s: s.ne("estimate")).drop_duplicates(
            ["location_code", "year", "age_band"])
    sub = sub.sort_values(["location_code", "year", "age_min"], kind="stable")
    counts = sub.groupby(["location_code", "year"]).size()
    expected = pd.MultiIndex.from_product([codes, years], names=["location_code", "year"])
    incomplete = [k for k in expected if counts.get(k, 0) != len(_WPP_LABELS)]
    if incomplete:
        names = dict(zip(population["location_code"], population["location"], strict=False))
        raise ValueError(
            "no complete population by age for: "
            + ", ".join(f"{names.get(c, c)} {y}" for c, y in incomplete[:10])
        )
    return sub


def _location_year_shares(
    population: pd.DataFrame, sub: pd.DataFrame, diet_shares_model: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Diet shares per (location, year) of ``sub``: an aggregate's members weigh by people.

    Returns the pair number of each row of ``sub`` and the pairs' shares (pairs x diets).
    """
    iso_index, share_matrix = _share_matrix(diet_shares_model)
    pairs = pd.MultiIndex.from_arrays([sub["location_code"].to_numpy(dtype=int),
                                       sub["year"].to_numpy(dtype=int)])
    pair_id, pair_keys = pd.factorize(pairs)
    first = sub.drop_duplicates("location_code").set_index("location_code")
    pair_shares = np.empty((len(pair_keys), _N_DIETS))
    aggregates = first.loc[first["iso3"].isna()].reset_index()
    members = _members(population, aggregates) if len(aggregates) else {}
    missing_iso = set()
    for i, (code, year) in enumerate(pair_keys):
        iso3 = first.at[code, "iso3"]
        if code in members:
            m = population.loc[
                (population["location_code"].isin(members[code])
                 & (population["year"] == year)).to_numpy(dtype=bool),
                ["iso3", "population"],
            ]
            totals = m.groupby("iso3", sort=True)["population"].sum()
            absent = [c for c in totals.index if c not in iso_index]
            missing_iso.update(absent)
            if absent:
                continue
            rows = share_matrix[[iso_index[c] for c in totals.index]]
            weights = totals.to_numpy(dtype=float)
            pair_shares[i] = weights @ rows / weights.sum()
        elif iso3 in iso_index:
            pair_shares[i] = share_matrix[iso_index[iso3]]
        else:
            missing_iso.add(str(iso3))
    if missing_iso:
        raise ValueError(
            f"diet share model has no row for {', '.join(sorted(missing_iso)[:20])}"
            + (" ..." if len(missing_iso) > 20 else "")
        )
    return pair_id, pair_shares


def _burden_cells(
    sub: pd.DataFrame,
    pair_id: np.ndarray,
    pair_shares: np.ndarray,
    point: np.ndarray,
    prevalence_draws: PrevalenceDraws,
    level: float,
) -> pd.DataFrame:
    """Each population row split by diet, times its cell's prevalence: the burden frame."""
    band = analysis_band_of(sub["age_min"].to_numpy(dtype=float))
    pop = sub["population"].to_numpy(dtype=float)
    n_rows = len(sub)
    diet_idx = np.tile(np.arange(_N_DIETS), n_rows)
    row_idx = np.repeat(np.arange(n_rows), _N_DIETS)
    cell = band[row_idx] * _N_DIETS + diet_idx
    share = pair_shares[pair_id[row_idx], diet_idx]
    people = pop[row_idx] * share
    alpha = 1 - level
    q_low, q_high = np.quantile(prevalence_draws.values, [alpha / 2, 1 - alpha / 2], axis=1)
    prevalence = point[cell]

    wpp_codes = pd.Categorical(sub["age_band"].astype("object"), categories=_WPP_LABELS)
    if (wpp_codes.codes < 0).any():
        raise ValueError("population frame has age bands outside schema.WPP_AGE_BANDS")
    return pd.DataFrame({
        "location_code": sub["location_code"].to_numpy(dtype=int)[row_idx],
        "location": sub["location"].to_numpy(dtype=object)[row_idx],
        "iso3": sub["iso3"].to_numpy(dtype=object)[row_idx],
        "year": sub["year"].to_numpy(dtype=int)[row_idx],
        "age_band": pd.Categorical.from_codes(wpp_codes.codes[row_idx], categories=_WPP_LABELS,
                                              ordered=True),
        "analysis_band": pd.Categorical.from_codes(band[row_idx],
                                                   categories=schema.AGE_BAND_LABELS,
                                                   ordered=True),
        "diet_group": pd.Categorical.from_codes(diet_idx, categories=schema.DIET_GROUPS,
                                                ordered=True),
        "population": pop[row_idx],
        "share": share,
        "prevalence": prevalence,
        "prevalence_low": q_low[cell],
        "prevalence_high": q_high[cell],
        "cases": people * prevalence,
        "cases_low": people * q_low[cell],
        "cases_high": people * q_high[cell],
    })


def _draws_of(burden: pd.DataFrame, draws: PrevalenceDraws | None) -> PrevalenceDraws:
    draws = draws if draws is not None else burden.attrs.get("prevalence_draws")
    if not isinstance(draws, PrevalenceDraws):
        raise ValueError(
            "burden frame carries no prevalence draws: pass a frame returned by "
            "estimate_burden (or its rows), or the draws explicitly"
        )
    return draws


def _cell_index(burden: pd.DataFrame, draws: PrevalenceDraws) -> np.ndarray:
    keys = pd.MultiIndex.from_arrays(
        [burden["analysis_band"].astype("object"), burden["diet_group"].astype("object")]
    )
    pos = draws.cells.get_indexer(keys)
    if (pos < 0).any():
        raise ValueError("burden rows have analysis bands or diet groups the draws do not cover")
    return pos


def _weighted_draws(
    group: np.ndarray, n_groups: int, cell: np.ndarray, weight: np.ndarray,
    draws: PrevalenceDraws,
) -> np.ndarray:
    """Draws of sum(weight x prevalence) per group: (groups x cells) weights @ cell draws."""
    n_cells = len(draws.cells)
    matrix = np.bincount(group * n_cells + cell, weights=weight,
                         minlength=n_groups * n_cells).reshape(n_groups, n_cells)
    return matrix @ draws.values


def summarize_burden(
    burden: pd.DataFrame,
    by: Sequence[str] = ("location", "year"),
    *,
    draws: PrevalenceDraws | None = None,
    level: float | None = None,
) -> pd.DataFrame:
    """Cases and prevalence per group of burden rows, with intervals from summed draws.

    For each draw the cases of the group's rows are added up, and the interval is taken from
    the quantiles of those sums; adding the rows' interval bounds instead would overstate the
    width (it assumes every cell at its extreme at once). ``population`` is the number of
    people the rows stand for (population x share), so a group by diet counts that diet's
    people. Columns: [*by, population, cases, cases_low, cases_high, prevalence,
    prevalence_low, prevalence_high].
    """
    by = list(by)
    _require_columns(burden, [*by, "analysis_band", "diet_group", "population", "share",
                              "cases"], "burden frame")
    prevalence_draws = _draws_of(burden, draws)
    level = prevalence_draws.level if level is None else level
    if not 0 < level < 1:
        raise ValueError(f"level must lie between 0 and 1, got {level}")
    columns = [*by, "population", "cases", "cases_low", "cases_high", "prevalence",
               "prevalence_low", "prevalence_high"]
    if burden.empty:
        return pd.DataFrame(columns=columns)
    if by:
        group_id, keys = _groups(burden, by)
    else:
        group_id, keys = np.zeros(len(burden), dtype=int), pd.DataFrame(index=[0])
    n_groups = len(keys)
    people = burden["population"].to_numpy(dtype=float) * burden["share"].to_numpy(dtype=float)
    sims = _weighted_draws(group_id, n_groups, _cell_index(burden, prevalence_draws), people,
                           prevalence_draws)
    total_people = np.bincount(group_id, weights=people, minlength=n_groups)
    cases = np.bincount(group_id, weights=burden["cases"].to_numpy(dtype=float),
                        minlength=n_groups)
    alpha = 1 - level
    low, high = np.quantile(sims, [alpha / 2, 1 - alpha / 2], axis=1)
    out = keys.reset_index(drop=True).copy()
    out["population"] = total_people
    out["cases"] = cases
    out["cases_low"] = low
    out["cases_high"] = high
    with np.errstate(invalid="ignore", divide="ignore"):
        out["prevalence"] = cases / total_people
        out["prevalence_low"] = low / total_people
        out["prevalence_high"] = high / total_people
    return out[columns]


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

    cell = _cell_index(frame, prevalence_draws)
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
    prevalence: pd.DataFrame,
    *,
    locations: Sequence,
    years: Sequence[int],
    by: Sequence[str],
    supplementation: Mapping | None = None,
) -> pd.DataFrame:
    """``estimate_burden`` for the locations and years, summarised by ``by`` with
    ``summarize_burden`` (intervals from summed draws): the input of the map (by country in
    one year) and of the projection (by location and year). Columns as ``summarize_burden``.
    """
    rows = estimate_burden(population, diet_shares_model, prevalence, locations=locations,
                           years=years, supplementation=supplementation)
    return summarize_burden(rows, by=by)


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
