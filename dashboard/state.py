"""The one place where the URL and the view state meet: parameters, validation, links."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pycountry

from dashboard import schema
from dashboard.format import markdown_literal

# Bumped when a parameter changes meaning; links carry it as v=<STATE_VERSION>.
STATE_VERSION = 1
VERSION_KEY = "v"
DEFAULT_BASE_URL = "http://localhost:8501"

# Pages that show the evidence filters; the filters travel between them.
FILTER_PAGES: tuple[str, ...] = ("overview", "explore", "evidence", "burden", "cutoffs")

# Keys Streamlit itself reads from the URL (embedding); never ours, never reported.
STREAMLIT_KEYS: frozenset[str] = frozenset({"embed", "embed_options"})

# The URL's vocabulary of places (schema, Geography): regions and subregions of the studies,
# and every aggregate the burden model can be asked for.
REGIONS: tuple[str, ...] = (*schema.WPP_REGIONS, *schema.WPP_SUBREGIONS)
LOCATIONS: tuple[str, ...] = (schema.WORLD, *dict.fromkeys((*REGIONS, *schema.SDG_REGIONS)))

# Evidence subgroup -> column of the studies frame.
SUBGROUP_COLUMNS: dict[str, str] = {
    "age_band": "age_band",
    "diet_group": "diet_group",
    "sex": "sex",
    "country": "country_iso3",
}
# Diet groups whose population share a burden scenario can scale (omnivores are the rest).
SCENARIO_DIETS: tuple[str, ...] = tuple(d for d in schema.DIET_GROUPS if d != "omnivore")
SUPPLEMENT_GROUPS: tuple[str, ...] = ("all", *schema.DIET_GROUPS)
# Age standardisation of an upload to the survey's own age distribution.
SURVEY_STANDARD = "survey"
UNITS: tuple[str, ...] = schema.CUTOFF_UNITS
DEFAULT_AGE_SPEC = ",".join(schema.AGE_BAND_LABELS)

ONE, MULTI, INT, FLOAT, RANGE, BOOL = "one", "multi", "int", "float", "range", "bool"
KINDS: tuple[str, ...] = (ONE, MULTI, INT, FLOAT, RANGE, BOOL)
# A query string longer than this is refused as a whole with one notice: every Share link is
# far shorter (all 249 countries and 9 loc values come to about 2,000 characters), and
# 8,000 is the request-line limit of common web servers (Apache's 8,190 bytes).
MAX_QUERY_CHARS = 8_000
# Values named in one notice; the rest are counted ("and 24,997 more").
NOTICE_VALUES = 3
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

Validator = Callable[[str], "str | None"]
Choices = Mapping[str, "Iterable[str] | Validator"]


# --- validators for open vocabularies ----------------------------------------------------------


def _iso3(raw: str) -> str | None:
    """ISO 3166-1 alpha-3 code (pycountry), upper-cased; None when no such country."""
    code = raw.strip().upper()
    if len(code) == 3 and code.isalpha() and pycountry.countries.get(alpha_3=code) is not None:
        return code
    return None


def _study_country(raw: str) -> str | None:
    """A country of the studies table: ISO3, or MULTI for multi-country sources."""
    code = raw.strip().upper()
    return code if code == schema.MULTI_COUNTRY else _iso3(code)


_FINGERPRINT = re.compile(r"[0-9a-f]{12}")


def _fingerprint(raw: str) -> str | None:
    """The 12 lower-case hex digits that name an uploaded file's content."""
    text = raw.strip().lower()
    return text if _FINGERPRINT.fullmatch(text) else None


_BAND = re.compile(r"(\d{1,3})(?:-(\d{1,3})|\+)")


def parse_age_spec(spec: str) -> list[tuple[str, int, int | None]]:
    """Age bands from a spec like "0-19,20-39,40+": contiguous from 0, ascending, last may be open.

    Raises ValueError naming the first band that breaks the rule.
    """
    bands: list[tuple[str, int, int | None]] = []
    parts = [p.strip() for p in spec.split(",")]
    for i, part in enumerate(parts):
        m = _BAND.fullmatch(part)
        if m is None:
            raise ValueError(f"age band {part!r} is not of the form 'a-b' or 'a+'")
        lo = int(m.group(1))
        hi = None if m.group(2) is None else int(m.group(2))
        expected = 0 if not bands else int(bands[-1][2]) + 1  # type: ignore[arg-type]
        if lo != expected:
            raise ValueError(f"age band {part!r} should start at {expected}")
        if hi is not None and hi < lo:
            raise ValueError(f"age band {part!r} ends before it starts")
        if hi is None and i != len(parts) - 1:
            raise ValueError(f"open age band {part!r} must be the last")
        if hi is not None and hi > 120:
            raise ValueError(f"age band {part!r} ends after 120")
        bands.append((f"{lo}+" if hi is None else f"{lo}-{hi}", lo, hi))
    return bands


def _age_spec(raw: str) -> str | None:
    try:
        bands = parse_age_spec(raw)
    except ValueError:
        return None
    return ",".join(b[0] for b in bands)


