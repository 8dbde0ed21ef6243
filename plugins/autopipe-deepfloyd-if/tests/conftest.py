"""Fixtures for autopipe-deepfloyd-if's tests: only this plugin is loaded, and the tiny stage I checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopipe_core.testing import isolate, tiny_checkpoint  # noqa: F401 - a fixture, shared by import

PLUGIN = "autopipe-deepfloyd-if"


@pytest.fixture(autouse=True)
def _only_this_plugin(monkeypatch, tmp_path_factory):
    """Runs after the root conftest's isolation (which loads autopipe-sd only) and replaces it."""
    isolate(monkeypatch, PLUGIN, tmp_path_factory.getbasetemp() / "autopipe-cache")  # sets AUTOPIPE_PLUGINS


@pytest.fixture(scope="session")
def tiny_if(tiny_checkpoint) -> Path:
    return tiny_checkpoint("if")
