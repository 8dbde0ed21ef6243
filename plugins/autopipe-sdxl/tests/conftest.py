"""Fixtures for autopipe-sdxl's tests: only this plugin loaded, tiny SDXL checkpoints built once per session.

The root conftest's autouse fixture loads only autopipe-sd; the autouse
fixture here runs after it (pytest sets up autouse fixtures from the outermost
conftest inwards) and loads only autopipe-sdxl, so every test also shows that
this plugin works without autopipe-sd.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autopipe_core.testing import tiny_checkpoint  # noqa: F401 - a fixture, shared by import
from autopipe_sdxl import FP16_SAFE_VAE

PLUGIN = "autopipe-sdxl"
FAMILY = "stable-diffusion-xl"


@pytest.fixture(autouse=True, scope="module")
def _sdxl_only_for_module_fixtures():
    """For module-scoped fixtures (a pipeline loaded once per module), set up before any test's environment."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTOPIPE_PLUGINS", PLUGIN)
        yield


@pytest.fixture(autouse=True)
def _sdxl_only(monkeypatch):
    monkeypatch.setenv("AUTOPIPE_PLUGINS", PLUGIN)


@pytest.fixture(scope="session")
def tiny_sdxl_factory(tiny_checkpoint):
    """tiny_sdxl_factory(variant) -> a tiny SDXL folder built through the core's autopipe_build_tiny hook."""

    def get(variant: str | None = None) -> Path:
        return tiny_checkpoint(FAMILY, variant)

    return get


@pytest.fixture(scope="session")
def tiny_sdxl(tiny_sdxl_factory) -> Path:
    return tiny_sdxl_factory()


@pytest.fixture(scope="session")
def tiny_sdxl_refiner(tiny_sdxl_factory) -> Path:
    return tiny_sdxl_factory("refiner")


@pytest.fixture(scope="session")
def tiny_sdxl_inpainting(tiny_sdxl_factory) -> Path:
    return tiny_sdxl_factory("inpainting-only")


@pytest.fixture(scope="session")
def tiny_sdxl_fp16_safe_vae(tiny_sdxl_factory) -> Path:
    return tiny_sdxl_factory(FP16_SAFE_VAE)
