"""Several uploads describing the same people, joined on a key column into one Upload."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pandas as pd

from dashboard.ingest._text import _examples, _norm, _plural
from dashboard.ingest.readers import _check_columns, _check_rows
from dashboard.ingest.records import InputError, Upload
from dashboard.ingest.roles import detect_kind


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
    problems = [p for up in uploads for p in _key_problems(up, on)]
    if not problems:
        problems = _shared_columns(uploads, on)
    if problems:
        raise InputError(problems)
    merged, warnings = _outer_join(uploads, on)
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


def _key_problems(up: Upload, on: str) -> list[str]:
    """Why one file cannot be joined on the key, so that every file's problems show at once."""
    problems: list[str] = []
    if up.kind != "microdata":
        problems.append(
            f"'{up.filename}' is a prevalence table; only microdata files (one row per "
            "person) can be merged."
        )
        return problems
    if on not in up.frame.columns:
        similar = [c for c in up.frame.columns if _norm(c) == _norm(on)]
        hint = f" (did you mean '{similar[0]}'?)" if similar else ""
        problems.append(
            f"'{up.filename}' has no key column '{on}'{hint}: every file must carry the "
            "key that links a person's rows (columns: "
            f"{', '.join(map(str, up.frame.columns[:10]))})."
        )
        return problems
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
    return problems


def _shared_columns(uploads: Sequence[Upload], on: str) -> list[str]:
    """Columns in two files, which would leave a person with two values after the join."""
    problems: list[str] = []
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
    return problems


def _outer_join(uploads: Sequence[Upload], on: str) -> tuple[pd.DataFrame, list[str]]:
    """The full outer join, one file at a time, counting who is missing from each file."""
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
    return merged, warnings


def _key_values(key: pd.Series) -> pd.Series:
    """Keys as numbers when every key is a whole number (XPT stores SEQN as 93705.0)."""
    num = pd.to_numeric(key, errors="coerce")
    if num.notna().all() and (num % 1 == 0).all():
        return num.astype("int64")
    return key.astype("str").str.strip()
