"""The risk profile of one population segment: its modelled B12 status next to its country's
general population, what would change it, how many people it holds and the nearest evidence.

A segment is a country, an age range in whole years, a sex, a diet group, supplement use and
pregnancy. Every figure is a population estimate from the prevalence model (``model.Model``),
never an individual's risk. Nothing here reads files or draws anything.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from dashboard import evidence, model, schema
from dashboard.frames import require_columns

# Serum B12 cut-offs (pmol/L) of the three status classes: deficient below 148 (WHO; Allen
# 2009), marginal 148-221 and adequate from 221 (de Benoist 2008; Green et al. 2017).
DEFAULT_CUTOFFS: tuple[float, float] = (148.0, 221.0)
STATUS_CLASSES: tuple[str, ...] = ("deficient", "marginal", "adequate")
STATUS_CLASS_LABELS: dict[str, str] = {
    "deficient": "Deficient", "marginal": "Marginal", "adequate": "Adequate",
}
# What a segment can be (schema: the URL shares the vocabulary).
PROFILE_DIETS = schema.PROFILE_DIETS
PROFILE_SUPPLEMENTS = schema.PROFILE_SUPPLEMENTS
PROFILE_PREGNANCY = schema.PROFILE_PREGNANCY
PREGNANCY_AGES = schema.PREGNANCY_AGES
# The last WPP age group is open (100+); a profile's ages stop at that group.
MAX_AGE = 100
NEAREST_EVIDENCE = 5

# The distance of a published estimate from a segment (``nearest_estimates``): the sum of
#   age:    years between the two age ranges (0 when they overlap) / AGE_DISTANCE_YEARS, and
#           AGE_UNKNOWN_DISTANCE for an estimate that reports no age;
#   diet:   0 same group, DIET_GENERAL_DISTANCE when one of the two is the general population
#           (it holds every diet), 1 otherwise;
#   place:  0 same country, 1 same UN WPP region, 2 elsewhere (or a multi-country estimate);
#   sex:    0 same, SEX_BOTH_DISTANCE when one of the two is both sexes, 1 the other sex.
# So a decade of age weighs as much as a different diet or a country of the same region.
AGE_DISTANCE_YEARS = 10.0
AGE_UNKNOWN_DISTANCE = 1.5
DIET_GENERAL_DISTANCE = 0.5
SEX_BOTH_DISTANCE = 0.5
# The nearest estimable segment (``nearest_segment``) moves the age range by these steps
# (years, closest first, younger first on a tie) for the same diet, then the general
# population at the same ages, then the general population at moved ages.
SAME_DIET_SHIFTS: tuple[int, ...] = (5, 10)
GENERAL_SHIFTS: tuple[int, ...] = (5, 10, 15, 20, 25, 30)

SEX_WORDS: dict[str, str] = {"both": "people", "female": "women", "male": "men"}
DIET_WORDS: dict[str, str] = {
    "omnivore": "who eat meat (omnivores)",
    "pescatarian": "who eat fish but no meat (pescatarians)",
    "vegetarian": "who eat no meat or fish (vegetarians)",
    "vegan": "who eat no animal foods (vegans)",
    "general": "of every diet",
}
SUPPLEMENT_WORDS: dict[str, str] = {
    "included": "supplement users and non-users together",
    "excluded": "who take no B12 supplements",
    "only": "who take B12 supplements",
}
PREGNANCY_WORDS: dict[str, str] = {
    "pregnant_unspecified": "pregnant",
    "trimester_1": "pregnant (first trimester)",
    "trimester_2": "pregnant (second trimester)",
    "trimester_3": "pregnant (third trimester)",
}


# --- the segment ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One population segment: country (ISO3), ages ``age_min``-``age_max`` (whole years,
    inclusive), sex, diet group (PROFILE_DIETS), supplement use, pregnancy and year."""

    iso3: str
    age_min: int
    age_max: int
    sex: str = "both"
    diet_group: str = "omnivore"
    supplement_users: str = "included"
    pregnancy: str = "not_pregnant"
    year: int = 2025
    country_name: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.age_min <= self.age_max <= MAX_AGE:
            raise ValueError(f"ages must satisfy 0 <= age_min <= age_max <= {MAX_AGE}, got "
                             f"{self.age_min}-{self.age_max}")
        for name, value, allowed in (("sex", self.sex, schema.SEXES),
                                     ("diet_group", self.diet_group, PROFILE_DIETS),
                                     ("supplement_users", self.supplement_users,
                                      PROFILE_SUPPLEMENTS),
                                     ("pregnancy", self.pregnancy, PROFILE_PREGNANCY)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of "
                                 f"{', '.join(map(str, allowed))}, got {value!r}")
        if self.pregnancy != "not_pregnant" and not pregnancy_applies(
                self.sex, self.age_min, self.age_max):
            raise ValueError("pregnancy applies only to women aged "
                             f"{PREGNANCY_AGES[0]}-{PREGNANCY_AGES[1]}")

    @property
    def ages(self) -> str:
        """"20-29", "100+" or "45" (one year)."""
        if self.age_min == self.age_max:
            return f"{self.age_min}+" if self.age_min == MAX_AGE else f"{self.age_min}"
        return f"{self.age_min}-{self.age_max}"

    def query(self, **changes: object) -> dict[str, object]:
        """A row of a ``model.Model.predict`` frame for this segment (``changes`` override)."""
        row: dict[str, object] = {
            "iso3": self.iso3, "age_min": self.age_min,
            # The 100+ group is open: age_max None (evidence.age_span covers 20 years).
            "age_max": None if self.age_max >= MAX_AGE else self.age_max,
            "sex": self.sex, "diet_group": self.diet_group,
            "supplement_users": self.supplement_users, "pregnancy": self.pregnancy,
        }
        row.update(changes)
        return row


