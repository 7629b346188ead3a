"""Fixtures shared by every test module. Stage-specific helpers live beside their tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deident.keys import Keyring

# Some oracles build rapidocr's own engine, which imports onnxruntime before deident can turn its usage
# telemetry off (text.engine.offline_onnxruntime): the test process makes no network call either.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` beside the checkout; tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared (public test corpora) is not present")
    return SHARED


@pytest.fixture
def keyring() -> Keyring:
    return Keyring(b"deident-test-key-0123456789abcdef")


@pytest.fixture(autouse=True)
def _isolated_key(tmp_path_factory, monkeypatch):
    """Never let a test create or read the user's real key, journal outputs in the user's state, or reuse
    a verdict another test's check left."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))  # the outputs journal
    monkeypatch.setenv("DEIDENT_CACHE_DIR", str(tmp_path_factory.mktemp("checked")))  # check's verdicts
    monkeypatch.setenv("DEIDENT_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
