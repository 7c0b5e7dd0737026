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
    ("difference", "low", "high", "expected"),
    [
        # the vegans vs omnivores: +12.0 points, 95% CI -23.5 to +47.5
        (0.120, -0.235, 0.475, "no clear difference"),
        (0.120, 0.015, 0.225, "+12.0 points"),
        (-0.052, -0.091, -0.013, "-5.2 points"),
        (0.0, 0.0, 0.1, "no clear difference"),  # a bound at zero is not clear of it
        (0.1, NAN, 0.2, "no clear difference"),
    ],
)
def test_format_difference(difference, low, high, expected) -> None:
    assert fmt.format_difference(difference, low, high) == expected


def test_format_difference_interval() -> None:
    assert fmt.format_difference_interval(-0.235, 0.475) == "-23.5 to +47.5 points"
    assert fmt.format_difference_interval(NAN, 0.475) == "interval not available"


@pytest.mark.parametrize(
    ("estimate", "low", "high", "unit"),
    [
        # width 2,690,025,207 - 536,947,453 = 2,153,077,754; a tenth 215,307,775 -> 10^8
        (1_123_456_789, 536_947_453, 2_690_025_207, 1e8),
        # width 700; a tenth 70 -> 10
        (12_345, 12_000, 12_700, 10.0),
        # width 49,900 -> a tenth 4,990 -> 10^3, but the estimate's leading digit is the
        # hundreds: 10^2 keeps one significant figure
        (400, 100, 50_000, 100.0),
        # width 10.7 -> a tenth 1.07 -> 10^0: whole people
        (57.4, 50.2, 60.9, 1.0),
        # width 3 -> a tenth 0.3 -> 10^-1, never finer than one person
        (5.4, 4.0, 7.0, 1.0),
        # no usable interval
        (5.0, 5.0, 5.0, None),
        (5.0, NAN, 7.0, None),
    ],
)
def test_count_unit_follows_the_interval_width(estimate, low, high, unit) -> None:
    assert fmt.count_unit(estimate, low, high) == unit


@pytest.mark.parametrize(
    ("estimate", "low", "high", "expected"),
    [
        # unit 10^8: 1,123,456,789 -> 1.1 billion; 536,947,453 -> 5 x 10^8; 2,690,025,207 ->
        # 27 x 10^8 (the 5x interval no longer shows three significant figures)
        (1_123_456_789, 536_947_453, 2_690_025_207, ("1.1 billion", "500 million-2.7 billion")),
        # width 0.2 billion -> unit 10^7: 1,004,000,000 -> 100 x 10^7 = "1.00 billion"
        (1_004_000_000, 900_000_000, 1_100_000_000, ("1.00 billion", "900 million-1.10 billion")),
        # width 200,000 -> unit 10^4: 3,214,000 -> 3.21 million
        (3_214_000, 3_100_000, 3_300_000, ("3.21 million", "3.10 million-3.30 million")),
        # unit 10: 12,345 -> 1,234.5 -> 1,234 (half to even) x 10
        (12_345, 12_000, 12_700, ("12,340", "12,000-12,700")),
        (57.4, 50.2, 60.9, ("57", "50-61")),
        # no interval: three significant figures, as format_people
        (12_345, NAN, NAN, ("12,300", "")),
    ],
)
def test_format_people_supported(estimate, low, high, expected) -> None:
    assert fmt.format_people_supported(estimate, low, high) == expected


@pytest.mark.parametrize(
    ("x", "unit", "expected"),
    [(2_387_784_996.687, None, 2_387_784_997.0), (1234.5, 10.0, 1230.0), (NAN, 1.0, NAN)],
)
def test_round_count(x, unit, expected) -> None:
    assert fmt.round_count(x, unit) == pytest.approx(expected, nan_ok=True)


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
