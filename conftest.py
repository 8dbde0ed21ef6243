"""Fixtures for tests/ and every plugins/*/tests: tiny checkpoints built once per session, and an
environment no installed plugin leaks into. Run the suites from the repository root (make test)."""

from __future__ import annotations

import os

# The tiny models run faster on one thread than on two contending ones, and the
# machine's other core is free for whatever else runs (subprocesses inherit it).
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import pytest

from autopipe_core.testing import isolate, tiny_checkpoint  # noqa: F401 - a fixture, shared by import


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """Only autopipe-sd is loaded unless a test says otherwise; no hub; caches in a temp folder."""
    isolate(monkeypatch, "autopipe-sd", tmp_path_factory.getbasetemp() / "autopipe-cache")


@pytest.fixture(scope="session")
def tiny_sd(tiny_checkpoint) -> Path:
    return tiny_checkpoint("stable-diffusion")


@pytest.fixture(scope="session")
def tiny_sd_inpainting(tiny_checkpoint) -> Path:
    return tiny_checkpoint("stable-diffusion", "inpainting-only")
