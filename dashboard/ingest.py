"""Analysts' own files: reading, merging, column and label mapping, validation, estimation."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePath

import numpy as np
import pandas as pd

from dashboard import schema, stats

# --- Limits --------------------------------------------------------------------------------
# 200 MB is Streamlit's default upload limit (server.maxUploadSize); a 5-million-row survey
# file is ten times the largest national nutrition survey, and 500 columns covers a merged
# NHANES cycle (demographics + laboratory files) while bounding the width the page shows.
MAX_BYTES = 200 * 1024 * 1024
MAX_ROWS = 5_000_000
MAX_COLUMNS = 500
# How many example rows (and values) a problem sentence cites.
EXAMPLES = 3
# Bytes inspected to tell text from binary data and to choose the delimiter.
SNIFF_BYTES = 65_536

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xpt": "xpt",
}
FORMAT_LABELS: dict[str, str] = {
    "csv": "CSV text",
    "parquet": "Parquet",
    "xpt": "SAS transport (XPT)",
}
DELIMITERS: tuple[str, ...] = (",", ";", "\t")
DELIMITER_NAMES: dict[str, str] = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# "." is the SAS and Stata missing value; pandas already reads "", "NA", "NaN", "null", ...
EXTRA_NA_VALUES: tuple[str, ...] = (".",)

KINDS: tuple[str, ...] = ("microdata", "prevalence_table")
MICRODATA_ROLES: tuple[str, ...] = (
    "age",
    "sex",
    "diet_group",
    "supplement_use",
    "weight",
    "stratum",
    "psu",
    "id",
)
TABLE_ROLES: tuple[str, ...] = ("n", "cases", "prevalence")
GROUP_ROLES: tuple[str, ...] = ("age_band", "sex", "diet_group", "supplement_use")
# Biomarkers that a per-person file can carry as a measured value (the others in
# schema.BIOMARKERS are derived indicators).
VALUE_BIOMARKERS: tuple[str, ...] = ("serum_b12", "holotc", "mma")
# Per-person supplement use (the study-level schema.SUPPLEMENT_USE describes whole strata).
PERSON_SUPPLEMENT_USE: tuple[str, ...] = ("user", "non_user")
UNKNOWN_LABEL = schema.UNKNOWN_AGE_BAND
AGE_RANGE: tuple[float, float] = (0.0, 120.0)

# Multiply a value in the unit by the factor to get the biomarker's canonical unit
# (schema.CANONICAL_UNITS). 1 pg/mL = 1 ng/L = 0.738 pmol/L of cobalamin (schema.PG_ML_TO_PMOL_L).
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "serum_b12": {
        "pmol/L": 1.0,
        "pg/mL": schema.PG_ML_TO_PMOL_L,
        "ng/L": schema.PG_ML_TO_PMOL_L,
        "nmol/L": 1000.0,
    },
    "holotc": {
        "pmol/L": 1.0,
        "pg/mL": schema.PG_ML_TO_PMOL_L,
        "ng/L": schema.PG_ML_TO_PMOL_L,
        "nmol/L": 1000.0,
    },
    "mma": {"umol/L": 1.0, "nmol/L": 0.001},
}
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


class InputError(ValueError):
    """A problem with an analyst's file; `.problems` holds one sentence per problem."""

    def __init__(self, problems: Sequence[str] | str) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


# --- Records -------------------------------------------------------------------------------
DROPPED_COLUMNS: tuple[str, ...] = ("file", "row", "reason")


def _no_drops() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file": pd.Series([], dtype="str"),
            "row": pd.Series([], dtype="int64"),
            "reason": pd.Series([], dtype="str"),
        }
    )


@dataclass(frozen=True, eq=False)
class Upload:
    """One analyst file (or several merged), read but not yet interpreted.

    `frame` keeps every column as read; its index holds the row numbers the analyst sees
    (`row_label` says which: "line" = line of the text file with the header on line 1,
    "row" = 1-based data row). `dropped` lists rows left out while reading (blank lines), one
    row per dropped row with its reason.
    """

    filename: str
    kind: str
    frame: pd.DataFrame
    sha256: str
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    warnings: tuple[str, ...] = ()
    dropped: pd.DataFrame = field(default_factory=_no_drops)
    row_label: str = "row"
    key: str | None = None
    sources: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        """First 12 hex digits of the SHA-256 of the file's bytes (shown in share links)."""
        return self.sha256[:12]

    @property
    def row_note(self) -> str:
        """What the row numbers in messages count."""
        return ROW_NOTES[self.row_label]


# How messages name rows: file lines (header = line 1) or 1-based data rows.
ROW_WORDS: dict[str, tuple[str, str]] = {
    "line": ("file line", "file lines"),
    "row": ("data row", "data rows"),
    "merged row": ("row of the merged table", "rows of the merged table"),
}
ROW_NOTES: dict[str, str] = {
    "line": "line numbers of the file, the header being line 1",
    "row": "data rows counted from 1",
    "merged row": "rows of the merged table counted from 1",
}


@dataclass(frozen=True)
class BiomarkerColumn:
    """A column holding one biomarker's measured values in a stated unit."""

    column: str
    unit: str


