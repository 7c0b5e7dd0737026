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
# Stop of the scoring iterations: the largest change of a variance component, relative. Far
# tighter than metafor's defaults, so that our fit is the REML optimum R's optimizers approach.
_SCORING_TOL = 1e-10
_SCORING_MAXITER = 200
# Likelihood decrease a scoring step may show from rounding alone (relative).
_LL_SLACK = 1e-13
# Near the optimum the restricted log-likelihood is evaluated no better than about this
# (relative; its log-determinants and residual sum lose that much to rounding): a step whose
# change is inside it is judged by the gradient instead, which still resolves the optimum.
_LL_NOISE = 1e-10


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
            offending = "; ".join(f"{c:g} of {k:g}"
                                  for c, k in zip(x[bad][:5], m[bad][:5], strict=True))
            raise ValueError(f"cases must lie between 0 and n; offending (cases of n): {offending}")
    non = m - x
    zero_cell = (x == 0) | (non == 0)
    x = np.where(zero_cell, x + 0.5, x)
    non = np.where(zero_cell, non + 0.5, non)
    return np.log(x / non), 1.0 / x + 1.0 / non


# --- model structure ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Model:
    """Data of a fit and its nesting: ``codes[j]`` is each estimate's group at level j
    (groups numbered in the sorted order of their ids) and ``parents[j]`` each level-j
    group's group at level j - 1 (``parents[0]`` is unused)."""

    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    codes: np.ndarray  # (L, k) int
    parents: tuple[np.ndarray, ...]
    sizes: tuple[int, ...]  # number of groups per level
    ids: tuple[tuple[str, ...], ...]  # per level, the group ids ("outer/inner") by code
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
        grouped = frame.groupby(list(range(j + 1)), sort=True)
        codes[j] = grouped.ngroup().to_numpy()
        ids.append(
            tuple("/".join(str(part) for part in (key if isinstance(key, tuple) else (key,)))
                  for key in grouped.size().index)
        )
    return codes, tuple(ids)


def _build_model(y: np.ndarray, v: np.ndarray, X: np.ndarray, codes: np.ndarray,  # noqa: N803
                 ids: tuple[tuple[str, ...], ...]) -> _Model:
    sizes = tuple(len(level_ids) for level_ids in ids)
    parents = [np.zeros(sizes[0], dtype=np.int64)]
    for j in range(1, len(codes)):
        parent = np.zeros(sizes[j], dtype=np.int64)
        parent[codes[j]] = codes[j - 1]
        parents.append(parent)
    _, logdet_xtx = np.linalg.slogdet(X.T @ X)
    return _Model(y=y, v=v, X=X, codes=codes, parents=tuple(parents), sizes=sizes, ids=ids,
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
class _Pass:
    """What one sweep of the nesting yields for the columns of B (W = M^-1 throughout)."""

    logdet_m: float
    btwb: np.ndarray  # B'WB
    one_w_one: tuple[np.ndarray, ...] | None  # per level j, 1_g'W1_g for each group g
    one_w_b: tuple[np.ndarray, ...] | None  # per level j, 1_g'WB (groups x columns)


def _sweep(model: _Model, sigma2: np.ndarray, B: np.ndarray, groups: bool) -> _Pass:  # noqa: N803
    """Exact products with ``W = (V + sum_j sigma2_j Z_j Z_j')^-1`` for nested random intercepts.

    A group's covariance is its children's block-diagonal covariance D plus a rank-one
    ``sigma2 11'``, so by the Sherman-Morrison-Woodbury identity its inverse is
    ``D^-1 - kappa D^-1 1 1'D^-1`` with ``kappa = sigma2 / (1 + sigma2 1'D^-1 1)`` and its
    log-determinant ``log|D| + log(1 + sigma2 1'D^-1 1)``. Sweeping from the estimates out to
    the outermost level gives log|M| and B'WB; a sweep back in gives every group's 1_g'W1_g
    and 1_g'WB under the full W. Cost O(k L^2) vector operations: no k x k (or block) matrix
    is formed, so a fit on thousands of estimates stays in milliseconds.
    """
    n_levels = len(sigma2)
    c_child = 1.0 / model.v  # 1'W1 of each child: at the bottom, the estimates
    u_child = B / model.v[:, None]  # 1'WB of each child
    btwb = B.T @ u_child
    logdet = float(np.sum(np.log(model.v)))
    own: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None]
    own = [None] * n_levels
    for j in range(n_levels - 1, -1, -1):
        child_group = model.codes[j] if j == n_levels - 1 else model.parents[j + 1]
        size = model.sizes[j]
        c_d = np.bincount(child_group, weights=c_child, minlength=size)
        u_d = np.stack([np.bincount(child_group, weights=u_child[:, col], minlength=size)
                        for col in range(B.shape[1])], axis=1)
        delta = 1.0 + sigma2[j] * c_d
        kappa = sigma2[j] / delta
        logdet += float(np.sum(np.log(delta)))
        btwb -= np.einsum("g,gp,gq->pq", kappa, u_d, u_d)
        c_child, u_child = c_d / delta, u_d / delta[:, None]
        own[j] = (c_child, u_child, kappa, delta, u_d)
    if not groups:
        return _Pass(logdet_m=logdet, btwb=btwb, one_w_one=None, one_w_b=None)
    one_w_one, one_w_b = [], []
    for j in range(n_levels):
        c_g, u_g, _, _, _ = own[j]
        h, f, g = c_g.copy(), u_g.copy(), c_g.copy()
        ancestor = np.arange(model.sizes[j])
        for m in range(j - 1, -1, -1):
            ancestor = model.parents[m + 1][ancestor]
            _, _, kappa_a, delta_a, u_d_a = own[m]
            f -= (kappa_a[ancestor] * g)[:, None] * u_d_a[ancestor]
            h -= kappa_a[ancestor] * g**2
            g = g / delta_a[ancestor]
        one_w_one.append(h)
        one_w_b.append(f)
    return _Pass(logdet_m=logdet, btwb=btwb, one_w_one=tuple(one_w_one), one_w_b=tuple(one_w_b))


