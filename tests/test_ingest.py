"""Tests of dashboard.ingest: formats, merging, mapping, labels, validation, estimates."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard import ingest, schema, stats
from dashboard.ingest import readers
from dashboard.ingest.outcomes import _compare
from dashboard.ingest.validation import _unit_problems

GOLDEN = Path(__file__).resolve().parent / "golden"
MICRODATA = GOLDEN / "survey_microdata.csv"
DESIGN = {"weight": "weight", "strata": "stratum", "psu": "psu"}
# NHANES names for the golden columns; DIETGRP is a custom column that has to be mapped.
NHANES_DEMO = {
    "respondent_id": "SEQN",
    "age": "RIDAGEYR",
    "sex": "RIAGENDR",
    "stratum": "SDMVSTRA",
    "psu": "SDMVPSU",
    "weight": "WTMEC2YR",
    "diet_group": "DIETGRP",
}


@pytest.fixture(scope="module")
def golden() -> pd.DataFrame:
    return pd.read_csv(MICRODATA)


@pytest.fixture(scope="module")
def golden_bytes() -> bytes:
    return MICRODATA.read_bytes()


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


def xpt_bytes(frame: pd.DataFrame, tmp_path: Path, name: str) -> bytes:
    path = tmp_path / name
    pyreadstat.write_xport(
        frame, str(path), table_name=name.split(".")[0][:8].upper(), file_format_version=5
    )
    return path.read_bytes()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def analyse(
    files: list[tuple[str, bytes]], definition: str = "b12_lt148", mapping_changes=None
) -> ingest.Prepared | ingest.PreparedTable:
    """The page's path through the API: read, merge, propose, (change), prepare."""
    uploads = [ingest.read_upload(name, content) for name, content in files]
    upload = ingest.merge_uploads(uploads, on="SEQN") if len(uploads) > 1 else uploads[0]
    mapping = ingest.propose_mapping(upload.frame)
    if mapping_changes:
        mapping = replace(mapping, **mapping_changes)
    if mapping.kind == "prevalence_table":
        return ingest.prepare_table(upload, mapping)
    return ingest.prepare_microdata(upload, mapping, definition)


# --- Bad files: one per problem ------------------------------------------------------------
GOOD_HEADER = "respondent_id,stratum,psu,weight,age,sex,diet_group,serum_b12_pmol_l\n"
GOOD_ROWS = [
    "1,1,1,1000,30,male,omnivore,300",
    "2,1,2,1200,45,female,vegan,120",
    "3,2,1,900,62,female,vegetarian,210",
    "4,2,2,1100,25,male,omnivore,350",
]


def micro(*rows: str, header: str = GOOD_HEADER) -> bytes:
    return (header + "\n".join(rows) + "\n").encode()


def replaced(row: int, field: str, value: str) -> bytes:
    """GOOD_ROWS with one field of one row (0-based) replaced."""
    cols = GOOD_HEADER.strip().split(",")
    rows = [r.split(",") for r in GOOD_ROWS]
    rows[row][cols.index(field)] = value
    return micro(*(",".join(r) for r in rows))


TABLE = "country_iso3,sex,diet_group,n,cases,prevalence_pct\n"
RNG_GARBAGE = np.random.default_rng(5).integers(0, 256, 4000, dtype=np.uint8).tobytes()

