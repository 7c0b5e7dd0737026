"""Tests of the command line `python -m dashboard estimate`."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from dashboard import ingest, schema, stats
from dashboard.__main__ import RESULT_COLUMNS, main

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
DESIGN = {"weight": "weight", "strata": "stratum", "psu": "psu"}


@pytest.fixture(scope="module")
def golden() -> pd.DataFrame:
    return pd.read_csv(GOLDEN / "survey_microdata.csv")


@pytest.fixture
def survey_csv(tmp_path: Path) -> Path:
    path = tmp_path / "survey.csv"
    path.write_bytes((GOLDEN / "survey_microdata.csv").read_bytes())
    return path


def reference(golden: pd.DataFrame, by: tuple[str, ...], bands=None) -> pd.DataFrame:
    """stats.survey_prevalence on the golden frame, deficient = serum B12 < 148 pmol/L."""
    frame = golden.dropna(subset=["serum_b12_pmol_l"]).assign(
        outcome=lambda f: f["serum_b12_pmol_l"] < 148,
        age_band=lambda f: ingest.cut_age_bands(f["age"], bands or schema.AGE_BANDS),
    )
    result = stats.survey_prevalence(frame, "outcome", by=by, **DESIGN)
    return result.loc[:, [*by, *RESULT_COLUMNS]]


def assert_same(written: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns and values, domains matched by their labels."""
    assert list(written.columns) == list(expected.columns)
    groups = [c for c in expected.columns if c not in RESULT_COLUMNS]
    written, expected = (
        f.assign(**{g: f[g].astype(str) for g in groups}).sort_values(groups).reset_index(drop=True)
        if groups
        else f
        for f in (written, expected)
    )
    for col in expected.columns:
        if pd.api.types.is_numeric_dtype(expected[col]):
            np.testing.assert_allclose(written[col], expected[col], rtol=1e-9, err_msg=col)
        else:
            assert written[col].astype(str).tolist() == expected[col].astype(str).tolist(), col


def test_estimate_by_age_band_and_sex_writes_one_row_per_domain(
    golden, survey_csv, tmp_path, capsys
):
    out = tmp_path / "results.csv"
    status = main(
        [
            "estimate",
            str(survey_csv),
            "--outcome",
            "serum_b12_pmol_l < 148",
            "--by",
            "age_band,sex",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    written = pd.read_csv(out)
    assert len(written) == 10  # 5 age bands x 2 sexes
    assert_same(written, reference(golden, ("age_band", "sex")))
    err = capsys.readouterr().err
    assert "design: weight=weight, strata=stratum, psu=psu" in err
    assert "124 rows without a Serum/plasma total B12 value" in err


def test_custom_age_bands_and_pg_ml_outcome(golden, survey_csv, capsys):
    stdout = io.StringIO()
    # 148 pmol/L / 0.738 = 200.54 pg/mL; "serum_b12_pg_ml < 200.54" is the same threshold
    # to within 0.004 pmol/L, and no golden value lies between 147.996 and 148.
    status = main(
        [
            "estimate",
            str(survey_csv),
            "--outcome",
            "serum_b12_pg_ml < 200.54",
            "--by",
            "age_band",
            "--age-bands",
            "0-39,40-64,65+",
        ],
        stdout=stdout,
    )
    assert status == 0
    written = pd.read_csv(io.StringIO(stdout.getvalue()))
    bands = ingest.parse_age_bands("0-39,40-64,65+")
    assert_same(written, reference(golden, ("age_band",), bands))
    assert written["age_band"].tolist() == ["0-39", "40-64", "65+"]


def test_nhanes_xpt_pair_uses_nhanes_design_names(golden, tmp_path, capsys):
    nhanes = golden.rename(
        columns={
            "respondent_id": "SEQN",
            "age": "RIDAGEYR",
            "sex": "RIAGENDR",
            "stratum": "SDMVSTRA",
            "psu": "SDMVPSU",
            "weight": "WTMEC2YR",
            "serum_b12_pmol_l": "LBXB12",
        }
    )
    nhanes["RIAGENDR"] = nhanes["RIAGENDR"].map({"male": 1.0, "female": 2.0})
    # LBXB12 is in pg/mL: pmol/L / 0.738.
    nhanes["LBXB12"] = nhanes["LBXB12"] / schema.PG_ML_TO_PMOL_L
    demo = nhanes[["SEQN", "RIDAGEYR", "RIAGENDR", "SDMVSTRA", "SDMVPSU", "WTMEC2YR"]]
    lab = nhanes.loc[nhanes["LBXB12"].notna(), ["SEQN", "LBXB12"]]
    for name, frame in [("DEMO_X.xpt", demo), ("B12_X.xpt", lab)]:
        pyreadstat.write_xport(frame, str(tmp_path / name), file_format_version=5)
    stdout = io.StringIO()
    status = main(
        [
            "estimate",
            str(tmp_path / "DEMO_X.xpt"),
            str(tmp_path / "B12_X.xpt"),
            "--outcome",
            "LBXB12 < 200.54",
            "--by",
            "sex",
        ],
        stdout=stdout,
    )
    assert status == 0
    err = capsys.readouterr().err
    assert "merging 2 files on SEQN" in err
    assert "weight=WTMEC2YR, strata=SDMVSTRA, psu=SDMVPSU (recognised NHANES names)" in err
    assert_same(pd.read_csv(io.StringIO(stdout.getvalue())), reference(golden, ("sex",)))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--outcome", "serum_b12_pmol_l = 148"], "is not of the form"),
        (["--outcome", "serum_b12_pmol_l < 148", "--by", "region"], "Cannot group by 'region'"),
        (["--outcome", "serum_b12_pmol_l < 148", "--age-bands", "0-19,10-29"], "overlaps"),
        (["--outcome", "serum_b12_pmol_l < 148", "--weight", "WT"], "Column 'WT' (given for"),
        (["--outcome", "serum_b12_pmol_l < 148", "--map", "height=age"], "write ROLE=COLUMN"),
        (["--outcome", "holotc_pmol_l < 35"], "No column is mapped to Holotranscobalamin"),
    ],
)
def test_bad_arguments_exit_2_with_the_message(survey_csv, capsys, args, expected):
    assert main(["estimate", str(survey_csv), *args]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.csv", b"", "is empty"),
        ("bad.csv", b"age,serum_b12_pmol_l\n30,-4\n", "negative value"),
        ("bad.parquet", b"age\n30\n", "is not Parquet"),
    ],
)
def test_bad_files_exit_2_with_the_message(tmp_path, capsys, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["estimate", str(path), "--outcome", "serum_b12_pmol_l < 148"]) == 2
    errors = [e for e in capsys.readouterr().err.splitlines() if e.startswith("error: ")]
    assert any(expected in e for e in errors), errors