def pregnancy_applies(sex: str, age_min: int, age_max: int) -> bool:
    """Whether a segment can be pregnant: women whose ages lie within PREGNANCY_AGES."""
    return sex == "female" and PREGNANCY_AGES[0] <= age_min and age_max <= PREGNANCY_AGES[1]


def describe_segment(segment: Segment, *, supplements: bool = True) -> str:
    """The segment in words: "women aged 20-29 in United Kingdom who eat no animal foods
    (vegans)", then "; supplement users and non-users together" unless ``supplements`` is
    False."""
    who = SEX_WORDS[segment.sex]
    if segment.pregnancy != "not_pregnant":
        who = f"{PREGNANCY_WORDS[segment.pregnancy]} {who}"
    place = segment.country_name or segment.iso3
    text = f"{who} aged {segment.ages} in {place} {DIET_WORDS[segment.diet_group]}"
    return f"{text}; {SUPPLEMENT_WORDS[segment.supplement_users]}" if supplements else text


# --- the profile ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SegmentProfile:
    """What the model says about one segment (``segment_profile``).

    - ``status``: one row per population ("segment", "general": the country's general
      population of the same ages and sex, every diet, supplement users included) x status
      (deficient, marginal, adequate) with estimate, ci_low/ci_high (95% CI of the
      population's prevalence) and pi_low/pi_high (where a new survey would fall);
      deficient + marginal + adequate = 1 in every joint draw, so the estimates sum to 1.
    - ``comparison``: per status the ratio segment / general population with its CI from
      the same joint draws (a ratio of draws, so its interval keeps their correlation).
    - ``count``: per status the number of people of both sexes of the segment's ages and
      diet group in its country and year (``people``: WPP population x diet share) and
      those of them in that status (``cases``, with a 95% uncertainty interval from the
      draws of that group's prevalence); ``count_note`` says how the counted group differs
      from the segment.
    - ``whatif``: the segment under each other diet group and supplement use.
    - ``support``: studies behind the estimate (country, region, diet group, age band).
    - ``estimable``/``reasons``: whether the model has data near the segment; when not,
      ``nearest`` is the profile of the nearest estimable segment (``nearest_segment``).
    - ``evidence``: the NEAREST_EVIDENCE published estimates closest to the segment.
    """

    segment: Segment
    cutoffs: tuple[float, float]
    status: pd.DataFrame
    comparison: pd.DataFrame
    count: pd.DataFrame
    count_note: str
    whatif: pd.DataFrame
    support: dict[str, int]
    estimable: bool
    reasons: tuple[str, ...]
    evidence: pd.DataFrame
    level: float = 0.95
    nearest: SegmentProfile | None = field(default=None, repr=False)

    def value(self, population: str, status: str, column: str = "estimate") -> float:
        """One number of ``status``: e.g. ``value("segment", "deficient", "ci_low")``."""
        return float(self._status_rows[population, status][column])

    @functools.cached_property
    def _status_rows(self) -> dict[tuple[str, str], dict[str, Any]]:
        # A page asks for a few dozen numbers: one pass over the small table, not a
        # boolean filter each; the first row of a (population, status) pair counts.
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for row in self.status.to_dict("records"):
            rows.setdefault((row["population"], row["status"]), row)
        return rows

    def headline(self) -> str:
        """"About 1 in 8 women aged ... have serum B12 below 148 pmol/L (deficient) in 2025:
        modelled 12.3% (95% CI ...); supplement users and non-users together."."""
        p = self.value("segment", "deficient")
        low, high = self.value("segment", "deficient", "ci_low"), self.value(
            "segment", "deficient", "ci_high")
        s = self.segment
        return (f"{one_in(p)} {describe_segment(s, supplements=False)} have serum B12 below "
                f"{self.cutoffs[0]:g} pmol/L (deficient) in {s.year}: modelled {100 * p:.1f}% "
                f"(95% CI {100 * low:.1f}-{100 * high:.1f}%); "
                f"{SUPPLEMENT_WORDS[s.supplement_users]}.")


