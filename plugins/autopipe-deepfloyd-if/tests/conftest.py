"""Fixtures for autopipe-deepfloyd-if's tests: only this plugin is loaded, and the tiny stage I checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

# The autopipe pytest plugin isolates each test in this folder to this plugin (a conftest setting: the
# repository's tests run as one pytest run, whose root conftest names autopipe-sd for everything else).
autopipe_plugins = "autopipe-deepfloyd-if"


@pytest.fixture(scope="session")
def tiny_if(tiny_checkpoint) -> Path:
    return tiny_checkpoint("if")
