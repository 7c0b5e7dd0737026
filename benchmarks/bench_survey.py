"""Times design-based domain prevalence on 10 million rows against a plain DuckDB GROUP BY.

Prints both timings (best of 3) and their ratio; the target is a ratio of at most 1.2, i.e. a
design-correct estimate with standard errors for about the price of the grouped weighted sums.

Then out of core: 100 million rows in Parquet (generated once, in 5-million-row files, into a
cache folder), estimated by dashboard.engine under a 1 GB DuckDB memory limit. Each run is a
child process, so its peak RSS is its own; targets: peak RSS < 1.5 GB and time <= 1.5x
DuckDB's own GROUP BY of the same sums under the same settings. If generating the rows would
take more than 5 minutes here, the largest size that fits is run and the note says so.
Run: .venv/bin/python benchmarks/bench_survey.py [rows] [parquet_rows]
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard import schema, stats  # noqa: E402

ROWS = 10_000_000
N_STRATA = 30
PSUS_PER_STRATUM = 2
REPEATS = 3
TARGET_RATIO = 1.2


def synthetic_microdata(rows: int, seed: int = 20240501) -> pd.DataFrame:
    """NHANES-like rows; group columns are categoricals, as Parquet dictionary columns load."""
    rng = np.random.default_rng(seed)

    def categorical(labels: list[str], p: list[float] | None = None) -> pd.Categorical:
        codes = rng.choice(len(labels), size=rows, p=p).astype(np.int8)
        return pd.Categorical.from_codes(codes, categories=labels)

    diet_share = [0.85, 0.05, 0.07, 0.03]
    age = categorical(list(schema.AGE_BAND_LABELS))
    diet = categorical(list(schema.DIET_GROUPS), diet_share)
    risk = np.array([0.04, 0.08, 0.22, 0.60])[diet.codes] * (1 + 0.15 * age.codes)
    return pd.DataFrame(
        {
            "age_band": age,
            "diet_group": diet,
            "stratum": categorical([f"s{i:02d}" for i in range(N_STRATA)]),
            "psu": categorical([str(i + 1) for i in range(PSUS_PER_STRATUM)]),
            "weight": rng.lognormal(mean=9.0, sigma=0.6, size=rows),
            "deficient": (rng.random(rows) < np.minimum(risk, 1.0)).astype(np.int8),
        }
    )


def best_of_alternating(
    runs: dict[str, Callable[[], object]], repeats: int = REPEATS
) -> dict[str, float]:
    """Best time of each run, the runs alternating so that both see the same machine load."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main(rows: int = ROWS) -> None:
    t0 = time.perf_counter()
    frame = synthetic_microdata(rows)
    print(f"built {rows:,} rows in {time.perf_counter() - t0:.1f} s on {os.cpu_count()} cores")

    con = duckdb.connect()
    con.register("frame", frame)
    query = (
        "SELECT age_band, diet_group, sum(weight * deficient), sum(weight), count(*) "
        "FROM frame GROUP BY 1, 2"
    )
    con.execute(query).fetchall()  # warm-up: first scan registers the frame

    def estimate() -> pd.DataFrame:
        return stats.survey_prevalence(
            frame,
            "deficient",
            by=("age_band", "diet_group"),
            weight="weight",
            strata="stratum",
            psu="psu",
        )

    result = estimate()
    assert len(result) == 20, "expected 20 age x diet domains"
    best = best_of_alternating({"duckdb": lambda: con.execute(query).fetchall(), "stats": estimate})
    t_duckdb, t_stats = best["duckdb"], best["stats"]
    ratio = t_stats / t_duckdb
    print(f"duckdb GROUP BY (weighted sums only): {t_duckdb * 1000:8.1f} ms")
    print(f"survey_prevalence (20 domains, SE):   {t_stats * 1000:8.1f} ms")
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(f"ratio: {ratio:.2f} ({verdict} the target of {TARGET_RATIO})")


PARQUET_ROWS = 100_000_000
PARQUET_CHUNK = 5_000_000  # rows per generated file: generation stays within ~0.5 GB
MEMORY_LIMIT = "1GB"
MAX_GENERATION_S = 300.0
TARGET_RSS_BYTES = 1.5e9
TARGET_PARQUET_RATIO = 1.5
# Cache folder of the generated files, kept between runs (delete it to regenerate).
CACHE = Path(os.environ.get("B12_BENCH_CACHE", Path(tempfile.gettempdir()) / "b12-bench-parquet"))
GROUPS = ("age_band", "diet_group")