@dataclass(frozen=True, eq=False)
class Mapping:
    """Which column plays which role; proposed by `propose_mapping`, changed by the analyst.

    `biomarkers` maps a biomarker id (serum_b12, holotc, mma) to its column and unit. `labels`
    maps a role (sex, diet_group, supplement_use) to {raw label: vocabulary term} overrides,
    applied before the built-in synonyms. `notes` says why each proposal was made.
    """

    kind: str = "microdata"
    biomarkers: dict[str, BiomarkerColumn] = field(default_factory=dict)
    age: str | None = None
    sex: str | None = None
    diet_group: str | None = None
    supplement_use: str | None = None
    weight: str | None = None
    stratum: str | None = None
    psu: str | None = None
    id: str | None = None
    n: str | None = None
    cases: str | None = None
    prevalence: str | None = None
    prevalence_scale: str = "percent"
    groups: tuple[str, ...] = ()
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def columns(self) -> dict[str, str]:
        """Role -> column for every mapped role (biomarkers as '<biomarker>_value')."""
        roles = MICRODATA_ROLES if self.kind == "microdata" else TABLE_ROLES
        out = {r: getattr(self, r) for r in roles if getattr(self, r) is not None}
        if self.kind == "microdata":
            out.update({f"{b}_value": c.column for b, c in self.biomarkers.items()})
        else:
            out.update({f"group:{g}": g for g in self.groups})
        return out


@dataclass(frozen=True)
class Outcome:
    """Low status as a comparison of one biomarker with a cut-off in a stated unit.

    `operator` is one of < <= > >= or "between" (cutoff <= value < cutoff_high, so that the
    marginal band starts where deficiency stops and ends where low-or-marginal stops).
    `column` names a raw column to use instead of the mapped one.
    """

    biomarker: str
    operator: str
    cutoff: float
    unit: str
    cutoff_high: float | None = None
    column: str | None = None

    @property
    def label(self) -> str:
        """Human-readable definition, e.g. 'Serum B12 < 148 pmol/L'."""
        name = schema.BIOMARKER_SHORT.get(self.biomarker, self.biomarker)
        if self.operator == "between":
            return f"{name} {self.cutoff:g}-{self.cutoff_high:g} {self.unit}"
        return f"{name} {self.operator} {self.cutoff:g} {self.unit}"


@dataclass(frozen=True, eq=False)
class Prepared:
    """A validated analysis frame: one row per person kept, ready for survey estimation.

    `frame` has `outcome` (bool), the biomarker in canonical units (e.g. serum_b12_pmol_l),
    and whichever of age, age_band, sex, diet_group, supplement_use, weight, stratum, psu, id
    were mapped (labels in the project's vocabulary). Its index keeps the analyst's row numbers.
    `dropped` has one row per row left out (file, row, reason).
    """

    frame: pd.DataFrame
    outcome: Outcome
    weight: str | None
    strata: str | None
    psu: str | None
    age_bands: tuple[tuple[str, int, int | None], ...]
    dropped: pd.DataFrame
    warnings: tuple[str, ...]
    fingerprint: str


@dataclass(frozen=True, eq=False)
class PreparedTable:
    """A validated prevalence table: group columns, n, cases, prevalence (0-1)."""

    frame: pd.DataFrame
    dropped: pd.DataFrame
    warnings: tuple[str, ...]
    fingerprint: str


# --- Small helpers -------------------------------------------------------------------------
def fingerprint(content: bytes) -> str:
    """First 12 hex digits of the SHA-256 of `content` (identifies a file in a share link)."""
    return hashlib.sha256(content).hexdigest()[:12]


def _norm(name: object) -> str:
    """Lower-case a column name and turn every run of non-alphanumerics into one '_'."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def _label_key(value: object) -> str:
    """Normalise a label for matching: 1.0 -> '1', ' Lacto-Ovo ' -> 'lacto ovo'."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    return re.sub(r"[\s_\-]+", " ", str(value).strip().lower()).strip()


def _rows_text(rows: Iterable[object], total: int, row_label: str) -> str:
    """'lines 3, 7, 9 and 4 more' for the first EXAMPLES row numbers."""
    rows = list(rows)[:EXAMPLES]
    shown = ", ".join(str(r) for r in rows)
    more = total - len(rows)
    one, many = ROW_WORDS[row_label]
    return f"{one if total == 1 else many} {shown}" + (f" and {more:,} more" if more > 0 else "")


def _examples(frame_index: pd.Index, mask: np.ndarray, upload: Upload, values=None) -> str:
    """Example rows (and values) where mask holds, in the analyst's numbering."""
    idx = np.flatnonzero(mask)
    total = len(idx)
    first = idx[:EXAMPLES]
    if upload.key is not None and upload.key in upload.frame.columns:
        keys = upload.frame[upload.key].iloc[first] if len(upload.frame) == len(mask) else None
    else:
        keys = None
    if keys is not None:
        shown = ", ".join(f"{upload.key} {_fmt(k)}" for k in keys)
        text = shown + (f" and {total - len(first):,} more" if total > len(first) else "")
    else:
        text = _rows_text(frame_index[first], total, upload.row_label)
    if values is not None:
        vals = ", ".join(repr(_fmt(v)) for v in np.asarray(values)[first])
        text += f": {vals}"
    return text


