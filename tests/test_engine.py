"""dashboard.engine: cell sums out of core give the in-memory estimates; clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dashboard import engine, schema, stats
from dashboard.ingest import cut_age_bands

GOLDEN = Path(__file__).parent / "golden"
DESIGN = {"weight": "weight", "strata": "stratum", "psu": "psu"}
# The in-memory and the out-of-core path add the same numbers in a different order.
TOL = 1e-12
STD_WEIGHTS = {"0-19": 0.30, "20-39": 0.30, "40-59": 0.22, "60-79": 0.14, "80+": 0.04}
LARGE_ROWS = 5_000_000


def assert_same_estimates(result: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same domains in the same order, same n, df and flags; values to 1e-12 relative."""
    assert list(result.columns) == list(expected.columns)
    assert len(result) == len(expected)
    for column in result.columns:
        got, want = result[column].to_numpy(), expected[column].to_numpy()
        if column in stats.SURVEY_COLUMNS and column not in ("reliability", "n"):
            np.testing.assert_allclose(got.astype(float), want.astype(float), rtol=TOL, atol=0)
        else:
            assert [str(v) for v in got] == [str(v) for v in want], column
    assert result.attrs == expected.attrs


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    """The golden microdata (missing B12 kept) in memory, and as a Parquet file."""
    frame = pd.read_csv(GOLDEN / "survey_microdata.csv")
    frame["deficient"] = (frame["serum_b12_pmol_l"] < 148).astype(float)
    frame.loc[frame["serum_b12_pmol_l"].isna(), "deficient"] = np.nan
    path = tmp_path_factory.mktemp("golden") / "micro.parquet"
    frame.to_parquet(path, index=False)
    frame["age_band"] = cut_age_bands(frame["age"])
    frame.loc[frame["age_band"] == "unknown", "age_band"] = np.nan
    return frame, path


def age_bands_ordered(cells: pd.DataFrame) -> pd.DataFrame:
    """Engine bands are text; in memory they are the categorical of cut_age_bands."""
    if "age" in cells:
        labels = [*schema.AGE_BAND_LABELS, "unknown"]
        cells = cells.rename(columns={"age": "age_band"})
        cells["age_band"] = pd.Categorical(cells["age_band"], categories=labels)
    return cells


# (by, design, standardize, ci): every domain and age-standardised case survey_prevalence has.
GOLDEN_CASES = [
    ((), DESIGN, False, "korn-graubard"),
    (("diet_group",), DESIGN, False, "korn-graubard"),
    (("age_band", "diet_group"), DESIGN, False, "korn-graubard"),
    (("age_band", "diet_group"), DESIGN, False, "beta"),
    (("age_band", "diet_group"), DESIGN, False, "logit"),
    (("diet_group", "sex"), {"weight": "weight", "strata": "stratum"}, False, "korn-graubard"),
    (("sex",), {"weight": "weight", "psu": "psu"}, False, "korn-graubard"),
    (("diet_group",), {"weight": "weight"}, False, "korn-graubard"),
    (("diet_group",), {}, False, "korn-graubard"),
    (("diet_group",), DESIGN, True, "korn-graubard"),
    ((), DESIGN, True, "korn-graubard"),
    (("sex",), {"weight": "weight", "strata": "stratum"}, True, "korn-graubard"),
]


def check_golden_case(golden, by, design, standardized, ci, engine_name="duckdb") -> None:
    """The engine's cells of the golden Parquet give survey_prevalence's estimates."""
    frame, path = golden
    standardize = ("age_band", STD_WEIGHTS) if standardized else None
    expected = stats.survey_prevalence(
        frame, "deficient", by=by, ci=ci, standardize=standardize, **design
    )
    groups = [engine.AgeBands("age", schema.AGE_BANDS) if b == "age_band" else b for b in by]
    if standardized:
        groups.append(engine.AgeBands("age", schema.AGE_BANDS))
    cells = age_bands_ordered(
        engine.load_cells(path, "deficient", by=groups, engine=engine_name, **design)
    )
    if "age_band" in cells:
        # In memory, an age in no band is missing (in no domain); so here.
        cells["age_band"] = cells["age_band"].cat.remove_categories("unknown")
    result = stats.survey_prevalence_from_cells(
        cells,
        by=by,
        strata=design.get("strata"),
        psu=design.get("psu"),
        ci=ci,
        standardize=standardize,
    )
    assert_same_estimates(result, expected)


@pytest.mark.parametrize(("by", "design", "standardized", "ci"), GOLDEN_CASES)
def test_golden_microdata_matches_in_memory(golden, by, design, standardized, ci):
    check_golden_case(golden, by, design, standardized, ci)


def test_outcome_computed_by_the_engine(golden):
    # 'serum_b12_pmol_l < 148' evaluated per row; rows without a value leave the design.
    frame, path = golden
    expected = stats.survey_prevalence(frame, "deficient", by="diet_group", **DESIGN)
    outcome = engine.Compare("serum_b12_pmol_l", "<", 148.0)
    cells = engine.load_cells(path, outcome, by=["diet_group"], **DESIGN)
    assert cells.attrs["dropped_missing_outcome"] == frame["deficient"].isna().sum() > 0
    result = stats.survey_prevalence_from_cells(cells, by="diet_group", strata="stratum",
                                                psu="psu")
    assert_same_estimates(result, expected)


