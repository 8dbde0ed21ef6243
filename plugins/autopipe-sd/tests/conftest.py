from pathlib import Path

import pytest

from autopipe_core.testing import isolate, tiny_checkpoint  # noqa: F401 - a fixture, shared by import


@pytest.fixture(autouse=True)
def _only_this_plugin(monkeypatch, tmp_path_factory):
    isolate(monkeypatch, "autopipe-sd", tmp_path_factory.getbasetemp() / "autopipe-cache")


@pytest.fixture(scope="session")
def tiny_sd(tiny_checkpoint) -> Path:
    return tiny_checkpoint("stable-diffusion")


@pytest.fixture(scope="session")
def tiny_sd_inpainting(tiny_checkpoint) -> Path:
    return tiny_checkpoint("stable-diffusion", "inpainting-only")
