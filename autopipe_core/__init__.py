"""autopipe: pick, load and switch diffusers pipelines by task, with model families as plugins.

Importing this package imports no torch, diffusers or transformers.
"""

from __future__ import annotations

import importlib
import sys
import types

#: typing.TYPE_CHECKING without importing typing (4 ms of a cold `autopipe resolve`): static tools read it as True.
TYPE_CHECKING = False

# Every public name, and the module that defines it. They are imported on first use (PEP 562), so
# that `import autopipe_core` and `autopipe --help` cost almost nothing, and a process that only
# resolves never imports the loading, switching and placement code. `from autopipe_core import X`
# works as before; so does `import autopipe_core.<module>`.
_EXPORTS = {
    "AutoPipelineForText2Image": "auto",
    "AutoPipelineForImage2Image": "auto",
    "AutoPipelineForInpainting": "auto",
    "AutopipeError": "errors",
    "InvalidModelError": "errors",
    "ModelNotFoundError": "errors",
    "PlacementError": "errors",
    "PluginError": "errors",
    "UnsafeCheckpointError": "errors",
    "UnsupportedModelError": "errors",
    "UnsupportedTaskError": "errors",
    "UntrustedCodeError": "errors",
    "hookimpl": "hookspecs",
    "Resolution": "resolve",
    "resolve": "resolve",
    "Activation": "specs",
    "ComponentBytes": "specs",
    "Detection": "detection",
    "DeviceFacts": "specs",
    "Footprint": "specs",
    "FamilySpec": "specs",
    "Identity": "specs",
    "LoadPlan": "specs",
    "ModifierSpec": "specs",
    "PipelineRow": "specs",
    "PRESENT": "specs",
    "Requirement": "specs",
    "Variant": "specs",
    "IgnoredArgumentWarning": "switch",
    "PlacementWarning": "switch",
    "LOAD_LOCK": "load_lock",
    "serialized": "load_lock",
    "Task": "tasks",
    "SafetensorsHeader": "headers",
    "TensorInfo": "headers",
    "GiB": "units",
    "MiB": "units",
    "__version__": "_version",
}

#: Subpackages that are public names too: ``from autopipe_core import toolkit``, then ``toolkit.plans`` and so on.
_SUBPACKAGES = ("toolkit",)

if TYPE_CHECKING:  # what static tools see: the eager imports of before
    from typing import Any

    from .auto import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image
    from .errors import (
        AutopipeError,
        InvalidModelError,
        ModelNotFoundError,
        PlacementError,
        PluginError,
        UnsafeCheckpointError,
        UnsupportedModelError,
        UnsupportedTaskError,
        UntrustedCodeError,
    )
    from .hookspecs import hookimpl
    from .resolve import Resolution, resolve
    from . import toolkit
    from .detection import Detection
    from .headers import SafetensorsHeader, TensorInfo
    from .specs import (
        PRESENT,
        Activation,
        ComponentBytes,
        DeviceFacts,
        FamilySpec,
        Footprint,
        Identity,
        LoadPlan,
        ModifierSpec,
        PipelineRow,
        Requirement,
        Variant,
    )
    from .units import GiB, MiB
    from .load_lock import LOAD_LOCK, serialized
    from .switch import IgnoredArgumentWarning, PlacementWarning
    from .tasks import Task


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")  # importing binds it on the package
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    setattr(sys.modules[__name__], name, value)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBPACKAGES))


class _Package(types.ModuleType):
    """The package's module type: the submodule `resolve` must not hide the function `resolve`.

    Importing a submodule binds it as an attribute of its package; the
    function of the same name is the public one (as when this file imported
    it eagerly), so that binding is turned into the function.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "resolve" and isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.resolve":
            value = value.resolve
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "AutoPipelineForText2Image",
    "AutoPipelineForImage2Image",
    "AutoPipelineForInpainting",
    "resolve",
    "Resolution",
    "Task",
    "hookimpl",
    "FamilySpec",
    "PipelineRow",
    "ModifierSpec",
    "Variant",
    "Requirement",
    "PRESENT",
    "Identity",
    "Detection",
    "DeviceFacts",
    "LoadPlan",
    "Footprint",
    "Activation",
    "ComponentBytes",
    "SafetensorsHeader",
    "TensorInfo",
    "GiB",
    "MiB",
    "toolkit",
    "AutopipeError",
    "UnsupportedModelError",
    "UnsupportedTaskError",
    "InvalidModelError",
    "ModelNotFoundError",
    "PlacementError",
    "PluginError",
    "UnsafeCheckpointError",
    "UntrustedCodeError",
    "IgnoredArgumentWarning",
    "PlacementWarning",
    "LOAD_LOCK",
    "serialized",
    "__version__",
]
