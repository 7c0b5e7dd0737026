"""Pure statistics: proportion intervals, survey prevalence, pooling, standardisation, reliability.

Every function here reproduces an established reference implementation (R's ``stats``,
``survey`` and ``metafor`` packages, and the NCHS Data Presentation Standards for Proportions);
the reference values are kept with the tests. Nothing here reads files or draws anything.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

from dashboard.frames import require_columns as _require

ArrayLike = float | int | Sequence[float] | np.ndarray | pd.Series

# --- proportion intervals ----------------------------------------------------------------------

CI_METHODS: tuple[str, ...] = ("wilson", "clopper-pearson")


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    return level


def _check_counts(cases: ArrayLike, n: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(cases, dtype=float)
    m = np.asarray(n, dtype=float)
    if np.isnan(x).any() or np.isnan(m).any():
        raise ValueError("cases and n must not contain missing values")
    if not (m > 0).all():
        raise ValueError(f"n must be positive, got {m[~(m > 0)].ravel()[:5].tolist()}")
    if not np.isfinite(m).all():
        raise ValueError("n must be finite")
    bad = (x < 0) | (x > m)
    if bad.any():
        raise ValueError(
            f"cases must lie between 0 and n; offending (cases, n): {_pairs(x, m, bad)}"
        )
    return x, m


def _pairs(x: np.ndarray, m: np.ndarray, bad: np.ndarray) -> list[tuple[float, float]]:
    xb, mb = np.broadcast_arrays(x, m)
    return [(float(a), float(b)) for a, b in zip(xb[bad][:5], mb[bad][:5], strict=True)]


def _out(value: np.ndarray, scalar: bool) -> np.ndarray | float:
    return float(value) if scalar else value


def proportion_ci(
    cases: ArrayLike,
    n: ArrayLike,
    method: str = "wilson",
    level: float = 0.95,
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Confidence interval for a binomial proportion ``cases / n``.

    Parameters
    ----------
    cases, n : float or array_like
        Number of cases and sample size; broadcast against each other. ``cases`` may be
        fractional (e.g. a published percentage times n); it must lie in ``[0, n]`` and ``n``
        must be positive.
    method : {"wilson", "clopper-pearson"}
        ``"wilson"``: Wilson score interval without continuity correction, equal to R's
        ``prop.test(x, n, correct=FALSE)$conf.int``. ``"clopper-pearson"``: the exact interval
        from beta quantiles, equal to R's ``binom.test(x, n)$conf.int``; its bounds are exactly
        0 when ``cases == 0`` and exactly 1 when ``cases == n``.
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    low, high : float or ndarray
        Floats when both inputs are scalars, arrays otherwise.

    References
    ----------
    Wilson EB (1927). Probable inference, the law of succession, and statistical inference.
    JASA 22:209-212. Clopper CJ, Pearson ES (1934). The use of confidence or fiducial limits
    illustrated in the case of the binomial. Biometrika 26:404-413.
    """
    level = _check_level(level)
    if method not in CI_METHODS:
        raise ValueError(f"unknown interval method {method!r}; expected one of "
                         f"{', '.join(CI_METHODS)}")
    scalar = np.ndim(cases) == 0 and np.ndim(n) == 0
    x, m = _check_counts(cases, n)
    x, m = np.broadcast_arrays(x, m)
    alpha = 1.0 - level
    if method == "wilson":
        z = sps.norm.ppf(1.0 - alpha / 2.0)
        p = x / m
        z22n = z**2 / (2.0 * m)
        half = z * np.sqrt(p * (1.0 - p) / m + z22n / (2.0 * m))
        # prop.test pins the bounds to 0 and 1 at the ends of the range.
        low = np.where(p <= 0.0, 0.0, (p + z22n - half) / (1.0 + 2.0 * z22n))
        high = np.where(p >= 1.0, 1.0, (p + z22n + half) / (1.0 + 2.0 * z22n))
    else:
        with np.errstate(invalid="ignore"):
            low = np.where(x <= 0.0, 0.0, sps.beta.ppf(alpha / 2.0, x, m - x + 1.0))
            high = np.where(x >= m, 1.0, sps.beta.ppf(1.0 - alpha / 2.0, x + 1.0, m - x))
    return _out(low, scalar), _out(high, scalar)


# --- NCHS reliability --------------------------------------------------------------------------

RELIABILITY_OK = "ok"
RELIABILITY_REVIEW = "review"
RELIABILITY_SUPPRESS = "suppress"
COMPLEMENT_FOOTNOTE = "complement unreliable"
# Every value nchs_reliability returns: a flag, optionally followed by "; " and the footnote.
RELIABILITY_LABELS: tuple[str, ...] = (
    RELIABILITY_OK,
    f"{RELIABILITY_OK}; {COMPLEMENT_FOOTNOTE}",
    RELIABILITY_REVIEW,
    f"{RELIABILITY_REVIEW}; {COMPLEMENT_FOOTNOTE}",
    RELIABILITY_SUPPRESS,
)
# Parker et al. (2017), Vital Health Stat 2(175), table and flowchart on p. 6-7.
NCHS_MIN_N_EFF = 30.0
NCHS_MAX_ABS_WIDTH = 0.30
NCHS_REL_WIDTH_FROM = 0.05
NCHS_MAX_REL_WIDTH = 1.30
NCHS_MIN_DF = 8


def nchs_reliability(
    estimate: ArrayLike,
    n_eff: ArrayLike,
    ci_low: ArrayLike,
    ci_high: ArrayLike,
    df: ArrayLike | None = None,
) -> str | np.ndarray:
    """Presentation flag of a proportion under the NCHS Data Presentation Standards.

    The rules (Parker et al. 2017) applied, in order:

    1. ``"suppress"`` when the effective sample size is below 30, or the absolute width of the
       (Korn-Graubard) interval is 0.30 or more, or the width exceeds 0.05 and the relative
       width ``width / p`` exceeds 130 %. The relative-width rule is not applied when p is 0
       (it is undefined there). Missing inputs (NaN) also give ``"suppress"``: reliability
       cannot be shown.
    2. ``"review"`` (present, but flag for statistical review) when the design degrees of
       freedom are fewer than 8, or the estimate is exactly 0 or 1.
    3. ``"ok"`` otherwise.

    Rows that are not suppressed get the footnote ``"; complement unreliable"`` when the width
    exceeds 0.05 and the relative width of the complement, ``width / (1 - p)``, exceeds 130 %:
    the estimate may be shown but ``1 - p`` should not be. The full vocabulary is
    :data:`RELIABILITY_LABELS`; split on ``"; "`` to get the flag and the footnote.

    Parameters
    ----------
    estimate : float or array_like
        Proportion in [0, 1].
    n_eff : float or array_like
        Effective sample size (for a published study without design information, its n).
    ci_low, ci_high : float or array_like
        Interval bounds (the standard is defined on the Korn-Graubard interval).
    df : float or array_like, optional
        Design degrees of freedom; ``None`` when unknown (the df rule is then skipped).

    Returns
    -------
    str or ndarray of str
        A string for scalar input, an object array otherwise.

    References
    ----------
    Parker JD, Talih M, Malec DJ, et al. (2017). National Center for Health Statistics Data
    Presentation Standards for Proportions. Vital Health Stat 2(175).
    """
    scalar = all(np.ndim(v) == 0 for v in (estimate, n_eff, ci_low, ci_high, df))
    p, ne, lo, hi = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (estimate, n_eff, ci_low, ci_high))
    )
    width = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(p > 0, width / p, 0.0)
        rel_complement = np.where(p < 1, width / (1.0 - p), 0.0)
    suppress = (
        ~(ne >= NCHS_MIN_N_EFF)
        | ~(width < NCHS_MAX_ABS_WIDTH)
        | np.isnan(p)
        | ((width > NCHS_REL_WIDTH_FROM) & (rel > NCHS_MAX_REL_WIDTH))
    )
    review = (p == 0.0) | (p == 1.0)
    if df is not None:
        review = review | (np.asarray(df, dtype=float) < NCHS_MIN_DF)
    complement = (width > NCHS_REL_WIDTH_FROM) & (rel_complement > NCHS_MAX_REL_WIDTH)
    flag = np.where(review, RELIABILITY_REVIEW, RELIABILITY_OK).astype(object)
    flag = np.where(complement, flag + f"; {COMPLEMENT_FOOTNOTE}", flag)
    out = np.where(suppress, RELIABILITY_SUPPRESS, flag).astype(object)
    return str(out.ravel()[0]) if scalar else out