def one_in(p: float) -> str:
    """A prevalence as "About 1 in N" (N rounded), "About N in 10" from one half up,
    "Fewer than 1 in 1,000" below 0.1%."""
    if not math.isfinite(p):
        return "An unknown share of"
    if p < 0.001:
        return "Fewer than 1 in 1,000"
    if p >= 0.5:
        return f"About {round(10 * p)} in 10"
    return f"About 1 in {round(1 / p):,}"


def segment_profile(
    fitted: model.Model,
    population: pd.DataFrame,
    diet_shares: pd.DataFrame,
    *,
    iso3: str,
    age: int | tuple[int, int],
    sex: str,
    diet_group: str,
    supplement_users: str,
    pregnancy: str | None = None,
    year: int = 2025,
    cutoffs: tuple[float, float] = DEFAULT_CUTOFFS,
    studies: pd.DataFrame | None = None,
    draws: int = model.DEFAULT_DRAWS,
    seed: int = model.DEFAULT_SEED,
    level: float = 0.95,
) -> SegmentProfile:
    """The risk profile of one segment (see ``SegmentProfile``).

    ``fitted`` is the prevalence model of serum B12 (``model.fit``; a crosswalk fit, since
    the two cut-offs are predicted from one fit); ``population`` the WPP table
    (``data.load_population``); ``diet_shares`` the diet share model
    (``burden.diet_share_model``: share of each diet group per country, summing to 1);
    ``studies`` the evidence table (``data.load_studies``) for the nearest published
    estimates (none are listed without it). ``age`` is one age or an inclusive range of
    whole years (100 stands for the open 100+ group).

    Status classes: deficient below ``cutoffs[0]``, marginal from ``cutoffs[0]`` to below
    ``cutoffs[1]`` (the difference of the two cumulative predictions in every draw),
    adequate from ``cutoffs[1]``. All figures come from one set of ``draws`` seeded joint
    draws (``model.Model.draws``), so differences and ratios between segments keep the
    correlation of their estimates.

    The count is of both sexes: the bundled WPP table has no split by sex, and dividing by
    two would invent one. Its interval is that of the prevalence only (the diet shares are
    survey figures without a reported sampling error). Pregnancies are not counted.
    """
    segment = _segment(fitted, iso3, age, sex, diet_group, supplement_users, pregnancy, year)
    low_cut, high_cut = (float(cutoffs[0]), float(cutoffs[1]))
    if not 0 < low_cut < high_cut:
        raise ValueError(f"cutoffs must be two increasing positive values, got {cutoffs}")
    profile = _profile(fitted, population, diet_shares, segment, (low_cut, high_cut), studies,
                       draws, seed, level)
    if profile.estimable:
        return profile
    near = nearest_segment(fitted, segment, (low_cut, high_cut))
    if near is None:
        return profile
    nearest = _profile(fitted, population, diet_shares, near, (low_cut, high_cut), None,
                       draws, seed, level)
    return replace(profile, nearest=nearest)


