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


def _unreachable(source: str) -> list[int]:
    """Statements after a ``return``/``raise``/``continue``/``break`` in the same block: never run, so an
    assertion there checks nothing."""
    out = []
    for node in ast.walk(ast.parse(source)):
        for block in (getattr(node, f, None) for f in ("body", "orelse", "finalbody")):
            if isinstance(block, list):
                ends = [
                    i
                    for i, s in enumerate(block)
                    if isinstance(s, (ast.Return, ast.Raise, ast.Continue, ast.Break))
                ]
                if ends and ends[0] < len(block) - 1:
                    out.append(block[ends[0] + 1].lineno)
    return out


def test_the_unreachable_scan_sees_code_after_return():
    assert _unreachable("def t():\n    return 1\n    assert x == 2\n") == [3]
    assert _unreachable("def t():\n    if a:\n        return 1\n    assert x == 2\n") == []


@pytest.mark.parametrize("path", sorted(TESTS.rglob("*.py")), ids=lambda p: p.name)
def test_no_assertion_sits_where_it_never_runs(path):
    assert _unreachable(path.read_text(encoding="utf-8")) == []


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import in ``path``, lazy ones too."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.lineno, node.module, [a.name for a in node.names]))
    return out


BENCH = TESTS.parent / "bench"
OPTIONAL = (
    "tifffile",
    "skimage",
    "segno",
    "selenium",
    "moto",
    "s3fs",
    "distributed",
    "matplotlib",
    "openslide",
)


@pytest.mark.parametrize(
    "path", sorted([*TESTS.rglob("*.py"), *BENCH.glob("*.py")]), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_builders_come_from_support_never_from_another_test_module(path):
    """A test module that imports another runs (or skips) with it: builders live in ``tests/support``.
    Benches use ``support`` too, and only its public names."""
    bad = [(n, m) for n, m, _ in _imports(path) if m.split(".")[0].startswith("test_")]
    if path.parent == BENCH:
        bad += [
            (n, f"{m}: {x}")
            for n, m, names in _imports(path)
            if m.startswith("support")
            for x in names
            if x.startswith("_")
        ]
    assert bad == []


@pytest.mark.parametrize("path", sorted((TESTS / "support").glob("*.py")), ids=lambda p: p.name)
def test_support_never_skips_on_import(path):
    """No module-level skip and no module-level import of an optional test package: a missing package
    skips only the tests whose builder asks for it (``support.need``), each saying why."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
    found = []
    for stmt in top:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Attribute) and node.attr in ("skip", "importorskip"):
                found.append((stmt.lineno, ast.unparse(node)))
            if isinstance(node, ast.Import):
                found += [(stmt.lineno, a.name) for a in node.names if a.name.split(".")[0] in OPTIONAL]
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in OPTIONAL:
                found.append((stmt.lineno, node.module))
    assert found == []
