"""Tests of dashboard.metareg against R's metafor and hand-computed cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from dashboard import metareg, stats

GOLDEN = Path(__file__).parent / "golden"
REL_RMA = 1e-6  # rma (one variance component): the exact REML optimum, as R's
REL_MV = 1e-5  # rma.mv coefficients, se, predictions, BLUPs (R's optimum is flat to ~1e-5)
REL_MV_SIGMA2 = 1e-4
LEVELS = ["region", "country", "study", "es_id"]

STUDIES = pd.read_csv(GOLDEN / "metareg_in.csv")
EFFECTS = pd.read_csv(GOLDEN / "metareg_effects.csv")
COEF = pd.read_csv(GOLDEN / "metareg_coef.csv")
FIT = pd.read_csv(GOLDEN / "metareg_fit.csv").set_index("quantity")["value"]
PREDICT = pd.read_csv(GOLDEN / "metareg_predict.csv")
RANEF = pd.read_csv(GOLDEN / "metareg_ranef.csv")
MODERATORS = [c for c in STUDIES.columns if c.startswith("x_")]
# The predict file names x_age10 twice; pandas reads the model-matrix copy as x_age10.1.
NEW_MODS = PREDICT[["x_age10.1", *MODERATORS[1:]]].set_axis(MODERATORS, axis=1)


def approx(expected, rel):
    return pytest.approx(np.asarray(expected, dtype=float), rel=rel, abs=1e-300)


@pytest.fixture(scope="module")
def effects() -> tuple[np.ndarray, np.ndarray]:
    return metareg.logit_effects(STUDIES["cases"], STUDIES["n"])


# R: fit <- rma(yi, vi, mods=~x_age10+x_vegetarian+x_vegan+x_pescatarian+x_female+x_male+
#                 x_def118+x_def221, data=dat, method="REML")
@pytest.fixture(scope="module")
def rma_fit(effects) -> metareg.MetaRegression:
    return metareg.meta_regression(*effects, STUDIES[MODERATORS])


# R: fit_knha <- rma(yi, vi, mods=~..., data=dat, method="REML", test="knha")
@pytest.fixture(scope="module")
def knha_fit(effects) -> metareg.MetaRegression:
    return metareg.meta_regression(*effects, STUDIES[MODERATORS], test="knha")


# R: fit_mv <- rma.mv(yi, vi, mods=~..., random=~1|region/country/study/es_id, data=dat,
#                     method="REML")
@pytest.fixture(scope="module")
def mv_fit(effects) -> metareg.MetaRegression:
    return metareg.meta_regression(*effects, STUDIES[MODERATORS], random=STUDIES[LEVELS])


# --- effect sizes ------------------------------------------------------------------------------


def test_logit_effects_match_escalc(effects):
    # R: escalc(measure="PLO", xi=cases, ni=n, data=dat)
    yi, vi = effects
    assert yi == approx(EFFECTS["yi"], 1e-10)
    assert vi == approx(EFFECTS["vi"], 1e-10)


def test_logit_effects_by_hand():
    # 10/40: log(10/30) = -log 3, v = 1/10 + 1/30 = 2/15
    # 0/20: zero cell, log(0.5/20.5) = -log 41, v = 1/0.5 + 1/20.5 = 2 + 2/41
    # 20/20: zero cell, log(20.5/0.5) = log 41, v = 2 + 2/41
    yi, vi = metareg.logit_effects([10, 0, 20], [40, 20, 20])
    assert yi == pytest.approx([-math.log(3), -math.log(41), math.log(41)], rel=1e-14)
    assert vi == pytest.approx([2 / 15, 2 + 2 / 41, 2 + 2 / 41], rel=1e-14)


def test_logit_effects_from_prevalence_are_cases_out_of_n_effective():
    # p = 0.25 of ne = 40: v = 1 / (40 * 0.25 * 0.75) = 2/15, as 10 cases of 40;
    # p = 0 and 1 of ne = 20: the 1/2 correction on cells p*ne and (1-p)*ne, as 0/20 and 20/20.
    by_prevalence = metareg.logit_effects(prevalence=[0.25, 0.0, 1.0], n_effective=[40, 20, 20])
    by_counts = metareg.logit_effects([10, 0, 20], [40, 20, 20])
    for got, expected in zip(by_prevalence, by_counts, strict=True):
        assert got == pytest.approx(expected, rel=1e-14)
    _, vi = metareg.logit_effects(prevalence=[0.1], n_effective=[123.4])
    assert vi[0] == pytest.approx(1 / (123.4 * 0.1 * 0.9), rel=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cases": [11], "n": [10]}, "between 0 and n"),
        ({"cases": [-1], "n": [10]}, "between 0 and n"),
        ({"cases": [1, 2], "n": [10, 0]}, "n must be positive"),
        ({"cases": [1, 2], "n": [10]}, "differ in length"),
        ({"cases": [[1]], "n": [[10]]}, "one-dimensional"),
        ({"cases": [np.nan], "n": [10]}, "missing"),
        ({"cases": [1]}, "together"),
        ({}, "either cases and n"),
        ({"cases": [1], "n": [10], "prevalence": [0.1], "n_effective": [10]}, "either"),
        ({"prevalence": [1.2], "n_effective": [10]}, r"\[0, 1\]"),
        ({"prevalence": [0.2], "n_effective": [0]}, "n_effective must be positive"),
    ],
)
def test_logit_effects_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        metareg.logit_effects(**kwargs)


# --- rma: one variance component ---------------------------------------------------------------

# R: coef(fit); fit$se   and   fit_knha$se; fit_knha$ci.lb; fit_knha$ci.ub
COEF_CASES = [
    ("rma_fit", "beta", "uni_beta"),
    ("rma_fit", "se", "uni_se"),
    ("knha_fit", "beta", "uni_beta"),
    ("knha_fit", "se", "knha_se"),
    ("knha_fit", "ci_low", "knha_ci_low"),
    ("knha_fit", "ci_high", "knha_ci_high"),
]


@pytest.mark.parametrize(("fit", "attribute", "column"), COEF_CASES)
def test_rma_coefficients_match_metafor(request, fit, attribute, column):
    result = request.getfixturevalue(fit)
    assert result.terms == ("intercept", *MODERATORS)
    assert getattr(result, attribute) == approx(COEF[column], REL_RMA)


# R: fit$tau2; fit$QE; fit$QM; fit$I2; fit$R2; logLik(fit); fit_knha$QM; fit_knha$QMdf[2]
FIT_CASES = [
    ("rma_fit", lambda f: f.sigma2[0], "uni_tau2"),
    ("rma_fit", lambda f: f.qe, "uni_QE"),
    ("rma_fit", lambda f: f.qm, "uni_QM"),
    ("rma_fit", lambda f: f.i2, "uni_I2"),
    ("rma_fit", lambda f: f.r2, "uni_R2"),
    ("rma_fit", lambda f: f.loglik, "uni_logLik"),
    ("knha_fit", lambda f: f.qm, "knha_QM_F"),
    ("knha_fit", lambda f: f.dfs, "knha_dfs"),
    ("knha_fit", lambda f: f.qm_df[1], "knha_dfs"),
    ("knha_fit", lambda f: f.sigma2[0], "uni_tau2"),
]


@pytest.mark.parametrize(("fit", "get", "quantity"), FIT_CASES, ids=[c[2] for c in FIT_CASES])
def test_rma_fit_statistics_match_metafor(request, fit, get, quantity):
    assert get(request.getfixturevalue(fit)) == pytest.approx(FIT[quantity], rel=REL_RMA)


def test_rma_tests_and_degrees_of_freedom(rma_fit, knha_fit):
    # 114 estimates, 9 coefficients: QE on 105 df, QM on the 8 moderators.
    assert (rma_fit.k, rma_fit.p, rma_fit.qe_df, rma_fit.qm_df) == (114, 9, 105, (8,))
    assert knha_fit.qm_df == (8, 105)
    assert rma_fit.dfs is None
    assert rma_fit.zval == pytest.approx(rma_fit.beta / rma_fit.se)
    assert knha_fit.pval == pytest.approx(
        2 * sps.t.sf(np.abs(knha_fit.beta / knha_fit.se), 105)
    )
    # The Knapp-Hartung F is the Wald chi-square of the rescaled vcov over its 8 df.
    assert knha_fit.qm_p == pytest.approx(sps.f.sf(FIT["knha_QM_F"], 8, 105), rel=1e-6)


# --- rma.mv: nested random intercepts ------------------------------------------------------------


def test_rma_mv_reml_likelihood_at_least_rs(mv_fit):
    # R: logLik(fit_mv)
    assert mv_fit.loglik >= FIT["mv_logLik"] - 1e-8


def test_rma_mv_variance_components_match_metafor(mv_fit):
    # R: fit_mv$sigma2
    expected = FIT[["mv_sigma2_region", "mv_sigma2_country", "mv_sigma2_study",
                    "mv_sigma2_estimate"]]
    assert mv_fit.levels == tuple(LEVELS)
    assert mv_fit.sigma2 == approx(expected, REL_MV_SIGMA2)


@pytest.mark.parametrize(
    ("attribute", "column"),
    [("beta", "mv_beta"), ("se", "mv_se"), ("ci_low", "mv_ci_low"), ("ci_high", "mv_ci_high")],
)
def test_rma_mv_coefficients_match_metafor(mv_fit, attribute, column):
    # R: coef(fit_mv); fit_mv$se; fit_mv$ci.lb; fit_mv$ci.ub
    assert getattr(mv_fit, attribute) == approx(COEF[column], REL_MV)


def test_rma_mv_tests_match_metafor(mv_fit):
    # R: fit_mv$QE; fit_mv$QM
    assert mv_fit.qe == pytest.approx(FIT["mv_QE"], rel=REL_RMA)
    assert mv_fit.qm == pytest.approx(FIT["mv_QM"], rel=REL_MV)
    assert (mv_fit.i2, mv_fit.r2) == (None, None)


# --- predictions and BLUPs -----------------------------------------------------------------------

PREDICT_COLUMNS = {
    "estimate": "pred", "ci_low": "ci_low", "ci_high": "ci_high",
    "pi_low": "pi_low", "pi_high": "pi_high",
}


# R: predict(fit, newmods=X_new, transf=transf.ilogit)
#    predict(fit_mv, newmods=X_new, transf=transf.ilogit)
@pytest.mark.parametrize(("fit", "prefix", "rel"), [("rma_fit", "uni", REL_RMA),
                                                     ("mv_fit", "mv", REL_MV)])
@pytest.mark.parametrize("column", list(PREDICT_COLUMNS))
def test_predictions_match_metafor(request, fit, prefix, rel, column):
    predicted = request.getfixturevalue(fit).predict(NEW_MODS)
    assert len(predicted) == len(PREDICT) == 48
    assert predicted[column].to_numpy() == approx(PREDICT[f"{prefix}_{PREDICT_COLUMNS[column]}"],
                                                  rel)


def test_predict_takes_arrays_and_reordered_frames(mv_fit):
    by_frame = mv_fit.predict(NEW_MODS)
    by_array = mv_fit.predict(NEW_MODS.to_numpy())
    shuffled = mv_fit.predict(NEW_MODS[MODERATORS[::-1]])
    one_row = mv_fit.predict(NEW_MODS.iloc[3].to_numpy())
    pd.testing.assert_frame_equal(by_frame, by_array)
    pd.testing.assert_frame_equal(by_frame, shuffled)
    pd.testing.assert_frame_equal(one_row, by_frame.iloc[[3]].reset_index(drop=True))
    # Fixed part on the logit scale: intercept + X_new beta.
    assert by_frame["pred"].iloc[0] == pytest.approx(
        mv_fit.beta[0] + NEW_MODS.iloc[0].to_numpy() @ mv_fit.beta[1:]
    )


# R: ranef(fit_mv)$region; ranef(fit_mv)$`region/country`
@pytest.mark.parametrize(("level", "position"), [("region", 0), ("country", 1)])
def test_ranef_matches_metafor(mv_fit, level, position):
    expected = RANEF[RANEF["level"] == level].reset_index(drop=True)
    for key in (level, position):
        got = mv_fit.ranef(key)
        assert list(got.columns) == ["id", "blup", "se"]
        assert got["id"].tolist() == expected["id"].tolist()
        assert got["blup"].to_numpy() == approx(expected["blup"], REL_MV)
        assert got["se"].to_numpy() == approx(expected["se"], REL_MV)


# --- hand-computed and structural cases -----------------------------------------------------------

META_INPUT = pd.read_csv(GOLDEN / "meta_input.csv")


@pytest.mark.parametrize("method", ["REML", "DL"])
@pytest.mark.parametrize("group", sorted(META_INPUT["group"].unique()))
def test_intercept_only_fit_is_pool_prevalence(group, method):
    studies = META_INPUT[META_INPUT["group"] == group]
    pooled = stats.pool_prevalence(studies["cases"], studies["n"], method=method)
    fit = metareg.meta_regression(*metareg.logit_effects(studies["cases"], studies["n"]),
                                  method=method)
    assert fit.terms == ("intercept",)
    assert fit.sigma2[0] == pytest.approx(pooled.tau2, rel=1e-8, abs=1e-12)
    assert fit.beta[0] == pytest.approx(pooled.logit, rel=1e-8)
    assert fit.se[0] == pytest.approx(pooled.logit_se, rel=1e-8)
    assert fit.qe == pytest.approx(pooled.q, rel=1e-12)
    assert fit.i2 == pytest.approx(pooled.i2, rel=1e-8, abs=1e-10)
    assert fit.r2 is None
    # QM of an intercept-only model tests the intercept: z^2.
    assert fit.qm == pytest.approx((pooled.logit / pooled.logit_se) ** 2, rel=1e-8)
    row = fit.predict().iloc[0]
    for column in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        assert row[column] == pytest.approx(getattr(pooled, column), rel=1e-8), column


def test_homogeneous_estimates_give_zero_variances_and_the_weighted_mean():
    # Identical yi: every variance component is 0 (on the boundary); beta = 0.3 and
    # se = 1 / sqrt(sum 1/v) = 1 / sqrt(10 + 5 + 10 + 5) = 1 / sqrt(30).
    y = np.full(4, 0.3)
    v = np.array([0.1, 0.2, 0.1, 0.2])
    for random in (None, [["a", "a", "b", "b"], [1, 2, 3, 4]]):
        fit = metareg.meta_regression(y, v, random=random)
        assert fit.sigma2.tolist() == [0.0] * (1 if random is None else 2)
        assert fit.beta[0] == pytest.approx(0.3, rel=1e-12)
        assert fit.se[0] == pytest.approx(1 / math.sqrt(30), rel=1e-12)
        assert fit.qe == pytest.approx(0.0, abs=1e-12)


def test_outer_variance_at_zero_reduces_to_one_component():
    # Both regions have the same mean (0), so the region variance sits at its boundary 0 and
    # the estimate-level variance is rma's tau2 on the same data.
    y = np.array([-1.0, 1.0, -0.5, 0.5, -1.0, 1.0, -0.5, 0.5])
    v = np.full(8, 0.05)
    region = ["A"] * 4 + ["B"] * 4
    nested = metareg.meta_regression(y, v, random={"region": region, "es": range(8)})
    single = metareg.meta_regression(y, v)
    assert nested.sigma2[0] == 0.0
    assert nested.sigma2[1] == pytest.approx(single.sigma2[0], rel=1e-10)
    assert nested.sigma2[1] > 0.5
    assert nested.loglik == pytest.approx(single.loglik, rel=1e-12)
    assert nested.ranef("region")["blup"].tolist() == [0.0, 0.0]


def test_inner_labels_are_read_within_their_outer_label():
    # Country "C1" under R1 and under R2 are two countries: the fit equals one with globally
    # unique country labels, and ranef lists four countries.
    rng = np.random.default_rng(7)
    region = np.repeat(["R1", "R2"], 12)
    country = np.tile(np.repeat(["C1", "C2"], 6), 2)
    y = rng.normal(size=24) + np.repeat(rng.normal(size=4), 6)
    v = rng.uniform(0.05, 0.2, size=24)
    x = pd.DataFrame({"age": rng.normal(size=24)})
    repeated = metareg.meta_regression(y, v, x, random=[region, country, np.arange(24)])
    unique = metareg.meta_regression(
        y, v, x, random=[region, np.char.add(region, country), np.arange(24)]
    )
    assert repeated.sigma2 == pytest.approx(unique.sigma2, rel=1e-8, abs=1e-12)
    assert repeated.beta == pytest.approx(unique.beta, rel=1e-8)
    assert repeated.loglik == pytest.approx(unique.loglik, rel=1e-12)
    countries = repeated.ranef(1)
    assert countries["id"].tolist() == ["R1/C1", "R1/C2", "R2/C1", "R2/C2"]
    assert repeated.levels == ("level1", "level2", "level3")
    # Treating "C1" as one country across regions is a different (crossed) model.
    crossed = metareg.meta_regression(y, v, x, random=[country, np.arange(24)])
    assert crossed.loglik != pytest.approx(repeated.loglik, rel=1e-6)


def test_term_names_from_arrays_and_frames():
    y, v = np.array([0.1, 0.4, 0.2, 0.8, 0.5]), np.full(5, 0.1)
    x = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0]])
    by_array = metareg.meta_regression(y, v, x)
    by_frame = metareg.meta_regression(y, v, pd.DataFrame(x, columns=["dose", "female"]))
    assert by_array.terms == ("intercept", "x1", "x2")
    assert by_frame.terms == ("intercept", "dose", "female")
    assert by_array.beta == pytest.approx(by_frame.beta)
    assert by_frame.coefficients()["term"].tolist() == list(by_frame.terms)


def test_stats_reexports_the_public_names():
    assert stats.meta_regression is metareg.meta_regression
    assert stats.logit_effects is metareg.logit_effects
    assert stats.MetaRegression is metareg.MetaRegression


Y5, V5 = np.array([0.1, 0.4, 0.2, 0.8, 0.5]), np.full(5, 0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vi": np.array([0.1, 0.1, 0.0, 0.1, 0.1])}, "vi must be positive"),
        ({"vi": np.full(4, 0.1)}, "differ in length"),
        ({"yi": np.array([0.1, np.nan, 0.2, 0.8, 0.5])}, "missing"),
        ({"X": np.ones((4, 1))}, "one row per estimate"),
        ({"X": np.column_stack([np.arange(5), 2 * np.arange(5)])}, "linearly dependent"),
        ({"X": np.ones((5, 1))}, "linearly dependent"),
        ({"X": pd.DataFrame({"intercept": np.arange(5.0)})}, "must not contain an 'intercept'"),
        ({"X": np.column_stack([np.arange(5), np.arange(5) ** 2, np.arange(5) ** 3,
                                np.arange(5) ** 4])}, "more estimates than coefficients"),
        ({"method": "PM"}, "unknown method"),
        ({"test": "t"}, "unknown test"),
        ({"level": 1.0}, "level must lie"),
        ({"random": [list("aabbc")], "method": "DL"}, "REML only"),
        ({"random": [list("aabbc")], "test": "knha"}, "only without nested"),
        ({"random": [list("aabb")]}, "one label per estimate"),
        ({"random": [["a", "a", None, "b", "b"]]}, "missing labels"),
        ({"random": []}, "at least one level"),
    ],
)
def test_meta_regression_rejects_bad_input(kwargs, message):
    arguments = {"yi": Y5, "vi": V5, **kwargs}
    with pytest.raises(ValueError, match=message):
        metareg.meta_regression(**arguments)


def test_predict_and_ranef_reject_bad_input(mv_fit):
    with pytest.raises(ValueError, match="lacks the moderator columns"):
        mv_fit.predict(NEW_MODS.drop(columns="x_vegan"))
    with pytest.raises(ValueError, match="8 moderator columns"):
        mv_fit.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="X_new is needed"):
        mv_fit.predict()
    with pytest.raises(ValueError, match="unknown level 'district'"):
        mv_fit.ranef("district")
    with pytest.raises(ValueError, match="level must be between 0 and 3"):
        mv_fit.ranef(4)


def dense_reml(y, v, x, labels, sigma2):
    """The REML likelihood from the k x k marginal covariance, as metafor's .ll.rma.mv."""
    k, p = x.shape
    keys = ["/".join(map(str, parts)) for parts in zip(*labels, strict=True)]
    m = np.diag(v)
    zs = []
    for j, s2 in enumerate(sigma2):
        level_keys = np.array(["/".join(map(str, parts)) for parts in zip(*labels[: j + 1],
                                                                          strict=True)])
        ids = sorted(set(level_keys))
        z = (level_keys[:, None] == np.array(ids)[None, :]).astype(float)
        zs.append((ids, z))
        m += s2 * z @ z.T
    w = np.linalg.inv(m)
    a = np.linalg.inv(x.T @ w @ x)
    beta = a @ x.T @ w @ y
    r = y - x @ beta
    loglik = (-0.5 * (k - p) * math.log(2 * math.pi) + 0.5 * np.linalg.slogdet(x.T @ x)[1]
              - 0.5 * np.linalg.slogdet(m)[1] - 0.5 * np.linalg.slogdet(x.T @ w @ x)[1]
              - 0.5 * r @ w @ r)
    pmat = w - w @ x @ a @ x.T @ w
    assert len(keys) == k
    return loglik, beta, a, [(ids, s2 * z.T @ w @ r, s2 - s2**2 * np.diag(z.T @ pmat @ z))
                             for (ids, z), s2 in zip(zs, sigma2, strict=True)]