def _segment(fitted: model.Model, iso3: str, age: int | tuple[int, int], sex: str,
             diet_group: str, supplement_users: str, pregnancy: str | None,
             year: int) -> Segment:
    countries = fitted.countries.set_index("iso3")
    if iso3 not in countries.index:
        raise ValueError(f"{iso3!r} is not a country of the model (countries table)")
    lo, hi = (age, age) if isinstance(age, int | np.integer) else age
    name = (str(countries.at[iso3, "country_name"]) if "country_name" in countries
            else iso3)
    return Segment(iso3, int(lo), int(hi), sex, diet_group, supplement_users,
                   pregnancy or "not_pregnant", int(year), name)


def _profile(fitted: model.Model, population: pd.DataFrame, diet_shares: pd.DataFrame,
             segment: Segment, cutoffs: tuple[float, float], studies: pd.DataFrame | None,
             draws: int, seed: int, level: float) -> SegmentProfile:
    low_cut, high_cut = cutoffs
    general = {"diet_group": "general", "supplement_users": "included",
               "pregnancy": "not_pregnant"}
    counted = {"sex": "both", "supplement_users": "included", "pregnancy": "not_pregnant"}
    alternatives = whatif_changes(segment)
    rows = [
        segment.query(cutoff=low_cut), segment.query(cutoff=high_cut),
        segment.query(cutoff=low_cut, cutoff_high=high_cut),
        segment.query(cutoff=low_cut, **general), segment.query(cutoff=high_cut, **general),
        segment.query(cutoff=low_cut, cutoff_high=high_cut, **general),
        segment.query(cutoff=low_cut, **counted), segment.query(cutoff=high_cut, **counted),
        *(segment.query(cutoff=low_cut, **change) for _, change in alternatives),
    ]
    frame = pd.DataFrame(rows)
    if "cutoff_high" not in frame:
        frame["cutoff_high"] = np.nan
    # One pass of the model's joint draws gives the draws, the point estimates and the
    # prediction-interval draws together (Model.predict and Model.draws would each redo it).
    d, point, pi_draws = fitted._draw(frame, draws=draws, seed=seed)
    alpha = (1 - level) / 2
    predicted = frame.assign(
        estimate=point, ci_low=np.quantile(d, alpha, axis=1),
        ci_high=np.quantile(d, 1 - alpha, axis=1),
        pi_low=np.quantile(pi_draws, alpha, axis=1),
        pi_high=np.quantile(pi_draws, 1 - alpha, axis=1),
        estimable=fitted.estimable(frame).to_numpy())

    def interval(x: np.ndarray) -> tuple[float, float]:
        return float(np.quantile(x, alpha)), float(np.quantile(x, 1 - alpha))

    status_rows, comparison_rows = [], []
    classes: dict[str, dict[str, tuple[float, np.ndarray, float, float]]] = {}
    for name, first in (("segment", 0), ("general", 3)):
        below, upper, band = (predicted.iloc[first + i] for i in range(3))
        d_low, d_high = d[first], d[first + 1]
        classes[name] = {
            "deficient": (point[first], d_low, below["pi_low"], below["pi_high"]),
            "marginal": (point[first + 1] - point[first], d_high - d_low, band["pi_low"],
                         band["pi_high"]),
            "adequate": (1 - point[first + 1], 1 - d_high, 1 - upper["pi_high"],
                         1 - upper["pi_low"]),
        }
        for status, (est, sample, pi_low, pi_high) in classes[name].items():
            ci_low, ci_high = interval(sample)
            status_rows.append({"population": name, "status": status, "estimate": est,
                                "ci_low": ci_low, "ci_high": ci_high, "pi_low": float(pi_low),
                                "pi_high": float(pi_high)})
    for status in STATUS_CLASSES:
        seg_est, seg_draws, *_ = classes["segment"][status]
        gen_est, gen_draws, *_ = classes["general"][status]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = seg_draws / gen_draws
        ratio_low, ratio_high = interval(ratio[np.isfinite(ratio)]) if np.isfinite(
            ratio).any() else (math.nan, math.nan)
        comparison_rows.append({
            "status": status, "segment": seg_est, "general": gen_est,
            "ratio": seg_est / gen_est if gen_est > 0 else math.nan,
            "ratio_low": ratio_low, "ratio_high": ratio_high,
        })

    people = count_people(population, diet_shares, segment)
    c_low, c_high = d[6], d[7]
    count_classes = {
        "deficient": (point[6], c_low), "marginal": (point[7] - point[6], c_high - c_low),
        "adequate": (1 - point[7], 1 - c_high),
    }
    count_rows = []
    for status, (est, sample) in count_classes.items():
        lo, hi = interval(sample)
        count_rows.append({"status": status, "people": people, "prevalence": est,
                           "cases": people * est, "cases_low": people * lo,
                           "cases_high": people * hi})

    whatif = _whatif(segment, alternatives, predicted.iloc[8:], d[8:], point[0], d[0],
                     interval)
    seg_pred = predicted.iloc[0:2]
    support = {k: int(v) for k, v in fitted.support(frame.iloc[[0]]).iloc[0].items()}
    support = {k.removeprefix("support_"): v for k, v in support.items()}
    estimable = bool(seg_pred["estimable"].all())
    reasons = () if estimable else not_estimable_reasons(fitted, segment, cutoffs)
    return SegmentProfile(
        segment=segment, cutoffs=cutoffs, status=pd.DataFrame(status_rows),
        comparison=pd.DataFrame(comparison_rows), count=pd.DataFrame(count_rows),
        count_note=count_note(segment), whatif=whatif, support=support, estimable=estimable,
        reasons=reasons,
        evidence=(nearest_estimates(studies, segment, fitted.countries)
                  if studies is not None else _empty_evidence()),
        level=level,
    )


