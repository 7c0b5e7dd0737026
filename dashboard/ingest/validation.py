"""Checking mapped uploads: microdata to a Prepared frame, prevalence tables to a PreparedTable."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dashboard import schema
from dashboard.ingest._text import _examples, _fmt, _norm, _plural, _rows_text
from dashboard.ingest.outcomes import (
    _BLOCK_ROWS,
    OPERATORS,
    _compare,
    cut_age_bands,
    outcome_from_definition,
    parse_age_bands,
)
from dashboard.ingest.records import (
    BiomarkerColumn,
    ColumnMapping,
    InputError,
    Outcome,
    Prepared,
    PreparedTable,
    Upload,
    _drop_record,
)
from dashboard.ingest.roles import (
    ROLE_VOCABULARIES,
    TABLE_ROLE_VOCABULARIES,
    UNIT_FACTORS,
    UNIT_SLUGS,
    UNKNOWN_LABEL,
    map_labels,
)

AGE_RANGE: tuple[float, float] = (0.0, 120.0)
# Range in which a population's MEDIAN falls, in canonical units. Reported medians: serum B12
# about 150 (vegans) to 500 pmol/L (NHANES 1999-2004, Bailey et al. 2011; EPIC-Oxford, Gilsing
# et al. 2010), holoTC 20-120 pmol/L, MMA 0.1-0.4 umol/L. The bounds are wide on purpose: a
# median outside them points at a unit mix-up (factors 0.738 at the extremes, 1000 always),
# not at an unusual population.
PLAUSIBLE_MEDIANS: dict[str, tuple[float, float]] = {
    "serum_b12": (40.0, 1000.0),
    "holotc": (8.0, 250.0),
    "mma": (0.04, 2.0),
}


def _check_mapping_columns(upload: Upload, mapping: ColumnMapping) -> None:
    missing = [(role, col) for role, col in mapping.columns().items() if col not in upload.frame]
    if missing:
        raise InputError(
            [
                f"Mapping: {role} is set to column '{col}', which is not in '{upload.filename}' "
                f"(its columns: {', '.join(map(str, upload.frame.columns[:12]))}). Choose an "
                "existing column."
                for role, col in missing
            ]
        )


def _numeric(
    upload: Upload, col: str, what: str, problems: list[str]
) -> tuple[pd.Series, np.ndarray]:
    """The column as float, and a mask of values that are present but not numbers."""
    raw = upload.frame[col]
    if pd.api.types.is_bool_dtype(raw):
        raw = raw.astype("float64")
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype("float64"), np.zeros(len(raw), bool)
    num = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = (num.isna() & raw.notna()).to_numpy()
    if bad.any():
        problems.append(
            f"Column '{col}' ({what}): {_plural(int(bad.sum()), 'value')} "
            f"{'is' if bad.sum() == 1 else 'are'} not a number "
            f"({_examples(upload.frame.index, bad, upload, raw.to_numpy())}). Replace them "
            "with numbers in one unit, or leave the cells empty for missing values."
        )
    return num, bad


def prepare_microdata(
    upload: Upload,
    mapping: ColumnMapping,
    outcome: Outcome | str = schema.DEFAULT_DEFINITION,
    age_bands: Sequence[tuple[str, int, int | None]] | str = schema.AGE_BANDS,
) -> Prepared:
    """Validate microdata under a mapping and derive the outcome and age bands.

    Rows without a value of the outcome's biomarker are dropped and recorded (reason
    'missing <biomarker> value'); nothing else is dropped. Every other problem is collected
    and raised together as InputError: non-numeric or negative biomarker values, a median
    implausible for the stated unit (with the unit that fits), ages outside 0-120, missing or
    non-positive weights, missing strata or PSUs, duplicate ids, unknown labels. Strata with a
    single PSU are kept with a warning: their variance contribution is centred at the grand
    mean, as R's options(survey.lonely.psu = "adjust") does. Missing ages and labels become
    'unknown' (a domain of their own), with a warning.
    """
    if upload.kind != "microdata" or mapping.kind != "microdata":
        raise InputError(
            f"'{upload.filename}' is read as a prevalence table (it has n and cases or "
            "prevalence columns): use prepare_table, or map it as microdata."
        )
    if isinstance(outcome, str):
        outcome = outcome_from_definition(outcome)
    if isinstance(age_bands, str):
        age_bands = parse_age_bands(age_bands)
    age_bands = tuple(age_bands)
    _check_mapping_columns(upload, mapping)
    _check_outcome(outcome)
    bcol = _biomarker_column(outcome, mapping)
    problems: list[str] = []
    warnings: list[str] = list(upload.warnings)
    out, keep, dropped = _biomarker_values(upload, bcol, outcome, problems, warnings)
    kept_index = None if keep.all() else _kept_index(upload.frame.index, keep)
    if mapping.age is not None:
        _add_age(upload, mapping.age, age_bands, keep, out, problems, warnings)
    for role in ("sex", "diet_group", "supplement_use"):
        col = getattr(mapping, role)
        if col is not None:
            overrides = mapping.labels.get(role)
            _add_labels(upload, role, col, overrides, keep, kept_index, out, problems,
                        warnings)
    design = _design(upload, mapping, keep, out, problems, warnings)
    if mapping.id is not None:
        _add_ids(upload, mapping.id, keep, out, problems)
    if problems:
        raise InputError(problems)
    return Prepared(
        frame=_kept_rows(out, keep, kept_index),
        outcome=outcome,
        weight=design["weight"],
        strata=design["stratum"],
        psu=design["psu"],
        age_bands=age_bands,
        dropped=pd.concat(dropped, ignore_index=True),
        warnings=tuple(warnings),
        fingerprint=upload.fingerprint,
    )


def _kept_rows(out: pd.DataFrame, keep: np.ndarray, index: pd.Index | None) -> pd.DataFrame:
    """``out.loc[keep]`` one column at a time, each full column let go once its kept rows are
    copied, so that a large file's analysis columns are never held twice. `index` is the kept
    rows' numbers (_kept_index), None when every row is kept."""
    if index is None:  # nothing dropped: the frame as built, with the upload's row numbers
        return out
    columns = {col: out.pop(col).array[keep] for col in list(out.columns)}
    return pd.DataFrame(columns, index=index, copy=False)


