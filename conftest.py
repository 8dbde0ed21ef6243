"""Fixtures for tests/ and every plugins/*/tests, run from the repository root (make test) as one pytest run.

The autopipe pytest plugin (autopipe_core.testing.pytest_plugin, installed with the core) isolates each test
as `autopipe_plugins` below says: only autopipe-sd loaded unless a test says otherwise, no hub, caches in
pytest's temp folder; it also provides the `tiny_checkpoint` fixture (tiny checkpoints built once per
session). A plugin's tests/conftest.py names that plugin instead, for its own folder: one run, so one ini
file, and each suite needs its own plugin.
"""

from __future__ import annotations

import os

# The tiny models run faster on one thread than on two contending ones, and the
# machine's other core is free for whatever else runs (subprocesses inherit it).
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import pytest

autopipe_plugins = "autopipe-sd"


@pytest.fixture(scope="session")
def tiny_sd(tiny_checkpoint) -> Path:
    return tiny_checkpoint("stable-diffusion")


@pytest.fixture(scope="session")
def tiny_sd_inpainting(tiny_checkpoint) -> Path:
    return tiny_checkpoint("stable-diffusion", "inpainting-only")