# --- what-if ----------------------------------------------------------------------------------


def whatif_changes(segment: Segment) -> list[tuple[str, dict[str, str]]]:
    """The alternatives a what-if compares: every other diet group, then the other supplement
    uses, each as (label, change of the segment)."""
    out: list[tuple[str, dict[str, str]]] = []
    for diet in PROFILE_DIETS:
        if diet != segment.diet_group:
            label = ("General population diet mix" if diet == "general"
                     else f"{schema.DIET_LABELS[diet]} diet")
            out.append((label, {"diet_group": diet}))
    for supp in PROFILE_SUPPLEMENTS:
        if supp != segment.supplement_users:
            label = {"included": "Supplement users included",
                     "excluded": "Supplement users excluded",
                     "only": "Supplement users only"}[supp]
            out.append((label, {"supplement_users": supp}))
    return out


def _whatif(segment: Segment, alternatives: list[tuple[str, dict[str, str]]],
            predicted: pd.DataFrame, d: np.ndarray, base: float, base_draws: np.ndarray,
            interval) -> pd.DataFrame:
    """Deficient prevalence under each alternative, its modelled difference from the segment
    (percentage points as a fraction) and ratio, both from the joint draws, and the odds
    ratio at the point estimate (exp of the coefficients' difference on the logit scale)."""
    rows = []
    odds = base / (1 - base)
    for (label, change), (_, r), sample in zip(alternatives, predicted.iterrows(), d,
                                               strict=True):
        est = float(r["estimate"])
        diff_low, diff_high = interval(sample - base_draws)
        ratio_low, ratio_high = interval(sample / base_draws)
        kind, value = next(iter(change.items()))
        rows.append({
            "label": label, "change": "diet" if kind == "diet_group" else "supplements",
            "value": value, "estimate": est, "ci_low": float(r["ci_low"]),
            "ci_high": float(r["ci_high"]), "difference": est - base,
            "difference_low": diff_low, "difference_high": diff_high,
            "ratio": est / base, "ratio_low": ratio_low, "ratio_high": ratio_high,
            "odds_ratio": (est / (1 - est)) / odds, "estimable": bool(r["estimable"]),
        })
    columns = ["label", "change", "value", "estimate", "ci_low", "ci_high", "difference",
               "difference_low", "difference_high", "ratio", "ratio_low", "ratio_high",
               "odds_ratio", "estimable"]
    out = pd.DataFrame(rows, columns=columns)
    del segment
    return out.sort_values(["difference", "label"], ascending=[False, True],
                           ignore_index=True)


