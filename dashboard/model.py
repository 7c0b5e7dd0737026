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
INCOME_TERMS: tuple[str, ...] = ("low", "lower_middle", "upper_middle")  # reference: high
# Random intercepts, outermost first (metafor: random = ~ 1 | region/country/study/estimate).
LEVELS: tuple[str, ...] = ("region", "country", "study", "estimate")
DEFAULT_DRAWS = 1000
DEFAULT_SEED = 20240101
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
        raise ValueError(f"knots must be at least 3 increasing values, got {list(knots)}")
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
    come from the same people).
    """
    below = rows[rows["cutoff_operator"].isin(["<", "<="]) & rows["cutoff_high"].isna()].copy()
    below["derived"] = False
    band = rows[rows["cutoff_operator"] == "between"]
    same = ["study_id", "population", "sex", "age_min", "age_max", "diet_group",
            "supplement_users", "pregnancy"]
    added = []
    for _, r in band.iterrows():
        match = below
        for column in same:
            value = r[column]
            match = match[match[column].isna()] if _missing(value) else match[
                match[column].astype("object") == value]
        match = match[np.isclose(match["cutoff_low"].astype(float), float(r["cutoff_low"]))]
        if len(match) != 1:
            continue
        low = match.iloc[0]
        new = low.copy()
        new["estimate_id"] = f"{low['estimate_id']}+{r['estimate_id']}"
        new["cutoff_low"] = float(r["cutoff_high"])
        new["prevalence"] = float(low["prevalence"]) + float(r["prevalence"])
        new["parent_id"] = None
        new["split"] = None
        new["repeat_of"] = None
        new["derived"] = True
        if new["prevalence"] < 1:
            added.append(new)
    return pd.concat([below, pd.DataFrame(added)], ignore_index=True) if added else below


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
    groups = kept["cutoff_low"].round(3) if crosswalk else pd.Series(0, index=kept.index)
    parts = [evidence.non_overlapping(g, prefer="finest") for _, g in kept.groupby(groups)]
    fitted = pd.concat(parts, ignore_index=True) if parts else kept.iloc[0:0]
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

    def variance_components(self) -> pd.DataFrame:
        """sigma^2 of each random level (logit scale), with the number of groups fitted."""
        groups = [self.data[c].nunique() for c in ("region", "iso3", "sample_id", "estimate_id")]
        return pd.DataFrame({"level": list(LEVELS), "sigma2": self.fit.sigma2,
                             "groups": groups})

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
        q["sample_frame"] = "national_survey"
        low, high = cutoffs_of(frame)
        q["cutoff"] = low
        q["cutoff_high"] = high
        unknown = [d for d in q["diet_group"].unique()
                   if d not in (*MODEL_DIETS, "general", "semi_vegetarian")]
        if unknown:
            raise ValueError(f"diet_group must be one of {[*MODEL_DIETS, 'general']}, "
                             f"got {unknown}")
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
        region = q["iso3"].map(self.countries.set_index("iso3")["region"]).fillna("")
        region_ids = region.to_numpy(dtype=object)
        country_ids = (region + "/" + q["iso3"]).to_numpy(dtype=object)
        sig = fit.sigma2
        u_point = np.zeros(len(q))
        u_draw = np.zeros((len(q), draws))
        for ids, effects, s2 in ((region_ids, self._effects["region"], sig[0]),
                                 (country_ids, self._effects["country"], sig[1])):
            for key in pd.unique(ids):
                mask = ids == key
                blup, se = effects.get(key, (0.0, math.sqrt(s2)))
                u_point[mask] += blup
                u_draw[mask] += blup + se * rng.standard_normal(draws)
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
    require_columns(countries, ["iso3", "region", "subregion", "income_group"], "countries")
    if len(rows) < 3:
        raise ValueError(f"too few estimates to fit a model for {definition!r} ({len(rows)})")
    target = schema.DEFINITIONS_BY_ID.get(definition)
    crosswalk = target is None or target.biomarker == CROSSWALK_BIOMARKER
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
        "n": rows["n"], "derived": rows["derived"].astype(bool),
    })
    lo, hi = _age_bounds(data)
    data["age_lo"], data["age_hi"] = lo, hi
    n_eff = pd.to_numeric(rows["n_effective"], errors="coerce").fillna(
        pd.to_numeric(rows["n"], errors="coerce")).to_numpy(dtype=float)
    yi, vi = stats.logit_effects(prevalence=data["prevalence"].to_numpy(), n_effective=n_eff)
    data["yi"], data["vi"], data["n_effective"] = yi, vi, n_eff
    x = design_matrix(data, countries, shares)
    if not crosswalk:
        x = x.drop(columns=["log_cutoff"])
    own_diets = set(data["diet_group"])
    informative = [c for c in x.columns if x[c].nunique() > 1
                   and (c not in DIET_TERMS or c in own_diets)]
    dropped = tuple(c for c in x.columns if c not in informative)
    x = _full_rank(x[informative])
    dropped = dropped + tuple(c for c in informative if c not in x.columns)
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
    data = pd.concat([data, x.add_prefix("x_")], axis=1)
    return Model(fit=result, data=data, excluded=excluded, terms=tuple(x.columns),
                 dropped_terms=dropped, definition=definition, crosswalk=crosswalk,
                 countries=countries, shares=shares, _effects=effects)


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
