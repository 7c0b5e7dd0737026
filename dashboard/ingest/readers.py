"""Bytes to an Upload: format sniffing, text decoding, CSV, Parquet and SAS transport reading."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Sequence
from pathlib import PurePath

import numpy as np
import pandas as pd

from dashboard.ingest._text import _plural, _sentence
from dashboard.ingest.records import InputError, Upload, _drop_record
from dashboard.ingest.roles import detect_kind

# --- Limits --------------------------------------------------------------------------------
# 200 MB is Streamlit's default upload limit (server.maxUploadSize); a 5-million-row survey
# file is ten times the largest national nutrition survey, and 500 columns covers a merged
# NHANES cycle (demographics + laboratory files) while bounding the width the page shows.
MAX_BYTES = 200 * 1024 * 1024
MAX_ROWS = 5_000_000
MAX_COLUMNS = 500
# Rows x columns a file may hold, checked from its line count and header before it is parsed:
# 50 million cells are 400 MB as 8-byte numbers: five million people with ten columns, or a
# merged NHANES cycle (10,000 x 500) ten times over. A highly compressible file (short
# cells, e.g. 189 MB of "1,") is refused here rather than grown tenfold by the parser.
MAX_CELLS = 50_000_000
# Bytes validated per step when checking a file's encoding (never the whole text at once).
_DECODE_BLOCK = 16 * 1024 * 1024
# Rows parsed at a time: the CSV parser holds about 25 bytes per cell of a chunk while it
# works, so a whole 150 MB file parsed at once took 4x its size on top of the frame. 65,536
# rows of nine columns are about 15 MB of parser memory (262,144 were 60 MB, at the same speed:
# benchmarks/README.md).
CHUNK_ROWS = 65_536
# A text column with at most this many distinct labels (in every chunk) is kept as a
# categorical: one small code per row instead of a string (sex, diet group, country).
CATEGORY_LABELS = 1_000
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
    if head.lstrip().startswith(b"%PDF-"):
        return "pdf"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _sniff_text(head)  # UTF-16 text with a byte-order mark
    # Control bytes other than tab, newlines and form feed do not occur in text files.
    controls = sum(head.count(bytes([b])) for b in (*range(0, 9), *range(14, 32), 11))
    if controls > len(head) // 100 or b"\x00" in head:
        return "binary"
    return _sniff_text(head)


# Openings of text files that are not tables (lower-cased, after a BOM and white space), in
# the order they are tried: an RTF file opens with "{", like JSON.
_TEXT_OPENINGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("rtf", ("{\\rtf",)),
    ("html", ("<!doctype html", "<html", "<head", "<body", "<meta", "<title", "<script",
              "<!-- saved from url")),
    ("xml", ("<?xml", "<!doctype", "<svg", "<")),
    ("json", ("{", "[{", "[[", '["', "[]")),
)


def _sniff_text(head: bytes) -> str:
    """csv, or the kind of non-table text the head opens with (HTML, XML, JSON, RTF).

    An HTML page saved as .csv would otherwise be read as a one-column table and end in
    "no column is mapped"; naming the format says what went wrong.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head[2:].decode("utf-16-le" if head[:1] == b"\xff" else "utf-16-be",
                               errors="ignore")
    else:
        text = head.removeprefix(b"\xef\xbb\xbf").decode("latin-1")
    opening = text.lstrip()[:64].lower()
    compact = re.sub(r"\s+", "", opening)  # "[ {" opens JSON as "[{" does
    for kind, starts in _TEXT_OPENINGS:
        if (compact if kind == "json" else opening).startswith(starts):
            if kind == "xml" and "<html" in text[:4096].lower():
                return "html"
            return kind
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
        "html": "an HTML page (a web page saved from the browser), not a table",
        "xml": "XML text, not a table",
        "json": "JSON text, not a table",
        "rtf": "a rich-text (RTF) document, not a table",
        "pdf": "a PDF document",
    }[actual]
    fix = {
        "csv": f"rename it to .csv if it is CSV, or export it again as {want}",
        "parquet": "rename it to .parquet",
        "xpt": "rename it to .xpt",
        "html": "download the data file itself (the page's CSV or data link), not the page, "
                "or copy the table into a spreadsheet and save it as CSV",
        "json": "convert it to a table first (e.g. pandas.json_normalize, then .to_csv) and "
                "upload the CSV",
    }.get(actual, f"export the data as {want if expected != 'csv' else 'CSV'} and upload that")
    return f"'{name}' is not {want} as its name says: its content is {described}. Please {fix}."