# (case id, files, expected words in the message). Row numbers: CSV line numbers (header = 1).
BAD_FILES = [
    ("empty", [("a.csv", b"")], "is empty"),
    ("whitespace only", [("a.csv", b"  \n\n")], "is empty"),
    ("header only", [("a.csv", GOOD_HEADER.encode())], "header but no data rows"),
    ("header and blank lines", [("a.csv", GOOD_HEADER.encode() + b"\n\n")], "no data rows"),
    ("parquet named csv", [("a.csv", b"PAR1" + bytes(100) + b"PAR1")], "is not CSV text"),
    ("csv named parquet", [("a.parquet", micro(*GOOD_ROWS))], "is not Parquet"),
    ("csv named xpt", [("a.xpt", micro(*GOOD_ROWS))], "is not SAS transport"),
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
    ("duplicate ids", [("a.csv", replaced(1, "respondent_id", "1"))], "duplicate key values"),
    (
        "non-numeric biomarker",
        [("a.csv", replaced(2, "serum_b12_pmol_l", "<50"))],
        "1 value is not a number (file line 4: '<50')",
    ),
    (
        "negative biomarker",
        [("a.csv", replaced(0, "serum_b12_pmol_l", "-3"))],
        "1 negative value (file line 2: -3)",
    ),
    (
        # 0.3 nmol/L = 300 pmol/L: a median of 0.265 pmol/L is implausible, nmol/L fits.
        "serum b12 in nmol/L labelled pmol/L",
        [("a.csv", micro(*(r.rsplit(",", 1)[0] + ",0.265" for r in GOOD_ROWS)))],
        "implausible values for the unit pmol/L",
    ),
    (
        "age in months",
        [("a.csv", replaced(3, "age", "300"))],
        "1 age outside 0-120 (file line 5: 300)",
    ),
    ("negative age", [("a.csv", replaced(3, "age", "-1"))], "outside 0-120"),
    (
        "zero weight",
        [("a.csv", replaced(1, "weight", "0"))],
        "1 negative or zero weight (file line 3: 0)",
    ),
    ("negative weight", [("a.csv", replaced(1, "weight", "-5"))], "negative or zero weight"),
    ("missing weight", [("a.csv", replaced(1, "weight", ""))], "but no weight"),
    ("missing stratum", [("a.csv", replaced(1, "stratum", ""))], "without a stratum"),
    (
        "unknown diet label",
        [("a.csv", replaced(1, "diet_group", "keto"))],
        "unknown labels 'keto' (1 row, e.g. file line 3)",
    ),
    ("unknown sex label", [("a.csv", replaced(1, "sex", "x"))], "unknown labels 'x'"),
    (
        "no biomarker column",
        [("a.csv", micro("1,30", header="respondent_id,age\n"))],
        "No column is mapped to Serum/plasma total B12",
    ),
    (
        "no biomarker values",
        [("a.csv", micro("1,30,", "2,40,", header="respondent_id,age,serum_b12_pmol_l\n"))],
        "has no values",
    ),
    ("cases > n", [("t.csv", (TABLE + "USA,both,general,10,11,\n").encode())], "cases > n"),
    (
        "negative cases",
        [("t.csv", (TABLE + "USA,both,general,10,-1,\n").encode())],
        "negative or not whole",
    ),
    (
        "n not positive",
        [("t.csv", (TABLE + "USA,both,general,0,0,\n").encode())],
        "not a positive whole number",
    ),
    (
        "prevalence over 100%",
        [("t.csv", (TABLE + "USA,both,general,10,,120\n").encode())],
        "outside 0-100%",
    ),
    (
        "negative prevalence",
        [("t.csv", (TABLE + "USA,both,general,10,,-2\n").encode())],
        "outside 0-100%",
    ),
    (
        "unknown table label",
        [("t.csv", (TABLE + "USA,both,keto,10,1,\n").encode())],
        "unknown labels 'keto'",
    ),
    (
        "merge without key column",
        [("demo.csv", b"SEQN,age\n1,30\n"), ("lab.csv", b"ID,LBDB12SI\n1,300\n")],
        "'lab.csv' has no key column 'SEQN'",
    ),
    (
        "merge with duplicate keys",
        [("demo.csv", b"SEQN,age\n1,30\n1,31\n"), ("lab.csv", b"SEQN,LBDB12SI\n1,300\n")],
        "duplicate key values, 2 rows share a key (file lines 2, 3: 1, 1)",
    ),
    (
        "merge with a column in both files",
        [("demo.csv", b"SEQN,age\n1,30\n"), ("lab.csv", b"SEQN,age,LBDB12SI\n1,30,300\n")],
        "Column 'age' is in both",
    ),
]


@pytest.mark.parametrize(
    ("files", "expected"),
    [pytest.param(files, expected, id=case) for case, files, expected in BAD_FILES],
)
def test_bad_file_raises_input_error_naming_the_problem(files, expected):
    with pytest.raises(ingest.InputError) as info:
        analyse(files)
    problems = info.value.problems
    assert problems, "an InputError must carry at least one problem sentence"
    assert all(isinstance(p, str) and p.strip() for p in problems)
    assert any(expected in p for p in problems), problems
    assert isinstance(info.value, ValueError)


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


# --- Warnings, not errors ------------------------------------------------------------------
def test_missing_biomarker_rows_are_dropped_counted_and_shown():
    prepared = analyse([("a.csv", replaced(1, "serum_b12_pmol_l", ""))])
    assert list(prepared.frame.index) == [2, 4, 5]  # CSV lines of the kept rows
    assert prepared.dropped.to_dict("records") == [
        {"file": "a.csv", "row": 3, "reason": "missing serum_b12 value (column 'serum_b12_pmol_l')"}
    ]
    assert any("1 row without" in w and "line 3" in w for w in prepared.warnings)
    assert ingest.summarize_dropped(prepared.dropped) == [
        "'a.csv': 1 row dropped: missing serum_b12 value (column 'serum_b12_pmol_l')."
    ]


def test_blank_lines_are_recorded_and_row_numbers_stay_file_lines():
    up = ingest.read_upload("a.csv", micro(GOOD_ROWS[0], "", GOOD_ROWS[1]))
    assert list(up.frame.index) == [2, 4]
    assert up.dropped.to_dict("records") == [{"file": "a.csv", "row": 3, "reason": "blank line"}]


def test_single_psu_stratum_is_a_warning_naming_the_adjustment():
    prepared = analyse([("a.csv", replaced(1, "stratum", "3"))])
    # Stratum 1 keeps only PSU 1 and stratum 3 has one PSU: two lonely strata.
    lonely = [w for w in prepared.warnings if "single PSU" in w]
    assert len(lonely) == 1
    assert "2 strata with a single PSU (1, 3)" in lonely[0]
    assert 'survey.lonely.psu = "adjust"' in lonely[0]


def test_missing_labels_and_ages_form_unknown_groups_with_a_warning():
    content = micro(GOOD_ROWS[0], "2,1,2,1200,,,vegan,120", *GOOD_ROWS[2:])
    prepared = analyse([("a.csv", content)])
    assert prepared.frame.loc[3, "age_band"] == "unknown"
    assert prepared.frame.loc[3, "sex"] == "unknown"
    assert any("age band 'unknown'" in w for w in prepared.warnings)
    assert any("without a sex label" in w for w in prepared.warnings)


