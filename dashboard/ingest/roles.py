"""Which column plays which role: names and units recognised, label vocabularies, proposals."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from dashboard import schema
from dashboard.ingest._text import EXAMPLES, _fmt, _label_key, _norm
from dashboard.ingest.records import (
    KINDS,
    MICRODATA_ROLES,
    TABLE_ROLES,
    BiomarkerColumn,
    ColumnMapping,
    InputError,
)

# Biomarkers that a per-person file can carry as a measured value (the others in
# schema.BIOMARKERS are derived indicators).
VALUE_BIOMARKERS: tuple[str, ...] = ("serum_b12", "holotc", "mma")
# Per-person supplement use (the study-level schema.SUPPLEMENT_USE describes whole strata).
PERSON_SUPPLEMENT_USE: tuple[str, ...] = ("user", "non_user")
UNKNOWN_LABEL = schema.UNKNOWN_AGE_BAND


# Multiply a value in the unit by the factor to get the biomarker's canonical unit
# (schema.CANONICAL_UNITS). 1 pg/mL = 1 ng/L = 0.738 pmol/L of cobalamin (schema.PG_ML_TO_PMOL_L).
UNIT_FACTORS: dict[str, dict[str, float]] = {b: schema.unit_factors(b) for b in VALUE_BIOMARKERS}
UNIT_SLUGS: dict[str, str] = {
    "pmol/L": "pmol_l",
    "pg/mL": "pg_ml",
    "ng/L": "ng_l",
    "nmol/L": "nmol_l",
    "umol/L": "umol_l",
}

# --- Names recognised without asking ------------------------------------------------------
# NHANES variable names (CDC codebooks: DEMO_*, B12_*/L06_*, MMA) and the project's own names
# (schema columns, tests' golden microdata). Lower-case; earlier names win when several match.
NHANES_BIOMARKERS: dict[str, tuple[str, str]] = {
    "lbxb12": ("serum_b12", "pg/mL"),
    "lbdb12si": ("serum_b12", "pmol/L"),
    "lbxmma": ("mma", "umol/L"),
}
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "age": ("ridageyr", "age", "age_years", "age_yrs", "age_yr", "age_y", "ageyrs", "age_in_years"),
    "sex": ("riagendr", "sex", "gender"),
    "diet_group": ("diet_group", "diet", "diet_type", "dietary_group", "diet_pattern"),
    "supplement_use": (
        "supplement_use",
        "supplement_user",
        "supplements",
        "supplement",
        "supp_use",
        "b12_supplement",
    ),
    "weight": (
        "wtmec2yr",
        "wtmec4yr",
        "wtmecprp",
        "wtsaf2yr",
        "wtsaf4yr",
        "wtsafprp",
        "weight",
        "survey_weight",
        "sampling_weight",
        "sample_weight",
        "wt",
        "wgt",
        "pweight",
    ),
    "stratum": ("sdmvstra", "stratum", "strata", "strat"),
    "psu": ("sdmvpsu", "psu", "cluster", "psu_id"),
    "id": ("seqn", "respondent_id", "person_id", "participant_id", "subject_id", "record_id", "id"),
    "n": ("n", "sample_size", "n_total", "denominator", "total"),
    "cases": ("cases", "n_cases", "numerator", "events", "count"),
    "prevalence": (
        "prevalence_pct",
        "prevalence_percent",
        "prevalence",
        "prev_pct",
        "pct",
        "percent",
        "proportion",
        "prev",
    ),
}
NHANES_NAMES: frozenset[str] = frozenset(
    {"ridageyr", "riagendr", "sdmvstra", "sdmvpsu", "seqn", "wtmec2yr", "wtmec4yr", "wtsaf2yr"}
    | set(NHANES_BIOMARKERS)
)
# NHANES codes (DEMO codebook, RIAGENDR): 1 male, 2 female.
NHANES_LABEL_CODES: dict[str, dict[str, str]] = {"riagendr": {"1": "male", "2": "female"}}
TABLE_GROUP_NAMES: tuple[str, ...] = (
    "country_iso3",
    "country",
    "study_id",
    "age_band",
    "age_group",
    "age_min",
    "age_max",
    "sex",
    "diet_group",
    "supplement_users",
    "biomarker",
    "status",
)

# Labels, normalised (lower case, "_"/"-" as spaces), that mean a vocabulary term.
LABEL_SYNONYMS: dict[str, tuple[str, ...]] = {
    "male": ("m", "male", "males", "man", "men", "boy", "boys"),
    "female": ("f", "female", "females", "woman", "women", "girl", "girls"),
    "both": ("both", "both sexes", "all", "total"),
    "omnivore": (
        "omnivore",
        "omnivores",
        "omnivorous",
        "omni",
        "meat eater",
        "meat eaters",
        "non vegetarian",
        "nonvegetarian",
        "mixed diet",
    ),
    "semi_vegetarian": ("semi vegetarian", "semivegetarian", "flexitarian", "flexitarians"),
    "pescatarian": (
        "pescatarian",
        "pescatarians",
        "pescetarian",
        "pescetarians",
        "pesco vegetarian",
        "fish eater",
        "fish eaters",
    ),
    "vegetarian": (
        "vegetarian",
        "vegetarians",
        "lacto ovo vegetarian",
        "lacto vegetarian",
        "ovo vegetarian",
        "lacto ovo",
        "veggie",
    ),
    "vegan": ("vegan", "vegans", "strict vegetarian"),
    "general": ("general", "general population"),
    "user": ("user", "users", "yes", "y", "true", "1", "supplement user"),
    "non_user": ("non user", "nonuser", "non users", "no", "n", "false", "0", "none"),
}
ROLE_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "sex": tuple(s for s in schema.SEXES if s != "both"),
    "diet_group": schema.DIET_GROUPS,
    "supplement_use": PERSON_SUPPLEMENT_USE,
}
TABLE_ROLE_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "sex": schema.SEXES,
    "diet_group": schema.STUDY_DIET_GROUPS,
}


# Name parts of columns that describe a biomarker without holding its measured values.
NOT_VALUE_TOKENS = frozenset(
    {"flag", "comment", "supp", "supplement", "lc", "cutoff", "low", "def"}
)


def _biomarker_from_name(norm: str) -> tuple[str, str | None] | None:
    """(biomarker, unit or None) that a normalised column name announces, if any."""
    if norm in NHANES_BIOMARKERS:
        return NHANES_BIOMARKERS[norm]
    tokens = norm.split("_")
    # NHANES comment codes (LBXB12LC: below the detection limit) are not values.
    if any(t in NOT_VALUE_TOKENS for t in tokens) or re.fullmatch(r"lb[a-z0-9]*lc", norm):
        return None
    if "holo" in norm:
        biomarker = "holotc"
    elif "b12" in norm or "cobalamin" in norm:
        biomarker = "serum_b12"
    elif "mma" in tokens or "methylmalon" in norm:
        biomarker = "mma"
    else:
        return None
    unit = None
    for candidate, slug in UNIT_SLUGS.items():
        if norm.endswith(slug) or f"_{slug}_" in f"_{norm}_":
            unit = candidate
    if unit is not None and unit not in UNIT_FACTORS[biomarker]:
        unit = None
    return biomarker, unit


def detect_kind(columns: Iterable[object]) -> str:
    """'prevalence_table' when there is an n column with cases or prevalence and no biomarker
    values; 'microdata' otherwise."""
    norms = [_norm(c) for c in columns]
    if any(_biomarker_from_name(n) for n in norms):
        return "microdata"
    has = {role: any(n in ROLE_NAMES[role] for n in norms) for role in TABLE_ROLES}
    if has["n"] and (has["cases"] or has["prevalence"]):
        return "prevalence_table"
    return "microdata"


def propose_mapping(frame: pd.DataFrame, kind: str | None = None) -> ColumnMapping:
    """Propose which column plays which role, from names first and then content.

    Names: NHANES variables (RIDAGEYR, RIAGENDR, SDMVSTRA, SDMVPSU, WTMEC2YR, LBXB12 pg/mL,
    LBDB12SI pmol/L, LBXMMA umol/L, SEQN) and the project's own (serum_b12_pmol_l, age, ...).
    Content: a text column whose labels are mostly sexes or diet groups. Units come from the
    name (suffixes such as _pmol_l, _pg_ml); without one the canonical unit is assumed and
    noted, and `prepare_microdata` checks it against the values.
    """
    kind = kind or detect_kind(frame.columns)
    if kind not in KINDS:
        raise InputError(f"Unknown kind of file {kind!r}: use one of {', '.join(KINDS)}.")
    columns = [str(c) for c in frame.columns]
    norms = {c: _norm(c) for c in columns}
    used: set[str] = set()
    found: dict[str, str] = {}
    notes: dict[str, str] = {}
    labels: dict[str, dict[str, str]] = {}
    biomarkers: dict[str, BiomarkerColumn] = {}
    if kind == "microdata":
        for col in columns:
            hit = _biomarker_from_name(norms[col])
            if hit is None or hit[0] in biomarkers:
                continue
            biomarker, unit = hit
            canonical = schema.CANONICAL_UNITS[biomarker]
            biomarkers[biomarker] = BiomarkerColumn(col, unit or canonical)
            used.add(col)
            source = "NHANES name" if norms[col] in NHANES_BIOMARKERS else "column name"
            notes[f"{biomarker}_value"] = (
                f"'{col}': {schema.BIOMARKER_LABELS[biomarker]} in {unit} ({source})"
                if unit
                else f"'{col}': {schema.BIOMARKER_LABELS[biomarker]}; no unit in the name, "
                f"{canonical} assumed: check it"
            )
    roles = MICRODATA_ROLES if kind == "microdata" else TABLE_ROLES
    for role in roles:
        for candidate in ROLE_NAMES[role]:
            col = next((c for c in columns if norms[c] == candidate and c not in used), None)
            if col is not None:
                found[role] = col
                used.add(col)
                nhanes = candidate in NHANES_NAMES
                notes[role] = f"'{col}' ({'NHANES name' if nhanes else 'column name'})"
                if candidate in NHANES_LABEL_CODES:
                    labels[role] = dict(NHANES_LABEL_CODES[candidate])
                    codes = ", ".join(f"{k} = {v}" for k, v in labels[role].items())
                    notes[role] += f"; NHANES codes {codes}"
                break
    vocabularies = ROLE_VOCABULARIES if kind == "microdata" else TABLE_ROLE_VOCABULARIES
    for role in ("sex", "diet_group"):
        if role in found or (kind == "prevalence_table" and role not in vocabularies):
            continue
        for col in columns:
            if col in used or pd.api.types.is_numeric_dtype(frame[col]):
                continue
            values = frame[col].dropna()
            if values.empty:
                continue
            share = _matched_share(values, vocabularies[role])
            if share >= 0.9:
                found[role] = col
                used.add(col)
                notes[role] = f"'{col}' ({share:.0%} of its labels are {role.replace('_', ' ')}s)"
                break
    groups: tuple[str, ...] = ()
    scale = "percent"
    if kind == "prevalence_table":
        wanted = [c for c in columns if norms[c] in TABLE_GROUP_NAMES and c not in used]
        groups = tuple(wanted)
        for role in ("sex", "diet_group"):
            col = next((c for c in columns if norms[c] == role), None) or found.get(role)
            if col and col not in groups:
                groups += (col,)
        prevalence = found.get("prevalence")
        if prevalence is not None:
            norm = norms[prevalence]
            values = pd.to_numeric(frame[prevalence], errors="coerce")
            in_percent = "pct" in norm or "percent" in norm or bool((values > 1).any())
            scale = "percent" if in_percent else "fraction"
            notes["prevalence"] += f"; read as {'percent' if in_percent else 'a fraction 0-1'}"
        found.pop("sex", None)
        found.pop("diet_group", None)
    return ColumnMapping(
        kind=kind,
        biomarkers=biomarkers,
        groups=groups,
        labels=labels,
        notes=notes,
        prevalence_scale=scale,
        **found,
    )


def _synonyms(vocabulary: Sequence[str]) -> dict[str, str]:
    out = {}
    for term in vocabulary:
        out[_label_key(term)] = term
        for syn in LABEL_SYNONYMS.get(term, ()):
            out[_label_key(syn)] = term
    return out


def _matched_share(values: pd.Series, vocabulary: Sequence[str]) -> float:
    counts = values.value_counts()
    table = _synonyms(vocabulary)
    matched = sum(n for v, n in counts.items() if _label_key(v) in table)
    return matched / counts.sum()


def _factorize(series: pd.Series) -> tuple[np.ndarray, list[object]]:
    """pd.factorize (codes, labels in order of first appearance, -1 for missing), from a
    categorical's own small codes when it is one, rather than 8 bytes a row."""
    if not isinstance(series.dtype, pd.CategoricalDtype):
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        return codes, list(uniques)
    cat_codes = series.cat.codes.to_numpy()
    categories = series.cat.categories
    present = np.zeros(len(categories), bool)
    present[cat_codes[cat_codes >= 0]] = True
    order: list[int] = []  # categories in order of first appearance, a block at a time
    for start in range(0, len(cat_codes), 1 << 16):
        if len(order) == int(present.sum()):
            break
        seen = set(order)
        order += [int(c) for c in pd.unique(cat_codes[start : start + (1 << 16)])
                  if c >= 0 and int(c) not in seen]
    renumber = np.full(len(categories) + 1, -1, dtype=cat_codes.dtype)  # [-1] stays -1
    renumber[order] = np.arange(len(order))
    return renumber[cat_codes], [categories[i] for i in order]