def _fmt(value: object) -> object:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _sentence(err: Exception) -> str:
    """A library's error message as a sentence ending in one full stop."""
    return str(err).strip().rstrip(".") + "."


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {plural or word + 's'}"


# --- Reading -------------------------------------------------------------------------------
def read_upload(filename: str, content: bytes) -> Upload:
    """Read an analyst's file (CSV, Parquet or SAS transport) from its bytes.

    The format comes from the extension and is checked against the content. Text may be
    UTF-8 (with or without BOM), UTF-16 with BOM, or Latin-1/Windows-1252; the delimiter is
    a comma, semicolon or tab, and semicolon- or tab-separated files may use a decimal comma.
    Blank lines are dropped and recorded. Values are not interpreted here: see
    `propose_mapping` and `prepare_microdata`. Raises InputError for anything unreadable.
    """
    name = PurePath(filename).name or "file"
    if not isinstance(content, bytes | bytearray | memoryview):
        raise InputError(f"'{name}': expected the file's bytes, got {type(content).__name__}.")
    content = bytes(content)
    size = len(content)
    if size > MAX_BYTES:
        raise InputError(
            f"'{name}' is {size / 1024**2:,.1f} MB, over the limit of {MAX_BYTES / 1024**2:,.0f} "
            "MB per file: keep only the columns needed (biomarker, age, sex, diet group, "
            "design variables) or split the file."
        )
    if not content.strip():
        what = "0 bytes" if not content else "only blank lines"
        raise InputError(f"'{name}' is empty ({what}): upload the file that holds the data.")
    ext = PurePath(name).suffix.lower()
    if ext not in FORMATS:
        raise InputError(
            f"'{name}': files ending in '{ext or '(no extension)'}' are not read. Upload CSV "
            "(.csv, .txt, .tsv), Parquet (.parquet) or SAS transport (.xpt) files."
        )
    expected = FORMATS[ext]
    actual = _sniff_format(content)
    if actual != expected:
        raise InputError(_format_mismatch(name, expected, actual))
    sha = hashlib.sha256(content).hexdigest()
    warnings: list[str] = []
    meta: dict[str, str | None] = {"encoding": None, "delimiter": None, "decimal": None}
    if expected == "csv":
        frame, meta, row_label, warnings = _read_csv(name, content)
    elif expected == "parquet":
        frame, row_label = _read_parquet(name, content), "row"
    else:
        frame, row_label = _read_xpt(name, content), "row"
    frame, dropped = _drop_blank_rows(frame, name, row_label)
    if frame.empty:
        raise InputError(
            f"'{name}' has a header but no data rows: upload a file with one row per person "
            "(microdata) or per group (prevalence table) below the header."
        )
    return Upload(
        filename=name,
        kind=detect_kind(frame.columns),
        frame=frame,
        sha256=sha,
        format=expected,
        encoding=meta["encoding"],
        delimiter=meta["delimiter"],
        decimal=meta["decimal"],
        warnings=tuple(warnings),
        dropped=dropped,
        row_label=row_label,
        sources=(name,),
    )


def _sniff_format(content: bytes) -> str:
    """What the bytes are: csv (text), parquet, xpt, or a named foreign/binary format."""
    head = content[:SNIFF_BYTES]
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"HEADER RECORD*******LIB"):
        return "xpt"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "csv"  # UTF-16 text with a byte-order mark
    # Control bytes other than tab, newlines and form feed do not occur in text files.
    controls = sum(head.count(bytes([b])) for b in (*range(0, 9), *range(14, 32), 11))
    if controls > len(head) // 100 or b"\x00" in head:
        return "binary"
    return "csv"


def _format_mismatch(name: str, expected: str, actual: str) -> str:
    want = FORMAT_LABELS[expected]
    described = {
        "csv": "text (CSV)",
        "parquet": "a Parquet file",
        "xpt": "a SAS transport (XPT) file",
        "zip": "a ZIP archive or Excel workbook (.xlsx)",
        "ole": "an old Excel workbook (.xls)",
        "gzip": "gzip-compressed",
        "binary": "binary data, not text",
    }[actual]
    fix = {
        "csv": f"rename it to .csv if it is CSV, or export it again as {want}",
        "parquet": "rename it to .parquet",
        "xpt": "rename it to .xpt",
    }.get(actual, f"export the data as {want if expected != 'csv' else 'CSV'} and upload that")
    return f"'{name}' is not {want} as its name says: its content is {described}. Please {fix}."