def test_cells_equal_the_in_memory_cells(golden):
    frame, path = golden
    keys = ["diet_group", "stratum", "psu"]
    memory = stats.survey_cells(frame, "deficient", by=["diet_group"], **DESIGN)
    out = engine.load_cells(path, "deficient", by=["diet_group"], **DESIGN)
    memory = memory.astype({k: str for k in keys}).sort_values(keys).reset_index(drop=True)
    out = out.astype({k: str for k in keys}).sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(out, memory, check_exact=False, rtol=TOL, check_dtype=False)
    assert out.attrs == memory.attrs


def test_cells_of_shards_add_up(golden, tmp_path):
    # Sums are additive: two halves in a folder give the estimates of the whole file.
    frame, path = golden
    table = pq.read_table(path)
    (tmp_path / "part").mkdir()
    pq.write_table(table.slice(0, 2500), tmp_path / "part" / "a.parquet")
    pq.write_table(table.slice(2500), tmp_path / "part" / "b.parquet")
    halves = [
        engine.load_cells(tmp_path / "part" / f"{p}.parquet", "deficient", by=["sex"], **DESIGN)
        for p in "ab"
    ]
    stacked = pd.concat(halves, ignore_index=True)
    stacked.attrs["dropped_missing_outcome"] = sum(
        h.attrs["dropped_missing_outcome"] for h in halves
    )
    folder = engine.load_cells(tmp_path / "part", "deficient", by=["sex"], **DESIGN)
    glob = engine.load_cells(str(tmp_path / "part" / "*.parquet"), "deficient", by=["sex"],
                             **DESIGN)
    expected = stats.survey_prevalence(frame, "deficient", by="sex", **DESIGN)
    for cells in (stacked, folder, glob):
        result = stats.survey_prevalence_from_cells(cells, by="sex", strata="stratum", psu="psu")
        assert_same_estimates(result, expected)


def write_large(path: Path, rows: int, seed: int = 20240516) -> None:
    """NHANES-like rows with a fixed seed, written in row groups (as a registry export)."""
    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, rows, 1_000_000):
        k = min(1_000_000, rows - start)
        diet = rng.choice(4, size=k, p=[0.85, 0.05, 0.07, 0.03])
        age = rng.integers(0, 95, size=k).astype(float)
        risk = np.array([0.04, 0.08, 0.22, 0.60])[diet] * (1 + age / 100)
        table = pa.table(
            {
                "age": age,
                "diet_group": pa.array(np.array(schema.DIET_GROUPS)[diet]).dictionary_encode(),
                "stratum": rng.integers(1, 31, size=k).astype(np.int16),
                "psu": rng.integers(1, 3, size=k).astype(np.int8),
                "weight": rng.lognormal(9.0, 0.6, size=k),
                "deficient": (rng.random(k) < risk).astype(np.int8),
            }
        )
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=250_000)
    writer.close()


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("large") / "registry.parquet"
    write_large(path, LARGE_ROWS)
    return path


@pytest.mark.parametrize("standardized", [False, True])
def test_five_million_rows_match_in_memory(large, standardized):
    frame = pd.read_parquet(large)
    # Parquet dictionaries keep the order of first appearance; the engine's text sorts.
    frame["diet_group"] = frame["diet_group"].astype(str)
    frame["age_band"] = cut_age_bands(frame["age"]).cat.remove_categories("unknown")
    by = ("diet_group",) if standardized else ("age_band", "diet_group")
    standardize = ("age_band", STD_WEIGHTS) if standardized else None
    expected = stats.survey_prevalence(
        frame, "deficient", by=by, standardize=standardize, **DESIGN
    )
    del frame
    bands = engine.AgeBands("age", schema.AGE_BANDS)
    groups = ["diet_group", bands] if standardized else [bands, "diet_group"]
    cells = age_bands_ordered(
        engine.load_cells(large, "deficient", by=groups, memory_limit="500MB", threads=2,
                          **DESIGN)
    )
    cells["age_band"] = cells["age_band"].cat.remove_categories("unknown")
    result = stats.survey_prevalence_from_cells(
        cells, by=by, strata="stratum", psu="psu", standardize=standardize
    )
    assert len(result) == (4 if standardized else 20)
    assert_same_estimates(result, expected)


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": "nowhere/micro.parquet"}, "no such file or folder: 'nowhere/micro.parquet'"),
        ({"source": "nowhere/*.parquet"}, "no file matches 'nowhere/*.parquet'"),
        ({"by": ["diet"]}, "column(s) 'diet' (group) not in"),
        ({"weight": "wt"}, "column(s) 'wt' (weight) not in"),
        ({"outcome": "sex"}, "column 'sex' (outcome) must be numeric"),
        ({"outcome": "age"}, "outcome column 'age' must hold 0/1"),
        ({"memory_limit": "lots"}, "memory limit 'lots' is not a size such as '1GB'"),
        ({"memory_limit": "0GB"}, "memory limit '0GB' must be more than zero"),
        ({"threads": 0}, "threads must be a positive whole number"),
        ({"engine": "polars"}, "unknown engine 'polars': use one of duckdb, spark"),
        ({"outcome": engine.Compare("age", "==", 1.0)}, "outcome operator '==' is not one of"),
    ],
)
def test_errors_name_the_problem(golden, change, message):
    _, path = golden
    args = {"source": path, "outcome": "deficient", "by": ["diet_group"], **DESIGN, **change}
    with pytest.raises(engine.EngineError) as err:
        engine.load_cells(**args)
    assert message in str(err.value)


