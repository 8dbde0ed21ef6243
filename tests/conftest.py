"""Fixtures the core's test files share (the repository's conftest.py sets up the environment every suite runs in)."""

from __future__ import annotations

import pytest


@pytest.fixture
def site(tmp_path, monkeypatch):
    """An empty folder at the front of sys.path, where tests/toy_plugins.py lays out plugins as pip would; gone after the test."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder
