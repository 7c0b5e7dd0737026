"""What the ingest steps pass along: the error, upload, mapping, outcome, and drop records."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dashboard import schema
from dashboard.ingest._text import _plural

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


# How Upload.row_note describes the row numbers in messages.
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
class ColumnMapping:
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


def fingerprint(content: bytes) -> str:
    """First 12 hex digits of the SHA-256 of `content` (identifies a file in a share link)."""
    return hashlib.sha256(content).hexdigest()[:12]



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
