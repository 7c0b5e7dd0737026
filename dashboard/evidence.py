"""The structure of the evidence table: overlap between estimates, effective sample sizes,
age-band assignment of study age ranges, and the data checks the build reports.

One publication (``study_id``) reports several estimates (``estimate_id``); an estimate can be
a subgroup of another (``parent_id``: the men and women of an "all" row, the supplement users
and non-users of an "all" row); two publications can describe the same people
(``sample_id``). Whatever pools or models the evidence takes one non-overlapping set of
estimates per sample and definition from ``non_overlapping``: the whole, or the finest
complete partition of it, never both. ``k`` counts samples (independent studies), not rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from dashboard import schema

ArrayLike = Sequence[float] | np.ndarray | pd.Series

PREFERENCES: tuple[str, ...] = ("whole", "finest")

# --- Age ranges ------------------------------------------------------------------------------


def age_span(age_min: float | None, age_max: float | None) -> tuple[float, float] | None:
    """Years [lo, hi) covered by a study's age range in whole years, or None if unknown.

    ``age_max`` is inclusive (a "20-39" row covers [20, 40)). An open-ended range (no
    ``age_max``, e.g. "65+") is taken to cover 2 x schema.OPEN_BAND_MIDPOINT_OFFSET years
    from ``age_min``, the span the older single-midpoint rule assumed.
    """
    if age_min is None or (isinstance(age_min, float) and math.isnan(age_min)):
        return None
    lo = float(age_min)
    if age_max is None or (isinstance(age_max, float) and math.isnan(age_max)):
        return lo, lo + 2 * schema.OPEN_BAND_MIDPOINT_OFFSET
    if age_max < age_min:
        raise ValueError(f"age_max {age_max} is below age_min {age_min}")
    return lo, float(age_max) + 1


def age_band_for(age_min: float | None, age_max: float | None) -> str:
    """Analysis band (schema.AGE_BANDS) of a study's age range, or a marker when there is none.

    A range is placed in the band that holds at least schema.AGE_BAND_MIN_SHARE of its years
    (``age_span``): "35-64" lies 67% in 40-59 and goes there; "26-83" spreads over four bands
    and is schema.WIDE_AGE_BAND, as is "51+" (45% 40-59, 55% 60-79). Such rows are shown under
    their own label and never stand for one band; a model uses the numbers themselves. A row
    without ``age_min`` is schema.UNKNOWN_AGE_BAND.
    """
    span = age_span(age_min, age_max)
    if span is None:
        return schema.UNKNOWN_AGE_BAND
    lo, hi = span
    width = hi - lo
    for label, band_lo, band_hi in schema.AGE_BANDS:
        top = math.inf if band_hi is None else band_hi + 1
        covered = max(0.0, min(hi, top) - max(lo, band_lo))
        if covered / width >= schema.AGE_BAND_MIN_SHARE - 1e-12:
            return label
    if lo >= schema.AGE_BANDS[-1][1] or hi <= 0:  # pragma: no cover - bands cover 0..inf
        raise ValueError(f"ages {lo}-{hi} lie outside every analysis band")
    return schema.WIDE_AGE_BAND


# --- Effective sample size -------------------------------------------------------------------


def effective_n(
    prevalence: ArrayLike,
    ci_low: ArrayLike,
    ci_high: ArrayLike,
    n: ArrayLike | None = None,
    level: float = 0.95,
) -> np.ndarray:
    """Effective sample size implied by a published interval, on the logit scale.

    se = (logit(ci_high) - logit(ci_low)) / (2 z), z the normal quantile of ``level``; the
    effective n is the binomial n with that standard error at the published prevalence p:
    n_eff = 1 / (se^2 p (1 - p)) (delta method: var(logit p) = 1 / (n p (1 - p))). An interval
    that touches 0 or 100% uses its other half alone (se = (logit(hi) - logit(p)) / z). A design
    effect above 1 makes n_eff smaller than the people examined; where ``n`` is given n_eff is
    capped at it, as the NCHS standards cap effective sample sizes (Parker et al. 2017). NaN
    where p, the interval or p(1-p) is missing or zero, or p lies outside the interval.

    Example: p = 18.5%, 95% CI 4.4-53.1% (a published survey stratum of n = 499):
    logit(0.531) - logit(0.044) = 0.1241 + 3.0783 = 3.2024, se = 3.2024 / 3.9199 = 0.8170,
    n_eff = 1 / (0.8170^2 x 0.185 x 0.815) = 9.9.
    """
    p = np.asarray(prevalence, dtype=float)
    lo = np.asarray(ci_low, dtype=float)
    hi = np.asarray(ci_high, dtype=float)
    z = sps.norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        logit = lambda x: np.log(x) - np.log1p(-x)  # noqa: E731
        both = (lo > 0) & (hi < 1)
        se = np.where(
            both,
            (logit(hi) - logit(lo)) / (2 * z),
            np.where(lo <= 0, (logit(hi) - logit(p)) / z, (logit(p) - logit(lo)) / z),
        )
        out = 1.0 / (se**2 * p * (1 - p))
    bad = (
        np.isnan(p) | np.isnan(lo) | np.isnan(hi) | (p <= 0) | (p >= 1) | (lo > p) | (hi < p)
        | ~np.isfinite(out) | (se <= 0)
    )
    out = np.where(bad, np.nan, out)
    if n is not None:
        cap = np.asarray(n, dtype=float)
        out = np.where(~np.isnan(cap) & (out > cap), cap, out)
    return out


# --- Overlap ---------------------------------------------------------------------------------


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == "" or (
        not isinstance(value, str) and pd.isna(value)
    )


def check_structure(studies: pd.DataFrame) -> list[str]:
    """Problems with the subgroup and repeat links of an evidence table (empty when sound).

    Each ``parent_id`` and ``repeat_of`` names an estimate of the same study with the same
    biomarker, cut-off and status; links form no cycle; every subgroup says what splits its
    parent (``split``, one of schema.SPLITS) and a row that is no subgroup has no split.
    """
    by_id = studies.set_index("estimate_id", drop=False)
    if by_id.index.has_duplicates:
        dup = sorted(by_id.index[by_id.index.duplicated()].unique())
        return [f"estimate_id repeated: {', '.join(dup)}"]
    same = ("study_id", "biomarker", "cutoff_operator", "cutoff_value", "cutoff_unit", "status")
    problems: list[str] = []
    for record in studies.to_dict("records"):
        eid = record["estimate_id"]
        for link in ("parent_id", "repeat_of"):
            target = record.get(link)
            if _blank(target):
                continue
            if target not in by_id.index:
                problems.append(f"{eid}: {link} {target} is not an estimate_id")
                continue
            other = by_id.loc[target]
            differ = [c for c in same if str(record[c]) != str(other[c])]
            if differ:
                problems.append(f"{eid}: differs from its {link} {target} in {', '.join(differ)}")
            seen, node = {eid}, target
            while not _blank(node) and node in by_id.index:
                if node in seen:
                    problems.append(f"{eid}: {link} links form a cycle")
                    break
                seen.add(node)
                node = by_id.loc[node, link]
        split = record.get("split")
        if _blank(record.get("parent_id")) != _blank(split):
            problems.append(f"{eid}: a subgroup needs a split and only a subgroup has one")
        elif not _blank(split) and split not in schema.SPLITS:
            problems.append(f"{eid}: split {split!r} is not one of {', '.join(schema.SPLITS)}")
    return problems


LINK_COLUMNS: tuple[str, ...] = ("estimate_id", "parent_id", "split", "repeat_of", "sample_id")


def with_links(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the link columns the overlap rules read, added where absent: a frame
    without them (a hand-made table) has no subgroups or repeats, each row is its own
    estimate and each study its own sample."""
    missing = [c for c in LINK_COLUMNS if c not in rows]
    if not missing:
        return rows
    out = rows.copy()
    if "estimate_id" in missing:
        out["estimate_id"] = [f"{s}#{i}" for s, i in zip(out["study_id"], range(len(out)),
                                                          strict=True)]
    for column in ("parent_id", "split", "repeat_of"):
        if column in missing:
            out[column] = None
    if "sample_id" in missing:
        out["sample_id"] = out["study_id"]
    return out


