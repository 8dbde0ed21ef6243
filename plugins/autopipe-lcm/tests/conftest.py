"""Fixtures for autopipe-lcm's tests: only this plugin loaded (the autopipe pytest plugin isolates this folder), the tiny checkpoint built once.

Every test here also shows that this plugin works without autopipe-sd, for module-scoped fixtures as for each test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autopipe_lcm import FAMILY

# A conftest setting: the repository's tests run as one pytest run, whose root conftest names autopipe-sd.
autopipe_plugins = "autopipe-lcm"


@pytest.fixture(scope="session")
def tiny_lcm(tiny_checkpoint) -> Path:
    """The tiny LCM checkpoint, built through the core's autopipe_build_tiny hook."""
    return tiny_checkpoint(FAMILY)
