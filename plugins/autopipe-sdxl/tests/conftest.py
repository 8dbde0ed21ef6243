"""Fixtures for autopipe-sdxl's tests: only this plugin loaded, tiny SDXL checkpoints built once per session.

Every test here also shows that this plugin works without autopipe-sd: the autopipe pytest plugin
isolates this folder to autopipe-sdxl, for module-scoped fixtures (a pipeline loaded once per module)
as for each test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autopipe_sdxl.plugin import FP16_SAFE_VAE

# A conftest setting: the repository's tests run as one pytest run, whose root conftest names autopipe-sd.
autopipe_plugins = "autopipe-sdxl"
FAMILY = "stable-diffusion-xl"


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
