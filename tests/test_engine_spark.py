"""--engine spark: the same cell sums in Spark local mode (`make test-spark`, not `make test`).

Needs PySpark (requirements-spark.txt) and a Java runtime; skipped where PySpark is absent.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dashboard import engine, schema, stats
from dashboard.ingest import cut_age_bands
from tests.test_engine import (
    DESIGN,
    GOLDEN_CASES,
    age_bands_ordered,
    assert_same_estimates,
    check_golden_case,
    golden,  # noqa: F401 - a fixture
    run_cli,
    write_large,
)

pytest.importorskip("pyspark")
pytestmark = pytest.mark.spark
SHARDS = 5
SHARD_ROWS = 1_000_000  # 5M rows in the folder


@pytest.fixture(scope="module", autouse=True)
def spark():
    session = engine.spark_session(threads=2)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.mark.parametrize(("by", "design", "standardized", "ci"), GOLDEN_CASES)
def test_golden_microdata_matches_in_memory(golden, by, design, standardized, ci):  # noqa: F811
    check_golden_case(golden, by, design, standardized, ci, engine_name="spark")


def test_five_million_row_folder_matches_in_memory(tmp_path_factory):
    folder = tmp_path_factory.mktemp("registry")
    for i in range(SHARDS):
        write_large(folder / f"part-{i:03d}.parquet", SHARD_ROWS, seed=20240516 + i)
    frame = pd.read_parquet(folder)
    frame["diet_group"] = frame["diet_group"].astype(str)
    frame["age_band"] = cut_age_bands(frame["age"]).cat.remove_categories("unknown")
    by = ("age_band", "diet_group")
    expected = stats.survey_prevalence(frame, "deficient", by=by, **DESIGN)
    del frame
    groups = [engine.AgeBands("age", schema.AGE_BANDS), "diet_group"]
    for name in engine.ENGINES:
        cells = age_bands_ordered(
            engine.load_cells(folder, "deficient", by=groups, engine=name, **DESIGN)
        )
        cells["age_band"] = cells["age_band"].cat.remove_categories("unknown")
        result = stats.survey_prevalence_from_cells(cells, by=by, strata="stratum", psu="psu")
        assert len(result) == 20
        assert_same_estimates(result, expected)


def test_cli_spark_writes_the_duckdb_results(golden, tmp_path):  # noqa: F811
    _, parquet = golden
    args = [str(parquet), "--outcome", "serum_b12_pmol_l < 148", "--by", "age_band,sex"]
    duck = run_cli([*args, "--engine", "duckdb"], tmp_path)
    spark = run_cli([*args, "--engine", "spark"], tmp_path)
    pd.testing.assert_frame_equal(spark, duck, check_exact=False, rtol=1e-12)


def test_missing_file_is_named():
    with pytest.raises(engine.EngineError, match="no such file or folder"):
        engine.load_cells(Path("nowhere.parquet"), "y", engine="spark")
