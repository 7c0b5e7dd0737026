"""Tests of dashboard.build: pure helpers, built datasets against their sources, determinism."""

from __future__ import annotations

import csv
import json
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest

from dashboard import build, evidence, schema
from dashboard.build import (
    BuildError,
    Cutoff,
    UnconvertibleUnitError,
    age_label_for,
    assign_definition,
    check_cases,
    classify_method,
    convert_cutoff,
    derive_cases,
    normalize_diet_group,
    parse_data_years,
    wpp_display_name,
)

ROOT = Path(__file__).resolve().parent.parent

LITERATURE = schema.SOURCES_DIR / build.LITERATURE_CSV
DIET_SHARES = schema.SOURCES_DIR / build.DIET_SHARES_CSV


def read_csv_rows(path: Path, encoding: str = "utf-8", skip: int = 0) -> list[dict[str, str]]:
    """Rows of a CSV read with the standard library, independently of the build's pandas code."""
    with path.open(newline="", encoding=encoding) as f:
        for _ in range(skip):
            next(f)
        return list(csv.DictReader(f))


# --- Unit conversion -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("biomarker", "value", "unit", "expected"),
    [
        # 200 pg/mL x 0.738 = 147.6 pmol/L
        ("serum_b12", "200", "pg/mL", Cutoff(147.6, None, "pmol/L")),
        # 203 x 0.738 = 149.814
        ("serum_b12", "203", "pg/mL", Cutoff(149.814, None, "pmol/L")),
        ("serum_b12", "148", "pmol/L", Cutoff(148.0, None, "pmol/L")),
        # ranges are split; 200-300 pg/mL = 147.6-221.4 pmol/L
        ("serum_b12", "148-221", "pmol/L", Cutoff(148.0, 221.0, "pmol/L")),
        ("serum_b12", "200-300", "pg/mL", Cutoff(147.6, 221.4, "pmol/L")),
        ("holotc", "35", "pmol/L", Cutoff(35.0, None, "pmol/L")),
        # 271 nmol/L / 1000 = 0.271 umol/L
        ("mma", "271", "nmol/L", Cutoff(0.271, None, "umol/L")),
        ("mma", "250-320", "nmol/L", Cutoff(0.25, 0.32, "umol/L")),
        ("mma", "0.26", "umol/L", Cutoff(0.26, None, "umol/L")),
        ("tHcy", "15", "umol/L", Cutoff(15.0, None, "umol/L")),
        ("combined", "148", "pmol/L", Cutoff(148.0, None, "pmol/L")),
        # combined-indicator scores keep their scale; 4cB12 shares cB12's unit
        ("combined", "-0.5", "cB12 score", Cutoff(-0.5, None, "cB12 score")),
        ("combined", "-0.5", "4cB12 score", Cutoff(-0.5, None, "cB12 score")),
    ],
)
def test_convert_cutoff(biomarker: str, value: str, unit: str, expected: Cutoff) -> None:
    got = convert_cutoff(biomarker, value, unit)
    assert got.unit == expected.unit
    assert got.low == pytest.approx(expected.low)
    if expected.high is None:
        assert got.high is None
    else:
        assert got.high == pytest.approx(expected.high)


