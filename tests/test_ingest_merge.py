"""Tests of dashboard.ingest.merge: files of the same people joined on a key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import ingest, stats
from tests.ingest_files import (
    DESIGN,
    MICRODATA,
    analyse,
    assert_refused,
    good_files,
    xpt_bytes,
)

# (case id, files, expected words in the message). Row numbers: CSV line numbers (header = 1).
BAD_MERGES = [
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
    [pytest.param(files, expected, id=case) for case, files, expected in BAD_MERGES],
)
def test_unmergeable_files_raise_input_error_naming_the_problem(files, expected):
    assert_refused(files, expected)


@pytest.fixture(scope="module")
def golden() -> pd.DataFrame:
    return pd.read_csv(MICRODATA)


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

