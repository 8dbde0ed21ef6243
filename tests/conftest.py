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


@pytest.fixture
def every_plugin(monkeypatch, tmp_path):
    """Every shipped plugin loaded, a cache of the test's own, and the registration snapshot saved there; the full registry."""
    import real_checkpoints_data as data
    from autopipe_core import snapshot
    from autopipe_core.registry import get_registry

    monkeypatch.setenv("AUTOPIPE_PLUGINS", data.SHIPPED_PLUGINS)
    monkeypatch.setenv("AUTOPIPE_CACHE", str(tmp_path / "cache"))
    assert snapshot.save(get_registry()) is not None
    return get_registry()
