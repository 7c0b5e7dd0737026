"""Filtering and pooling of the published evidence for one view of the dashboard, and the
prevalence model's estimates for the same view."""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from dashboard import evidence, model, schema, stats
from dashboard.format import format_interval_brief, format_percent_brief
from dashboard.frames import require_columns as _require_columns

# The confidence level at which publications report their intervals; a reported interval is
# shown only when the view asks for this level.
REPORTED_CI_LEVEL = 0.95

POOLED_COLUMNS: tuple[str, ...] = (
    "estimate",
    "ci_low",
    "ci_high",
    "pi_low",
    "pi_high",
    "tau2",
    "i2",
    "q",
    "k",
    "n_estimates",
    "n_marked",
    "n_total",
    "cases_total",
    "reliability",
    "study_ids",
    "logit",
    "logit_se",
)

# Keys that identify one population reported under several cut-offs (compare_definitions).
POPULATION_KEYS: tuple[str, ...] = (
    "study_id",
    "sex",
    "age_min",
    "age_max",
    "diet_group",
    "data_years",
    "population",
)

# Plural noun phrases for the one-line reading of a chart.
DIET_PHRASES: dict[str, str] = {
    "omnivore": "omnivores",
    "semi_vegetarian": "semi-vegetarians",
    "pescatarian": "pescatarians",
    "vegetarian": "vegetarians",
    "vegan": "vegans",
    "general": "the general population",
}


# --- helpers ---------------------------------------------------------------------------------


def _as_list(value: str | Iterable | None, name: str) -> list | None:
    """None stays None (no filter); a single string becomes a one-element list."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise ValueError(f"{name} must be a list of values, got {value!r}") from None


def _check_known(values: list, allowed: Iterable, name: str) -> None:
    unknown = sorted({str(v) for v in values} - {str(a) for a in allowed})
    if unknown:
        raise ValueError(
            f"unknown {name}: {', '.join(unknown)} (allowed: {', '.join(map(str, allowed))})"
        )


def definition_label(definition: str | None) -> str:
    """Human label of a definition id (schema.definition_label); missing: no cut-off."""
    if definition is None or (isinstance(definition, float) and math.isnan(definition)):
        return "cut-off not stated"
    return schema.definition_label(str(definition))


# --- filtering -------------------------------------------------------------------------------


def filter_studies(
    studies: pd.DataFrame,
    *,
    definition: str | Sequence[str] | None = None,
    status: str | Sequence[str] | None = None,
    sexes: Sequence[str] | None = None,
    age_bands: Sequence[str] | None = None,
    diet_groups: Sequence[str] | None = None,
    countries: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    year_range: tuple[int, int] | None = None,
    supplement_users: Sequence[str] | None = None,
    min_n: int = 0,
    include_unknown_years: bool = True,
) -> pd.DataFrame:
    """Rows of the studies frame that match every given filter (a new frame, input untouched).

    None means "no filter"; a sequence means "any of". ``countries`` are ISO3 codes ("MULTI"
    selects the multi-country sources); ``regions`` match either the region or the subregion
    name. ``year_range=(lo, hi)`` keeps rows whose data-collection period overlaps lo..hi
    (inclusive). About three rows in four do not report their collection years: they are kept
    by default (``include_unknown_years=True``) because dropping them would silently discard
    most of the evidence; set it to False to see only rows known to fall in the range.
    ``min_n > 0`` keeps rows whose reported n is at least min_n; rows without a reported n are
    then dropped, since they cannot be shown to qualify.
    """
    _require_columns(
        studies,
        ["definition", "status", "sex", "age_band", "diet_group", "country_iso3", "region",
         "subregion", "year_start", "year_end", "supplement_users", "n"],
        "studies frame",
    )
    keep = pd.Series(True, index=studies.index)

    defs = _as_list(definition, "definition")
    if defs is not None:
        known = set(schema.DEFINITIONS_BY_ID) | set(studies["definition"].dropna().astype(str))
        _check_known(defs, sorted(known), "definition")
        keep &= studies["definition"].isin(defs)

    statuses = _as_list(status, "status")
    if statuses is not None:
        _check_known(statuses, schema.STATUSES, "status")
        keep &= studies["status"].isin(statuses)

    for column, values, allowed in (
        ("sex", sexes, schema.SEXES),
        ("age_band", age_bands, schema.STUDY_AGE_BANDS),
        ("diet_group", diet_groups, schema.STUDY_DIET_GROUPS),
        ("supplement_users", supplement_users, schema.SUPPLEMENT_USE),
    ):
        chosen = _as_list(values, column)
        if chosen is not None:
            _check_known(chosen, allowed, column)
            keep &= studies[column].astype("object").isin(chosen)

    iso3 = _as_list(countries, "countries")
    if iso3 is not None:
        bad = [
            c for c in iso3
            if not (isinstance(c, str) and (c == "MULTI" or (len(c) == 3 and c.isalpha()
                                                               and c.isupper())))
        ]
        if bad:
            raise ValueError(f"countries must be ISO3 codes (or MULTI), got {bad}")
        keep &= studies["country_iso3"].isin(iso3)

    names = _as_list(regions, "regions")
    if names is not None:
        keep &= studies["region"].isin(names) | studies["subregion"].isin(names)

    if year_range is not None:
        try:
            lo, hi = (int(y) for y in year_range)
        except (TypeError, ValueError):
            raise ValueError(f"year_range must be two years (lo, hi), got {year_range!r}") from None
        if lo > hi:
            raise ValueError(f"year_range starts after it ends: {lo} > {hi}")
        start = pd.to_numeric(studies["year_start"], errors="coerce")
        end = pd.to_numeric(studies["year_end"], errors="coerce").fillna(start)
        known_years = start.notna()
        overlaps = known_years & (start <= hi) & (end >= lo)
        keep &= overlaps | (~known_years if include_unknown_years else False)

    if min_n < 0:
        raise ValueError(f"min_n must be 0 or more, got {min_n}")
    if min_n > 0:
        n = pd.to_numeric(studies["n"], errors="coerce")
        keep &= (n >= min_n).fillna(False).astype(bool)

    return studies.loc[keep.to_numpy(dtype=bool)].copy()


# --- per-row intervals -----------------------------------------------------------------------


def study_estimates(studies: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Each row with the interval to show and its NCHS reliability flag.

    Adds ``interval_low``/``interval_high`` and ``ci_source``: the interval reported by the
    publication when it has one (only at the 95% level publications use), else the Wilson
    score interval (Wilson 1927) from cases/n (cases = prevalence x n when only a percentage
    was published), else none. ``reliability`` applies the NCHS Data Presentation Standards
    for Proportions (Parker et al. 2017) with the reported n as effective n (the design effect
    of a published figure is unknown) and no degrees of freedom; rows without n are
    "unknown".
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie between 0 and 1, got {level}")
    _require_columns(studies, ["prevalence", "n", "cases", "ci_low", "ci_high"], "studies frame")
    out = studies.copy()
    p = pd.to_numeric(out["prevalence"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    n = pd.to_numeric(out["n"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    cases = pd.to_numeric(out["cases"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    cases = np.where(np.isnan(cases), p * n, cases)
    rep_low = pd.to_numeric(out["ci_low"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    rep_high = pd.to_numeric(out["ci_high"], errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )

    reported = ~np.isnan(rep_low) & ~np.isnan(rep_high) & math.isclose(level, REPORTED_CI_LEVEL)
    has_n = ~np.isnan(n) & (n > 0) & ~np.isnan(cases)
    w_low = np.full(len(out), np.nan)
    w_high = np.full(len(out), np.nan)
    if has_n.any():
        lo, hi = stats.proportion_ci(cases[has_n], n[has_n], method="wilson", level=level)
        w_low[has_n] = lo
        w_high[has_n] = hi
    wilson = ~reported & has_n
    out["interval_low"] = np.where(reported, rep_low, w_low)
    out["interval_high"] = np.where(reported, rep_high, w_high)
    out["ci_source"] = np.where(reported, "reported", np.where(wilson, "wilson", "none"))

    reliability = np.full(len(out), "unknown", dtype=object)
    rated = ~np.isnan(n) & (n > 0) & ~np.isnan(p) & ~np.isnan(out["interval_low"].to_numpy())
    if rated.any():
        reliability[rated] = np.asarray(
            stats.nchs_reliability(
                p[rated],
                n[rated],
                out["interval_low"].to_numpy()[rated],
                out["interval_high"].to_numpy()[rated],
                df=None,
            ),
            dtype=object,
        )
    out["reliability"] = reliability
    return out


# --- pooling ---------------------------------------------------------------------------------

# Every column the pooling reads (``_pooling_rows``, ``_pool``, ``evidence.non_overlapping``).
# Pools are computed on a frame of these columns only: selecting rows of the full studies
# frame (sixty columns, most of them Arrow strings) costs far more than the pooling itself.
POOL_READS: tuple[str, ...] = (
    "usable_for", "definition", "status", "cases", "n", "study_id", "prevalence",
    "n_effective_basis", "n_effective", "population_marks", *evidence.OVERLAP_COLUMNS,
)


def _narrow(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """``frame`` reduced to those of ``columns`` it holds, in its own column order (a missing
    one stays missing, so the checks downstream report it as they would on the full frame)."""
    wanted = set(columns)
    keep = [c for c in frame.columns if c in wanted]
    if len(keep) == len(frame.columns):
        return frame
    return frame.loc[:, keep]


def _pooling_rows(studies: pd.DataFrame) -> pd.DataFrame:
    """The rows eligible for pooling, checked to share one definition and one status."""
    _require_columns(
        studies, ["usable_for", "definition", "status", "cases", "n", "study_id"], "studies frame"
    )
    rows = studies.loc[(studies["usable_for"] == "pooling").to_numpy(dtype=bool)]
    for column, plural in (("definition", "definitions"), ("status", "statuses")):
        distinct = sorted(rows[column].dropna().astype(str).unique())
        if len(distinct) > 1:
            raise ValueError(
                f"cannot pool across several {plural} ({', '.join(distinct)}): "
                f"filter the studies to one {column} first"
            )
    missing = rows["cases"].isna() | rows["n"].isna()
    if missing.any():
        ids = ", ".join(sorted(rows.loc[missing, "study_id"].astype(str).unique()))
        raise ValueError(f"rows marked for pooling lack cases or n (studies: {ids})")
    return rows


def _n_eff(estimate: float, logit_se: float, n_total: float) -> float:
    """Effective n of a pooled proportion: p(1-p)/se(p)^2, se(p) = se(logit) p(1-p) (delta
    method), capped at the people actually studied."""
    if not (0 < estimate < 1) or not logit_se > 0:
        return float(n_total)
    return float(min(n_total, 1.0 / (logit_se**2 * estimate * (1 - estimate))))


def _variance_counts(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Cases and n that give each row its sampling variance: prevalence x n_effective out of
    n_effective where a published interval gives the effective n (a survey's design effect),
    else the counts."""
    cases = rows["cases"].to_numpy(dtype=float)
    n = rows["n"].to_numpy(dtype=float)
    if "n_effective_basis" not in rows:
        return cases, n
    from_ci = (rows["n_effective_basis"] == "published CI").to_numpy(dtype=bool)
    n_eff = pd.to_numeric(rows["n_effective"], errors="coerce").to_numpy(dtype=float)
    p = pd.to_numeric(rows["prevalence"], errors="coerce").to_numpy(dtype=float)
    return np.where(from_ci, p * n_eff, cases), np.where(from_ci, n_eff, n)


