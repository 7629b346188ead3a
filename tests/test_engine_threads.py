"""Threads matched to cores: workers x intra-op threads never exceed them, and idle threads sleep."""

from __future__ import annotations

import pytest

from deident.text import engine


@pytest.mark.parametrize(
    ("cores", "workers", "threads"), [(2, 1, 2), (2, 2, 1), (2, 3, 1), (1, 1, 1), (8, 2, 2), (8, 8, 1)]
)
def test_workers_times_threads_never_exceed_the_cores(monkeypatch, cores, workers, threads):
    monkeypatch.setattr(engine, "cores", lambda: cores)
    assert engine.threads_for(workers) == threads
    assert workers * threads <= max(cores, workers)


def test_sessions_sleep_between_operators_and_readers_load_at_first_use(monkeypatch):
    monkeypatch.setattr(engine, "_engines", {})
    det, cls, rec = engine.load(1)
    options = det.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == 1
    assert cls.model is None and rec.model is None  # nothing read yet