@pytest.mark.parametrize(
    ("biomarker", "value", "unit", "error", "match"),
    [
        ("mma", "4.0", "ug/mg creatinine", UnconvertibleUnitError, "ug/mg creatinine"),
        ("serum_b12", "148", "mg/dL", UnconvertibleUnitError, "mg/dL"),
        # pg/mL -> umol/L would need MMA's molar mass, which is not the cobalamin factor
        ("mma", "30", "pg/mL", UnconvertibleUnitError, "pg/mL"),
        ("serum_b12", "abc", "pmol/L", ValueError, "neither a number"),
        ("serum_b12", "221-148", "pmol/L", ValueError, "low end above"),
        ("vitamin_x", "1", "pmol/L", ValueError, "unknown biomarker"),
    ],
)
def test_convert_cutoff_rejects(
    biomarker: str, value: str, unit: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        convert_cutoff(biomarker, value, unit)


# --- Definition grouping -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("biomarker", "operator", "value", "unit", "expected"),
    [
        ("serum_b12", "<", "148", "pmol/L", "b12_lt148"),
        ("serum_b12", "<", "147", "pmol/L", "b12_lt148"),
        ("serum_b12", "<", "150", "pmol/L", "b12_lt148"),
        ("serum_b12", "<=", "150", "pmol/L", "b12_lt148"),
        ("serum_b12", "<", "200", "pg/mL", "b12_lt148"),  # 147.6 pmol/L
        ("serum_b12", "<", "203", "pg/mL", "b12_lt148"),  # 149.8 pmol/L
        ("serum_b12", "<", "160", "pg/mL", "b12_lt118"),  # 118.08 pmol/L
        ("serum_b12", "<", "118", "pmol/L", "b12_lt118"),
        ("serum_b12", "<", "185", "pmol/L", "b12_lt185"),
        ("serum_b12", "<", "221", "pmol/L", "b12_lt221"),
        ("serum_b12", "<=", "220", "pmol/L", "b12_lt221"),
        ("serum_b12", "<", "258", "pmol/L", "b12_lt258"),
        ("serum_b12", "between", "148-221", "pmol/L", "b12_148_221"),
        ("serum_b12", "between", "150-221", "pmol/L", "b12_148_221"),
        ("serum_b12", "between", "200-300", "pg/mL", "b12_148_221"),  # 147.6-221.4
        ("serum_b12", "between", "148-258", "pmol/L", "b12_148_258"),
        ("holotc", "<", "35", "pmol/L", "holotc_lt35"),
        ("mma", ">", "0.26", "umol/L", "mma_gt026"),
        ("mma", ">", "271", "nmol/L", "mma_gt026"),  # 0.271 umol/L
        ("mma", ">", "0.37", "umol/L", "mma_gt037"),
        ("combined", "<", "148", "pmol/L", "combined_lt148"),
        ("combined", "<", "-0.5", "cB12 score", "cb12_lt_neg05"),
        ("combined", "<", "-0.5", "4cB12 score", "cb12_lt_neg05"),
        # cut-offs matching no documented definition get generated ids
        ("serum_b12", "<", "179.0", "pmol/L", "b12_lt179"),
        ("serum_b12", "<", "150", "pg/mL", "b12_lt110p7"),  # 150 x 0.738 = 110.7
        ("serum_b12", "<", "186.3", "pg/mL", "b12_lt137p5"),  # 137.489 -> 4 digits
        ("serum_b12", "between", "222-300", "pmol/L", "b12_222_300"),
        ("holotc", "<", "40", "pmol/L", "holotc_lt40"),
        ("holotc", "<", "148", "pmol/L", "holotc_lt148"),  # B12 value, other marker
        ("mma", ">", "0.41", "umol/L", "mma_gt0p41"),
        ("mma", ">", "250-320", "nmol/L", "mma_gt0p25to0p32"),
        ("tHcy", ">", "15", "umol/L", "thcy_gt15"),
        ("tHcy", ">=", "12", "umol/L", "thcy_gt12"),
        ("tHcy", ">", "12.8", "umol/L", "thcy_gt12p8"),
        ("combined", "<", "-1.5", "cB12 score", "cb12_ltneg1p5"),
    ],
)
def test_assign_definition(
    biomarker: str, operator: str, value: str, unit: str, expected: str
) -> None:
    low, high, canonical = convert_cutoff(biomarker, value, unit)
    assert assign_definition(biomarker, operator, low, high, canonical) == expected


def test_generated_ids_never_shadow_documented_definitions() -> None:
    # 114 pmol/L is just outside b12_lt118's 115-121 tolerance
    got = assign_definition("serum_b12", "<", 114.0, None, "pmol/L")
    assert got == "b12_lt114"
    assert got not in schema.DEFINITIONS_BY_ID


@pytest.mark.parametrize(
    ("operator", "low"), [(None, 148.0), ("", 148.0), ("<", None)]
)
def test_assign_definition_without_cutoff_is_none(operator: str | None, low: float | None) -> None:
    assert assign_definition("serum_b12", operator, low, None, "pmol/L") is None


# --- Cases, ages, years --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "cases", "pct", "expected"),
    [
        (100, None, 4.0, (4, True)),  # 4.0 % x 100 = 4
        (226, None, 0.4, (1, True)),  # 0.4 % x 226 = 0.904 -> 1
        (25, None, 2.0, (1, True)),  # 2 % x 25 = 0.5 -> 1 (halves round up)
        (2, None, 12.5, (0, True)),  # 12.5 % x 2 = 0.25 -> 0
        (1000, None, 14.5, (145, True)),  # 14.5 % x 1000 = 145 exactly
        (30, None, 0.0, (0, True)),
        (49, 6, 12.2, (6, False)),  # reported count is kept
        (None, None, 4.0, (None, False)),  # no n: nothing to derive
        (100, None, None, (None, False)),
    ],
)
def test_derive_cases(
    n: int | None, cases: int | None, pct: float | None, expected: tuple[int | None, bool]
) -> None:
    assert derive_cases(n, cases, pct) == expected


