"""Fixtures for autopipe-kandinsky's tests: only this plugin loaded, tiny Kandinsky 2.2 checkpoints built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopipe_core.testing import isolate, tiny_checkpoint  # noqa: F401 - a fixture, shared by import

PLUGIN = "autopipe-kandinsky"


@pytest.fixture(autouse=True)
def _only_this_plugin(monkeypatch, tmp_path_factory):
    """Runs after the root conftest's isolation (which loads autopipe-sd only) and replaces it."""
    isolate(monkeypatch, PLUGIN, tmp_path_factory.getbasetemp() / "autopipe-cache")


@pytest.fixture(scope="session")
def tiny_k22(tiny_checkpoint) -> Path:
    """A decoder folder (KandinskyV22Pipeline) whose README.md names its prior, `prior/` inside it, by a relative path."""
    return tiny_checkpoint("kandinsky22")


@pytest.fixture(scope="session")
def tiny_k22_inpaint(tiny_checkpoint) -> Path:
    """The same with the 9-channel inpainting decoder (KandinskyV22InpaintPipeline)."""
    return tiny_checkpoint("kandinsky22", "inpainting-only")


@pytest.fixture(scope="session")
def tiny_k21(tiny_checkpoint) -> Path:
    """Kandinsky 2.1: a KandinskyPipeline decoder (MultilingualCLIP text encoder) with its prior in `prior/`."""
    return tiny_checkpoint("kandinsky")


@pytest.fixture(scope="session")
def tiny_k21_inpaint(tiny_checkpoint) -> Path:
    return tiny_checkpoint("kandinsky", "inpainting-only")
