"""The prevalence model: one multilevel meta-regression of low B12 status over all the
published evidence, which predicts any population (country, age, sex, diet, supplement use,
pregnancy, cut-off) with the uncertainty of that population's prevalence.

The model follows the Global Burden of Disease's approach to sparse survey evidence (GBD 2019
Risk Factors Collaborators; Zheng et al. 2021, MR-BRT): every published estimate enters one
regression of logit prevalence on covariates, with nested random intercepts that let a
country borrow strength from its region and a study's estimates from each other
(``stats.meta_regression``, as metafor's ``rma.mv``), and a crosswalk that turns any serum B12
cut-off into any other. Nothing here reads files or draws anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dashboard import evidence, schema, stats
from dashboard.frames import require_columns

# Serum/plasma total B12 definitions share one fit: the cut-off is a covariate (crosswalk).
CROSSWALK_BIOMARKER = "serum_b12"
# Reference cut-off of the crosswalk term log(cut-off / 148 pmol/L): the classic deficiency
# threshold (WHO; Allen 2009), so the intercept is the prevalence below 148 pmol/L.
REFERENCE_CUTOFF = 148.0
# Natural cubic spline of age (years), 3 degrees of freedom: boundary knots at 1 and 85 y and
# interior knots at 20 and 50 y, so the curve may bend in childhood, mid-life and old age and
# is linear beyond the data's usual range (Hastie, Tibshirani & Friedman 2009, sec. 5.2.1).
AGE_KNOTS: tuple[float, ...] = (1.0, 20.0, 50.0, 85.0)
# Ages (years) at which the Model page reads the spline as "ten years older": childhood,
# early, middle and late adulthood.
AGE_CONTRAST_AGES: tuple[float, ...] = (10.0, 30.0, 50.0, 70.0)
# Age at which rows that report no age are placed; their own indicator absorbs the difference.
AGE_UNKNOWN_AT = 40.0
# Diet groups of the burden model; pescatarians have no estimate of their own yet and take the
# omnivore coefficients (shown as not estimable when asked for directly).
MODEL_DIETS: tuple[str, ...] = schema.DIET_GROUPS
DIET_TERMS: tuple[str, ...] = ("vegetarian", "vegan", "pescatarian", "semi_vegetarian")
PREGNANT_STATES: tuple[str, ...] = ("trimester_1", "trimester_2", "trimester_3",
                                    "pregnant_unspecified")
# Sample frames that are not samples of the general population, each with its own term.
FRAME_TERMS: dict[str, str] = {
    "clinic_sample": "clinic",
    "institution": "institution",
    "diet_cohort": "diet_cohort",
}
# The sample frame of the population predicted by default: a population survey.
GENERAL_FRAME = "national_survey"
INCOME_TERMS: tuple[str, ...] = ("low", "lower_middle", "upper_middle")  # reference: high
# Random intercepts, outermost first (metafor: random = ~ 1 | region/country/study/estimate).
LEVELS: tuple[str, ...] = ("region", "country", "study", "estimate")
LEVEL_MEANINGS: dict[str, str] = {
    "region": "how UN regions differ beyond the covariates",
    "country": "how countries of one region differ",
    "study": "how studies (samples) of one country differ: sampling, assay, year",
    "estimate": "how estimates of one study differ beyond their covariates",
}
DEFAULT_DRAWS = 1000
DEFAULT_SEED = 20240101
# Numbers per block of ``grid_draws``: about 1 MB of float32, within a core's L2 cache.
_CHUNK_VALUES = 262144
# Extrapolation rule (``estimable``): a prediction is shown as a number only when the model
# has estimates of its diet group whose ages reach within this many years of the query's ages
# and cut-offs within AGE_REACH's companion range below.
AGE_REACH = 10.0
CUTOFF_REACH = 1.15  # a cut-off within [min / 1.15, max x 1.15] of the fitted ones

TERM_LABELS: dict[str, str] = {
    "intercept": "Intercept (general population aged 40, < 148 pmol/L, high income)",
    "age_1": "Age (spline term 1, per decade)",
    "age_2": "Age (spline term 2)",
    "age_3": "Age (spline term 3)",
    "age_unknown": "Age not reported",
    "female": "Women (vs both sexes)",
    "male": "Men (vs both sexes)",
    "vegetarian": "Vegetarian (vs omnivore)",
    "vegan": "Vegan (vs omnivore)",
    "pescatarian": "Pescatarian (vs omnivore)",
    "semi_vegetarian": "Semi-vegetarian (vs omnivore)",
    "pregnant": "Pregnant (vs not)",
    "supp_excluded": "Supplement users excluded (vs included)",
    "supp_only": "Supplement users only (vs included)",
    "clinic": "Clinic or patient sample (vs population sample)",
    "institution": "Care-home residents (vs population sample)",
    "diet_cohort": "Diet-group cohort (vs population sample)",
    "log_cutoff": "Cut-off (per doubling, pmol/L)",
    "low": "Low income (vs high)",
    "lower_middle": "Lower-middle income (vs high)",
    "upper_middle": "Upper-middle income (vs high)",
}

PREDICT_COLUMNS: tuple[str, ...] = (
    "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "estimable", "support_country",
    "support_region", "support_diet", "support_age",
)


# --- age -------------------------------------------------------------------------------------


def natural_spline_basis(x: np.ndarray | Sequence[float],
                         knots: Sequence[float] = AGE_KNOTS) -> np.ndarray:
    """Natural cubic spline basis without intercept, one column per degree of freedom.

    The truncated-power form of Hastie, Tibshirani & Friedman (2009, eq. 5.4-5.5): N1 = x and
    N(k+2) = d_k(x) - d_(K-1)(x), d_k(x) = ((x - xi_k)^3_+ - (x - xi_K)^3_+) / (xi_K - xi_k),
    for knots xi_1 < ... < xi_K; cubic between the knots, linear beyond the boundary knots.
    Age is in decades so that coefficients stay of order one. Spans the same functions as R's
    ``splines::ns(x, knots = interior, Boundary.knots = c(first, last))`` plus an intercept.
    """
    xi = np.asarray(knots, dtype=float) / 10.0
    if len(xi) < 3 or np.any(np.diff(xi) <= 0):
        raise ValueError(f"knots must be at least 3 increasing values, got "
                         f"{', '.join(f'{k:g}' for k in knots)}")
    z = np.asarray(x, dtype=float) / 10.0

    def d(k: int) -> np.ndarray:
        return (np.clip(z - xi[k], 0, None) ** 3 - np.clip(z - xi[-1], 0, None) ** 3) / (
            xi[-1] - xi[k])

    last = d(len(xi) - 2)
    return np.column_stack([z] + [d(k) - last for k in range(len(xi) - 2)])


def age_of(age_min: object, age_max: object, age_mean: object = None) -> float:
    """The age a row or query stands at: its reported mean age, else the middle of its span
    (``evidence.age_span``: an open range covers 20 years), NaN when no age is known."""
    if age_mean is not None and not _missing(age_mean):
        return float(age_mean)
    span = evidence.age_span(None if _missing(age_min) else float(age_min),
                             None if _missing(age_max) else float(age_max))
    return float("nan") if span is None else (span[0] + span[1]) / 2


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


# --- the estimates the model fits ------------------------------------------------------------


def _cumulative_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Serum B12 rows as "share below a cut-off": the "<" rows themselves, and each
    "between a and b" row added to the same people's "< a" row, which gives the share below b.

    Such a sum is marked ``derived`` and keeps the lower row's effective n (the two figures
    come from the same people). A band row pairs only with exactly one "< a" row of the same
    study, population, sex, ages, diet, supplement use and pregnancy (missing matches
    missing); a sum of 1 or more is dropped.
    """
    below = rows[rows["cutoff_operator"].isin(["<", "<="]) & rows["cutoff_high"].isna()].copy()
    below["derived"] = False
    band = rows[rows["cutoff_operator"] == "between"]
    if band.empty or below.empty:
        return below
    same = ["study_id", "population", "sex", "age_min", "age_max", "diet_group",
            "supplement_users", "pregnancy"]

    def keys(frame: pd.DataFrame) -> pd.DataFrame:
        # One comparable key per row: missing values as one marker, so missing matches missing
        out = pd.DataFrame({c: ["\0" if _missing(v) else str(v)
                                for v in frame[c].astype("object")] for c in same})
        out["_cut"] = np.round(frame["cutoff_low"].to_numpy(dtype=float), 6)
        return out

    low_keys = keys(below).assign(_low=np.arange(len(below)))
    band_keys = keys(band).assign(_band=np.arange(len(band)))
    pairs = band_keys.merge(low_keys, on=[*same, "_cut"], how="inner")
    pairs = pairs[pairs.groupby("_band")["_low"].transform("size") == 1].sort_values("_band")
    if pairs.empty:
        return below
    low = below.iloc[pairs["_low"].to_numpy()].copy()
    upper = band.iloc[pairs["_band"].to_numpy()]
    low["estimate_id"] = (low["estimate_id"].astype("object").to_numpy() + "+"
                          + upper["estimate_id"].astype("object").to_numpy())
    low["cutoff_low"] = upper["cutoff_high"].to_numpy(dtype=float)
    low["prevalence"] = (low["prevalence"].to_numpy(dtype=float)
                         + upper["prevalence"].to_numpy(dtype=float))
    for column in ("parent_id", "split", "repeat_of"):
        low[column] = None
    low["derived"] = True
    added = low[low["prevalence"] < 1]
    return pd.concat([below, added], ignore_index=True) if len(added) else below