def non_overlapping(rows: pd.DataFrame, prefer: str = "whole") -> pd.DataFrame:
    """The rows of one pooling group that together count nobody twice.

    ``rows`` hold one definition and status (one pooling group). Per family of estimates
    (an estimate with its subgroups, linked by ``parent_id`` among the rows given):
    ``prefer="whole"`` keeps the whole when it can be pooled (``usable_for == "pooling"``),
    else its subgroups; ``prefer="finest"`` keeps the finest complete partition (subgroups of
    one ``split`` whose n add up to the whole's n, each resolved the same way), else the whole.
    Subgroups of one split never share people; of two splits (age and area, say) only one is
    used: the complete one with most subgroups, or, standing in for a whole that cannot be
    pooled, the one holding most people. A subgroup whose parent is not among the rows
    stands alone. A later measurement of people already kept (``repeat_of``) is dropped. Then
    per ``sample_id`` one publication stays: the one whose kept rows hold the most people
    (ties: the first estimate_id). Returns the kept rows, all poolable, in input order.
    """
    rows = with_links(rows)
    keep = non_overlapping_ids(rows, prefer)
    return rows[rows["estimate_id"].isin(keep)]


# The columns ``non_overlapping`` reads; a slim frame of them is enough to choose rows.
OVERLAP_COLUMNS: tuple[str, ...] = (*LINK_COLUMNS, "study_id", "n", "usable_for")


