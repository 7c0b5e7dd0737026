"""Wording shared by the ingest modules: normalised names and labels, counts, example rows."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from dashboard.ingest.records import Upload

# How many example rows (and values) a problem sentence cites.
EXAMPLES = 3
# How messages name rows: file lines (header = line 1) or 1-based data rows.
ROW_WORDS: dict[str, tuple[str, str]] = {
    "line": ("file line", "file lines"),
    "row": ("data row", "data rows"),
    "merged row": ("row of the merged table", "rows of the merged table"),
}


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