def test_trailing_delimiter_column_is_ignored_with_a_warning():
    content = b"age;serum_b12_pmol_l;\n30;300;\n40;200;\n"
    up = ingest.read_upload("a.csv", content)
    assert list(up.frame.columns) == ["age", "serum_b12_pmol_l"]
    assert any("no name and no values" in w for w in up.warnings)


# --- Formats -------------------------------------------------------------------------------
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


def good_files(golden: pd.DataFrame, tmp_path: Path) -> dict[str, list[tuple[str, bytes]]]:
    """The golden microdata in every supported format."""
    text = golden.to_csv(index=False)
    european = golden.to_csv(index=False, sep=";", decimal=",")
    latin = golden.assign(région="Île-de-France").to_csv(index=False, sep=";", decimal=",")
    nhanes = golden.rename(columns=NHANES_DEMO | {"serum_b12_pmol_l": "LBDB12SI"})
    nhanes["RIAGENDR"] = nhanes["RIAGENDR"].map({"male": 1.0, "female": 2.0})
    nhanes = nhanes.drop(columns=["mma_umol_l"])
    demo = nhanes.drop(columns=["LBDB12SI"])
    # NHANES laboratory files hold only the examined people: leave out those without a value.
    lab = nhanes.loc[nhanes["LBDB12SI"].notna(), ["SEQN", "LBDB12SI"]]
    return {
        "csv comma": [("survey.csv", text.encode())],
        "csv semicolon decimal comma": [("survey.csv", european.encode())],
        "csv latin-1": [("survey.csv", latin.encode("latin-1"))],
        "csv utf-8 bom": [("survey.csv", b"\xef\xbb\xbf" + text.encode())],
        "parquet": [("survey.parquet", parquet_bytes(golden))],
        "xpt": [("survey.xpt", xpt_bytes(nhanes, tmp_path, "survey.xpt"))],
        "nhanes demo + lab xpt": [
            ("demo.xpt", xpt_bytes(demo, tmp_path, "demo.xpt")),
            ("lab.xpt", xpt_bytes(lab, tmp_path, "lab.xpt")),
        ],
    }


def test_every_format_gives_the_golden_estimates(golden, tmp_path):
    """Golden values: R survey 4.1-1, svydesign(ids=~psu, strata=~stratum, weights=~weight,
    nest=TRUE); svyby(~deficient, ~age_group+diet_group, design, svymean), deficient = serum
    B12 < 148 pmol/L after dropping missing values (tests/golden/README.md)."""
    expected = pd.read_csv(GOLDEN / "survey_expected_by_age_diet.csv")
    overall = pd.read_csv(GOLDEN / "survey_expected_overall.csv")
    for case, files in good_files(golden, tmp_path).items():
        uploads = [ingest.read_upload(n, c) for n, c in files]
        upload = ingest.merge_uploads(uploads, on="SEQN")
        mapping = ingest.propose_mapping(upload.frame)
        if "DIETGRP" in upload.frame.columns:
            assert mapping.diet_group == "DIETGRP", f"{case}: diet labels found by content"
        prepared = ingest.prepare_microdata(upload, mapping, "b12_lt148")
        assert len(prepared.frame) == 6000 - 124, case  # 124 rows lack serum B12
        assert prepared.dropped["row"].size == 124, case
        by = ingest.estimate(prepared, ("age_band", "diet_group"))
        got = by.assign(
            age_band=by["age_band"].astype(str), diet_group=by["diet_group"].astype(str)
        )
        merged = expected.merge(
            got, left_on=["age_group", "diet_group"], right_on=["age_band", "diet_group"]
        )
        assert len(merged) == len(expected) == len(got), case
        for ours, theirs in [
            ("estimate_y", "estimate_x"),
            ("se_y", "se_x"),
            ("ci_low", "ci_kg_low"),
            ("ci_high", "ci_kg_high"),
        ]:
            np.testing.assert_allclose(merged[ours], merged[theirs], rtol=1e-6, err_msg=case)
        assert (merged["n_x"] == merged["n_y"]).all(), case
        total = ingest.estimate(prepared)
        np.testing.assert_allclose(total["estimate"], overall["estimate"], rtol=1e-6)
        np.testing.assert_allclose(total["se"], overall["se"], rtol=1e-6)


