"""Pure meta-regression of logit prevalence: effect sizes, REML fits with nested random effects."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize, special
from scipy import stats as sps

__all__ = ["MetaRegression", "logit_effects", "meta_regression"]

ArrayLike = Sequence[float] | np.ndarray | pd.Series

METHODS: tuple[str, ...] = ("REML", "DL")
TESTS: tuple[str, ...] = ("z", "knha")
# Stop of the Fisher-scoring polish: the largest change of a variance component. Far tighter
# than metafor's defaults, so that our fit is the REML optimum that R's optimizers approach.
_POLISH_TOL = 1e-12
_POLISH_MAXITER = 200


# --- effect sizes ------------------------------------------------------------------------------


def _vector(values: object, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    if np.isnan(a).any():
        raise ValueError(f"{name} must not contain missing values")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite")
    return a


def logit_effects(
    cases: ArrayLike | None = None,
    n: ArrayLike | None = None,
    *,
    prevalence: ArrayLike | None = None,
    n_effective: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds of a prevalence and its sampling variance, one per estimate.

    Equal to metafor's ``escalc(measure="PLO", xi=cases, ni=n)``: ``yi = log(x / (n - x))``
    and ``vi = 1/x + 1/(n - x)``; a row with a zero cell (0 or n cases) instead gets 1/2
    added to both of its cells, ``yi = log((x + 1/2) / (n - x + 1/2))`` and
    ``vi = 1/(x + 1/2) + 1/(n - x + 1/2)`` (metafor's ``add=1/2, to="only0"``), so that every
    estimate has a finite logit. Other rows are left untouched.

    A published prevalence ``p`` with an effective sample size ``ne`` (for example a survey
    estimate with its design effect folded in) is handled as ``cases = p * ne`` out of
    ``n = ne``: for ``0 < p < 1`` that is ``yi = logit(p)`` and ``vi = 1 / (ne p (1 - p))``;
    for ``p`` of 0 or 1 the same 1/2 correction applies to the cells ``p * ne`` and
    ``(1 - p) * ne``.

    Parameters
    ----------
    cases, n : array_like
        Cases (may be fractional) and sample size per estimate, ``0 <= cases <= n``, ``n > 0``.
    prevalence, n_effective : array_like, keyword-only
        Instead of ``cases`` and ``n``: prevalence in ``[0, 1]`` and effective ``n > 0``.

    Returns
    -------
    yi, vi : numpy.ndarray
        Log-odds and sampling variances.

    References
    ----------
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw
    36(3):1-48. Cox DR, Snell EJ (1989). Analysis of Binary Data, 2nd ed. (the 1/2 correction).
    """
    by_counts = cases is not None or n is not None
    by_prevalence = prevalence is not None or n_effective is not None
    if by_counts == by_prevalence:
        raise ValueError("give either cases and n, or prevalence and n_effective")
    if by_prevalence:
        if prevalence is None or n_effective is None:
            raise ValueError("prevalence and n_effective must be given together")
        p = _vector(prevalence, "prevalence")
        m = _vector(n_effective, "n_effective")
        if p.shape != m.shape:
            raise ValueError(f"prevalence and n_effective differ in length: {p.shape} vs {m.shape}")
        if ((p < 0) | (p > 1)).any():
            raise ValueError(f"prevalence must lie in [0, 1], got {p[(p < 0) | (p > 1)][:5]}")
        if not (m > 0).all():
            raise ValueError(f"n_effective must be positive, got {m[~(m > 0)][:5]}")
        x = p * m
    else:
        if cases is None or n is None:
            raise ValueError("cases and n must be given together")
        x = _vector(cases, "cases")
        m = _vector(n, "n")
        if x.shape != m.shape:
            raise ValueError(f"cases and n differ in length: {x.shape} vs {m.shape}")
        if not (m > 0).all():
            raise ValueError(f"n must be positive, got {m[~(m > 0)][:5]}")
        bad = (x < 0) | (x > m)
        if bad.any():
            raise ValueError(
                "cases must lie between 0 and n; offending (cases, n): "
                f"{list(zip(x[bad][:5].tolist(), m[bad][:5].tolist(), strict=True))}"
            )
    non = m - x
    zero_cell = (x == 0) | (non == 0)
    x = np.where(zero_cell, x + 0.5, x)
    non = np.where(zero_cell, non + 0.5, non)
    return np.log(x / non), 1.0 / x + 1.0 / non


