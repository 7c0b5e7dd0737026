"""One way for page tests to open a page of the app under Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
Query = dict[str, str | list[str]]


def page_app(page: str, query: Query | None = None, timeout: float = 60) -> AppTest:
    """app.py switched to ``page`` (its file path) with ``query`` in the URL, not yet run."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.switch_page(page)
    return at


def plain(text: str) -> str:
    """A chart title as read: the line breaks charts.fit_text puts in (<br>) as spaces."""
    return " ".join(str(text).replace("<br>", " ").split())