def _kept_index(index: pd.Index, keep: np.ndarray) -> pd.Index:
    """The row numbers of the kept rows, as 32-bit integers when they fit (they stay below
    MAX_ROWS + 2): half the memory of the 64-bit index a boolean selection makes. Row
    numbers counted from a start (an upload's lines or rows) are found a block at a time,
    never as one 64-bit array."""
    top = np.iinfo(np.int32).max
    if isinstance(index, pd.RangeIndex) and len(index) and max(index[0], index[-1]) < top \
            and min(index[0], index[-1]) > -top:
        positions = np.empty(int(keep.sum()), dtype=np.int32)
        filled = 0
        for start in range(0, len(keep), _BLOCK_ROWS):
            found = np.flatnonzero(keep[start : start + _BLOCK_ROWS])
            positions[filled : filled + len(found)] = found + start
            filled += len(found)
        positions *= np.int32(index.step)
        positions += np.int32(index.start)
        return pd.Index(positions, name=index.name, copy=False)
    kept = index[keep]
    if kept.dtype.kind == "i" and (not len(kept) or max(kept.max(), -kept.min()) < top):
        kept = pd.Index(kept.to_numpy().astype(np.int32), name=index.name)
    return kept


def _check_outcome(outcome: Outcome) -> None:
    """Refuse an outcome the comparison cannot evaluate, before any value is read."""
    if outcome.operator not in OPERATORS:
        raise InputError(
            f"Outcome operator {outcome.operator!r} is not one of {', '.join(OPERATORS)}."
        )
    if outcome.biomarker not in UNIT_FACTORS or outcome.unit not in UNIT_FACTORS[outcome.biomarker]:
        units = ", ".join(UNIT_FACTORS.get(outcome.biomarker, {}))
        raise InputError(
            f"Outcome {outcome.label}: the unit {outcome.unit!r} is not known for "
            f"{outcome.biomarker} (known: {units or 'none'})."
        )


