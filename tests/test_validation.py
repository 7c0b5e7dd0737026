"""Tests of out-of-sample validation on small hand-made tables with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboard import model, stats, validation
from tests.model_tables import COUNTRIES, SHARES, expit


def _row(i: int, j: int = 1, **over) -> dict:
    base = {
        "estimate_id": f"s{i}-{j:02d}", "study_id": f"s{i}", "sample_id": f"s{i}",
        "parent_id": None, "split": None, "repeat_of": None, "country_iso3": "AAA",
        "sex": "both", "age_min": 20, "age_max": 39, "age_mean": None, "age_band": "20-39",
        "diet_group": "omnivore", "supplement_users": "included", "pregnancy": "not_pregnant",
        "sample_frame": "community_sample", "biomarker": "serum_b12", "cutoff_operator": "<",
        "cutoff_low": 148.0, "cutoff_high": None, "canonical_unit": "pmol/L",
        "definition": "b12_lt148", "status": "deficient", "usable_for": "pooling",
        "prevalence": 0.05, "n": 1000, "n_effective": None, "population": "adults",
    }
    return {**base, **over}


def _studies() -> pd.DataFrame:
    """Eight studies in four countries, two with an omnivore and a vegan estimate each."""
    rows = []
    for i in range(8):
        iso3 = COUNTRIES["iso3"][i % 4]
        base = -3.0 + (0.3 if iso3.startswith("A") else -0.3) + (-0.1, 0.1)[i % 2]
        rows.append(_row(i, 1, country_iso3=iso3, prevalence=expit(base)))
        if i < 4:
            rows.append(_row(i, 2, country_iso3=iso3, diet_group="vegan",
                             prevalence=expit(base + 1.5)))
    return pd.DataFrame(rows)


# --- folds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("folds", "n_folds"), [("study", 8), ("country", 4)])
def test_a_folds_own_estimates_are_never_in_its_training_set(folds: str, n_folds: int):
    rows, _ = model.model_rows(_studies())
    seen = []
    for fold, held in validation.fold_indices(rows, folds):
        train_ids = set(rows.loc[~held, "estimate_id"])
        held_ids = set(rows.loc[held, "estimate_id"])
        assert held_ids
        assert not held_ids & train_ids
        # the whole sample or country leaves together
        column = validation.FOLD_TYPES[folds]
        assert set(rows.loc[held, column]) == {fold}
        assert fold not in set(rows.loc[~held, column])
        seen.extend(held_ids)
    assert len(seen) == len(set(seen)) == len(rows)  # each estimate held out exactly once
    assert len(list(validation.fold_indices(rows, folds))) == n_folds


def test_unknown_fold_type_is_refused():
    rows, _ = model.model_rows(_studies())
    with pytest.raises(ValueError, match="folds must be one of"):
        list(validation.fold_indices(rows, "region"))


def test_validate_refits_without_the_fold_and_predicts_it():
    studies = _studies()
    out = validation.validate(studies, COUNTRIES, SHARES, folds="study")
    assert list(out.columns) == list(validation.VALIDATION_COLUMNS)
    assert len(out) == len(studies)
    rows, excluded = model.model_rows(studies)
    # fold s2: refit on the others by hand and predict its two estimates
    held = (rows["sample_id"] == "s2").to_numpy()
    fitted = model.fit_rows(rows[~held].reset_index(drop=True), excluded, COUNTRIES, SHARES)
    expected = fitted.predict_estimates(rows[held])
    got = out[out["fold"] == "s2"].set_index("estimate_id")
    np.testing.assert_allclose(got.loc[expected["estimate_id"], "predicted"],
                               expected["predicted"], rtol=1e-12)
    np.testing.assert_allclose(got.loc[expected["estimate_id"], "abs_error_pp"],
                               (expected["observed"] - expected["predicted"]).abs() * 100,
                               rtol=1e-12)
    assert (out["pi_low"] < out["predicted"]).all()
    assert (out["predicted"] < out["pi_high"]).all()


def test_leaving_a_country_out_takes_its_effect_from_sigma2():
    studies = _studies()
    rows, excluded = model.model_rows(studies)
    held = (rows["country_iso3"] == "AAA").to_numpy()
    fitted = model.fit_rows(rows[~held].reset_index(drop=True), excluded, COUNTRIES, SHARES)
    pred = fitted.predict_estimates(rows[held])
    x = model.design_matrix(fitted.data.iloc[0:0].reindex([0]).assign(
        iso3="AAA", age=29.5, sex="both", diet_group="omnivore", supplement_users="included",
        pregnancy="not_pregnant", sample_frame="community_sample", cutoff=148.0),
        COUNTRIES, SHARES, fitted.terms).to_numpy(dtype=float)[0]
    x = np.concatenate([[1.0], x])
    region = fitted.fit.ranef("region").set_index("id")
    s2 = fitted.fit.sigma2
    first = pred[pred["estimate_id"] == "s0-01"].iloc[0]
    vi = 1 / (1000 * first["observed"] * (1 - first["observed"]))  # logit variance, n = 1000
    # mean: fixed part + region Ra's BLUP (Ra still has AAB); country AAA: 0 and sigma2
    assert first["logit_mean"] == pytest.approx(x @ fitted.fit.beta + region.loc["Ra", "blup"])
    var = (x @ fitted.fit.vcov @ x + region.loc["Ra", "se"] ** 2 + s2[1] + s2[2] + s2[3] + vi)
    assert first["logit_sd"] == pytest.approx(math.sqrt(var), rel=1e-9)
    assert first["vi"] == pytest.approx(vi)


# --- the old model -------------------------------------------------------------------------------


def _pool(prevalences: list[float], n: int = 1000) -> stats.PooledEstimate:
    p = np.asarray(prevalences)
    return stats.pool_prevalence(p * n, np.full(len(p), n), method="REML")


@pytest.mark.parametrize(
    ("held", "train", "basis", "pooled"),
    [
        # its own cell: omnivores aged 20-39
        (dict(diet_group="omnivore"),
         [dict(diet_group="omnivore", prevalence=0.04), dict(diet_group="general",
                                                             prevalence=0.20)],
         validation.OLD_AGE_DIET, [0.04]),
        # no omnivores aged 20-39: the general population aged 20-39 (omnivores only)
        (dict(diet_group="omnivore"),
         [dict(diet_group="general", prevalence=0.20),
          dict(diet_group="omnivore", age_band="60-79", age_min=60, age_max=79,
               prevalence=0.08)],
         validation.OLD_GENERAL_AGE, [0.20]),
        # a vegan never borrows the general population: vegans of all ages
        (dict(diet_group="vegan"),
         [dict(diet_group="general", prevalence=0.20),
          dict(diet_group="vegan", age_band="unknown", age_min=None, age_max=None,
               prevalence=0.30)],
         validation.OLD_DIET_ALL_AGES, [0.30]),
        # no vegan at all: every row of the definition and status
        (dict(diet_group="vegan"),
         [dict(diet_group="general", prevalence=0.20),
          dict(diet_group="omnivore", prevalence=0.10)],
         validation.OLD_ALL_ROWS, [0.20, 0.10]),
        # a held-out estimate of unknown age has no age cell: same diet, all ages
        (dict(diet_group="omnivore", age_band="unknown", age_min=None, age_max=None),
         [dict(diet_group="general", prevalence=0.20),
          dict(diet_group="omnivore", prevalence=0.10)],
         validation.OLD_DIET_ALL_AGES, [0.10]),
    ],
)
def test_the_old_models_fallback_order(held: dict, train: list[dict], basis: str,
                                       pooled: list[float]):
    train_rows = pd.DataFrame([_row(10 + i, **t) for i, t in enumerate(train)]).assign(
        derived=False)
    # a row of another definition never enters the pool
    other = pd.DataFrame([_row(99, definition="b12_lt221", cutoff_low=221.0, status=(
        "low_or_marginal"), diet_group=held["diet_group"], prevalence=0.9)]).assign(
        derived=False)
    held_rows = pd.DataFrame([_row(1, **held)]).assign(derived=False)
    out = validation.cell_pooling_prediction(pd.concat([train_rows, other]), held_rows)
    expected = _pool(pooled)
    r = out.iloc[0]
    assert r["old_basis"] == basis
    assert r["old_k"] == len(pooled)
    assert r["old_predicted"] == pytest.approx(expected.estimate, rel=1e-12)
    assert (r["old_pi_low"], r["old_pi_high"]) == (
        pytest.approx(expected.pi_low, rel=1e-12), pytest.approx(expected.pi_high, rel=1e-12))


def test_the_old_model_cannot_predict_a_definition_without_training_rows():
    train = pd.DataFrame([_row(2)]).assign(derived=False)
    held = pd.DataFrame([_row(1, definition="b12_lt221", cutoff_low=221.0,
                              status="low_or_marginal")]).assign(derived=False)
    r = validation.cell_pooling_prediction(train, held).iloc[0]
    assert math.isnan(r["old_predicted"])
    assert r["old_basis"] == ""
    assert r["old_k"] == 0


def test_a_derived_cumulative_row_is_pooled_under_its_threshold_definition():
    # "< 148" + "148-221" of one sample = "< 221", pooled with the published < 221 rows
    derived = pd.DataFrame([_row(1, cutoff_low=220.0, prevalence=0.3)]).assign(derived=True)
    train = pd.DataFrame([
        _row(2, definition="b12_lt221", cutoff_low=221.0, status="low_or_marginal",
             prevalence=0.25),
        _row(3, prevalence=0.05),
    ]).assign(derived=False)
    r = validation.cell_pooling_prediction(train, derived).iloc[0]
    assert (r["old_basis"], r["old_k"]) == (validation.OLD_AGE_DIET, 1)
    assert r["old_predicted"] == pytest.approx(0.25)


# --- the summary ---------------------------------------------------------------------------------


def test_coverage_and_errors_on_a_four_row_example():
    frame = pd.DataFrame({
        "fold_type": ["study"] * 4,
        "observed": [0.10, 0.20, 0.30, 0.40],
        "predicted": [0.12, 0.18, 0.40, 0.41],
        "covered": pd.array([True, True, False, True], dtype="boolean"),
        "old_predicted": [0.05, 0.30, 0.30, np.nan],  # the old model cannot predict row 4
        "old_covered": pd.array([False, True, True, pd.NA], dtype="boolean"),
    })
    out = validation.summarize_validation(frame).set_index("model")
    new, old = out.loc["new"], out.loc["old"]
    # compared on the three rows both predict
    assert new["n_held_out"] == old["n_held_out"] == 3
    assert (new["n_predictable"], old["n_predictable"]) == (4, 3)
    assert new["coverage"] == pytest.approx(2 / 3)  # True, True, False
    assert old["coverage"] == pytest.approx(2 / 3)  # False, True, True
    # errors (pp): new +2, -2, +10 -> median |e| 2, mean 10/3; old -5, +10, 0 -> 5, 5/3
    assert new["median_abs_error_pp"] == pytest.approx(2.0)
    assert new["mean_error_pp"] == pytest.approx(10 / 3)
    assert old["median_abs_error_pp"] == pytest.approx(5.0)
    assert old["mean_error_pp"] == pytest.approx(5 / 3)
    assert list(out.columns) == [c for c in validation.SUMMARY_COLUMNS if c != "model"]


def test_covered_is_read_on_the_logit_scale_with_a_zero_cell_corrected():
    # An estimate of 0 of 59 has logit log(0.5 / 59.5): inside an interval reaching lower
    studies = _studies()
    studies.loc[0, "prevalence"] = 0.0
    out = validation.validate(studies, COUNTRIES, SHARES, folds="country")
    row = out[out["estimate_id"] == "s0-01"].iloc[0]
    yi = math.log(0.5 / 1000.5)
    assert bool(row["covered"]) == (math.log(row["pi_low"] / (1 - row["pi_low"])) <= yi)


# --- the shipped evidence -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    from dashboard import burden, data

    countries = data.load_countries()
    shares = burden.diet_share_model(data.load_diet_shares(), countries["iso3"].tolist())
    studies = data.load_studies()
    return studies, countries, shares, model.fit(studies, countries, shares)


def test_in_sample_surveys_compare_every_national_survey(shipped):
    studies, _, _, fitted = shipped
    out = validation.in_sample_surveys(fitted, studies, draws=200)
    assert list(out.columns) == list(validation.IN_SAMPLE_COLUMNS)
    chosen = studies[studies["estimate_id"].isin(out["estimate_id"])]
    assert (chosen["sample_frame"] == "national_survey").all()
    assert out["in_fit"].any()
    assert (~out["in_fit"]).any()
    assert set(out.loc[out["in_fit"], "estimate_id"]) <= set(fitted.data["estimate_id"])
    assert (out["ci_low"] <= out["predicted"]).all()
    assert (out["predicted"] <= out["ci_high"]).all()
    summary = validation.in_sample_summary(out)
    assert summary["n"] == len(out)
