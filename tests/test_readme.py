"""The README's Python API example runs as written, and its parameter table is current."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboard import state

README = Path(__file__).resolve().parent.parent / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def test_api_example_runs_as_written(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", _section("Python API"), flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(README.parent)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - our own README
    printed = capsys.readouterr().out
    # It printed the survey table, the pooled estimate and the burden summary.
    assert "vegan" in printed
    assert "95% CI" in printed
    assert namespace["pooled"].k == 3
    assert (namespace["by_diet"]["estimate"].between(0, 1)).all()
    # and the risk profile: its headline, and status classes that add up to one
    assert "About 1 in" in printed
    status = namespace["teens"].status
    assert status.groupby("population")["estimate"].sum().tolist() == pytest.approx([1, 1])


def test_parameter_table_matches_the_registry() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- parameters:start", 1)[1].split("<!-- parameters:end -->", 1)[0]
    table = block.split("-->", 1)[1].strip()
    assert table == state.parameters_markdown().strip(), (
        "README parameter table is stale: paste the output of "
        "`python -c 'from dashboard import state; print(state.parameters_markdown())'`"
    )