def _biomarker_column(outcome: Outcome, mapping: ColumnMapping) -> BiomarkerColumn:
    """The mapped column (and its unit) that holds the outcome's biomarker."""
    if outcome.column is not None:
        known = {bc.column: bc for bc in mapping.biomarkers.values()}
        if outcome.column not in known:
            raise InputError(
                f"Outcome {outcome.label}: column '{outcome.column}' is not mapped as a "
                "biomarker: map it with its unit first."
            )
        bcol = known[outcome.column]
    elif outcome.biomarker in mapping.biomarkers:
        bcol = mapping.biomarkers[outcome.biomarker]
    else:
        label = schema.BIOMARKER_LABELS[outcome.biomarker]
        raise InputError(
            f"No column is mapped to {label}, which the definition '{outcome.label}' needs: map "
            "the column that holds it (with its unit)."
        )
    if bcol.unit not in UNIT_FACTORS[outcome.biomarker]:
        raise InputError(
            f"Column '{bcol.column}': unit {bcol.unit!r} is not known for {outcome.biomarker} "
            f"(known: {', '.join(UNIT_FACTORS[outcome.biomarker])})."
        )
    return bcol


def _biomarker_values(
    upload: Upload,
    bcol: BiomarkerColumn,
    outcome: Outcome,
    problems: list[str],
    warnings: list[str],
) -> tuple[pd.DataFrame, np.ndarray, list[pd.DataFrame]]:
    """Check the biomarker, drop rows without it: (frame of values and outcome, kept, drops)."""
    index = upload.frame.index
    what = f"{schema.BIOMARKER_LABELS[outcome.biomarker]}, {bcol.unit}"
    values, _ = _numeric(upload, bcol.column, what, problems)
    present = values.notna().to_numpy()
    negative = present & (values.to_numpy() < 0)
    if negative.any():
        problems.append(
            f"Column '{bcol.column}' ({what}): {_plural(int(negative.sum()), 'negative value')} "
            f"({_examples(index, negative, upload, values.to_numpy())}). Concentrations cannot "
            "be negative: correct them, or leave the cells empty for missing values."
        )
    if present.any() and not negative.any():
        problems.extend(_unit_problems(bcol, outcome.biomarker, values))
    keep = present
    dropped = [upload.dropped]
    n_missing = int((~present).sum())
    if n_missing:
        reason = f"missing {outcome.biomarker} value (column '{bcol.column}')"
        dropped.append(_drop_record(upload.filename, index[~present], reason))
        warnings.append(
            f"{_plural(n_missing, 'row')} without a {schema.BIOMARKER_LABELS[outcome.biomarker]} "
            f"value in '{bcol.column}' {'was' if n_missing == 1 else 'were'} dropped "
            f"({_rows_text(index[~present], n_missing, upload.row_label)}; {upload.row_note})."
        )
    if not keep.any():
        problems.append(
            f"Column '{bcol.column}' ({what}) has no values: map the column that holds the "
            "measurements."
        )
    out = pd.DataFrame(index=index)
    canonical = f"{outcome.biomarker}_{UNIT_SLUGS[schema.CANONICAL_UNITS[outcome.biomarker]]}"
    factor = UNIT_FACTORS[outcome.biomarker][bcol.unit]
    # In the canonical unit already: the values themselves (x * 1.0 is x), not a copy.
    out[canonical] = values if factor == 1 else values * factor
    out["outcome"] = _compare(values, outcome, bcol.unit)
    return out, keep, dropped


def _add_age(
    upload: Upload,
    column: str,
    age_bands: tuple[tuple[str, int, int | None], ...],
    keep: np.ndarray,
    out: pd.DataFrame,
    problems: list[str],
    warnings: list[str],
) -> None:
    """Check ages among kept rows (years, 0-120) and add age and age_band to `out`."""
    index = upload.frame.index
    raw = upload.frame[column]
    if isinstance(raw.dtype, np.dtype) and raw.dtype.kind in "iu":
        age, bad = raw, np.zeros(len(raw), bool)  # whole years, checked and cut as read
    else:
        age, bad = _numeric(upload, column, "age in years", problems)
    a = age.to_numpy()
    outside = keep & ~bad & ~np.isnan(a) & ((a < AGE_RANGE[0]) | (a > AGE_RANGE[1]))
    if outside.any():
        problems.append(
            f"Column '{column}' (age in years): "
            f"{_plural(int(outside.sum()), 'age')} outside {AGE_RANGE[0]:g}-{AGE_RANGE[1]:g} "
            f"({_examples(index, outside, upload, a)}). Ages must be in whole or decimal "
            "years (not months or birth years): correct them or map another column."
        )
    out["age"] = age  # whole years stay in the integer type they were read in
    out["age_band"] = cut_age_bands(age, age_bands)
    unknown = keep & (out["age_band"] == UNKNOWN_LABEL).to_numpy() & ~outside
    if unknown.any():
        warnings.append(
            f"Column '{column}': {_plural(int(unknown.sum()), 'row')} with a missing "
            f"age or an age in none of the bands {', '.join(b[0] for b in age_bands)} "
            f"({_examples(index, unknown, upload, a)}) form the age band 'unknown'."
        )