def _decode(name: str, content: bytes) -> tuple[str, str]:
    """Decode text as UTF-8 (BOM optional), UTF-16 with BOM, or Latin-1/Windows-1252."""
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return content.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as err:
            raise InputError(
                f"'{name}' starts with a UTF-16 mark but is not valid UTF-16 ({err.reason} at "
                f"byte {err.start}): save it again as UTF-8 CSV."
            ) from None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as err:
        utf8_error = err
    else:
        return text.removeprefix("\ufeff"), "utf-8-sig" if text.startswith("\ufeff") else "utf-8"
    try:
        text = content.decode("cp1252")
    except UnicodeDecodeError as err:
        line = content.count(b"\n", 0, err.start) + 1
        utf8_line = content.count(b"\n", 0, utf8_error.start) + 1
        bad = content[err.start : err.start + 1].hex()
        raise InputError(
            f"'{name}' is text in an unknown encoding: byte 0x{bad} on line {line} is neither "
            f"UTF-8 (first problem at line {utf8_line}) nor "
            "Latin-1/Windows-1252 text. Save the file again as 'CSV UTF-8'."
        ) from None
    # Bytes 0x80-0x9F are printable only in Windows-1252; without them the file is Latin-1.
    latin1 = not re.search(rb"[\x80-\x9f]", content)
    return text, "latin-1" if latin1 else "cp1252"


def _fields(name: str, line: str, sep: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=sep), [])
    except csv.Error as err:
        raise InputError(
            f"'{name}': a line near the top could not be split into columns ({_sentence(err)}) "
            "Check the quotes and line ends, or save the file again as CSV."
        ) from None


def _choose_delimiter(name: str, header: str, lines: list[str]) -> str:
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        for other in ("|", ":"):
            if header.count(other) >= 1:
                raise InputError(
                    f"'{name}': the header line looks separated by '{other}' "
                    f"({DELIMITER_NAMES.get(other, other)}), which is not read. Save the file "
                    "with commas, semicolons or tabs between the columns."
                )
        for i, line in enumerate(lines, start=2):
            found = [d for d in DELIMITERS if d in line]
            if found:
                raise InputError(
                    f"'{name}': wrong delimiter: the header has a single column but line {i} is "
                    f"separated by {DELIMITER_NAMES[found[0]]}s. Use the same delimiter on "
                    "every line."
                )
        return ","
    n_fields = len(_fields(name, header, best))
    for i, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        fields = len(_fields(name, line, best))
        if fields == 1 and n_fields > 1:
            other = [d for d in DELIMITERS if d != best and d in line]
            hint = (
                f" but line {i} by {DELIMITER_NAMES[other[0]]}s"
                if other
                else f" but line {i} has no {DELIMITER_NAMES[best]} at all"
            )
            raise InputError(
                f"'{name}': wrong delimiter: the header is separated by "
                f"{DELIMITER_NAMES[best]}s{hint}. Use the same delimiter on every line."
            )
    return best