@dataclass(frozen=True)
class _Eval:
    loglik: float
    gls: _GLS
    grad: np.ndarray | None = None
    info: np.ndarray | None = None
    one_py: tuple[np.ndarray, ...] | None = None  # per level, 1_g'Py for each group
    one_p_one: tuple[np.ndarray, ...] | None = None  # per level, 1_g'P1_g for each group


def _evaluate(model: _Model, sigma2: np.ndarray, derivatives: int = 0) -> _Eval:
    """REML restricted log-likelihood at ``sigma2``, with its gradient (derivatives >= 1) and
    average information matrix (derivatives >= 2).

    The likelihood is metafor's (REMLf = TRUE): ``-(k-p)/2 log 2pi + 1/2 log|X'X|
    - 1/2 log|M| - 1/2 log|X'WX| - 1/2 r'Wr``; its gradient
    ``(y'P Z_j Z_j' P y - tr(P Z_j Z_j')) / 2`` (Harville 1977) with
    ``P = W - W X (X'WX)^-1 X' W``; the average information
    ``(y'P Z_j Z_j' P Z_k Z_k' P y) / 2`` (Gilmour, Thompson & Cullis 1995), the mean of the
    observed and expected information at the optimum.
    """
    k, p = model.X.shape
    n_levels = len(sigma2)
    sweep = _sweep(model, sigma2, np.column_stack([model.X, model.y]), groups=derivatives >= 1)
    btwb = sweep.btwb
    gls = _gls(btwb[:p, :p], btwb[:p, p], float(btwb[p, p]))
    loglik = (
        -0.5 * (k - p) * math.log(2.0 * math.pi)
        + 0.5 * model.logdet_xtx
        - 0.5 * sweep.logdet_m
        - 0.5 * gls.logdet_xtwx
        - 0.5 * gls.rss
    )
    if derivatives == 0:
        return _Eval(loglik=loglik, gls=gls)
    a = gls.vcov
    one_py, one_p_one = [], []
    grad = np.empty(n_levels)
    for j in range(n_levels):
        fx, fy = sweep.one_w_b[j][:, :p], sweep.one_w_b[j][:, p]
        one_py.append(fy - fx @ gls.beta)  # 1_g'W(y - X beta) = 1_g'Py
        one_p_one.append(sweep.one_w_one[j] - np.einsum("gp,pq,gq->g", fx, a, fx))
        grad[j] = 0.5 * (float(np.sum(one_py[j] ** 2)) - float(np.sum(one_p_one[j])))
    info = None
    if derivatives >= 2:
        # x_j = Z_j Z_j' P y; AI_jk = x_j' P x_k / 2 from one more sweep with B = [X, x_1..x_L].
        xs = np.column_stack([one_py[j][model.codes[j]] for j in range(n_levels)])
        cross = _sweep(model, sigma2, np.column_stack([model.X, xs]), groups=False).btwb
        wx_x = cross[:p, p:]
        info = 0.5 * (cross[p:, p:] - wx_x.T @ a @ wx_x)
    return _Eval(loglik=loglik, gls=gls, grad=grad, info=info, one_py=tuple(one_py),
                 one_p_one=tuple(one_p_one))


