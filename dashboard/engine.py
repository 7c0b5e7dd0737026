"""Survey cell sums out of core: DuckDB (embedded) or Spark over Parquet files, folders, globs.

The Taylor-linearised variance of a domain prevalence needs only additive sums per
group x stratum x PSU cell (``stats.survey_cells``), so a file far larger than memory is
reduced by one streaming GROUP BY to a frame of a few thousand rows, which
``stats.survey_prevalence_from_cells`` turns into the same estimates as the in-memory path.
DuckDB runs it embedded, spilling to a temporary folder beyond ``memory_limit``; the same
query runs on Spark (local mode or a cluster), whose partial sums per shard add up the same
way. Nothing here computes an estimate or knows about the dashboard's vocabularies.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard import stats

ENGINES: tuple[str, ...] = ("duckdb", "spark")
# The target machine reads 100 million rows under 1 GB (issue 16, Build 4).
DEFAULT_MEMORY_LIMIT = "1GB"
OPERATORS: tuple[str, ...] = ("<", "<=", ">", ">=")
UNKNOWN_BAND = "unknown"  # the age band of a missing age or one in no band (as ingest)
_GLOB_CHARS = re.compile(r"[*?\[]")
# DuckDB's size units (its SET memory_limit syntax); Spark's are the single letters.
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.I)
_SPARK_UNITS = {"b": "b", "kb": "k", "kib": "k", "mb": "m", "mib": "m", "gb": "g", "gib": "g",
                "tb": "t", "tib": "t"}
_MISSING = "__outcome_missing"
_SOURCE_VIEW = "survey_source"


class EngineError(ValueError):
    """A problem with the source or the arguments, in one sentence that names it."""


@dataclass(frozen=True)
class Compare:
    """An outcome computed on the fly: ``column <operator> value`` (missing where the column
    is), the column cast to double as ``ingest`` reads numbers."""

    column: str
    operator: str
    value: float


@dataclass(frozen=True)
class AgeBands:
    """A group computed on the fly: whole years completed of ``column`` in (label, min, max or
    None) bands, as ``ingest.cut_age_bands`` cuts them; 'unknown' for the rest."""

    column: str
    bands: tuple[tuple[str, int, int | None], ...]


Group = str | AgeBands


def check_memory_limit(memory_limit: str) -> str:
    """The limit as DuckDB reads it ('1GB', '512MiB'); EngineError for anything else."""
    if not isinstance(memory_limit, str) or not _MEMORY_RE.match(memory_limit):
        raise EngineError(
            f"memory limit {memory_limit!r} is not a size such as '1GB', '512MB' or '2GiB'"
        )
    number, unit = _MEMORY_RE.match(memory_limit).groups()
    if float(number) <= 0:
        raise EngineError(f"memory limit {memory_limit!r} must be more than zero")
    return f"{number}{unit}"


def resolve_paths(source: str | Path | Sequence[str | Path]) -> list[str]:
    """Parquet files of a path, folder (every ``*.parquet`` below it) or glob, or of several.

    URLs (``s3://``, ``hdfs://``, ...) are passed on unchecked; local paths must exist and
    globs must match.
    """
    items = [source] if isinstance(source, str | Path) else list(source)
    if not items:
        raise EngineError("no Parquet file, folder or glob given")
    paths: list[str] = []
    for item in map(str, items):
        if "://" in item:
            paths.append(item)
        elif _GLOB_CHARS.search(item):
            if not glob.glob(item, recursive=True):
                raise EngineError(f"no file matches {item!r}")
            paths.append(item)
        elif Path(item).is_dir():
            pattern = str(Path(item) / "**" / "*.parquet")
            if not glob.glob(pattern, recursive=True):
                raise EngineError(f"folder {item!r} holds no *.parquet file")
            paths.append(pattern)
        elif Path(item).is_file():
            paths.append(item)
        else:
            raise EngineError(f"no such file or folder: {item!r}")
    return paths


def load_cells(
    source: str | Path | Sequence[str | Path],
    outcome: str | Compare,
    by: Sequence[Group] = (),
    weight: str | None = None,
    strata: str | None = None,
    psu: str | None = None,
    *,
    engine: str = "duckdb",
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    threads: int | None = None,
    temp_directory: str | Path | None = None,
    spark_master: str | None = None,
) -> pd.DataFrame:
    """Cell sums of Parquet microdata, as ``stats.survey_cells`` computes them in memory.

    One streaming GROUP BY over the source: only the grouping keys and the sums are held,
    so memory stays within ``memory_limit`` (DuckDB spills beyond it to ``temp_directory``,
    a fresh temporary folder by default) whatever the size of the files.

    Parameters
    ----------
    source : path, folder, glob or a sequence of them
        Parquet files read together as one table (see :func:`resolve_paths`).
    outcome : str or Compare
        A 0/1 or boolean column, or a comparison computed per row. Rows where it is missing
        are left out of the design (counted in ``attrs["dropped_missing_outcome"]``).
    by : sequence of column names or AgeBands
        Group columns (the domains, and the age groups of a standardisation). Missing values
        stay missing: in the design, in no domain.
    weight, strata, psu : str, optional
        Design columns, as ``stats.survey_prevalence`` takes them. Weights must be positive
        and strata and PSUs present among the rows with an outcome.
    engine : {"duckdb", "spark"}
        DuckDB embedded (default), or PySpark: ``spark_master`` (or the ``SPARK_MASTER``
        environment variable) names the cluster, local mode with ``threads`` cores otherwise.
    memory_limit : str
        DuckDB's ``SET memory_limit`` ('1GB'); for local Spark, the driver memory.
    threads : int, optional
        Worker threads (default: the machine's cores).

    Returns
    -------
    DataFrame
        The group columns (named as the column, or the AgeBands column for bands), then
        ``strata`` and ``psu``, then ``stats.SURVEY_CELL_SUMS`` (``w2_sum``/``w2y_sum``
        only without ``psu``); one row per cell with at least one outcome. Sums are plain
        double sums (exact for counts), in the engine's order of addition.
    """
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    memory_limit = check_memory_limit(memory_limit)
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise EngineError(f"threads must be a positive whole number, got {threads!r}")
    threads = threads or os.cpu_count() or 1
    paths = resolve_paths(source)
    by = list(by)
    names = [g.column if isinstance(g, AgeBands) else g for g in by]
    if len(set(names)) != len(names):
        raise EngineError(f"group columns must be distinct, got {', '.join(names)}")
    clash = [c for c in (strata, psu) if c is not None and c in names]
    if clash:
        raise EngineError(f"design column(s) {', '.join(clash)} cannot also be groups")
    if isinstance(outcome, Compare) and outcome.operator not in OPERATORS:
        raise EngineError(
            f"outcome operator {outcome.operator!r} is not one of {', '.join(OPERATORS)}"
        )
    roles = {
        **{n: "group" for n in names},
        **({outcome.column if isinstance(outcome, Compare) else outcome: "outcome"}),
        **{c: r for r, c in (("weight", weight), ("stratum", strata), ("psu", psu)) if c},
    }
    if engine == "duckdb":
        raw = _duckdb_cells(paths, roles, outcome, by, weight, strata, psu, memory_limit,
                            threads, temp_directory)
    else:
        raw = _spark_cells(paths, roles, outcome, by, weight, strata, psu, memory_limit,
                           threads, spark_master)
    return _finish_cells(raw, outcome, names, weight, strata, psu)


def load_sample(source: str | Path | Sequence[str | Path], rows: int) -> pd.DataFrame:
    """The first ``rows`` rows of the source (DuckDB, streaming: the rest is not read)."""
    import duckdb

    paths = resolve_paths(source)
    con = duckdb.connect(config={"threads": 1})
    try:
        return con.execute(
            f"SELECT * FROM read_parquet({_duckdb_list(paths)}, union_by_name = true) "
            f"LIMIT {int(rows)}"
        ).df()
    except duckdb.Error as err:
        raise EngineError(f"cannot read {', '.join(paths)}: {_first_line(err)}") from None
    finally:
        con.close()


# --- the query ---------------------------------------------------------------------------------


def _cells_query(
    quote: Callable[[str], str],
    source_sql: str,
    outcome: str | Compare,
    by: Sequence[Group],
    weight: str | None,
    strata: str | None,
    psu: str | None,
    outcome_nullable: bool = True,
) -> str:
    """One GROUP BY over the source; engine-neutral SQL (DuckDB and Spark read it alike).

    Rows with a missing outcome get cells of their own (the ``_MISSING`` key) so that one pass
    both counts them and keeps them out of every sum; where the files' metadata say the
    outcome has no missing value, that key (about a tenth of the query's time) is left out.
    """
    inner: list[str] = []  # per-row expressions, each named
    for g in by:
        if isinstance(g, AgeBands):
            years = f"floor(CAST({quote(g.column)} AS DOUBLE))"
            cases = " ".join(
                f"WHEN {years} >= {lo:d}"
                + (f" AND {years} <= {hi:d}" if hi is not None else "")
                + f" THEN {_literal(label)}"
                for label, lo, hi in g.bands
            )
            inner.append(f"CASE {cases} ELSE {_literal(UNKNOWN_BAND)} END AS {quote(g.column)}")
        else:
            inner.append(f"{quote(g)} AS {quote(g)}")
    inner += [f"{quote(c)} AS {quote(c)}" for c in (strata, psu) if c is not None]
    keys = [
        quote(g.column if isinstance(g, AgeBands) else g) for g in by
    ] + [quote(c) for c in (strata, psu) if c is not None]
    if isinstance(outcome, Compare):
        value = f"CAST({quote(outcome.column)} AS DOUBLE)"
        y = (
            f"CASE WHEN {value} IS NULL THEN NULL WHEN {value} {outcome.operator} "
            f"CAST({_literal(repr(float(outcome.value)))} AS DOUBLE) THEN 1.0 ELSE 0.0 END"
        )
    else:
        y = f"CAST({quote(outcome)} AS DOUBLE)"
    w = f"CAST({quote(weight)} AS DOUBLE)" if weight is not None else "1.0"
    inner += [f"{y} AS y", f"{w} AS w"]
    if outcome_nullable:
        keys.append(f"y IS NULL AS {_MISSING}")
    sums = [
        "count(*) AS n",
        "sum(w) AS w_sum",
        "sum(w * y) AS wy_sum",
        "min(w) AS w_min",
        "count(w) AS w_count",
        "min(y) AS y_min",
        "max(y) AS y_max",
    ]
    if psu is None:
        sums += ["sum(w * w) AS w2_sum", "sum(w * w * y) AS w2y_sum"]
    group_by = " GROUP BY " + ", ".join(str(i + 1) for i in range(len(keys))) if keys else ""
    return (
        f"SELECT {', '.join([*keys, *sums])} "
        f"FROM (SELECT {', '.join(inner)} FROM {source_sql}) AS source_rows{group_by}"
    )


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _duckdb_list(paths: Sequence[str]) -> str:
    return "[" + ", ".join(_literal(p) for p in paths) + "]"


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _check_columns(columns: dict[str, str], roles: dict[str, str], paths: Sequence[str]) -> None:
    """Every named column in the source; the outcome and weight numeric (or boolean)."""
    missing = [f"'{c}' ({r})" for c, r in roles.items() if c not in columns]
    if missing:
        shown = ", ".join(list(columns)[:15]) + (", ..." if len(columns) > 15 else "")
        raise EngineError(
            f"column(s) {', '.join(missing)} not in {', '.join(paths)}; its columns are {shown}"
        )
    numeric = re.compile(r"BOOL|INT|DOUBLE|FLOAT|DECIMAL|REAL|NUMERIC|BYTE|SHORT|LONG", re.I)
    for column, role in roles.items():
        if role in ("outcome", "weight") and not numeric.search(columns[column]):
            raise EngineError(
                f"column '{column}' ({role}) must be numeric, found type {columns[column]}"
            )


def _duckdb_cells(paths, roles, outcome, by, weight, strata, psu, memory_limit, threads,
                  temp_directory) -> pd.DataFrame:
    import duckdb

    with tempfile.TemporaryDirectory(prefix="b12-duckdb-") as spill:
        config = {
            "memory_limit": memory_limit,
            "threads": threads,
            "temp_directory": str(temp_directory or spill),
            # A GROUP BY needs no row order, and keeping one costs memory.
            "preserve_insertion_order": False,
        }
        try:
            con = duckdb.connect(config=config)
        except duckdb.Error as err:
            raise EngineError(f"DuckDB refused the settings: {_first_line(err)}") from None
        try:
            source = f"read_parquet({_duckdb_list(paths)}, union_by_name = true)"
            try:
                described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            except duckdb.Error as err:
                raise EngineError(f"cannot read {', '.join(paths)}: {_first_line(err)}") from None
            _check_columns({r[0]: r[1] for r in described}, roles, paths)
            column = outcome.column if isinstance(outcome, Compare) else outcome
            nullable = _duckdb_nullable(con, paths, column)
            query = _cells_query(
                _duckdb_quote, source, outcome, by, weight, strata, psu, nullable
            )
            try:
                return con.execute(query).df()
            except duckdb.Error as err:
                raise EngineError(f"DuckDB could not sum the cells: {_first_line(err)}") from None
        finally:
            con.close()


def _duckdb_nullable(con: object, paths: Sequence[str], column: str) -> bool:
    """Whether the column may hold a missing value: the Parquet footers' null counts (every
    file must have the column and say so; otherwise assume it may)."""
    import duckdb

    try:
        files, with_column, nulls = con.execute(
            f"SELECT count(DISTINCT file_name), "
            f"count(DISTINCT file_name) FILTER (WHERE path_in_schema = ?), "
            f"coalesce(sum(stats_null_count) FILTER (WHERE path_in_schema = ?), 0) "
            f"+ count(*) FILTER (WHERE path_in_schema = ? AND stats_null_count IS NULL) "
            f"FROM parquet_metadata({_duckdb_list(paths)})",
            [column, column, column],
        ).fetchone()
    except duckdb.Error:
        return True
    return not (files and files == with_column and nulls == 0)


def _duckdb_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _spark_quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def spark_session(master: str | None = None, threads: int = 2, memory_limit: str = "1GB"):
    """The active SparkSession, or a new one: under spark-submit its own settings; else
    ``master`` or ``SPARK_MASTER`` (a cluster URL such as spark://host:7077 or yarn) when
    given, local mode with ``threads`` cores and ``memory_limit`` of driver memory otherwise."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError(
            "--engine spark needs PySpark and a Java runtime: run 'make test-spark' once, or "
            "pip install -r requirements-spark.txt"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    master = master or os.environ.get("SPARK_MASTER")
    builder = SparkSession.builder.appName("b12-risk-atlas")
    if master is None and "PYSPARK_GATEWAY_PORT" in os.environ:
        return builder.getOrCreate()  # started by spark-submit: its --master and conf apply
    master = master or f"local[{threads}]"
    builder = builder.master(master)
    if master.startswith("local"):
        number, unit = _MEMORY_RE.match(memory_limit).groups()
        builder = builder.config(
            "spark.driver.memory", f"{max(1, round(float(number)))}{_SPARK_UNITS[unit.lower()]}"
        )
        builder = builder.config("spark.ui.enabled", "false")
    return builder.getOrCreate()


def _spark_cells(paths, roles, outcome, by, weight, strata, psu, memory_limit, threads,
                 master) -> pd.DataFrame:
    spark = spark_session(master, threads, memory_limit)
    # Spark globs do not know '**': a folder is read recursively instead.
    spark_paths = [p[: -len("/**/*.parquet")] if p.endswith("/**/*.parquet") else p for p in paths]
    try:
        frame = (
            spark.read.option("recursiveFileLookup", "true")
            .option("pathGlobFilter", "*.parquet")
            .parquet(*spark_paths)
        )
    except Exception as err:  # noqa: BLE001 - py4j errors have no common Python base
        raise EngineError(f"cannot read {', '.join(paths)}: {_first_line(err)}") from None
    _check_columns({f.name: f.dataType.simpleString() for f in frame.schema}, roles, paths)
    frame.createOrReplaceTempView(_SOURCE_VIEW)
    query = _cells_query(_spark_quote, _SOURCE_VIEW, outcome, by, weight, strata, psu)
    try:
        return spark.sql(query).toPandas()
    except Exception as err:  # noqa: BLE001
        raise EngineError(f"Spark could not sum the cells: {_first_line(err)}") from None


def _finish_cells(
    raw: pd.DataFrame,
    outcome: str | Compare,
    names: Sequence[str],
    weight: str | None,
    strata: str | None,
    psu: str | None,
) -> pd.DataFrame:
    """Checks on the whole source, made from the per-cell extremes, and the cells frame."""
    missing = (
        raw[_MISSING].to_numpy(dtype=bool) if _MISSING in raw else np.zeros(len(raw), dtype=bool)
    )
    n_missing_outcome = int(raw.loc[missing, "n"].sum())
    # A source without rows still gives one (empty) row when nothing is grouped.
    known = raw.loc[~missing & (raw["n"].to_numpy() > 0)].reset_index(drop=True)
    name = outcome.column if isinstance(outcome, Compare) else outcome
    if len(known) and (known["y_min"].min() < 0 or known["y_max"].max() > 1
                       or not np.isin(known[["y_min", "y_max"]].to_numpy(), (0.0, 1.0)).all()):
        raise EngineError(f"outcome column '{name}' must hold 0/1 or True/False values")
    if weight is not None and len(known):
        if (known["w_count"] < known["n"]).any():
            count = int((known["n"] - known["w_count"]).sum())
            raise EngineError(f"weight column '{weight}' is missing in {count:,} rows")
        if not (known["w_min"] > 0).all():
            raise EngineError(
                f"weight column '{weight}' must hold positive sampling weights; found "
                f"{float(known['w_min'].min()):g}"
            )
        if not np.isfinite(known["w_sum"].to_numpy(dtype=float)).all():
            raise EngineError(f"weight column '{weight}' holds infinite values")
    for column in (strata, psu):
        if column is not None and known[column].isna().any():
            count = int(known.loc[known[column].isna(), "n"].sum())
            raise EngineError(f"design column '{column}' is missing in {count:,} rows")
    sums = [c for c in stats.SURVEY_CELL_SUMS if c in known.columns]
    cells = known.loc[:, [*names, *(c for c in (strata, psu) if c), *sums]]
    cells["n"] = cells["n"].astype(np.int64)
    for column in sums[1:]:
        cells[column] = cells[column].astype(float)
    cells.attrs["dropped_missing_outcome"] = n_missing_outcome
    return cells