def _read_csv(
    name: str, content: bytes
) -> tuple[pd.DataFrame, dict[str, str | None], str, list[str]]:
    text, encoding = _decode(name, content)
    warnings: list[str] = []
    if encoding == "utf-16":
        # pandas' C parser reads UTF-8 fastest; transcoding once costs one copy.
        content, read_encoding = text.encode("utf-8"), "utf-8"
    else:
        read_encoding = encoding
    sample = text[:SNIFF_BYTES]
    # Split on the line ends the CSV parser knows (str.splitlines also splits on \x1c...).
    lines = re.split(r"\r\n|\n|\r", sample)
    header = lines[0] if lines else ""
    sep = _choose_delimiter(name, header, lines[1:21])
    names = _fields(name, header, sep)
    if len(names) > MAX_COLUMNS:
        raise InputError(
            f"'{name}' has {len(names):,} columns, over the limit of {MAX_COLUMNS:,}: keep the "
            "columns needed for the analysis and upload again."
        )
    stripped = [n.strip() for n in names]
    dups = sorted({n for n in stripped if n and stripped.count(n) > 1})
    if dups:
        raise InputError(
            f"'{name}': duplicate column names {', '.join(repr(d) for d in dups)} in the header: "
            "give every column a distinct name."
        )
    decimal = "."
    if sep != "," and re.search(r"\d,\d", "\n".join(lines[1:200])):
        decimal = ","
        warnings.append(
            f"'{name}' uses a decimal comma (numbers such as 148,5 with {DELIMITER_NAMES[sep]}s "
            "between columns): read 148,5 as 148.5."
        )
    try:
        frame = pd.read_csv(
            io.BytesIO(content),
            sep=sep,
            encoding=read_encoding,
            decimal=decimal,
            skip_blank_lines=False,
            na_values=list(EXTRA_NA_VALUES),
            nrows=MAX_ROWS + 1,
            low_memory=False,
            engine="c",
        )
    except pd.errors.ParserError as err:
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(err))
        if match:
            want, line, saw = match.groups()
            extra = (
                " If numbers use a decimal comma, separate the columns with semicolons."
                if sep == ","
                else ""
            )
            raise InputError(
                f"'{name}': line {line} has {saw} fields but the header has {want} (delimiter: "
                f"{DELIMITER_NAMES[sep]}). Check for a wrong delimiter or an unquoted "
                f"{DELIMITER_NAMES[sep]} inside a value.{extra}"
            ) from None
        raise InputError(f"'{name}' could not be read as CSV: {_sentence(err)}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"'{name}' could not be read as CSV: {_sentence(err)}") from None
    _check_rows(name, len(frame))
    if frame.shape[1] != len(stripped):
        raise InputError(
            f"'{name}': the header line has {len(stripped)} column names but the parser found "
            f"{frame.shape[1]} columns: check the delimiter and quotes in the header."
        )
    frame.columns = stripped
    frame = _drop_unnamed(name, frame, warnings)
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")
    meta = {"encoding": encoding, "delimiter": sep, "decimal": decimal}
    return frame, meta, "line", warnings


def _drop_unnamed(name: str, frame: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    """Ignore columns with no header name and no values (a trailing delimiter); refuse others."""
    blank = [i for i, c in enumerate(frame.columns) if c == ""]
    empty = [i for i in blank if frame.iloc[:, i].isna().all()]
    filled = [i for i in blank if i not in empty]
    if filled:
        raise InputError(
            f"'{name}': column {filled[0] + 1} holds values but has no name in the header: "
            "give it a name (or delete it) and upload again."
        )
    if empty:
        warnings.append(
            f"'{name}': ignored {_plural(len(empty), 'column')} with no name and no values "
            "(often a delimiter at the end of every line)."
        )
        frame = frame.iloc[:, [i for i in range(frame.shape[1]) if i not in empty]]
    return frame


def _check_rows(name: str, rows: int) -> None:
    if rows > MAX_ROWS:
        raise InputError(
            f"'{name}' has more than {MAX_ROWS:,} rows, the limit: upload a subset (for "
            "example one survey cycle) or aggregate it into a prevalence table."
        )


def _check_columns(name: str, columns: Sequence[object]) -> None:
    if len(columns) > MAX_COLUMNS:
        raise InputError(
            f"'{name}' has {len(columns):,} columns, over the limit of {MAX_COLUMNS:,}: keep the "
            "columns needed for the analysis and upload again."
        )
    names = [str(c) for c in columns]
    dups = sorted({c for c in names if names.count(c) > 1})
    if dups:
        raise InputError(
            f"'{name}': duplicate column names {', '.join(repr(d) for d in dups)}: give every "
            "column a distinct name."
        )


def _read_parquet(name: str, content: bytes) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(content))
    except Exception as err:  # pyarrow raises several types for damaged files
        raise InputError(
            f"'{name}' could not be read as Parquet (damaged file?): {_sentence(err)}"
        ) from None
    # Limits from the footer, before the data are read.
    _check_columns(name, parquet.schema_arrow.names)
    _check_rows(name, parquet.metadata.num_rows)
    try:
        frame = pd.read_parquet(io.BytesIO(content))
    except Exception as err:  # pyarrow raises several types for damaged files
        raise InputError(
            f"'{name}' could not be read as Parquet (damaged file?): {_sentence(err)}"
        ) from None
    if not isinstance(frame.index, pd.RangeIndex):
        # A stored index (e.g. respondent_id) is an ordinary column to the analyst.
        frame = frame.reset_index()
    frame.columns = [str(c) for c in frame.columns]
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return frame


def _read_xpt(name: str, content: bytes) -> pd.DataFrame:
    if content[20:25] == b"LIBV8":
        raise InputError(
            f"'{name}' is SAS transport version 8, which is not read: export it as XPORT "
            "version 5 (as NHANES publishes), or as CSV or Parquet."
        )
    try:
        frame = pd.read_sas(io.BytesIO(content), format="xport", encoding=None)
    except Exception as err:  # the SAS reader raises several types for damaged files
        raise InputError(
            f"'{name}' could not be read as SAS transport (XPT): {_sentence(err)} Export it "
            "again with SAS XPORT version 5 (as NHANES publishes)."
        ) from None
    _check_columns(name, list(frame.columns))
    _check_rows(name, len(frame))
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].map(_decode_sas_text).astype("str")
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return frame


def _decode_sas_text(value: object) -> object:
    """XPT stores character data without an encoding: UTF-8 if valid, else Latin-1."""
    if not isinstance(value, bytes):
        return value
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = value.decode("latin-1")
    return text.strip() or None


