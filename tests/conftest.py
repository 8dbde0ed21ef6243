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


@pytest.fixture
def installed_only(monkeypatch):
    """Call with distribution names: autopipe then takes those for the only plugins installed (``plugins.installed``), as
    in an environment where the others are not, rather than left out by AUTOPIPE_PLUGINS. The real such environment
    is tests/test_install_alone.py's; this one is for what it cannot reach cheaply."""

    def only(*distributions: str) -> None:
        monkeypatch.setattr("autopipe_core.plugins.installed", lambda: frozenset(distributions))

    return only