def test_nhanes_pair_merges_and_matches_stats_on_the_golden_frame(golden, tmp_path):
    files = good_files(golden, tmp_path)["nhanes demo + lab xpt"]
    uploads = [ingest.read_upload(n, c) for n, c in files]
    upload = ingest.merge_uploads(uploads)
    assert upload.kind == "microdata"
    assert upload.format == "merged"
    assert upload.sources == ("demo.xpt", "lab.xpt")
    assert upload.row_label == "merged row"
    # 124 people are in demo.xpt but not in lab.xpt.
    assert any(
        "124 persons in the files before 'lab.xpt' are not in it" in w for w in upload.warnings
    )
    mapping = ingest.propose_mapping(upload.frame)
    assert (mapping.age, mapping.sex, mapping.weight, mapping.stratum, mapping.psu, mapping.id) == (
        "RIDAGEYR",
        "RIAGENDR",
        "WTMEC2YR",
        "SDMVSTRA",
        "SDMVPSU",
        "SEQN",
    )
    assert mapping.biomarkers == {"serum_b12": ingest.BiomarkerColumn("LBDB12SI", "pmol/L")}
    assert mapping.labels["sex"] == {"1": "male", "2": "female"}
    prepared = ingest.prepare_microdata(upload, mapping, "b12_lt148")
    ours = ingest.estimate(prepared, ("age_band", "sex"))
    frame = golden.dropna(subset=["serum_b12_pmol_l"]).assign(
        deficient=lambda f: f["serum_b12_pmol_l"] < 148,
        age_band=lambda f: ingest.cut_age_bands(f["age"]),
    )
    reference = stats.survey_prevalence(frame, "deficient", by=("age_band", "sex"), **DESIGN)
    cols = ["estimate", "se", "ci_low", "ci_high", "n", "df"]
    np.testing.assert_allclose(ours[cols].to_numpy(float), reference[cols].to_numpy(float))
    assert ours["sex"].astype(str).tolist() == reference["sex"].astype(str).tolist()


def test_missing_from_lab_file_is_a_dropped_row_with_its_reason(tmp_path):
    demo = pd.DataFrame({"SEQN": [1.0, 2.0, 3.0], "RIDAGEYR": [30.0, 40.0, 50.0]})
    lab = pd.DataFrame({"SEQN": [1.0, 3.0], "LBXB12": [400.0, 150.0]})
    upload = ingest.merge_uploads(
        [
            ingest.read_upload("demo.xpt", xpt_bytes(demo, tmp_path, "demo.xpt")),
            ingest.read_upload("lab.xpt", xpt_bytes(lab, tmp_path, "lab.xpt")),
        ]
    )
    prepared = ingest.prepare_microdata(upload, ingest.propose_mapping(upload.frame))
    # LBXB12 is pg/mL: 150 pg/mL x 0.738 = 110.7 pmol/L < 148; 400 x 0.738 = 295.2 is not.
    assert prepared.frame["outcome"].tolist() == [False, True]
    np.testing.assert_allclose(prepared.frame["serum_b12_pmol_l"], [295.2, 110.7])
    assert prepared.dropped.to_dict("records") == [
        {
            "file": "demo.xpt + lab.xpt",
            "row": 2,
            "reason": "missing serum_b12 value (column 'LBXB12')",
        }
    ]


def test_merge_of_numeric_and_text_keys():
    a = ingest.read_upload("a.csv", b"SEQN,age\n1,30\n2,40\n")
    b = ingest.read_upload("b.csv", b"SEQN,LBDB12SI\n 2,300\n1,200\n")
    merged = ingest.merge_uploads([a, b])
    assert merged.frame[["SEQN", "age", "LBDB12SI"]].to_numpy().tolist() == [
        [1, 30, 200],
        [2, 40, 300],
    ]


def test_parquet_index_becomes_a_column():
    frame = pd.DataFrame({"serum_b12_pmol_l": [300.0]}, index=pd.Index([7], name="respondent_id"))
    buf = io.BytesIO()
    frame.to_parquet(buf)
    up = ingest.read_upload("a.parquet", buf.getvalue())
    assert list(up.frame.columns) == ["respondent_id", "serum_b12_pmol_l"]
    assert list(up.frame.index) == [1]


# --- Mapping -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("columns", "role", "expected"),
    [
        (["RIDAGEYR"], "age", "RIDAGEYR"),
        (["Age (years)"], "age", "Age (years)"),
        (["RIAGENDR"], "sex", "RIAGENDR"),
        (["Gender"], "sex", "Gender"),
        (["SDMVSTRA"], "stratum", "SDMVSTRA"),
        (["SDMVPSU"], "psu", "SDMVPSU"),
        (["WTINT2YR", "WTMEC2YR"], "weight", "WTMEC2YR"),
        (["WTMEC4YR"], "weight", "WTMEC4YR"),
        (["WTSAF2YR"], "weight", "WTSAF2YR"),
        (["SEQN"], "id", "SEQN"),
        (["respondent_id"], "id", "respondent_id"),
        (["Diet"], "diet_group", "Diet"),
        (["notes"], "age", None),
    ],
)
def test_propose_mapping_by_name(columns, role, expected):
    frame = pd.DataFrame({c: [1.0] for c in columns} | {"LBXB12": [400.0]})
    assert getattr(ingest.propose_mapping(frame), role) == expected


@pytest.mark.parametrize(
    ("column", "biomarker", "unit"),
    [
        ("LBXB12", "serum_b12", "pg/mL"),
        ("LBDB12SI", "serum_b12", "pmol/L"),
        ("LBXMMA", "mma", "umol/L"),
        ("serum_b12_pmol_l", "serum_b12", "pmol/L"),
        ("B12 (pg/mL)", "serum_b12", "pg/mL"),
        ("vitB12_ng_l", "serum_b12", "ng/L"),
        ("holotc_pmol_l", "holotc", "pmol/L"),
        ("HoloTC", "holotc", "pmol/L"),  # no unit in the name: canonical assumed
        ("mma_umol_l", "mma", "umol/L"),
        ("MMA nmol/L", "mma", "nmol/L"),
        ("cobalamin", "serum_b12", "pmol/L"),
    ],
)
def test_propose_mapping_recognises_biomarkers_and_units(column, biomarker, unit):
    mapping = ingest.propose_mapping(pd.DataFrame({column: [1.0]}))
    assert mapping.biomarkers == {biomarker: ingest.BiomarkerColumn(column, unit)}
    assert mapping.notes[f"{biomarker}_value"].startswith(f"'{column}'")