def non_overlapping_ids(rows: pd.DataFrame, prefer: str = "whole") -> set[str]:
    """The estimate_ids ``non_overlapping`` keeps (it reads only OVERLAP_COLUMNS, as plain
    lists: a wide table's rows are never materialised, which keeps a refit's choice of rows
    cheap)."""
    if prefer not in PREFERENCES:
        raise ValueError(f"prefer must be one of {', '.join(PREFERENCES)}, got {prefer!r}")
    rows = with_links(rows)
    columns = [c for c in OVERLAP_COLUMNS if c in rows]
    return kept_ids({c: rows[c].astype("object").tolist() for c in columns}, prefer)


def kept_ids(values: dict[str, list], prefer: str = "whole") -> set[str]:
    """``non_overlapping_ids`` on plain lists: ``values`` maps each of OVERLAP_COLUMNS the
    rows hold (the link columns at least, as ``with_links`` adds them) to its values, one per
    row. Lets a caller that pools many groups convert the columns once, not once a group."""
    if prefer not in PREFERENCES:
        raise ValueError(f"prefer must be one of {', '.join(PREFERENCES)}, got {prefer!r}")
    columns = list(values)
    records = {
        eid: {c: values[c][i] for c in columns} for i, eid in enumerate(values["estimate_id"])
    }
    parent_of = {
        e: r["parent_id"] for e, r in records.items()
        if not _blank(r.get("parent_id")) and r["parent_id"] in records
    }
    children: dict[str, dict[str, list[str]]] = {}
    for child, parent in parent_of.items():
        split = str(records[child].get("split") or "")
        children.setdefault(parent, {}).setdefault(split, []).append(child)

    def people(eids: list[str]) -> float:
        values = [records[e]["n"] for e in eids]
        return float(sum(0 if _blank(v) else float(v) for v in values))

    def complete(eid: str, kids: list[str], kid_sets: list[list[str]]) -> bool:
        total = records[eid]["n"]
        return (
            all(kid_sets)
            and not _blank(total)
            and all(not _blank(records[k]["n"]) for k in kids)
            and people(kids) == float(total)
        )

    def resolve(eid: str) -> list[str]:
        options = []
        for split, kids in sorted(children.get(eid, {}).items()):
            kid_sets = [resolve(k) for k in kids]
            flat = [e for ks in kid_sets for e in ks]
            options.append((complete(eid, kids, kid_sets), len(kids), people(flat), split, flat))
        usable = records[eid]["usable_for"] == "pooling"
        full = [o for o in options if o[0]]
        if usable and (prefer == "whole" or not full):
            return [eid]
        if full:
            return max(full, key=lambda o: (o[1], o[2], [-ord(c) for c in o[3]]))[4]
        standing = [o for o in options if o[4]]
        if not standing:
            return []
        return max(standing, key=lambda o: (o[2], o[1], [-ord(c) for c in o[3]]))[4]

    keep: set[str] = set()
    for eid in records:
        if eid not in parent_of:
            keep.update(resolve(eid))
    for eid in list(keep):
        node = records[eid].get("repeat_of")
        while not _blank(node) and node in records:
            if node in keep:
                keep.discard(eid)
                break
            node = records[node].get("repeat_of")
    # Per sample, the publication whose kept rows hold most people (ties: first estimate_id).
    totals: dict[tuple[object, object], list] = {}
    for eid in keep:
        r = records[eid]
        n = 0.0 if _blank(r["n"]) else float(r["n"])
        entry = totals.setdefault((r["sample_id"], r["study_id"]), [0.0, eid])
        entry[0] += n
        entry[1] = min(entry[1], eid)
    best: dict[object, tuple[float, str, object]] = {}
    for (sample, study), (people_n, first) in totals.items():
        current = best.get(sample)
        if current is None or (-people_n, first) < (-current[0], current[1]):
            best[sample] = (people_n, first, study)
    chosen = {study for _, _, study in best.values()}
    return {eid for eid in keep if records[eid]["study_id"] in chosen}


