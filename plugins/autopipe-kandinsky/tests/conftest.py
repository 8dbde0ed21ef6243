"""Fixtures for autopipe-kandinsky's tests: only this plugin loaded, tiny Kandinsky 2.2 checkpoints built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

# The autopipe pytest plugin isolates each test in this folder to this plugin (a conftest setting: the
# repository's tests run as one pytest run, whose root conftest names autopipe-sd for everything else).
autopipe_plugins = "autopipe-kandinsky"


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