# --- counts -----------------------------------------------------------------------------------


def count_people(population: pd.DataFrame, diet_shares: pd.DataFrame,
                 segment: Segment) -> float:
    """People of both sexes of the segment's ages and diet group in its country and year.

    WPP population by five-year group (the estimate where a year has both an estimate and a
    projection), each group counted by the share of its years inside the segment's ages
    (people spread evenly within a group), times the country's share of the diet group
    (1 for the general population). NaN when the table has no such country or year.
    """
    require_columns(population, ["iso3", "year", "age_min", "age_max", "population"],
                    "population frame")
    rows = population.loc[(population["iso3"].astype("object") == segment.iso3).to_numpy(
        dtype=bool) & (population["year"] == segment.year).to_numpy(dtype=bool)]
    if "variant" in rows and rows.duplicated(["age_min"]).any():
        rows = rows.sort_values("variant", key=lambda s: s.astype("object").ne("estimate"),
                                kind="stable").drop_duplicates(["age_min"])
    if rows.empty:
        return math.nan
    lo = rows["age_min"].to_numpy(dtype=float)
    hi = pd.to_numeric(rows["age_max"], errors="coerce").to_numpy(dtype=float)
    top = segment.age_max + 1 if segment.age_max < MAX_AGE else math.inf
    open_group = np.isnan(hi)
    width = np.where(open_group, 1.0, hi - lo + 1)
    overlap = np.clip(np.minimum(np.where(open_group, math.inf, hi + 1), top)
                      - np.maximum(lo, segment.age_min), 0, None)
    share_in = np.where(open_group, (segment.age_max >= MAX_AGE) | (overlap > 0), overlap / width)
    people = float((rows["population"].to_numpy(dtype=float) * share_in).sum())
    return people * diet_share(diet_shares, segment.iso3, segment.diet_group)


def diet_share(diet_shares: pd.DataFrame, iso3: str, diet_group: str) -> float:
    """The country's share of a diet group in the diet share model (1 for "general")."""
    if diet_group == "general":
        return 1.0
    require_columns(diet_shares, ["country_iso3", "diet_group", "share"], "diet shares")
    hit = diet_shares.loc[(diet_shares["country_iso3"].astype("object") == iso3).to_numpy(
        dtype=bool) & (diet_shares["diet_group"].astype("object") == diet_group).to_numpy(
        dtype=bool), "share"]
    return float(hit.iloc[0]) if len(hit) else math.nan


def count_note(segment: Segment) -> str:
    """How the counted group differs from the segment, in words."""
    parts = ["both sexes (the bundled UN WPP table is not split by sex)"]
    if segment.supplement_users != "included":
        parts.append("supplement users and non-users (no table of supplement use by diet)")
    if segment.pregnancy != "not_pregnant":
        parts.append("whether pregnant or not (no table of pregnancies)")
    return "Counted: " + "; ".join(parts) + "."