def test_empty_folder_and_bad_weights_are_named(tmp_path):
    with pytest.raises(engine.EngineError, match="holds no \\*.parquet file"):
        engine.load_cells(tmp_path, "y")
    pd.DataFrame({"y": [0, 1, 1], "w": [1.0, 0.0, 2.0]}).to_parquet(tmp_path / "a.parquet")
    with pytest.raises(engine.EngineError, match="weight column 'w' must hold positive"):
        engine.load_cells(tmp_path, "y", weight="w")
    pd.DataFrame({"y": [0, 1, 1], "w": [1.0, None, 2.0]}).to_parquet(tmp_path / "a.parquet")
    with pytest.raises(engine.EngineError, match="weight column 'w' is missing in 1 rows"):
        engine.load_cells(tmp_path, "y", weight="w")


def test_missing_outcome_rows_need_no_weight(tmp_path):
    # As NHANES: people outside the laboratory subsample have weight 0 and no value.
    frame = pd.DataFrame({"b12": [100.0, 300.0, None, 90.0], "w": [1.0, 2.0, 0.0, 1.0]})
    frame.to_parquet(tmp_path / "a.parquet")
    cells = engine.load_cells(tmp_path / "a.parquet", engine.Compare("b12", "<", 148), weight="w")
    # 2 of 3 low, weights 1 + 1 of 4 -> 0.5
    result = stats.survey_prevalence_from_cells(cells)
    assert result["estimate"].item() == 0.5
    assert result.attrs["dropped_missing_outcome"] == 1


# --- the command line --------------------------------------------------------------------------


def run_cli(args: list[str], tmp_path: Path) -> pd.DataFrame:
    from dashboard.__main__ import main

    out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}.csv"
    assert main(["estimate", *args, "--out", str(out)]) == 0
    return pd.read_csv(out)


@pytest.mark.parametrize(
    "options",
    [
        ["--by", "age_band,diet_group"],
        ["--by", "sex", "--age-bands", "0-39,40+"],
        ["--by", "age_band", "--age-bands", "20-59,60+", "--no-design"],
        [],
    ],
)
def test_cli_duckdb_writes_the_in_memory_results(golden, tmp_path, options):
    _, parquet = golden
    csv = tmp_path / "survey.csv"
    csv.write_bytes((GOLDEN / "survey_microdata.csv").read_bytes())
    outcome = ["--outcome", "serum_b12_pmol_l < 148"]
    expected = run_cli([str(csv), *outcome, *options], tmp_path)
    # The folder and a glob of it, as a registry export would come.
    (tmp_path / "shards").mkdir()
    table = pq.read_table(parquet)
    pq.write_table(table.slice(0, 3000), tmp_path / "shards" / "a.parquet")
    pq.write_table(table.slice(3000), tmp_path / "shards" / "b.parquet")
    for source in (str(parquet), str(tmp_path / "shards"), str(tmp_path / "shards" / "*.parquet")):
        written = run_cli([source, *outcome, *options, "--engine", "duckdb"], tmp_path)
        assert list(written.columns) == list(expected.columns)
        for column in written.columns:
            if column in ("estimate", "se", "ci_low", "ci_high", "df"):
                np.testing.assert_allclose(written[column], expected[column], rtol=TOL)
            else:
                assert written[column].tolist() == expected[column].tolist()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["nowhere.parquet"], "error: no such file or folder: 'nowhere.parquet'\n"),
        (["{path}", "--memory-limit", "lots"], "error: --memory-limit: memory limit 'lots' is"),
        (["{path}", "--merge-on", "SEQN"], "error: --merge-on cannot be used with --engine"),
        (["{path}", "--weight", "wt"], "error: Column 'wt' (given for weight) is not in"),
        (["{path}", "--by", "region"], "error: Cannot group by 'region'"),
    ],
)
def test_cli_duckdb_bad_arguments_exit_2_with_one_line(golden, capsys, options, message):
    from dashboard.__main__ import main

    _, path = golden
    args = [o.format(path=path) for o in options]
    status = main(["estimate", *args, "--outcome", "serum_b12_pmol_l < 148", "--engine", "duckdb"])
    err = capsys.readouterr().err
    assert status == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert message.strip() in err