def _marked(rows: pd.DataFrame) -> int:
    """Pooled estimates whose population is marked (pregnant, clinic, care home, diet cohort)."""
    if "population_marks" not in rows:
        return 0
    marks = rows["population_marks"]
    return int((marks.notna() & (marks.astype("object").fillna("") != "")).sum())


def _pool(rows: pd.DataFrame, method: str, level: float) -> dict:
    # A plain table has no studies: its rows are named by their labels.
    ids = rows["study_id"] if "study_id" in rows else rows.index.to_series()
    cases = rows["cases"].to_numpy(dtype=float)
    n = rows["n"].to_numpy(dtype=float)
    est = stats.pool_prevalence(*_variance_counts(rows), method=method, level=level)
    return _pool_record(
        est, float(n.sum()),
        k=evidence.count_samples(rows) if "sample_id" in rows else int(est.k),
        n_marked=_marked(rows), cases_total=int(cases.sum()),
        study_ids=sorted(ids.astype(str).unique()),
    )


def _pool_record(est: stats.PooledEstimate, n_total: float, *, k: int, n_marked: int,
                 cases_total: int, study_ids: list[str]) -> dict:
    """One pooled group's figures as a row of pool_groups, with its NCHS reliability; the
    one place both pooling paths (a frame, or positions in _StudyColumns) build it."""
    reliability = stats.nchs_reliability(
        np.array([est.estimate]),
        np.array([_n_eff(est.estimate, est.logit_se, n_total)]),
        np.array([est.ci_low]),
        np.array([est.ci_high]),
        df=None,
    )
    return {
        "estimate": est.estimate,
        "ci_low": est.ci_low,
        "ci_high": est.ci_high,
        "pi_low": est.pi_low,
        "pi_high": est.pi_high,
        "tau2": est.tau2,
        "i2": est.i2,
        "q": est.q,
        "k": k,
        "n_estimates": int(est.k),
        "n_marked": n_marked,
        "n_total": int(n_total),
        "cases_total": cases_total,
        "reliability": str(np.asarray(reliability, dtype=object).ravel()[0]),
        "study_ids": ", ".join(study_ids),
        "logit": est.logit,
        "logit_se": est.logit_se,
    }


def _sort_key(column: str):
    """Order groups as the vocabularies do (age bands young to old, diets by animal intake)."""
    orders = {
        "age_band": schema.STUDY_AGE_BANDS,
        "diet_group": schema.STUDY_DIET_GROUPS,
        "sex": schema.SEXES,
        "status": schema.STATUSES,
    }
    order = orders.get(column)
    if order is None:
        return None
    rank = {v: i for i, v in enumerate(order)}
    return lambda s: s.astype("object").map(lambda v: rank.get(v, len(rank)))


# Per-process memo of pure pooling results, keyed by the content of the columns they read
# (and their arguments): a page rerun with the same view pools nothing again.
_MEMO_SIZE = 128
_memo: OrderedDict[tuple, object] = OrderedDict()
_memo_lock = threading.Lock()


def _fingerprint(frame: pd.DataFrame) -> tuple | None:
    """A key for ``frame``'s content: its columns, dtypes and a digest of every row's hash
    (row order included; the index left out, which the memoised results do not read). None
    when the content cannot be hashed (cells holding lists, say): such a frame is not
    memoised."""
    try:
        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except (TypeError, ValueError):
        return None
    digest = hashlib.blake2b(hashes.tobytes(), digest_size=16).hexdigest()
    return (tuple(map(str, frame.columns)), tuple(str(t) for t in frame.dtypes), len(frame),
            digest)


def _memoised(key: tuple, compute):
    """``compute()``, or its earlier result for ``key`` in this process (no memo when a part
    of the key is None or unhashable)."""
    try:
        hash(key)
    except TypeError:
        return compute()
    if any(part is None for part in key):
        return compute()
    with _memo_lock:
        if key in _memo:
            _memo.move_to_end(key)
            return _memo[key]
    value = compute()
    with _memo_lock:
        _memo[key] = value
        while len(_memo) > _MEMO_SIZE:
            _memo.popitem(last=False)
    return value


def pool_groups(
    studies: pd.DataFrame,
    by: Sequence[str] = ("age_band", "diet_group"),
    method: str = "REML",
    level: float = 0.95,
) -> pd.DataFrame:
    """Random-effects pooled prevalence per group, one row per group with at least one study.

    Pools on the logit scale with ``stats.pool_prevalence`` (as metafor's
    ``rma(measure="PLO")``; DerSimonian & Laird 1986 or REML, Viechtbauer 2005), using only
    rows with ``usable_for == "pooling"`` (they report n and cases). The frame must hold one
    definition and one status among those rows: pooling across cut-offs is meaningless, so a
    mix raises ValueError. Each group pools a set of estimates that counts nobody twice
    (``evidence.non_overlapping``: a study's whole estimate where it can be pooled, else its
    subgroups; one publication per sample; no repeated measurement of the same people). ``k``
    counts independent studies (samples), ``n_estimates`` the estimates pooled; a study's
    disjoint subgroups enter as separate estimates. Each estimate's sampling variance comes
    from its effective n where a published interval gives one (``n_effective``), else from
    cases and n; ``n_total`` and ``cases_total`` sum the people examined. ``reliability`` is
    the NCHS flag (Parker et al. 2017) of the pooled estimate with effective n =
    p(1-p)/se(p)^2, capped at n_total. Columns: [*by, *POOLED_COLUMNS].
    """
    by = list(by)
    _require_columns(studies, by, "studies frame")
    narrow = _narrow(studies, [*by, *POOL_READS])
    key = ("pool_groups", _fingerprint(narrow), tuple(by), method, level)
    return _memoised(key, lambda: _pool_groups(narrow, by, method, level)).copy()


def _pool_groups(narrow: pd.DataFrame, by: list[str], method: str, level: float
                 ) -> pd.DataFrame:
    rows = evidence.with_links(_pooling_rows(narrow))
    columns = _StudyColumns(rows)
    records = [{**dict(zip(by, key, strict=True)), **columns.pool(kept, method, level)}
               for key, kept in _kept_groups(rows, by, columns)]
    return _pooled_frame(records, by)


class _StudyColumns:
    """The columns of poolable study rows (``with_links`` applied) as arrays and lists, read
    once: each group's pool then takes its rows by position instead of slicing a frame."""

    def __init__(self, rows: pd.DataFrame) -> None:
        self.links = {c: rows[c].astype("object").tolist()
                      for c in evidence.OVERLAP_COLUMNS if c in rows}
        self.cases = rows["cases"].to_numpy(dtype=float)
        self.n = rows["n"].to_numpy(dtype=float)
        self.var_cases, self.var_n = _variance_counts(rows)
        self.study_ids = rows["study_id"].astype(str).tolist()
        self.samples = rows["sample_id"].tolist()
        if "population_marks" in rows:
            marks = rows["population_marks"]
            self.marked = (marks.notna() & (marks.astype("object").fillna("") != "")).to_numpy(
                dtype=bool)
        else:
            self.marked = np.zeros(len(rows), dtype=bool)

    def kept(self, positions: np.ndarray) -> np.ndarray:
        """The positions among ``positions`` (one group) that ``evidence.non_overlapping``
        keeps, in input order."""
        values = {c: [v[i] for i in positions] for c, v in self.links.items()}
        keep = evidence.kept_ids(values)
        eids = values["estimate_id"]
        return positions[np.fromiter((e in keep for e in eids), dtype=bool, count=len(eids))]

    def pool(self, positions: np.ndarray, method: str, level: float) -> dict:
        """``_pool`` of the rows at ``positions``: the same figures, read from the arrays."""
        est = stats.pool_prevalence(self.var_cases[positions], self.var_n[positions],
                                    method=method, level=level)
        samples = {self.samples[i] for i in positions}
        return _pool_record(
            est, float(self.n[positions].sum()),
            k=sum(1 for v in samples if not pd.isna(v)),
            n_marked=int(self.marked[positions].sum()),
            cases_total=int(self.cases[positions].sum()),
            study_ids=sorted({self.study_ids[i] for i in positions}),
        )


def _kept_groups(rows: pd.DataFrame, by: list[str], columns: _StudyColumns
                 ) -> list[tuple[tuple, np.ndarray]]:
    """(key, kept positions) per group of ``rows`` by ``by``, groups in order of first
    appearance (as ``groupby(sort=False)``); a group keeps what ``evidence.non_overlapping``
    keeps of it. Without ``by`` the one group is every row (none when ``rows`` is empty)."""
    if not by:
        return [((), columns.kept(np.arange(len(rows))))] if len(rows) else []
    keys = rows[by].astype("object")
    positions = pd.Series(np.arange(len(rows)), index=rows.index)
    return [
        (key if isinstance(key, tuple) else (key,), columns.kept(group.to_numpy()))
        for key, group in positions.groupby([keys[c] for c in by], sort=False, dropna=False)
    ]


def pooled_rows(studies: pd.DataFrame, by: Sequence[str] = ("age_band", "diet_group")
                ) -> pd.DataFrame:
    """The estimates ``pool_groups`` pools for each group: the poolable rows that share no
    people (``evidence.non_overlapping``), in input order. Shown beside a pool, and the set a
    test checks for double counting."""
    by = list(by)
    _require_columns(studies, by, "studies frame")
    rows = evidence.with_links(_pooling_rows(studies))
    narrow = _narrow(rows, [*by, *POOL_READS])
    kept = [p for _, p in _kept_groups(narrow, by, _StudyColumns(narrow))]
    if not by:
        return rows.iloc[kept[0]] if kept else rows.iloc[0:0]
    if not kept:
        return rows.iloc[0:0]
    chosen = rows.iloc[np.sort(np.concatenate(kept))]
    return chosen.loc[chosen.index.sort_values()]


