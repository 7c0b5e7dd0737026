"""Time of the burden model for every country x 2025 and 2050 x 21 age bands x 4 diets.

Inputs (population, diet-share model, the fitted prevalence model) are loaded and built
once, as the dashboard caches them. Timed, each the median of REPEATS runs with 1000 draws:

- prediction: ``Model.grid_draws`` for every country x 21 WPP bands x 4 diets, shared by
  both years (the model has no time trend), applied to both years' populations x diet
  shares, with each country's and the world's summed draws (target < 0.5 s);
- ``estimate_burden`` for every country and both years (every row with its own interval)
  plus the world total per year with its interval;
- ``estimate_summary`` by country for one year: what the Burden page's map recomputes.

Memory: the draws are float32 (countries x bands x diets x draws, about 80 MB).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard import burden, data, model, schema  # noqa: E402

TARGET_SECONDS = 0.5
REPEATS = 5
DRAWS = 1000
YEARS = (2025, 2050)


def timed(run) -> tuple[float, float, object]:
    run()  # warm-up: imports, caches, first allocation
    times, result = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), result


def main() -> None:
    population = data.load_population()
    countries = data.load_countries()
    iso3 = burden.country_codes(burden.locations_table(population))
    shares = burden.diet_share_model(data.load_diet_shares(), iso3)
    fitted = model.fit(data.load_studies(), countries,
                       burden.diet_share_model(data.load_diet_shares(),
                                               countries["iso3"].tolist()))
    ages = [(lo, hi) for _, lo, hi in schema.WPP_AGE_BANDS]
    pop = population.loc[population["iso3"].isin(iso3) & population["year"].isin(YEARS)]
    pop = pop.sort_values(["iso3", "year", "age_min"])
    people = pop["population"].to_numpy(dtype=float).reshape(len(iso3), len(YEARS), len(ages))
    share = shares.pivot(index="country_iso3", columns="diet_group", values="share")[
        list(schema.DIET_GROUPS)].loc[iso3].to_numpy()

    def predict() -> tuple[np.ndarray, int]:
        values, _ = fitted.grid_draws(iso3, ages, cutoff=148.0, draws=DRAWS)
        # people per country x year x band x diet, times the shared prevalence draws
        weight = (people[:, :, :, None] * share[:, None, None, :]).astype(np.float32)
        by_country = np.einsum("cyad,cadk->cyk", weight, values)
        return by_country.astype(np.float64).sum(axis=0), values.nbytes

    def full() -> tuple[int, float]:
        rows = burden.estimate_burden(population, shares, fitted, locations=iso3,
                                      years=list(YEARS), draws=DRAWS)
        world = burden.summarize_burden(rows, by=("year",))
        return len(rows), float(world["cases"].iloc[0])

    def map_view() -> int:
        return len(burden.estimate_summary(population, shares, fitted, locations=iso3,
                                           years=[2025], by=["iso3", "location"],
                                           draws=DRAWS))

    t_predict, best_predict, (world_draws, nbytes) = timed(predict)
    t_full, best_full, (n_rows, cases_2025) = timed(full)
    t_map, best_map, _ = timed(map_view)
    low, high = np.quantile(world_draws[0], [0.025, 0.975])
    n_cells = len(iso3) * len(ages) * len(schema.DIET_GROUPS)
    print(f"burden: {len(iso3)} countries x {len(YEARS)} years x {len(ages)} age bands x "
          f"{len(schema.DIET_GROUPS)} diets = {n_rows} rows ({n_cells} cells shared by the "
          f"years), {DRAWS} draws ({nbytes / 1e6:.0f} MB float32)")
    print(f"  prediction (grid_draws + both years' populations): median {t_predict:.3f} s, "
          f"best {best_predict:.3f} s (target < {TARGET_SECONDS} s: "
          f"{'met' if t_predict < TARGET_SECONDS else 'NOT met'})")
    print(f"  estimate_burden + world summary: median {t_full:.3f} s, best {best_full:.3f} s")
    print(f"  estimate_summary by country, one year (the map): median {t_map:.3f} s, "
          f"best {best_map:.3f} s")
    print(f"  modelled people below 148 pmol/L in 2025 (sum of countries): {cases_2025:,.0f} "
          f"(95% UI {low:,.0f}-{high:,.0f})")


if __name__ == "__main__":
    main()
