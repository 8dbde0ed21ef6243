"""Test support for autopipe and its plugins: the conformance kit, fixtures, and a pytest plugin.

Subclass :class:`PluginConformance` in a test module to run the contract
tests on a plugin (docs/plugin-guide.md). Set ``autopipe_plugins`` in the
suite's pytest configuration and the autopipe pytest plugin isolates every
test and provides the ``tiny_checkpoint`` fixture; a suite that does not can
import ``tiny_checkpoint`` into a conftest.py and call :func:`isolate` from a
fixture of its own. Only tests import this package: it imports pytest, and
the kit's tests import torch and diffusers.

The modules: ``kit`` (:class:`PluginConformance`), ``cases`` (what a plugin
registers and the cases each kit test runs over), ``machines`` (made-up
devices), ``images`` (the kit's input images), ``isolation`` (:func:`isolate`
and the ``autopipe_plugins`` setting), ``fixtures`` (``tiny_checkpoint`` and
the isolation fixtures) and ``pytest_plugin`` (the ``pytest11`` entry point).
Names are imported on first use, so that the pytest plugin, loaded in every
pytest run, costs a run that does not use it nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "PluginConformance": "kit",
    "public_loaders": "kit",
    "Case": "cases",
    "row_label": "cases",
    "KIT_DEVICES": "machines",
    "isolate": "isolation",
    "tiny_checkpoint": "fixtures",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .cases import Case, row_label
    from .fixtures import tiny_checkpoint
    from .isolation import isolate
    from .kit import PluginConformance, public_loaders
    from .machines import KIT_DEVICES


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
