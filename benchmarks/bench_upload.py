"""Time and peak memory of an uploaded 1,000,000-row survey CSV, from bytes to estimates.

Generates a seeded NHANES-like CSV in memory (the golden microdata's columns), then times
read_upload, propose_mapping, prepare_microdata and estimate by age band x sex with a
stratified, clustered, weighted design. Target: under 10 s in total.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard import ingest, schema  # noqa: E402

TARGET_SECONDS = 10.0


def make_csv(rows: int, seed: int = 12) -> bytes:
    """A survey file like tests/golden/survey_microdata.csv, `rows` people, 2% missing B12."""
    rng = np.random.default_rng(seed)
    stratum = rng.integers(1, 31, rows)
    diet = rng.choice(schema.DIET_GROUPS, rows, p=[0.85, 0.04, 0.08, 0.03])
    b12 = np.round(rng.lognormal(np.log(330), 0.45, rows), 1)
    b12[diet == "vegan"] *= 0.5
    b12[rng.random(rows) < 0.02] = np.nan
    frame = pd.DataFrame(
        {
            "respondent_id": np.arange(1, rows + 1),
            "stratum": stratum,
            "psu": rng.integers(1, 3, rows),
            "weight": np.round(rng.uniform(1_000, 40_000, rows), 2),
            "age": rng.integers(0, 91, rows),
            "sex": rng.choice(["male", "female"], rows),
            "diet_group": diet,
            "serum_b12_pmol_l": b12,
            "mma_umol_l": np.round(rng.lognormal(np.log(0.17), 0.4, rows), 3),
        }
    )
    return frame.to_csv(index=False).encode()


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(content: bytes) -> tuple[dict[str, float], pd.DataFrame]:
    """Each step's seconds, and the estimates."""
    times: dict[str, float] = {}
    start = time.perf_counter()
    upload = ingest.read_upload("survey.csv", content)
    times["read_upload"] = time.perf_counter() - start
    t = time.perf_counter()
    mapping = ingest.propose_mapping(upload.frame)
    times["propose_mapping"] = time.perf_counter() - t
    t = time.perf_counter()
    prepared = ingest.prepare_microdata(upload, mapping, "b12_lt148")
    times["prepare_microdata"] = time.perf_counter() - t
    t = time.perf_counter()
    result = ingest.estimate(prepared, ("age_band", "sex"))
    times["estimate"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - start
    return times, result


MEMORY_TARGET = 3.0  # peak RSS of the whole process / file size


def run_memory(mb: float) -> int:
    """Peak RSS of a process that holds an `mb` MB upload (as Streamlit does) and reads,
    maps, prepares and estimates it. The CSV is made by a child process and read from a
    temporary file, so that its making is not counted."""
    import subprocess
    import tempfile

    rows = int(mb * 1024**2 / 50.7)  # make_csv writes about 50.7 bytes a row
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "survey.csv"
        subprocess.run(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})"
             f"; import bench_upload as b; open({str(path)!r}, 'wb').write(b.make_csv({rows}))"],
            check=True,
        )
        start = peak_rss_mb()
        content = path.read_bytes()
    size = len(content) / 1024**2
    times, result = run(content)
    peak = peak_rss_mb()
    print(f"{rows:,} rows, {size:.1f} MB of CSV; {times['total']:.1f} s")
    print(f"peak RSS: {peak:,.0f} MB = {peak / size:.2f}x the file "
          f"(process before the upload: {start:,.0f} MB)")
    ok = peak / size < MEMORY_TARGET
    print(f"{'OK' if ok else 'OVER'}: target < {MEMORY_TARGET:g}x the file size")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--mb", type=float, default=None,
        help="size of the CSV in MB instead of --rows (e.g. 150: the memory figure of the "
        "hardening issue); prints peak RSS against the file size",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also measure Python-allocated peak memory (slower; a second run)",
    )
    args = parser.parse_args()
    if args.mb is not None:
        return run_memory(args.mb)
    content = make_csv(args.rows)
    print(f"{args.rows:,} rows, {len(content) / 1024**2:.1f} MB of CSV (generated in memory)")
    rss_before = peak_rss_mb()
    times, result = run(content)
    for step, seconds in times.items():
        print(f"  {step:<18} {seconds:6.2f} s")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB (after making the CSV: {rss_before:,.0f} MB)")
    if args.tracemalloc:
        tracemalloc.start()
        run(content)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"peak traced allocation during a run: {peak / 1024**2:,.0f} MB")
    print(f"{len(result)} domains; overall rows analysed: {int(result['n'].sum()):,}")
    ok = times["total"] < TARGET_SECONDS
    print(f"{'OK' if ok else 'SLOW'}: {times['total']:.2f} s (target < {TARGET_SECONDS:g} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