def test_missing_file_exits_2(tmp_path, capsys):
    status = main(["estimate", str(tmp_path / "nope.csv"), "--outcome", "x < 1"])
    assert status == 2
    assert "Cannot read" in capsys.readouterr().err


def test_usage_error_exits_2(capsys):
    assert main(["estimate"]) == 2
    err = capsys.readouterr().err
    # One line naming what is missing, and where to read the usage.
    assert err == ("error: the following arguments are required: FILE, --outcome "
                   "(see python -m dashboard estimate --help)\n")


def test_subprocess_run(tmp_path, survey_csv, golden):
    out = tmp_path / "r.csv"
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"age;serum_b12_pmol_l\n30,300\n")
    common = ["--outcome", "serum_b12_pmol_l < 148", "--by", "diet_group"]
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "dashboard",
            "estimate",
            str(survey_csv),
            *common,
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert_same(pd.read_csv(out), reference(golden, ("diet_group",)))
    failed = subprocess.run(
        [sys.executable, "-m", "dashboard", "estimate", str(bad), *common],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 2
    assert "wrong delimiter" in failed.stderr
    assert "Traceback" not in failed.stderr


# --- bad arguments: exit 2 with one line naming the argument -----------------------------------


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--level", "5"], "argument --level: '5' is not a confidence level"),
        (["--level", "0"], "argument --level: '0' is not a confidence level"),
        (["--level", "nan"], "argument --level: 'nan' is not a confidence level"),
        (["--level", "high"], "argument --level: 'high' is not a confidence level"),
        (["--out", "no/such/folder/x.csv"], "--out no/such/folder/x.csv: the folder "
                                             "'no/such/folder' does not exist."),
        (["--outcome", "serum_b12_pmol_l < 1e999"], "the cut-off 1e999 is beyond the range"),
        (["--merge-on"], "argument --merge-on: expected one argument"),
    ],
)
def test_bad_argument_exits_2_with_one_line(survey_csv, args, named):
    base = ["estimate", str(survey_csv)]
    if "--outcome" not in args:
        base += ["--outcome", "serum_b12_pmol_l < 148"]
    done = _run(*base, *args)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert named in errors[0]
    assert "Traceback" not in done.stderr
    assert "usage:" not in done.stderr


def test_broken_pipe_exits_quietly(survey_csv):
    # `| true`: the reader is gone before the results are written (as `| head` after its
    # lines), so the write meets a closed pipe.
    cmd = (f"{sys.executable} -m dashboard estimate {survey_csv} --outcome "
           "'serum_b12_pmol_l < 148' --by age_band,sex,diet_group | true; "
           "echo \" ${PIPESTATUS[0]}\"")
    big = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert "Traceback" not in big.stderr
    assert "BrokenPipeError" not in big.stderr
    assert big.stdout.split()[-1] == "141"


def test_broken_pipe_in_main_returns_141(survey_csv):
    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    status = main(["estimate", str(survey_csv), "--outcome", "serum_b12_pmol_l < 148"],
                  stdout=Closed())
    assert status == 141


def test_a_header_over_the_column_limit_names_its_real_width(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n" + "1," * 5 + "1\n")
    done = _run("estimate", str(path), "--outcome", "serum_b12_pmol_l < 148")
    assert done.returncode == 2
    assert "has 1,000,000 columns, over the limit of 500" in done.stderr