# --- estimability -----------------------------------------------------------------------------


def not_estimable_reasons(fitted: model.Model, segment: Segment,
                          cutoffs: tuple[float, float]) -> tuple[str, ...]:
    """Why ``model.Model.estimable`` refuses a segment, one sentence per rule it breaks."""
    d = fitted.data
    diet = segment.diet_group
    reasons = []
    if diet not in ("general", "omnivore") and diet not in fitted.terms:
        reasons.append(f"the evidence has no estimates of {diet}s of their own")
    else:
        rows = d.dropna(subset=["age_lo"])
        if diet != "general":
            rows = rows[rows["diet_group"].astype("object") == diet]
        top = segment.age_max + 1 if segment.age_max < MAX_AGE else segment.age_min + 20
        near = ((rows["age_lo"] - model.AGE_REACH < top)
                & (rows["age_hi"] + model.AGE_REACH > segment.age_min)).any()
        if not near:
            who = "any population" if diet == "general" else f"{diet}s"
            reasons.append(f"no estimate of {who} with a reported age range within "
                           f"{model.AGE_REACH:g} years of {segment.ages}")
    if segment.pregnancy in model.PREGNANT_STATES and not d["pregnancy"].astype(
            "object").isin(model.PREGNANT_STATES).any():
        reasons.append("the evidence has no estimates of pregnant women")
    if fitted.crosswalk:
        lo, hi = float(d["cutoff"].min()), float(d["cutoff"].max())
        for c in cutoffs:
            if not lo / model.CUTOFF_REACH <= c <= hi * model.CUTOFF_REACH:
                reasons.append(f"the cut-off {c:g} pmol/L is outside those the evidence uses")
    return tuple(reasons) or ("the model has no estimates near it",)


def nearest_segment(fitted: model.Model, segment: Segment,
                    cutoffs: tuple[float, float] = DEFAULT_CUTOFFS) -> Segment | None:
    """The nearest segment the model can estimate, or None.

    Same country, sex and supplement use throughout. In order: the same diet group with
    the age range moved by SAME_DIET_SHIFTS years (closest first, younger first on a tie);
    the general population (every diet) of the same ages; the general population with the
    ages moved by GENERAL_SHIFTS. Pregnancy is kept first, then dropped. A move keeps the
    width of the range and stays within 0-MAX_AGE.
    """
    candidates: list[Segment] = []
    pregnancies = [segment.pregnancy] + (["not_pregnant"] if segment.pregnancy !=
                                         "not_pregnant" else [])
    for preg in pregnancies:
        base = replace(segment, pregnancy=preg)
        if preg != segment.pregnancy:
            candidates.append(base)
        candidates += _moved(base, SAME_DIET_SHIFTS)
        if segment.diet_group != "general":
            general = replace(base, diet_group="general", supplement_users="included")
            candidates += [general, *_moved(general, GENERAL_SHIFTS)]
    seen: set[Segment] = set()
    unique = [c for c in candidates if not (c in seen or seen.add(c))]
    if not unique:
        return None
    frame = pd.DataFrame([c.query(cutoff=cut) for c in unique for cut in cutoffs])
    ok = fitted.estimable(frame).to_numpy().reshape(len(unique), len(cutoffs)).all(axis=1)
    hits = [c for c, good in zip(unique, ok, strict=True) if good]
    return hits[0] if hits else None


def _moved(segment: Segment, shifts: Sequence[int]) -> list[Segment]:
    out = []
    width = segment.age_max - segment.age_min
    for step in shifts:
        for sign in (-1, 1):
            lo = segment.age_min + sign * step
            if lo < 0 or lo + width > MAX_AGE:
                continue
            moved = replace(segment, age_min=lo, age_max=lo + width)
            if moved.pregnancy != "not_pregnant" and not pregnancy_applies(
                    moved.sex, moved.age_min, moved.age_max):
                continue
            out.append(moved)
    return out