def _add_labels(
    upload: Upload,
    role: str,
    col: str,
    overrides: dict[str, str] | None,
    keep: np.ndarray,
    kept_index: pd.Index | None,
    out: pd.DataFrame,
    problems: list[str],
    warnings: list[str],
) -> None:
    """Translate one label column to the role's vocabulary; unmapped labels are problems."""
    index = upload.frame.index
    vocab = ROLE_VOCABULARIES[role]
    raw = upload.frame[col]
    # The kept rows' labels; with rows dropped, under 32-bit row numbers (a selection's own
    # index would be 8 bytes a row for every label column).
    kept = raw if kept_index is None else pd.Series(raw.array[keep], index=kept_index,
                                                    name=raw.name, copy=False)
    mapped, preview = map_labels(kept, vocab, overrides)
    del kept
    if not preview.empty:
        listed = "; ".join(
            f"{r.value!r} ({_plural(int(r.count), 'row')}, e.g. "
            f"{_rows_text([r.rows.split(', ')[0]], 1, upload.row_label)})"
            for r in preview.head(5).itertuples()
        )
        more = f" and {len(preview) - 5} more" if len(preview) > 5 else ""
        problems.append(
            f"Column '{col}' ({role.replace('_', ' ')}): unknown labels {listed}{more}. "
            f"Map each to one of {', '.join(vocab)} (label mapping), or choose another "
            "column."
        )
    missing = keep & raw.isna().to_numpy()
    if missing.any():
        warnings.append(
            f"Column '{col}': {_plural(int(missing.sum()), 'row')} without a "
            f"{role.replace('_', ' ')} label ({_examples(index, missing, upload)}) "
            f"form the group '{UNKNOWN_LABEL}'."
        )
    # Rows without a label (and rows not kept) get the last category, 'unknown'; codes in
    # the one-byte type the categorical keeps (vocabularies have a handful of terms).
    codes = np.full(len(index), len(vocab), dtype=np.int8 if len(vocab) < 127 else np.int64)
    kept_codes = mapped.cat.codes.to_numpy()
    codes[keep] = np.where(kept_codes >= 0, kept_codes, len(vocab))
    out[role] = pd.Categorical.from_codes(codes, categories=[*vocab, UNKNOWN_LABEL])


def _add_ids(
    upload: Upload, column: str, keep: np.ndarray, out: pd.DataFrame, problems: list[str]
) -> None:
    """Refuse repeated ids among kept rows (a person counted twice) and add the id to `out`."""
    index = upload.frame.index
    ids = upload.frame[column]
    if _distinct_integers(ids):
        out["id"] = ids
        return
    dup = keep & ids.duplicated(keep=False).to_numpy() & ids.notna().to_numpy()
    if dup.any():
        problems.append(
            f"Column '{column}' (id): duplicate key values, "
            f"{_plural(int(dup.sum()), 'row')} share an id "
            f"({_examples(index, dup, upload, ids.to_numpy())}). Each person must appear "
            "once: remove repeated rows or map another id column."
        )
    out["id"] = ids


def _distinct_integers(ids: pd.Series) -> bool:
    """Whether integer ids are all distinct, from a sorted copy (4 bytes a row for 32-bit
    ids): the hash table of `duplicated` costs about 16 bytes a row. False for other types
    and when some repeat; the caller then finds the repeated rows."""
    if not (isinstance(ids.dtype, np.dtype) and ids.dtype.kind in "iu"):
        return False
    ordered = np.sort(ids.to_numpy())
    return not bool((ordered[1:] == ordered[:-1]).any())


