"""Numbers and text as people read them: percentages, counts, estimates with intervals, and
text from links or files made literal for Markdown.

Pure functions, no Streamlit: charts (hover text, tables), aggregate (sentences) and pages
(headlines) all format through here, so one figure reads the same everywhere.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd


def is_missing(x: Any) -> bool:
    """True for None, pd.NA and float NaN (the values every formatter shows as "")."""
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def format_percent(x: Any, decimals: int = 1) -> str:
    """A fraction as a percent with one decimal ("12.3%"); "" when missing."""
    return "" if is_missing(x) else f"{100 * float(x):.{decimals}f}%"


def format_interval(low: Any, high: Any, decimals: int = 1) -> str:
    """A fraction interval as "a-b%" (one decimal); "" when either end is missing."""
    if is_missing(low) or is_missing(high):
        return ""
    return f"{100 * float(low):.{decimals}f}-{100 * float(high):.{decimals}f}%"


def format_percent_brief(x: float) -> str:
    """A fraction as a percent with one decimal below 10% (where a point matters) and none
    above ("4.2%", "37%"), for sentences."""
    v = 100 * x
    return f"{v:.1f}%" if v < 10 else f"{v:.0f}%"


def format_interval_brief(low: float, high: float) -> str:
    """A fraction interval with each end as format_percent_brief ("4.2-37%")."""
    return f"{format_percent_brief(low).rstrip('%')}-{format_percent_brief(high)}"


def format_count(x: Any) -> str:
    """A count with thousands separators, rounded to whole people ("1,234"); "" if missing."""
    return "" if is_missing(x) else f"{round(float(x)):,}"


def format_count_interval(low: Any, high: Any) -> str:
    """A count interval as "1,200-1,500"; "" when either end is missing."""
    if is_missing(low) or is_missing(high):
        return ""
    return f"{format_count(low)}-{format_count(high)}"


def format_people(x: Any, digits: int = 3) -> str:
    """A modelled count to ``digits`` significant figures ("1.12 billion", "537 million",
    "12,300"): a model's uncertainty makes the last digits of a raw count meaningless."""
    if is_missing(x):
        return ""
    value = float(x)
    if value == 0:
        return "0"
    rounded = float(f"{value:.{digits}g}")
    for size, word in ((1e9, "billion"), (1e6, "million")):
        if abs(rounded) >= size:
            return f"{rounded / size:.{digits}g} {word}"
    return f"{round(rounded):,}"


def format_people_interval(low: Any, high: Any) -> str:
    """A modelled count interval, each end as format_people ("537 million-2.69 billion")."""
    if is_missing(low) or is_missing(high):
        return ""
    return f"{format_people(low)}-{format_people(high)}"


def format_difference(difference: float, low: float, high: float, digits: int = 1) -> str:
    """A difference of proportions as people should read it: "+15.7 points" when its interval
    ``low``-``high`` excludes zero, "no clear difference" when the interval spans zero or is
    missing (the sign alone would then claim more than the data show)."""
    if not all(math.isfinite(v) for v in (difference, low, high)) or low <= 0 <= high:
        return "no clear difference"
    return f"{100 * difference:+.{digits}f} points"


def format_difference_interval(low: float, high: float, digits: int = 1) -> str:
    """A difference's interval in signed percentage points ("-20.1 to +51.5 points")."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "interval not available"
    return f"{100 * low:+.{digits}f} to {100 * high:+.{digits}f} points"


# --- counts rounded to what their interval supports -------------------------------------------
# The rule: a count is rounded to the power of ten just at or below a tenth of its interval's
# width, so the interval itself keeps about two significant figures and the estimate no digit
# the interval does not support (a 537 million-2.69 billion interval, 2.15 billion wide, rounds
# to hundreds of millions: "1.1 billion"). The unit is never coarser than the estimate's own
# leading digit (it keeps at least one significant figure) and never finer than one person.
# Without a usable interval (missing, or of zero width) counts keep three significant figures.


def count_unit(estimate: Any, low: Any, high: Any) -> float | None:
    """The rounding unit (a power of ten, at least 1) that the interval ``low``-``high``
    supports for ``estimate``, by the rule above; None when the interval cannot say."""
    if any(is_missing(v) for v in (estimate, low, high)):
        return None
    width = float(high) - float(low)
    if not (math.isfinite(width) and width > 0):
        return None
    unit = 10.0 ** math.floor(math.log10(width / 10))
    value = abs(float(estimate))
    if value >= 1:
        unit = min(unit, 10.0 ** math.floor(math.log10(value)))
    return max(unit, 1.0)


def round_count(x: Any, unit: float | None) -> float:
    """``x`` rounded to a multiple of ``unit`` (whole people when None); NaN stays NaN."""
    if is_missing(x):
        return math.nan
    step = unit or 1.0
    return float(round(float(x) / step) * step)


def _people_at(value: float, unit: float) -> str:
    for size, word in ((1e9, "billion"), (1e6, "million")):
        if abs(value) >= size:
            decimals = max(0, round(math.log10(size / unit)))
            return f"{value / size:.{decimals}f} {word}"
    return f"{round(value):,}"


def format_people_supported(estimate: Any, low: Any, high: Any) -> tuple[str, str]:
    """A modelled count and its interval, each rounded to the unit the interval supports
    (``count_unit``): ("1.1 billion", "500 million-2.7 billion"). Without a usable interval,
    format_people's three significant figures; "" for what is missing."""
    unit = count_unit(estimate, low, high)
    if unit is None:
        return format_people(estimate), format_people_interval(low, high)
    ends = [round_count(v, unit) for v in (low, high)]
    return (_people_at(round_count(estimate, unit), unit),
            f"{_people_at(ends[0], unit)}-{_people_at(ends[1], unit)}")