def forest_rows(studies: pd.DataFrame, pooled: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """The estimates each pool of ``pooled`` (``pool_groups(studies, by)``) combines, with the
    share of the pool's random-effects weight each carries: the rows of a forest plot.

    Rows as ``pooled_rows(studies, by)``, plus ``weight``: ``w_i / sum(w)`` within the row's
    group, ``w_i = 1 / (v_i + tau2)`` with ``v_i`` the logit-scale sampling variance of the
    estimate (as ``pool_groups`` computes it, effective n where a published interval gives
    one) and ``tau2`` the group's between-study variance from ``pooled`` (metafor's
    ``weights(rma(...))`` divided by 100). A group absent from ``pooled`` gets NaN.
    """
    by = list(by)
    rows = pooled_rows(studies, by)
    weight = np.full(len(rows), np.nan)
    if len(rows):
        _, v = stats.logit_effects(*_variance_counts(rows))
        keys = rows[by].astype("object").apply(tuple, axis=1) if by else pd.Series(
            [()] * len(rows), index=rows.index)
        tau2 = {tuple(r[by]) if by else (): float(r["tau2"]) for _, r in pooled.iterrows()}
        for key in keys.unique():
            inside = (keys == key).to_numpy()
            if key in tau2:
                w = 1.0 / (v[inside] + tau2[key])
                weight[inside] = w / w.sum()
    return rows.assign(weight=weight)


def coinciding_groups(first: pd.DataFrame, second: pd.DataFrame, by: Sequence[str],
                      tol: float = 1e-9) -> list[str]:
    """Groups whose pools agree under two tau2 estimators (``pool_groups`` with REML and with
    DL on the same rows): same tau2, hence the same estimate and intervals. They coincide
    when both estimate tau2 as 0 or a group has one study; a reader switching estimators then
    sees no change. Returns the values of ``by`` (" / "-joined), in ``first``'s order."""
    by = list(by)
    merged = first.merge(second, on=by, suffixes=("", "_other"), sort=False)
    same = ((merged["tau2"] - merged["tau2_other"]).abs() <= tol).to_numpy()
    return [" / ".join(map(str, r)) for r in merged.loc[same, by].itertuples(index=False)]


def pool_table(
    table: pd.DataFrame,
    by: Sequence[str] = (),
    method: str = "REML",
    level: float = 0.95,
) -> pd.DataFrame:
    """Random-effects pooled prevalence per group of a plain table of counts (an analyst's
    prevalence table): every row is one stratum with ``cases`` among ``n``.

    The pooling is ``pool_groups``' (logit scale, metafor ``rma(measure="PLO")``; REML,
    Viechtbauer 2005, or DerSimonian & Laird 1986), without its study columns: all rows are
    taken as one definition and status, and ``study_ids`` lists the pooled rows' index
    labels. A row without cases or n raises ValueError naming it. Columns as
    ``pool_groups``: [*by, *POOLED_COLUMNS].
    """
    by = list(by)
    _require_columns(table, ["cases", "n", *by], "table")
    missing = (table["cases"].isna() | table["n"].isna()).to_numpy(dtype=bool)
    if missing.any():
        labels = ", ".join(map(str, table.index[missing]))
        raise ValueError(f"rows without cases or n cannot be pooled (rows: {labels})")
    return _pool_by(table, by, method, level)


def _pool_by(rows: pd.DataFrame, by: list[str], method: str, level: float,
             separate: bool = False) -> pd.DataFrame:
    """One pooled row per group of ``rows``, in the vocabularies' order; with ``separate``
    (study rows) each group first keeps only estimates that share no people."""

    def pooled(group: pd.DataFrame) -> dict:
        return _pool(evidence.non_overlapping(group) if separate else group, method, level)

    records = []
    if by:
        keys = rows[by].astype("object")
        for key, group in rows.groupby([keys[c] for c in by], sort=False, dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            records.append({**dict(zip(by, key, strict=True)), **pooled(group)})
    elif len(rows):
        records.append(pooled(rows))
    return _pooled_frame(records, by)


def _pooled_frame(records: list[dict], by: list[str]) -> pd.DataFrame:
    """The pooled rows as a frame [*by, *POOLED_COLUMNS], groups in the vocabularies' order."""
    out = pd.DataFrame(records, columns=[*by, *POOLED_COLUMNS])
    for column in by:
        key = _sort_key(column)
        if key is not None:
            out = out.sort_values(column, key=key, kind="stable")
    return out.reset_index(drop=True).astype({"k": "int64", "n_estimates": "int64",
                                              "n_marked": "int64", "n_total": "int64",
                                              "cases_total": "int64"})


# Groups an analyst's estimates share with the published pooled ones.
COMPARABLE_GROUPS: tuple[str, ...] = ("age_band", "diet_group")


def compare_with_published(
    yours: pd.DataFrame, published: pd.DataFrame, by: Sequence[str]
) -> pd.DataFrame:
    """An analyst's estimates beside the published pooled ones of the same groups.

    ``yours`` has [*by, estimate, ci_low, ci_high, n] (e.g. ``ingest.estimate``),
    ``published`` [*by, estimate, ci_low, ci_high, k, n_total] (``pool_groups``); ``by`` may
    only name ``COMPARABLE_GROUPS`` (published studies have no other common groups: a
    ValueError says so). Groups missing on either side are left out; with no groups the one
    overall row of each side is paired. Columns: [*by, estimate_yours, ci_low_yours,
    ci_high_yours, n, estimate_published, ci_low_published, ci_high_published, k, n_total].
    """
    by = list(by)
    other = [b for b in by if b not in COMPARABLE_GROUPS]
    if other:
        raise ValueError(
            f"cannot compare by {', '.join(other)}: the published estimates share only "
            f"{', '.join(COMPARABLE_GROUPS)}"
        )
    _require_columns(yours, [*by, "estimate", "ci_low", "ci_high", "n"], "your estimates")
    _require_columns(published, [*by, "estimate", "ci_low", "ci_high", "k", "n_total"],
                     "published estimates")
    return yours.loc[:, [*by, "estimate", "ci_low", "ci_high", "n"]].merge(
        published[[*by, "estimate", "ci_low", "ci_high", "k", "n_total"]],
        **({"on": by, "how": "inner"} if by else {"how": "cross"}),
        suffixes=("_yours", "_published"),
    )


# --- headline estimates ----------------------------------------------------------------------


@dataclass(frozen=True)
class PooledSubset:
    """One pooled prevalence ready to print: value, interval, evidence and definition."""

    label: str
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    k: int
    n_estimates: int
    n_marked: int
    n_total: int
    reliability: str
    definition: str
    definition_label: str
    status: str
    study_ids: tuple[str, ...]
    citations: tuple[str, ...]
    logit: float
    logit_se: float


@dataclass(frozen=True)
class Comparison:
    """Two pooled subsets side by side, with their unadjusted difference and ratio."""

    first: PooledSubset
    second: PooledSubset
    difference: float
    difference_low: float
    difference_high: float
    ratio: float
    ratio_low: float
    ratio_high: float


@dataclass(frozen=True)
class Headlines:
    """The Overview page's headline pools for one filtered frame (None where no study qualifies)."""

    overall: PooledSubset | None
    older_adults: PooledSubset | None
    vegans: PooledSubset | None
    omnivores: PooledSubset | None
    vegans_vs_omnivores: Comparison | None


# Fewer independent studies than this make a headline "thin evidence": its figure is shown as
# a line of text with a badge, never in a metric's large type (issue 12).
MIN_HEADLINE_STUDIES = 3


def assess_headline(k: int, reliability: str | None = None) -> tuple[str, ...]:
    """Why a headline figure is too weak for large type, as phrases (empty when it is not):
    fewer than MIN_HEADLINE_STUDIES independent studies, or an NCHS flag (Parker et al.
    2017): "suppress" (too imprecise to publish) or "review" (flagged for statistical
    review). ``reliability`` is a ``stats.nchs_reliability`` value, None for a figure the
    NCHS rules do not rate (the model's)."""
    reasons = []
    if k < MIN_HEADLINE_STUDIES:
        reasons.append(f"{k} {'study' if k == 1 else 'studies'}, fewer than "
                       f"{MIN_HEADLINE_STUDIES}")
    flag = str(reliability or "").partition("; ")[0]
    if flag == stats.RELIABILITY_SUPPRESS:
        reasons.append("too imprecise by NCHS standards, which would suppress it")
    elif flag == stats.RELIABILITY_REVIEW:
        reasons.append("flagged for statistical review by NCHS standards")
    return tuple(reasons)


def _citation(row: Mapping[str, object]) -> str:
    author = row.get("first_author")
    year = row.get("year")
    author = str(author) if isinstance(author, str) and author else str(row["study_id"])
    return f"{author} {int(year)}" if pd.notna(year) else author


# What ``pool_subset`` reads: the filters' columns, the pooling's and the citations'.
_SUBSET_READS: tuple[str, ...] = (
    "definition", "status", "sex", "age_band", "diet_group", "country_iso3", "region",
    "subregion", "year_start", "year_end", "supplement_users", "n", *POOL_READS,
    "first_author", "year",
)


def pool_subset(
    studies: pd.DataFrame,
    *,
    label: str,
    age_bands: Sequence[str] | None = None,
    diet_groups: Sequence[str] | None = None,
    method: str = "REML",
    level: float = 0.95,
) -> PooledSubset | None:
    """Pool every poolable row of the (already filtered) frame in the given ages and diets.

    Same method and restrictions as ``pool_groups``; returns None when no row qualifies.
    """
    subset = filter_studies(_narrow(studies, _SUBSET_READS), age_bands=age_bands,
                            diet_groups=diet_groups)
    pooled = pool_groups(subset, by=(), method=method, level=level)
    if pooled.empty:
        return None
    r = pooled.iloc[0]
    rows = _pooling_rows(subset)
    definition = str(rows["definition"].iloc[0])
    pooled_ids = set(str(r["study_ids"]).split(", "))
    cited = rows[rows["study_id"].isin(pooled_ids)].drop_duplicates("study_id").sort_values(
        ["study_id"])
    return PooledSubset(
        label=label,
        estimate=float(r["estimate"]),
        ci_low=float(r["ci_low"]),
        ci_high=float(r["ci_high"]),
        pi_low=float(r["pi_low"]),
        pi_high=float(r["pi_high"]),
        k=int(r["k"]),
        n_estimates=int(r["n_estimates"]),
        n_marked=int(r["n_marked"]),
        n_total=int(r["n_total"]),
        reliability=str(r["reliability"]),
        definition=definition,
        definition_label=definition_label(definition),
        status=str(rows["status"].iloc[0]),
        study_ids=tuple(cited["study_id"].astype(str)),
        citations=tuple(_citation(row) for row in cited.to_dict("records")),
        logit=float(r["logit"]),
        logit_se=float(r["logit_se"]),
    )


def compare_pools(first: PooledSubset, second: PooledSubset, level: float = 0.95) -> Comparison:
    """Difference and ratio of two independent pooled prevalences.

    Delta method on the logit scale: var(p) = (se_logit p(1-p))^2 and
    var(log p) = (se_logit (1-p))^2; normal intervals. Unadjusted: the two pools come from
    different studies, so the contrast mixes diet with everything else that differs.
    """
    z = sps.norm.ppf(0.5 + level / 2)
    p1, p2 = first.estimate, second.estimate
    s1, s2 = first.logit_se, second.logit_se
    v1 = (s1 * p1 * (1 - p1)) ** 2
    v2 = (s2 * p2 * (1 - p2)) ** 2
    diff = p1 - p2
    half = z * math.sqrt(v1 + v2)
    if p1 > 0 and p2 > 0:
        log_ratio = math.log(p1 / p2)
        se_log = math.sqrt((s1 * (1 - p1)) ** 2 + (s2 * (1 - p2)) ** 2)
        ratio = math.exp(log_ratio)
        ratio_low, ratio_high = math.exp(log_ratio - z * se_log), math.exp(log_ratio + z * se_log)
    else:
        ratio = ratio_low = ratio_high = math.nan
    return Comparison(first, second, diff, diff - half, diff + half, ratio, ratio_low, ratio_high)


def estimate_headlines(
    studies: pd.DataFrame, *, method: str = "REML", level: float = 0.95
) -> Headlines:
    """Overview headline pools for a frame already filtered to one definition and status.

    ``overall``: every poolable row. ``older_adults``: the general population aged 60+ (age
    bands 60-79 and 80+), since diet-specific studies of older people are few.
    ``vegans``/``omnivores``: all ages; ``vegans_vs_omnivores`` their unadjusted contrast when
    both exist.
    """
    narrow = _narrow(studies, _SUBSET_READS)  # once for the four pools
    key = ("estimate_headlines", _fingerprint(narrow), method, level)
    return _memoised(key, lambda: _estimate_headlines(narrow, method, level))


def _estimate_headlines(studies: pd.DataFrame, method: str, level: float) -> Headlines:
    older = ("60-79", "80+")
    pools = {
        "overall": pool_subset(studies, label="All poolable studies", method=method,
                               level=level),
        "older_adults": pool_subset(
            studies, label="General population aged 60+", age_bands=older,
            diet_groups=("general",), method=method, level=level,
        ),
        "vegans": pool_subset(studies, label="Vegans, all ages", diet_groups=("vegan",),
                              method=method, level=level),
        "omnivores": pool_subset(studies, label="Omnivores, all ages",
                                 diet_groups=("omnivore",), method=method, level=level),
    }
    comparison = None
    if pools["vegans"] is not None and pools["omnivores"] is not None:
        comparison = compare_pools(pools["vegans"], pools["omnivores"], level=level)
    return Headlines(**pools, vegans_vs_omnivores=comparison)


# --- reading of the chart --------------------------------------------------------------------


def _group_phrase(row: pd.Series) -> str:
    parts = []
    diet = row.get("diet_group")
    if diet is not None and not pd.isna(diet):
        parts.append(DIET_PHRASES.get(str(diet), str(diet)))
    sex = row.get("sex")
    if sex is not None and not pd.isna(sex) and sex != "both":
        parts.append(f"({sex})")
    age = row.get("age_band")
    if age is not None and not pd.isna(age):
        parts.append("of unknown age" if age == schema.UNKNOWN_AGE_BAND else f"aged {age}")
    return " ".join(parts) if parts else "all groups"


def describe_pattern(pooled: pd.DataFrame, level: float = 0.95) -> str:
    """One sentence reading the pooled age x diet chart: how many groups, highest and lowest.

    Takes the output of ``pool_groups``; ties are broken by the frame's order.
    """
    if pooled is None or pooled.empty:
        return "No group in this selection has studies that can be pooled."
    _require_columns(pooled, ["estimate", "ci_low", "ci_high", "k"], "pooled frame")
    ci = f"{round(level * 100):g}% CI"

    def figure(row: pd.Series) -> str:
        k = int(row["k"])
        return (
            f"{format_percent_brief(row['estimate'])}, "
            f"{ci} {format_interval_brief(row['ci_low'], row['ci_high'])}, "
            f"{k} {'estimate' if k == 1 else 'estimates'}"
        )

    if len(pooled) == 1:
        row = pooled.iloc[0]
        return (
            f"Only one group has data: {_group_phrase(row)}, with a pooled prevalence of "
            f"{figure(row)}."
        )
    order = np.argsort(-pooled["estimate"].to_numpy(dtype=float), kind="stable")
    high, low = pooled.iloc[order[0]], pooled.iloc[order[-1]]
    return (
        f"Among the {len(pooled)} groups with data, {_group_phrase(high)} have the highest "
        f"pooled prevalence ({figure(high)}) and {_group_phrase(low)} the lowest "
        f"({figure(low)})."
    )


# --- cut-off comparison ----------------------------------------------------------------------


def compare_definitions(
    studies: pd.DataFrame, *, biomarkers: Sequence[str] | None = None
) -> pd.DataFrame:
    """Populations reported under several definitions, one row per (population, definition).

    A population is one stratum of one study: same study_id, sex, age_min, age_max,
    diet_group, data_years and population description. Only populations with at least two
    distinct definitions are kept; rows whose cut-off is not stated (no definition) are left
    out. ``spread`` is the largest minus the smallest prevalence of the population, i.e. how
    far the choice of cut-off moves the figure. Sorted by population, then prevalence.
    """
    _require_columns(studies, [*POPULATION_KEYS, "definition", "status", "prevalence", "n",
                               "biomarker"], "studies frame")
    # Only the output's columns and the labels' (age_label) are read: work on those.
    studies = _narrow(studies, [*POPULATION_KEYS, "country_iso3", "first_author", "year",
                                "definition", "biomarker", "status", "prevalence", "n",
                                "ci_low", "ci_high", "age_label"])
    rows = studies.loc[studies["definition"].notna().to_numpy(dtype=bool)]
    chosen = _as_list(biomarkers, "biomarkers")
    if chosen is not None:
        _check_known(chosen, schema.BIOMARKERS, "biomarker")
        rows = rows.loc[rows["biomarker"].isin(chosen).to_numpy(dtype=bool)]
    keys = rows[list(POPULATION_KEYS)].astype("object").fillna("")
    population_id = keys.groupby(list(POPULATION_KEYS), sort=True, dropna=False).ngroup()
    rows = rows.assign(population_id=population_id.to_numpy())
    n_defs = rows.groupby("population_id")["definition"].transform("nunique")
    rows = rows.loc[(n_defs >= 2).to_numpy(dtype=bool)].copy()
    columns = [
        "population_id", "population_label", *POPULATION_KEYS, "country_iso3", "first_author",
        "year", "definition", "definition_label", "biomarker", "status", "prevalence", "n",
        "ci_low", "ci_high", "n_definitions", "spread",
    ]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows["population_id"] = rows.groupby("population_id", sort=True).ngroup()
    rows["definition_label"] = rows["definition"].map(definition_label)
    rows["n_definitions"] = rows.groupby("population_id")["definition"].transform("nunique")
    prevalence = pd.to_numeric(rows["prevalence"], errors="coerce")
    grouped = prevalence.groupby(rows["population_id"])
    rows["spread"] = grouped.transform("max") - grouped.transform("min")
    rows["population_label"] = [
        _population_label(r) for _, r in rows.iterrows()
    ]
    rows = rows.sort_values(["population_id", "prevalence"], kind="stable")
    return rows[[c for c in columns if c in rows.columns]].reset_index(drop=True)


def _population_label(row: pd.Series) -> str:
    age = row.get("age_label")
    if not isinstance(age, str) or not age:
        lo, hi = row["age_min"], row["age_max"]
        age = (
            "age not reported" if pd.isna(lo)
            else f"{int(lo)}+ y" if pd.isna(hi) else f"{int(lo)}-{int(hi)} y"
        )
    return (
        f"{_citation(row)}: {row['population']} ({row['sex']}, {age}, "
        f"{schema.DIET_LABELS.get(str(row['diet_group']), str(row['diet_group'])).lower()})"
    )


# --- references ------------------------------------------------------------------------------


def reference_list(studies: pd.DataFrame) -> pd.DataFrame:
    """One row per study for the Methods page: citation fields, links and how many rows it
    contributes to the table, sorted by first author and year."""
    columns = ["study_id", "first_author", "year", "title", "journal", "doi_url", "pmid_url"]
    _require_columns(studies, columns, "studies frame")
    if studies.empty:
        return pd.DataFrame(columns=[*columns, "n_rows"])
    counts = studies.groupby("study_id", sort=False).size().rename("n_rows")
    first = studies.drop_duplicates("study_id")[columns].set_index("study_id")
    out = first.join(counts).reset_index()
    out["n_rows"] = out["n_rows"].astype("int64")
    return out.sort_values(["first_author", "year", "study_id"], kind="stable",
                           na_position="last").reset_index(drop=True)


def definitions_table(studies: pd.DataFrame) -> pd.DataFrame:
    """Every definition with the estimates and studies that use it, for the Methods page.

    Documented definitions (``schema.DEFINITIONS``, in their order, including unused ones)
    come first, then ids generated from the data for cut-offs no documented definition covers,
    sorted. Rows without a definition are left out. ``cited`` lists "author year" of each study
    using the definition (the study id when no author is given), sorted and "; "-joined.
    Columns: [id, label, biomarker (label), unit, kind, rationale, estimates, studies, cited].
    """
    _require_columns(studies, ["definition", "study_id", "first_author", "year", "row_id",
                               "biomarker", "canonical_unit"], "studies frame")
    used = studies.loc[studies["definition"].notna().to_numpy(dtype=bool)]
    cited = used.drop_duplicates(["definition", "study_id"])
    cite = [
        f"{a if isinstance(a, str) and a else sid}" + (f" {int(y)}" if pd.notna(y) else "")
        for a, sid, y in zip(cited["first_author"], cited["study_id"], cited["year"], strict=True)
    ]
    citations = pd.Series(cite, index=cited.index).groupby(cited["definition"]).agg(
        lambda s: "; ".join(sorted(s))
    )
    rows = used.groupby("definition").agg(
        estimates=("row_id", "size"), studies=("study_id", "nunique"),
        biomarker=("biomarker", "first"), unit=("canonical_unit", "first"),
    )
    generated = sorted(set(rows.index) - set(schema.DEFINITIONS_BY_ID))
    records = [
        {"id": d.id, "label": d.label, "biomarker": d.biomarker, "unit": d.unit,
         "kind": "documented", "rationale": d.rationale}
        for d in schema.DEFINITIONS
    ] + [
        {"id": g, "label": g, "biomarker": str(rows.at[g, "biomarker"]),
         "unit": str(rows.at[g, "unit"]), "kind": "generated from the data",
         "rationale": "A cut-off that no documented definition covers; grouped only with "
                      "identical cut-offs."}
        for g in generated
    ]
    out = pd.DataFrame.from_records(records)
    out["biomarker"] = out["biomarker"].map(lambda b: schema.BIOMARKER_LABELS.get(b, b))
    out["estimates"] = out["id"].map(rows["estimates"]).fillna(0).astype("int64")
    out["studies"] = out["id"].map(rows["studies"]).fillna(0).astype("int64")
    out["cited"] = [citations.get(i, "") for i in out["id"]]
    return out


# --- modelled estimates for a view -----------------------------------------------------------
# The prevalence model (dashboard.model) beside the pools: the same age band x diet cells,
# predicted for the population the view's places describe rather than pooled from the
# studies that happen to match.

# Year of the population that weights countries into a region or the world (UN WPP 2022,
# medium variant, both sexes).
MODEL_YEAR = 2025
# Groups the model predicts: its diet groups and the general population (their mix in each
# country). Semi-vegetarians have no prediction of their own (the model reads them as
# omnivores), so they are left out rather than shown under a borrowed number.
MODELLED_DIETS: tuple[str, ...] = (*schema.DIET_GROUPS, "general")
# Joint draws per modelled cell: 500 put the Monte Carlo error of a 95% interval's ends
# below a tenth of a percentage point for prevalences under 50%, at half the cost of 1,000.
MODEL_DRAWS = 500
# Cut-offs (pmol/L) at which the Cutoffs page draws the crosswalk's curves; the chosen
# cut-off is predicted exactly besides. The curves are smooth in the log cut-off (one
# crosswalk term), so five points and the chosen one draw them.
CUTOFF_GRID: tuple[float, ...] = tuple(float(c) for c in range(100, 301, 50))
CUTOFF_RANGE: tuple[float, float] = (100.0, 300.0)
MODELLED_COLUMNS: tuple[str, ...] = (
    "estimate", "ci_low", "ci_high", "estimable", "support_location", "support_diet",
    "support_age", "n_countries",
)
_BANDS: dict[str, tuple[int, int | None]] = {b: (lo, hi) for b, lo, hi in schema.AGE_BANDS}


@dataclass(frozen=True)
class ModelPopulation:
    """The people a view's modelled figures are for: one country, or the countries of its
    regions (or of the world) averaged with weights of their population, plus the sex and
    supplement use the view narrows to."""

    iso3: tuple[str, ...]
    scope: str  # "country", "countries", "region" or "world"
    name: str
    sex: str = "both"
    supplement_users: str = "included"

    def describe(self) -> str:
        """The population in words, for captions ("the world's 236 countries and areas, ...")."""
        who = {"both": "", "female": "women, ", "male": "men, "}[self.sex]
        supp = {"included": "", "excluded": ", supplement users excluded",
                "only": ", supplement users only"}[self.supplement_users]
        if self.scope == "country":
            where = self.name
        else:
            where = (f"{self.name}: {len(self.iso3)} countries and areas averaged with weights "
                     f"of their {MODEL_YEAR} population (UN WPP 2022, both sexes)")
        return f"{who}{where}{supp}"


def model_population(
    countries: pd.DataFrame,
    *,
    iso3: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    sexes: Sequence[str] | None = None,
    supplement_users: Sequence[str] | None = None,
) -> ModelPopulation | None:
    """The population whose prevalence the model gives for a view's filters.

    ``countries`` is the model's table of countries (iso3, country_name, region, subregion).
    One chosen country: that country. Several: those countries, population-weighted. Regions
    (WPP region or subregion names): their countries (those of the chosen countries inside
    them, when both are given). Nothing chosen: every country of the world. One chosen sex or
    supplement-use stratum (included, excluded, only) is predicted as such; several or none
    mean both sexes and supplement users included, as a general population is. None when the
    places chosen hold no country the model knows (e.g. only multi-country sources).
    """
    _require_columns(countries, ["iso3", "country_name", "region", "subregion"], "countries")
    known = countries.set_index("iso3")
    chosen = [c for c in (iso3 or ()) if c in known.index]
    names = list(regions or ())
    in_regions = countries.loc[countries["region"].isin(names)
                               | countries["subregion"].isin(names), "iso3"].tolist()
    if iso3 and not chosen:
        return None
    if names:
        chosen = [c for c in chosen if c in in_regions] if chosen else in_regions
        if not chosen:
            return None
    sex = sexes[0] if sexes and len(sexes) == 1 and sexes[0] in ("female", "male") else "both"
    supp = (supplement_users[0] if supplement_users and len(supplement_users) == 1
            and supplement_users[0] in ("included", "excluded", "only") else "included")
    if len(chosen) == 1 and iso3:
        return ModelPopulation((chosen[0],), "country", str(known.loc[chosen[0], "country_name"]),
                               sex, supp)
    if iso3:
        return ModelPopulation(tuple(chosen), "countries", "the chosen countries", sex, supp)
    if names:
        return ModelPopulation(tuple(chosen), "region", " and ".join(names), sex, supp)
    return ModelPopulation(tuple(countries["iso3"]), "world", "the world", sex, supp)


def population_weights(population: pd.DataFrame, iso3: Sequence[str],
                       year: int = MODEL_YEAR) -> pd.DataFrame:
    """People per country and analysis band (schema.AGE_BANDS) in ``year``: the weights that
    average country predictions into a region or the world. From the WPP five-year groups
    (both sexes) of country rows; columns [iso3, age_band, population]."""
    _require_columns(population, ["location_type", "iso3", "year", "age_min", "population"],
                     "population frame")
    rows = population.loc[(population["location_type"] == "Country/Area").to_numpy(dtype=bool)
                          & (population["year"] == year).to_numpy(dtype=bool)
                          & population["iso3"].isin(list(iso3)).to_numpy(dtype=bool)]
    edges = [lo for _, lo, _ in schema.AGE_BANDS][1:]
    band = np.asarray(schema.AGE_BAND_LABELS, dtype=object)[
        np.searchsorted(edges, rows["age_min"].to_numpy(dtype=float), side="right")]
    out = (rows.assign(age_band=band).groupby(["iso3", "age_band"], observed=True)["population"]
           .sum().reset_index())
    return out.astype({"iso3": "object", "population": "float64"})


def model_cells(age_bands: Sequence[str] | None = None,
                diet_groups: Sequence[str] | None = None) -> pd.DataFrame:
    """The age band x diet cells a view asks the model for: the view's analysis bands (all
    five when it names none; "wide" and "unknown" have no population) by its modelled diet
    groups (MODELLED_DIETS when it names none). Columns [age_band, diet_group]."""
    bands = [b for b in schema.AGE_BAND_LABELS if not age_bands or b in age_bands]
    diets = [d for d in MODELLED_DIETS if not diet_groups or d in diet_groups]
    return pd.DataFrame([(b, d) for b in bands for d in diets],
                        columns=["age_band", "diet_group"], dtype="object")


@dataclass(frozen=True)
class ModelledCells:
    """Joint draws of the modelled prevalence of a view's cells for one population.

    ``cells`` holds one row per cell (age_band, diet_group, optional cutoff) with
    ``estimable``, ``support_diet`` and ``support_age``; ``point`` and ``draws`` (cells x
    draws) are its population-weighted point estimates and draws; ``band_population`` the
    people of each age band in the population (the weights that join bands, e.g. 60-79 and
    80+ into "aged 60+"); ``support_location`` the independent studies the model fits in the
    population's countries.
    """

    cells: pd.DataFrame
    point: np.ndarray
    draws: np.ndarray
    population: ModelPopulation
    band_population: dict[str, float]
    support_location: int


def draw_modelled(
    fitted: model.Model,
    cells: pd.DataFrame,
    population: ModelPopulation,
    weights: pd.DataFrame,
    *,
    definition: str = schema.DEFAULT_DEFINITION,
    draws: int = MODEL_DRAWS,
    seed: int = model.DEFAULT_SEED,
) -> ModelledCells:
    """The modelled prevalence of each row of ``cells`` for ``population``, with joint draws.

    ``cells`` rows hold age_band (an analysis band), diet_group (MODELLED_DIETS) and
    optionally ``cutoff`` (pmol/L; else ``definition``'s cut-offs). Every cell is predicted
    for every country of ``population`` (``Model.estimate_draws``); a cell's prevalence is
    the mean over countries weighted by their people in its age band (``weights``:
    ``population_weights``), draw by draw, so that its interval carries the joint
    uncertainty of the fixed effects and of each country's and region's effect.
    ``estimable`` is False where the model extrapolates (``Model.estimable``: no estimates of
    the diet group near those ages, or a cut-off beyond the fitted ones); it and the diet
    and age support do not depend on the country, so one country is asked.
    """
    _require_columns(cells, ["age_band", "diet_group"], "cells")
    unknown = sorted(set(cells["age_band"].astype(str)) - set(_BANDS))
    if unknown:
        raise ValueError(f"cells need analysis age bands, got {unknown}")
    cells = cells.reset_index(drop=True)
    n_cells, n_places = len(cells), len(population.iso3)

    def queries(frame: pd.DataFrame, iso3: np.ndarray) -> pd.DataFrame:
        q = frame.assign(iso3=iso3, age_min=[_BANDS[b][0] for b in frame["age_band"]],
                         age_max=[_BANDS[b][1] for b in frame["age_band"]],
                         sex=population.sex, supplement_users=population.supplement_users,
                         pregnancy="not_pregnant")
        return q if "cutoff" in q else q.assign(definition=definition)

    every = cells.loc[np.tile(np.arange(n_cells), n_places)].reset_index(drop=True)
    query = queries(every, np.repeat(np.asarray(population.iso3, dtype=object), n_cells))
    point, sampled = fitted.estimate_draws(query, draws=draws, seed=seed)
    w = query[["iso3", "age_band"]].merge(weights, on=["iso3", "age_band"], how="left")[
        "population"].fillna(0.0).to_numpy(dtype=float).reshape(n_places, n_cells)
    totals = w.sum(axis=0)
    if (totals <= 0).any():
        raise ValueError("a modelled cell has no population to weight it")
    share = (w / totals).reshape(-1)
    cell_of = np.tile(np.arange(n_cells), n_places)
    agg = np.zeros((n_cells, len(query)))
    agg[cell_of, np.arange(len(query))] = share
    probe = queries(cells, np.full(n_cells, population.iso3[0], dtype=object))
    support = fitted.support(probe)
    out = cells.assign(estimable=fitted.estimable(probe).to_numpy(dtype=bool),
                       support_diet=support["support_diet"].to_numpy(),
                       support_age=support["support_age"].to_numpy())
    bands = weights.loc[weights["iso3"].isin(population.iso3)].groupby(
        "age_band", observed=True)["population"].sum()
    studied = fitted.data.loc[fitted.data["iso3"].isin(population.iso3), "sample_id"]
    return ModelledCells(out, agg @ point, agg @ sampled, population,
                         {str(k): float(v) for k, v in bands.items()}, int(studied.nunique()))


def summarize_modelled(modelled: ModelledCells, level: float = 0.95) -> pd.DataFrame:
    """One row per cell: its columns and MODELLED_COLUMNS. ``estimate`` is the weighted
    mean of the countries' point predictions, ``ci_low``/``ci_high`` the ``level`` quantiles
    of the weighted draws: uncertainty of the population's prevalence, not the spread of
    studies. A cell with ``estimable`` False must be shown marked, never as a plain number.
    ``support_location`` counts the independent studies the model fits in the population's
    countries, ``support_diet`` those of the cell's diet group (any diet for the general
    population), ``support_age`` those whose ages overlap the cell's."""
    alpha = (1 - level) / 2
    out = modelled.cells.copy()
    out["estimate"] = modelled.point
    out["ci_low"] = np.quantile(modelled.draws, alpha, axis=1)
    out["ci_high"] = np.quantile(modelled.draws, 1 - alpha, axis=1)
    out["support_location"] = modelled.support_location
    out["n_countries"] = len(modelled.population.iso3)
    return out


def _band_mix(modelled: ModelledCells, diet: str, age_bands: Sequence[str] | None
              ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame] | None:
    """Weights joining one diet group's cells over age bands by their people, the cells
    joined, or None when the view holds none of them."""
    cells = modelled.cells
    chosen = ((cells["diet_group"] == diet)
              & cells["age_band"].isin(list(age_bands or schema.AGE_BAND_LABELS)))
    if "cutoff" in cells:
        raise ValueError("join cells of one cut-off: these cells carry several")
    index = np.flatnonzero(chosen.to_numpy(dtype=bool))
    if not len(index):
        return None
    people = np.array([modelled.band_population.get(b, 0.0)
                       for b in cells["age_band"].iloc[index]])
    return index, people / people.sum(), cells.iloc[index]


def combine_modelled(modelled: ModelledCells, diet: str,
                     age_bands: Sequence[str] | None = None, level: float = 0.95
                     ) -> dict[str, float | bool | int] | None:
    """One diet group's modelled prevalence over several age bands (all when None), the
    bands weighted by their people in the population: estimate, ci_low, ci_high, estimable
    (every band), support_diet and support_age (the fewest behind any band). None when
    ``modelled`` has none of those cells."""
    mix = _band_mix(modelled, diet, age_bands)
    if mix is None:
        return None
    index, weight, cells = mix
    sampled = weight @ modelled.draws[index]
    alpha = (1 - level) / 2
    return {"estimate": float(weight @ modelled.point[index]),
            "ci_low": float(np.quantile(sampled, alpha)),
            "ci_high": float(np.quantile(sampled, 1 - alpha)),
            "estimable": bool(cells["estimable"].all()),
            "support_diet": int(cells["support_diet"].min()),
            "support_age": int(cells["support_age"].min()),
            "support_location": modelled.support_location}


def contrast_modelled(modelled: ModelledCells, first: str, second: str,
                      age_bands: Sequence[str] | None = None, level: float = 0.95
                      ) -> dict[str, float | bool] | None:
    """Modelled difference in prevalence, diet group ``first`` minus ``second``, for the same
    people and ages (``combine_modelled``'s weights), draw by draw: the model's contrast with
    age, sex, place, cut-off and sample frame held equal, unlike the difference of two pools
    from different studies. Returns difference, ci_low, ci_high and estimable (both
    groups), or None when either group is missing."""
    a, b = _band_mix(modelled, first, age_bands), _band_mix(modelled, second, age_bands)
    if a is None or b is None:
        return None
    diff = a[1] @ modelled.draws[a[0]] - b[1] @ modelled.draws[b[0]]
    alpha = (1 - level) / 2
    return {"difference": float(a[1] @ modelled.point[a[0]] - b[1] @ modelled.point[b[0]]),
            "ci_low": float(np.quantile(diff, alpha)),
            "ci_high": float(np.quantile(diff, 1 - alpha)),
            "estimable": bool(a[2]["estimable"].all() and b[2]["estimable"].all())}


def pool_by_cutoff(
    studies: pd.DataFrame,
    by: Sequence[str] = ("age_band", "diet_group"),
    *,
    cutoff_range: tuple[float, float] = CUTOFF_RANGE,
    method: str = "REML",
    level: float = 0.95,
) -> pd.DataFrame:
    """Pooled share below each published serum B12 cut-off, per group (``pool_groups``).

    Rows: serum/plasma B12 "below a cut-off" estimates in pmol/L within ``cutoff_range``
    (bands such as 148-221 are not a share below one cut-off and are left out). Each
    definition pools on its own, whatever status its authors gave it: the share below 185
    pmol/L is one quantity whether called deficient or low. ``cutoff`` is the definition's
    nominal cut-off (schema.DEFINITIONS; a generated id's own). Columns [definition,
    definition_label, cutoff, *by, *POOLED_COLUMNS].
    """
    by = list(by)
    _require_columns(studies, ["biomarker", "cutoff_operator", "cutoff_low", "cutoff_high",
                               "canonical_unit", "definition", *by], "studies frame")
    low = pd.to_numeric(studies["cutoff_low"], errors="coerce")
    keep = ((studies["biomarker"].astype("object") == "serum_b12")
            & studies["cutoff_operator"].isin(["<", "<="]) & studies["cutoff_high"].isna()
            & (studies["canonical_unit"] == "pmol/L") & studies["definition"].notna()
            & low.between(*cutoff_range))
    rows = studies.loc[keep.to_numpy(dtype=bool)]
    parts = []
    for definition, group in rows.groupby("definition", sort=True, observed=True):
        pooled = pool_groups(group.assign(status="below"), by=by, method=method, level=level)
        if pooled.empty:
            continue
        d = schema.DEFINITIONS_BY_ID.get(str(definition))
        cutoff = d.cutoff if d is not None else float(low[group.index].median())
        parts.append(pooled.assign(definition=str(definition),
                                   definition_label=definition_label(str(definition)),
                                   cutoff=cutoff))
    columns = ["definition", "definition_label", "cutoff", *by, *POOLED_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns)
    # pool_groups orders each definition's groups as the vocabularies do
    out = pd.concat(parts, ignore_index=True)[columns]
    return out.sort_values("cutoff", kind="stable").reset_index(drop=True)


def cutoff_cells(cells: pd.DataFrame, cutoffs: Iterable[float]) -> pd.DataFrame:
    """``cells`` repeated at each cut-off (pmol/L): the crosswalk's curve points."""
    grid = pd.DataFrame({"cutoff": [float(c) for c in cutoffs]})
    return cells.merge(grid, how="cross")


def compare_observed_modelled(pooled: pd.DataFrame, modelled: pd.DataFrame,
                              by: Sequence[str] = ("age_band", "diet_group")) -> pd.DataFrame:
    """Pooled and modelled estimates of the same cells side by side (outer join on ``by``):
    [*by, pooled_estimate, pooled_ci_low, pooled_ci_high, k, n_total, modelled_estimate,
    modelled_ci_low, modelled_ci_high, estimable, support_location, support_diet,
    support_age]. A cell only one side has keeps NaN on the other."""
    by = list(by)
    left = pooled.loc[:, [*by, "estimate", "ci_low", "ci_high", "k", "n_total"]].rename(
        columns={c: f"pooled_{c}" for c in ("estimate", "ci_low", "ci_high")})
    right = modelled.loc[:, [*by, "estimate", "ci_low", "ci_high", "estimable",
                             "support_location", "support_diet", "support_age"]].rename(
        columns={c: f"modelled_{c}" for c in ("estimate", "ci_low", "ci_high")})
    out = left.astype({b: "object" for b in by}).merge(
        right.astype({b: "object" for b in by}), on=by, how="outer")
    for column in by:
        key = _sort_key(column)
        if key is not None:
            out = out.sort_values(column, key=key, kind="stable")
    return out.reset_index(drop=True)


def select_cells(cells: pd.DataFrame, age_bands: Sequence[str] | None = None,
                 diet_groups: Sequence[str] | None = None) -> pd.DataFrame:
    """The modelled cells a view's age and diet filters keep (all when a filter is empty)."""
    keep = pd.Series(True, index=cells.index)
    if age_bands:
        keep &= cells["age_band"].isin(list(age_bands))
    if diet_groups:
        keep &= cells["diet_group"].isin(list(diet_groups))
    return cells.loc[keep.to_numpy(dtype=bool)].reset_index(drop=True)