def overlapping_pairs(rows: pd.DataFrame, all_rows: pd.DataFrame) -> list[tuple[str, str]]:
    """Pairs of ``rows`` that share people: one is an ancestor of the other (by ``parent_id``
    in ``all_rows``) or a repeat of it (``repeat_of``), or they come from different
    publications of one ``sample_id`` with the same definition, status, sex, diet and
    overlapping ages. Empty for a sound pooled set."""
    ids = list(rows["estimate_id"])
    chosen = set(ids)
    pairs: list[tuple[str, str]] = []
    for link in ("parent_id", "repeat_of"):
        target = dict(zip(all_rows["estimate_id"], all_rows[link], strict=True))
        for eid in ids:
            node = target.get(eid)
            while isinstance(node, str) and node:
                if node in chosen:
                    pairs.append((node, eid))
                node = target.get(node)
    keyed = rows.assign(_lo=rows["age_min"].astype("Float64").fillna(0),
                        _hi=rows["age_max"].astype("Float64").fillna(200))
    for _, group in keyed.groupby(["sample_id", "definition", "status", "sex", "diet_group"],
                                  observed=True, dropna=False):
        if group["study_id"].nunique() < 2:
            continue
        recs = group.to_dict("records")
        for i, a in enumerate(recs):
            for b in recs[i + 1:]:
                if a["study_id"] != b["study_id"] and a["_lo"] <= b["_hi"] and b["_lo"] <= a["_hi"]:
                    pairs.append((a["estimate_id"], b["estimate_id"]))
    return pairs


def count_samples(rows: pd.DataFrame) -> int:
    """Independent studies among ``rows``: distinct ``sample_id`` (publications of one sample
    count once)."""
    return int(rows["sample_id"].nunique())


# --- Data checks -----------------------------------------------------------------------------

COVERAGE_DIETS: tuple[str, ...] = ("omnivore", "pescatarian", "vegetarian", "vegan", "general")


def coverage_table(studies: pd.DataFrame) -> pd.DataFrame:
    """Age band x diet group: estimate rows, independent studies, and studies with n.

    One row per band (schema.AGE_BAND_LABELS, then wide and unknown), one block of three
    columns per diet (COVERAGE_DIETS; semi-vegetarian rows are not counted). Counts every row,
    whatever its definition: it says where evidence exists at all.
    """
    bands = (*schema.AGE_BAND_LABELS, schema.WIDE_AGE_BAND, schema.UNKNOWN_AGE_BAND)
    frame = studies.assign(
        _band=studies["age_band"].astype("object"), _diet=studies["diet_group"].astype("object")
    )
    has_n = pd.to_numeric(frame["n"], errors="coerce").notna()
    records = []
    for band in bands:
        record: dict[str, object] = {"age_band": band}
        for diet in COVERAGE_DIETS:
            cell = frame[(frame["_band"] == band) & (frame["_diet"] == diet)]
            record[f"{diet}_rows"] = len(cell)
            record[f"{diet}_studies"] = count_samples(cell)
            record[f"{diet}_studies_with_n"] = count_samples(cell[has_n.loc[cell.index]])
        records.append(record)
    return pd.DataFrame(records)