# --- model structure ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bucket:
    """Outermost-level blocks of one size, stacked so numpy handles them in one call.

    ``rows`` maps block positions to estimates; ``same[j]`` is 1 where two estimates of a
    block share their level-j random effect (Z_j Z_j' restricted to the block).
    """

    rows: np.ndarray  # (B, n) int
    y: np.ndarray  # (B, n)
    v: np.ndarray  # (B, n)
    X: np.ndarray  # (B, n, p)
    same: np.ndarray  # (L, B, n, n)


@dataclass(frozen=True)
class _Model:
    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    codes: np.ndarray  # (L, k) int: nested group of each estimate at each level
    ids: tuple[tuple[str, ...], ...]  # per level, the group ids ("outer/inner") by code
    buckets: tuple[_Bucket, ...]
    logdet_xtx: float


def _nested_codes(
    labels: Sequence[np.ndarray], k: int
) -> tuple[np.ndarray, tuple[tuple[str, ...], ...]]:
    """Group codes per level where a level's group is the tuple of its label and all outer ones.

    Codes follow the sorted order of those tuples, as metafor's sorted ``outer/inner`` ids.
    """
    frame = pd.DataFrame({j: pd.Series(np.asarray(a, dtype=object)) for j, a in enumerate(labels)})
    codes = np.empty((len(labels), k), dtype=np.int64)
    ids = []
    for j in range(len(labels)):
        keys = list(range(j + 1))
        grouped = frame.groupby(keys, sort=True)
        codes[j] = grouped.ngroup().to_numpy()
        names = grouped.size().index
        ids.append(
            tuple("/".join(str(part) for part in (key if isinstance(key, tuple) else (key,)))
                  for key in names)
        )
    return codes, tuple(ids)


def _build_model(y: np.ndarray, v: np.ndarray, X: np.ndarray, codes: np.ndarray,
                 ids: tuple[tuple[str, ...], ...]) -> _Model:
    k, p = X.shape
    outer = codes[0]
    order = np.argsort(outer, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(outer[order]) != 0])
    blocks = np.split(order, starts[1:])
    by_size: dict[int, list[np.ndarray]] = {}
    for block in blocks:
        by_size.setdefault(len(block), []).append(block)
    buckets = []
    for rows in (np.stack(group) for group in by_size.values()):
        block_codes = codes[:, rows]  # (L, B, n)
        same = (block_codes[:, :, :, None] == block_codes[:, :, None, :]).astype(float)
        buckets.append(_Bucket(rows=rows, y=y[rows], v=v[rows], X=X[rows], same=same))
    _, logdet_xtx = np.linalg.slogdet(X.T @ X)
    return _Model(y=y, v=v, X=X, codes=codes, ids=ids, buckets=tuple(buckets),
                  logdet_xtx=float(logdet_xtx))


# --- generalised least squares and the REML likelihood ------------------------------------------


@dataclass(frozen=True)
class _GLS:
    beta: np.ndarray
    vcov: np.ndarray
    rss: float
    logdet_xtwx: float