# --- random-effects pooling --------------------------------------------------------------------

POOL_METHODS: tuple[str, ...] = ("REML", "DL")
# REML follows metafor's rma() Fisher scoring (start at the Hedges estimate, step-halving at
# 0, the tau^2 = 0 likelihood check with tol = eps^0.25 applied to tau^2 above 1e-5), iterated
# until tau^2 changes by less than 1e-10: metafor's default stop (1e-5) leaves tau^2 up to a few
# 1e-7 (relative) short of the REML optimum, which the reference values give to 1e-12.
_REML_THRESHOLD = 1e-10
_REML_MAXITER = 500
_LL0_MIN_TAU2 = 1e-5
_LL0_TOL = np.finfo(float).eps ** 0.25


@dataclass(frozen=True)
class PooledEstimate:
    """A random-effects pooled prevalence, back-transformed from the logit scale.

    ``i2`` is in percent (metafor's ``I2``); ``q`` is Cochran's Q; ``logit`` and ``logit_se``
    are the pooled log-odds and its standard error; ``pi_*`` bound the prediction interval
    for the prevalence in a new study (population).
    """

    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    tau2: float
    i2: float
    q: float
    k: int
    logit: float
    logit_se: float


def _reml_tau2(y: np.ndarray, v: np.ndarray) -> float:
    """REML tau^2 by Fisher scoring, step for step as metafor's rma.uni (intercept-only).

    Starts from the Hedges (HE) estimate truncated at 0, halves steps that would make tau^2
    negative, and finally applies metafor's check that tau^2 = 0 does not have a higher
    restricted log-likelihood.
    """
    k = len(y)
    he = float(np.sum((y - y.mean()) ** 2) - np.sum(v) * (k - 1) / k) / (k - 1)
    tau2 = max(0.0, he)
    change = _REML_THRESHOLD + 1.0
    iterations = 0
    while change > _REML_THRESHOLD:
        iterations += 1
        old = tau2
        w = 1.0 / (v + tau2)
        sw = w.sum()
        # P = W - w w'/sum(w) for the intercept-only model; P y = w (y - ybar_w).
        py = w * (y - np.sum(w * y) / sw)
        tr_p = sw - np.sum(w**2) / sw
        tr_pp = np.sum(w**2) - 2.0 * np.sum(w**3) / sw + (np.sum(w**2) / sw) ** 2
        adj = (np.sum(py**2) - tr_p) / tr_pp
        while tau2 + adj < 0.0:
            adj /= 2.0
        tau2 = tau2 + adj
        change = abs(old - tau2)
        if iterations > _REML_MAXITER:
            raise ValueError(
                "REML estimation of tau^2 did not converge (Fisher scoring, "
                f"{_REML_MAXITER} iterations); try method='DL'"
            )
    if _reml_loglik(y, v, 0.0) - _reml_loglik(y, v, tau2) > _LL0_TOL and tau2 > _LL0_MIN_TAU2:
        tau2 = 0.0
    return max(0.0, tau2)


def _reml_loglik(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    w = 1.0 / (v + tau2)
    sw = w.sum()
    rss = np.sum(w * (y - np.sum(w * y) / sw) ** 2)
    k = len(y)
    return float(
        -0.5 * (k - 1) * math.log(2 * math.pi)
        - 0.5 * np.sum(np.log(v + tau2))
        - 0.5 * math.log(sw)
        - 0.5 * rss
    )


def _expit(x: float) -> float:
    return float(special.expit(x))


def pool_prevalence(
    cases: ArrayLike,
    n: ArrayLike,
    method: str = "REML",
    level: float = 0.95,
) -> PooledEstimate:
    """Random-effects pooled prevalence on the logit scale.

    Reproduces metafor's ``rma(measure="PLO", xi=cases, ni=n, method=method)`` followed by
    ``predict(fit, transf=transf.ilogit)``: each study's log-odds ``log(x / (n - x))`` with
    variance ``1/x + 1/(n - x)``, where 0.5 is added to both cells only for studies with 0 or n
    cases; between-study variance tau^2 by REML (Fisher scoring, metafor's default) or
    DerSimonian-Laird; z-based confidence interval; prediction interval
    ``pooled +/- z sqrt(tau^2 + se^2)``; all bounds back-transformed with the inverse logit.
    I^2 (percent) is ``100 tau^2 / (tau^2 + s^2)`` with s^2 the typical within-study variance
    ``(k - 1) / (sum w - sum w^2 / sum w)``, ``w = 1 / v`` (Higgins & Thompson 2002).
    With a single study, tau^2, Q and I^2 are 0 and the estimate is that study's.

    Parameters
    ----------
    cases, n : array_like
        Cases and sample size per study (``0 <= cases <= n``, ``n > 0``).
    method : {"REML", "DL"}
        Estimator of tau^2.
    level : float
        Level of the confidence and prediction intervals.

    References
    ----------
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw
    36(3). DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Control Clin Trials
    7:177-188. Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators
    in the random-effects model. J Educ Behav Stat 30:261-293.
    """
    level = _check_level(level)
    method_key = str(method).upper()
    if method_key not in POOL_METHODS:
        raise ValueError(f"unknown pooling method {method!r}; expected one of "
                         f"{', '.join(POOL_METHODS)}")
    x, m = _check_counts(np.atleast_1d(cases), np.atleast_1d(n))
    x, m = (a.ravel() for a in np.broadcast_arrays(x, m))
    k = len(x)
    if k == 0:
        raise ValueError("pool_prevalence needs at least one study")
    y, v = logit_effects(x, m)  # escalc(measure="PLO"): one home, in metareg
    w0 = 1.0 / v
    sw0 = w0.sum()
    q = float(np.sum(w0 * (y - np.sum(w0 * y) / sw0) ** 2)) if k > 1 else 0.0
    tr_p0 = sw0 - np.sum(w0**2) / sw0
    if k == 1:
        tau2 = 0.0
    elif method_key == "DL":
        tau2 = max(0.0, (q - (k - 1)) / tr_p0)
    else:
        tau2 = _reml_tau2(y, v)
    w = 1.0 / (v + tau2)
    logit = float(np.sum(w * y) / w.sum())
    se = float(math.sqrt(1.0 / w.sum()))
    i2 = 100.0 * tau2 / (tau2 + (k - 1) / tr_p0) if k > 1 else 0.0
    z = float(sps.norm.ppf(1.0 - (1.0 - level) / 2.0))
    half_pi = z * math.sqrt(tau2 + se**2)
    return PooledEstimate(
        estimate=_expit(logit),
        ci_low=_expit(logit - z * se),
        ci_high=_expit(logit + z * se),
        pi_low=_expit(logit - half_pi),
        pi_high=_expit(logit + half_pi),
        tau2=float(tau2),
        i2=float(i2),
        q=q,
        k=k,
        logit=logit,
        logit_se=se,
    )


POOLED_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(PooledEstimate))