# --- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One URL parameter: how it is spelt, parsed, checked and written.

    ``allowed`` is a tuple of canonical values (matched case-insensitively); ``validator``
    accepts further values, returning the canonical spelling or None. ``what`` is the noun
    phrase used in notices and ``values`` the allowed values in words (the README table).
    """

    name: str
    kind: str
    default: Any
    label: str
    pages: tuple[str, ...]
    shared: bool = False
    allowed: tuple[str, ...] = ()
    validator: Validator | None = None
    what: str = ""
    values: str = ""
    lo: float | None = None
    hi: float | None = None
    aliases: tuple[str, ...] = ()
    min_items: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"parameter {self.name}: unknown kind {self.kind!r}")


def _static(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


_FILTERS = FILTER_PAGES
_definitions = _static(d.id for d in schema.DEFINITIONS)
_age_values = schema.STUDY_AGE_BANDS

PARAMETERS: tuple[Param, ...] = (
    # Shared evidence filters: travel between pages.
    Param("def", ONE, schema.DEFAULT_DEFINITION, "Definition (biomarker and cut-off)", _FILTERS,
          shared=True, allowed=_definitions, what="a definition id",
          values="definition ids (schema.DEFINITIONS, plus generated ids present in the data)",
          aliases=("definition",)),
    Param("status", ONE, schema.DEFAULT_STATUS, "Status", _FILTERS, shared=True,
          allowed=schema.STATUSES, what="a status"),
    Param("sex", MULTI, (), "Sex", _FILTERS, shared=True, allowed=schema.SEXES, what="a sex",
          values="both, female, male (empty: all)", aliases=("sexes",)),
    Param("age", MULTI, (), "Age bands", _FILTERS, shared=True, allowed=_age_values,
          what="an age band", values=", ".join(_age_values) + " (empty: all)",
          aliases=("age_band", "age_bands")),
    Param("diet", MULTI, (), "Diet groups", _FILTERS, shared=True,
          allowed=schema.STUDY_DIET_GROUPS, what="a diet group",
          values=", ".join(schema.STUDY_DIET_GROUPS) + " (empty: all)",
          aliases=("diet_group", "diet_groups")),
    Param("country", MULTI, (), "Countries", _FILTERS, shared=True, validator=_study_country,
          what="an ISO 3166-1 alpha-3 country code",
          values="ISO 3166-1 alpha-3 codes, MULTI for multi-country sources (empty: all)",
          aliases=("countries", "iso3")),
    Param("region", MULTI, (), "Regions", _FILTERS, shared=True, allowed=REGIONS,
          what="a WPP region or subregion", values="UN WPP 2022 region or subregion names "
          "(M49-based, e.g. Western Europe, Australia/New Zealand; empty: all)",
          aliases=("regions",)),
    Param("years", RANGE, (1980, 2030), "Survey years", _FILTERS, shared=True,
          what="a year range lo-hi", values="lo-hi within 1980-2030 (the full span: no filter)",
          lo=1980, hi=2030, aliases=("year_range",)),
    Param("undated", BOOL, True, "Keep rows without survey years", _FILTERS, shared=True,
          what="a yes/no value", values="1 or 0"),
    Param("supp", MULTI, (), "Supplement users", _FILTERS, shared=True,
          allowed=schema.SUPPLEMENT_USE, what="a supplement-use label",
          values=", ".join(schema.SUPPLEMENT_USE) + " (empty: all)",
          aliases=("supplement_users",)),
    Param("minn", INT, 0, "Minimum n per row", _FILTERS, shared=True, what="a count",
          values="integer >= 0", lo=0, hi=10_000_000, aliases=("min_n",)),
    # Explore.
    Param("view", ONE, "bars", "Chart", ("explore",), allowed=("bars", "heatmap", "dots"),
          what="a chart view"),
    # Evidence.
    Param("method", ONE, "REML", "Between-study variance estimator", ("evidence",),
          allowed=("REML", "DL"), what="a tau2 estimator"),
    Param("by", ONE, "diet_group", "Subgroup", ("evidence",), allowed=tuple(SUBGROUP_COLUMNS),
          what="a subgroup", aliases=("subgroup",)),
    # Burden.
    Param("loc", MULTI, (schema.WORLD,), "Locations", ("burden",), allowed=LOCATIONS,
          validator=_iso3,
          what="a location (World, a WPP region name or an ISO3 code)",
          values="World, UN WPP 2022 region, subregion and SDG region names, ISO 3166-1 "
          "alpha-3 codes (at least one)",
          aliases=("location", "locations"), min_items=1),
    Param("year", INT, 2025, "Year", ("burden", "profile"), what="a year", values="1990-2050",
          lo=1990, hi=2050),
    Param("std", ONE, schema.DEFAULT_STANDARD, "Standard population", ("burden",),
          allowed=tuple(schema.STANDARD_POPULATIONS), what="a standard population",
          aliases=("standard",)),
    Param("measure", ONE, "share", "Map shows", ("burden",), allowed=("share", "number"),
          what="a map measure"),
    *(
        Param(f"x{d}", FLOAT, 1.0, f"Scenario: {schema.DIET_LABELS[d].lower()} share x",
              ("burden",), what="a multiplier", values="0-10 (1: as surveyed)", lo=0.0, hi=10.0)
        for d in SCENARIO_DIETS
    ),
    Param("sgrp", ONE, "all", "Supplementation: group", ("burden",), allowed=SUPPLEMENT_GROUPS,
          what="a diet group or all"),
    Param("scov", FLOAT, 0.0, "Supplementation: share covered", ("burden",), what="a share",
          values="0-1", lo=0.0, hi=1.0),
    Param("seff", FLOAT, 0.0, "Supplementation: assumed effect", ("burden",),
          what="a relative reduction", values="0-1 (0: no effect)", lo=0.0, hi=1.0),
    # Model.
    Param("folds", ONE, "study", "Held-out predictions", ("model",),
          allowed=("study", "country"), what="a fold type",
          values="study (leave one study out), country (leave one country out)"),
    # Cutoffs.
    Param("defs", MULTI, (), "Definitions to compare", ("cutoffs",), allowed=_definitions,
          what="a definition id", values="definition ids (empty: all reported)",
          aliases=("definitions",)),
    # Risk profile: one segment (the year is the Burden page's parameter).
    Param("place", ONE, "USA", "Country", ("profile",), validator=_iso3,
          what="an ISO 3166-1 alpha-3 country code",
          values="ISO 3166-1 alpha-3 code of a UN WPP country"),
    Param("ages", RANGE, (40, 59), "Age (years)", ("profile",), what="an age range lo-hi",
          values="lo-hi or one age within 0-100 (100: 100 and over)", lo=0, hi=100),
    Param("psex", ONE, "both", "Sex", ("profile",), allowed=schema.SEXES, what="a sex"),
    Param("pdiet", ONE, "omnivore", "Diet", ("profile",), allowed=schema.PROFILE_DIETS,
          what="a diet group", values=", ".join(schema.PROFILE_DIETS) + " (every diet)"),
    Param("psupp", ONE, "included", "Supplement users", ("profile",),
          allowed=schema.PROFILE_SUPPLEMENTS, what="a supplement-use label",
          values="included (users and non-users), excluded (non-users), only (users)"),
    Param("preg", ONE, "not_pregnant", "Pregnancy", ("profile",),
          allowed=schema.PROFILE_PREGNANCY, what="a pregnancy state",
          values=", ".join(schema.PROFILE_PREGNANCY) + " (women aged 15-49 only)"),
    Param("mcut", FLOAT, 148.0, "Modelled cut-off (pmol/L)", ("cutoffs",),
          what="a serum B12 cut-off in pmol/L", values="100-300 (pmol/L, serum B12)",
          lo=100.0, hi=300.0),
    # Your data.
    Param("fp", ONE, "", "File fingerprint", ("your_data",), validator=_fingerprint,
          what="a file fingerprint", values="12 hex digits (empty: no file)"),
    Param("grp", MULTI, ("age_band", "diet_group"), "Group by", ("your_data",),
          allowed=("age_band", "diet_group", "sex"), what="a grouping column",
          aliases=("group", "grouping")),
    Param("marker", ONE, "serum_b12", "Biomarker", ("your_data",), allowed=schema.BIOMARKERS,
          what="a biomarker"),
    Param("op", ONE, "lt", "Low when", ("your_data",), allowed=("lt", "gt"),
          what="a comparison", values="lt (below the cut-off), gt (above)"),
    Param("cut", FLOAT, 148.0, "Cut-off", ("your_data",), what="a cut-off value",
          values="a number", lo=-1000.0, hi=100_000.0, aliases=("cutoff",)),
    Param("unit", ONE, "pmol/L", "Unit", ("your_data",), allowed=UNITS, what="a unit"),
    Param("bands", ONE, DEFAULT_AGE_SPEC, "Age bands", ("your_data",), validator=_age_spec,
          what="an age band list", values="contiguous bands from 0, e.g. 0-19,20-59,60+"),
    Param("astd", ONE, schema.DEFAULT_STANDARD, "Age standardisation", ("your_data",),
          allowed=(*schema.STANDARD_POPULATIONS, SURVEY_STANDARD),
          what="a standard population or survey",
          values=", ".join(schema.STANDARD_POPULATIONS) + ", survey (its own age distribution)"),
)
PARAMS: dict[str, Param] = {p.name: p for p in PARAMETERS}
_ALIASES: dict[str, str] = {a: p.name for p in PARAMETERS for a in p.aliases}
PAGE_PARAMS: dict[str, tuple[Param, ...]] = {
    page: tuple(p for p in PARAMETERS if page in p.pages) for page in schema.PAGES
}
SHARED: tuple[str, ...] = tuple(p.name for p in PARAMETERS if p.shared)


def _check_registry(parameters: Iterable[Param] = PARAMETERS) -> None:
    """Refuse a registry whose names or aliases clash (with each other or with v), are not
    lower-case identifiers, or name a page schema.PAGES does not have."""
    parameters = tuple(parameters)
    names = [p.name for p in parameters] + [a for p in parameters for a in p.aliases]
    names.append(VERSION_KEY)
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"parameter names used twice: {', '.join(sorted(duplicates))}")
    for p in parameters:
        if p.name != p.name.lower() or not p.name.isidentifier():
            raise ValueError(f"parameter name {p.name!r} must be lower-case letters/digits/_")
        unknown = set(p.pages) - set(schema.PAGES)
        if unknown:
            raise ValueError(f"parameter {p.name}: unknown pages {', '.join(sorted(unknown))}")


_check_registry()


def parameters_markdown() -> str:
    """The parameter table of the README (name, pages, values, default, old names)."""
    lines = [
        "| Parameter | Pages | Meaning | Values | Default | Old names |",
        "|---|---|---|---|---|---|",
    ]
    for p in PARAMETERS:
        values = p.values or ", ".join(p.allowed)
        default = ", ".join(_encode(p, p.default)) or "(empty)"
        pages = "all filter pages" if p.pages == FILTER_PAGES else ", ".join(p.pages)
        lines.append(
            f"| `{p.name}` | {pages} | {p.label} | {values} | `{default}` | "
            f"{', '.join(f'`{a}`' for a in p.aliases)} |"
        )
    lines.append(f"| `{VERSION_KEY}` | all | State version (Share links) | {STATE_VERSION} | - | |")
    return "\n".join(lines)


# --- state -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """The view of one page: its name and one value per parameter of that page.

    Hashable and comparable. Values: str (one), tuple[str, ...] (multi), int, float,
    tuple[int, int] (range), bool. Read with ``state["def"]``.
    """

    page: str
    values: tuple[tuple[str, Any], ...] = field(default=())

    def __getitem__(self, name: str) -> Any:
        for key, value in self.values:
            if key == name:
                return value
        raise KeyError(f"page {self.page!r} has no parameter {name!r}")

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self.values)

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)

    def replace(self, choices: Choices | None = None, **changes: Any) -> State:
        """A copy with some values changed; raises ValueError on a value the URL would refuse."""
        current = self.as_dict()
        for name, value in changes.items():
            if name not in current:
                raise ValueError(f"page {self.page!r} has no parameter {name!r}")
            param = PARAMS[name]
            parsed, notices = _parse(param, _encode(param, value), choices)
            if notices:
                raise ValueError("; ".join(notices))
            current[name] = parsed
        return State(self.page, tuple(current.items()))


def _page_params(page: str) -> tuple[Param, ...]:
    if page not in schema.PAGES:
        raise ValueError(f"unknown page {page!r}: pages are {', '.join(schema.PAGES)}")
    return PAGE_PARAMS[page]


def default_state(page: str) -> State:
    """The state of a page opened without parameters."""
    return State(page, tuple((p.name, p.default) for p in _page_params(page)))


# --- parsing -----------------------------------------------------------------------------------


def _lookup(param: Param, choices: Choices | None) -> tuple[Validator, list[str]]:
    """Validator (raw -> canonical or None) and the listed values for one parameter."""
    extra = None if choices is None else choices.get(param.name)
    static: list[str] = list(param.allowed)
    if extra is not None and not callable(extra):
        static += [str(v) for v in extra if str(v) not in static]
    table = {v.lower(): v for v in static}
    validators = [v for v in (param.validator, extra) if callable(v)]

    def check(raw: str) -> str | None:
        text = raw.strip()
        hit = table.get(text.lower())
        if hit is not None:
            return hit
        for validate in validators:
            hit = validate(text)
            if hit is not None:
                return hit
        return None

    return check, static


def _describe(param: Param, listed: list[str]) -> str:
    if listed and len(listed) <= 12 and param.validator is None:
        return f"not {param.what}: allowed {', '.join(listed)}"
    if param.kind in (INT, FLOAT, RANGE):
        return f"not {param.what} within {_num(param.lo)}-{_num(param.hi)}"
    return f"not {param.what}"


def _num(x: float | None) -> str:
    if x is None:
        return ""
    if float(x).is_integer():
        return str(int(x))
    return repr(float(x))


def _shown(raw: str) -> str:
    text = raw if len(raw) <= 40 else raw[:37] + "..."
    return text.replace("\n", " ")


def _listed(values: Iterable[str], quote: str = "") -> str:
    """At most NOTICE_VALUES values (each shortened), then how many more: a notice stays short
    however many values a link repeats."""
    values = list(values)
    shown = ", ".join(f"{quote}{_shown(v)}{quote}" for v in values[:NOTICE_VALUES])
    rest = len(values) - NOTICE_VALUES
    return f"{shown} and {rest:,} more" if rest > 0 else shown


def _order(param: Param, values: list[str], listed: list[str]) -> tuple[str, ...]:
    rank = {v: i for i, v in enumerate(listed)}
    unique = list(dict.fromkeys(values))
    return tuple(sorted(unique, key=lambda v: (rank.get(v, len(rank)), v)))


def _parse(param: Param, raws: list[str], choices: Choices | None) -> tuple[Any, list[str]]:
    """Value of one parameter from its raw strings, and notices for what was ignored."""
    fallback = f"; using the default ({', '.join(_encode(param, param.default)) or 'none'})"
    if param.kind == MULTI:
        check, listed = _lookup(param, choices)
        items = [s for raw in raws for s in raw.split(",") if s.strip()]
        good, refused = [], []
        for item in items:
            value = check(item)
            if value is None:
                refused.append(item.strip())
            else:
                good.append(value)
        notices = []
        if refused:
            notices.append(
                f"Ignored {param.name}={_listed(dict.fromkeys(refused))} "
                f"({_describe(param, listed)})"
            )
        if len(good) < param.min_items:
            why = "at least one value is needed" if not items else "no valid value left"
            notices.append(f"Ignored {param.name} ({why}){fallback}")
            return param.default, notices
        if notices and not good:
            notices[-1] += fallback
            return param.default, notices
        return _order(param, good, listed), notices

    values = [r.strip() for r in raws if r.strip()]
    if not values:
        if param.kind == ONE and param.default == "":
            return "", []
        return param.default, [f"Ignored {param.name}= (empty){fallback}"]
    notices = []
    if len(set(values)) > 1:
        notices.append(
            f"Ignored extra values of {param.name} "
            f"({_listed(values[1:])}): it takes one value"
        )
    raw = values[0]
    value = _parse_one(param, raw, choices)
    if value is None:
        _, listed = _lookup(param, choices)
        notices.append(f"Ignored {param.name}={_shown(raw)} ({_describe(param, listed)}){fallback}")
        return param.default, notices
    return value, notices


def _parse_one(param: Param, raw: str, choices: Choices | None) -> Any:
    """The canonical value of one raw string, or None when it is not valid."""
    if param.kind == ONE:
        check, _ = _lookup(param, choices)
        return check(raw)
    if param.kind == BOOL:
        text = raw.lower()
        return True if text in _TRUE else False if text in _FALSE else None
    if param.kind == INT:
        try:
            number = int(raw)
        except ValueError:
            return None
        return number if _within(param, number) else None
    if param.kind == FLOAT:
        try:
            number = float(raw)
        except ValueError:
            return None
        return number if math.isfinite(number) and _within(param, number) else None
    # RANGE: "lo-hi", or one year for a one-year range.
    m = re.fullmatch(r"(\d{1,4})(?:\s*(?:-|\.\.|:)\s*(\d{1,4}))?", raw)
    if m is None:
        return None
    lo = int(m.group(1))
    hi = lo if m.group(2) is None else int(m.group(2))
    return (lo, hi) if lo <= hi and _within(param, lo) and _within(param, hi) else None


def _within(param: Param, x: float) -> bool:
    return (param.lo is None or x >= param.lo) and (param.hi is None or x <= param.hi)


def _as_lists(query: Mapping[str, Any]) -> dict[str, list[str]]:
    """Query values as lists of strings, keys lower-cased (repeated keys merged in order)."""
    out: dict[str, list[str]] = {}
    for key, value in query.items():
        values = [value] if isinstance(value, str) or value is None else list(value)
        name = str(key).strip().lower()
        out.setdefault(name, []).extend("" if v is None else str(v) for v in values)
    return out


def query_length(query: Mapping[str, list[str]]) -> int:
    """Characters of a query as ``key=value&...`` (before percent-encoding)."""
    return sum(len(key) + len(v) + 2 for key, values in query.items() for v in values)


@dataclass(frozen=True)
class _SortedQuery:
    """A query's keys sorted out for one page: values per parameter (aliases resolved), keys
    the registry does not know, keys of other pages, and a notice per refused key."""

    given: dict[str, list[str]]
    unknown: list[str]
    elsewhere: list[str]
    refused: dict[str, str]


def _sort_query(page: str, raw: Mapping[str, list[str]]) -> _SortedQuery:
    own = {p.name for p in _page_params(page)}
    given: dict[str, list[str]] = {}
    unknown: list[str] = []
    elsewhere: list[str] = []
    refused: dict[str, str] = {}
    for key, values in raw.items():
        if key in STREAMLIT_KEYS:
            continue
        if key == VERSION_KEY:
            if [v.strip() for v in values] != [str(STATE_VERSION)]:
                refused[key] = (
                    f"Ignored {VERSION_KEY}={_shown(','.join(values))} (this version of the "
                    f"dashboard reads links of version {STATE_VERSION})"
                )
            continue
        name = _ALIASES.get(key, key)
        if name not in PARAMS:
            unknown.append(key)
            continue
        if name not in own:
            elsewhere.append(key)
            continue
        if name != key and name in raw:
            refused[key] = f"Ignored parameter '{key}' (old name of '{name}', also given)"
            continue
        given.setdefault(name, []).extend(values)
    return _SortedQuery(given, unknown, elsewhere, refused)


def from_query(
    page: str, query: Mapping[str, list[str]] | Mapping[str, str], choices: Choices | None = None
) -> tuple[State, list[str]]:
    """The state a URL asks for on ``page``, and a notice for everything ignored.

    Never raises on the query: unknown keys, values outside the vocabulary, out-of-range
    numbers and garbage fall back to the default with a notice naming the parameter. Keys
    are case-insensitive; old names (aliases) still work; multi values may repeat the key or
    be a comma list. ``choices`` adds allowed values per parameter (an iterable of canonical
    values, or a validator returning the canonical value or None), e.g. the generated
    definition ids present in the data. Raises ValueError only for an unknown ``page``.
    """
    params = _page_params(page)
    raw = _as_lists(query)
    length = query_length(raw)
    if length > MAX_QUERY_CHARS:
        return default_state(page), [
            f"Ignored the whole link after '?' ({length:,} characters, over the limit of "
            f"{MAX_QUERY_CHARS:,}); using the defaults"
        ]
    sorted_query = _sort_query(page, raw)
    notices = list(sorted_query.refused.values())
    for keys, why in ((sorted_query.unknown, "unknown"),
                      (sorted_query.elsewhere, "not used on this page")):
        if keys:
            plural = "s" if len(keys) > 1 else ""
            notices.append(f"Ignored parameter{plural} {_listed(keys, quote=chr(39))} ({why})")
    values_out = []
    for param in params:
        if param.name in sorted_query.given:
            value, more = _parse(param, sorted_query.given[param.name], choices)
            notices += more
        else:
            value = param.default
        values_out.append((param.name, value))
    return State(page, tuple(values_out)), notices


def _strict(notice: str) -> str:
    """A fallback notice as a refusal: without "Ignored " and the default used instead."""
    text = notice.removeprefix("Ignored ")
    return text.split("; using the default")[0]


def check_query(
    page: str, query: Mapping[str, list[str]] | Mapping[str, str], choices: Choices | None = None
) -> tuple[State, dict[str, str]]:
    """The state a query asks for on ``page`` read strictly, for the data API: the state and
    one problem per refused parameter (key as given -> what is wrong), empty when the query
    is valid. Nothing falls back silently: a caller must refuse a query with problems.

    The same registry and parsing as ``from_query`` (a link the pages read without a notice
    passes here); ``embed``/``embed_options`` are Streamlit's and pass. Raises ValueError
    only for an unknown ``page``.
    """
    params = _page_params(page)
    raw = _as_lists(query)
    length = query_length(raw)
    if length > MAX_QUERY_CHARS:
        return default_state(page), {
            "(query)": f"{length:,} characters, over the limit of {MAX_QUERY_CHARS:,}"}
    sorted_query = _sort_query(page, raw)
    problems = {key: _strict(n) for key, n in sorted_query.refused.items()}
    problems |= {key: "unknown parameter" for key in sorted_query.unknown}
    problems |= {key: f"not a parameter of the {page} page" for key in sorted_query.elsewhere}
    values_out = []
    for param in params:
        value = param.default
        if param.name in sorted_query.given:
            value, notices = _parse(param, sorted_query.given[param.name], choices)
            if notices:
                problems[param.name] = "; ".join(_strict(n) for n in notices)
        values_out.append((param.name, value))
    return State(page, tuple(values_out)), problems


# --- writing -----------------------------------------------------------------------------------


def _format_float(x: float) -> str:
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _encode(param: Param, value: Any) -> list[str]:
    """The URL strings of one value (a multi value repeats the key)."""
    if param.kind == MULTI:
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value]
    if param.kind == BOOL:
        return ["1" if value else "0"]
    if param.kind == FLOAT:
        return [_format_float(value)]
    if param.kind == RANGE:
        lo, hi = value
        return [f"{int(lo)}-{int(hi)}"]
    if param.kind == INT:
        return [str(int(value))]
    return [str(value)]


def to_query(state: State, include_defaults: bool = False) -> dict[str, list[str]]:
    """URL parameters of a state: non-defaults only, or every parameter plus v=1.

    An empty multi value is written as one blank value (``diet=``) so that "all" survives a
    later change of the default.
    """
    out: dict[str, list[str]] = {}
    for param in _page_params(state.page):
        value = state[param.name]
        if value == param.default and not include_defaults:
            continue
        out[param.name] = _encode(param, value) or [""]
    if include_defaults:
        out[VERSION_KEY] = [str(STATE_VERSION)]
    return out


def page_url(page: str, base_url: str) -> str:
    """URL of a page under the app root ``base_url`` (no query)."""
    _page_params(page)  # refuses an unknown page
    path = schema.PAGES[page].url_path
    root = base_url.rstrip("/")
    return f"{root}/{path}" if path else f"{root}/"


def share_url(state: State, base_url: str = DEFAULT_BASE_URL) -> str:
    """The full link to a view: page path, every parameter (defaults too) and v=1."""
    query = urlencode(to_query(state, include_defaults=True), doseq=True)
    return f"{page_url(state.page, base_url)}?{query}"


# Pages with a data twin under /api (dashboard/api.py): every page whose table comes from the
# bundled data. Your data has none: an upload stays in its session.
DATA_PAGES: tuple[str, ...] = ("overview", "explore", "evidence", "cutoffs", "burden", "model",
                               "profile", "methods")
API_PATH = "api"
EMBED_QUERY: dict[str, str] = {"embed": "true", "embed_options": "light_theme"}
EMBED_HEIGHT = "600px"


def data_url(state: State, base_url: str = DEFAULT_BASE_URL, fmt: str = "csv") -> str:
    """The data API's URL of a view's table: ``<root>/api/<page>.<fmt>?<every parameter, v=1>``
    (fmt: csv, json or metadata.json)."""
    if state.page not in DATA_PAGES:
        raise ValueError(f"page {state.page!r} has no data API")
    query = urlencode(to_query(state, include_defaults=True), doseq=True)
    return f"{base_url.rstrip('/')}/{API_PATH}/{state.page}.{fmt}" + (f"?{query}" if query else "")


def link_url(state: State, base_url: str = DEFAULT_BASE_URL) -> str:
    """The short link of a view: page path and its non-default parameters (what the address
    bar shows), for places with little room such as a chart's source note."""
    query = urlencode(to_query(state), doseq=True)
    return page_url(state.page, base_url) + (f"?{query}" if query else "")