def _gls(xtwx: np.ndarray, xtwy: np.ndarray, ytwy: float) -> _GLS:
    """Weighted least squares from its cross-products X'WX, X'Wy and y'Wy (W = M^-1).

    The one GLS step of this module: the fixed-effects fit behind QE, the random-effects fits
    and every likelihood evaluation go through it.
    """
    try:
        factor = linalg.cho_factor(xtwx, lower=True)
    except linalg.LinAlgError as err:
        raise ValueError("the moderators are linearly dependent (X'WX is singular)") from err
    vcov = linalg.cho_solve(factor, np.eye(len(xtwy)))
    beta = linalg.cho_solve(factor, xtwy)
    return _GLS(
        beta=beta,
        vcov=(vcov + vcov.T) / 2.0,
        rss=max(float(ytwy - beta @ xtwy), 0.0),  # r'Wr >= 0; the subtraction may round below
        logdet_xtwx=float(2.0 * np.sum(np.log(np.diag(factor[0])))),
    )


@dataclass(frozen=True)
class _Eval:
    loglik: float
    gls: _GLS
    grad: np.ndarray | None = None
    info: np.ndarray | None = None
    py: np.ndarray | None = None  # P y per estimate (k,)
    wx: np.ndarray | None = None  # W X per estimate (k, p)
    diag_ws: np.ndarray | None = None  # diag(W Z_j Z_j') per estimate (L, k)


def _evaluate(model: _Model, sigma2: np.ndarray, derivatives: int = 0) -> _Eval:
    """REML restricted log-likelihood at ``sigma2``, with its gradient (derivatives >= 1) and
    expected (Fisher) information (derivatives >= 2), block by outermost level.

    ``M = V + sum_j sigma2_j Z_j Z_j'`` is block-diagonal by the outermost level, so its
    inverse W, log-determinant and all cross-products are summed over blocks. The likelihood
    is metafor's (REMLf = TRUE): ``-(k-p)/2 log 2pi + 1/2 log|X'X| - 1/2 log|M|
    - 1/2 log|X'WX| - 1/2 r'Wr``.
    """
    k, p = model.X.shape
    n_levels = len(sigma2)
    xtwx = np.zeros((p, p))
    xtwy = np.zeros(p)
    ytwy = 0.0
    logdet_m = 0.0
    parts = []
    for b in model.buckets:
        m = np.einsum("j,jbnm->bnm", sigma2, b.same)
        idx = np.arange(m.shape[1])
        m[:, idx, idx] += b.v
        try:
            chol = np.linalg.cholesky(m)
        except np.linalg.LinAlgError:
            return _Eval(loglik=-math.inf, gls=_GLS(np.full(p, np.nan), np.full((p, p), np.nan),
                                                    math.nan, math.nan))
        logdet_m += 2.0 * float(np.sum(np.log(chol[:, idx, idx])))
        w = np.linalg.inv(m)
        w = (w + np.swapaxes(w, 1, 2)) / 2.0
        wx = w @ b.X
        wy = np.einsum("bnm,bm->bn", w, b.y)
        xtwx += np.einsum("bnp,bnq->pq", b.X, wx)
        xtwy += np.einsum("bnp,bn->p", wx, b.y)
        ytwy += float(np.einsum("bn,bn->", wy, b.y))
        parts.append((b, w, wx, wy))
    gls = _gls(xtwx, xtwy, ytwy)
    loglik = (
        -0.5 * (k - p) * math.log(2.0 * math.pi)
        + 0.5 * model.logdet_xtx
        - 0.5 * logdet_m
        - 0.5 * gls.logdet_xtwx
        - 0.5 * gls.rss
    )
    if derivatives == 0:
        return _Eval(loglik=loglik, gls=gls)
    a = gls.vcov
    tr_ws = np.zeros(n_levels)
    quad = np.zeros(n_levels)
    q = np.zeros((n_levels, p, p))
    t = np.zeros((n_levels, n_levels))
    r = np.zeros((n_levels, n_levels, p, p))
    py = np.empty(k)
    wx_rows = np.empty((k, p))
    diag_ws = np.empty((n_levels, k))
    for b, w, wx, wy in parts:
        # P y = W (y - X beta): the REML residuals.
        pyb = wy - wx @ gls.beta
        py[b.rows] = pyb
        wx_rows[b.rows] = wx
        ws = w[None] @ b.same  # (L, B, n, n) = W Z_j Z_j'
        diag_ws[:, b.rows] = np.einsum("jbnn->jbn", ws)
        tr_ws += np.einsum("jbnn->j", ws)
        quad += np.einsum("bn,jbnm,bm->j", pyb, b.same, pyb)
        swx = b.same @ wx[None]  # (L, B, n, p) = Z_j Z_j' W X
        q += np.einsum("bnp,jbnq->jpq", wx, swx)
        if derivatives >= 2:
            t += np.einsum("jbnm,kbmn->jk", ws, ws)
            wswx = w[None] @ swx
            r += np.einsum("jbnp,kbnq->jkpq", swx, wswx)
    # d ll / d sigma2_j = -tr(P Z_j Z_j')/2 + y'P Z_j Z_j' P y/2 (Harville 1977).
    tr_ps = tr_ws - np.einsum("pq,jqp->j", a, q)
    grad = 0.5 * (quad - tr_ps)
    info = None
    if derivatives >= 2:
        # E[-d2 ll] = tr(P Z_j Z_j' P Z_k Z_k')/2 with P = W - W X A X' W expanded.
        aq = a[None] @ q
        info = 0.5 * (
            t
            - 2.0 * np.einsum("pq,jkqp->jk", a, r)
            + np.einsum("jpq,kqp->jk", aq, aq)
        )
    return _Eval(loglik=loglik, gls=gls, grad=grad, info=info, py=py, wx=wx_rows,
                 diag_ws=diag_ws)


