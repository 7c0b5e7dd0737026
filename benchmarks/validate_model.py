"""Out-of-sample validation of the prevalence model on the shipped evidence, with timings.

Leaves out one study (sample) and then one country at a time, refits the model on the rest
and predicts every held-out estimate; the old cell pooling predicts the same estimates from
the same training rows. Prints the validation table of both models, the in-sample comparison
of every national survey with the model's country prediction, and how long each step took.
Targets: the whole-table fit < 1 s; coverage of the 95% prediction interval 90-97%; the model
beats the cell pooling on the same held-out estimates.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from dashboard import burden, data, model, validation  # noqa: E402

FIT_TARGET_SECONDS = 1.0
REPEATS = 5


def _best_median(step, repeats: int = REPEATS) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> None:
    studies = data.load_studies()
    countries = data.load_countries()
    shares = burden.diet_share_model(data.load_diet_shares(), countries["iso3"].tolist())
    fitted = model.fit(studies, countries, shares)  # warm-up: imports, first allocation
    rows, _ = model.model_rows(studies)

    fit_median, fit_best = _best_median(lambda: model.fit(studies, countries, shares))
    rows_median, _ = _best_median(lambda: model.model_rows(studies))
    print(f"{len(rows)} estimates from {rows['sample_id'].nunique()} studies in "
          f"{rows['country_iso3'].nunique()} countries")
    verdict = "meets it" if fit_median < FIT_TARGET_SECONDS else "MISSES it"
    print(f"model.fit on the whole table: median {fit_median * 1000:.0f} ms, best "
          f"{fit_best * 1000:.0f} ms over {REPEATS} runs (model_rows {rows_median * 1000:.0f} "
          f"ms); target < {FIT_TARGET_SECONDS:.0f} s ({verdict})")

    frames = []
    for folds in validation.FOLD_TYPES:
        start = time.perf_counter()
        frames.append(validation.validate(studies, countries, shares, folds=folds))
        n_folds = frames[-1]["fold"].nunique()
        print(f"validate(folds={folds!r}): {n_folds} refits in "
              f"{time.perf_counter() - start:.1f} s")
    summary = validation.summarize_validation(pd.concat(frames, ignore_index=True))

    print("\nHeld-out estimates, both models on the ones both can predict")
    table = summary.assign(
        coverage=lambda f: (f["coverage"] * 100).map("{:.1f}%".format),
        median_abs_error_pp=lambda f: f["median_abs_error_pp"].map("{:.1f}".format),
        mean_error_pp=lambda f: f["mean_error_pp"].map("{:+.1f}".format),
    )[["fold_label", "model_label", "n_held_out", "n_predictable", "coverage",
       "median_abs_error_pp", "mean_error_pp"]]
    print(table.to_string(index=False))
    lo, hi = validation.COVERAGE_TARGET
    for fold_type, part in summary.groupby("fold_type", sort=False):
        new, old = (part.set_index("model").loc[m] for m in ("new", "old"))
        better = new["median_abs_error_pp"] < old["median_abs_error_pp"]
        calibrated = lo <= new["coverage"] <= hi
        print(f"{validation.FOLD_LABELS[fold_type]}: model {'beats' if better else 'DOES NOT beat'}"
              f" the cell pooling on median error; coverage "
              f"{'within' if calibrated else 'OUTSIDE'} {lo:.0%}-{hi:.0%}")

    start = time.perf_counter()
    surveys = validation.in_sample_surveys(fitted, studies)
    took = time.perf_counter() - start
    print(f"\nIn sample: national surveys against the model's country prediction ({took:.2f} s)")
    shown = surveys.assign(
        ages=[f"{a}-{'' if pd.isna(b) else b}" if not pd.isna(a) else "?"
              for a, b in zip(surveys["age_min"], surveys["age_max"], strict=True)],
        observed=lambda f: (f["observed"] * 100).round(1),
        predicted=lambda f: (f["predicted"] * 100).round(1),
        pi=[f"{lo * 100:.1f}-{hi * 100:.1f}"
            for lo, hi in zip(surveys["pi_low"], surveys["pi_high"], strict=True)],
    )[["estimate_id", "country_iso3", "sex", "ages", "cutoff", "observed", "predicted", "pi",
       "in_fit"]]
    print(shown.to_string(index=False))
    s = validation.in_sample_summary(surveys)
    print(f"{s['n']} survey figures ({s['n_in_fit']} fitted): {s['within_pi']:.0%} within the "
          f"95% prediction interval; median |error| {s['median_abs_error_pp']:.1f} pp "
          f"({s['median_abs_error_pp_in_fit']:.1f} pp for the fitted ones), mean error "
          f"{s['mean_error_pp']:+.1f} pp")


if __name__ == "__main__":
    main()