def _unit_problems(bcol: BiomarkerColumn, biomarker: str, values: pd.Series) -> list[str]:
    """A problem when the median (of the values present) is implausible in the stated unit,
    naming the unit that fits."""
    present = values.to_numpy(dtype="float64")
    present = present[~np.isnan(present)]  # a copy, which the median may reorder
    median = float(np.median(present, overwrite_input=True)) if len(present) else np.nan
    del present
    lo, hi = PLAUSIBLE_MEDIANS[biomarker]
    factors = UNIT_FACTORS[biomarker]
    canonical = schema.CANONICAL_UNITS[biomarker]
    if lo <= median * factors[bcol.unit] <= hi:
        return []
    fits = [u for u, f in factors.items() if u != bcol.unit and lo <= median * f <= hi]
    hint = (
        f" The values look like {' or '.join(fits)}: set the unit to {fits[0]}."
        if fits
        else " Check the unit and the column."
    )
    return [
        f"Column '{bcol.column}' ({schema.BIOMARKER_LABELS[biomarker]}): implausible values for "
        f"the unit {bcol.unit}: the median is {median:,.4g} {bcol.unit}, while population "
        f"medians lie between {lo:g} and {hi:g} {canonical}.{hint}"
    ]


def _design(
    upload: Upload,
    mapping: ColumnMapping,
    keep: np.ndarray,
    out: pd.DataFrame,
    problems: list[str],
    warnings: list[str],
) -> dict[str, str | None]:
    """Validate weight, stratum and PSU among kept rows; add them to `out`."""
    index = upload.frame.index
    design: dict[str, str | None] = {"weight": None, "stratum": None, "psu": None}
    if mapping.weight is not None:
        w, bad = _numeric(upload, mapping.weight, "sampling weight", problems)
        a = w.to_numpy()
        missing = keep & np.isnan(a) & ~bad
        if missing.any():
            problems.append(
                f"Column '{mapping.weight}' (sampling weight): "
                f"{_plural(int(missing.sum()), 'row')} with a biomarker value but no weight "
                f"({_examples(index, missing, upload)}). Every person analysed needs a weight: "
                "fill them in or map the weight that goes with the biomarker (e.g. WTMEC2YR)."
            )
        nonpos = keep & ~np.isnan(a) & (a <= 0)
        if nonpos.any():
            problems.append(
                f"Column '{mapping.weight}' (sampling weight): "
                f"{_plural(int(nonpos.sum()), 'negative or zero weight')} "
                f"({_examples(index, nonpos, upload, a)}). Weights must be positive: a zero "
                "weight usually marks someone outside the subsample (check the weight variable "
                "matches the biomarker's subsample)."
            )
        out["weight"] = w
        design["weight"] = "weight"
    for role in ("stratum", "psu"):
        col = getattr(mapping, role)
        if col is None:
            continue
        values = upload.frame[col]
        missing = keep & values.isna().to_numpy()
        if missing.any():
            problems.append(
                f"Column '{col}' ({role}): {_plural(int(missing.sum()), 'row')} without a "
                f"{role} ({_examples(index, missing, upload)}). Every person analysed must "
                "belong to a design " + role + ": fill them in or unmap the column."
            )
        out[role] = values
        design[role] = role
    if design["stratum"] and design["psu"]:
        psus = _psus_per_stratum(out, keep)
        lonely = psus[psus == 1]
        if len(lonely):
            names = ", ".join(str(_fmt(s)) for s in lonely.index[:5])
            more = f" and {len(lonely) - 5} more" if len(lonely) > 5 else ""
            count = _plural(len(lonely), "stratum", "strata")
            warnings.append(
                f"Column '{mapping.stratum}': {count} with a single "
                f"PSU ({names}{more}) among the rows analysed. Their variance is estimated by "
                "centring that PSU at the grand mean instead of the stratum mean, as R's "
                'options(survey.lonely.psu = "adjust") does; this is conservative.'
            )
    return design

def _psus_per_stratum(out: pd.DataFrame, keep: np.ndarray) -> pd.Series:
    """Distinct PSUs of each stratum among the kept rows (strata in order), from the distinct
    (stratum, PSU) pairs of one block of rows at a time: a grouping of millions of rows at
    once costs several times their memory."""
    pairs = []
    for start in range(0, len(out), _BLOCK_ROWS):
        block = out.iloc[start : start + _BLOCK_ROWS][["stratum", "psu"]]
        pairs.append(block[keep[start : start + _BLOCK_ROWS]].dropna().drop_duplicates())
    distinct = pd.concat(pairs).drop_duplicates()
    return distinct.groupby("stratum", sort=True, observed=True).size()