def map_labels(
    series: pd.Series,
    vocabulary: Sequence[str],
    overrides: dict[str, str] | None = None,
) -> tuple[pd.Series, pd.DataFrame]:
    """Translate labels to a vocabulary (e.g. schema.DIET_GROUPS) and preview what is left.

    Matching ignores case, spaces, '_' and '-' and knows common synonyms (LABEL_SYNONYMS:
    'Lacto-ovo vegetarian' -> vegetarian, 'F' -> female). `overrides` maps a raw label to a
    vocabulary term first (e.g. NHANES RIAGENDR {'1': 'male', '2': 'female'}). Missing values
    stay missing. Returns the mapped series (categorical with the vocabulary as categories,
    same index; unmapped labels missing) and a
    preview of the unmapped labels: value, count, example rows (the series' index values).
    """
    table = _synonyms(vocabulary)
    for raw, term in (overrides or {}).items():
        if term not in vocabulary:
            raise InputError(
                f"Label mapping {raw!r} -> {term!r}: {term!r} is not one of "
                f"{', '.join(vocabulary)}."
            )
        table[_label_key(raw)] = term
    codes, uniques = _factorize(series)
    position = {term: i for i, term in enumerate(vocabulary)}
    terms = [table.get(_label_key(u)) for u in uniques]
    # One vocabulary code per distinct label (-1 = unmapped or missing), then per row.
    term_codes = np.array([position.get(t, -1) for t in terms] + [-1], dtype="int16")
    mapped = pd.Series(
        pd.Categorical.from_codes(term_codes[codes], categories=list(vocabulary)),
        index=series.index,
        name=series.name,
    )
    rows = []
    for code, raw in enumerate(uniques):
        if terms[code] is None:
            where = np.flatnonzero(codes == code)
            rows.append(
                {
                    "value": str(_fmt(raw)),
                    "count": len(where),
                    "rows": ", ".join(str(r) for r in series.index[where[:EXAMPLES]]),
                }
            )
    preview = pd.DataFrame(rows, columns=["value", "count", "rows"])
    if not preview.empty:
        preview = preview.sort_values("count", ascending=False, kind="stable")
    return mapped, preview.reset_index(drop=True)
