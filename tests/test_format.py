"""Number formatting: every formatter against hand-checked strings, missing values included."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboard import format as fmt

NAN = math.nan


@pytest.mark.parametrize(
    ("func", "args", "expected"),
    [
        (fmt.format_percent, (0.1234,), "12.3%"),
        (fmt.format_percent, (0.0,), "0.0%"),
        (fmt.format_percent, (1.0,), "100.0%"),
        (fmt.format_percent, (np.nan,), ""),
        (fmt.format_percent, (None,), ""),
        (fmt.format_percent, (pd.NA,), ""),
        (fmt.format_interval, (0.101, 0.146), "10.1-14.6%"),
        (fmt.format_interval, (0.1, np.nan), ""),
        (fmt.format_count, (1234567,), "1,234,567"),
        (fmt.format_count, (1234.5,), "1,234"),  # round half to even
        (fmt.format_count, (np.nan,), ""),
        (fmt.format_count_interval, (1200.4, 1500.6), "1,200-1,501"),
        (fmt.format_count_interval, (None, 1500.6), ""),
        # one decimal below 10%: 0.0423 -> 4.23 -> "4.2"; none above: 0.3749 -> 37.49 -> "37"
        (fmt.format_percent_brief, (0.0423,), "4.2%"),
        (fmt.format_percent_brief, (0.3749,), "37%"),
        (fmt.format_percent_brief, (0.1,), "10%"),
        (fmt.format_interval_brief, (0.0423, 0.3749), "4.2-37%"),
        (fmt.format_interval_brief, (0.12, 0.18), "12-18%"),
        (fmt.format_people_interval, (536_947_453, 2_690_025_207), "537 million-2.69 billion"),
        (fmt.format_people_interval, (NAN, 1.0), ""),
    ],
)
def test_formatters(func, args, expected):
    assert func(*args) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1_123_550_140, "1.12 billion"),
        (536_947_453, "537 million"),
        (2_690_025_207, "2.69 billion"),
        (12_345, "12,300"),
        (999_600, "1 million"),  # 999,600 -> 3 s.f. 1,000,000
        (0, "0"),
        (None, ""),
    ],
)
def test_format_people_rounds_modelled_counts(value, text) -> None:
    assert fmt.format_people(value) == text


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        # 0.1234 -> 12.34 -> "12.3"; 0.101 -> "10.1"; 0.148 -> "14.8"
        ((0.1234, 0.101, 0.148), {}, "12.3% (95% CI 10.1-14.8%)"),
        ((0.5, 0.25, 0.75), {"digits": 0, "interval": "PI"}, "50% (95% PI 25-75%)"),
        ((0.05, 0.01, 0.2), {"level": 0.9}, "5.0% (90% CI 1.0-20.0%)"),
        ((1234.4, 1000, 1500.6), {"unit": "persons", "interval": "UI", "digits": 0},
         "1,234 persons (95% UI 1,000-1,501 persons)"),
        ((0.2, NAN, 0.3), {}, "20.0% (95% CI not available)"),
        ((NAN, 0.1, 0.3), {}, "not available"),
    ],
)
def test_format_estimate(args, kwargs, expected):
    assert fmt.format_estimate(*args, **kwargs) == expected


@pytest.mark.parametrize("value", [None, pd.NA, NAN, np.nan])
def test_missing_values(value) -> None:
    assert fmt.is_missing(value)


@pytest.mark.parametrize("value", [0, 0.0, "", "nan", pd.Timestamp("2020-01-01")])
def test_present_values(value) -> None:
    assert not fmt.is_missing(value)


# --- markdown_literal ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[Data moved: log in](https://e.vil/x)",
         "\\[Data moved\\: log in\\](https\\:\u2060//e.vil/x)"),
        ("![x](http://127.0.0.1:9/x.png)", "\\!\\[x\\](http\\:\u2060//127.0.0.1\\:9/x.png)"),
        ("<img src=x onerror=alert(1)>", "\\<img src=x onerror=alert(1)\\>"),
        ("www.e.vil and a@b.io", "www\u2060.e.vil and a\u2060@b.io"),
        ("*bold* _it_ `code` ~~s~~ $x$ :red[r] :material/home:",
         "\\*bold\\* \\_it\\_ \\`code\\` \\~\\~s\\~\\~ \\$x\\$ \\:red\\[r\\] \\:material/home\\:"),
        ("# heading", "\\# heading"),
        ("- item", "\\- item"),
        ("12. item", "12\\. item"),
        ("two\nlines", "two lines"),
        ("Ignored minn=-5 (not a count)", "Ignored minn=-5 (not a count)"),
    ],
)
def test_markdown_literal_escapes_every_markup(text, expected):
    assert fmt.markdown_literal(text) == expected
