"""Design-based prevalence from a Prepared frame: by groups, and directly age-standardised."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from dashboard import stats
from dashboard.ingest.records import GROUP_ROLES, InputError, Prepared
from dashboard.ingest.roles import UNKNOWN_LABEL


def estimate(
    prepared: Prepared,
    by: Sequence[str] = (),
    *,
    ci: str = "korn-graubard",
    level: float = 0.95,
    standardize: object = None,
) -> pd.DataFrame:
    """Design-based prevalence of the outcome by groups (stats.survey_prevalence).

    `by` names columns of the prepared frame (age_band, sex, diet_group, supplement_use). The
    design is the one mapped (weight, strata, PSU; none = simple random sample). Domains are
    estimated within the whole design (Lumley 2010, ch. 2.3), with Korn-Graubard intervals by
    default and NCHS reliability flags (Parker et al. 2017).
    """
    by = tuple(by)
    unknown = [b for b in by if b not in GROUP_ROLES]
    absent = [b for b in by if b in GROUP_ROLES and b not in prepared.frame.columns]
    if unknown or absent:
        problems = [
            f"Cannot group by {b!r}: groups are {', '.join(GROUP_ROLES)}." for b in unknown
        ] + [
            f"Cannot group by {b!r}: no column is mapped to "
            f"{'age' if b == 'age_band' else b.replace('_', ' ')}. Map one first."
            for b in absent
        ]
        raise InputError(problems)
    return stats.survey_prevalence(
        prepared.frame,
        "outcome",
        by=by,
        weight=prepared.weight,
        strata=prepared.strata,
        psu=prepared.psu,
        ci=ci,
        level=level,
        standardize=standardize,
    )


def survey_age_weights(prepared: Prepared) -> dict[str, float]:
    """The survey's own age distribution as standard weights: the summed sampling weights
    (people counted when the design has no weight) of each known age band with people in it,
    in band order. People of unknown age band are left out, as in the standardised estimate.
    """
    if "age_band" not in prepared.frame.columns:
        raise InputError("Cannot standardise by age: no column is mapped to age. Map one first.")
    known = _known_age_bands(prepared.frame)
    sizes = known.groupby("age_band", observed=True)[prepared.weight or "outcome"]
    return (sizes.sum() if prepared.weight else sizes.size()).to_dict()


def _known_age_bands(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(age_band=frame["age_band"].cat.remove_categories(UNKNOWN_LABEL))


def estimate_standardized(
    prepared: Prepared,
    by: Sequence[str],
    weights: object,
    *,
    ci: str = "korn-graubard",
    level: float = 0.95,
) -> pd.DataFrame:
    """Directly age-standardised design-based prevalence by groups (``estimate`` with
    ``standardize=("age_band", weights)``; Ahmad et al. 2001 for the method).

    People of unknown age band are left out: their band has no standard weight. ``weights``
    maps each age band to its standard weight (``stats.standard_weights_for_bands`` or
    ``survey_age_weights``).
    """
    if "age_band" not in prepared.frame.columns:
        raise InputError("Cannot standardise by age: no column is mapped to age. Map one first.")
    known = replace(prepared, frame=_known_age_bands(prepared.frame))
    return estimate(known, by, ci=ci, level=level, standardize=("age_band", weights))
