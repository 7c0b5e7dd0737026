"""Checks on the frames that the pure layers take: the one place that says a column is missing."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str = "the frame") -> None:
    """Raise ValueError unless ``frame`` is a DataFrame holding every one of ``columns``.

    The message names ``what`` the frame is and every missing column, in the order asked
    ("pooled frame lacks the column(s) ci_low, k").
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {', '.join(missing)}")
