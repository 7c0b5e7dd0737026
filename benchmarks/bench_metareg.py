"""Time of a meta-regression with 4 nested random levels on 1,000 synthetic estimates.

Synthetic, seeded: 8 regions x 5 countries x 5 studies x 5 estimates (1,000 in all), two
moderators, binomial cases from a logit-normal model with a variance at every level. The
timed step is meta_regression(..., random=[region, country, study, estimate]) by REML.
Target: median < 1 s.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard import metareg  # noqa: E402

TARGET_SECONDS = 1.0
REPEATS = 7
SHAPE = (8, 5, 5, 5)  # regions, countries per region, studies per country, estimates per study
SIGMA2 = (0.10, 0.12, 0.14, 0.03)  # true variance per level, outermost first


def synthetic_estimates(seed: int = 20240601) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product([range(s) for s in SHAPE],
                                       names=["region", "country", "study", "estimate"])
    frame = index.to_frame(index=False)
    eta = -2.0 + np.zeros(len(frame))
    for level, (name, s2) in enumerate(zip(frame.columns, SIGMA2, strict=True)):
        groups = frame.iloc[:, : level + 1].astype(str).agg("/".join, axis=1)
        codes, uniques = pd.factorize(groups)
        eta += rng.normal(0.0, np.sqrt(s2), len(uniques))[codes]
        frame[name] = groups.str.split("/").str[-1]  # labels repeat under other outer labels
    frame["age10"] = rng.normal(0.0, 1.5, len(frame))
    frame["vegan"] = rng.random(len(frame)) < 0.25
    eta += 0.15 * frame["age10"] + 1.5 * frame["vegan"]
    frame["n"] = rng.integers(40, 3000, len(frame))
    frame["cases"] = rng.binomial(frame["n"], 1.0 / (1.0 + np.exp(-eta)))
    return frame


def main() -> None:
    frame = synthetic_estimates()
    yi, vi = metareg.logit_effects(frame["cases"], frame["n"])
    mods = frame[["age10", "vegan"]].astype(float)
    random = frame[["region", "country", "study", "estimate"]]

    def run() -> metareg.MetaRegression:
        return metareg.meta_regression(yi, vi, mods, random=random)

    fit = run()  # warm-up: imports, first allocation
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"{len(frame):,} estimates, {len(SHAPE)} nested levels, {fit.p} coefficients")
    print("sigma2 (true " + ", ".join(f"{s:.2f}" for s in SIGMA2) + "): "
          + ", ".join(f"{s:.3f}" for s in fit.sigma2))
    print(f"meta_regression REML: median {median * 1000:.0f} ms, best {min(times) * 1000:.0f} ms"
          f" over {REPEATS} runs")
    verdict = "meets" if median < TARGET_SECONDS else "MISSES"
    print(f"target: median < {TARGET_SECONDS:.0f} s ({verdict} it)")


if __name__ == "__main__":
    main()
