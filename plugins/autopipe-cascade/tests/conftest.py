"""Fixtures for autopipe-cascade's tests: only this plugin loaded, the tiny checkpoints built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

# The autopipe pytest plugin isolates each test in this folder to this plugin (a conftest setting: the
# repository's tests run as one pytest run, whose root conftest names autopipe-sd for everything else).
autopipe_plugins = "autopipe-cascade"

@pytest.fixture(scope="session")
def tiny_cascade(tiny_checkpoint) -> Path:
    """A StableCascadeDecoderPipeline folder whose README.md names its prior, `prior/` inside it, by a relative path."""
    return tiny_checkpoint("cascade")


@pytest.fixture(scope="session")
def tiny_wuerstchen(tiny_checkpoint) -> Path:
    """A WuerstchenDecoderPipeline folder with its WuerstchenPriorPipeline in `prior/`, named by its card."""
    return tiny_checkpoint("wuerstchen")