@pytest.mark.parametrize("column", ["b12_flag", "B12_supplement", "LBXB12LC", "gamma"])
def test_columns_about_a_biomarker_that_hold_no_values_are_not_proposed(column):
    assert ingest.propose_mapping(pd.DataFrame({column: [1.0], "age": [3]})).biomarkers == {}


def test_propose_mapping_by_content_finds_label_columns():
    frame = pd.DataFrame(
        {
            "serum_b12_pmol_l": [300.0] * 10,
            "q7": ["F", "m"] * 5,
            "grp": ["Vegan", "omnivore", "Lacto-ovo vegetarian", "pescatarian", "keto"] * 2,
            "x": ["a", "b"] * 5,
        }
    )
    mapping = ingest.propose_mapping(frame)
    assert mapping.sex == "q7"
    # 8 of 10 diet labels known (80%) is below the 90% needed to propose.
    assert mapping.diet_group is None
    frame["grp"] = ["Vegan", "omnivore", "Lacto-ovo vegetarian", "pescatarian", "vegan"] * 2
    assert ingest.propose_mapping(frame).diet_group == "grp"


def test_propose_mapping_for_a_prevalence_table():
    frame = pd.DataFrame(
        {
            "country_iso3": ["USA"],
            "sex": ["both"],
            "diet_group": ["vegan"],
            "n": [10],
            "cases": [2],
            "prevalence_pct": [20.0],
        }
    )
    assert ingest.detect_kind(frame.columns) == "prevalence_table"
    mapping = ingest.propose_mapping(frame)
    assert (mapping.kind, mapping.n, mapping.cases, mapping.prevalence) == (
        "prevalence_table",
        "n",
        "cases",
        "prevalence_pct",
    )
    assert mapping.groups == ("country_iso3", "sex", "diet_group")
    assert mapping.prevalence_scale == "percent"


def test_prevalence_table_fills_cases_from_prevalence():
    content = (TABLE + "USA,both,general,200,,12.5\nGBR,female,Vegans,40,8,\n").encode()
    prepared = analyse([("t.csv", content)])
    # 12.5% of 200 = 25 cases; 8 / 40 = 0.2.
    assert prepared.frame.to_dict("list") == {
        "country_iso3": ["USA", "GBR"],
        "sex": ["both", "female"],
        "diet_group": ["general", "vegan"],
        "n": [200.0, 40.0],
        "cases": [25.0, 8.0],
        "prevalence": [0.125, 0.2],
        "cases_from_prevalence": [True, False],
    }


def test_prevalence_table_row_without_cases_or_prevalence_is_dropped_and_recorded():
    content = (TABLE + "USA,both,general,200,,\nGBR,female,vegan,40,8,\n").encode()
    prepared = analyse([("t.csv", content)])
    assert prepared.frame["country_iso3"].tolist() == ["GBR"]
    assert prepared.dropped.to_dict("records") == [
        {"file": "t.csv", "row": 2, "reason": "no cases and no prevalence"}
    ]


def test_mapping_to_a_column_that_is_not_there():
    up = ingest.read_upload("a.csv", micro(*GOOD_ROWS))
    mapping = replace(ingest.propose_mapping(up.frame), age="AGE_Y")
    with pytest.raises(ingest.InputError, match="age is set to column 'AGE_Y'"):
        ingest.prepare_microdata(up, mapping)


# --- Labels --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "vocabulary", "overrides", "mapped", "unmapped"),
    [
        (
            ["Male", " F ", "women", None],
            ("female", "male"),
            None,
            ["male", "female", "female", None],
            [],
        ),
        (
            [1.0, 2.0, 1.0],
            ("female", "male"),
            {"1": "male", "2": "female"},
            ["male", "female", "male"],
            [],
        ),
        (
            ["Lacto-ovo vegetarian", "VEGAN", "fish_eater", "meat-eater"],
            schema.DIET_GROUPS,
            None,
            ["vegetarian", "vegan", "pescatarian", "omnivore"],
            [],
        ),
        (
            ["keto", "vegan", "keto", "raw"],
            schema.DIET_GROUPS,
            None,
            [None, "vegan", None, None],
            [("keto", 2, "10, 12"), ("raw", 1, "13")],
        ),
        (["keto"], schema.DIET_GROUPS, {"Keto": "omnivore"}, ["omnivore"], []),
        (["semi-vegetarian"], schema.DIET_GROUPS, None, [None], [("semi-vegetarian", 1, "10")]),
        (["semi-vegetarian"], schema.STUDY_DIET_GROUPS, None, ["semi_vegetarian"], []),
        (
            ["yes", "No", 0, 1],
            ingest.PERSON_SUPPLEMENT_USE,
            None,
            ["user", "non_user", "non_user", "user"],
            [],
        ),
    ],
)
def test_map_labels(values, vocabulary, overrides, mapped, unmapped):
    series = pd.Series(values, index=range(10, 10 + len(values)), dtype=object)
    got, preview = ingest.map_labels(series, vocabulary, overrides)
    assert got.index.equals(series.index)
    assert [None if pd.isna(v) else v for v in got] == mapped
    assert list(preview.itertuples(index=False, name=None)) == unmapped