def _drop_blank_rows(
    frame: pd.DataFrame, name: str, row_label: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    blank = frame.isna().all(axis=1).to_numpy() if frame.shape[1] else np.zeros(len(frame), bool)
    reason = "blank line" if row_label == "line" else "blank row (every value missing)"
    dropped = _drop_record(name, frame.index[blank], reason)
    return frame.loc[~blank], dropped


def _drop_record(file: str, rows: Iterable[object], reason: str) -> pd.DataFrame:
    rows = np.asarray(list(rows) if not isinstance(rows, pd.Index) else rows, dtype="int64")
    return pd.DataFrame(
        {
            "file": pd.Series([file] * len(rows), dtype="str"),
            "row": rows,
            "reason": pd.Series([reason] * len(rows), dtype="str"),
        }
    )


def summarize_dropped(dropped: pd.DataFrame) -> list[str]:
    """One sentence per reason: how many rows were dropped and why."""
    if dropped.empty:
        return []
    counts = dropped.groupby(["file", "reason"], sort=False).size()
    return [
        f"'{file}': {_plural(int(n), 'row')} dropped: {reason}."
        for (file, reason), n in counts.items()
    ]


# --- Merging -------------------------------------------------------------------------------
def merge_uploads(uploads: Sequence[Upload], on: str = "SEQN") -> Upload:
    """Merge files that describe the same people on a key column (e.g. NHANES DEMO + B12).

    A full outer join: everyone in any file is kept; people missing from a file get empty
    values for its columns (counted in the warnings). Keys must be present, unique and
    non-missing in every file, and no other column may appear in two files.
    """
    if not uploads:
        raise InputError("No files to merge: upload at least one file.")
    if len(uploads) == 1:
        return uploads[0]
    problems: list[str] = []
    for up in uploads:
        if up.kind != "microdata":
            problems.append(
                f"'{up.filename}' is a prevalence table; only microdata files (one row per "
                "person) can be merged."
            )
            continue
        if on not in up.frame.columns:
            similar = [c for c in up.frame.columns if _norm(c) == _norm(on)]
            hint = f" (did you mean '{similar[0]}'?)" if similar else ""
            problems.append(
                f"'{up.filename}' has no key column '{on}'{hint}: every file must carry the "
                "key that links a person's rows (columns: "
                f"{', '.join(map(str, up.frame.columns[:10]))})."
            )
            continue
        key = up.frame[on]
        missing = key.isna().to_numpy()
        if missing.any():
            problems.append(
                f"Column '{on}' in '{up.filename}': {_plural(int(missing.sum()), 'row')} without "
                f"a key ({_examples(up.frame.index, missing, up)}): fill in the key or remove "
                "those rows."
            )
        dup = key.duplicated(keep=False).to_numpy() & ~missing
        if dup.any():
            problems.append(
                f"Column '{on}' in '{up.filename}': duplicate key values, "
                f"{_plural(int(dup.sum()), 'row')} share a key "
                f"({_examples(up.frame.index, dup, up, key.to_numpy())}): each person must "
                "appear once per file."
            )
    if not problems:
        seen: dict[str, str] = {}
        for up in uploads:
            for col in up.frame.columns:
                if col == on:
                    continue
                if col in seen:
                    problems.append(
                        f"Column '{col}' is in both '{seen[col]}' and '{up.filename}': remove it "
                        "from one file so that the merged table has one value per person."
                    )
                seen[col] = up.filename
    if problems:
        raise InputError(problems)
    frames = [up.frame.reset_index(drop=True) for up in uploads]
    keys = [_key_values(f[on]) for f in frames]
    numeric = all(pd.api.types.is_numeric_dtype(k) for k in keys)
    warnings: list[str] = []
    merged = frames[0].assign(**{on: keys[0] if numeric else keys[0].astype("str")})
    for up, frame, key in zip(uploads[1:], frames[1:], keys[1:], strict=True):
        frame = frame.assign(**{on: key if numeric else key.astype("str")})
        left_only = int((~merged[on].isin(frame[on])).sum())
        right_only = int((~frame[on].isin(merged[on])).sum())
        if left_only:
            warnings.append(
                f"{_plural(left_only, 'person')} in the files before '{up.filename}' "
                f"{'is' if left_only == 1 else 'are'} not in it: their '{up.filename}' columns "
                "are empty."
            )
        if right_only:
            warnings.append(
                f"{_plural(right_only, 'person')} in '{up.filename}' "
                f"{'is' if right_only == 1 else 'are'} not in the files before it: their other "
                "columns are empty."
            )
        merged = merged.merge(frame, on=on, how="outer", sort=False)
    merged.index = pd.RangeIndex(1, len(merged) + 1, name="row")
    _check_rows("merged table", len(merged))
    _check_columns("merged table", list(merged.columns))
    digest = hashlib.sha256("\n".join(up.sha256 for up in uploads).encode()).hexdigest()
    return Upload(
        filename=" + ".join(up.filename for up in uploads),
        kind=detect_kind(merged.columns),
        frame=merged,
        sha256=digest,
        format="merged",
        warnings=tuple(w for up in uploads for w in up.warnings) + tuple(warnings),
        dropped=pd.concat([up.dropped for up in uploads], ignore_index=True),
        row_label="merged row",
        key=on,
        sources=tuple(s for up in uploads for s in up.sources),
    )


def _key_values(key: pd.Series) -> pd.Series:
    """Keys as numbers when every key is a whole number (XPT stores SEQN as 93705.0)."""
    num = pd.to_numeric(key, errors="coerce")
    if num.notna().all() and (num % 1 == 0).all():
        return num.astype("int64")
    return key.astype("str").str.strip()


# --- Mapping -------------------------------------------------------------------------------
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


def propose_mapping(frame: pd.DataFrame, kind: str | None = None) -> Mapping:
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
    return Mapping(
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
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    position = {term: i for i, term in enumerate(vocabulary)}
    terms = [table.get(_label_key(u)) for u in uniques]
    # One vocabulary code per distinct label (-1 = unmapped or missing), then per row.
    term_codes = np.array([position.get(t, -1) for t in terms] + [-1], dtype="int64")
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


# --- Outcome definitions -------------------------------------------------------------------
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


def parse_outcome(text: str, mapping: Mapping) -> Outcome:
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


def cut_age_bands(
    age: pd.Series, bands: Sequence[tuple[str, int, int | None]] = schema.AGE_BANDS
) -> pd.Series:
    """Age band label of each age; whole years completed (45.9 is in 40-59), so fractional
    ages follow the usual 'age last birthday'. Missing ages and ages in no band -> 'unknown'.
    Returns a categorical with the band labels (then 'unknown') as categories, in order."""
    years = np.floor(pd.to_numeric(age, errors="coerce").to_numpy(dtype="float64"))
    lows = np.array([b[1] for b in bands], dtype="float64")
    highs = np.array([np.inf if b[2] is None else b[2] for b in bands], dtype="float64")
    labels = [b[0] for b in bands] + [UNKNOWN_LABEL]
    pos = np.searchsorted(lows, years, side="right") - 1
    ok = (pos >= 0) & ~np.isnan(years)
    ok &= years <= highs[np.clip(pos, 0, len(bands) - 1)]
    codes = np.where(ok, pos, len(bands))
    # Categorical in band order, so that results list bands youngest first.
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=list(labels)), index=age.index, name="age_band"
    )