def pool_prevalence_frame(
    frame: pd.DataFrame,
    by: Sequence[str] | str,
    cases: str = "cases",
    n: str = "n",
    method: str = "REML",
    level: float = 0.95,
) -> pd.DataFrame:
    """:func:`pool_prevalence` for every group of ``frame``.

    Returns one row per group (groups sorted) with the ``by`` columns, every
    :class:`PooledEstimate` field and ``n_total`` (people across the pooled studies).
    Missing values in ``by``, ``cases`` or ``n`` are an error: no study is dropped silently.
    """
    by = [by] if isinstance(by, str) else list(by)
    _require(frame, [*by, cases, n])
    for column in [*by, cases, n]:
        if frame[column].isna().any():
            raise ValueError(f"column {column!r} has missing values; pooling needs every study")
    rows = []
    if not by:
        groups: list[tuple[tuple, pd.DataFrame]] = [((), frame)]
    else:
        groups = [
            (key if isinstance(key, tuple) else (key,), part)
            for key, part in frame.groupby(by, sort=True, observed=True)
        ]
    for key, part in groups:
        est = pool_prevalence(
            part[cases].to_numpy(dtype=float), part[n].to_numpy(dtype=float), method, level
        )
        rows.append(
            {**dict(zip(by, key, strict=True)), **asdict(est), "n_total": float(part[n].sum())}
        )
    return pd.DataFrame(rows, columns=[*by, *POOLED_FIELDS, "n_total"])


# --- direct age standardisation ----------------------------------------------------------------


def age_standardize(
    frame: pd.DataFrame,
    rate: str | Sequence[str],
    age: str,
    weights: Mapping[str, float],
    by: Sequence[str] | str = (),
) -> pd.DataFrame:
    """Directly age-standardised rates: the weighted mean of age-specific rates.

    Within each ``by`` group the standard weights are renormalised to sum to 1 over the age
    groups present in that group, so a group lacking some ages is standardised over those it
    has; ``weight_covered`` reports the share of the standard those ages hold (1.0 when every
    age is present). Every age in ``frame`` must have a weight, each (group, age) pair must
    appear once, and rates must not be missing.

    Parameters
    ----------
    frame : DataFrame
        One row per group and age.
    rate : str or sequence of str
        Column(s) of age-specific rates (several columns, e.g. simulation draws, are
        standardised together).
    age : str
        Column of age-group labels, the keys of ``weights``.
    weights : mapping
        Standard population (counts or shares) per age group.
    by : sequence of str
        Grouping columns.

    Returns
    -------
    DataFrame
        ``[*by, *rate, weight_covered]``, one row per group.

    References
    ----------
    Ahmad OB, Boschi-Pinto C, Lopez AD, et al. (2001). Age standardization of rates: a new WHO
    standard. GPE Discussion Paper 31, WHO.
    """
    rates = [rate] if isinstance(rate, str) else list(rate)
    by = [by] if isinstance(by, str) else list(by)
    _require(frame, [*by, *rates, age])
    std = pd.Series(dict(weights), dtype=float)
    if std.isna().any() or (std < 0).any() or not np.isfinite(std).all() or std.sum() <= 0:
        raise ValueError("standard weights must be finite, non-negative and not all zero")
    std = std / std.sum()
    unknown = sorted(set(frame[age].dropna().astype(str)) - set(std.index.astype(str)))
    if frame[age].isna().any():
        raise ValueError(f"column {age!r} has missing age groups")
    if unknown:
        raise ValueError(f"age groups without a standard weight in column {age!r}: {unknown}")
    for column in rates:
        if frame[column].isna().any():
            raise ValueError(f"rate column {column!r} has missing values")
    if frame.duplicated([*by, age]).any():
        raise ValueError(f"each ({', '.join([*by, age])}) combination must appear once")
    w = frame[age].astype(str).map(std).to_numpy(dtype=float)
    weighted = pd.DataFrame(frame[rates].to_numpy(dtype=float) * w[:, None], columns=rates)
    weighted["weight_covered"] = w
    if by:
        for column in by:
            weighted[column] = frame[column].to_numpy()
        sums = weighted.groupby(by, sort=True, observed=True)[[*rates, "weight_covered"]].sum()
        sums = sums.reset_index()
    else:
        sums = weighted[[*rates, "weight_covered"]].sum().to_frame().T
    with np.errstate(invalid="ignore", divide="ignore"):
        sums[rates] = sums[rates].to_numpy() / sums[["weight_covered"]].to_numpy()
    return sums[[*by, *rates, "weight_covered"]]


def standard_weights_for_bands(
    standards: pd.DataFrame,
    standard: str,
    bands: Sequence[tuple[str, int, int | None]],
) -> dict[str, float]:
    """Shares of a standard population in custom age bands, for ``age_standardize`` or
    survey standardisation (WHO 2000-2025 standard: Ahmad et al. 2001).

    ``standards`` has columns [standard, age_min, age_max (missing: open top group),
    weight_share]; ``bands`` are (label, first year, last year or None for an open band), as
    ``ingest.parse_age_bands`` gives them. Each standard age group adds its share to the band
    holding it; a band no group falls in gets 0. A standard group cut by a band edge cannot
    be split honestly, so it raises ValueError naming the group, as does an unknown standard.
    """
    missing = [c for c in ("standard", "age_min", "age_max", "weight_share")
               if c not in standards.columns]
    if missing:
        raise ValueError(f"standard populations frame lacks the column(s) {', '.join(missing)}")
    rows = standards.loc[(standards["standard"] == standard).to_numpy(dtype=bool)]
    if rows.empty:
        raise ValueError(f"unknown standard population {standard!r}")
    weights = dict.fromkeys((b[0] for b in bands), 0.0)
    for r in rows.itertuples():
        hi = math.inf if pd.isna(r.age_max) else int(r.age_max)
        band = next((b for b in bands if b[1] <= int(r.age_min) and
                     (b[2] is None or int(r.age_min) <= b[2])), None)
        if band is None or (band[2] is not None and hi > band[2]):
            edge = f"{int(r.age_min)}+" if hi == math.inf else f"{int(r.age_min)}-{hi}"
            raise ValueError(
                f"the standard's age group {edge} crosses an edge of your age bands: use band "
                "edges the standard shares (multiples of 5 up to its open top group) or the "
                "survey's own age distribution"
            )
        weights[band[0]] += float(r.weight_share)
    return weights