def frame_counts(studies: pd.DataFrame) -> pd.DataFrame:
    """Rows and independent studies per sample frame (schema.SAMPLE_FRAMES order)."""
    records = []
    for frame in schema.SAMPLE_FRAMES:
        rows = studies[studies["sample_frame"].astype("object") == frame]
        records.append({"sample_frame": frame, "rows": len(rows), "studies": count_samples(rows)})
    return pd.DataFrame(records)


def source_kind_counts(studies: pd.DataFrame) -> pd.DataFrame:
    """Rows and independent studies per source kind (schema.SOURCE_KINDS order): figures read
    in the publication itself, or only in another publication."""
    records = []
    for kind in schema.SOURCE_KINDS:
        rows = studies[studies["source_kind"].astype("object") == kind]
        records.append({"source_kind": kind, "rows": len(rows), "studies": count_samples(rows)})
    return pd.DataFrame(records)


def overlap_structure(studies: pd.DataFrame) -> pd.DataFrame:
    """Each estimate that has subgroups in the table, once per split: its study, the split,
    how many subgroups, and whether their n add up to its n (a complete partition)."""
    by_id = studies.set_index("estimate_id", drop=False)
    children = studies[studies["parent_id"].notna() & (studies["parent_id"] != "")]
    records = []
    for (parent, split), group in children.groupby(["parent_id", "split"], sort=True):
        whole = by_id.loc[parent]
        n = pd.to_numeric(group["n"], errors="coerce")
        total = pd.to_numeric(pd.Series([whole["n"]]), errors="coerce").iloc[0]
        records.append({
            "estimate_id": parent,
            "study_id": whole["study_id"],
            "split": split,
            "subgroups": len(group),
            "complete": bool(n.notna().all() and pd.notna(total) and n.sum() == total),
        })
    return pd.DataFrame(records, columns=["estimate_id", "study_id", "split", "subgroups",
                                          "complete"])


def shared_samples(studies: pd.DataFrame) -> pd.DataFrame:
    """Samples reported by more than one publication: sample_id and the study_ids."""
    groups = studies.groupby("sample_id", sort=True)["study_id"].unique()
    records = [
        {"sample_id": sample, "study_ids": ", ".join(sorted(ids))}
        for sample, ids in groups.items() if len(ids) > 1
    ]
    return pd.DataFrame(records, columns=["sample_id", "study_ids"])


def excluded_rows(studies: pd.DataFrame) -> pd.DataFrame:
    """Rows that cannot be pooled or modelled, with the reason (from the build)."""
    rows = studies[studies["usable_for"].astype("object") != "pooling"]
    return rows[["estimate_id", "study_id", "reason"]].reset_index(drop=True)


def reason_counts(studies: pd.DataFrame) -> pd.DataFrame:
    """How many rows each exclusion reason removes (a row can have several reasons)."""
    reasons = excluded_rows(studies)["reason"].dropna().str.split("; ").explode()
    counts = reasons.value_counts().rename_axis("reason").reset_index(name="rows")
    return counts.sort_values(["rows", "reason"], ascending=[False, True]).reset_index(drop=True)


def flag_text(sample_frame: object, pregnancy: object) -> str:
    """Short mark for a population that is not a general-population sample: "pregnant",
    "clinic sample", "care home", "diet cohort", joined by "; ", or "" for none."""
    marks: list[str] = []
    if isinstance(pregnancy, str) and pregnancy not in ("not_pregnant", ""):
        marks.append(schema.PREGNANCY_MARKS[pregnancy])
    if isinstance(sample_frame, str) and sample_frame in schema.SAMPLE_FRAME_MARKS:
        marks.append(schema.SAMPLE_FRAME_MARKS[sample_frame])
    return "; ".join(marks)


