"""Test support for autopipe and its plugins; grows into the plugin conformance kit.

Import its fixtures into a conftest.py (``from autopipe_core.testing import
tiny_checkpoint``). Importing it sets HF_HUB_OFFLINE=1 unless already set, because
huggingface_hub reads that once at import and tests must never reach the hub.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import pytest  # noqa: E402

from .registry import build as build_registry  # noqa: E402
from .tiny import build_tiny  # noqa: E402


def isolate(monkeypatch: pytest.MonkeyPatch, plugins: str, cache: Path) -> None:
    """Load only `plugins` (AUTOPIPE_PLUGINS syntax), cache in `cache`, and never the hub."""
    monkeypatch.setenv("AUTOPIPE_PLUGINS", plugins)
    for name in ("AUTOPIPE_PREFER", "AUTOPIPE_STRICT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AUTOPIPE_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """tiny_checkpoint(family, variant=None) -> a folder built by the family's plugin, once per session.

    Built with every installed plugin in view, whatever AUTOPIPE_PLUGINS says
    when the fixture first runs (session fixtures run before a test's own).
    """
    built: dict[tuple[str, str | None], Path] = {}
    every_plugin = build_registry(allowed=None)

    def get(family: str, variant: str | None = None) -> Path:
        key = (family, variant)
        if key not in built:
            folder = tmp_path_factory.mktemp("tiny") / (family + (f"-{variant}" if variant else ""))
            built[key] = build_tiny(family, folder, variant, every_plugin)
        return built[key]

    return get
