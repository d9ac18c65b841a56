"""docs/reliability.md and the ``fault(N)`` markers agree: every guarantee has its tests."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
DOC = (TESTS.parent / "docs" / "reliability.md").read_text(encoding="utf-8")
GUARANTEES = range(1, 24)


def _fault_number(decorator: ast.expr) -> int | None:
    """N for a ``@pytest.mark.fault(N)`` decorator, else None."""
    if not isinstance(decorator, ast.Call) or not decorator.args:
        return None
    func = decorator.func
    if isinstance(func, ast.Attribute) and func.attr == "fault":
        arg = decorator.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, int):
            return arg.value
    return None


def marked_tests() -> dict[int, set[str]]:
    """``N -> {"file.py::test_name"}`` for every test marked ``fault(N)``."""
    found: dict[int, set[str]] = {}
    for path in sorted(TESTS.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                for decorator in node.decorator_list:
                    number = _fault_number(decorator)
                    if number is not None:
                        found.setdefault(number, set()).add(f"{path.name}::{node.name}")
    return found


def documented_tests() -> dict[int, set[str]]:
    """``N -> {"file.py::test_name"}`` named in the table of docs/reliability.md."""
    rows: dict[int, set[str]] = {}
    for line in DOC.splitlines():
        match = re.match(r"^\| (\d+) \|", line)
        if match:
            rows[int(match.group(1))] = set(re.findall(r"`(test_\w+\.py::test_\w+)`", line))
    return rows


def test_every_guarantee_is_documented_with_the_tests_marked_for_it() -> None:
    documented, marked = documented_tests(), marked_tests()
    assert sorted(documented) == list(GUARANTEES)
    for number in GUARANTEES:
        assert documented[number], f"guarantee {number} names no test"
        assert documented[number] == marked.get(number, set()), f"guarantee {number}"
    assert set(marked) <= set(GUARANTEES)


def test_the_readme_points_to_the_guarantees() -> None:
    readme = (TESTS.parent / "README.md").read_text(encoding="utf-8")
    assert "](docs/reliability.md)" in readme