@pytest.mark.parametrize(
    ("n", "cases", "pct", "published", "flagged"),
    [
        (12683, 3957, 33.0, "33", True),  # 3957/12683 = 31.2 % vs 33 %
        (340, 21, 5.25, "5.25", True),  # 21/340 = 6.18 % vs 5.25 %
        (8264, 2896, 35.0, "35.0", False),  # 35.04 % rounds to 35.0
        (90, 5, 5.5, "5.5", False),  # 5.56 % truncated to 5.5: within one unit of 0.1
        (74, 38, 51.3, "51.3", False),  # 51.35 %
        (31, 0, 0.0, "0", False),
    ],
)
def test_check_cases(n: int, cases: int, pct: float, published: str, flagged: bool) -> None:
    note = check_cases(n, cases, pct, published)
    assert (note is not None) == flagged
    if flagged:
        assert f"{cases}/{n}" in note
        assert "both are kept" in note


@pytest.mark.parametrize(
    ("age_min", "age_max", "label"),
    [
        (20, 59, "20-59"),
        (0, 0, "0"),
        (85, 108, "85-108"),
        (51, None, "51+"),
        (None, None, "unknown"),
        (None, 17, "up to 17"),
    ],
)
def test_age_label(age_min: int | None, age_max: int | None, label: str) -> None:
    # Bands are evidence.age_band_for's (tests/test_evidence.py).
    assert age_label_for(age_min, age_max) == label


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1991-1994", (1991, 1994)), ("2012", (2012, 2012)), ("", (None, None)), (None, (None, None))],
)
def test_parse_data_years(text: str | None, expected: tuple[int | None, int | None]) -> None:
    assert parse_data_years(text) == expected


@pytest.mark.parametrize("text", ["1990s", "2010-2008", "12-13"])
def test_parse_data_years_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="data_years"):
        parse_data_years(text)


# --- Diet shares helpers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("national health survey (New Zealand Health Survey 2018/19 and 2019/20)",
         "health or nutrition survey"),
        ("national survey (DHS-type household survey)", "health or nutrition survey"),
        ("national survey (NDNS interview)", "health or nutrition survey"),
        ("national monitoring survey (online, self-assessment)", "health or nutrition survey"),
        ("national statistical survey", "national survey"),
        ("national survey (home interviews)", "national survey"),
        ("self-report poll (telephone)", "poll or panel"),
        ("consumer survey (Roy Morgan Single Source)", "poll or panel"),
        ("industry community-sentiment survey", "poll or panel"),
    ],
)
def test_classify_method(method: str, expected: str) -> None:
    assert classify_method(method) == expected


def test_classify_method_rejects_unknown_wording() -> None:
    with pytest.raises(ValueError, match="matches no method class"):
        classify_method("tea-leaf reading")


@pytest.mark.parametrize(
    ("group", "notes", "expected"),
    [
        ("vegetarian", "... mutually exclusive categories in this source (vegetarian excludes "
         "vegans)", "vegetarian_excl_vegan"),
        ("vegetarian", "separate yes/no questions for vegetarian and vegan",
         "vegetarian_unspecified"),
        ("vegetarian", "", "vegetarian_unspecified"),
        ("vegetarian_incl_vegan", "", "vegetarian_incl_vegan"),
        ("vegan", "", "vegan"),
        ("pescatarian", "", "pescatarian"),
    ],
)
def test_normalize_diet_group(group: str, notes: str, expected: str) -> None:
    assert normalize_diet_group(group, notes) == expected


def test_normalize_diet_group_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown diet group"):
        normalize_diet_group("fruitarian", "")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("WORLD", "World"),
        ("LATIN AMERICA AND THE CARIBBEAN", "Latin America and the Caribbean"),
        ("NORTHERN AMERICA", "Northern America"),
        ("Western Europe", "Western Europe"),
    ],
)
def test_wpp_display_name(name: str, expected: str) -> None:
    assert wpp_display_name(name) == expected


# --- Bad literature rows give clear errors -------------------------------------------------