def model_rows(studies: pd.DataFrame, definition: str = schema.DEFAULT_DEFINITION,
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The estimates the model fits, and those left out with the reason.

    For a serum B12 definition, every poolable serum B12 threshold estimate at any cut-off
    (``_cumulative_rows``); for another definition, its own poolable rows. Left out: rows
    that cannot be pooled (the build's ``reason``), multi-country rows (no country to place),
    rows pooling pregnant and non-pregnant people. Then, per cut-off, the finest set that
    counts nobody twice (``evidence.non_overlapping(prefer="finest")``): subgroups carry the
    most information about sex, diet and supplement use.
    """
    require_columns(studies, ["estimate_id", "study_id", "sample_id", "biomarker", "definition",
                              "usable_for", "country_iso3", "pregnancy", "cutoff_low",
                              "cutoff_high", "cutoff_operator", "prevalence", "n"],
                    "studies frame")
    target = schema.DEFINITIONS_BY_ID.get(definition)
    crosswalk = target is None or target.biomarker == CROSSWALK_BIOMARKER
    if target is not None and crosswalk:
        family = studies["biomarker"].astype("object") == CROSSWALK_BIOMARKER
    else:
        family = studies["definition"] == definition
    rows = studies[family.to_numpy(dtype=bool)]
    reasons = pd.Series("", index=rows.index, dtype="object")
    reasons[rows["usable_for"].astype("object") != "pooling"] = "cannot be pooled"
    reasons[(reasons == "") & (rows["country_iso3"] == schema.MULTI_COUNTRY)] = (
        "multi-country estimate")
    reasons[(reasons == "") & (rows["pregnancy"].astype("object") == "mixed")] = (
        "pools pregnant and non-pregnant people")
    if crosswalk:
        threshold = rows["cutoff_operator"].isin(["<", "<=", "between"]) & (
            rows["canonical_unit"] == "pmol/L")
        reasons[(reasons == "") & ~threshold] = "not a serum B12 threshold"
    kept = rows[reasons == ""]
    if crosswalk:
        kept = _cumulative_rows(kept)
    # Choose per cut-off on a slim frame of the link columns, then take the rows once.
    slim = evidence.with_links(kept)[list(evidence.OVERLAP_COLUMNS)].reset_index(drop=True)
    groups = (np.round(kept["cutoff_low"].to_numpy(dtype=float), 3) if crosswalk
              else np.zeros(len(kept)))
    ids = slim["estimate_id"].to_numpy(dtype=object)
    order = []
    for value in np.unique(groups):
        part = slim[groups == value]
        chosen = evidence.non_overlapping_ids(part, prefer="finest")
        order.extend(i for i in np.flatnonzero(groups == value) if ids[i] in chosen)
    fitted = kept.iloc[order].reset_index(drop=True)
    if "derived" not in fitted:
        fitted["derived"] = False
    overlap = kept[~kept["estimate_id"].isin(fitted["estimate_id"])]
    excluded = pd.concat([
        pd.DataFrame({"estimate_id": rows.loc[reasons != "", "estimate_id"],
                      "reason": reasons[reasons != ""]}),
        pd.DataFrame({"estimate_id": overlap["estimate_id"],
                      "reason": "shares people with an estimate the model uses"}),
    ], ignore_index=True)
    return fitted.reset_index(drop=True), excluded


# --- design ----------------------------------------------------------------------------------


def _income_dummies(iso3: pd.Series, countries: pd.DataFrame) -> pd.DataFrame:
    """Income dummies per row; a country the World Bank does not classify takes its
    subregion's mix of income groups (fractional dummies), stated in Methods."""
    table = countries.set_index("iso3")
    group = iso3.map(table["income_group"].astype("object"))
    out = pd.DataFrame({t: (group == t).astype(float) for t in INCOME_TERMS}, index=iso3.index)
    unknown = group.isna()
    if unknown.any():
        known = countries.dropna(subset=["income_group"])
        mix = pd.DataFrame({t: (known["income_group"].astype("object") == t).astype(float)
                            for t in INCOME_TERMS}).groupby(known["subregion"].to_numpy()).mean()
        sub = iso3[unknown].map(table["subregion"])
        for t in INCOME_TERMS:
            out.loc[unknown, t] = sub.map(mix[t]).fillna(0.0).to_numpy()
    return out


def _shares_wide(shares: pd.DataFrame) -> pd.DataFrame:
    """Diet shares as one row per country, one column per diet group."""
    wide = shares.pivot_table(index="country_iso3", columns="diet_group", values="share",
                              observed=True)
    return wide.reindex(columns=list(MODEL_DIETS)).fillna(0.0)


def design_matrix(frame: pd.DataFrame, countries: pd.DataFrame, shares: pd.DataFrame,
                  terms: Sequence[str] | None = None) -> pd.DataFrame:
    """The model's covariates for rows of ``frame`` (no intercept column).

    ``frame`` holds iso3 (or country_iso3), age (years; NaN when unknown), sex, diet_group,
    supplement_users, pregnancy, sample_frame and cutoff (pmol/L). A "general" row's diet
    terms are its country's diet shares (linear on the logit scale, an approximation the
    prediction does not use: it mixes the diet groups' prevalences). ``terms`` selects and
    orders the columns (those of a fit); missing ones are zero.
    """
    iso3 = frame["iso3"] if "iso3" in frame else frame["country_iso3"]
    age = pd.to_numeric(frame["age"], errors="coerce").to_numpy(dtype=float)
    unknown = np.isnan(age)
    basis = natural_spline_basis(np.where(unknown, AGE_UNKNOWN_AT, age))
    out = pd.DataFrame(basis, columns=[f"age_{i + 1}" for i in range(basis.shape[1])],
                       index=frame.index)
    out["age_unknown"] = unknown.astype(float)
    sex = frame["sex"].astype("object")
    out["female"] = (sex == "female").astype(float)
    out["male"] = (sex == "male").astype(float)
    diet = frame["diet_group"].astype("object")
    wide = _shares_wide(shares)
    general = (diet == "general").to_numpy()
    for term in DIET_TERMS:
        value = (diet == term).astype(float).to_numpy()
        if general.any() and term in wide:
            value = np.where(general, iso3.map(wide[term]).fillna(0.0).to_numpy(), value)
        out[term] = value
    preg = frame["pregnancy"].astype("object") if "pregnancy" in frame else pd.Series(
        "not_pregnant", index=frame.index)
    out["pregnant"] = preg.isin(PREGNANT_STATES).astype(float)
    supp = frame["supplement_users"].astype("object")
    out["supp_excluded"] = (supp == "excluded").astype(float)
    out["supp_only"] = (supp == "only").astype(float)
    sample = frame["sample_frame"].astype("object") if "sample_frame" in frame else pd.Series(
        "national_survey", index=frame.index)
    for source, term in FRAME_TERMS.items():
        out[term] = (sample == source).astype(float)
    cutoff = pd.to_numeric(frame["cutoff"], errors="coerce").to_numpy(dtype=float)
    out["log_cutoff"] = np.log2(cutoff / REFERENCE_CUTOFF)
    out = pd.concat([out, _income_dummies(iso3, countries)], axis=1)
    if terms is not None:
        out = out.reindex(columns=list(terms), fill_value=0.0)
    return out


# --- the fitted model ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Model:
    """A fitted prevalence model. ``predict`` is the way to use it.

    ``data`` holds the estimates fitted with their covariates, ``excluded`` the ones left
    out and why; ``fit`` is the ``stats.MetaRegression``; ``dropped_terms`` are covariates
    without any estimate to learn from (their effect is taken as zero and flagged).
    """

    fit: stats.MetaRegression
    data: pd.DataFrame
    excluded: pd.DataFrame
    terms: tuple[str, ...]
    dropped_terms: tuple[str, ...]
    definition: str
    crosswalk: bool
    countries: pd.DataFrame = field(repr=False)
    shares: pd.DataFrame = field(repr=False)
    _effects: dict[str, dict[str, tuple[float, float]]] = field(repr=False)

    # -- what the model says ----------------------------------------------------------------
    def coefficients(self, level: float = 0.95) -> pd.DataFrame:
        """Every term as an odds ratio with its CI (per doubling of the cut-off, per decade of
        age for the first spline term), with the logit-scale beta and se."""
        z = float(stats_norm_ppf(0.5 + level / 2))
        beta, se = self.fit.beta, self.fit.se
        out = pd.DataFrame({
            "term": self.fit.terms,
            "label": [TERM_LABELS.get(t, t) for t in self.fit.terms],
            "beta": beta, "se": se,
            "odds_ratio": np.exp(beta), "or_low": np.exp(beta - z * se),
            "or_high": np.exp(beta + z * se),
        })
        return out

    def odds_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """The terms as a reader compares them: every covariate's odds ratio with its CI,
        except the intercept and the raw age spline terms, which are replaced by the odds
        ratio of ten years more age at AGE_CONTRAST_AGES (from the spline's basis: log OR =
        (N(a + 10) - N(a))' beta_age, variance d' Var(beta_age) d). Columns: term, label,
        odds_ratio, or_low, or_high, beta, se (logit scale), in the fit's order with the age
        contrasts first."""
        z = float(stats_norm_ppf(0.5 + level / 2))
        coef = self.coefficients(level)
        terms = list(self.fit.terms)
        age = [t for t in terms if t.startswith("age_") and t != "age_unknown"]
        rows = []
        if age:
            idx = [terms.index(t) for t in age]
            beta, vcov = self.fit.beta[idx], self.fit.vcov[np.ix_(idx, idx)]
            columns = [int(t.split("_")[1]) - 1 for t in age]
            for a in AGE_CONTRAST_AGES:
                basis = natural_spline_basis([a, a + 10.0])
                d = basis[1, columns] - basis[0, columns]
                b, se = float(d @ beta), float(math.sqrt(d @ vcov @ d))
                rows.append({"term": f"age_{a:g}_{a + 10:g}",
                             "label": f"Ten years older, at {a:g} to {a + 10:g} y",
                             "beta": b, "se": se, "odds_ratio": math.exp(b),
                             "or_low": math.exp(b - z * se), "or_high": math.exp(b + z * se)})
        rest = coef[~coef["term"].isin(["intercept", *age])]
        out = pd.concat([pd.DataFrame(rows, columns=coef.columns), rest], ignore_index=True)
        return out[["term", "label", "odds_ratio", "or_low", "or_high", "beta", "se"]]

    def variance_components(self) -> pd.DataFrame:
        """sigma^2 of each random level (logit scale) with its SD, the number of groups
        fitted, and what the level measures (LEVEL_MEANINGS)."""
        groups = [self.data[c].nunique() for c in ("region", "iso3", "sample_id", "estimate_id")]
        sigma2 = np.asarray(self.fit.sigma2, dtype=float)
        return pd.DataFrame({"level": list(LEVELS), "sigma2": sigma2, "sd": np.sqrt(sigma2),
                             "groups": groups,
                             "meaning": [LEVEL_MEANINGS[level] for level in LEVELS]})

    def dropped_labels(self) -> list[str]:
        """Labels of the covariates the evidence cannot estimate (``dropped_terms``)."""
        return [TERM_LABELS.get(t, t) for t in self.dropped_terms]

    # -- prediction --------------------------------------------------------------------------
    def predict(self, frame: pd.DataFrame, *, draws: int = DEFAULT_DRAWS,
                seed: int = DEFAULT_SEED, level: float = 0.95) -> pd.DataFrame:
        """Modelled prevalence of each population in ``frame``, with its uncertainty.

        ``frame`` rows: iso3, age_min, age_max, sex, diet_group (one of schema.DIET_GROUPS or
        "general": the country's own diet mix), supplement_users, pregnancy, and either
        ``definition`` (+ ``status``) or ``cutoff`` (pmol/L; with ``cutoff_high`` for a
        band such as the marginal 148-221). Returns the frame with PREDICT_COLUMNS added:

        - ``estimate``: the prevalence at the fitted coefficients and the country's and
          region's estimated effects (BLUPs; zero where the model has no estimate there);
        - ``ci_low``/``ci_high``: uncertainty of that population's prevalence, from ``draws``
          seeded joint draws of the coefficients and of the region and country effects
          (from their BLUP distribution where observed, from sigma^2 where not);
        - ``pi_low``/``pi_high``: where a new study of that population would fall (adds the
          study and estimate variances);
        - ``estimable``: False where the model extrapolates (see ``estimable``), to be shown
          hatched, never as a plain number; ``support_*``: studies behind it.

        A band's prevalence (status "marginal") is the difference of the two cumulative
        predictions in every draw, so deficient + marginal = below the upper cut-off exactly.
        """
        draws_low, draws_pt, pi_draws = self._draw(frame, draws=draws, seed=seed)
        alpha = (1 - level) / 2
        out = frame.copy()
        out["estimate"] = draws_pt
        out["ci_low"] = np.quantile(draws_low, alpha, axis=1)
        out["ci_high"] = np.quantile(draws_low, 1 - alpha, axis=1)
        out["pi_low"] = np.quantile(pi_draws, alpha, axis=1)
        out["pi_high"] = np.quantile(pi_draws, 1 - alpha, axis=1)
        support = self.support(frame)
        for column in support:
            out[column] = support[column].to_numpy()
        out["estimable"] = self.estimable(frame).to_numpy()
        return out

    def draws(self, frame: pd.DataFrame, *, draws: int = DEFAULT_DRAWS,
              seed: int = DEFAULT_SEED) -> np.ndarray:
        """Joint draws of each row's prevalence (rows x draws): the same coefficient draws for
        every row; one draw of each region's and country's effect shared by its rows."""
        return self._draw(frame, draws=draws, seed=seed)[0]

    def predict_estimates(self, rows: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
        """Where each published estimate in ``rows`` (``model_rows``' rows, e.g. held out of
        the fit) should fall, given all of its own covariates: country, ages, sex, diet,
        supplement use, pregnancy, sample frame and cut-off.

        On the logit scale the observed estimate is the fixed part x'beta plus the region,
        country, study and estimate effects plus its sampling error, so its prediction is
        ``x'beta + u_region + u_country`` with variance ``x' Var(beta) x + Var(u_region) +
        Var(u_country) + sigma2_study + sigma2_estimate + vi``: a region or country the fit
        has seen contributes its BLUP and the BLUP's variance, an unseen one 0 and its
        sigma2; the study is always taken as new (validation leaves whole samples out), and
        ``vi`` is the estimate's own sampling variance (``stats.logit_effects`` of its
        prevalence and effective n). A general-population row has its country's diet shares
        as fractional diet terms, exactly as in the fit. Exact (normal on the logit scale),
        no draws. Returns one row per row of ``rows`` (same index): estimate_id, observed
        (the published prevalence), predicted (inverse logit of the mean), pi_low, pi_high
        (the ``level`` interval), logit_observed (escalc's yi, 1/2 added to a zero cell),
        logit_mean, logit_sd and vi.
        """
        return self.predict_prepared(
            prepare_rows(rows, self.countries, self.shares, self.definition), level=level)

    def predict_prepared(self, prepared: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
        """``predict_estimates`` on rows already prepared by ``prepare_rows``."""
        data, design = _split_prepared(prepared)
        x = design.reindex(columns=list(self.terms), fill_value=0.0).to_numpy(dtype=float)
        x = np.column_stack([np.ones(len(x)), x])
        fit = self.fit
        mean = x @ fit.beta
        var = np.einsum("ij,jk,ik->i", x, fit.vcov, x)
        sig = np.asarray(fit.sigma2, dtype=float)
        region = data["region"].fillna("").astype(str).to_numpy(dtype=object)
        country = (data["region"].fillna("").astype(str) + "/"
                   + data["iso3"].astype(str)).to_numpy(dtype=object)
        for ids, effects, s2 in ((region, self._effects["region"], sig[0]),
                                 (country, self._effects["country"], sig[1])):
            for i, key in enumerate(ids):
                blup, se = effects.get(key, (0.0, math.sqrt(s2)))
                mean[i] += blup
                var[i] += se ** 2
        vi = data["vi"].to_numpy(dtype=float)
        sd = np.sqrt(var + sig[2] + sig[3] + vi)
        z = stats_norm_ppf(0.5 + level / 2)
        return pd.DataFrame({
            "estimate_id": data["estimate_id"].to_numpy(),
            "observed": data["prevalence"].to_numpy(dtype=float),
            "predicted": _expit(mean), "pi_low": _expit(mean - z * sd),
            "pi_high": _expit(mean + z * sd),
            "logit_observed": data["yi"].to_numpy(dtype=float), "logit_mean": mean,
            "logit_sd": sd, "vi": vi,
        }, index=prepared.index)


    def estimate_draws(self, frame: pd.DataFrame, *, draws: int = DEFAULT_DRAWS,
                       seed: int = DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray]:
        """``predict``'s point estimate of each row and the joint draws behind its CI, from
        one pass: what a population made of many rows (countries, age bands) is averaged
        from, without the per-row support and extrapolation checks ``predict`` adds."""
        low, point, _ = self._draw(frame, draws=draws, seed=seed)
        return point, low

    # -- internals ---------------------------------------------------------------------------
    def _queries(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Normalise a prediction frame: age, cut-offs, defaults for optional columns."""
        require_columns(frame, ["iso3", "age_min", "age_max", "sex", "diet_group",
                                "supplement_users"], "prediction frame")
        q = pd.DataFrame(index=frame.index)
        q["iso3"] = frame["iso3"].astype("object")
        q["age"] = [age_of(a, b, frame["age_mean"].get(i) if "age_mean" in frame else None)
                    for i, a, b in zip(frame.index, frame["age_min"], frame["age_max"],
                                       strict=True)]
        for column, default in (("sex", "both"), ("diet_group", "general"),
                                ("supplement_users", "included"),
                                ("pregnancy", "not_pregnant")):
            q[column] = (frame[column].astype("object") if column in frame
                         else pd.Series(default, index=frame.index)).fillna(default)
        # Predictions are for the general population unless a row names its sample frame
        # (validation predicts held-out clinic or cohort samples as what they are).
        q["sample_frame"] = (frame["sample_frame"].astype("object") if "sample_frame" in frame
                             else pd.Series(GENERAL_FRAME, index=frame.index)).fillna(
                                 GENERAL_FRAME)
        low, high = cutoffs_of(frame)
        q["cutoff"] = low
        q["cutoff_high"] = high
        unknown = [d for d in q["diet_group"].unique()
                   if d not in (*MODEL_DIETS, "general", "semi_vegetarian")]
        if unknown:
            raise ValueError(f"diet_group must be one of {', '.join([*MODEL_DIETS, 'general'])}, "
                             f"got {', '.join(map(str, unknown))}")
        return q

    def _linear(self, q: pd.DataFrame, beta: np.ndarray, cutoff: np.ndarray) -> np.ndarray:
        """Fixed part of the logit for each query row and diet (rows x diets x draws)."""
        out = []
        for diet in MODEL_DIETS:
            rows = q.assign(diet_group=diet, cutoff=cutoff)
            x = design_matrix(rows, self.countries, self.shares, self.terms).to_numpy()
            x = np.column_stack([np.ones(len(x)), x])
            out.append(x @ beta.T)
        return np.stack(out, axis=1)

    def _draw(self, frame: pd.DataFrame, *, draws: int, seed: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(draws of prevalence, point estimate, draws for the prediction interval)."""
        if draws < 2:
            raise ValueError(f"draws must be at least 2, got {draws}")
        q = self._queries(frame)
        rng = np.random.default_rng(seed)
        fit = self.fit
        beta = rng.multivariate_normal(fit.beta, fit.vcov, size=draws, method="cholesky")
        sig = fit.sigma2
        u_point, u_draw = self._effect_draws(q["iso3"].to_numpy(dtype=object), rng, draws)
        noise = rng.standard_normal((len(q), draws)) * math.sqrt(float(sig[2] + sig[3]))
        shares = self._diet_weights(q)
        point_beta = fit.beta[None, :]

        def prevalence(cutoff: np.ndarray, b: np.ndarray, u: np.ndarray,
                       extra: np.ndarray | float = 0.0) -> np.ndarray:
            eta = self._linear(q, b, cutoff) + u[:, None, :] + (
                extra[:, None, :] if isinstance(extra, np.ndarray) else extra)
            p = 1.0 / (1.0 + np.exp(-eta))
            return np.einsum("nd,ndk->nk", shares, p)

        low = q["cutoff"].to_numpy(dtype=float)
        high = q["cutoff_high"].to_numpy(dtype=float)
        band = ~np.isnan(high)
        results = []
        for b, u, extra in ((beta, u_draw, 0.0), (point_beta, u_point[:, None], 0.0),
                            (beta, u_draw, noise)):
            p = prevalence(low, b, u, extra)
            if band.any():
                upper = prevalence(np.where(band, high, low), b, u, extra)
                p = np.where(band[:, None], upper - p, p)
            results.append(p)
        return results[0], results[1][:, 0], results[2]

    def _effect_draws(self, iso3: np.ndarray, rng: np.random.Generator, draws: int
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Region + country effect of each row: point (BLUPs, zero where unobserved) and
        draws (rows x draws), one draw per region and per country in order of first
        appearance, from the BLUP's distribution where observed and N(0, sigma^2) where not."""
        region = pd.Series(iso3).map(self.countries.set_index("iso3")["region"]).fillna("")
        region_ids = region.to_numpy(dtype=object)
        country_ids = (region + "/" + pd.Series(iso3, dtype=object)).to_numpy(dtype=object)
        sig = self.fit.sigma2
        u_point = np.zeros(len(iso3))
        u_draw = np.zeros((len(iso3), draws))
        for ids, effects, s2 in ((region_ids, self._effects["region"], sig[0]),
                                 (country_ids, self._effects["country"], sig[1])):
            for key in pd.unique(ids):
                mask = ids == key
                blup, se = effects.get(key, (0.0, math.sqrt(s2)))
                u_point[mask] += blup
                u_draw[mask] += blup + se * rng.standard_normal(draws)
        return u_point, u_draw

    def location_effects(self, iso3: Sequence[str]) -> pd.DataFrame:
        """Region and country random effect of each country (logit scale): the BLUP and its
        se where the model has estimates there, else 0 and sqrt(sigma^2) (a new location of
        the level). Columns: iso3, region, region_blup, region_se, region_observed,
        country_blup, country_se, country_observed."""
        table = self.countries.set_index("iso3")
        rows = []
        for c in iso3:
            region = str(table["region"].get(c, "") or "")
            r = self._effects["region"].get(region)
            k = self._effects["country"].get(f"{region}/{c}")
            rows.append({
                "iso3": c, "region": region,
                "region_blup": r[0] if r else 0.0,
                "region_se": r[1] if r else math.sqrt(self.fit.sigma2[0]),
                "region_observed": r is not None,
                "country_blup": k[0] if k else 0.0,
                "country_se": k[1] if k else math.sqrt(self.fit.sigma2[1]),
                "country_observed": k is not None,
            })
        return pd.DataFrame(rows)

    def grid_draws(self, iso3: Sequence[str], ages: Sequence[tuple[float, float | None]], *,
                   cutoff: float = REFERENCE_CUTOFF, cutoff_high: float | None = None,
                   draws: int = DEFAULT_DRAWS, seed: int = DEFAULT_SEED,
                   dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
        """Prevalence of every country x age range x diet group (MODEL_DIETS) at once: the
        fast path of ``draws`` for the burden, with the same model and the same kind of
        joint draws.

        Rows are the general-population query of ``general_population_frame`` per diet
        (both sexes, supplement users included, not pregnant, population samples) at
        ``cutoff`` (with ``cutoff_high``: the band between them, the difference of the two
        cumulative predictions in every draw). The coefficients are drawn first, as in
        ``draws``; then one region and one country effect for every country of
        ``countries`` in its order (then any other asked code), whatever ``iso3`` asks for,
        so a country's draws are the same in every call with the same seed. The design is
        additive, so the logit is (country part) + (age part) + (diet part) + effects, and
        no row-by-row design matrix is built.

        Returns (draws: countries x ages x diets x draws in ``dtype``, point: countries x
        ages x diets at the fitted coefficients and BLUPs).
        """
        if draws < 2:
            raise ValueError(f"draws must be at least 2, got {draws}")
        iso3 = [str(c) for c in iso3]
        cut_low = float(cutoff)
        cut_high = None if cutoff_high is None or _missing(cutoff_high) else float(cutoff_high)
        if cut_low <= 0 or (cut_high is not None and cut_high <= cut_low):
            raise ValueError("cut-offs must be positive and a band's upper one above its lower")
        rng = np.random.default_rng(seed)
        fit = self.fit
        beta = rng.multivariate_normal(fit.beta, fit.vcov, size=draws, method="cholesky")
        known = self.countries["iso3"].astype(str).tolist()
        everyone = known + [c for c in dict.fromkeys(iso3) if c not in set(known)]
        u_all_point, u_all = self._effect_draws(np.array(everyone, dtype=object), rng, draws)
        pos = pd.Index(everyone).get_indexer(iso3)
        u_point, u_draw = u_all_point[pos], u_all[pos]

        ages = list(ages)
        age = np.array([age_of(lo, hi) for lo, hi in ages])
        # The design is additive in its blocks (country: income group; age: the spline;
        # diet; cut-off), so one small design matrix gives every part: the country rows at
        # the first age, the age rows in the first country, and the diet and cut-off rows
        # as differences from the reference row (first country, first age, omnivores).
        n_c, n_a = len(iso3), len(ages)
        parts = pd.DataFrame({
            "iso3": iso3 + [iso3[0]] * (n_a + len(MODEL_DIETS) + 1),
            "age": [age[0]] * n_c + list(age) + [age[0]] * (len(MODEL_DIETS) + 1),
            "diet_group": ["omnivore"] * (n_c + n_a) + list(MODEL_DIETS) + ["omnivore"],
            "cutoff": [cut_low] * (n_c + n_a + len(MODEL_DIETS))
            + [cut_low if cut_high is None else cut_high],
            "sex": "both", "supplement_users": "included", "pregnancy": "not_pregnant",
            "sample_frame": "national_survey",
        })
        x = self._design(parts)
        ref = x[n_c]
        country_x, age_x = x[:n_c] - ref, x[n_c:n_c + n_a]
        diet_x = x[n_c + n_a:n_c + n_a + len(MODEL_DIETS)] - ref
        cut_x = None if cut_high is None else x[-1] - ref

        def prevalence(b: np.ndarray, u: np.ndarray, kind: type) -> np.ndarray:
            k = b.shape[0]
            country = ((country_x @ b.T) + u).astype(kind)
            age_part = (age_x @ b.T).astype(kind)
            shifts = (diet_x @ b.T).astype(kind)
            cut = None if cut_x is None else (cut_x @ b.T).astype(kind)
            out = np.empty((n_c, n_a, len(MODEL_DIETS), k), dtype=kind)
            # A few countries at a time, so every pass over the numbers stays in cache.
            step = max(1, _CHUNK_VALUES // (n_a * k))
            for start in range(0, n_c, step):
                stop = min(start + step, n_c)
                base = country[start:stop, None, :] + age_part[None, :, :]
                eta = np.empty_like(base)
                low = None if cut is None else np.empty_like(base)
                for j, shift in enumerate(shifts):
                    np.add(base, shift, out=eta)
                    target = out[start:stop, :, j, :]
                    if cut is None:
                        _expit_into(eta, target)
                    else:
                        _expit_into(eta, low)
                        eta += cut
                        _expit_into(eta, target)
                        target -= low
            return out

        values = prevalence(beta, u_draw, dtype)
        point = prevalence(fit.beta[None, :], u_point[:, None], np.float64)[..., 0]
        return values, point

    def _design(self, rows: pd.DataFrame) -> np.ndarray:
        """Design matrix of query rows with the intercept column, in the fit's term order."""
        x = design_matrix(rows, self.countries, self.shares, self.terms).to_numpy()
        return np.column_stack([np.ones(len(x)), x])

    def _diet_weights(self, q: pd.DataFrame) -> np.ndarray:
        """Weight of each MODEL_DIETS group per row: 1 for the row's own group, the country's
        diet shares for "general" (semi-vegetarians count as omnivores' neighbours: their own
        term is zero in prediction, so they are predicted as omnivores)."""
        wide = _shares_wide(self.shares)
        weights = np.zeros((len(q), len(MODEL_DIETS)))
        for j, diet in enumerate(MODEL_DIETS):
            weights[:, j] = (q["diet_group"] == diet).to_numpy(dtype=float)
        general = (q["diet_group"] == "general").to_numpy()
        if general.any():
            mix = wide.reindex(q.loc[general, "iso3"]).to_numpy(dtype=float)
            missing = np.isnan(mix).any(axis=1)
            if missing.any():
                bad = sorted(set(q.loc[general, "iso3"].to_numpy()[missing]))
                raise ValueError(f"no diet shares for {bad}: the general population of a "
                                 "country needs its diet mix")
            weights[general] = mix / mix.sum(axis=1, keepdims=True)
        semi = (q["diet_group"] == "semi_vegetarian").to_numpy()
        weights[semi, 0] = 1.0
        return weights

    def support(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Independent studies behind each query: in its country, in its region, of its diet
        group, and whose age range overlaps its own (any diet)."""
        q = self._queries(frame)
        d = self.data
        region = q["iso3"].map(self.countries.set_index("iso3")["region"])
        lo, hi = _age_bounds(frame)
        d_lo, d_hi = d["age_lo"].to_numpy(), d["age_hi"].to_numpy()
        out = pd.DataFrame(index=frame.index)
        out["support_country"] = [d.loc[d["iso3"] == c, "sample_id"].nunique() for c in q["iso3"]]
        out["support_region"] = [d.loc[d["region"] == r, "sample_id"].nunique() for r in region]
        out["support_diet"] = [d.loc[d["diet_group"].astype("object") == g, "sample_id"].nunique()
                               for g in q["diet_group"]]
        out["support_age"] = [
            d.loc[(d_lo < b) & (d_hi > a), "sample_id"].nunique() if not np.isnan(a) else 0
            for a, b in zip(lo, hi, strict=True)
        ]
        return out

    def estimable(self, frame: pd.DataFrame) -> pd.Series:
        """Where the model has data near the query: estimates of the query's diet group (the
        general population: of any diet) whose age ranges reach within AGE_REACH years of
        the query's ages, and cut-offs within CUTOFF_REACH of the fitted ones (crosswalk). A
        diet group without estimates of its own (pescatarians today) is never estimable."""
        q = self._queries(frame)
        lo, hi = _age_bounds(frame)
        d = self.data.dropna(subset=["age_lo"])
        ok = []
        cut_min, cut_max = (float(self.data["cutoff"].min()), float(self.data["cutoff"].max()))
        for i, (diet, a, b) in enumerate(zip(q["diet_group"], lo, hi, strict=True)):
            rows = d if diet == "general" else d[d["diet_group"].astype("object") == diet]
            if diet != "general" and diet != "omnivore" and diet not in self.terms:
                rows = rows.iloc[0:0]
            near = bool(len(rows)) and not np.isnan(a) and bool(
                ((rows["age_lo"] - AGE_REACH < b) & (rows["age_hi"] + AGE_REACH > a)).any())
            if self.crosswalk:
                for c in (q["cutoff"].iloc[i], q["cutoff_high"].iloc[i]):
                    if not np.isnan(c) and not cut_min / CUTOFF_REACH <= c <= cut_max * (
                            CUTOFF_REACH):
                        near = False
            if q["pregnancy"].iloc[i] in PREGNANT_STATES and not (
                    self.data["pregnancy"].astype("object").isin(PREGNANT_STATES)).any():
                near = False
            ok.append(near)
        return pd.Series(ok, index=frame.index, dtype=bool)


def _expit_into(eta: np.ndarray, out: np.ndarray) -> None:
    """out = 1 / (1 + exp(-eta)), in place (faster than scipy's expit on large float32
    arrays; an overflow of exp gives exactly 0, the right limit)."""
    with np.errstate(over="ignore"):
        np.negative(eta, out=out)
        np.exp(out, out=out)
        out += 1
        np.reciprocal(out, out=out)


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def stats_norm_ppf(q: float) -> float:
    """Normal quantile (one import site for scipy here)."""
    from scipy.stats import norm

    return float(norm.ppf(q))


def _age_bounds(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi) years of each query's age range (``evidence.age_span``), NaN when unknown."""
    spans = [evidence.age_span(None if _missing(a) else float(a),
                               None if _missing(b) else float(b))
             for a, b in zip(frame["age_min"], frame["age_max"], strict=True)]
    lo = np.array([np.nan if s is None else s[0] for s in spans])
    hi = np.array([np.nan if s is None else s[1] for s in spans])
    return lo, hi


def cutoffs_of(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper cut-off (pmol/L; upper NaN for a threshold) of each query row, from
    its ``cutoff``/``cutoff_high`` columns or its ``definition`` (schema.DEFINITIONS)."""
    n = len(frame)
    if "cutoff" in frame:
        low = pd.to_numeric(frame["cutoff"], errors="coerce").to_numpy(dtype=float)
        high = (pd.to_numeric(frame["cutoff_high"], errors="coerce").to_numpy(dtype=float)
                if "cutoff_high" in frame else np.full(n, np.nan))
    elif "definition" in frame:
        low, high = np.full(n, np.nan), np.full(n, np.nan)
        for i, def_id in enumerate(frame["definition"]):
            d = schema.DEFINITIONS_BY_ID.get(def_id)
            if d is None:
                raise ValueError(f"unknown definition {def_id!r}")
            low[i] = d.cutoff
            if d.direction == "between":
                high[i] = d.cutoff_high
    else:
        raise ValueError("a prediction frame needs a definition or a cutoff column")
    if np.isnan(low).any() or (low <= 0).any():
        raise ValueError("cut-offs must be positive numbers (pmol/L)")
    bad = ~np.isnan(high) & (high <= low)
    if bad.any():
        raise ValueError("a band's upper cut-off must exceed its lower one")
    return low, high


# --- fitting ---------------------------------------------------------------------------------


def fit(studies: pd.DataFrame, countries: pd.DataFrame, shares: pd.DataFrame,
        definition: str = schema.DEFAULT_DEFINITION) -> Model:
    """Fit the prevalence model on the evidence table.

    Logit prevalence of each estimate (``stats.logit_effects``; sampling variance from its
    effective n) is regressed, by REML with random intercepts region > country > study >
    estimate (``stats.meta_regression``), on:

    - age: a natural cubic spline (AGE_KNOTS) of the estimate's mean age, else the middle of
      its age range; rows that report no age sit at AGE_UNKNOWN_AT with an indicator, so
      their within-study contrasts (diet, sex) still count;
    - sex (women, men vs both), diet group (vs omnivores; a general-population row has its
      country's diet shares as fractional terms), pregnancy, supplement users excluded or
      only (vs included), sample frame (clinic, care home, diet-group cohort vs population
      samples): the way published samples differ from the populations predicted;
    - the cut-off, as log2(cut-off / 148 pmol/L): a crosswalk learnt from studies that report
      several cut-offs on the same people, so one fit predicts any serum B12 cut-off;
    - the World Bank income group of the country (low, lower-middle, upper-middle vs high),
      a proxy for access to animal-source foods and so to dietary B12.

    Covariates without any estimate to learn from are dropped (``dropped_terms``): a diet
    group needs estimates of its own (the shares in general-population rows alone cannot
    identify it), and a covariate the others already span has no estimate of its own.
    Predictions are for the general population (population-sample frame).
    """
    rows, excluded = model_rows(studies, definition)
    return fit_rows(rows, excluded, countries, shares, definition)


def fit_rows(rows: pd.DataFrame, excluded: pd.DataFrame, countries: pd.DataFrame,
             shares: pd.DataFrame, definition: str = schema.DEFAULT_DEFINITION) -> Model:
    """``fit`` on estimates already chosen by ``model_rows`` (or a subset of them, as
    out-of-sample validation leaves folds out)."""
    return fit_prepared(prepare_rows(rows, countries, shares, definition), excluded, countries,
                        shares, definition)


# Prefix of the covariate columns of ``prepare_rows`` (and of ``Model.data``).
DESIGN_PREFIX = "x_"


def _is_crosswalk(definition: str) -> bool:
    target = schema.DEFINITIONS_BY_ID.get(definition)
    return target is None or target.biomarker == CROSSWALK_BIOMARKER


def prepare_rows(rows: pd.DataFrame, countries: pd.DataFrame, shares: pd.DataFrame,
                 definition: str = schema.DEFAULT_DEFINITION) -> pd.DataFrame:
    """``model_rows``' rows as the fit reads them: the estimate's covariates, logit ``yi``
    and sampling variance ``vi``, and every candidate covariate as ``x_<term>``.

    A row's covariates depend on that row alone, so validation prepares the rows once and
    refits on subsets of them (``fit_prepared``) without building the design again."""
    require_columns(countries, ["iso3", "region", "subregion", "income_group"], "countries")
    crosswalk = _is_crosswalk(definition)
    data = _estimate_data(rows, countries, crosswalk)
    x = design_matrix(data, countries, shares)
    if not crosswalk:
        x = x.drop(columns=["log_cutoff"])
    return pd.concat([data, x.add_prefix(DESIGN_PREFIX)], axis=1)


def _split_prepared(prepared: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    design = [c for c in prepared.columns if c.startswith(DESIGN_PREFIX)]
    data = prepared.drop(columns=design)
    x = prepared[design]
    x.columns = [c[len(DESIGN_PREFIX):] for c in design]
    return data, x


def fit_prepared(prepared: pd.DataFrame, excluded: pd.DataFrame, countries: pd.DataFrame,
                 shares: pd.DataFrame, definition: str = schema.DEFAULT_DEFINITION) -> Model:
    """``fit_rows`` on rows already prepared by ``prepare_rows`` (or a subset of them)."""
    if len(prepared) < 3:
        raise ValueError(
            f"too few estimates to fit a model for {definition!r} ({len(prepared)})")
    crosswalk = _is_crosswalk(definition)
    data, x = _split_prepared(prepared.reset_index(drop=True))
    own_diets = set(data["diet_group"])
    informative = [c for c in x.columns if x[c].nunique() > 1
                   and (c not in DIET_TERMS or c in own_diets)]
    dropped = tuple(c for c in x.columns if c not in informative)
    x = _full_rank(x[informative])
    dropped = dropped + tuple(c for c in informative if c not in x.columns)
    yi, vi = data["yi"].to_numpy(), data["vi"].to_numpy()
    result = stats.meta_regression(
        yi, vi, x, random=dict(zip(LEVELS, (data["region"].to_numpy(), data["iso3"].to_numpy(),
                                            data["sample_id"].to_numpy(),
                                            data["estimate_id"].to_numpy()), strict=True)),
        method="REML")
    effects = {}
    for name, level in (("region", 0), ("country", 1)):
        ranef = result.ranef(level)
        effects[name] = {str(i): (float(b), float(s)) for i, b, s in
                         zip(ranef["id"], ranef["blup"], ranef["se"], strict=True)}
    data = pd.concat([data, x.add_prefix(DESIGN_PREFIX)], axis=1)
    return Model(fit=result, data=data, excluded=excluded, terms=tuple(x.columns),
                 dropped_terms=dropped, definition=definition, crosswalk=crosswalk,
                 countries=countries, shares=shares, _effects=effects)


def _estimate_data(rows: pd.DataFrame, countries: pd.DataFrame, crosswalk: bool
                   ) -> pd.DataFrame:
    """Estimates (``model_rows``' rows) as the model reads them: covariates, age span, and
    the logit ``yi`` with its sampling variance ``vi`` from the effective n."""
    region = rows["country_iso3"].map(countries.set_index("iso3")["region"])
    data = pd.DataFrame({
        "estimate_id": rows["estimate_id"], "study_id": rows["study_id"],
        "sample_id": rows["sample_id"], "iso3": rows["country_iso3"], "region": region,
        "sex": rows["sex"].astype("object"), "diet_group": rows["diet_group"].astype("object"),
        "supplement_users": rows["supplement_users"].astype("object"),
        "pregnancy": rows["pregnancy"].astype("object"),
        "sample_frame": rows["sample_frame"].astype("object"),
        "age_min": rows["age_min"], "age_max": rows["age_max"],
        "age": [age_of(a, b, m) for a, b, m in zip(rows["age_min"], rows["age_max"],
                                                   rows["age_mean"], strict=True)],
        "cutoff": rows["cutoff_low"].astype(float) if crosswalk else REFERENCE_CUTOFF,
        "prevalence": rows["prevalence"].astype(float),
        "n": rows["n"],
        "derived": rows["derived"].astype(bool) if "derived" in rows else False,
    })
    lo, hi = _age_bounds(data)
    data["age_lo"], data["age_hi"] = lo, hi
    n_eff = pd.to_numeric(rows["n_effective"], errors="coerce").fillna(
        pd.to_numeric(rows["n"], errors="coerce")).to_numpy(dtype=float)
    yi, vi = stats.logit_effects(prevalence=data["prevalence"].to_numpy(), n_effective=n_eff)
    data["yi"], data["vi"], data["n_effective"] = yi, vi, n_eff
    return data


def _full_rank(x: pd.DataFrame) -> pd.DataFrame:
    """Drop, in order, columns that the intercept and earlier columns already span: a
    covariate the evidence cannot separate from others has no estimate of its own."""
    keep: list[str] = []
    base = np.ones((len(x), 1))
    for column in x.columns:
        trial = np.column_stack([base, x[column].to_numpy(dtype=float)])
        if np.linalg.matrix_rank(trial) > base.shape[1]:
            keep.append(column)
            base = trial
    return x[keep]


def general_population_frame(iso3: Sequence[str], age_bands: Mapping[str, tuple[int, int | None]],
                             definition: str = schema.DEFAULT_DEFINITION) -> pd.DataFrame:
    """Queries for the general population (both sexes, every diet, supplement users included)
    of each country x age band: the rows the burden and the map ask the model for."""
    records = [
        {"iso3": c, "age_band": band, "age_min": lo, "age_max": hi, "sex": "both",
         "diet_group": "general", "supplement_users": "included", "pregnancy": "not_pregnant",
         "definition": definition}
        for c in iso3 for band, (lo, hi) in age_bands.items()
    ]
    return pd.DataFrame(records)