def embed_url(state: State, base_url: str = DEFAULT_BASE_URL) -> str:
    """The Share link with Streamlit's embed mode (no toolbar, light theme)."""
    return f"{share_url(state, base_url)}&{urlencode(EMBED_QUERY)}"


def embed_snippet(state: State, base_url: str = DEFAULT_BASE_URL) -> str:
    """An iframe of the view for another web page (lazy, full width, 600 px high), its
    attributes HTML-escaped."""
    title = f"B12 Risk Atlas: {schema.PAGES[state.page].title}"
    return (f'<iframe src="{html.escape(embed_url(state, base_url))}" loading="lazy" '
            f'title="{html.escape(title)}" style="width: 100%; height: {EMBED_HEIGHT}; '
            'border: 0px none;" allow="clipboard-write"></iframe>')


def carry_query(state: State, target_page: str) -> dict[str, list[str]]:
    """The shared filters of ``state`` that ``target_page`` reads, defaults left out.

    For ``st.page_link(..., query_params=...)``: a link to another page keeps the filters.
    """
    target = {p.name for p in _page_params(target_page)}
    query = to_query(state)
    return {k: v for k, v in query.items() if PARAMS[k].shared and k in target}


def profile_query(state: State) -> dict[str, list[str]]:
    """The Risk profile link of the segment a view's shared filters name, defaults left out.

    Each filter gives its first value the profile can take: a country (not MULTI), a sex,
    a diet group (schema.PROFILE_DIETS), a supplement use (schema.PROFILE_SUPPLEMENTS); the
    chosen analysis age bands give the ages from the lowest band's start to the highest's
    end (80+: to 100). A filter left empty, or with no such value, keeps the profile default.
    """
    values = state.as_dict()
    changes: dict[str, Any] = {}
    for name, target, allowed in (("sex", "psex", schema.SEXES),
                                  ("diet", "pdiet", schema.PROFILE_DIETS),
                                  ("supp", "psupp", schema.PROFILE_SUPPLEMENTS)):
        chosen = [v for v in values.get(name, ()) if v in allowed]
        if chosen:
            changes[target] = chosen[0]
    countries = [c for c in values.get("country", ()) if c != schema.MULTI_COUNTRY]
    if countries:
        changes["place"] = countries[0]
    bands = [b for b in schema.AGE_BANDS if b[0] in values.get("age", ())]
    if bands:
        top = bands[-1][2]
        changes["ages"] = (bands[0][1], int(PARAMS["ages"].hi) if top is None else top)
    return to_query(default_state("profile").replace(**changes))