def _valid_utf8(content: bytes) -> UnicodeDecodeError | None:
    """The first UTF-8 error of ``content`` (positions in the whole file), or None; checked in
    _DECODE_BLOCK steps so that no copy of the whole text is made."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(content)
    for start in range(0, len(content), _DECODE_BLOCK):
        try:
            decoder.decode(view[start : start + _DECODE_BLOCK], final=False)
        except UnicodeDecodeError as err:
            return UnicodeDecodeError("utf-8", content, start + err.start, start + err.end,
                                      err.reason)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as err:
        return UnicodeDecodeError("utf-8", content, len(content) - 1, len(content), err.reason)
    return None


def _head(content: bytes, encoding: str) -> str:
    """The first line of the file and SNIFF_BYTES more, as text (a partial character at the
    cut is left out)."""
    end = content.find(b"\n")
    end = len(content) if end < 0 else end
    cut = content[: end + 1 + SNIFF_BYTES]
    return codecs.getincrementaldecoder(encoding)(errors="strict").decode(cut, final=False)


def _decode(name: str, content: bytes) -> tuple[str, str]:
    """Decode text as UTF-8 (BOM optional), UTF-16 with BOM, or Latin-1/Windows-1252.

    Returns the head of the text (_head) for UTF-8 and Latin-1/Windows-1252, which pandas
    then decodes as it parses, and the whole text for UTF-16 (transcoded once)."""
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return content.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as err:
            raise InputError(
                f"'{name}' starts with a UTF-16 mark but is not valid UTF-16 ({err.reason} at "
                f"byte {err.start}): save it again as UTF-8 CSV."
            ) from None
    utf8_error = _valid_utf8(content)
    if utf8_error is None:
        text = _head(content, "utf-8")
        return text.removeprefix("\ufeff"), "utf-8-sig" if text.startswith("\ufeff") else "utf-8"
    try:
        # cp1252 fails only on its five undefined bytes: a byte search, not a decode.
        bad = re.search(rb"[\x81\x8d\x8f\x90\x9d]", content)
        if bad:
            raise UnicodeDecodeError("cp1252", content, bad.start(), bad.end(),
                                     "character maps to <undefined>")
        text = _head(content, "cp1252")
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
    # The whole first line: a header longer than the sample must be counted in full.
    first_end = re.search(r"\r\n|\n|\r", text)
    header = text[: first_end.start()] if first_end else text
    sample = text[: (first_end.end() if first_end else 0) + SNIFF_BYTES]
    del text  # a UTF-16 file's whole text: pandas reads the transcoded bytes
    # Split on the line ends the CSV parser knows (str.splitlines also splits on \x1c...).
    lines = re.split(r"\r\n|\n|\r", sample)
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
    line_count = content.count(b"\n") + 1
    _check_cells(name, line_count, len(names))
    decimal = "."
    if sep != "," and re.search(r"\d,\d", "\n".join(lines[1:200])):
        decimal = ","
        warnings.append(
            f"'{name}' uses a decimal comma (numbers such as 148,5 with {DELIMITER_NAMES[sep]}s "
            "between columns): read 148,5 as 148.5."
        )
    options = {"sep": sep, "encoding": read_encoding, "decimal": decimal,
               "skip_blank_lines": False, "na_values": list(EXTRA_NA_VALUES),
               "low_memory": False, "engine": "c"}
    try:
        frame = _parse_csv(content, options, line_count)
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


def _parse_csv(content: bytes, options: dict[str, object], lines: int) -> pd.DataFrame:
    """pandas' C parser over CHUNK_ROWS rows at a time, each column compacted (_compact) and
    joined, so that the parser's working memory is one chunk's, not the whole file's.

    A column is typed as one parse of the whole file would type it: chunks of integers and
    floats join as floats, integers as the smallest integer type that holds them all. A
    column whose chunks were read as different kinds (numbers in some, text in others) is
    parsed again alone, in one piece, so that its type and values are the whole file's.
    `lines` (the file's line count) bounds the rows: number columns are written into arrays
    of that length as the chunks come (widened when a chunk needs it), so that no column is
    ever held twice.
    """
    reader = pd.read_csv(io.BytesIO(content), nrows=MAX_ROWS + 1, chunksize=CHUNK_ROWS,
                         **options)
    names: list[object] = []
    numbers: dict[int, np.ndarray] = {}  # integer and float columns, filled in place
    parts: dict[int, list] = {}  # other columns, one compacted array per chunk
    rows = 0
    with reader:
        for chunk in reader:
            if not names:
                names = list(chunk.columns)
                for i in range(len(names)):
                    kind = chunk.dtypes.iloc[i].kind
                    if kind in "fi" and isinstance(chunk.dtypes.iloc[i], np.dtype):
                        dtype = np.float64 if kind == "f" else _compact(chunk.iloc[:, i]).dtype
                        numbers[i] = np.empty(min(lines, MAX_ROWS + 1), dtype=dtype)
                    else:
                        parts[i] = []
            n = len(chunk)
            column = None  # a chunk may have no columns at all (a blank header line)
            for i in range(len(names)):
                column = chunk.iloc[:, i]
                if i in numbers and rows + n <= len(numbers[i]) and isinstance(
                        column.dtype, np.dtype) and column.dtype.kind in "fi":
                    numbers[i] = _widen(numbers[i], column)
                    numbers[i][rows : rows + n] = column.to_numpy()
                    continue
                if i in numbers:  # text after numbers, or more rows than lines: join instead
                    parts[i] = [numbers.pop(i)[:rows]]
                # A copy, not a view of the chunk's block, so each chunk is freed when read.
                parts[i].append(_values(_compact(column)).copy())
            rows += n
            del chunk, column
    if not names:  # a header and no rows: the parser's own empty frame
        return pd.read_csv(io.BytesIO(content), nrows=0, **options)
    columns: dict[int, object] = {}
    mixed = []
    for i in range(len(names)):
        if i in numbers:
            values = numbers.pop(i)
            # The header and a final line end leave a few spare rows: a view keeps them
            # unused; many (line breaks inside quoted cells) are worth a copy.
            spare = len(values) - rows
            columns[i] = values[:rows] if spare <= max(1024, rows // 64) else values[:rows].copy()
            continue
        joined = _join_chunks(parts.pop(i))
        if joined is None:
            mixed.append(i)
        else:
            columns[i] = joined
    if mixed:
        again = pd.read_csv(io.BytesIO(content), nrows=MAX_ROWS + 1, usecols=mixed, **options)
        for i in mixed:
            columns[i] = _values(_compact(again[names[i]]))
        del again
    frame = pd.DataFrame({i: columns.pop(i) for i in range(len(names))}, copy=False)
    frame.columns = names
    return frame


def _widen(values: np.ndarray, column: pd.Series) -> np.ndarray:
    """`values`, or a copy in a type that also holds the chunk `column` exactly: integers
    and floats make float64, larger integers the larger integer type, as a join would."""
    dtype = np.float64 if column.dtype.kind == "f" else _compact(column).dtype
    wider = np.result_type(values.dtype, dtype)
    return values if wider == values.dtype else values.astype(wider)


def _values(column: pd.Series) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """The column's own array (NumPy or extension), not a copy."""
    return column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array


def _compact(column: pd.Series) -> pd.Series:
    """The column in a type that holds its values exactly in the least memory: integers in
    the smallest integer type, text with few distinct labels as a categorical. Floats keep
    float64 (measurements and weights lose nothing), booleans and other text stay as read."""
    dtype = column.dtype
    if pd.api.types.is_signed_integer_dtype(dtype) and isinstance(dtype, np.dtype):
        values = column.to_numpy()
        if len(values):
            lo, hi = values.min(), values.max()
            for small in (np.int8, np.int16, np.int32):
                info = np.iinfo(small)
                if info.min <= lo and hi <= info.max:
                    return column.astype(small)
        return column
    if isinstance(dtype, pd.StringDtype) and column.nunique(dropna=True) <= CATEGORY_LABELS:
        return column.astype("category")
    return column


def _is_text(dtype: object) -> bool:
    """Text as the parser reads it, or a categorical _compact made of such text."""
    if isinstance(dtype, pd.CategoricalDtype):
        return isinstance(dtype.categories.dtype, pd.StringDtype)
    return isinstance(dtype, pd.StringDtype)


def _join_chunks(parts: list) -> np.ndarray | pd.api.extensions.ExtensionArray | None:
    """One column from its chunks' arrays, or None when the chunks were read as different
    kinds of values (the caller then parses the column in one piece)."""
    if len(parts) == 1:
        return parts[0]
    dtypes = [p.dtype for p in parts]
    if all(isinstance(d, pd.CategoricalDtype) for d in dtypes):
        return pd.api.types.union_categoricals(parts)
    if all(_is_text(d) for d in dtypes):
        strings = [p.astype("str") if isinstance(p.dtype, pd.CategoricalDtype) else p
                   for p in parts]
        return pd.concat([pd.Series(p, copy=False) for p in strings], ignore_index=True).array
    if all(isinstance(d, np.dtype) and (d.kind == "f" or d.kind == "i") for d in dtypes):
        target = np.float64 if any(d.kind == "f" for d in dtypes) else np.result_type(*dtypes)
        return np.concatenate([np.asarray(p, dtype=target) for p in parts])
    if all(d == dtypes[0] for d in dtypes) and isinstance(dtypes[0], np.dtype):
        return np.concatenate([np.asarray(p) for p in parts])
    return None


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


def _check_cells(name: str, rows: int, columns: int) -> None:
    """Refuse a file of more than MAX_CELLS cells before it is parsed (rows from its line
    count or footer), since parsing costs memory in proportion to the cells."""
    if rows * columns > MAX_CELLS:
        raise InputError(
            f"'{name}' has about {rows:,} rows x {columns:,} columns = {rows * columns:,} "
            f"cells, over the limit of {MAX_CELLS:,} cells per file: keep only the columns "
            "needed (biomarker, age, sex, diet group, design variables) or split the file."
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
    _check_cells(name, parquet.metadata.num_rows, len(parquet.schema_arrow.names))
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
    # Column by column: isna() of the whole frame would be a byte per cell at once.
    blank = np.full(len(frame), frame.shape[1] > 0)
    for i in range(frame.shape[1]):
        blank &= frame.iloc[:, i].isna().to_numpy()
    reason = "blank line" if row_label == "line" else "blank row (every value missing)"
    dropped = _drop_record(name, frame.index[blank], reason)
    # Without blank rows the frame is kept as it is: a copy would double an upload's memory.
    return (frame.loc[~blank] if blank.any() else frame), dropped
