"""Fixtures are not shadowed: a name a conftest.py provides means the same thing in every test
below it, so a reader who looks it up in the conftest has found the one that runs."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def fixtures_in(path: Path) -> set[str]:
    """The names of the fixtures a file defines (`name=` in the decorator wins)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call is not None else decorator
            if ast.unparse(target) not in {"pytest.fixture", "fixture"}:
                continue
            name = node.name
            for keyword in call.keywords if call is not None else []:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    name = keyword.value.value
            names.add(name)
    return names


def shadowed() -> list[str]:
    problems = []
    files = sorted(TESTS.rglob("*.py"))
    for conftest in (path for path in files if path.name == "conftest.py"):
        provided = fixtures_in(conftest)
        for other in files:
            if other == conftest or not other.is_relative_to(conftest.parent):
                continue
            for name in sorted(provided & fixtures_in(other)):
                where, source = other.relative_to(TESTS.parent), conftest.relative_to(TESTS.parent)
                problems.append(f"{where} redefines {name} from {source}")
    return problems


def test_no_fixture_shadows_one_from_a_conftest_above_it() -> None:
    assert shadowed() == []