def filter_kwargs(state: State) -> dict[str, Any]:
    """The shared filters as keyword arguments of ``aggregate.filter_studies``.

    Empty multi values mean "no filter" (None); the full survey-year span means no year
    filter (rows with years outside it are kept too) unless rows without survey years are
    to be left out, which the year filter does.
    """
    values = state.as_dict()

    def many(name: str) -> list[str] | None:
        chosen = values.get(name, ())
        return list(chosen) if chosen else None

    years = values.get("years", PARAMS["years"].default)
    undated = bool(values.get("undated", True))
    return {
        "definition": values.get("def", schema.DEFAULT_DEFINITION),
        "status": values.get("status", schema.DEFAULT_STATUS),
        "sexes": many("sex"),
        "age_bands": many("age"),
        "diet_groups": many("diet"),
        "countries": many("country"),
        "regions": many("region"),
        # The full span is no filter, unless undated rows are to go: that needs the range.
        "year_range": (
            None if tuple(years) == PARAMS["years"].default and undated else tuple(years)
        ),
        "supplement_users": many("supp"),
        "min_n": int(values.get("minn", 0)),
        "include_unknown_years": undated,
    }


def marker_units(marker: str, units: Mapping[str, Iterable[str]]) -> list[str]:
    """The units of ``marker`` in ``units`` (marker -> units) that the ``unit`` parameter admits."""
    return [u for u in units[marker] if u in UNITS]