GEOGRAPHY = pd.DataFrame(
    {"location_code": [276], "iso3": ["DEU"], "region": ["Europe"], "subregion": ["Western Europe"]}
)
GOOD_ROW = {c: "" for c in build._LITERATURE_COLUMNS} | {
    "estimate_id": "x2020-01", "study_id": "x2020", "sample_frame": "community_sample",
    "pregnancy": "not_pregnant", "country_iso3": "DEU", "sex": "both", "diet_group": "vegan",
    "supplement_users": "unknown", "biomarker": "serum_b12", "cutoff_operator": "<",
    "cutoff_value": "148", "cutoff_unit": "pmol/L", "status": "deficient", "n": "50",
    "prevalence_pct": "10", "source_kind": "primary",
}


def test_build_studies_small_frame() -> None:
    df = build.build_studies(pd.DataFrame([GOOD_ROW]), GEOGRAPHY, Path("lit.csv"))
    row = df.iloc[0]
    # 10 % of 50 = 5 cases, derived
    assert (row["cases"], row["cases_derived"], row["prevalence"]) == (5, True, 0.10)
    assert (row["definition"], row["usable_for"], row["region"]) == (
        "b12_lt148", "pooling", "Europe"
    )
    assert pd.isna(row["reason"])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"sex": "x"}, "sex 'x' is not one of"),
        ({"diet_group": "keto"}, "diet_group 'keto'"),
        ({"n": "fifty"}, "'fifty' is not a whole number"),
        ({"cases": "60"}, "cases 60 is outside 0..n"),
        ({"prevalence_pct": "140"}, "prevalence_pct 140.0 is outside 0-100"),
        ({"country_iso3": "XXX"}, "'XXX' is not an ISO 3166-1"),
        ({"country_iso3": "FRA"}, "FRA is not a Country/Area in WPP"),
        ({"cutoff_unit": ""}, "must be given together"),
        ({"cutoff_operator": "~"}, "cutoff_operator '~'"),
        ({"cutoff_operator": "between"}, "is not a 'low-high' range"),
        ({"data_years": "recent"}, "data_years 'recent'"),
        ({"age_min": "60", "age_max": "20"}, "below age_min"),
    ],
)
def test_build_studies_rejects_bad_rows(change: dict[str, str], match: str) -> None:
    rows = [GOOD_ROW, GOOD_ROW | {"estimate_id": "x2020-02"} | change]
    with pytest.raises(BuildError, match=match) as info:
        build.build_studies(pd.DataFrame(rows), GEOGRAPHY, Path("lit.csv"))
    # the message names the file and the row (row 2 is line 3 of the CSV)
    assert "lit.csv" in str(info.value)
    assert "row 2 (line 3, x2020)" in str(info.value)


@pytest.mark.parametrize(
    ("change", "reason", "usable"),
    [
        ({"n": ""}, "no sample size reported", "display"),
        ({"cutoff_operator": "", "cutoff_value": "", "cutoff_unit": ""}, "no cut-off reported",
         "display"),
        ({"biomarker": "mma", "cutoff_operator": ">=", "cutoff_value": "4.0",
          "cutoff_unit": "ug/mg creatinine"},
         "cut-off in a unit that cannot be converted (ug/mg creatinine)", "display"),
        ({"prevalence_pct": "", "n": ""}, "no sample size reported; no prevalence or case "
         "count reported", "display"),
    ],
)
def test_build_studies_keeps_unusable_rows_with_reason(
    change: dict[str, str], reason: str, usable: str
) -> None:
    df = build.build_studies(pd.DataFrame([GOOD_ROW | change]), GEOGRAPHY, Path("lit.csv"))
    assert df["reason"].iloc[0] == reason
    assert df["usable_for"].iloc[0] == usable


def test_build_studies_derives_prevalence_from_cases() -> None:
    df = build.build_studies(
        pd.DataFrame([GOOD_ROW | {"prevalence_pct": "", "cases": "7"}]), GEOGRAPHY,
        Path("lit.csv"),
    )
    # 7 / 50 = 0.14, flagged as derived; the count is as reported
    row = df.iloc[0]
    assert row["prevalence"] == pytest.approx(0.14)
    assert (bool(row["prevalence_derived"]), bool(row["cases_derived"])) == (True, False)


# --- Merging pending extracted rows ----------------------------------------------------------

TABLE = pd.DataFrame([GOOD_ROW], columns=list(build._LITERATURE_COLUMNS))