def test_nested_sweep_equals_the_dense_computation_and_is_an_optimum():
    # Unbalanced nesting (1, 3 and 2 countries per region; 1-3 studies; 1-3 estimates),
    # country labels repeating across regions: the O(k) sweep against k x k matrices.
    rng = np.random.default_rng(11)
    rows = []
    for region, countries in (("R1", 1), ("R2", 3), ("R3", 2)):
        for c in range(countries):
            for s in range(rng.integers(1, 4)):
                rows += [(region, f"C{c}", f"S{s}", e) for e in range(rng.integers(1, 4))]
    labels = [np.array(col, dtype=object) for col in zip(*rows, strict=True)]
    k = len(rows)
    x = np.column_stack([np.ones(k), rng.normal(size=k)])
    y = 0.5 * x[:, 1] + rng.normal(scale=0.6, size=k)
    v = rng.uniform(0.02, 0.3, size=k)
    fit = metareg.meta_regression(y, v, x[:, 1:], random=labels)
    loglik, beta, vcov, blups = dense_reml(y, v, x, labels, fit.sigma2)
    assert fit.loglik == pytest.approx(loglik, rel=1e-10)
    assert fit.beta == pytest.approx(beta, rel=1e-8)
    assert fit.vcov == pytest.approx(vcov, rel=1e-8)
    for j, (ids, blup, var) in enumerate(blups):
        got = fit.ranef(j)
        assert got["id"].tolist() == ids
        assert got["blup"].to_numpy() == pytest.approx(blup, rel=1e-7, abs=1e-12)
        assert got["se"].to_numpy() == pytest.approx(np.sqrt(np.maximum(var, 0)), rel=1e-7,
                                                     abs=1e-12)
    # No feasible nudge of a component raises the dense likelihood.
    h = 1e-4 * float(np.max(fit.sigma2))
    for j in range(len(fit.sigma2)):
        for sign in (1.0, -1.0):
            nudged = fit.sigma2.copy()
            nudged[j] = max(0.0, nudged[j] + sign * h)
            assert dense_reml(y, v, x, labels, nudged)[0] <= fit.loglik + 1e-10


def test_knha_prediction_at_the_reference_row_is_the_intercept_interval(knha_fit):
    # With every moderator 0 the prediction is the intercept, so its interval is the
    # Knapp-Hartung interval of the intercept (t with 105 df), back-transformed:
    # R: predict(fit_knha, newmods=rep(0, 8), transf=transf.ilogit)
    row = knha_fit.predict(np.zeros(8)).iloc[0]
    assert row["ci_low"] == pytest.approx(1 / (1 + math.exp(-COEF["knha_ci_low"][0])), rel=1e-6)
    assert row["ci_high"] == pytest.approx(1 / (1 + math.exp(-COEF["knha_ci_high"][0])), rel=1e-6)
    t = sps.t.ppf(0.975, 105)
    half = t * math.sqrt(knha_fit.se[0] ** 2 + knha_fit.sigma2[0])
    assert row["pi_low"] == pytest.approx(1 / (1 + math.exp(-(knha_fit.beta[0] - half))))