def population_marks(studies: pd.DataFrame) -> pd.Series:
    """``flag_text`` for every row of a studies frame."""
    return pd.Series(
        [flag_text(f, p) for f, p in zip(studies["sample_frame"].astype("object"),
                                         studies["pregnancy"].astype("object"), strict=True)],
        index=studies.index, dtype="str",
    )


def count_disagreements(studies: pd.DataFrame) -> pd.DataFrame:
    """Rows whose reported count and percentage disagree (the build's ``data_check``)."""
    rows = studies[studies["data_check"].notna()]
    return rows[["estimate_id", "study_id", "data_check"]].reset_index(drop=True)


# The evidence-depth goals the table is grown towards (data/sources/literature/README.md).
DEPTH_GOALS: dict[str, int] = {
    "rows": 450, "studies": 160, "countries": 60, "diet_cells": 15, "surveys": 30,
    "survey_countries": 25, "survey_regions": len(schema.WPP_REGIONS), "multi_cutoff": 20,
}
DEPTH_DIETS: tuple[str, ...] = ("omnivore", "vegetarian", "vegan")
SURVEY_FRAMES: tuple[str, ...] = ("national_survey", "subnational_survey")


def age_band_surveys(studies: pd.DataFrame) -> pd.DataFrame:
    """Surveys with general-population rows by age band: per national or subnational survey
    sample of one country (multi-country reviews left out), its country, region and the age
    bands (schema.AGE_BAND_LABELS) of its general rows. These anchor the model's country and
    region effects."""
    frame = studies.assign(_band=studies["age_band"].astype("object"))
    rows = frame[frame["sample_frame"].astype("object").isin(SURVEY_FRAMES)
                 & (frame["country_iso3"].astype("object") != "MULTI")
                 & (frame["diet_group"].astype("object") == "general")
                 & frame["_band"].isin(schema.AGE_BAND_LABELS)]
    records = [
        {"sample_id": sample, "country_iso3": group["country_iso3"].iloc[0],
         "region": group["region"].iloc[0] if "region" in group else None,
         "age_bands": ", ".join(b for b in schema.AGE_BAND_LABELS if b in set(group["_band"]))}
        for sample, group in rows.groupby("sample_id", sort=True, observed=True)
    ]
    return pd.DataFrame(records, columns=["sample_id", "country_iso3", "region", "age_bands"])


def multi_cutoff_samples(studies: pd.DataFrame) -> list[str]:
    """Samples that report two or more cut-off definitions on the same people (one stratum:
    sex, ages, diet group and pregnancy; later measurements, ``repeat_of``, and
    multi-country reviews left out): the
    pairs the cut-off crosswalk learns from."""
    first = studies[studies["repeat_of"].map(_blank) & studies["definition"].notna()
                    & (studies["country_iso3"].astype("object") != "MULTI")]
    keys = ["sample_id", "sex", "age_min", "age_max", "diet_group", "pregnancy"]
    counts = (first.astype({k: "object" for k in keys})
              .groupby(keys, dropna=False, sort=True)["definition"].nunique())
    return sorted({key[0] for key, k in counts.items() if k >= 2})