def _fit_reml(model: _Model, start: np.ndarray) -> np.ndarray:
    """Variance components maximising the REML likelihood, each >= 0.

    L-BFGS-B on the components themselves (not their logarithms, so that a component can
    reach its boundary 0 exactly) with the analytic gradient, then projected Fisher scoring
    with step-halving until no component moves by more than 1e-12.
    """

    def objective(s: np.ndarray) -> tuple[float, np.ndarray]:
        e = _evaluate(model, s, derivatives=1)
        if not math.isfinite(e.loglik):
            return math.inf, np.zeros_like(s)
        return -e.loglik, -e.grad

    result = optimize.minimize(
        objective, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * len(start),
        options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10},
    )
    sigma2 = np.maximum(np.asarray(result.x, dtype=float), 0.0)
    current = _evaluate(model, sigma2, derivatives=2)
    for _ in range(_POLISH_MAXITER):
        free = (sigma2 > 0.0) | (current.grad > 0.0)
        if not free.any():
            break
        step = np.zeros_like(sigma2)
        try:
            step[free] = np.linalg.solve(current.info[np.ix_(free, free)], current.grad[free])
        except np.linalg.LinAlgError:
            break
        scale = 1.0
        improved = False
        while scale > 1e-6:
            candidate = np.maximum(sigma2 + scale * step, 0.0)
            trial = _evaluate(model, candidate, derivatives=2)
            if trial.loglik >= current.loglik:
                improved = True
                break
            scale /= 2.0
        if not improved:
            break
        moved = float(np.max(np.abs(candidate - sigma2)))
        sigma2, current = candidate, trial
        if moved <= _POLISH_TOL * max(1.0, float(np.max(sigma2))):
            break
    return sigma2


