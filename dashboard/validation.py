"""Out-of-sample validation of the prevalence model against today's cell pooling.

Each published estimate the model fits is predicted by a model fitted without it: without
its whole sample (leave-one-study-out) or without its whole country (leave-one-country-out),
as the Global Burden of Disease validates its models on held-out data (GBD 2019 Risk Factors
Collaborators 2020; Murray et al. 2012, "GBD 2010: design, definitions, and metrics"). The
same folds are given to the old model, which pooled each age band x diet cell on its own, so
that the two are compared on the same held-out estimates. Nothing here reads files or draws.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from dashboard import model, schema, stats

FOLD_TYPES: dict[str, str] = {
    "study": "sample_id",     # leave one study (sample: all its publications) out
    "country": "country_iso3",  # leave one country out: its country effect is unknown
}
FOLD_LABELS: dict[str, str] = {
    "study": "Leave one study out",
    "country": "Leave one country out",
}
MODELS: dict[str, str] = {
    "new": "Multilevel model",
    "old": "Cell pooling (previous model)",
}
LEVEL = 0.95
# Coverage of the 95% prediction interval that counts as calibrated: a little under 95% is
# expected from estimated variance components (normal intervals, k of a few dozen).
COVERAGE_TARGET: tuple[float, float] = (0.90, 0.97)

# Old-model fallback steps (column ``old_basis``), most specific first, as the Burden page's
# cell pooling used them.
OLD_AGE_DIET = "age_diet"
OLD_GENERAL_AGE = "general_age"
OLD_DIET_ALL_AGES = "diet_all_ages"
OLD_ALL_ROWS = "all_rows"
OLD_BASES: tuple[str, ...] = (OLD_AGE_DIET, OLD_GENERAL_AGE, OLD_DIET_ALL_AGES, OLD_ALL_ROWS)
# Diets whose missing cell borrows the general population of the same age band (the old rule:
# the general population is mostly omnivores).
OLD_GENERAL_PROXY_DIETS: tuple[str, ...] = ("omnivore",)

VALIDATION_COLUMNS: tuple[str, ...] = (
    "fold_type", "fold", "estimate_id", "sample_id", "country_iso3", "diet_group", "age_band",
    "sample_frame", "cutoff", "observed", "predicted", "pi_low", "pi_high", "covered",
    "abs_error_pp", "old_predicted", "old_pi_low", "old_pi_high", "old_covered",
    "old_abs_error_pp", "old_basis", "old_k",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "model", "model_label", "fold_type", "fold_label", "n_held_out", "n_predictable",
    "coverage", "median_abs_error_pp", "mean_error_pp",
)


# --- folds -----------------------------------------------------------------------------------


def fold_indices(rows: pd.DataFrame, folds: str = "study") -> Iterator[tuple[str, np.ndarray]]:
    """(fold, boolean mask of the held-out rows) for each fold of ``rows`` (model_rows'
    rows), in sorted fold order. A fold holds every estimate of one sample (``"study"``:
    publications of one sample share people, so they leave together) or of one country."""
    if folds not in FOLD_TYPES:
        raise ValueError(f"folds must be one of {', '.join(FOLD_TYPES)}, got {folds!r}")
    keys = rows[FOLD_TYPES[folds]].astype("object").to_numpy()
    for key in sorted(set(keys)):
        yield str(key), keys == key


# --- the old model ---------------------------------------------------------------------------


def _old_key(rows: pd.DataFrame) -> pd.Series:
    """The definition and status the old model pooled a row under: the table's own, except for
    a "below the upper cut-off" sum the model derives from a band (``derived``), which is the
    documented threshold definition holding that cut-off (schema.DEFINITIONS tolerances, else
    the cut-off itself) with status low_or_marginal."""
    def threshold(cutoff: float) -> str:
        for d in schema.DEFINITIONS:
            if (d.biomarker == model.CROSSWALK_BIOMARKER and d.direction == "<"
                    and d.low_min <= cutoff <= d.low_max):
                return d.id
        return f"{model.CROSSWALK_BIOMARKER}<{cutoff:.4g}"

    derived = rows["derived"].astype(bool).to_numpy() if "derived" in rows else np.zeros(
        len(rows), dtype=bool)
    keys = [
        f"{threshold(float(c))}|low_or_marginal" if d else f"{definition}|{status}"
        for d, c, definition, status in zip(derived, rows["cutoff_low"], rows["definition"],
                                            rows["status"].astype("object"), strict=True)
    ]
    return pd.Series(keys, index=rows.index, dtype="object")


def cell_pooling_prediction(train: pd.DataFrame, held_out: pd.DataFrame,
                            level: float = LEVEL) -> pd.DataFrame:
    """The old model's prediction of each held-out estimate from the training estimates.

    A private copy of the cell pooling the Burden page used before the multilevel model
    (``burden.prevalence_model``, which is being removed; it stays here only so that the new
    model can be compared with it on the same folds; nothing else should use it). For a
    held-out estimate, the training estimates of its definition and status (``_old_key``) are
    pooled by random effects on the logit scale (``stats.pool_prevalence``, REML, as metafor's
    ``rma(measure="PLO")``; each estimate as its prevalence x effective n cases out of its
    effective n) in the first of these that holds any, in the old order (``old_basis``):

    1. ``age_diet``: its analysis age band x diet group cell;
    2. ``general_age``: for omnivores only, the general population of the same age band;
    3. ``diet_all_ages``: the same diet group at all ages (rows of wide or unknown age too);
    4. ``all_rows``: every training estimate of the definition and status.

    A held-out estimate of wide or unknown age has no age cell and starts at step 3. A
    general-population estimate pools general-population estimates (the old model mixed its
    diet cells by the country's shares instead; the direct cell is the more favourable
    reading for the old model). The interval is the pool's prediction interval
    ``logit +/- z sqrt(tau2 + se^2)``, as the old model drew from it; an estimate whose
    definition and status have no training estimate at all gets NaN (``old_basis`` "").
    Returns, per held-out row (same index): old_predicted, old_pi_low, old_pi_high,
    old_basis, old_k (estimates pooled).
    """
    train_key = _old_key(train).to_numpy(dtype=object)
    held_key = _old_key(held_out)
    band = train["age_band"].astype("object").to_numpy(dtype=object)
    diet = train["diet_group"].astype("object").to_numpy(dtype=object)
    cases = (train["prevalence"].astype(float) * _n_effective(train)).to_numpy()
    n = _n_effective(train).to_numpy()
    cache: dict[tuple, stats.PooledEstimate | None] = {}

    def pooled(key: tuple, mask: np.ndarray) -> stats.PooledEstimate | None:
        if key not in cache:
            cache[key] = (stats.pool_prevalence(cases[mask], n[mask], method="REML",
                                                level=level) if mask.any() else None)
        return cache[key]

    records = []
    for idx, row in zip(held_out.index, held_out.itertuples(index=False), strict=True):
        same = train_key == held_key[idx]
        b, d = str(row.age_band), str(row.diet_group)
        steps = []
        if b in schema.AGE_BAND_LABELS:
            steps.append((OLD_AGE_DIET, (b, d), same & (band == b) & (diet == d)))
            if d in OLD_GENERAL_PROXY_DIETS:
                steps.append((OLD_GENERAL_AGE, (b, "general"),
                              same & (band == b) & (diet == "general")))
        steps.append((OLD_DIET_ALL_AGES, ("*", d), same & (diet == d)))
        steps.append((OLD_ALL_ROWS, ("*", "*"), same))
        found = next(((basis, est, int(mask.sum())) for basis, key, mask in steps
                      if (est := pooled((held_key[idx], *key), mask)) is not None), None)
        if found is None:
            records.append((np.nan, np.nan, np.nan, "", 0))
        else:
            basis, est, k = found
            records.append((est.estimate, est.pi_low, est.pi_high, basis, k))
    return pd.DataFrame(records, index=held_out.index,
                        columns=["old_predicted", "old_pi_low", "old_pi_high", "old_basis",
                                 "old_k"])


def _n_effective(rows: pd.DataFrame) -> pd.Series:
    """Effective n of each estimate, else its n (as the model reads them)."""
    return pd.to_numeric(rows["n_effective"], errors="coerce").fillna(
        pd.to_numeric(rows["n"], errors="coerce")).astype(float)


# --- validation ------------------------------------------------------------------------------


def validate(studies: pd.DataFrame, countries: pd.DataFrame, shares: pd.DataFrame,
             folds: str = "study", definition: str = schema.DEFAULT_DEFINITION,
             level: float = LEVEL) -> pd.DataFrame:
    """Out-of-sample predictions of every estimate the model fits, by both models.

    The estimates are chosen once (``model.model_rows``) and their covariates built once
    (``model.prepare_rows``); for each fold (``fold_indices``) the model is refitted on the
    other estimates (``model.fit_prepared``, as ``fit_rows``) and predicts each held-out
    estimate with its own covariates and sampling variance (``Model.predict_estimates``:
    leaving a country out, its country effect comes from sigma2), and the old cell pooling
    predicts it from the same training estimates (``cell_pooling_prediction``). A fold whose
    training set is too small to fit gets NaN.

    ``covered``: the estimate's logit (``stats.logit_effects``: 1/2 added to a zero cell)
    lies in the ``level`` prediction interval, compared on the logit scale for both models;
    ``abs_error_pp``: |observed - predicted| in percentage points. ``observed`` is the
    published prevalence (fraction). ``old_*`` are the old model's figures (NaN where it has
    no estimate of the definition and status). Columns: VALIDATION_COLUMNS, one row per
    held-out estimate, in fold order.
    """
    rows, excluded = model.model_rows(studies, definition)
    # Covariates of a row depend on that row alone: built once, sliced per fold.
    prepared = model.prepare_rows(rows, countries, shares, definition)
    yi = prepared["yi"].to_numpy(dtype=float)
    parts = []
    for fold, held in fold_indices(rows, folds):
        train, test = rows[~held], rows[held]
        try:
            fitted = model.fit_prepared(prepared[~held], excluded, countries, shares,
                                        definition)
            new = fitted.predict_prepared(prepared[held], level=level)[
                ["predicted", "pi_low", "pi_high"]]
        except ValueError:
            new = pd.DataFrame(np.nan, index=test.index,
                               columns=["predicted", "pi_low", "pi_high"])
        old = cell_pooling_prediction(train, test, level=level)
        parts.append(pd.concat([
            pd.DataFrame({"fold_type": folds, "fold": fold}, index=test.index), new, old,
        ], axis=1))
    out = pd.concat(parts) if parts else pd.DataFrame(columns=VALIDATION_COLUMNS)
    frame = rows.loc[out.index]
    out["estimate_id"] = frame["estimate_id"].astype("object").to_numpy()
    out["sample_id"] = frame["sample_id"].astype("object").to_numpy()
    out["country_iso3"] = frame["country_iso3"].astype("object").to_numpy()
    out["diet_group"] = frame["diet_group"].astype("object").to_numpy()
    out["age_band"] = frame["age_band"].astype("object").to_numpy()
    out["sample_frame"] = frame["sample_frame"].astype("object").to_numpy()
    out["cutoff"] = frame["cutoff_low"].to_numpy(dtype=float)
    out["observed"] = frame["prevalence"].to_numpy(dtype=float)
    observed_logit = yi[rows.index.get_indexer(out.index)]
    for prefix in ("", "old_"):
        p, lo, hi = (out[f"{prefix}{c}"].to_numpy(dtype=float)
                     for c in ("predicted", "pi_low", "pi_high"))
        out[f"{prefix}covered"] = pd.array(
            np.where(np.isnan(p), None, (_logit(lo) <= observed_logit)
                     & (observed_logit <= _logit(hi))), dtype="boolean")
        out[f"{prefix}abs_error_pp"] = np.abs(out["observed"].to_numpy() - p) * 100
    out["old_k"] = out["old_k"].astype("int64")
    return out[list(VALIDATION_COLUMNS)].reset_index(drop=True)


def _logit(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def summarize_validation(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model x fold type: how well the held-out estimates were predicted.

    Both models are scored on the same estimates: those both could predict (``n_held_out``;
    ``n_predictable`` counts the estimates the model itself predicted). ``coverage``: share of
    them inside their 95% prediction interval (target COVERAGE_TARGET);
    ``median_abs_error_pp``: median |observed - predicted| (percentage points);
    ``mean_error_pp``: mean (predicted - observed), the bias (pp). Columns: SUMMARY_COLUMNS.
    """
    records = []
    for fold_type in [f for f in FOLD_TYPES if f in set(frame["fold_type"])]:
        part = frame[frame["fold_type"] == fold_type]
        both = part["predicted"].notna() & part["old_predicted"].notna()
        common = part[both]
        for key, prefix in (("new", ""), ("old", "old_")):
            error = (common[f"{prefix}predicted"] - common["observed"]) * 100
            records.append({
                "model": key, "model_label": MODELS[key], "fold_type": fold_type,
                "fold_label": FOLD_LABELS[fold_type], "n_held_out": int(len(common)),
                "n_predictable": int(part[f"{prefix}predicted"].notna().sum()),
                "coverage": (float(common[f"{prefix}covered"].astype(float).mean())
                             if len(common) else np.nan),
                "median_abs_error_pp": float(error.abs().median()) if len(common) else np.nan,
                "mean_error_pp": float(error.mean()) if len(common) else np.nan,
            })
    return pd.DataFrame(records, columns=list(SUMMARY_COLUMNS))


