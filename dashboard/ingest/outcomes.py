"""Low status as an outcome: definitions, parsed outcomes, the comparison, and age bands."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dashboard import schema
from dashboard.ingest._text import _norm
from dashboard.ingest.records import ColumnMapping, InputError, Outcome
from dashboard.ingest.roles import UNIT_FACTORS, UNIT_SLUGS, UNKNOWN_LABEL, VALUE_BIOMARKERS

OPERATORS: tuple[str, ...] = ("<", "<=", ">", ">=", "between")


# Documented definitions computable from one value per person: one marker, one cut-off.
VALUE_DEFINITIONS: tuple[schema.Definition, ...] = tuple(
    d for d in schema.DEFINITIONS
    if d.biomarker in VALUE_BIOMARKERS and d.direction in ("<", ">")
)


def matching_definition(outcome: Outcome) -> schema.Definition | None:
    """The documented definition (of ``VALUE_DEFINITIONS``) whose matching range holds this
    marker, direction and cut-off, so an analyst's estimate can be set beside the published
    ones. The cut-off is converted to the definition's unit first; the range is the one the
    build uses to assign published cut-offs to definitions (schema.Definition.low_min and
    low_max). None when no definition matches (another marker, direction or cut-off).
    """
    factors = UNIT_FACTORS[outcome.biomarker]
    for d in VALUE_DEFINITIONS:
        if d.biomarker != outcome.biomarker or d.direction != outcome.operator:
            continue
        cut = outcome.cutoff * factors[outcome.unit] / factors[d.unit]
        if d.low_min <= cut <= d.low_max:
            return d
    return None


def outcome_from_definition(definition_id: str) -> Outcome:
    """The Outcome for one of schema.DEFINITIONS (serum B12, holoTC and MMA ones).

    The cut-off is the definition's nominal one (schema.Definition.cutoff, e.g. 148 pmol/L).
    """
    if definition_id not in schema.DEFINITIONS_BY_ID:
        raise InputError(
            f"Unknown definition {definition_id!r}: use one of "
            f"{', '.join(schema.DEFINITIONS_BY_ID)}."
        )
    d = schema.DEFINITIONS_BY_ID[definition_id]
    if d.biomarker not in VALUE_BIOMARKERS:
        raise InputError(
            f"Definition {definition_id!r} ({d.label}) combines several markers and cannot be "
            "computed from one column: choose a serum B12, holoTC or MMA definition."
        )
    if d.direction == "between":
        return Outcome(d.biomarker, "between", d.cutoff, d.unit, cutoff_high=d.cutoff_high)
    return Outcome(d.biomarker, d.direction, d.cutoff, d.unit)


_OUTCOME_RE = re.compile(
    r"^\s*(?P<column>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


def parse_outcome(text: str, mapping: ColumnMapping) -> Outcome:
    """Parse '<column> <op> <number>' (op one of < <= > >=) without evaluating anything.

    The column is a mapped biomarker column (its unit applies: 'LBXB12 < 200' is 200 pg/mL)
    or a canonical name '<biomarker>_<unit>' (serum_b12_pmol_l, serum_b12_pg_ml, holotc_pmol_l,
    mma_umol_l, ...), which uses whichever column is mapped to that biomarker.
    """
    match = _OUTCOME_RE.match(text or "")
    if not match:
        raise InputError(
            f"Outcome {text!r} is not of the form '<column> <op> <number>' with op one of "
            "<, <=, >, >= (for example 'serum_b12_pmol_l < 148')."
        )
    column, op, number = match["column"], match["op"], float(match["number"])
    if not math.isfinite(number):
        raise InputError(
            f"Outcome {text!r}: the cut-off {match['number']} is beyond the range of numbers "
            "(it would read as infinity); give a finite cut-off."
        )
    for biomarker, bc in mapping.biomarkers.items():
        if column == bc.column:
            return Outcome(biomarker, op, number, bc.unit, column=column)
    for biomarker, units in UNIT_FACTORS.items():
        for unit in units:
            if _norm(column) == f"{biomarker}_{UNIT_SLUGS[unit]}":
                return Outcome(biomarker, op, number, unit)
    known = [bc.column for bc in mapping.biomarkers.values()]
    canonical = [f"{b}_{UNIT_SLUGS[schema.CANONICAL_UNITS[b]]}" for b in VALUE_BIOMARKERS]
    raise InputError(
        f"Outcome {text!r}: '{column}' is neither a biomarker column of the file "
        f"({', '.join(known) or 'none recognised'}) nor a biomarker name "
        f"({', '.join(canonical)}). Map the biomarker column or use one of those names."
    )


def parse_age_bands(text: str) -> tuple[tuple[str, int, int | None], ...]:
    """Parse '0-19,20-39,40-59,60-79,80+' into (label, age_min, age_max or None) bands.

    Bands are whole years, upper bound inclusive, in increasing order and not overlapping.
    """
    bands: list[tuple[str, int, int | None]] = []
    for part in (p.strip() for p in (text or "").split(",")):
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)|(\d+)\s*\+", part)
        if not m:
            raise InputError(
                f"Age band {part!r} is not 'a-b' or 'a+' in whole years (for example "
                "'0-19,20-39,40-59,60-79,80+')."
            )
        lo, hi = (int(m[1]), int(m[2])) if m[1] else (int(m[3]), None)
        if hi is not None and hi < lo:
            raise InputError(f"Age band {part!r} ends before it starts: write it as '{hi}-{lo}'.")
        if bands:
            prev = bands[-1]
            if prev[2] is None or lo <= prev[2]:
                raise InputError(
                    f"Age band {part!r} overlaps or comes before {prev[0]!r}: list bands in "
                    "increasing order without overlaps."
                )
        bands.append((f"{lo}-{hi}" if hi is not None else f"{lo}+", lo, hi))
    return tuple(bands)


_BLOCK_ROWS = 1 << 18  # rows at a time where a whole-column step would cost several copies


def cut_age_bands(
    age: pd.Series, bands: Sequence[tuple[str, int, int | None]] = schema.AGE_BANDS
) -> pd.Series:
    """Age band label of each age; whole years completed (45.9 is in 40-59), so fractional
    ages follow the usual 'age last birthday'. Missing ages and ages in no band -> 'unknown'.
    Returns a categorical with the band labels (then 'unknown') as categories, in order."""
    ages = pd.to_numeric(age, errors="coerce").to_numpy()
    lows = np.array([b[1] for b in bands], dtype="float64")
    highs = np.array([np.inf if b[2] is None else b[2] for b in bands], dtype="float64")
    labels = [b[0] for b in bands] + [UNKNOWN_LABEL]
    codes = np.empty(len(ages), dtype=np.int16 if len(labels) < 2**15 else np.int64)
    # A block of rows at a time: the temporaries of a few million ages are tens of MB each.
    for start in range(0, len(ages), _BLOCK_ROWS):
        years = np.floor(ages[start : start + _BLOCK_ROWS].astype("float64"))
        pos = np.searchsorted(lows, years, side="right") - 1
        ok = (pos >= 0) & ~np.isnan(years)
        ok &= years <= highs[np.clip(pos, 0, len(bands) - 1)]
        codes[start : start + _BLOCK_ROWS] = np.where(ok, pos, len(bands))
    # Categorical in band order, so that results list bands youngest first.
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=list(labels)), index=age.index, name="age_band"
    )



def _compare(values: pd.Series, outcome: Outcome, unit: str) -> pd.Series:
    """Outcome as bool; the cut-off is converted to the column's unit so that a value equal to
    the cut-off in the same unit compares exactly."""
    factors = UNIT_FACTORS[outcome.biomarker]
    cut = outcome.cutoff * factors[outcome.unit] / factors[unit]
    v = values.to_numpy()
    with np.errstate(invalid="ignore"):
        if outcome.operator == "between":
            high = outcome.cutoff_high * factors[outcome.unit] / factors[unit]
            result = (v >= cut) & (v < high)
        else:
            result = {
                "<": np.less,
                "<=": np.less_equal,
                ">": np.greater,
                ">=": np.greater_equal,
            }[outcome.operator](v, cut)
    return pd.Series(result, index=values.index, name="outcome")