def write_chunk(path: Path, rows: int, seed: int) -> None:
    """One file of NHANES-like rows; group columns dictionary-encoded, as exports store them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = synthetic_microdata(rows, seed=seed)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, row_group_size=1_000_000)
    tmp.rename(path)  # a half-written file never looks like a finished one


def ensure_parquet(rows: int) -> list[Path]:
    """Files holding `rows` rows in the cache (fewer when generating would pass 5 minutes)."""
    folder = CACHE / f"chunks-{PARQUET_CHUNK}"
    folder.mkdir(parents=True, exist_ok=True)
    n_files = -(-rows // PARQUET_CHUNK)
    started = time.perf_counter()
    per_file = 0.0
    files: list[Path] = []
    for i in range(n_files):
        k = min(PARQUET_CHUNK, rows - i * PARQUET_CHUNK)
        path = folder / f"part-{i:04d}-{k}.parquet"
        if not path.exists():
            elapsed = time.perf_counter() - started
            if elapsed + per_file > MAX_GENERATION_S:
                projected = elapsed + per_file * (n_files - i)
                print(
                    f"note: generating {rows:,} rows would take about {projected / 60:.0f} min "
                    f"here (> {MAX_GENERATION_S / 60:.0f} min): running the largest size that "
                    f"fits, {sum(_rows_of(f) for f in files):,} rows"
                )
                break
            t0 = time.perf_counter()
            write_chunk(path, k, seed=20240501 + i)
            per_file = max(per_file, time.perf_counter() - t0)
        files.append(path)
    if per_file:
        print(f"generated Parquet in {time.perf_counter() - started:.0f} s into {folder}")
    return files


def _rows_of(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[-1])


def child(kind: str, paths: list[str]) -> None:
    """One measured run in this process; prints its seconds and its own peak RSS (bytes)."""
    from dashboard import engine

    t0 = time.perf_counter()
    if kind == "duckdb":
        con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "threads": os.cpu_count(),
                                     "preserve_insertion_order": False})
        listed = ", ".join(f"'{p}'" for p in paths)
        con.execute(
            f"SELECT {', '.join(GROUPS)}, stratum, psu, count(*), sum(weight), "
            f"sum(weight * deficient) FROM read_parquet([{listed}]) GROUP BY ALL"
        ).fetchall()
    else:
        cells = engine.load_cells(paths, "deficient", by=GROUPS, weight="weight",
                                  strata="stratum", psu="psu", memory_limit=MEMORY_LIMIT)
        result = stats.survey_prevalence_from_cells(cells, by=GROUPS, strata="stratum",
                                                    psu="psu")
        assert len(result) == 20, "expected 20 age x diet domains"
    seconds = time.perf_counter() - t0
    print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def measure(kind: str, files: list[Path]) -> tuple[float, float]:
    """Seconds and peak RSS (bytes) of one run in a fresh process."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, *map(str, files)],
        check=True, capture_output=True, text=True,
    )
    seconds, rss = out.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(rss)


def main_parquet(rows: int = PARQUET_ROWS) -> None:
    files = ensure_parquet(rows)
    rows = sum(_rows_of(f) for f in files)
    size = sum(f.stat().st_size for f in files)
    print(f"out of core: {rows:,} rows in Parquet ({size / 1e9:.2f} GB on disk), "
          f"DuckDB memory limit {MEMORY_LIMIT}, {os.cpu_count()} threads")
    best: dict[str, float] = {}
    peak: dict[str, float] = {}
    for _ in range(2):
        for kind in ("duckdb", "engine"):
            seconds, rss = measure(kind, files)
            best[kind] = min(best.get(kind, float("inf")), seconds)
            peak[kind] = max(peak.get(kind, 0.0), rss)
    ratio = best["engine"] / best["duckdb"]
    print(f"duckdb GROUP BY of the same sums:     {best['duckdb']:8.2f} s, "
          f"peak RSS {peak['duckdb'] / 1e9:.2f} GB")
    print(f"engine cells + survey estimates:      {best['engine']:8.2f} s, "
          f"peak RSS {peak['engine'] / 1e9:.2f} GB")
    rss_verdict = "meets" if peak["engine"] < TARGET_RSS_BYTES else "misses"
    verdict = "meets" if ratio <= TARGET_PARQUET_RATIO else "misses"
    print(f"peak RSS {peak['engine'] / 1e9:.2f} GB ({rss_verdict} the target of "
          f"< {TARGET_RSS_BYTES / 1e9:.1f} GB)")
    print(f"ratio: {ratio:.2f} ({verdict} the target of {TARGET_PARQUET_RATIO})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3:])
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
        main_parquet(int(sys.argv[2]) if len(sys.argv) > 2 else PARQUET_ROWS)