def depth_targets(studies: pd.DataFrame) -> pd.DataFrame:
    """The evidence-depth goals against the table: goal, value now and whether it is met.

    Studies are independent samples (``count_samples``); countries leave out multi-country
    rows; a diet cell is an age band x {omnivore, vegetarian, vegan} with >= 3 independent
    studies with n; surveys are ``age_band_surveys``; pescatarian rows have no goal (as many
    as exist) and are listed for the record, as are countries with a poolable row.
    """
    countries = studies["country_iso3"].astype("object")
    countries = countries[countries.notna() & (countries != "MULTI")]
    pooled = studies[studies["usable_for"].astype("object") == "pooling"]
    pooled_countries = pooled["country_iso3"].astype("object")
    table = coverage_table(studies)
    cells = table[table["age_band"].isin(schema.AGE_BAND_LABELS)]
    backed = int(sum((cells[f"{d}_studies_with_n"] >= 3).sum() for d in DEPTH_DIETS))
    surveys = age_band_surveys(studies)
    regions = surveys["region"].dropna()
    values = {
        "rows": len(studies), "studies": count_samples(studies),
        "countries": int(countries.nunique()), "diet_cells": backed,
        "surveys": len(surveys), "survey_countries": int(surveys["country_iso3"].nunique()),
        "survey_regions": int(regions[regions.isin(schema.WPP_REGIONS)].nunique()),
        "multi_cutoff": len(multi_cutoff_samples(studies)),
    }
    labels = {
        "rows": "estimate rows", "studies": "independent studies", "countries": "countries",
        "diet_cells": "age band x diet cells with >= 3 studies with n (of 15)",
        "surveys": "surveys with general-population rows by age band",
        "survey_countries": "countries of those surveys",
        "survey_regions": f"WPP regions of those surveys (of {len(schema.WPP_REGIONS)})",
        "multi_cutoff": "studies with two or more cut-offs on the same people",
    }
    records = [{"target": labels[k], "goal": DEPTH_GOALS[k], "now": values[k],
                "met": values[k] >= DEPTH_GOALS[k]} for k in DEPTH_GOALS]
    records.append({"target": "countries with a poolable row", "goal": None,
                    "now": int(pooled_countries[pooled_countries != "MULTI"].nunique()),
                    "met": None})
    pescatarian = studies[studies["diet_group"].astype("object") == "pescatarian"]
    records.append({"target": "pescatarian rows", "goal": None, "now": len(pescatarian),
                    "met": None})
    return pd.DataFrame(records, columns=["target", "goal", "now", "met"]).astype(
        {"goal": "Int64", "now": "Int64", "met": "object"})


def _markdown(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        if isinstance(value, bool | np.bool_):
            return "yes" if value else "no"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(frame.columns) + " |",
             "| " + " | ".join("---" for _ in frame.columns) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines) + "\n"


def coverage_summary(studies: pd.DataFrame) -> pd.DataFrame:
    """``coverage_table`` in one cell per age band x diet: "rows / studies / studies with n"."""
    table = coverage_table(studies)
    out = pd.DataFrame({"age band": table["age_band"]})
    for diet in COVERAGE_DIETS:
        out[diet] = [
            f"{r} / {s} / {w}" for r, s, w in zip(
                table[f"{diet}_rows"], table[f"{diet}_studies"], table[f"{diet}_studies_with_n"],
                strict=True)
        ]
    return out


def summary_line(studies: pd.DataFrame) -> str:
    """"239 estimates from 91 publications on 88 independent samples; 120 ... can be pooled."."""
    pooled = studies[studies["usable_for"].astype("object") == "pooling"]
    return (
        f"{len(studies)} estimates from {studies['study_id'].nunique()} publications on "
        f"{count_samples(studies)} independent samples; {len(pooled)} estimates from "
        f"{count_samples(pooled)} samples can be pooled."
    )


def checks_markdown(studies: pd.DataFrame) -> str:
    """The data checks of the evidence table as markdown, for data/README.md (a test keeps the
    two identical): coverage, sample frames, source kinds, overlap structure, shared samples,
    count/percent disagreements and the reasons rows are kept out of pooling and modelling."""
    parts = [
        summary_line(studies) + "\n",
        "**Coverage** (every definition; cells: rows / independent studies / studies with n):\n",
        _markdown(coverage_summary(studies)),
        "**Depth goals** (independent studies; `evidence.depth_targets`):\n",
        _markdown(depth_targets(studies).astype(object).where(
            lambda t: t.notna(), "")),
        "**Sample frames**:\n",
        _markdown(frame_counts(studies).rename(columns={"sample_frame": "sample frame"})),
        "**Where the figures were read** (secondary: only in another publication, named in "
        "`notes`):\n",
        _markdown(source_kind_counts(studies).rename(columns={"source_kind": "source kind"})),
        "**Subgroups** (estimates with subgroups in the table; complete = their n add up):\n",
        _markdown(overlap_structure(studies)),
        "**Samples reported by several publications** (one enters any pool):\n",
        _markdown(shared_samples(studies)),
        "**Reported count and percentage disagree** (both kept as published):\n",
        _markdown(count_disagreements(studies)),
        "**Rows kept out of pooling and modelling**, by reason (a row can have several):\n",
        _markdown(reason_counts(studies)),
    ]
    return "\n".join(parts)