# --- the result --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MetaRegression:
    """A fitted (mixed-effects) meta-regression of logit prevalence.

    Coefficient arrays are in the order of ``terms`` (``"intercept"`` first). Under
    ``test="knha"`` the ``se`` and ``vcov`` carry the Knapp-Hartung factor, ``zval`` are t
    statistics with ``dfs = k - p`` degrees of freedom, and ``qm`` is the F statistic with
    ``qm_df = (m, k - p)``; otherwise ``qm`` is the Wald chi-square with ``qm_df = (m,)``,
    testing every coefficient but the intercept (the intercept itself when it is the only
    one), as metafor's QM. ``sigma2`` holds one variance per random level (outermost first;
    ``[tau2]`` without nested levels). ``qe`` is the test for residual heterogeneity
    (weights ``1/vi``), ``loglik`` the REML restricted log-likelihood (metafor's ``logLik``
    of a REML fit, evaluated at the estimates whatever the method). ``i2`` and ``r2`` are
    percentages, only for fits without nested levels (``r2`` only with moderators).
    """

    terms: tuple[str, ...]
    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    vcov: np.ndarray
    sigma2: np.ndarray
    levels: tuple[str, ...]
    loglik: float
    qe: float
    qe_p: float
    qe_df: int
    qm: float
    qm_p: float
    qm_df: tuple[int, ...]
    k: int
    method: str
    test: str
    level: float
    dfs: int | None = None
    i2: float | None = None
    r2: float | None = None
    _model: _Model | None = field(default=None, repr=False)

    @property
    def p(self) -> int:
        """Number of coefficients, intercept included."""
        return len(self.terms)

    def _crit(self) -> float:
        upper = 1.0 - (1.0 - self.level) / 2.0
        return float(sps.t.ppf(upper, self.dfs) if self.test == "knha" else sps.norm.ppf(upper))

    def coefficients(self) -> pd.DataFrame:
        """One row per term: beta, se, zval, pval, ci_low, ci_high (logit scale)."""
        return pd.DataFrame(
            {"term": self.terms, "beta": self.beta, "se": self.se, "zval": self.zval,
             "pval": self.pval, "ci_low": self.ci_low, "ci_high": self.ci_high}
        )

    def predict(self, X_new: pd.DataFrame | np.ndarray | Sequence[float] | None = None  # noqa: N803
                ) -> pd.DataFrame:
        """Predicted prevalence for new moderator values, with confidence and prediction
        intervals, as metafor's ``predict(fit, newmods=X_new, transf=transf.ilogit)``.

        ``X_new`` holds the moderators without the intercept: a DataFrame with the fit's
        term columns (matched by name), an array with one column per moderator, or one row
        as a flat sequence; ``None`` for an intercept-only model. The prediction interval
        adds the sum of all variance components (metafor's rule for ``rma.mv`` fits without
        ``tau2.levels``; ``tau2`` for ``rma``). Intervals use the normal quantile, or the t
        quantile with k - p df under Knapp-Hartung.

        Returns
        -------
        pandas.DataFrame
            ``pred`` and ``se`` on the logit scale; ``estimate``, ``ci_low``, ``ci_high``,
            ``pi_low``, ``pi_high`` on the prevalence scale (inverse logit).
        """
        moderators = self.terms[1:]
        index = None
        if X_new is None:
            if moderators:
                raise ValueError(f"X_new is needed for the moderators {list(moderators)}")
            x = np.zeros((1, 0))
        elif isinstance(X_new, pd.DataFrame):
            missing = [t for t in moderators if t not in X_new.columns]
            if missing:
                raise ValueError(f"X_new lacks the moderator columns {missing}")
            x = X_new[list(moderators)].to_numpy(dtype=float)
            index = X_new.index
        else:
            x = np.asarray(X_new, dtype=float)
            if x.ndim == 1:
                x = x[None, :]
            if x.ndim != 2 or x.shape[1] != len(moderators):
                raise ValueError(
                    f"X_new must have {len(moderators)} moderator columns, got shape {x.shape}"
                )
        if np.isnan(x).any():
            raise ValueError("X_new must not contain missing values")
        design = np.column_stack([np.ones(len(x)), x])
        pred = design @ self.beta
        se = np.sqrt(np.einsum("ip,pq,iq->i", design, self.vcov, design))
        crit = self._crit()
        half_pi = crit * np.sqrt(se**2 + float(np.sum(self.sigma2)))
        return pd.DataFrame(
            {
                "pred": pred,
                "se": se,
                "estimate": special.expit(pred),
                "ci_low": special.expit(pred - crit * se),
                "ci_high": special.expit(pred + crit * se),
                "pi_low": special.expit(pred - half_pi),
                "pi_high": special.expit(pred + half_pi),
            },
            index=index,
        )

    def ranef(self, level: int | str = 0) -> pd.DataFrame:
        """Best linear unbiased predictions of one level's random effects, as metafor's
        ``ranef()``: ``u = D Z' W (y - X beta)`` with standard error from
        ``D - D Z' P Z D`` (prediction error variance), ``P = W - W X (X'WX)^-1 X' W``.

        ``level`` is a position (0 = outermost) or a level name. Ids of nested levels join
        the labels from the outermost inwards with ``"/"`` (``"R1/C01"``); rows are in the
        sorted order of the ids. Without nested levels the one level is ``"estimate"`` with
        ids ``1..k`` in input order.
        """
        if self._model is None:
            raise ValueError("this result holds no data to predict random effects from")
        if isinstance(level, str):
            if level not in self.levels:
                raise ValueError(f"unknown level {level!r}; levels are {list(self.levels)}")
            j = self.levels.index(level)
        else:
            j = int(level)
            if not 0 <= j < len(self.levels):
                raise ValueError(f"level must be between 0 and {len(self.levels) - 1}, got {level}")
        model = self._model
        e = _evaluate(model, self.sigma2, derivatives=1)
        codes = model.codes[j]
        groups = len(model.ids[j])
        s2 = float(self.sigma2[j])
        blup = s2 * np.bincount(codes, weights=e.py, minlength=groups)
        # 1_g' P 1_g = 1_g' W 1_g - (X' W 1_g)' A (X' W 1_g)
        one_w_one = np.bincount(codes, weights=e.diag_ws[j], minlength=groups)
        xw1 = np.column_stack(
            [np.bincount(codes, weights=e.wx[:, c], minlength=groups) for c in range(self.p)]
        )
        one_p_one = one_w_one - np.einsum("gp,pq,gq->g", xw1, e.gls.vcov, xw1)
        variance = np.maximum(s2 - s2**2 * one_p_one, 0.0)
        blup[np.abs(blup) < 100 * np.finfo(float).eps] = 0.0
        return pd.DataFrame({"id": list(model.ids[j]), "blup": blup, "se": np.sqrt(variance)})