# --- the nearest published estimates ----------------------------------------------------------

EVIDENCE_COLUMNS: tuple[str, ...] = (
    "distance", "first_author", "year", "title", "journal", "country_name", "population",
    "sex", "age_label", "diet_group", "definition", "status", "prevalence", "n", "study_id",
    "estimate_id", "doi_url", "pmid_url",
)


def _empty_evidence() -> pd.DataFrame:
    return pd.DataFrame(columns=list(EVIDENCE_COLUMNS))


def estimate_distance(studies: pd.DataFrame, segment: Segment,
                      countries: pd.DataFrame) -> pd.Series:
    """The documented distance of each published estimate from the segment (the constants
    AGE_DISTANCE_YEARS ... SEX_BOTH_DISTANCE above: age + diet + place + sex)."""
    require_columns(studies, ["country_iso3", "region", "sex", "age_min", "age_max",
                              "diet_group"], "studies frame")
    region = countries.set_index("iso3")["region"].astype("object").get(segment.iso3)
    top = segment.age_max + 1 if segment.age_max < MAX_AGE else segment.age_min + 20
    age = []
    for a, b in zip(studies["age_min"], studies["age_max"], strict=True):
        span = evidence.age_span(None if pd.isna(a) else float(a),
                                 None if pd.isna(b) else float(b))
        if span is None:
            age.append(AGE_UNKNOWN_DISTANCE)
            continue
        gap = max(span[0] - top, segment.age_min - span[1], 0.0)
        age.append(gap / AGE_DISTANCE_YEARS)
    diet = studies["diet_group"].astype("object")
    diet_d = np.where(diet == segment.diet_group, 0.0,
                      np.where((diet == "general") | (segment.diet_group == "general"),
                               DIET_GENERAL_DISTANCE, 1.0))
    iso = studies["country_iso3"].astype("object")
    same_region = (studies["region"].astype("object") == region).to_numpy(dtype=bool)
    place = np.where(iso == segment.iso3, 0.0, np.where(same_region, 1.0, 2.0))
    sex = studies["sex"].astype("object")
    sex_d = np.where(sex == segment.sex, 0.0,
                     np.where((sex == "both") | (segment.sex == "both"), SEX_BOTH_DISTANCE, 1.0))
    return pd.Series(np.asarray(age) + diet_d + place + sex_d, index=studies.index,
                     name="distance")


def nearest_estimates(studies: pd.DataFrame, segment: Segment, countries: pd.DataFrame,
                      k: int = NEAREST_EVIDENCE) -> pd.DataFrame:
    """The ``k`` published serum B12 prevalence estimates closest to the segment
    (``estimate_distance``), one per study (its closest), with DOI and PubMed links.

    Ties go to the cut-off nearer 148 pmol/L, then the larger n. Only serum B12 rows with a
    prevalence are candidates (the marker the profile models).
    """
    require_columns(studies, ["biomarker", "prevalence", "study_id", "estimate_id", "n"],
                    "studies frame")
    rows = studies.loc[(studies["biomarker"].astype("object") == model.CROSSWALK_BIOMARKER)
                       .to_numpy(dtype=bool) & studies["prevalence"].notna().to_numpy()].copy()
    if rows.empty:
        return _empty_evidence()
    rows["distance"] = estimate_distance(rows, segment, countries)
    cut = pd.to_numeric(rows.get("cutoff_low"), errors="coerce")
    rows["_cut"] = np.abs(np.log2(cut.fillna(model.REFERENCE_CUTOFF) / model.REFERENCE_CUTOFF))
    rows["_n"] = -pd.to_numeric(rows["n"], errors="coerce").fillna(0)
    rows = rows.sort_values(["distance", "_cut", "_n", "estimate_id"], kind="stable")
    rows = rows.drop_duplicates("study_id").head(k)
    for column in EVIDENCE_COLUMNS:
        if column not in rows:
            rows[column] = None
    return rows.loc[:, list(EVIDENCE_COLUMNS)].reset_index(drop=True)