def measured_marker(
    marker: Any, unit: Any, units: Mapping[str, Iterable[str]]
) -> tuple[str, str, list[str]]:
    """The marker and unit a page of per-person values can use, and a notice per replaced one.

    The ``marker`` parameter admits every biomarker (schema.BIOMARKERS), derived indicators
    included, but only the markers in ``units`` (marker -> its units, e.g. ingest.UNIT_FACTORS)
    have a value per person. Another marker falls back to the parameter's default; a unit that
    is not one of the marker's falls back to its canonical unit (schema.CANONICAL_UNITS).
    """
    notices: list[str] = []
    if marker not in units:
        default = PARAMS["marker"].default
        notices.append(
            f"Ignored marker={marker} (a value per person exists only for {', '.join(units)}); "
            f"using {default}."
        )
        marker = default
    if unit not in marker_units(marker, units):
        canonical = schema.CANONICAL_UNITS[marker]
        notices.append(f"Ignored unit={unit} (not a unit of {marker}); using {canonical}.")
        unit = canonical
    return marker, unit, notices


# --- Streamlit glue ----------------------------------------------------------------------------
# Only these functions touch st.query_params / st.session_state. Widgets use the parameter
# name as key and must not pass their own default (value=/default=/index=): read() seeds it.

_SEEN = "_state_seen"  # (page, query) last read from or written to the URL
_VIEWS = "_state_views"  # page -> State last shown on that page in this session
_SHARED = "_state_shared"  # shared filter values last used on any page
_CHOICES = "_state_choices"  # page -> choices given to read()
_CURRENT = "_state_current"  # the State last read or written in this session
_CHANGED = "_state_changed"  # set by a widget's on_change: this rerun comes from a widget