# --- survey prevalence -------------------------------------------------------------------------

SURVEY_CI_METHODS: tuple[str, ...] = ("korn-graubard", "beta", "logit")
SURVEY_COLUMNS: tuple[str, ...] = (
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "n",
    "n_eff",
    "df",
    "reliability",
)
# Above this many rows the grouped sums run on worker threads (numpy releases the GIL), in
# chunks whose cell indexes stay in cache (measured fastest at 10 million rows on 2 cores).
_PARALLEL_MIN_ROWS = 1_000_000
_CHUNK_ROWS = 262_144
# A cluster design whose stratum x PSU grid is larger than this gets its PSUs renumbered
# compactly first (one extra pass) instead of using the grid directly.
_MAX_PSU_GRID = 4096
_MISSING_OUTCOME = 2  # outcome code of rows whose outcome is missing


@dataclass
class _Codes:
    """Integer codes 0..size-1 of a grouping column (``-1`` = missing) and their labels."""

    codes: np.ndarray
    labels: np.ndarray
    has_missing: bool

    @property
    def size(self) -> int:
        return len(self.labels)


def _numpy_kind(dtype: object) -> str:
    """The numpy kind character of a plain numpy dtype, "" for pandas extension dtypes."""
    return dtype.kind if isinstance(dtype, np.dtype) else ""


def _codes(series: pd.Series) -> _Codes:
    """Codes without copying for categoricals; a range shift for compact integers."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = series.array.codes
        return _Codes(codes, np.asarray(dtype.categories), bool(codes.min(initial=0) < 0))
    if _numpy_kind(dtype) == "b":
        return _Codes(series.to_numpy().view(np.int8), np.array([False, True]), False)
    if _numpy_kind(dtype) in ("i", "u"):
        values = series.to_numpy()
        if len(values):
            low, high = int(values.min()), int(values.max())
            if high - low < 65536:
                return _Codes(values - low, np.arange(low, high + 1), False)
    codes, uniques = pd.factorize(series, sort=True, use_na_sentinel=True)
    return _Codes(codes, np.asarray(uniques), bool((codes < 0).any()))


def _outcome_codes(series: pd.Series, name: str) -> tuple[np.ndarray, int]:
    """0/1 outcome as small integers with missing values coded 2; and the count missing."""
    dtype = series.dtype
    if _numpy_kind(dtype) == "b":
        return series.to_numpy().view(np.int8), 0
    numeric = pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)
    if not numeric and not pd.api.types.is_bool_dtype(dtype):
        examples = pd.unique(series.dropna())[:5].tolist()
        raise ValueError(
            f"outcome column {name!r} must hold 0/1 or True/False values, "
            f"found dtype {dtype} with values such as {examples}"
        )
    if _numpy_kind(dtype) in ("i", "u"):
        values = series.to_numpy()
        if len(values) and (values.min() < 0 or values.max() > 1):
            bad = values[(values < 0) | (values > 1)]
            raise ValueError(
                f"outcome column {name!r} must be 0/1; found values such as "
                f"{np.unique(bad[:1000])[:5].tolist()}"
            )
        return values, 0
    values = series.to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(values)
    bad = ~missing & (values != 0.0) & (values != 1.0)
    if bad.any():
        raise ValueError(
            f"outcome column {name!r} must be 0/1; found values such as "
            f"{np.unique(values[bad])[:5].tolist()}"
        )
    n_missing = int(missing.sum())
    codes = np.where(missing, _MISSING_OUTCOME, values).astype(np.int8)
    return codes, n_missing


def _weights(series: pd.Series, name: str) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        raise ValueError(f"weight column {name!r} must be numeric, found dtype {series.dtype}")
    return series.to_numpy(dtype=float, na_value=np.nan)


def _check_weights(w: np.ndarray, name: str) -> None:
    """Missing or non-positive weights are an error (one pass: NaN propagates through min;
    infinite weights are caught on the weight totals)."""
    if len(w) and not w.min() > 0.0:
        bad = w[~(w > 0)]
        raise ValueError(
            f"weight column {name!r} must hold positive sampling weights without missing "
            f"values; found {len(bad)} values such as {bad[:5].tolist()}"
        )


def _cell_index(parts: Sequence[tuple[np.ndarray, int]], rows: slice, total: int) -> np.ndarray:
    """Mixed-radix cell number of each row from (codes, radix) pairs.

    The leading parts are combined in the narrowest integer type that holds ``total`` (less
    memory traffic than working in intp); the last step widens to intp as bincount needs.
    """
    dtype = np.int16 if total < 2**15 else np.int32 if total < 2**31 else np.int64
    first, _ = parts[0]
    if len(parts) == 1:
        return first[rows].astype(np.intp)
    idx = first[rows].astype(dtype)
    for codes, radix in parts[1:-1]:
        idx *= radix
        idx += codes[rows]
    last, radix = parts[-1]
    out = np.multiply(idx, radix, dtype=np.intp)
    out += last[rows]
    return out


_POOL: ThreadPoolExecutor | None = None


def _thread_pool() -> ThreadPoolExecutor:
    """One pool for the process: starting threads on every call would cost milliseconds."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
    return _POOL


