"""Time of the burden model for every country x 2025 and 2050 x 21 age bands x 4 diets.

Inputs (population, diet-share model, prevalence model) are loaded and built once, as the
dashboard caches them; the timed step is what a click on the Burden page recomputes:
estimate_burden with 1000 draws plus the world total per year with its interval.
Target: < 0.3 s.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard import burden, data, schema  # noqa: E402

TARGET_SECONDS = 0.3
REPEATS = 7


def main() -> None:
    studies = data.load_studies()
    population = data.load_population()
    countries = population["location_type"] == "Country/Area"
    iso3 = sorted(population.loc[countries, "iso3"].dropna().astype(str).unique())
    shares = burden.diet_share_model(data.load_diet_shares(), iso3)
    model = burden.prevalence_model(studies, schema.DEFAULT_DEFINITION, schema.DEFAULT_STATUS)

    def run() -> tuple[int, float]:
        rows = burden.estimate_burden(population, shares, model, locations=iso3,
                                      years=[2025, 2050], draws=1000)
        world = burden.summarize_burden(rows, by=("year",))
        return len(rows), float(world["cases"].iloc[0])

    run()  # warm-up: imports, first allocation
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        n_rows, cases_2025 = run()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"burden: {len(iso3)} countries x 2 years x {len(schema.WPP_AGE_BANDS)} age bands x "
          f"{len(schema.DIET_GROUPS)} diets = {n_rows} rows, 1000 draws")
    print(f"  estimate_burden + summarize_burden: median {median:.3f} s, best {min(times):.3f} s "
          f"over {REPEATS} runs (target < {TARGET_SECONDS} s: "
          f"{'met' if median < TARGET_SECONDS else 'NOT met'})")
    print(f"  modelled people with low B12 status in 2025 (sum of countries): {cases_2025:,.0f}")


if __name__ == "__main__":
    main()
