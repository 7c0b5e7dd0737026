"""The per-process memo of pooling results: a repeated view reuses them, changed content or
arguments never get a stale answer, and a caller cannot spoil the memo."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import aggregate
from tests.test_aggregate import make_studies


def test_same_content_reuses_the_result_and_a_changed_count_is_pooled_again() -> None:
    studies = make_studies({"cases": 20, "n": 100})
    first = aggregate.pool_groups(studies)
    assert aggregate.pool_groups(studies.copy())["estimate"].iloc[0] == pytest.approx(0.2)
    changed = studies.copy()
    changed["cases"] = pd.array([30], dtype="Int64")  # 30 / 100
    assert aggregate.pool_groups(changed)["estimate"].iloc[0] == pytest.approx(0.3)
    assert first["estimate"].iloc[0] == pytest.approx(0.2)


def test_an_edited_result_leaves_the_memo_untouched() -> None:
    studies = make_studies({"cases": 20, "n": 100, "study_id": "memo1"})
    out = aggregate.pool_groups(studies)
    out.loc[0, "estimate"] = 0.9
    assert aggregate.pool_groups(studies)["estimate"].iloc[0] == pytest.approx(0.2)


def test_arguments_are_part_of_the_key() -> None:
    # Two strata 20/100 and 50/100: DL and REML give different tau2, the 90% interval is
    # narrower than the 95% one.
    studies = make_studies({"cases": 20, "n": 100, "study_id": "m1"},
                           {"cases": 50, "n": 100, "study_id": "m2"})
    reml = aggregate.pool_groups(studies, by=())
    dl = aggregate.pool_groups(studies, by=(), method="DL")
    assert reml["tau2"].iloc[0] != dl["tau2"].iloc[0]
    narrow = aggregate.pool_groups(studies, by=(), level=0.9)
    assert narrow["ci_low"].iloc[0] > reml["ci_low"].iloc[0]
    assert list(aggregate.pool_groups(studies, by=("sex",)).columns)[0] == "sex"


def test_headlines_follow_the_content() -> None:
    vegan = make_studies({"cases": 20, "n": 100, "diet_group": "vegan", "study_id": "h1"})
    assert aggregate.estimate_headlines(vegan).vegans.estimate == pytest.approx(0.2)
    more = make_studies({"cases": 40, "n": 100, "diet_group": "vegan", "study_id": "h1"})
    assert aggregate.estimate_headlines(more).vegans.estimate == pytest.approx(0.4)
    assert aggregate.estimate_headlines(more).omnivores is None