def prepare_table(upload: Upload, mapping: ColumnMapping) -> PreparedTable:
    """Validate a prevalence table (one row per group: n with cases and/or prevalence).

    Problems raised together: n not a positive whole number, cases negative, non-whole or
    above n, prevalence outside 0-100% (0-1 for a fraction), age_min or age_max outside
    0-120 or age_min above age_max, unknown sex or diet labels, each with its row numbers. Rows
    with neither cases nor prevalence are dropped and recorded. Where only a prevalence is
    given, cases = round(prevalence x n) (as in the project's literature table) and the
    column `cases_from_prevalence` says so.
    """
    if mapping.kind != "prevalence_table":
        raise InputError(
            "The mapping is for microdata: map n and cases (or prevalence) to read a table."
        )
    _check_mapping_columns(upload, mapping)
    if mapping.n is None or (mapping.cases is None and mapping.prevalence is None):
        raise InputError(
            f"'{upload.filename}': a prevalence table needs an n column and a cases or "
            "prevalence column: map them."
        )
    problems: list[str] = []
    warnings = list(upload.warnings)
    n = _table_n(upload, mapping.n, problems)
    cases = _table_cases(upload, mapping, n, problems)
    prevalence = _table_prevalence(upload, mapping, problems)
    _check_table_ages(upload, problems)
    usable, dropped = _usable_rows(upload, cases, prevalence, warnings)
    from_prev = cases.isna() & prevalence.notna() & n.notna()
    cases = cases.where(~from_prev, (prevalence * n).round())
    out = _table_groups(upload, mapping, problems)
    out["n"] = n
    out["cases"] = cases
    out["prevalence"] = prevalence.where(prevalence.notna(), cases / n)
    out["cases_from_prevalence"] = from_prev
    if problems:
        raise InputError(problems)
    return PreparedTable(
        frame=out.loc[usable],
        dropped=pd.concat(dropped, ignore_index=True),
        warnings=tuple(warnings),
        fingerprint=upload.fingerprint,
    )


def _table_n(upload: Upload, column: str, problems: list[str]) -> pd.Series:
    """Sample sizes, which must be positive whole numbers to be a denominator."""
    index = upload.frame.index
    n, _ = _numeric(upload, column, "sample size n", problems)
    na = n.to_numpy()
    bad_n = ~np.isnan(na) & ((na <= 0) | (na % 1 != 0))
    if bad_n.any():
        problems.append(
            f"Column '{column}' (sample size n): {_plural(int(bad_n.sum()), 'value')} not a "
            f"positive whole number ({_examples(index, bad_n, upload, na)}). Correct them."
        )
    return n


def _table_cases(
    upload: Upload, mapping: ColumnMapping, n: pd.Series, problems: list[str]
) -> pd.Series:
    """Cases as counted (missing where unmapped), which must be whole and at most n."""
    index = upload.frame.index
    na = n.to_numpy()
    if mapping.cases is None:
        return pd.Series(np.nan, index=index)
    cases, _ = _numeric(upload, mapping.cases, "cases", problems)
    ca = cases.to_numpy()
    neg = ~np.isnan(ca) & ((ca < 0) | (ca % 1 != 0))
    if neg.any():
        problems.append(
            f"Column '{mapping.cases}' (cases): {_plural(int(neg.sum()), 'value')} negative "
            f"or not whole ({_examples(index, neg, upload, ca)}). Cases count people: "
            "correct them."
        )
    over = ~np.isnan(ca) & ~np.isnan(na) & (ca > na)
    if over.any():
        problems.append(
            f"Column '{mapping.cases}' (cases): cases > n in "
            f"{_plural(int(over.sum()), 'row')} ({_examples(index, over, upload, ca)}; n "
            f"in '{mapping.n}'). Cases cannot exceed the sample size: check both columns."
        )
    return cases