# --- Preparing microdata -------------------------------------------------------------------
def _check_mapping_columns(upload: Upload, mapping: Mapping) -> None:
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
    mapping: Mapping,
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

    frame = upload.frame
    index = frame.index
    problems: list[str] = []
    warnings: list[str] = list(upload.warnings)
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
        problems.extend(_unit_problems(bcol, outcome.biomarker, values[present]))
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
    out[canonical] = values * UNIT_FACTORS[outcome.biomarker][bcol.unit]
    out["outcome"] = _compare(values, outcome, bcol.unit)

    if mapping.age is not None:
        age, bad = _numeric(upload, mapping.age, "age in years", problems)
        a = age.to_numpy()
        outside = keep & ~bad & ~np.isnan(a) & ((a < AGE_RANGE[0]) | (a > AGE_RANGE[1]))
        if outside.any():
            problems.append(
                f"Column '{mapping.age}' (age in years): "
                f"{_plural(int(outside.sum()), 'age')} outside {AGE_RANGE[0]:g}-{AGE_RANGE[1]:g} "
                f"({_examples(index, outside, upload, a)}). Ages must be in whole or decimal "
                "years (not months or birth years): correct them or map another column."
            )
        out["age"] = age
        out["age_band"] = cut_age_bands(age, age_bands)
        unknown = keep & (out["age_band"] == UNKNOWN_LABEL).to_numpy() & ~outside
        if unknown.any():
            warnings.append(
                f"Column '{mapping.age}': {_plural(int(unknown.sum()), 'row')} with a missing "
                f"age or an age in none of the bands {', '.join(b[0] for b in age_bands)} "
                f"({_examples(index, unknown, upload, a)}) form the age band 'unknown'."
            )
    for role in ("sex", "diet_group", "supplement_use"):
        col = getattr(mapping, role)
        if col is None:
            continue
        vocab = ROLE_VOCABULARIES[role]
        raw = frame[col]
        mapped, preview = map_labels(raw[keep], vocab, mapping.labels.get(role))
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
        # Rows without a label (and rows not kept) get the last category, 'unknown'.
        codes = np.full(len(index), len(vocab), dtype="int64")
        kept_codes = mapped.cat.codes.to_numpy()
        codes[keep] = np.where(kept_codes >= 0, kept_codes, len(vocab))
        out[role] = pd.Categorical.from_codes(codes, categories=[*vocab, UNKNOWN_LABEL])
    design = _design(upload, mapping, keep, out, problems, warnings)
    if mapping.id is not None:
        ids = frame[mapping.id]
        dup = keep & ids.duplicated(keep=False).to_numpy() & ids.notna().to_numpy()
        if dup.any():
            problems.append(
                f"Column '{mapping.id}' (id): duplicate key values, "
                f"{_plural(int(dup.sum()), 'row')} share an id "
                f"({_examples(index, dup, upload, ids.to_numpy())}). Each person must appear "
                "once: remove repeated rows or map another id column."
            )
        out["id"] = ids
    if problems:
        raise InputError(problems)
    return Prepared(
        frame=out.loc[keep],
        outcome=outcome,
        weight=design["weight"],
        strata=design["stratum"],
        psu=design["psu"],
        age_bands=age_bands,
        dropped=pd.concat(dropped, ignore_index=True),
        warnings=tuple(warnings),
        fingerprint=upload.fingerprint,
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


def _unit_problems(bcol: BiomarkerColumn, biomarker: str, values: pd.Series) -> list[str]:
    """A problem when the median is implausible in the stated unit, naming the unit that fits."""
    median = float(values.median())
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
    mapping: Mapping,
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
        sub = out.loc[keep, ["stratum", "psu"]].dropna()
        psus = sub.groupby("stratum", sort=True, observed=True)["psu"].nunique()
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


def estimate(
    prepared: Prepared,
    by: Sequence[str] = (),
    *,
    ci: str = "korn-graubard",
    level: float = 0.95,
    standardize: object = None,
) -> pd.DataFrame:
    """Design-based prevalence of the outcome by groups (stats.survey_prevalence).

    `by` names columns of the prepared frame (age_band, sex, diet_group, supplement_use). The
    design is the one mapped (weight, strata, PSU; none = simple random sample). Domains are
    estimated within the whole design (Lumley 2010, ch. 2.3), with Korn-Graubard intervals by
    default and NCHS reliability flags (Parker et al. 2017).
    """
    by = tuple(by)
    unknown = [b for b in by if b not in GROUP_ROLES]
    absent = [b for b in by if b in GROUP_ROLES and b not in prepared.frame.columns]
    if unknown or absent:
        problems = [
            f"Cannot group by {b!r}: groups are {', '.join(GROUP_ROLES)}." for b in unknown
        ] + [
            f"Cannot group by {b!r}: no column is mapped to "
            f"{'age' if b == 'age_band' else b.replace('_', ' ')}. Map one first."
            for b in absent
        ]
        raise InputError(problems)
    return stats.survey_prevalence(
        prepared.frame,
        "outcome",
        by=by,
        weight=prepared.weight,
        strata=prepared.strata,
        psu=prepared.psu,
        ci=ci,
        level=level,
        standardize=standardize,
    )


def survey_age_weights(prepared: Prepared) -> dict[str, float]:
    """The survey's own age distribution as standard weights: the summed sampling weights
    (people counted when the design has no weight) of each known age band with people in it,
    in band order. People of unknown age band are left out, as in the standardised estimate.
    """
    if "age_band" not in prepared.frame.columns:
        raise InputError("Cannot standardise by age: no column is mapped to age. Map one first.")
    known = _known_age_bands(prepared.frame)
    sizes = known.groupby("age_band", observed=True)[prepared.weight or "outcome"]
    return (sizes.sum() if prepared.weight else sizes.size()).to_dict()


def _known_age_bands(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(age_band=frame["age_band"].cat.remove_categories(UNKNOWN_LABEL))


def estimate_standardized(
    prepared: Prepared,
    by: Sequence[str],
    weights: object,
    *,
    ci: str = "korn-graubard",
    level: float = 0.95,
) -> pd.DataFrame:
    """Directly age-standardised design-based prevalence by groups (``estimate`` with
    ``standardize=("age_band", weights)``; Ahmad et al. 2001 for the method).

    People of unknown age band are left out: their band has no standard weight. ``weights``
    maps each age band to its standard weight (``stats.standard_weights_for_bands`` or
    ``survey_age_weights``).
    """
    if "age_band" not in prepared.frame.columns:
        raise InputError("Cannot standardise by age: no column is mapped to age. Map one first.")
    known = replace(prepared, frame=_known_age_bands(prepared.frame))
    return estimate(known, by, ci=ci, level=level, standardize=("age_band", weights))


# --- Prevalence tables ---------------------------------------------------------------------
def prepare_table(upload: Upload, mapping: Mapping) -> PreparedTable:
    """Validate a prevalence table (one row per group: n with cases and/or prevalence).

    Problems raised together: n not a positive whole number, cases negative, non-whole or
    above n, prevalence outside 0-100% (0-1 for a fraction), unknown sex or diet labels. Rows
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
    frame, index = upload.frame, upload.frame.index
    problems: list[str] = []
    warnings = list(upload.warnings)
    n, _ = _numeric(upload, mapping.n, "sample size n", problems)
    na = n.to_numpy()
    bad_n = ~np.isnan(na) & ((na <= 0) | (na % 1 != 0))
    if bad_n.any():
        problems.append(
            f"Column '{mapping.n}' (sample size n): {_plural(int(bad_n.sum()), 'value')} not a "
            f"positive whole number ({_examples(index, bad_n, upload, na)}). Correct them."
        )
    cases = pd.Series(np.nan, index=index)
    if mapping.cases is not None:
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
    prevalence = pd.Series(np.nan, index=index)
    if mapping.prevalence is not None:
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
    usable = cases.notna().to_numpy() | prevalence.notna().to_numpy()
    dropped = [upload.dropped]
    if (~usable).any():
        dropped.append(_drop_record(upload.filename, index[~usable], "no cases and no prevalence"))
        warnings.append(
            f"{_plural(int((~usable).sum()), 'row')} with neither cases nor prevalence "
            f"dropped ({_rows_text(index[~usable], int((~usable).sum()), upload.row_label)})."
        )
    from_prev = cases.isna() & prevalence.notna() & n.notna()
    cases = cases.where(~from_prev, (prevalence * n).round())
    out = pd.DataFrame(index=index)
    for col in mapping.groups:
        norm = _norm(col)
        if norm in TABLE_ROLE_VOCABULARIES:
            mapped, preview = map_labels(
                frame[col], TABLE_ROLE_VOCABULARIES[norm], mapping.labels.get(norm)
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
            out[col] = frame[col]
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
