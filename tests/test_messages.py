"""No Python repr in what people read: messages name values in words, never as dicts, lists,
tuples or NumPy scalars (issue 12: a Python dict blanked the Burden page).

Two checks: every f-string in the app's code is read for placeholders that would print a
container (a call of list/dict/tuple/set/sorted, a literal, a module constant holding one, or
``!r`` of one); and pages opened with bad input are read for text that looks like a repr.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import numpy as np
import pytest

from dashboard import burden, stats
from tests.apptest import page_app

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "dashboard").rglob("*.py")) + [ROOT / "app.py", ROOT / "serve.py"]
CONTAINER_CALLS = {"list", "dict", "tuple", "set", "frozenset", "sorted"}
CONTAINER_NODES = (ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.SetComp,
                   ast.DictComp)
# What a repr looks like in text: a NumPy scalar ("np.float64(0.5)"), an array, a dict
# ("{'vegan': 10.0}"), a list or tuple of strings ("['a', 'b']", "('a', 'b')"), a dtype.
REPR = re.compile(
    r"np\.(?:float|int|uint|bool|str)\w*\(|array\(\[|\{'[^']*': |\['[^']*'(?:, |\])"
    r"|\('[^']*', '|dtype\(|Timestamp\('"
)


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def constant_value(module, node: ast.expr):
    """The value of an UPPER_CASE module constant (``NAME`` or ``mod.NAME``), or None."""
    if isinstance(node, ast.Name) and node.id.isupper():
        return getattr(module, node.id, None)
    if (isinstance(node, ast.Attribute) and node.attr.isupper()
            and isinstance(node.value, ast.Name)):
        owner = getattr(module, node.value.id, None)
        return getattr(owner, node.attr, None)
    return None


def container_placeholders(path: Path) -> list[str]:
    """``file:line: expression`` of every f-string placeholder printing a container."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = None
    if path.parent.name != "pages" and path.name not in ("app.py", "serve.py"):
        module = importlib.import_module(module_name(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FormattedValue) or node.format_spec is not None:
            continue
        value = node.value
        bad = (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
               and value.func.id in CONTAINER_CALLS) or isinstance(value, CONTAINER_NODES)
        if not bad and module is not None:
            bad = isinstance(constant_value(module, value), (tuple, list, dict, set, frozenset))
        if bad:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(value)}")
    return found


def test_no_message_prints_a_container() -> None:
    found = [hit for path in SOURCES for hit in container_placeholders(path)]
    assert not found, "f-string placeholders that print a Python repr:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("text", "is_repr"),
    [
        ("diet shares for IND exceed 1 with scenario {'vegetarian': 10.0, 'vegan': 10.0}", True),
        ("override for vegan must be a finite factor >= 0, got np.float64(-1.0)", True),
        ("expected one of ('REML', 'DL')", True),
        ("locations_iso3 must be ISO3 codes, got ['Germany']", True),
        ("diet shares for IND exceed 1 with scenario vegetarian x10, vegan x10", False),
        ("unknown diet group in overrides: 'keto' (allowed: pescatarian, vegetarian)", False),
        ("Ignored minn=-5 (not a count)", False),
    ],
)
def test_the_repr_pattern(text: str, is_repr: bool) -> None:
    assert bool(REPR.search(text)) is is_repr


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: burden.diet_share_model(BURDEN_SHARES, ["AAA"], {"vegan": np.float64(500)}),
         "with scenario vegan x500"),
        (lambda: burden.diet_share_model(BURDEN_SHARES, ["AAA"], {"vegan": np.float64(-1)}),
         "got -1.0"),
        (lambda: burden.diet_share_model(BURDEN_SHARES, ["Germany"]), "got Germany"),
        (lambda: stats.pool_prevalence([1], [10], method="ML"), "expected one of REML, DL"),
    ],
)
def test_core_errors_name_values_in_words(call, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        call()
    assert not REPR.search(str(info.value)), str(info.value)


# --- pages opened with bad input ----------------------------------------------------------------

PAGES = "dashboard/pages"
BAD_VIEWS = [
    ("burden", {"xvegetarian": "10", "xvegan": "10"}),
    ("burden", {"loc": ["XXX"], "year": "3000", "xvegan": "-1", "scov": "abc", "bogus": "1"}),
    ("overview", {"foo": "bar", "def": "nonsense", "minn": "abc", "age": ["0-19", "999"]}),
    ("explore", {"sex": "male", "age": "80+", "diet": "vegan", "view": "pie"}),
    ("evidence", {"by": "nonsense", "method": "ML", "def": "b12_lt999"}),
    ("cutoffs", {"defs": ["bogus", "b12_lt148"], "cut": "-3"}),
    ("profile", {"place": "XXX", "ages": "90-10", "pdiet": "keto", "preg": "trimester_9"}),
]


def page_text(at) -> list[str]:
    """Every piece of text a person reads on the page after a run."""
    texts = []
    for kind in ("error", "warning", "info", "success", "caption", "markdown", "exception"):
        texts += [str(e.value) for e in getattr(at, kind)]
    texts += [f"{m.label} {m.value}" for m in at.metric]
    return texts


@pytest.mark.parametrize(("page", "query"), BAD_VIEWS,
                         ids=[f"{p}-{i}" for i, (p, _) in enumerate(BAD_VIEWS)])
def test_pages_show_no_repr_for_bad_input(page: str, query: dict) -> None:
    at = page_app(f"{PAGES}/{page}.py", query).run()
    assert not at.exception
    shown = [t for t in page_text(at) if REPR.search(t)]
    assert not shown, shown


BURDEN_SHARES = __import__("pandas").DataFrame({
    "country_iso3": ["AAA", "AAA"], "year": [2010, 2010], "diet_group": ["vegetarian_incl_vegan",
                                                                        "vegan"],
    "share": [0.05, 0.01], "method_class": [burden.HEALTH_SURVEY_CLASS] * 2,
    "source": ["hs", "hs"], "population_basis": ["adults", "adults"],
    "url_or_doi": ["https://example.org/hs"] * 2,
})