def test_map_labels_rejects_an_override_outside_the_vocabulary():
    with pytest.raises(ingest.InputError, match="'carnivore' is not one of"):
        ingest.map_labels(pd.Series(["x"]), schema.DIET_GROUPS, {"x": "carnivore"})


# --- Outcomes, units and age bands ---------------------------------------------------------
@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ("b12_lt148", ingest.Outcome("serum_b12", "<", 148.0, "pmol/L")),
        ("b12_lt258", ingest.Outcome("serum_b12", "<", 258.0, "pmol/L")),
        ("b12_148_221", ingest.Outcome("serum_b12", "between", 148.0, "pmol/L", 221.0)),
        ("holotc_lt35", ingest.Outcome("holotc", "<", 35.0, "pmol/L")),
        ("mma_gt026", ingest.Outcome("mma", ">", 0.26, "umol/L")),
        ("mma_gt037", ingest.Outcome("mma", ">", 0.37, "umol/L")),
    ],
)
def test_outcome_from_definition(definition, expected):
    assert ingest.outcome_from_definition(definition) == expected


def test_every_single_marker_definition_has_an_outcome():
    for d in schema.DEFINITIONS:
        if d.biomarker in ingest.VALUE_BIOMARKERS:
            outcome = ingest.outcome_from_definition(d.id)
            assert d.low_min <= outcome.cutoff <= d.low_max
        else:
            with pytest.raises(ingest.InputError, match="combines several markers"):
                ingest.outcome_from_definition(d.id)


@pytest.mark.parametrize(
    ("outcome", "unit", "values", "expected"),
    [
        # 200 pg/mL x 0.738 = 147.6 pmol/L < 148; 201 x 0.738 = 148.3 is not.
        (ingest.Outcome("serum_b12", "<", 148, "pmol/L"), "pg/mL", [200, 201], [True, False]),
        # Same unit: the cut-off itself is not below the cut-off, exactly.
        (ingest.Outcome("serum_b12", "<", 148, "pmol/L"), "pmol/L", [147.9, 148], [True, False]),
        (ingest.Outcome("serum_b12", "<=", 148, "pmol/L"), "pmol/L", [148, 148.1], [True, False]),
        # 0.26 umol/L = 260 nmol/L.
        (ingest.Outcome("mma", ">", 0.26, "umol/L"), "nmol/L", [260, 261], [False, True]),
        (ingest.Outcome("mma", ">=", 260, "nmol/L"), "umol/L", [0.26, 0.2], [True, False]),
        # Marginal band [148, 221): 148 in, 221 out.
        (
            ingest.Outcome("serum_b12", "between", 148, "pmol/L", 221),
            "pmol/L",
            [147, 148, 220.9, 221],
            [False, True, True, False],
        ),
        # 0.15 nmol/L = 150 pmol/L.
        (ingest.Outcome("serum_b12", "<", 148, "pmol/L"), "nmol/L", [0.147, 0.15], [True, False]),
    ],
)
def test_outcome_in_any_unit(outcome, unit, values, expected):
    assert _compare(pd.Series(values, dtype=float), outcome, unit).tolist() == expected