def _scoring(model: _Model, start: np.ndarray) -> tuple[np.ndarray, bool]:
    """Projected scoring with the average information and step-halving.

    A step is taken when the likelihood does not fall, or, within the likelihood's rounding
    (_LL_NOISE), when it lowers the projected gradient: at the optimum the likelihood cannot
    tell the steps apart, the gradient still can. Returns the components and whether it
    converged: the scoring step on the components that are positive or pushed upwards solves
    its equations and moves no component by more than 1e-10 (relative), so the
    Karush-Kuhn-Tucker conditions hold at the boundary 0.
    """
    sigma2 = np.maximum(np.asarray(start, dtype=float), 0.0)
    current = _evaluate(model, sigma2, derivatives=2)
    for _ in range(_SCORING_MAXITER):
        free = (sigma2 > 0.0) | (current.grad > 0.0)
        if not free.any():
            return sigma2, True
        info, grad = current.info[np.ix_(free, free)], current.grad[free]
        step = np.zeros_like(sigma2)
        step[free] = np.linalg.lstsq(info, grad, rcond=None)[0]
        if np.linalg.norm(info @ step[free] - grad) > 1e-6 * np.linalg.norm(grad) + 1e-12:
            return sigma2, False  # singular information (e.g. no residual variation)
        full = float(np.max(np.abs(np.maximum(sigma2 + step, 0.0) - sigma2)))
        size = max(1e-8, float(np.max(sigma2)))
        if full <= _SCORING_TOL * size:
            return sigma2, True
        scale = 1.0
        while True:
            candidate = np.maximum(sigma2 + scale * step, 0.0)
            trial = _evaluate(model, candidate, derivatives=2)
            magnitude = max(1.0, abs(current.loglik))
            if trial.loglik >= current.loglik - _LL_SLACK * magnitude:
                break
            # Near the optimum the likelihood is flat to rounding; the gradient still steers.
            if (abs(trial.loglik - current.loglik) <= _LL_NOISE * magnitude
                    and _projected_gradient(candidate, trial.grad)
                    < _projected_gradient(sigma2, current.grad)):
                break
            scale /= 2.0
            if scale < 1e-6:
                # No ascent left along a step this small: rounding, not a missed optimum.
                return sigma2, full <= 1e-6 * size
        sigma2, current = candidate, trial
    return sigma2, False


def _projected_gradient(sigma2: np.ndarray, grad: np.ndarray) -> float:
    """The largest gradient component that can still move (a component at its bound 0 with a
    negative gradient cannot): 0 at a Karush-Kuhn-Tucker point."""
    free = (sigma2 > 0.0) | (grad > 0.0)
    return float(np.max(np.abs(grad[free]))) if free.any() else 0.0


def _fit_reml(model: _Model, start: np.ndarray) -> np.ndarray:
    """Variance components maximising the REML likelihood, each >= 0.

    Average-information scoring (Gilmour, Thompson & Cullis 1995) on the components
    themselves, not their logarithms, so that a component can reach its boundary 0 exactly;
    near the optimum it converges like Newton's method in a handful of steps. Should it stall
    (singular information, as when the estimates do not vary), L-BFGS-B with the analytic
    gradient and bounds at 0 takes over and scoring polishes its answer.
    """
    sigma2, converged = _scoring(model, start)
    if converged:
        return sigma2

    def objective(s: np.ndarray) -> tuple[float, np.ndarray]:
        e = _evaluate(model, s, derivatives=1)
        if not math.isfinite(e.loglik):
            return math.inf, np.zeros_like(s)
        return -e.loglik, -e.grad

    result = optimize.minimize(
        objective, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * len(start),
        options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10},
    )
    polished, _ = _scoring(model, np.maximum(result.x, 0.0))
    best = max((polished, sigma2), key=lambda s: _evaluate(model, s).loglik)
    return np.asarray(best, dtype=float)


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
                raise ValueError(f"X_new is needed for the moderators "
                                 f"{', '.join(map(str, moderators))}")
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
                raise ValueError(f"unknown level {level!r}; levels are "
                                 f"{', '.join(map(str, self.levels))}")
            j = self.levels.index(level)
        else:
            j = int(level)
            if not 0 <= j < len(self.levels):
                raise ValueError(f"level must be between 0 and {len(self.levels) - 1}, got {level}")
        model = self._model
        e = _evaluate(model, self.sigma2, derivatives=1)
        s2 = float(self.sigma2[j])
        blup = s2 * e.one_py[j]
        variance = np.maximum(s2 - s2**2 * e.one_p_one[j], 0.0)
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
        raise ValueError(f"random level names must be distinct, got {', '.join(map(str, names))}")
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

    Variance components are REML estimates (the optimum of the restricted likelihood to about
    1e-10 relative, components at 0 allowed; found by average-information scoring over exact
    Sherman-Morrison-Woodbury sweeps of the nesting, so no k x k matrix is formed), or for
    ``random=None`` DerSimonian-Laird's moment estimator ``max(0, (QE - (k - p)) / tr P)``.
    I2 (percent) is ``100 tau2 / (tau2 + s2)`` with the typical within-study variance
    ``s2 = (k - p) / tr P`` of the fixed-effects weights; R2 (percent) is the proportional
    reduction of tau2 against the intercept-only model fitted the same way,
    ``max(0, 100 (tau2_0 - tau2) / tau2_0)`` (0 when ``tau2_0`` is 0).

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
    Research Synthesis and Meta-Analysis, 2nd ed., 295-315. Gilmour AR, Thompson R, Cullis BR
    (1995). Average information REML. Biometrics 51:1440-1450. Higgins JPT, Thompson SG (2002).
    Quantifying heterogeneity in a meta-analysis. Stat Med 21:1539-1558.
    """
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    method = str(method).upper()
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    test = str(test).lower()
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; expected one of {', '.join(TESTS)}")
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