def format_estimate(
    estimate: float,
    low: float,
    high: float,
    *,
    unit: str = "%",
    interval: str = "CI",
    level: float = 0.95,
    digits: int = 1,
) -> str:
    """An estimate with its interval and unit, e.g. "12.3% (95% CI 10.1-14.8%)".

    With ``unit="%"`` the numbers are proportions (0-1) shown as percentages; any other unit
    is printed after the numbers with thousands separators ("1,200 persons (95% UI
    900-1,500 persons)"). ``interval`` names the interval (CI, PI, UI).
    """
    def number(x: float) -> str:
        return f"{100 * x:.{digits}f}" if unit == "%" else f"{x:,.{digits}f}"

    def with_unit(text: str) -> str:
        return f"{text}%" if unit == "%" else f"{text} {unit}"

    if not math.isfinite(estimate):
        return "not available"
    head = with_unit(number(estimate))
    name = f"{round(level * 100):g}% {interval}"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{head} ({name} not available)"
    return f"{head} ({name} {with_unit(f'{number(low)}-{number(high)}')})"


# --- text from links, files and labels --------------------------------------------------------
# Streamlit renders alert bodies, captions, status and widget labels as GitHub-flavoured
# Markdown (links, images, emphasis, $math$, :emoji:/:material/...: icons, :red[...] colours)
# and autolinks bare addresses even when they are backslash-escaped (remark-gfm links them
# after the escapes are resolved). Text a visitor or a file supplies goes through
# markdown_literal before it reaches one of those.
_INLINE_MARKUP = re.compile(r"([\\`*_\[\]<>!|~:$&{}])")
_BLOCK_START = re.compile(r"^([#>+=-]|\d+[.)])")
# An invisible WORD JOINER (U+2060) that keeps remark-gfm from turning http://, www. and
# name@host into links; it is the only character markdown_literal adds to what is shown.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<=:)(?=//)|(?<=www)(?=\.)|(?=@)")


def markdown_literal(text: object) -> str:
    """``text`` as Markdown that Streamlit shows character for character, on one line.

    Every character with a meaning inside a line is backslash-escaped, a block marker at the
    start (heading, quote, list) is escaped, line breaks become spaces, and a WORD JOINER is
    put inside ``://``, ``www.`` and before ``@`` so no address becomes a link. No link,
    image, HTML, emphasis, formula or icon survives; the visible text is unchanged.
    """
    one_line = re.sub(r"\s*[\r\n]+\s*", " ", str(text)).strip()
    escaped = _INLINE_MARKUP.sub(r"\\\1", one_line)
    escaped = _BLOCK_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], escaped)
    return _AUTOLINK.sub(WORD_JOINER, escaped)


# --- tables as files -----------------------------------------------------------------------
# A text cell that starts with one of these is a formula to a spreadsheet (OWASP, CSV
# Injection: "=", "+", "-", "@", tab and carriage return); the CSV prefixes it with "'".
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutralize_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells and column names that a spreadsheet would run as a formula
    start with "'" (OWASP's advice for CSV files); numbers are untouched, so -0.5 stays a
    number."""
    text = [c for c in frame.columns
            if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])
                    or pd.api.types.is_datetime64_any_dtype(frame[c]))]
    out = frame.copy()
    for c in text:
        out[c] = out[c].astype(object).map(_inert)
    out.columns = [_inert(str(c)) for c in frame.columns]
    return out


def table_bytes(frame: pd.DataFrame, fmt: str,
                metadata: Mapping[str, str] | None = None) -> bytes:
    """The frame as a CSV (UTF-8, no index; formula-leading text cells neutralised, see
    neutralize_formulas) or Parquet (pyarrow; every value as it is) file.

    ``metadata`` (e.g. the citation) goes into the Parquet file's key-value metadata, next to
    pandas' own; a CSV has no place for it (the caller offers a sidecar .metadata.json).
    """
    if fmt == "csv":
        return neutralize_formulas(frame).to_csv(index=False).encode("utf-8")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if metadata:
            extra = {str(k).encode(): str(v).encode() for k, v in metadata.items()}
            table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        return buffer.getvalue()
    raise ValueError(f"unknown table format {fmt!r}: use 'csv' or 'parquet'")