# --- fitting -----------------------------------------------------------------------------------


def _moderators(X: object, k: int) -> tuple[np.ndarray, tuple[str, ...]]:  # noqa: N803
    if X is None:
        return np.zeros((k, 0)), ()
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame):
        names = tuple(str(c) for c in X.columns)
        x = X.to_numpy(dtype=float)
    else:
        x = np.asarray(X, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        names = tuple(f"x{i + 1}" for i in range(x.shape[1]) if x.ndim == 2)
    if x.ndim != 2 or x.shape[0] != k:
        raise ValueError(f"X must have one row per estimate ({k}), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("X must not contain missing or infinite values")
    if "intercept" in names:
        raise ValueError("X must not contain an 'intercept' column: the intercept is added")
    return x, names


def _random_levels(
    random: Sequence[ArrayLike] | Mapping[str, ArrayLike] | pd.DataFrame, k: int
) -> tuple[list[np.ndarray], tuple[str, ...]]:
    if isinstance(random, pd.DataFrame):
        items = [(str(c), random[c]) for c in random.columns]
    elif isinstance(random, Mapping):
        items = [(str(name), values) for name, values in random.items()]
    else:
        items = [
            (str(getattr(values, "name", None) or f"level{i + 1}"), values)
            for i, values in enumerate(random)
        ]
    if not items:
        raise ValueError("random must name at least one level")
    labels = []
    for name, values in items:
        a = np.asarray(values, dtype=object)
        if a.ndim != 1 or len(a) != k:
            raise ValueError(f"random level {name!r} must have one label per estimate ({k})")
        if pd.isna(a).any():
            raise ValueError(f"random level {name!r} has missing labels")
        labels.append(a)
    names = tuple(name for name, _ in items)
    if len(set(names)) != len(names):
        raise ValueError(f"random level names must be distinct, got {list(names)}")
    return labels, names


def _fixed_effects(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> tuple[_GLS, float]:  # noqa: N803
    """The fit with weights 1/v: its RSS is QE; returns also tr(P) of those weights."""
    w = 1.0 / v
    wx = X * w[:, None]
    fe = _gls(X.T @ wx, wx.T @ y, float(np.sum(w * y * y)))
    tr_p = float(np.sum(w) - np.einsum("pq,qp->", fe.vcov, wx.T @ wx))
    return fe, tr_p


def meta_regression(
    yi: ArrayLike,
    vi: ArrayLike,
    X: pd.DataFrame | np.ndarray | None = None,  # noqa: N803
    random: Sequence[ArrayLike] | Mapping[str, ArrayLike] | pd.DataFrame | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
) -> MetaRegression:
    """Meta-regression of effect sizes on moderators, with one or nested random intercepts.

    Without ``random``, the mixed-effects model ``yi = X beta + u_i + e_i`` with
    ``u_i ~ N(0, tau2)`` and ``e_i ~ N(0, vi)``, as metafor's
    ``rma(yi, vi, mods=X, method=method, test=test)``. With ``random = [region, country,
    study, es_id]`` (outermost first; each label is read within its outer labels, as ``/``
    in R, so country "C1" of two regions is two countries), one random intercept per level,
    as ``rma.mv(yi, vi, mods=X, random=~1|region/country/study/es_id, method="REML")``.
    Coefficients are the generalised-least-squares estimates given the variance components
    ``(X'WX)^-1 X'Wy``, ``W = (V + sum_j sigma2_j Z_j Z_j')^-1``, with z tests, or Knapp-Hartung
    t tests (the variance-covariance matrix times the weighted residual mean square
    ``r'Wr / (k - p)``, not truncated at 1).

    Variance components are REML estimates (exact optimum of the restricted likelihood,
    components at 0 allowed), or for ``random=None`` DerSimonian-Laird's moment estimator
    ``max(0, (QE - (k - p)) / tr P)``. I2 (percent) is ``100 tau2 / (tau2 + s2)`` with the
    typical within-study variance ``s2 = (k - p) / tr P`` of the fixed-effects weights; R2
    (percent) is the proportional reduction of tau2 against the intercept-only model fitted
    the same way, ``max(0, 100 (tau2_0 - tau2) / tau2_0)`` (0 when ``tau2_0`` is 0).

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes (e.g. from :func:`logit_effects`) and their sampling variances (> 0).
    X : DataFrame or array, optional
        Moderators, one row per estimate, WITHOUT an intercept column (it is added, as
        metafor's ``mods``); DataFrame column names become term names, else ``x1, x2, ...``.
    random : sequence of label arrays, mapping name -> labels, or DataFrame, optional
        Nested grouping of the estimates, outermost level first. Level names come from the
        mapping keys, DataFrame columns or Series names (else ``level1, level2, ...``).
    method : {"REML", "DL"}
        "DL" only without ``random``.
    test : {"z", "knha"}
        "knha" (Knapp-Hartung) only without ``random``.
    level : float
        Level of the confidence intervals.

    References
    ----------
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw
    36(3):1-48. Harville DA (1977). Maximum likelihood approaches to variance component
    estimation and to related problems. J Am Stat Assoc 72:320-338. Searle SR, Casella G,
    McCulloch CE (1992). Variance Components, ch. 6. Knapp G, Hartung J (2003). Improved tests
    for a random effects meta-regression with a single covariate. Stat Med 22:2693-2710.
    Raudenbush SW (2009). Analyzing effect sizes: random-effects models. In: The Handbook of
    Research Synthesis and Meta-Analysis, 2nd ed., 295-315. Higgins JPT, Thompson SG (2002).
    Quantifying heterogeneity in a meta-analysis. Stat Med 21:1539-1558.
    """
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    method = str(method).upper()
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    test = str(test).lower()
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; expected one of {TESTS}")
    y = _vector(yi, "yi")
    v = _vector(vi, "vi")
    if y.shape != v.shape:
        raise ValueError(f"yi and vi differ in length: {y.shape} vs {v.shape}")
    if not (v > 0).all():
        raise ValueError("vi must be positive")
    k = len(y)
    moderators, names = _moderators(X, k)
    design = np.column_stack([np.ones(k), moderators])
    terms = ("intercept", *names)
    p = design.shape[1]
    if k <= p:
        raise ValueError(f"need more estimates than coefficients: k = {k}, p = {p}")
    if np.linalg.matrix_rank(design) < p:
        raise ValueError("the moderators are linearly dependent (or constant, like the intercept)")

    if random is None:
        labels, level_names = [np.arange(1, k + 1)], ("estimate",)
    else:
        if method != "REML":
            raise ValueError("nested random effects are fitted by REML only (method='REML')")
        if test == "knha":
            raise ValueError("test='knha' is available only without nested random effects")
        labels, level_names = _random_levels(random, k)
    codes, ids = _nested_codes(labels, k)
    model = _build_model(y, v, design, codes, ids)

    fe, tr_p0 = _fixed_effects(y, v, design)
    qe = fe.rss
    if method == "DL":
        sigma2 = np.array([max(0.0, (qe - (k - p)) / tr_p0)])
    else:
        start = max((qe - (k - p)) / tr_p0, 0.01 * float(np.median(v)), 1e-4)
        sigma2 = _fit_reml(model, np.full(len(labels), start / len(labels)))
    fit = _evaluate(model, sigma2)
    beta, vcov = fit.gls.beta, fit.gls.vcov
    dfs = None
    if test == "knha":
        dfs = k - p
        vcov = vcov * (fit.gls.rss / dfs if fit.gls.rss > np.finfo(float).eps else 0.0)
    se = np.sqrt(np.diag(vcov))
    zval = beta / se
    upper = 1.0 - (1.0 - level) / 2.0
    if test == "knha":
        pval = 2.0 * sps.t.sf(np.abs(zval), dfs)
        crit = float(sps.t.ppf(upper, dfs))
    else:
        pval = 2.0 * sps.norm.sf(np.abs(zval))
        crit = float(sps.norm.ppf(upper))
    tested = np.arange(1, p) if p > 1 else np.arange(1)
    b = beta[tested]
    qm = float(b @ np.linalg.solve(vcov[np.ix_(tested, tested)], b))
    m = len(tested)
    if test == "knha":
        qm, qm_df = qm / m, (m, k - p)
        qm_p = float(sps.f.sf(qm, m, k - p))
    else:
        qm_df = (m,)
        qm_p = float(sps.chi2.sf(qm, m))

    i2 = r2 = None
    if random is None:
        tau2 = float(sigma2[0])
        i2 = 100.0 * tau2 / ((k - p) / tr_p0 + tau2)
        if p > 1:
            tau2_0 = float(meta_regression(y, v, method=method).sigma2[0])
            r2 = 0.0 if tau2_0 == 0.0 else max(0.0, 100.0 * (tau2_0 - tau2) / tau2_0)

    return MetaRegression(
        terms=terms,
        beta=beta,
        se=se,
        zval=zval,
        pval=pval,
        ci_low=beta - crit * se,
        ci_high=beta + crit * se,
        vcov=vcov,
        sigma2=np.asarray(sigma2, dtype=float),
        levels=level_names,
        loglik=float(fit.loglik),
        qe=float(qe),
        qe_p=float(sps.chi2.sf(qe, k - p)),
        qe_df=k - p,
        qm=qm,
        qm_p=qm_p,
        qm_df=qm_df,
        k=k,
        method=method,
        test=test,
        level=level,
        dfs=dfs,
        i2=i2,
        r2=r2,
        _model=model,
    )
