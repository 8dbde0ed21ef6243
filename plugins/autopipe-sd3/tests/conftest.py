"""Fixtures for autopipe-sd3's tests: only this plugin is loaded, and its tiny checkpoints are built once per session."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

# A conftest setting: the repository's tests run as one pytest run, whose root conftest names autopipe-sd.
autopipe_plugins = "autopipe-sd3"
FAMILY = "stable-diffusion-3"

# The suite runs with --import-mode=importlib, and only the repository's tests/ is on sys.path: the helpers beside
# this file are importable by name (`from sd3_layouts import ...`) once loaded here.
if "sd3_layouts" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("sd3_layouts", Path(__file__).with_name("sd3_layouts.py"))
    sys.modules["sd3_layouts"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["sd3_layouts"])


@pytest.fixture(scope="session")
def tiny_sd3(tiny_checkpoint) -> Path:
    return tiny_checkpoint(FAMILY)


@pytest.fixture(scope="session")
def tiny_sd3_inpainting(tiny_checkpoint) -> Path:
    return tiny_checkpoint(FAMILY, "inpainting-only")