def _table_prevalence(upload: Upload, mapping: ColumnMapping, problems: list[str]) -> pd.Series:
    """Prevalence as a fraction 0-1 (missing where unmapped), whatever scale the column uses."""
    index = upload.frame.index
    if mapping.prevalence is None:
        return pd.Series(np.nan, index=index)
    p, _ = _numeric(upload, mapping.prevalence, "prevalence", problems)
    top = 100.0 if mapping.prevalence_scale == "percent" else 1.0
    pa = p.to_numpy()
    outside = ~np.isnan(pa) & ((pa < 0) | (pa > top))
    if outside.any():
        scale = "0-100%" if top == 100.0 else "0-1 (a fraction)"
        problems.append(
            f"Column '{mapping.prevalence}' (prevalence): "
            f"{_plural(int(outside.sum()), 'value')} outside {scale} "
            f"({_examples(index, outside, upload, pa)}). Correct them, or set the scale "
            "(percent or fraction) to match the column."
        )
    prevalence = p / top
    return prevalence


def _check_table_ages(upload: Upload, problems: list[str]) -> None:
    """Age bounds of a table's groups: numbers within AGE_RANGE (years), age_min <= age_max.

    A swapped pair (age_min 60, age_max 40) would otherwise become a group no one is in.
    """
    index = upload.frame.index
    columns = {_norm(c): c for c in upload.frame.columns}
    bounds = {}
    for role in ("age_min", "age_max"):
        if role not in columns:
            continue
        col = columns[role]
        values, _ = _numeric(upload, col, role.replace("_", " "), problems)
        a = values.to_numpy()
        outside = ~np.isnan(a) & ((a < AGE_RANGE[0]) | (a > AGE_RANGE[1]))
        if outside.any():
            problems.append(
                f"Column '{col}' ({role.replace('_', ' ')}): "
                f"{_plural(int(outside.sum()), 'value')} outside "
                f"{AGE_RANGE[0]:g}-{AGE_RANGE[1]:g} "
                f"({_examples(index, outside, upload, a)}). Ages are in years."
            )
        bounds[role] = (col, a)
    if len(bounds) == 2:
        (lo_col, lo), (hi_col, hi) = bounds["age_min"], bounds["age_max"]
        swapped = ~np.isnan(lo) & ~np.isnan(hi) & (lo > hi)
        if swapped.any():
            pairs = np.array([f"{_fmt(x)} > {_fmt(y)}" for x, y in zip(lo, hi, strict=True)],
                             dtype=object)
            problems.append(
                f"Columns '{lo_col}' and '{hi_col}': age_min above age_max in "
                f"{_plural(int(swapped.sum()), 'row')} ({_examples(index, swapped, upload, pairs)})"
                ". Swap the two values, or correct the one that is wrong."
            )


def _usable_rows(
    upload: Upload, cases: pd.Series, prevalence: pd.Series, warnings: list[str]
) -> tuple[np.ndarray, list[pd.DataFrame]]:
    """Rows with cases or a prevalence, and a drop record for the others (never silent)."""
    index = upload.frame.index
    usable = cases.notna().to_numpy() | prevalence.notna().to_numpy()
    dropped = [upload.dropped]
    if (~usable).any():
        dropped.append(_drop_record(upload.filename, index[~usable], "no cases and no prevalence"))
        warnings.append(
            f"{_plural(int((~usable).sum()), 'row')} with neither cases nor prevalence "
            f"dropped ({_rows_text(index[~usable], int((~usable).sum()), upload.row_label)})."
        )
    return usable, dropped


def _table_groups(upload: Upload, mapping: ColumnMapping, problems: list[str]) -> pd.DataFrame:
    """The group columns, with sex and diet labels translated to the study vocabulary."""
    index = upload.frame.index
    out = pd.DataFrame(index=index)
    for col in mapping.groups:
        norm = _norm(col)
        if norm in TABLE_ROLE_VOCABULARIES:
            mapped, preview = map_labels(
                upload.frame[col], TABLE_ROLE_VOCABULARIES[norm], mapping.labels.get(norm)
            )
            if not preview.empty:
                listed = "; ".join(
                    f"{r.value!r} ({_rows_text(r.rows.split(', '), r.count, upload.row_label)})"
                    for r in preview.itertuples()
                )
                problems.append(
                    f"Column '{col}': unknown labels {listed}"
                    + f". Map each to one of {', '.join(TABLE_ROLE_VOCABULARIES[norm])}."
                )
            out[col] = mapped
        else:
            out[col] = upload.frame[col]
    return out