def _grouped_sums(
    parts: Sequence[tuple[np.ndarray, int]],
    w: np.ndarray | None,
    squares: bool,
    weight_name: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Row counts, weight sums (and sums of squared weights) per cell, by np.bincount.

    Large inputs are cut into chunks processed on threads (numpy releases the GIL); each
    chunk also validates its weights, so no separate pass over the rows is needed.
    """
    total = int(np.prod([radix for _, radix in parts]))
    n_rows = len(parts[0][0])

    def chunk(rows: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        idx = _cell_index(parts, rows, total)
        count = np.bincount(idx, minlength=total)
        if w is None:
            return count, count.astype(float), count.astype(float) if squares else None
        wr = w[rows]
        _check_weights(wr, weight_name)
        wsum = np.bincount(idx, weights=wr, minlength=total)
        wsq = np.bincount(idx, weights=wr * wr, minlength=total) if squares else None
        return count, wsum, wsq

    if n_rows < _PARALLEL_MIN_ROWS:
        results = [chunk(slice(None))]
    else:
        workers = os.cpu_count() or 1
        # A multiple of the worker count, so that no worker is left with an extra chunk.
        n_chunks = workers * max(1, -(-n_rows // (_CHUNK_ROWS * workers)))
        bounds = np.linspace(0, n_rows, n_chunks + 1).astype(int)
        slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        results = list(_thread_pool().map(chunk, slices))
    count = results[0][0] if len(results) == 1 else np.sum([r[0] for r in results], axis=0)
    wsum = results[0][1] if len(results) == 1 else np.sum([r[1] for r in results], axis=0)
    wsq = np.sum([r[2] for r in results], axis=0) if squares else None
    if not np.isfinite(wsum).all():
        raise ValueError(f"weight column {weight_name!r} holds infinite values")
    return count, wsum, wsq


def _t_quantile(q: float, df: np.ndarray) -> np.ndarray:
    """Student t quantile; NaN (as R's qt) where df is not positive."""
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(df > 0, sps.t.ppf(q, np.where(df > 0, df, 1.0)), np.nan)


def _beta_interval(p: np.ndarray, n_eff: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson quantiles at x = p n_eff (0 and 1 exactly at the ends)."""
    x = p * n_eff
    with np.errstate(invalid="ignore"):
        low = sps.beta.ppf(alpha / 2.0, x, n_eff - x + 1.0)
        high = sps.beta.ppf(1.0 - alpha / 2.0, x + 1.0, n_eff - x)
    low = np.where((p == 0.0) & ~np.isnan(n_eff), 0.0, low)
    high = np.where((p == 1.0) & ~np.isnan(n_eff), 1.0, high)
    return low, high


def _r_expit(eta: np.ndarray) -> np.ndarray:
    """R survey's expit, exp(eta) / (1 + exp(eta)): NaN at +Inf as in R."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(eta)
        return np.where(np.isinf(eta) & (eta > 0), np.nan, e / (1.0 + e))


def _logit_interval(
    p: np.ndarray, se: np.ndarray, df: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """svyciprop(method="logit"): Wald interval for logit(p) with SE se / (p (1 - p)).

    R's confint.svyglm turns the t quantile into a normal-based level,
    1 - 2 pnorm(qt(alpha/2, df)); with very few df that level rounds to 1 in double precision
    and R returns (0, NA). The same arithmetic is used here so the results agree.
    """
    alpha = 1.0 - level
    with np.errstate(divide="ignore", invalid="ignore"):
        tlevel = 1.0 - 2.0 * sps.norm.cdf(_t_quantile(alpha / 2.0, df))
        a = (1.0 - tlevel) / 2.0
        lo_q, hi_q = sps.norm.ppf(a), sps.norm.ppf(1.0 - a)
        eta = np.log(p / (1.0 - p))
        se_eta = se / (p * (1.0 - p))
        low = _r_expit(eta + lo_q * se_eta)
        high = _r_expit(eta + hi_q * se_eta)
    undefined = (p <= 0.0) | (p >= 1.0)
    return np.where(undefined, np.nan, low), np.where(undefined, np.nan, high)


def survey_prevalence(
    frame: pd.DataFrame,
    outcome: str,
    by: Sequence[str] | str = (),
    weight: str | None = None,
    strata: str | None = None,
    psu: str | None = None,
    ci: str = "korn-graubard",
    level: float = 0.95,
    standardize: tuple[str, Mapping[object, float]] | None = None,
) -> pd.DataFrame:
    """Design-based prevalence of a 0/1 outcome, overall or by domains.

    The estimator is the weighted proportion (a ratio estimator). Domains (``by``) are
    estimated over the whole design, as R's ``svyby(~y, ~by, design, svymean)`` does, not by
    subsetting: each domain's linearised score is ``w_i (y_i - p_d) 1[i in d] / W_d`` over all
    rows, summed to PSU totals, centred within strata and combined with the factor
    ``n_h / (n_h - 1)`` (Taylor linearisation, with-replacement approximation at the first
    stage, PSU ids nested within strata as ``nest=TRUE``). A stratum with a single PSU is
    handled as ``options(survey.lonely.psu = "adjust")``: its PSU total is centred at the
    grand mean of the scores, which is 0 for these linearised scores. Without ``psu`` each row
    is its own PSU (``svydesign(ids = ~1)``); without ``weight`` every weight is 1.

    Computed in two steps that can be run apart: :func:`survey_cells` sums the rows per
    domain x stratum x PSU cell, and :func:`survey_prevalence_from_cells` turns those sums
    into the estimates (the same function takes sums computed out of core by
    ``dashboard.engine``).

    Parameters
    ----------
    frame : DataFrame
        One row per respondent. Group and design columns may be categorical (fastest: their
        codes are used without copying), boolean, integer or text.
    outcome : str
        Column of 0/1 or True/False values. Rows where it is missing are removed from the
        design before anything else (their number is in ``attrs["dropped_missing_outcome"]``);
        any other value is an error.
    by : sequence of str
        Domain columns. Rows with a missing domain value stay in the design (they shape the
        strata and PSUs) but belong to no domain; their number is in
        ``attrs["dropped_missing_by"]``. Domains without members are absent from the result.
    weight, strata, psu : str, optional
        Design columns: sampling weight (positive, no missing values), stratum and PSU ids.
    ci : {"korn-graubard", "beta", "logit"}
        ``"korn-graubard"`` (default): the NCHS form. Effective sample size
        ``n_eff = p (1 - p) / se^2 * (t(alpha/2, n - 1) / t(alpha/2, df))^2`` capped at n (and
        equal to n when p is 0 or 1 or se is 0), then Clopper-Pearson quantiles with
        ``x = p n_eff``. ``"beta"``: the same without the cap, which is R's
        ``svyciprop(method = "beta")`` (NaN where R gives NA, e.g. p of 0). ``"logit"``:
        R's ``svyciprop(method = "logit")``, NaN where R gives NA.
    level : float
        Confidence level.
    standardize : (str, mapping), optional
        ``(age_column, {age_group: weight})``: direct age standardisation within each domain,
        equal to R's ``svystandardize(design, by = ~age, over = ~by, population = weights)``
        (post-stratification of each domain to the standard age distribution; the
        linearisation uses the age-by-domain post-strata). Weights are renormalised over the
        age groups present in each domain; an age group without a weight is an error. Rows
        without an age group are treated as rows with a missing domain value.

    Returns
    -------
    DataFrame
        ``[*by, estimate, se, ci_low, ci_high, n, n_eff, df, reliability]``, one row per
        domain with members, ordered by the ``by`` columns (category order for categoricals).
        ``n`` is the unweighted number of respondents; ``n_eff`` the effective sample size the
        interval used (for ``"logit"``, the NCHS one); ``df`` the domain's degrees of freedom,
        PSUs minus strata among those holding at least one member of the domain (rows minus
        strata without PSUs). ``reliability`` is :func:`nchs_reliability` of the NCHS
        (Korn-Graubard) interval, whatever ``ci`` is. ``attrs`` holds
        ``dropped_missing_outcome``, ``dropped_missing_by`` and ``design_df`` (PSUs minus
        strata of the whole design).

    References
    ----------
    Lumley T (2004). Analysis of complex survey samples. J Stat Softw 9(8); R package survey.
    Korn EL, Graubard BI (1998). Confidence intervals for proportions with small expected
    number of positive counts estimated from survey data. Survey Methodology 24:193-201.
    Parker JD et al. (2017). NCHS Data Presentation Standards for Proportions. Vital Health
    Stat 2(175).
    """
    by = [by] if isinstance(by, str) else list(by)
    age_col = standardize[0] if standardize is not None else None
    # Checked before the pass over the rows, so a wrong argument costs nothing.
    _check_estimate_args(by, age_col, ci, level)
    cells = survey_cells(
        frame,
        outcome,
        by=[*by, *([age_col] if age_col else [])],
        weight=weight,
        strata=strata,
        psu=psu,
    )
    return survey_prevalence_from_cells(
        cells, by=by, strata=strata, psu=psu, ci=ci, level=level, standardize=standardize
    )


def _check_estimate_args(by: Sequence[str], age_col: str | None, ci: str, level: float) -> float:
    level = _check_level(level)
    if ci not in SURVEY_CI_METHODS:
        raise ValueError(f"unknown interval method ci={ci!r}; expected one of "
                         f"{', '.join(SURVEY_CI_METHODS)}")
    if len(set(by)) != len(by) or (age_col is not None and age_col in by):
        raise ValueError("the by and standardize columns must be distinct")
    return level


def survey_cells(
    frame: pd.DataFrame,
    outcome: str,
    by: Sequence[str] | str = (),
    weight: str | None = None,
    strata: str | None = None,
    psu: str | None = None,
) -> pd.DataFrame:
    """Additive sums of the rows per group x stratum x PSU cell: what the Taylor
    linearisation of :func:`survey_prevalence_from_cells` needs, computed in memory.

    Sums of disjoint sets of rows add up, so cells computed from shards of a file (by
    ``dashboard.engine`` with DuckDB or Spark) and summed again equal the cells of the whole.
    Rows with a missing outcome are left out (their number is in
    ``attrs["dropped_missing_outcome"]``); rows with a missing group value keep it (NaN) and
    so stay in the design. ``outcome``, ``weight``, ``strata`` and ``psu`` are checked as
    :func:`survey_prevalence` describes.

    Returns
    -------
    DataFrame
        One row per non-empty cell: the ``by`` columns, then ``strata`` and ``psu`` (those
        given), each a categorical with the column's labels as categories (so group order and
        empty groups are kept), then ``SURVEY_CELL_SUMS``: ``n`` (rows), ``w_sum`` (sum of
        weights, ``n`` without a weight column), ``wy_sum`` (sum of weight x outcome) and,
        only when there is no PSU column (every row its own PSU), ``w2_sum`` and ``w2y_sum``
        (the same with squared weights).
    """
    by = [by] if isinstance(by, str) else list(by)
    design_cols = [c for c in (weight, strata, psu) if c is not None]
    _require(frame, [outcome, *by, *design_cols])
    if len(set(by)) != len(by):
        raise ValueError("the by columns must be distinct")
    clash = [c for c in (strata, psu) if c is not None and c in by]
    if clash or (strata is not None and strata == psu):
        raise ValueError(f"design columns {clash or [strata]} cannot also be groups or both roles")
    for column in (strata, psu):
        if column is not None and frame[column].isna().any():
            raise ValueError(f"design column {column!r} has missing values")

    y, n_missing_outcome = _outcome_codes(frame[outcome], outcome)
    w = _weights(frame[weight], weight) if weight is not None else None
    if w is not None and len(w) < _PARALLEL_MIN_ROWS:
        _check_weights(w, weight)
    groups = [_codes(frame[c]) for c in by]
    parts = _group_parts(groups)
    units = _design_units(frame, strata, psu, len(frame))
    parts.extend(units.parts)
    parts.append((y, 3))

    squares = psu is None
    count, wsum, wsq = _grouped_sums(parts, w, squares=squares, weight_name=str(weight))
    n_units = units.size
    count = count.reshape(-1, n_units, 3)
    wsum = wsum.reshape(-1, n_units, 3)
    n = count[..., 0] + count[..., 1]  # the outcome code 2 (missing) is left out
    sums = {"n": n, "w_sum": wsum[..., 0] + wsum[..., 1], "wy_sum": wsum[..., 1]}
    if squares:
        wsq = wsq.reshape(-1, n_units, 3)
        sums.update(w2_sum=wsq[..., 0] + wsq[..., 1], w2y_sum=wsq[..., 1])
    fine, unit = np.nonzero(n)
    columns: dict[str, object] = {}
    group_shape = tuple(radix for _, radix in parts[: len(groups)])
    codes = np.unravel_index(fine, group_shape) if groups else ()
    for column, g, c in zip(by, groups, codes, strict=True):
        c = np.where(c >= g.size, -1, c)  # the extra code of missing values
        columns[column] = pd.Categorical.from_codes(c, categories=pd.Index(g.labels))
    if strata is not None:
        columns[strata] = pd.Categorical.from_codes(
            units.stratum_code[unit], categories=pd.Index(units.strata_labels)
        )
    if psu is not None:
        columns[psu] = pd.Categorical.from_codes(
            units.psu_code[unit], categories=pd.Index(units.psu_labels)
        )
    for name, values in sums.items():
        columns[name] = values[fine, unit]
    cells = pd.DataFrame(columns)
    cells["n"] = cells["n"].astype(np.int64)
    cells.attrs["dropped_missing_outcome"] = n_missing_outcome
    return cells


# Value columns of a cells frame (survey_cells, dashboard.engine); the last two only for
# designs without PSUs.
SURVEY_CELL_SUMS: tuple[str, ...] = ("n", "w_sum", "wy_sum", "w2_sum", "w2y_sum")


def survey_prevalence_from_cells(
    cells: pd.DataFrame,
    by: Sequence[str] | str = (),
    strata: str | None = None,
    psu: str | None = None,
    ci: str = "korn-graubard",
    level: float = 0.95,
    standardize: tuple[str, Mapping[object, float]] | None = None,
) -> pd.DataFrame:
    """:func:`survey_prevalence` from cell sums (:func:`survey_cells`, ``dashboard.engine``).

    The estimates, standard errors, df, intervals and reliability flags equal those of
    :func:`survey_prevalence` on the rows the cells were summed from; every domain and
    age-standardised case it supports is supported here. Several cells with the same keys
    (sums from different shards) are added together.

    Parameters
    ----------
    cells : DataFrame
        One row per cell: the ``by`` columns (and the standardisation's age column), the
        ``strata`` and ``psu`` columns the design has, and the sums ``n``, ``w_sum``,
        ``wy_sum`` (plus ``w2_sum`` and ``w2y_sum`` when ``psu`` is None). A missing group
        value (NaN) marks rows in the design but in no domain. ``attrs`` may carry
        ``dropped_missing_outcome``, which is passed on.
    by, strata, psu, ci, level, standardize
        As in :func:`survey_prevalence`. Group order follows the categories of categorical
        columns, sorted values otherwise.

    Returns
    -------
    DataFrame
        As :func:`survey_prevalence`.
    """
    by = [by] if isinstance(by, str) else list(by)
    age_col = standardize[0] if standardize is not None else None
    level = _check_estimate_args(by, age_col, ci, level)
    group_cols = [*by, *([age_col] if age_col else [])]
    squares = psu is None
    sum_cols = list(SURVEY_CELL_SUMS if squares else SURVEY_CELL_SUMS[:3])
    design_cols = [c for c in (strata, psu) if c is not None]
    _require(cells, [*group_cols, *design_cols, *sum_cols], what="cells frame")
    for column in design_cols:
        if cells[column].isna().any():
            raise ValueError(f"design column {column!r} has missing values")
    values = {c: cells[c].to_numpy(dtype=float, na_value=np.nan) for c in sum_cols}
    if len(cells) and not (
        (values["n"] >= 0).all()
        and all(np.isfinite(v).all() for v in values.values())
        and ((values["w_sum"] > 0) | (values["n"] == 0)).all()
    ):
        raise ValueError(
            "cell sums must be finite, with non-negative counts and positive weight sums"
        )

    groups = [_codes(cells[c]) for c in group_cols]
    parts = _group_parts(groups)
    units = _design_units(cells, strata, psu, len(cells))
    parts.extend(units.parts)
    total = int(np.prod([radix for _, radix in parts]))
    idx = _cell_index(parts, slice(None), total) if len(cells) else np.zeros(0, np.intp)
    shape = (*(radix for _, radix in parts[: len(groups)]), units.size)
    dense = {
        c: np.bincount(idx, weights=v, minlength=total).reshape(shape) for c, v in values.items()
    }
    n_missing_by = 0
    if any(g.has_missing for g in groups):
        any_missing = np.zeros(len(cells), dtype=bool)
        for g in groups:
            any_missing |= g.codes < 0
        n_missing_by = int(values["n"][any_missing].sum())

    std_weights = _standard_weights(groups[-1], standardize[1]) if standardize else None
    if std_weights is not None:
        # Checked on the cell counts rather than the rows: no extra pass over the data.
        rows_per_age = dense["n"].sum(axis=(*range(len(by)), -1))
        lacking = np.isnan(std_weights) & (rows_per_age[: len(std_weights)] > 0)
        if lacking.any():
            names = sorted(str(label) for label in groups[-1].labels[lacking])
            raise ValueError(f"age groups in column {age_col!r} without a standard weight: {names}")
        std_weights = np.nan_to_num(std_weights)
    result = _design_estimates(
        count=dense["n"],
        wsum=dense["w_sum"],
        wysum=dense["wy_sum"],
        wsq=dense.get("w2_sum"),
        wysq=dense.get("w2y_sum"),
        n_by=len(by),
        groups=groups,
        stratum_of_unit=units.stratum_of_unit,
        std_weights=std_weights,
    )
    out = _intervals(result, ci, level)
    labels = {}
    for i, column in enumerate(by):
        labels[column] = groups[i].labels[out.pop(f"_code{i}")]
    frame_out = pd.DataFrame({**labels, **{c: out[c] for c in SURVEY_COLUMNS}})
    frame_out.attrs["dropped_missing_outcome"] = int(cells.attrs.get("dropped_missing_outcome", 0))
    frame_out.attrs["dropped_missing_by"] = n_missing_by
    frame_out.attrs["design_df"] = result["design_df"]
    return frame_out


def _group_parts(groups: Sequence[_Codes]) -> list[tuple[np.ndarray, int]]:
    """Cell-index parts of the group columns; missing values get their own extra code (in
    the design, in no domain)."""
    parts = []
    for g in groups:
        codes = np.where(g.codes < 0, g.size, g.codes) if g.has_missing else g.codes
        parts.append((codes, g.size + 1 if g.has_missing else g.size))
    return parts


def _standard_weights(ages: _Codes, weights: Mapping[object, float]) -> np.ndarray:
    """Standard weight per age code, NaN for an age group the mapping lacks."""
    lookup = {str(k): float(v) for k, v in dict(weights).items()}
    values = np.array(list(lookup.values()), dtype=float)
    if not len(values) or not np.isfinite(values).all() or (values < 0).any() or values.sum() <= 0:
        raise ValueError("standard weights must be finite, non-negative and not all zero")
    return np.array([lookup.get(str(label), np.nan) for label in ages.labels], dtype=float)


@dataclass
class _Units:
    """The design units of a frame: PSUs nested within strata for cluster designs
    (``stratum_of_unit`` given), strata when every row is its own PSU."""

    parts: list[tuple[np.ndarray, int]]
    size: int
    stratum_of_unit: np.ndarray | None
    stratum_code: np.ndarray  # per unit, into strata_labels
    psu_code: np.ndarray  # per unit, into psu_labels
    strata_labels: np.ndarray
    psu_labels: np.ndarray


def _design_units(
    frame: pd.DataFrame, strata: str | None, psu: str | None, n_rows: int
) -> _Units:
    """Cell-index parts that number the design units, and what each unit number stands for.

    A small stratum x PSU grid is used directly (two parts, no extra pass over the rows);
    a large one is renumbered compactly.
    """
    none = np.zeros(0, dtype=object)
    s = _codes(frame[strata]) if strata is not None else None
    if psu is None:
        if s is None:
            zero = np.zeros(1, dtype=np.intp)
            return _Units([(np.zeros(n_rows, dtype=np.int8), 1)], 1, None, zero, zero, none, none)
        size = max(s.size, 1)
        unit_codes = np.arange(size)
        return _Units([(s.codes, size)], size, None, unit_codes, unit_codes, s.labels, none)
    p = _codes(frame[psu])
    n_psu = max(p.size, 1)
    if s is None:
        unit_codes = np.arange(n_psu)
        zero = np.zeros(n_psu, dtype=np.intp)
        return _Units([(p.codes, n_psu)], n_psu, zero, zero, unit_codes, none, p.labels)
    n_strata = max(s.size, 1)
    if n_strata * n_psu <= _MAX_PSU_GRID:
        pairs = np.arange(n_strata * n_psu)
        parts = [(s.codes, n_strata), (p.codes, n_psu)]
    else:
        pair = s.codes.astype(np.int64) * n_psu + p.codes
        pairs, unit_of_row = np.unique(pair, return_inverse=True)
        parts = [(unit_of_row, len(pairs))]
    stratum_code, psu_code = pairs // n_psu, pairs % n_psu
    return _Units(parts, len(pairs), stratum_code, stratum_code, psu_code, s.labels, p.labels)


def _design_estimates(
    *,
    count: np.ndarray,
    wsum: np.ndarray,
    wysum: np.ndarray,
    wsq: np.ndarray | None,
    wysq: np.ndarray | None,
    n_by: int,
    groups: Sequence[_Codes],
    stratum_of_unit: np.ndarray | None,
    std_weights: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Estimates, linearised SEs, n and df per domain from the per-cell sums.

    The one home of the variance formula. Cells are (group codes..., design unit): the
    design unit is the PSU for cluster designs (``stratum_of_unit`` given) or the stratum
    when every row is its own PSU. ``wsum``/``wysum`` are the sums of w and w y per cell,
    ``wsq``/``wysq`` those of w^2 and w^2 y (needed without PSUs only). Only these small
    arrays are touched here.
    """
    group_shape = count.shape[: len(groups)]
    n_fine = int(np.prod(group_shape))
    n_units = count.shape[-1]
    cnt = count.reshape(n_fine, n_units).astype(float)
    tw = wsum.reshape(n_fine, n_units)
    twy = wysum.reshape(n_fine, n_units)
    design_cnt = cnt.sum(axis=0)  # rows with a known outcome per design unit

    if std_weights is not None:
        # Fine cells are (domain, age group); the last grouping axis is the age group.
        n_age = group_shape[-1]
        n_dom = n_fine // n_age
        dom_of_fine = np.repeat(np.arange(n_dom), n_age)
        age_weight = np.zeros(n_age)
        age_weight[: len(std_weights)] = std_weights  # the missing-age code weighs 0
        pi = np.tile(age_weight, n_dom)
        dom_shape = group_shape[:-1]
        # Rows without an age group belong to no domain (the extra code after the labels).
        in_domain = np.tile(np.arange(n_age) < len(std_weights), n_dom)
    else:
        n_dom = n_fine
        dom_of_fine = np.arange(n_fine)
        pi = np.ones(n_fine)
        dom_shape = group_shape
        in_domain = np.ones(n_fine, dtype=bool)

    w_fine = tw.sum(axis=1)
    present = (w_fine > 0) & (pi > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        m_fine = np.where(present, twy.sum(axis=1) / w_fine, 0.0)
        pi = np.where(present, pi, 0.0)
        pi_dom = np.bincount(dom_of_fine, weights=pi, minlength=n_dom)
        w_dom = np.bincount(dom_of_fine, weights=w_fine, minlength=n_dom)
        if std_weights is not None:
            # Each (domain, age) cell is post-stratified to its share pi_a / sum(pi) of the
            # domain, so a row's linearised score is w (y - p_cell) pi_a / (W_cell sum(pi)).
            coef = np.where(present, pi / (w_fine * pi_dom[dom_of_fine]), 0.0)
        else:
            coef = np.where(present, 1.0 / w_dom[dom_of_fine], 0.0)
    # A weighted mean of 0/1 values lies in [0, 1]; summing cell means can overshoot by an ulp.
    estimate = np.clip(
        np.bincount(dom_of_fine, weights=coef * w_fine * m_fine, minlength=n_dom), 0.0, 1.0
    )

    # Domain-by-fine-cell aggregation matrix (small): sums fine cells into their domain.
    to_dom = np.zeros((n_dom, n_fine))
    to_dom[dom_of_fine, np.arange(n_fine)] = in_domain
    m = m_fine[:, None]
    # Sum over the cell's rows of w (y - m): the sums of w y and of w (1 - y) are both
    # non-negative, so neither term cancels.
    unit_score = coef[:, None] * ((twy * (1.0 - m)) - np.maximum(tw - twy, 0.0) * m)
    score = to_dom @ unit_score  # (domain, unit) totals of the linearised score
    members = to_dom @ cnt  # (domain, unit) respondents
    n_dom_rows = members.sum(axis=1)

    if stratum_of_unit is not None:
        n_strata = int(stratum_of_unit.max(initial=-1)) + 1
        in_stratum = np.zeros((n_units, n_strata))
        in_stratum[np.arange(n_units), stratum_of_unit] = 1.0
        psu_present = design_cnt > 0
        n_h = psu_present @ in_stratum  # PSUs per stratum in the design
        with np.errstate(invalid="ignore", divide="ignore"):
            # A lonely PSU ("adjust") is centred at the grand mean of the scores, 0.
            mean_h = np.where(n_h > 1, (score @ in_stratum) / np.maximum(n_h, 1), 0.0)
            factor = np.where(n_h > 1, n_h / np.maximum(n_h - 1, 1), 1.0)
        dev = np.where(psu_present, score - mean_h[:, stratum_of_unit], 0.0)
        var = (dev**2 * factor[stratum_of_unit]).sum(axis=1)
        has_member = members > 0
        df = has_member.sum(axis=1) - ((has_member @ in_stratum) > 0).sum(axis=1)
        design_df = float(psu_present.sum() - (n_h > 0).sum())
    else:
        # Every row is a PSU and the units are strata: sums of squared scores come from the
        # per-cell sums of squared weights, w^2 (y - m)^2 = w^2 y (1 - m)^2 + w^2 (1 - y) m^2.
        wq = wsq.reshape(n_fine, n_units)
        wqy = wysq.reshape(n_fine, n_units)
        sq = coef[:, None] ** 2 * (wqy * (1.0 - m) ** 2 + np.maximum(wq - wqy, 0.0) * m**2)
        s2 = to_dom @ sq
        n_h = design_cnt
        with np.errstate(invalid="ignore", divide="ignore"):
            centred = np.where(n_h > 1, s2 - score**2 / np.maximum(n_h, 1), s2)
            factor = np.where(n_h > 1, n_h / np.maximum(n_h - 1, 1), 1.0)
        var = (np.maximum(centred, 0.0) * factor).sum(axis=1)
        df = n_dom_rows - (members > 0).sum(axis=1)
        design_df = float(n_h.sum() - (n_h > 0).sum())

    keep = n_dom_rows > 0
    dom_codes = np.unravel_index(np.arange(n_dom), dom_shape) if n_by else ()
    for i in range(n_by):
        if groups[i].has_missing:
            keep &= dom_codes[i] < groups[i].size
    out = {
        "estimate": estimate[keep],
        "se": np.sqrt(var[keep]),
        "n": n_dom_rows[keep].astype(np.int64),
        "df": df[keep].astype(float),
        "design_df": design_df,
    }
    for i in range(n_by):
        out[f"_code{i}"] = dom_codes[i][keep]
    return out


def _intervals(result: dict[str, np.ndarray], ci: str, level: float) -> dict[str, np.ndarray]:
    """Adds ci_low, ci_high, n_eff and reliability to the per-domain results."""
    p, se, n, df = result["estimate"], result["se"], result["n"].astype(float), result["df"]
    alpha = 1.0 - level
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (_t_quantile(alpha / 2.0, n - 1.0) / _t_quantile(alpha / 2.0, df)) ** 2
        n_eff_raw = p * (1.0 - p) / se**2 * ratio
    degenerate = (p == 0.0) | (p == 1.0) | (se == 0.0)
    n_eff_kg = np.where(degenerate, n, np.fmin(n_eff_raw, n))
    n_eff_kg = np.where(np.isnan(n_eff_raw) & ~degenerate, np.nan, n_eff_kg)
    kg_low, kg_high = _beta_interval(p, n_eff_kg, alpha)
    if ci == "korn-graubard":
        low, high, n_eff = kg_low, kg_high, n_eff_kg
    elif ci == "beta":
        n_eff = n_eff_raw
        low, high = _beta_interval(p, n_eff, alpha)
    else:
        n_eff = n_eff_kg
        low, high = _logit_interval(p, se, df, level)
    result = dict(result)
    result.update(
        ci_low=low,
        ci_high=high,
        n_eff=n_eff,
        reliability=np.asarray(nchs_reliability(p, n_eff_kg, kg_low, kg_high, df), dtype=object),
    )
    return result



# Meta-regression lives in its own module; re-exported so `stats` stays the statistics import.
from dashboard.metareg import MetaRegression, logit_effects, meta_regression  # noqa: E402,F401
