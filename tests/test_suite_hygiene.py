"""The test suite itself: no assertion that cannot fail, and every slow test marked for the fast lane."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# A literal, a comprehension or an f-string is true whenever it is not empty: as an assert's whole test
# it checks nothing (``assert [x for x in y]  # == [1]`` passed whatever y held).
ALWAYS_TRUE_SHAPES = (
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Dict,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.JoinedStr,
    ast.Constant,
)


def _asserts_that_cannot_fail(source: str) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assert) and isinstance(node.test, ALWAYS_TRUE_SHAPES)
    ]


def test_the_scan_sees_the_shapes_it_looks_for():
    bad = "def t():\n    assert [int(t) for t in x]  # == [1]\n    assert (a == b, 'msg')\n    assert 'x'\n"
    good = "def t():\n    assert [int(t) for t in x] == [1]\n    assert a == b, 'msg'\n"
    assert _asserts_that_cannot_fail(bad) == [2, 3, 4]
    assert _asserts_that_cannot_fail(good) == []


@pytest.mark.parametrize("path", sorted(TESTS.rglob("*.py")), ids=lambda p: p.name)
def test_no_assertion_is_true_by_its_shape(path):
    assert _asserts_that_cannot_fail(path.read_text(encoding="utf-8")) == []
