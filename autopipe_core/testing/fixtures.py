"""The fixtures the autopipe pytest plugin provides where a suite asks for isolation.

``tiny_checkpoint`` may also be imported into a conftest.py by a suite that
does not use the pytest plugin (``from autopipe_core.testing import
tiny_checkpoint``). The two autouse fixtures isolate each test in the scope
of an ``autopipe_plugins`` setting (:func:`.isolation.setting_for`), and
leave every other test alone: once per module, for module-scoped fixtures
(a pipeline loaded once per module resolves among the right plugins), and
once per test, which sets the same again after anything an earlier test
left behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from ..registry import build as build_registry
from ..tiny import build_tiny
from .isolation import cache_folder, isolate, setting_for


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


@pytest.fixture(autouse=True, scope="module")
def autopipe_module_isolation(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    plugins = setting_for(request.config, request.path)
    if plugins is None:
        yield
        return
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, plugins, cache_folder(tmp_path_factory))
        yield


@pytest.fixture(autouse=True)
def autopipe_isolation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    plugins = setting_for(request.config, request.path)
    if plugins is not None:
        isolate(monkeypatch, plugins, cache_folder(tmp_path_factory))
