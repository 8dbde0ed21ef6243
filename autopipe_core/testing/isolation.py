"""A test environment no installed plugin, user setting or network leaks into, and where a suite asks for one.

:func:`isolate` is the kit's isolation and the one a plugin's own tests
use; the autopipe pytest plugin (:mod:`.pytest_plugin`) applies it to every
test in the scope of an ``autopipe_plugins`` setting, which
:func:`setting_for` finds.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

#: The setting that asks for isolation: a pytest ini option, the ``--autopipe-plugins`` command-line option, or a
#: global of that name in a conftest.py (for its folder and below; the nearest conftest wins, then the command line,
#: then the ini file). Its value is AUTOPIPE_PLUGINS' syntax: distributions separated by commas.
SETTING = "autopipe_plugins"
OPTION = "--autopipe-plugins"

#: What isolation removes from the environment: the user's own choices among installed plugins.
USER_SETTINGS = ("AUTOPIPE_PREFER", "AUTOPIPE_STRICT")


def isolate(monkeypatch: pytest.MonkeyPatch, plugins: str, cache: Path) -> None:
    """Load only `plugins` (AUTOPIPE_PLUGINS syntax), cache in `cache`, and never the hub.

    HF_HUB_OFFLINE is forced to "1", whatever the environment held (an
    empty value would leave huggingface_hub online), and huggingface_hub's
    own flag, read once when it was imported, is set too if it already was.
    """
    monkeypatch.setenv("AUTOPIPE_PLUGINS", plugins)
    for name in USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AUTOPIPE_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where isolated tests cache tiny checkpoints: one folder in pytest's temporary folder for the whole run."""
    return tmp_path_factory.getbasetemp() / "autopipe-cache"


def go_offline() -> None:
    """Before huggingface_hub is imported (it reads HF_HUB_OFFLINE once then): the run asked for isolation."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


def setting_value(value: Any) -> str | None:
    """A setting as AUTOPIPE_PLUGINS' text: "a, b" or ("a", "b"); None where it asks for nothing (unset or empty)."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = ",".join(str(v) for v in value)
    value = ",".join(p.strip() for p in value.split(",") if p.strip())
    return value or None


def conftest_setting(plugin: object) -> tuple[Path, str] | None:
    """(its folder, the setting) where `plugin` is a conftest module that sets ``autopipe_plugins``."""
    file = getattr(plugin, "__file__", None)
    if not isinstance(file, str) or os.path.basename(file) != "conftest.py":
        return None
    value = setting_value(getattr(plugin, SETTING, None))
    return (Path(file).resolve().parent, value) if value else None


def run_setting(config: pytest.Config) -> str | None:
    """The whole run's setting: the command line's, else the ini file's."""
    return setting_value(config.getoption(SETTING, None)) or setting_value(config.getini(SETTING))


_FOUND = pytest.StashKey[dict]()


def setting_for(config: pytest.Config, path: Path) -> str | None:
    """The plugins a test at `path` is isolated to: the nearest conftest's setting, else the run's; None: no isolation."""
    folder = Path(path).parent
    plugins = config.pluginmanager.get_plugins()
    found = config.stash.setdefault(_FOUND, {})
    key = (folder, len(plugins))  # conftests register as collection reaches their folders
    if key not in found:
        where = folder.resolve()
        nearest: tuple[int, str] | None = None
        for plugin in plugins:
            setting = conftest_setting(plugin)
            if setting is not None and where.is_relative_to(setting[0]):
                depth = len(setting[0].parts)
                if nearest is None or depth > nearest[0]:
                    nearest = (depth, setting[1])
        found[key] = nearest[1] if nearest is not None else run_setting(config)
    return found[key]