def test_merge_pending_appends_in_the_table_column_order() -> None:
    new = GOOD_ROW | {"estimate_id": "y2021-01", "study_id": "y2021", "n": "80"}
    pending = pd.DataFrame([new])[list(reversed(build._LITERATURE_COLUMNS))]
    merged = build.merge_pending(TABLE, pending)
    assert list(merged.columns) == list(build._LITERATURE_COLUMNS)
    assert merged["estimate_id"].tolist() == ["x2020-01", "y2021-01"]
    assert merged["n"].tolist() == ["50", "80"]


@pytest.mark.parametrize(
    ("pending", "match"),
    [
        ([GOOD_ROW], r"already in the evidence table \['x2020-01'\]"),
        ([GOOD_ROW | {"estimate_id": "y-01"}, GOOD_ROW | {"estimate_id": "y-01"}],
         r"repeated in the file \['y-01'\]"),
        ([GOOD_ROW | {"estimate_id": " "}], r"empty estimate_id in rows \[1\]"),
    ],
)
def test_merge_pending_rejects_reused_ids(pending: list[dict], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build.merge_pending(TABLE, pd.DataFrame(pending))


def test_merge_pending_rejects_other_columns() -> None:
    row = {k: v for k, v in GOOD_ROW.items() if k != "source_kind"} | {
        "estimate_id": "y-01", "comment": "x"}
    with pytest.raises(ValueError, match="missing columns") as info:
        build.merge_pending(TABLE, pd.DataFrame([row]))
    assert "missing columns ['source_kind']" in str(info.value)
    assert "columns not in the evidence table ['comment']" in str(info.value)


def _write_rows(path: Path, rows: list[dict]) -> None:
    pd.DataFrame(rows, columns=list(build._LITERATURE_COLUMNS)).to_csv(
        path, index=False, lineterminator="\n")


def test_merge_pending_file_appends_checked_rows(tmp_path: Path) -> None:
    table, pending = tmp_path / "table.csv", tmp_path / "pending.csv"
    _write_rows(table, [GOOD_ROW | {"notes": "a, b"}])
    _write_rows(pending, [GOOD_ROW | {"estimate_id": "x2020-02", "sex": "female", "n": "20"},
                          GOOD_ROW | {"estimate_id": "x2020-03", "sex": "male", "n": "30"}])
    assert build.merge_pending_file(pending, table, geography=GEOGRAPHY) == 2
    text = table.read_bytes().decode()
    lines = text.split("\r\n")
    assert len(lines) == 5  # header, 3 rows, and the CRLF after the last
    assert lines[-1] == ""
    assert lines[1].startswith("x2020-01,")
    assert '"a, b"' in lines[1]
    assert lines[3].startswith("x2020-03,")
    merged = pd.read_csv(table, dtype=str, keep_default_na=False)
    assert merged["n"].tolist() == ["50", "20", "30"]
    # the same file again: its ids are now taken, nothing changes
    with pytest.raises(BuildError, match="already in the evidence table"):
        build.merge_pending_file(pending, table, geography=GEOGRAPHY)
    assert table.read_bytes().decode() == text


def test_merge_pending_file_runs_the_build_checks(tmp_path: Path) -> None:
    table, pending = tmp_path / "table.csv", tmp_path / "pending.csv"
    _write_rows(table, [GOOD_ROW])
    before = table.read_bytes()
    _write_rows(pending, [GOOD_ROW | {"estimate_id": "x2020-02", "source_kind": "tertiary"}])
    with pytest.raises(BuildError, match=r"row 2 .*source_kind 'tertiary' is not one of"):
        build.merge_pending_file(pending, table, geography=GEOGRAPHY)
    assert table.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pending.csv", "table.csv"]


def test_merge_pending_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert build.main(["--merge-pending"]) == 2
    assert "usage" in capsys.readouterr().err
    shipped = LITERATURE.read_bytes()
    taken = read_csv_rows(LITERATURE)[0]
    pending = tmp_path / "pending.csv"
    pd.DataFrame([taken]).to_csv(pending, index=False)
    assert build.main(["--merge-pending", str(pending)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("merge failed: ")
    assert taken["estimate_id"] in err
    assert LITERATURE.read_bytes() == shipped


# --- Built studies against the source ------------------------------------------------------


@pytest.fixture(scope="module")
def studies(built_data_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(built_data_dir / "studies.parquet")


@pytest.fixture(scope="module")
def literature_rows() -> list[dict[str, str]]:
    return read_csv_rows(LITERATURE)


def test_studies_keep_every_source_row_in_order(
    studies: pd.DataFrame, literature_rows: list[dict[str, str]]
) -> None:
    assert len(studies) == len(literature_rows)
    assert studies["row_id"].tolist() == list(range(1, len(literature_rows) + 1))
    assert studies["study_id"].tolist() == [r["study_id"] for r in literature_rows]


def test_studies_columns_and_types(studies: pd.DataFrame) -> None:
    assert list(studies.columns) == list(schema.STUDIES_COLUMNS)
    assert list(studies["diet_group"].cat.categories) == list(schema.STUDY_DIET_GROUPS)
    assert studies["diet_group"].cat.ordered
    assert list(studies["age_band"].cat.categories) == list(schema.STUDY_AGE_BANDS)
    for col in ("year", "n", "cases", "age_min", "age_max", "year_start", "year_end"):
        assert str(studies[col].dtype) == "Int64", col


def test_every_study_row_has_a_definition_or_a_reason(studies: pd.DataFrame) -> None:
    assert (studies["definition"].notna() | studies["reason"].notna()).all()
    pooling = studies["usable_for"] == "pooling"
    complete = studies["definition"].notna() & studies["n"].notna() & studies["cases"].notna()
    excluded = studies["exclude_reason"].notna()
    assert (pooling == (complete & ~excluded)).all()
    # an exclude_reason keeps a complete row out: the merged trial and symptom-selected rows
    assert (complete & excluded).sum() >= 3
    assert studies.loc[pooling, "reason"].isna().all()
    assert studies.loc[~pooling, "reason"].notna().all()


def test_study_cases_and_prevalence_follow_the_source(
    studies: pd.DataFrame, literature_rows: list[dict[str, str]]
) -> None:
    for src, (_, row) in zip(literature_rows, studies.iterrows(), strict=True):
        if src["prevalence_pct"]:
            assert row["prevalence"] == pytest.approx(float(src["prevalence_pct"]) / 100)
        if src["cases"]:
            assert (row["cases"], row["cases_derived"]) == (int(src["cases"]), False)
        elif src["n"] and src["prevalence_pct"]:
            expected = (Decimal(src["prevalence_pct"]) * int(src["n"]) / 100).quantize(
                Decimal(1), rounding=ROUND_HALF_UP
            )
            assert (row["cases"], row["cases_derived"]) == (int(expected), True)
        else:
            assert pd.isna(row["cases"])
            assert not row["cases_derived"]


def test_readme_data_checks_match_the_data(studies: pd.DataFrame) -> None:
    readme = (schema.DATA_DIR / "README.md").read_text()
    block = readme.split("<!-- checks:start -->\n")[1].split("<!-- checks:end -->")[0]
    assert block == evidence.checks_markdown(studies), (
        "data/README.md is out of date: paste `python -m dashboard.build --checks`"
    )


def test_readme_definitions_table_matches_the_data(studies: pd.DataFrame) -> None:
    readme = (schema.DATA_DIR / "README.md").read_text()
    block = readme.split("<!-- definitions:start -->\n")[1].split("<!-- definitions:end -->")[0]
    assert block == build.definitions_table(studies), (
        "data/README.md is out of date: paste `python -m dashboard.build --definitions`"
    )
    for definition in studies["definition"].dropna().unique():
        assert f"| `{definition}` |" in block
    for d in schema.DEFINITIONS:
        assert f"| `{d.id}` | {d.label} |" in block


@pytest.mark.parametrize("dataset", schema.DATASETS)
def test_readme_documents_every_column(dataset: str) -> None:
    readme = (schema.DATA_DIR / "README.md").read_text()
    section = readme.split(f"## `{dataset}.parquet`")[1].split("\n## ")[0]
    for column in schema.DATASET_COLUMNS[dataset]:
        assert f"`{column}`" in section, (dataset, column)


@pytest.mark.parametrize(
    ("iso3", "name", "region", "subregion"),
    [
        ("DEU", "Germany", "Europe", "Western Europe"),
        ("USA", "United States", "Northern America", "Northern America"),
        ("TWN", "Taiwan, Province of China", "Asia", "Eastern Asia"),
        ("BRA", "Brazil", "Latin America and the Caribbean", "South America"),
        ("MULTI", "Multi-country", None, None),
    ],
)
def test_study_geography(
    studies: pd.DataFrame, iso3: str, name: str, region: str | None, subregion: str | None
) -> None:
    rows = studies[studies["country_iso3"] == iso3]
    assert len(rows) > 0
    assert set(rows["country_name"]) == {name}
    if region is None:
        assert rows["region"].isna().all()
        assert rows["subregion"].isna().all()
    else:
        assert set(rows["region"]) == {region}
        assert set(rows["subregion"]) == {subregion}


def test_study_links(studies: pd.DataFrame) -> None:
    with_doi = studies[studies["doi"].notna()]
    assert (with_doi["doi_url"] == "https://doi.org/" + with_doi["doi"]).all()
    assert studies.loc[studies["doi"].isna(), "doi_url"].isna().all()
    with_pmid = studies[studies["pmid"].notna()]
    assert (
        with_pmid["pmid_url"] == "https://pubmed.ncbi.nlm.nih.gov/" + with_pmid["pmid"] + "/"
    ).all()


def test_urinary_mma_row_is_kept_for_display(studies: pd.DataFrame) -> None:
    row = studies[studies["cutoff_unit"] == "ug/mg creatinine"].iloc[0]
    assert pd.isna(row["definition"])
    assert row["usable_for"] == "display"
    assert row["reason"] == "cut-off in a unit that cannot be converted (ug/mg creatinine)"


# --- Population against WPP ----------------------------------------------------------------


@pytest.fixture(scope="module")
def population(built_data_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(built_data_dir / "population.parquet")


def wpp_totals() -> dict[tuple[int, int], float]:
    """Persons per (location code, year) summed straight from the WPP CSVs."""
    first, last = schema.POPULATION_YEARS
    ages = [b[0] for b in schema.WPP_AGE_BANDS]
    totals: dict[tuple[int, int], float] = {}
    for variant, path in build.wpp_paths().items():
        for row in read_csv_rows(path, encoding="latin-1", skip=16):
            if row["Type"] == "Label/Separator":
                continue
            year = int(row["Year"])
            in_range = year <= 2021 if variant == "estimate" else year >= 2022
            if not (first <= year <= last and in_range):
                continue
            thousands = sum(int(row[a].replace(" ", "")) for a in ages)
            totals[(int(row["Location code"]), year)] = thousands * 1000.0
    return totals


def test_population_totals_equal_wpp_sums(population: pd.DataFrame) -> None:
    built = population.groupby(["location_code", "year"])["population"].sum()
    expected = wpp_totals()
    assert len(built) == len(expected)
    for key, value in expected.items():
        assert built[key] == value, key


def test_population_coverage(population: pd.DataFrame) -> None:
    countries = population[(population["location_type"] == "Country/Area")
                           & population["iso3"].notna()]
    assert countries["iso3"].nunique() >= 200
    years = set(range(1990, 2051))
    per_location = population.groupby("location_code", observed=True)["year"].agg(set)
    assert all(s == years for s in per_location)
    assert {"World", "Region", "Subregion"} <= set(population["location_type"])
    assert "Label/Separator" not in set(population["location_type"])
    variant = population.drop_duplicates("year").set_index("year")["variant"]
    assert set(variant.loc[1990:2021]) == {"estimate"}
    assert set(variant.loc[2022:]) == {"medium"}
    assert list(population["age_band"].cat.categories) == [b[0] for b in schema.WPP_AGE_BANDS]
    bands_per_row = population.groupby(["location_code", "year"]).size()
    assert (bands_per_row == len(schema.WPP_AGE_BANDS)).all()


def test_population_geography(population: pd.DataFrame) -> None:
    deu = population[population["iso3"] == "DEU"].iloc[0]
    assert (deu["location"], deu["region"], deu["subregion"]) == (
        "Germany", "Europe", "Western Europe"
    )
    world = population[population["location_type"] == "World"]
    assert set(world["location"]) == {"World"}
    assert world["iso3"].isna().all()
    countries = population[population["location_type"] == "Country/Area"]
    assert countries["region"].notna().all()
    assert countries["subregion"].notna().all()
    assert population.loc[population["age_band"] == "100+", "age_max"].isna().all()


# --- Reference tables ----------------------------------------------------------------------


def test_standard_populations(built_data_dir: Path) -> None:
    std = pd.read_parquet(built_data_dir / "standard_populations.parquet")
    assert len(std) == len(read_csv_rows(schema.SOURCES_DIR / build.STANDARDS_CSV))
    shares = std.groupby("standard", observed=True)["weight_share"].sum()
    assert shares.to_numpy() == pytest.approx([1.0] * 4)
    who = std[std["standard"] == "who_2000_2025"]
    # published percentages x 1000 add to 100,035 (reference README)
    assert who["weight"].sum() == pytest.approx(100_035)
    assert who["weight_share"].iloc[0] == pytest.approx(8860 / 100_035)
    assert set(std.loc[std["age_max"].isna(), "age_band"]) == {"100+", "95+", "85+"}


def test_diet_shares(built_data_dir: Path) -> None:
    shares = pd.read_parquet(built_data_dir / "diet_shares.parquet")
    source = read_csv_rows(DIET_SHARES)
    assert len(shares) == len(source)
    assert shares["share"].to_numpy() == pytest.approx([float(r["share_pct"]) / 100
                                                       for r in source])
    assert shares["diet_group_reported"].tolist() == [r["diet_group"] for r in source]
    veg = shares[shares["diet_group_reported"] == "vegetarian"]
    exclusive = veg["notes"].fillna("").str.contains("mutually exclusive")
    assert (veg.loc[exclusive, "diet_group"] == "vegetarian_excl_vegan").all()
    assert (veg.loc[~exclusive, "diet_group"] == "vegetarian_unspecified").all()
    assert set(shares["method_class"]) == set(schema.METHOD_CLASSES)


# --- Determinism and atomicity -------------------------------------------------------------


def test_two_builds_give_identical_bytes(built_data_dir: Path, tmp_path: Path) -> None:
    manifest = build.build(out_dir=tmp_path)
    for out in manifest["outputs"]:
        first = build.sha256_file(built_data_dir / out["file"])
        assert build.sha256_file(tmp_path / out["file"]) == first == out["sha256"]
    assert (tmp_path / "manifest.json").read_bytes() == (
        built_data_dir / "manifest.json"
    ).read_bytes()
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["schema_version"] == schema.SCHEMA_VERSION
    assert {i["path"].rsplit("/", 1)[-1] for i in on_disk["inputs"]} >= set(
        build.WPP_FILES.values()
    )


def test_failed_build_leaves_previous_datasets_untouched(
    built_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data"
    shutil.copytree(built_data_dir, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_write = build._write_parquet
    calls = []

    def failing_write(df: pd.DataFrame, path: Path) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        real_write(df, path)

    monkeypatch.setattr(build, "_write_parquet", failing_write)
    with pytest.raises(OSError, match="disk full"):
        build.build(out_dir=out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_bad_source_fails_before_writing(built_data_dir: Path, tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    shutil.copytree(schema.SOURCES_DIR, sources, copy_function=shutil.copyfile)
    for folder in (sources, *[p for p in sources.rglob("*") if p.is_dir()]):
        folder.chmod(0o755)  # the project's source folders are read-only
    lit = sources / build.LITERATURE_CSV
    lit.write_text(lit.read_text().replace(",both,", ",everyone,", 1))
    out = tmp_path / "data"
    with pytest.raises(BuildError, match=r"b12_prevalence_studies\.csv: row 1 .*sex 'everyone'"):
        build.build(out_dir=out, sources_dir=sources)
    assert not out.exists() or not any(out.iterdir())


# --- temporary files of killed builds ----------------------------------------------------------


def _finished_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_build_removes_temporaries_of_dead_builds_only(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = tmp_path / f".tmp-{_finished_pid()}-studies.parquet"
    dead.write_bytes(b"half a file")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        running = tmp_path / f".tmp-{alive.pid}-studies.parquet"
        running.write_bytes(b"being written")
        try:
            assert build.remove_stale_temporaries(tmp_path) == [dead]
        finally:
            alive.kill()
    assert not dead.exists()
    assert running.exists()


SLOW_BUILD = """
import sys, time
from pathlib import Path
from dashboard import build
write = build._write_parquet
def slow(df, path):
    write(df, path)
    print("written", flush=True)
    time.sleep(60)
build._write_parquet = slow
import signal
signal.signal(signal.SIGTERM, build._exit_on_sigterm)
build.build(out_dir=Path(sys.argv[1]))
"""


def test_sigterm_during_the_write_phase_leaves_no_temporary_file(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    out = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
        assert list(out.glob(".tmp-*"))  # the first dataset sits under its temporary name
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        proc.kill()
    assert list(out.glob(".tmp-*")) == []
    assert not (out / schema.MANIFEST_NAME).exists()
