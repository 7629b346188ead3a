"""What the benchmarks share: bench/published.py prints a section and appends it to docs/benchmarks.md;
support.dicom finds pydicom-data's files."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pydicom
import pytest

from support.dicom import CINE, find_pydicom_file

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _published():
    spec = importlib.util.spec_from_file_location("published", BENCH / "published.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sections_are_printed_and_appended_one_blank_line_apart(tmp_path, capsys):
    published = _published()
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n", encoding="utf-8")
    published.publish("## A — 2026-12-07 17:05 UTC\n\n| a |\n", doc=doc)
    published.publish("\n## B\n\n| b |", doc=doc)
    published.publish("## C", dry_run=True, doc=doc)
    expected = "# Benchmarks\n\n## A — 2026-12-07 17:05 UTC\n\n| a |\n\n## B\n\n| b |\n"
    assert doc.read_text(encoding="utf-8") == expected
    shown = capsys.readouterr().out
    assert "## A" in shown and "## B" in shown and "## C" in shown


def test_utc_now_is_a_minute_in_utc():
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", _published().utc_now())


def test_no_bench_appends_to_a_doc_by_itself():
    """Every bench goes through ``publish``: one way to date, print and append a section."""
    own = [
        p.name
        for p in sorted(BENCH.glob("bench_*.py"))
        if re.search(r"open\([^)]*(DOCS?|benchmarks\.md|doc)\b[^)]*\"a\"", p.read_text(encoding="utf-8"))
        or re.search(r"DOCS?\.open\(\"a\"\)", p.read_text(encoding="utf-8"))
    ]
    assert own == []


def test_the_cine_is_found_where_pydicom_data_is_installed():
    path = find_pydicom_file(CINE)
    if path is None:
        pytest.skip("pydicom-data is not installed (its 120-frame cine)")
    assert pydicom.dcmread(path, stop_before_pixels=True).NumberOfFrames == 120
    assert find_pydicom_file("no-such-file-in-any-store.dcm") is None


def test_no_bench_looks_up_pydicom_data_by_itself():
    """support.dicom.find_pydicom_file is the one lookup (three benches had five lines each for the cine)."""
    own = [
        p.name
        for p in sorted(BENCH.glob("bench_*.py"))
        if "get_testdata_file" in p.read_text(encoding="utf-8")
    ]
    assert own == []
