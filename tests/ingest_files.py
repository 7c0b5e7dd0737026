"""The files the ingest tests upload: the golden microdata in every format, and small bad ones."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from hypothesis import strategies as st

from dashboard import ingest

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


def assert_refused(files: list[tuple[str, bytes]], expected: str) -> None:
    """The page's path refuses the files with an InputError whose problems include `expected`."""
    with pytest.raises(ingest.InputError) as info:
        analyse(files)
    problems = info.value.problems
    assert problems, "an InputError must carry at least one problem sentence"
    assert all(isinstance(p, str) and p.strip() for p in problems)
    assert any(expected in p for p in problems), problems
    assert isinstance(info.value, ValueError)


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



# Bytes an analyst might upload: anything, text made of CSV-ish characters, and near-good files.
ANY_CONTENT = st.one_of(
    st.binary(max_size=300),
    st.text(alphabet=st.sampled_from(list('ab12.,;\t|"\n -<>é')), max_size=200).map(
        lambda t: t.encode()
    ),
    st.lists(st.sampled_from(GOOD_ROWS + ["", "x,y", '"1,2",3', "1;2;3"]), max_size=6).map(
        lambda rows: micro(*rows)
    ),
)
ANY_NAME = st.sampled_from(["a.csv", "a.txt", "a.parquet", "a.xpt"])
