"""Times design-based domain prevalence on 10 million rows against a plain DuckDB GROUP BY.

Prints both timings (best of 3) and their ratio; the target is a ratio of at most 1.2, i.e. a
design-correct estimate with standard errors for about the price of the grouped weighted sums.
Run: .venv/bin/python benchmarks/bench_survey.py [rows]
"""

from __future__ import annotations

import os
import sys
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


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