@pytest.mark.parametrize(
    ("column", "unit", "values", "suggested"),
    [
        # Median 520 pmol/L is plausible.
        ("serum_b12_pmol_l", "pmol/L", [400, 520, 700], None),
        # Median 1,500 "pmol/L" is not; as pg/mL: 1,500 x 0.738 = 1,107 (still > 1,000)...
        ("serum_b12_pmol_l", "pmol/L", [1400, 1500, 1600], "Check the unit"),
        # ... 1,200 x 0.738 = 886 pmol/L fits: pg/mL (or ng/L) suggested.
        ("serum_b12_pmol_l", "pmol/L", [1100, 1200, 1300], "set the unit to pg/mL"),
        # 0.35 nmol/L = 350 pmol/L.
        ("serum_b12_pmol_l", "pmol/L", [0.3, 0.35, 0.4], "set the unit to nmol/L"),
        # MMA 180 "umol/L" is 0.18 umol/L in nmol/L.
        ("mma_umol_l", "umol/L", [150, 180, 250], "set the unit to nmol/L"),
        ("mma_nmol_l", "nmol/L", [0.15, 0.18, 0.25], "set the unit to umol/L"),
        ("holotc_pmol_l", "pmol/L", [0.05, 0.07, 0.09], "set the unit to nmol/L"),
    ],
)
def test_unit_plausibility(column, unit, values, suggested):
    biomarker = column.rsplit("_", 2)[0]
    problems = _unit_problems(
        ingest.BiomarkerColumn(column, unit), biomarker, pd.Series(values, dtype=float)
    )
    if suggested is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert "implausible values for the unit" in problems[0]
        assert suggested in problems[0]


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("serum_b12_pmol_l < 148", None, ingest.Outcome("serum_b12", "<", 148.0, "pmol/L")),
        ("serum_b12_pg_ml<=200", None, ingest.Outcome("serum_b12", "<=", 200.0, "pg/mL")),
        ("mma_umol_l > 0.26", None, ingest.Outcome("mma", ">", 0.26, "umol/L")),
        (
            "LBXB12 < 200",
            "LBXB12",
            ingest.Outcome("serum_b12", "<", 200.0, "pg/mL", None, "LBXB12"),
        ),
        (
            "  LBXB12>=1e2 ",
            "LBXB12",
            ingest.Outcome("serum_b12", ">=", 100.0, "pg/mL", None, "LBXB12"),
        ),
    ],
)
def test_parse_outcome(text, column, expected):
    mapping = ingest.propose_mapping(pd.DataFrame({"LBXB12": [1.0], "LBXMMA": [1.0]}))
    assert ingest.parse_outcome(text, mapping) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("serum_b12_pmol_l == 148", "not of the form"),
        ("__import__('os').system('x') < 1", "not of the form"),
        ("serum_b12_pmol_l < abc", "not of the form"),
        ("", "not of the form"),
        ("weight < 3", "'weight' is neither a biomarker column"),
    ],
)
def test_parse_outcome_rejects(text, expected):
    with pytest.raises(ingest.InputError, match=expected):
        ingest.parse_outcome(text, ingest.ColumnMapping())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0-19,20-39,40-59,60-79,80+", schema.AGE_BANDS),
        ("18-64, 65+", (("18-64", 18, 64), ("65+", 65, None))),
        ("0-4", (("0-4", 0, 4),)),
    ],
)
def test_parse_age_bands(text, expected):
    assert ingest.parse_age_bands(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0-19,10-29", "overlaps"),
        ("80+,20-39", "overlaps"),
        ("20-10", "ends before it starts"),
        ("0-19,adults", "is not 'a-b' or"),
        ("", "is not 'a-b' or"),
    ],
)
def test_parse_age_bands_rejects(text, expected):
    with pytest.raises(ingest.InputError, match=expected):
        ingest.parse_age_bands(text)


def test_cut_age_bands_whole_years_gaps_and_missing():
    ages = pd.Series([0, 19.9, 20, 64.5, 65, 80, 120, None, 17])
    bands = ingest.parse_age_bands("18-64,65-79,80+")
    # 19.9 completed years is 19 (in 18-64); 0 and 17 fall in no band; None is missing.
    assert ingest.cut_age_bands(ages, bands).astype(str).tolist() == [
        "unknown",
        "18-64",
        "18-64",
        "18-64",
        "65-79",
        "80+",
        "80+",
        "unknown",
        "unknown",
    ]


# --- Estimation ----------------------------------------------------------------------------
def test_estimate_rejects_groups_that_are_not_mapped():
    content = micro("1,300,30", "2,100,40", header="respondent_id,serum_b12_pmol_l,age\n")
    prepared = analyse([("a.csv", content)])
    with pytest.raises(ingest.InputError) as info:
        ingest.estimate(prepared, ("sex", "region"))
    assert info.value.problems == [
        "Cannot group by 'region': groups are age_band, sex, diet_group, supplement_use.",
        "Cannot group by 'sex': no column is mapped to sex. Map one first.",
    ]


def test_estimate_without_design_is_a_simple_proportion():
    content = micro(
        "1,300,30",
        "2,100,40",
        "3,120,50",
        "4,500,60",
        header="respondent_id,serum_b12_pmol_l,age\n",
    )
    prepared = analyse([("a.csv", content)])
    assert (prepared.weight, prepared.strata, prepared.psu) == (None, None, None)
    result = ingest.estimate(prepared)
    # 2 of 4 values below 148 pmol/L: p = 0.5, se = sqrt(0.5 x 0.5 / 3) = 0.288675 (svymean on
    # svydesign(ids=~1) uses n - 1).
    assert result["estimate"].tolist() == [0.5]
    np.testing.assert_allclose(result["se"], [np.sqrt(0.25 / 3)])
    assert result["n"].tolist() == [4]


def test_prepare_does_not_change_the_upload(golden_bytes):
    up = ingest.read_upload("survey.csv", golden_bytes)
    before = up.frame.copy()
    ingest.prepare_microdata(up, ingest.propose_mapping(up.frame), "b12_lt148")
    pd.testing.assert_frame_equal(up.frame, before)