def widget_changed() -> None:
    """``on_change`` callback for the view's widgets: the coming rerun holds a value the
    person just set, so read() keeps the widgets even if the rerun carries a stale URL.

    The browser sends its address with every rerun; when keys are pressed faster than
    reruns land (a slider stepped with the arrow keys), it still shows the query written
    two steps back, which would otherwise win and undo the later steps.
    """
    import streamlit as st

    st.session_state[_CHANGED] = True


def _freeze(query: Mapping[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(sorted((k, tuple(v)) for k, v in query.items()))


def _widget_value(param: Param, value: Any) -> Any:
    if param.kind == MULTI:
        return list(value)
    return value


def _from_widgets(page: str, fallback: State, choices: Choices | None) -> State:
    """The state held by the widgets (session values); missing or invalid ones from fallback."""
    import streamlit as st

    values = []
    for param in _page_params(page):
        current = fallback[param.name]
        raw = st.session_state.get(param.name)
        if raw is not None:
            try:
                encoded = _encode(param, raw)
            except (TypeError, ValueError):
                # A rerun that sends no widget values (a client other than the browser) can
                # leave a range slider holding one number: keep the fallback.
                encoded = None
            if encoded is not None:
                parsed, notices = _parse(param, encoded or [""], choices)
                if not notices:
                    current = parsed
        values.append((param.name, current))
    return State(page, tuple(values))


def _remember(state: State) -> None:
    import streamlit as st

    st.session_state.setdefault(_VIEWS, {})[state.page] = state
    st.session_state[_CURRENT] = state
    shared = st.session_state.setdefault(_SHARED, {})
    for name, value in state.values:
        if PARAMS[name].shared:
            shared[name] = value


def _restored(page: str, query_keys: set[str]) -> State:
    """Defaults, overlaid with this session's last values for the parameters the URL lacks."""
    import streamlit as st

    state = st.session_state.get(_VIEWS, {}).get(page) or default_state(page)
    shared = st.session_state.get(_SHARED, {})
    values = [
        (name, shared[name] if name in shared and PARAMS[name].shared else value)
        for name, value in state.values
    ]
    return State(page, tuple(v for v in values if v[0] not in query_keys))


def read(page: str, choices: Choices | None = None) -> State:
    """The view state of ``page`` for this run, with widgets seeded to match.

    When the URL changed since this session last saw it (first run, a pasted link, moving to
    another page), the URL wins: its parameters are validated, each ignored one is named in
    an ``st.info`` notice, and parameters it lacks take this session's last value (shared
    filters from any page), else the default. Otherwise, and on a rerun a widget with the
    ``widget_changed`` callback started, the widgets hold the truth.
    """
    import streamlit as st

    query = {k: st.query_params.get_all(k) for k in st.query_params}
    st.session_state.setdefault(_CHOICES, {})[page] = choices
    seen = st.session_state.get(_SEEN)
    from_widget = bool(st.session_state.pop(_CHANGED, False))
    if seen == (page, _freeze(query)) or (from_widget and seen is not None and seen[0] == page):
        fallback = st.session_state.get(_VIEWS, {}).get(page) or default_state(page)
        state = _from_widgets(page, fallback, choices)
    else:
        parsed, notices = from_query(page, query, choices)
        too_long = query_length(_as_lists(query)) > MAX_QUERY_CHARS
        given = set() if too_long else {_ALIASES.get(k.lower(), k.lower()) for k in query}
        keep = _restored(page, given).as_dict()
        state = State(page, tuple((n, keep.get(n, v)) for n, v in parsed.values))
        for notice in notices:
            st.info(markdown_literal(notice) + ".", icon=":material/link_off:")
        for param in _page_params(page):
            st.session_state[param.name] = _widget_value(param, state[param.name])
        st.session_state[_SEEN] = (page, _freeze(query))
    _remember(state)
    return state


def write(state: State) -> State:
    """Write the widgets' current values to the URL (defaults left out); return that state."""
    import streamlit as st

    choices = st.session_state.get(_CHOICES, {}).get(state.page)
    state = _from_widgets(state.page, state, choices)
    query = to_query(state)
    current = {k: st.query_params.get_all(k) for k in st.query_params}
    if _freeze(current) != _freeze(query):
        st.query_params.from_dict(query)
    st.session_state[_SEEN] = (state.page, _freeze(query))
    _remember(state)
    return state


def base_url(page: str) -> str:
    """The app root as the browser sees it (st.context.url without the page path)."""
    import streamlit as st

    url = None
    try:
        url = st.context.url
    except Exception:  # no browser context (bare script, tests): fall through to the Host
        url = None
    if url:
        path = schema.PAGES[page].url_path if page in schema.PAGES else ""
        url = url.rstrip("/")
        return url[: -len(path) - 1] if path and url.endswith("/" + path) else url
    host = None
    try:
        host = st.context.headers.get("Host")
    except Exception:  # same as above
        host = None
    return f"http://{host}" if host else DEFAULT_BASE_URL


def current() -> State | None:
    """The view state this session last read or wrote (the page being drawn), or None."""
    import streamlit as st

    return st.session_state.get(_CURRENT)


def render_share(state: State, label: str = "Share") -> str:
    """A Share control: the full link of this view (defaults included, v=1), the data API
    URL of its table, and an iframe snippet to embed it in another page."""
    import streamlit as st

    base = base_url(state.page)
    url = share_url(state, base)
    with st.popover(label, icon=":material/share:"):
        st.caption(
            f"Link to exactly this view: every setting plus state version {STATE_VERSION}, "
            "so a later change of defaults does not change what it shows."
        )
        st.code(url, language=None, wrap_lines=True)
        if state.page in DATA_PAGES:
            st.caption("The table of this view as data (CSV; `.json` gives records and "
                       "`.metadata.json` its definition, units, sources and citation):")
            st.code(data_url(state, base, "csv"), language=None, wrap_lines=True)
        if state.page != "your_data":
            st.caption("Embed this view in another web page (no toolbar, light theme):")
            st.code(embed_snippet(state, base), language="html", wrap_lines=True)
    return url
