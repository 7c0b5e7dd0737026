"""The ingest package: every public name re-exported, imports flowing one way, no Streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dashboard import ingest

PACKAGE = Path(ingest.__file__).resolve().parent
# Each module may import only the modules listed before it here (ingest/__init__.py says why).
LAYERS: dict[str, tuple[str, ...]] = {
    "_text": (),
    "records": ("_text",),
    "roles": ("_text", "records"),
    "readers": ("_text", "records", "roles"),
    "merge": ("_text", "records", "roles", "readers"),
    "outcomes": ("_text", "records", "roles"),
    "validation": ("_text", "records", "roles", "outcomes"),
    "estimation": ("records", "roles"),
}


def _tree(module: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))


def _imported(module: str) -> set[str]:
    """Modules of the package and top-level packages that ``module`` imports at run time."""
    found: set[str] = set()
    for node in _tree(module).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_every_module_is_in_a_layer():
    assert sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__") == sorted(LAYERS)


@pytest.mark.parametrize("module", list(LAYERS))
def test_imports_flow_one_way(module):
    inside = {m.removeprefix("dashboard.ingest.") for m in _imported(module)
              if m.startswith("dashboard.ingest.")}
    assert inside <= set(LAYERS[module]), inside - set(LAYERS[module])
    assert not any(m.split(".")[0] == "streamlit" for m in _imported(module))


def test_every_public_name_is_re_exported_once():
    defined: dict[str, str] = {}
    for module in LAYERS:
        for node in _tree(module).body:
            targets = (
                [node.name] if isinstance(node, ast.FunctionDef | ast.ClassDef)
                else [t.id for t in node.targets if isinstance(t, ast.Name)]
                if isinstance(node, ast.Assign)
                else [node.target.id] if isinstance(node, ast.AnnAssign)
                else []
            )
            for name in targets:
                assert name not in defined, f"{name} in both {defined[name]} and {module}"
                defined[name] = module
    public = {n for n in defined if not n.startswith("_")}
    assert set(ingest.__all__) == public
    for name in public:
        assert getattr(ingest, name) is getattr(
            __import__(f"dashboard.ingest.{defined[name]}", fromlist=[name]), name
        )