# --- in sample -------------------------------------------------------------------------------

IN_SAMPLE_COLUMNS: tuple[str, ...] = (
    "estimate_id", "study_id", "first_author", "year", "survey_or_cohort", "country_iso3",
    "population", "sex", "age_min", "age_max", "diet_group", "cutoff", "observed", "n",
    "in_fit", "predicted", "ci_low", "ci_high", "pi_low", "pi_high", "within_pi",
    "error_pp",
)


def in_sample_surveys(fitted: model.Model, studies: pd.DataFrame, *,
                      draws: int = model.DEFAULT_DRAWS, seed: int = model.DEFAULT_SEED,
                      level: float = LEVEL) -> pd.DataFrame:
    """Each national survey's published figure beside the model's prediction for that
    country, ages, sex, diet, supplement use, pregnancy and cut-off (``Model.predict``, for
    the general population: a national survey is one).

    Rows: serum B12 threshold estimates ("<" a cut-off in pmol/L) of ``national_survey``
    samples in one country, poolable or not, excluding rows that pool pregnant and
    non-pregnant people. ``in_fit``: the estimate is one the model was fitted on (in sample);
    others (subgroups or repeats of fitted ones, rows without counts) are seen only through
    the same people. ``ci_*`` is the uncertainty of the population's prevalence, ``pi_*``
    where a new survey of it would fall (without its sampling error); ``within_pi`` says
    whether the published figure lies in the latter; ``error_pp`` is predicted - observed in
    percentage points. Columns: IN_SAMPLE_COLUMNS.
    """
    frame = studies.loc[
        (studies["sample_frame"].astype("object") == "national_survey").to_numpy(dtype=bool)
        & (studies["biomarker"].astype("object") == model.CROSSWALK_BIOMARKER).to_numpy(
            dtype=bool)
        & studies["cutoff_operator"].isin(["<", "<="]).to_numpy(dtype=bool)
        & studies["cutoff_high"].isna().to_numpy(dtype=bool)
        & (studies["canonical_unit"] == "pmol/L").to_numpy(dtype=bool)
        & (studies["country_iso3"] != schema.MULTI_COUNTRY).to_numpy(dtype=bool)
        & (studies["pregnancy"].astype("object") != "mixed").to_numpy(dtype=bool)
        & studies["prevalence"].notna().to_numpy(dtype=bool)
    ]
    if frame.empty:
        return pd.DataFrame(columns=list(IN_SAMPLE_COLUMNS))
    query = pd.DataFrame({
        "iso3": frame["country_iso3"].astype("object"),
        "age_min": frame["age_min"].astype("Float64").astype(float),
        "age_max": frame["age_max"].astype("Float64").astype(float),
        "age_mean": frame["age_mean"].astype(float),
        "sex": frame["sex"].astype("object"),
        "diet_group": frame["diet_group"].astype("object"),
        "supplement_users": frame["supplement_users"].astype("object").replace(
            "unknown", "included"),
        "pregnancy": frame["pregnancy"].astype("object"),
        "cutoff": frame["cutoff_low"].astype(float),
    }, index=frame.index)
    predicted = fitted.predict(query, draws=draws, seed=seed, level=level)
    fitted_ids = set(fitted.data["estimate_id"])
    out = pd.DataFrame({
        "estimate_id": frame["estimate_id"].astype("object"),
        "study_id": frame["study_id"].astype("object"),
        "first_author": frame["first_author"].astype("object"),
        "year": frame["year"],
        "survey_or_cohort": frame["survey_or_cohort"].astype("object"),
        "country_iso3": query["iso3"], "population": frame["population"].astype("object"),
        "sex": query["sex"], "age_min": frame["age_min"], "age_max": frame["age_max"],
        "diet_group": query["diet_group"], "cutoff": query["cutoff"],
        "observed": frame["prevalence"].astype(float), "n": frame["n"],
        "in_fit": frame["estimate_id"].isin(fitted_ids).to_numpy(dtype=bool),
    }, index=frame.index)
    for column in ("ci_low", "ci_high", "pi_low", "pi_high"):
        out[column] = predicted[column].to_numpy()
    out["predicted"] = predicted["estimate"].to_numpy()
    out["within_pi"] = (out["pi_low"] <= out["observed"]) & (out["observed"] <= out["pi_high"])
    out["error_pp"] = (out["predicted"] - out["observed"]) * 100
    return out[list(IN_SAMPLE_COLUMNS)].reset_index(drop=True)


def in_sample_summary(table: pd.DataFrame) -> dict[str, float]:
    """Headline of ``in_sample_surveys``: surveys compared, share within the prediction
    interval, median |error| and mean error (pp), over all rows and the fitted ones."""
    fitted = table[table["in_fit"]]
    return {
        "n": int(len(table)), "n_in_fit": int(len(fitted)),
        "within_pi": float(table["within_pi"].mean()) if len(table) else float("nan"),
        "median_abs_error_pp": float(table["error_pp"].abs().median()) if len(table) else
        float("nan"),
        "mean_error_pp": float(table["error_pp"].mean()) if len(table) else float("nan"),
        "median_abs_error_pp_in_fit": float(fitted["error_pp"].abs().median()) if len(fitted)
        else float("nan"),
    }