def test_problems_in_a_merged_table_cite_the_key():
    demo = b"SEQN,RIDAGEYR,WTMEC2YR\n101,30,1000\n102,40,0\n103,50,-2\n"
    lab = b"SEQN,LBDB12SI\n101,300\n102,200\n103,100\n"
    with pytest.raises(ingest.InputError) as info:
        analyse([("demo.csv", demo), ("lab.csv", lab)])
    assert info.value.problems == [
        "Column 'WTMEC2YR' (sampling weight): 2 negative or zero weights (SEQN 102, SEQN 103: "
        "0, -2). Weights must be positive: a zero weight usually marks someone outside the "
        "subsample (check the weight variable matches the biomarker's subsample)."
    ]


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(["a.csv", "a.txt", "a.parquet", "a.xpt"]),
    content=st.one_of(
        st.binary(max_size=300),
        st.text(alphabet=st.sampled_from(list('ab12.,;\t|"\n -<>é')), max_size=200).map(
            lambda t: t.encode()
        ),
        st.lists(st.sampled_from(GOOD_ROWS + ["", "x,y", '"1,2",3', "1;2;3"]), max_size=6).map(
            lambda rows: micro(*rows)
        ),
    ),
)
def test_any_bytes_give_an_upload_or_an_input_error(name, content):
    """Whatever is uploaded, the only exception is InputError (never a traceback)."""
    problems = ["(none raised)"]
    try:
        upload = ingest.read_upload(name, content)
        mapping = ingest.propose_mapping(upload.frame)
        if mapping.kind == "microdata":
            ingest.estimate(ingest.prepare_microdata(upload, mapping))
        else:
            ingest.prepare_table(upload, mapping)
    except ingest.InputError as err:
        problems = err.problems
    assert problems


# --- Published definitions and age standardisation for the page ---------------------------


def test_value_definitions_are_the_single_marker_single_cutoff_ones():
    # b12_148_221 and b12_148_258 are bands; combined and cb12 need several markers
    assert [d.id for d in ingest.VALUE_DEFINITIONS] == [
        "b12_lt148", "b12_lt118", "b12_lt185", "b12_lt221", "b12_lt258", "holotc_lt35",
        "mma_gt026", "mma_gt037",
    ]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (ingest.Outcome("serum_b12", "<", 148.0, "pmol/L"), "b12_lt148"),
        # 200 pg/mL x 0.738 = 147.6 pmol/L, inside b12_lt148's 145-151
        (ingest.Outcome("serum_b12", "<", 200.0, "pg/mL"), "b12_lt148"),
        # 250 pg/mL x 0.738 = 184.5 pmol/L, inside b12_lt185's 183-187
        (ingest.Outcome("serum_b12", "<", 250.0, "pg/mL"), "b12_lt185"),
        (ingest.Outcome("serum_b12", "<", 151.0, "pmol/L"), "b12_lt148"),  # range end
        (ingest.Outcome("serum_b12", "<", 152.0, "pmol/L"), None),
        (ingest.Outcome("serum_b12", "<", 137.5, "pmol/L"), None),
        (ingest.Outcome("serum_b12", ">", 148.0, "pmol/L"), None),  # other direction
        (ingest.Outcome("holotc", "<", 35.0, "pmol/L"), "holotc_lt35"),
        # 370 nmol/L x 0.001 = 0.37 umol/L
        (ingest.Outcome("mma", ">", 370.0, "nmol/L"), "mma_gt037"),
        (ingest.Outcome("mma", "<", 0.37, "umol/L"), None),
    ],
)
def test_matching_definition(outcome, expected):
    found = ingest.matching_definition(outcome)
    assert (found.id if found else None) == expected


# Ages 30, 45, 62, 25 and one unknown; weights 1000, 1200, 900, 1100, 500; values 300, 120,
# 210, 350, 100 pmol/L (< 148: the 45-year-old and the person of unknown age).
AGED = micro(*GOOD_ROWS, "5,1,1,500,,male,omnivore,100")
BANDS_3 = "0-29,30-59,60+"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # 0-29: 1100; 30-59: 1000 + 1200 = 2200; 60+: 900; unknown age left out
        ({}, {"0-29": 1100.0, "30-59": 2200.0, "60+": 900.0}),
        # without a weight column: people counted, 1 + 2 + 1
        ({"weight": None, "stratum": None, "psu": None},
         {"0-29": 1, "30-59": 2, "60+": 1}),
    ],
)
def test_survey_age_weights(changes, expected):
    upload = ingest.read_upload("a.csv", AGED)
    mapping = replace(ingest.propose_mapping(upload.frame), **changes)
    prepared = ingest.prepare_microdata(upload, mapping, "b12_lt148", BANDS_3)
    assert ingest.survey_age_weights(prepared) == expected


def test_estimate_standardized_leaves_out_unknown_ages():
    upload = ingest.read_upload("a.csv", AGED)
    mapping = replace(ingest.propose_mapping(upload.frame), weight=None, stratum=None,
                      psu=None)
    prepared = ingest.prepare_microdata(upload, mapping, "b12_lt148", BANDS_3)
    out = ingest.estimate_standardized(prepared, (),
                                       {"0-29": 0.25, "30-59": 0.5, "60+": 0.25})
    # age-specific: 0-29 0/1, 30-59 1/2, 60+ 0/1 -> 0.25 x 0 + 0.5 x 0.5 + 0.25 x 0 = 0.25;
    # the deficient person of unknown age is not counted (n = 4 of 5)
    assert out["estimate"].tolist() == pytest.approx([0.25])
    assert out["n"].tolist() == [4]


def test_standardisation_needs_an_age_column():
    content = micro("1,300", "2,100", header="respondent_id,serum_b12_pmol_l\n")
    prepared = analyse([("a.csv", content)])
    for call in (lambda: ingest.survey_age_weights(prepared),
                 lambda: ingest.estimate_standardized(prepared, (), {"0-19": 1.0})):
        with pytest.raises(ingest.InputError, match="no column is mapped to age"):
            call()
