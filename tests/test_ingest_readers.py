"""Tests of dashboard.ingest.readers: formats, encodings, delimiters, limits, any bytes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from dashboard import ingest
from dashboard.ingest import readers
from tests.ingest_files import (
    ANY_CONTENT,
    ANY_NAME,
    GOOD_HEADER,
    GOOD_ROWS,
    assert_refused,
    micro,
    parquet_bytes,
    xpt_bytes,
)

RNG_GARBAGE = np.random.default_rng(5).integers(0, 256, 4000, dtype=np.uint8).tobytes()

# (case id, files, expected words in the message). Row numbers: CSV line numbers (header = 1).
BAD_READS = [
    ("empty", [("a.csv", b"")], "is empty"),
    ("whitespace only", [("a.csv", b"  \n\n")], "is empty"),
    ("header only", [("a.csv", GOOD_HEADER.encode())], "header but no data rows"),
    ("header and blank lines", [("a.csv", GOOD_HEADER.encode() + b"\n\n")], "no data rows"),
    ("parquet named csv", [("a.csv", b"PAR1" + bytes(100) + b"PAR1")], "is not CSV text"),
    ("csv named parquet", [("a.parquet", micro(*GOOD_ROWS))], "is not Parquet"),
    ("csv named xpt", [("a.xpt", micro(*GOOD_ROWS))], "is not SAS transport"),
    ("html page saved as csv",
     [("a.csv", b"\n<!DOCTYPE html>\n<html><body><table><tr><td>1</td></tr></table>")],
     "its content is an HTML page"),
    ("html page without a doctype", [("a.csv", b"<head><title>x</title></head>")],
     "an HTML page"),
    ("utf-16 html", [("a.csv", "<html><body>x</body></html>".encode("utf-16"))], "HTML page"),
    ("xhtml", [("a.csv", b'<?xml version="1.0"?>\n<html xmlns="x"><body/></html>')],
     "an HTML page"),
    ("xml named csv", [("a.csv", b'<?xml version="1.0"?>\n<rows><r a="1"/></rows>')],
     "its content is XML text"),
    ("json object named csv", [("a.csv", b'{"age": [30, 40], "b12": [200, 300]}')],
     "its content is JSON text"),
    ("json records named csv", [("a.csv", b'[\n  {"age": 30, "b12": 200}\n]')], "JSON text"),
    ("json lines named txt", [("a.txt", b'{"age": 30}\n{"age": 40}\n')], "JSON text"),
    ("json with a bom", [("a.csv", b'\xef\xbb\xbf{"age": 30}')], "JSON text"),
    ("rtf named csv", [("a.csv", b"{\\rtf1\\ansi age,b12\\par 30,200}")], "rich-text (RTF)"),
    ("pdf named csv", [("a.csv", b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n")], "a PDF document"),
    ("html named parquet", [("a.parquet", b"<!doctype html><html></html>")],
     "is not Parquet as its name says: its content is an HTML page"),
    ("xlsx named csv", [("a.csv", b"PK\x03\x04" + bytes(200))], "Excel workbook"),
    ("unsupported extension", [("a.xlsx", b"PK\x03\x04")], "'.xlsx' are not read"),
    ("binary garbage", [("a.csv", RNG_GARBAGE)], "binary data"),
    ("garbage parquet", [("a.parquet", b"PAR1" + RNG_GARBAGE)], "could not be read as Parquet"),
    ("garbage xpt", [("a.xpt", b"HEADER RECORD*******LIBRARY" + bytes(60))], "SAS transport"),
    ("xpt version 8", [("a.xpt", b"HEADER RECORD*******LIBV8 HEADER" + bytes(60))], "version 8"),
    ("pipe delimiter", [("a.csv", b"age|sex|serum_b12_pmol_l\n30|male|300\n")], "separated by '|'"),
    (
        "mixed delimiters",
        [("a.csv", b"age;sex;serum_b12_pmol_l\n30,male,300\n")],
        "wrong delimiter",
    ),
    (
        "single header, delimited data",
        [("a.csv", b"serum_b12_pmol_l\n300;1\n")],
        "wrong delimiter",
    ),
    (
        "too many fields",
        [("a.csv", micro(*GOOD_ROWS, "5,1,1,1000,30,male,omnivore,300,7"))],
        "line 6 has 9 fields but the header has 8",
    ),
    (
        "undecodable text",
        [("a.csv", b"age,sex,serum_b12_pmol_l\n30,m\x81le,300\n")],
        "unknown encoding",
    ),
    (
        "duplicate column names",
        [("a.csv", micro("1,30,31", header="id,age,age\n"))],
        "duplicate column names 'age'",
    ),
    (
        "unnamed column with values",
        [("a.csv", micro("30,300,x", header="age,serum_b12_pmol_l,\n"))],
        "no name in the header",
    ),
]


@pytest.mark.parametrize(
    ("files", "expected"),
    [pytest.param(files, expected, id=case) for case, files, expected in BAD_READS],
)
def test_unreadable_file_raises_input_error_naming_the_problem(files, expected):
    assert_refused(files, expected)


@pytest.mark.parametrize(
    ("limit", "value", "content", "expected"),
    [
        # 2 KB limit, a 3,000-byte file.
        ("MAX_BYTES", 2048, GOOD_HEADER.encode() + b"1" * 3000, "over the limit of"),
        ("MAX_COLUMNS", 5, micro(*GOOD_ROWS), "8 columns, over the limit of 5"),
        ("MAX_ROWS", 3, micro(*GOOD_ROWS), "more than 3 rows, the limit"),
    ],
)
def test_limits_are_enforced_and_stated(monkeypatch, limit, value, content, expected, tmp_path):
    monkeypatch.setattr(readers, limit, value)
    frame = pd.read_csv(io.BytesIO(micro(*GOOD_ROWS)))
    for name, data in [
        ("a.csv", content),
        ("a.parquet", parquet_bytes(frame) if limit != "MAX_BYTES" else None),
        ("a.xpt", xpt_bytes(frame.rename(columns=lambda c: c[:8]), tmp_path, "a.xpt")),
    ]:
        if data is None or (limit == "MAX_BYTES" and name != "a.csv"):
            continue
        with pytest.raises(ingest.InputError) as info:
            ingest.read_upload(name, data)
        assert expected in str(info.value)


def test_non_bytes_content_is_an_input_error():
    with pytest.raises(ingest.InputError, match="expected the file's bytes"):
        ingest.read_upload("a.csv", "age\n1\n")


def test_blank_lines_are_recorded_and_row_numbers_stay_file_lines():
    up = ingest.read_upload("a.csv", micro(GOOD_ROWS[0], "", GOOD_ROWS[1]))
    assert list(up.frame.index) == [2, 4]
    assert up.dropped.to_dict("records") == [{"file": "a.csv", "row": 3, "reason": "blank line"}]


def test_trailing_delimiter_column_is_ignored_with_a_warning():
    content = b"age;serum_b12_pmol_l;\n30;300;\n40;200;\n"
    up = ingest.read_upload("a.csv", content)
    assert list(up.frame.columns) == ["age", "serum_b12_pmol_l"]
    assert any("no name and no values" in w for w in up.warnings)


@pytest.mark.parametrize(
    ("content", "encoding", "delimiter", "decimal"),
    [
        (b"age,sex,serum_b12_pmol_l\n30,f\xc3\xa9minin,148.5\n", "utf-8", ",", "."),
        (b"\xef\xbb\xbfage,sex,serum_b12_pmol_l\n30,x,148.5\n", "utf-8-sig", ",", "."),
        (b"age;sex;serum_b12_pmol_l\n30;f\xe9minin;148,5\n", "latin-1", ";", ","),
        (b"age;sex;serum_b12_pmol_l\n30;\x93x\x94;148,5\n", "cp1252", ";", ","),
        (b"age\tsex\tserum_b12_pmol_l\n30\tx\t148.5\n", "utf-8", "\t", "."),
        ("age\tsex\tserum_b12_pmol_l\n30\tx\t148,5\n".encode("utf-16"), "utf-16", "\t", ","),
    ],
)
def test_text_encodings_delimiters_and_decimal_commas(content, encoding, delimiter, decimal):
    up = ingest.read_upload("a.csv", content)
    assert (up.encoding, up.delimiter, up.decimal) == (encoding, delimiter, decimal)
    assert list(up.frame.columns) == ["age", "sex", "serum_b12_pmol_l"]
    assert up.frame["serum_b12_pmol_l"].tolist() == [148.5]
    assert up.fingerprint == ingest.fingerprint(content)
    assert len(up.fingerprint) == 12


def test_parquet_index_becomes_a_column():
    frame = pd.DataFrame({"serum_b12_pmol_l": [300.0]}, index=pd.Index([7], name="respondent_id"))
    buf = io.BytesIO()
    frame.to_parquet(buf)
    up = ingest.read_upload("a.parquet", buf.getvalue())
    assert list(up.frame.columns) == ["respondent_id", "serum_b12_pmol_l"]
    assert list(up.frame.index) == [1]



@settings(max_examples=150, deadline=None)
@given(name=ANY_NAME, content=ANY_CONTENT)
def test_any_bytes_give_an_upload_or_an_input_error(name, content):
    """Whatever is uploaded, read_upload returns an Upload or raises InputError with at least
    one problem sentence; any other exception fails the test (never a traceback on the page)."""
    try:
        upload = ingest.read_upload(name, content)
    except ingest.InputError as err:
        problems = err.problems
    else:
        assert isinstance(upload, ingest.Upload)
        assert not upload.frame.empty
        return
    assert problems
    assert all(isinstance(p, str) and p.strip() for p in problems)


def test_a_file_over_the_cell_budget_is_refused_before_parsing():
    # 60,000,000 cells of "1" (120 MB of highly compressible text) would parse to 480 MB.
    wide = ",".join(f"c{i}" for i in range(400)).encode() + b"\n"
    rows = ingest.MAX_CELLS // 400 + 1
    content = wide + (b"1," * 399 + b"1\n") * rows
    with pytest.raises(ingest.InputError, match=r"over the limit of 50,000,000 cells"):
        ingest.read_upload("wide.csv", content)


def test_utf8_error_position_is_named_from_the_whole_file():
    content = b"a,b\n" + b"1,2\n" * 10 + b"3,\x81\n"
    with pytest.raises(ingest.InputError, match=r"byte 0x81 on line 12 .*first problem at line 12"):
        ingest.read_upload("x.csv", content)


# Files read two rows at a time: each column must come out as one parse of the whole file
# types it. (column, values, dtype kind): 'i' integer, 'f' float64, 'c' categorical, 'b' bool.
CHUNKED = (
    b"n,x,ratio,mixed,sex,flag\n"
    b"1,1.5,7,1,male,True\n"
    b"2,2.5,8,2,female,False\n"
    b"3,,9.5,k,female,True\n"
    b"400,7,10,3,,False\n"
    b"5,8,11,4,male,True\n"
)
CHUNKED_COLUMNS = [
    ("n", [1, 2, 3, 400, 5], "i"),  # int8 chunks and an int16 chunk: int16
    ("x", [1.5, 2.5, np.nan, 7.0, 8.0], "f"),  # float, then a chunk of whole numbers
    ("ratio", [7.0, 8.0, 9.5, 10.0, 11.0], "f"),  # integers, then floats: float64
    # Numbers, then text: parsed again in one piece, as text (few labels: categorical).
    ("mixed", ["1", "2", "k", "3", "4"], "c"),
    ("sex", ["male", "female", "female", np.nan, "male"], "c"),
    ("flag", [True, False, True, False, True], "b"),
]


@pytest.mark.parametrize(("column", "values", "kind"), CHUNKED_COLUMNS)
def test_a_file_read_in_chunks_types_each_column_as_the_whole_file(monkeypatch, column,
                                                                   values, kind):
    monkeypatch.setattr(readers, "CHUNK_ROWS", 2)
    up = ingest.read_upload("a.csv", CHUNKED)
    got = up.frame[column]
    if kind == "f":
        assert got.tolist() == pytest.approx(values, nan_ok=True)
    else:
        assert got.astype(object).where(got.notna(), None).tolist() == [
            None if v is np.nan else v for v in values]
    dtype = got.dtype
    assert {"i": pd.api.types.is_integer_dtype(dtype), "f": dtype == np.float64,
            "c": isinstance(dtype, pd.CategoricalDtype),
            "b": pd.api.types.is_bool_dtype(dtype)}[kind]
    assert list(up.frame.index) == [2, 3, 4, 5, 6]


def test_compact_types_hold_the_values_exactly():
    content = b"id,stratum,weight,sex\n70000,1,1234.56,F\n70001,-3,0.1,M\n"
    frame = ingest.read_upload("a.csv", content).frame
    # 70001 needs 32 bits, -3..1 fits 8; weights stay float64 (0.1 is not exact in float32).
    assert [str(t) for t in frame.dtypes[:3]] == ["int32", "int8", "float64"]
    assert frame["weight"].tolist() == [1234.56, 0.1]
    assert isinstance(frame["sex"].dtype, pd.CategoricalDtype)
    assert frame["sex"].tolist() == ["F", "M"]


def test_many_distinct_labels_stay_text(monkeypatch):
    monkeypatch.setattr(readers, "CATEGORY_LABELS", 2)
    frame = ingest.read_upload("a.csv", b"code\na\nb\nc\n").frame
    assert not isinstance(frame["code"].dtype, pd.CategoricalDtype)
    assert frame["code"].tolist() == ["a", "b", "c"]


def test_chunked_parse_errors_and_blank_lines_keep_file_line_numbers(monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_ROWS", 2)
    up = ingest.read_upload("a.csv", b"a,b\n1,2\n3,4\n\n5,6\n")
    assert list(up.frame.index) == [2, 3, 5]
    assert up.dropped["row"].tolist() == [4]
    with pytest.raises(ingest.InputError, match="line 5 has 3 fields but the header has 2"):
        ingest.read_upload("a.csv", b"a,b\n1,2\n3,4\n5,6\n7,8,9\n")


@pytest.mark.parametrize("content", [b"\n!", b"\n\n1,2\n"])
def test_a_blank_header_line_is_refused_by_name(content: bytes) -> None:
    # A chunk with no columns at all: the chunked reader once failed on it.
    with pytest.raises(ingest.InputError, match="'a.csv'"):
        ingest.read_upload("a.csv", content)
