"""autopipe: pick, load and switch diffusers pipelines by task, with model families as plugins.

Importing this package imports no torch, diffusers or transformers.
"""

from .auto import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image
from .errors import (
    AutopipeError,
    InvalidModelError,
    ModelNotFoundError,
    PluginError,
    UnsafeCheckpointError,
    UnsupportedModelError,
    UnsupportedTaskError,
    UntrustedCodeError,
)
from .hookspecs import hookimpl
from .resolve import Resolution, resolve
from .specs import Detection, DeviceFacts, FamilySpec, Identity, LoadPlan, ModifierSpec, PipelineRow, Variant
from .switch import IgnoredArgumentWarning
from .tasks import Task

__version__ = "0.1.0"

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
    "Identity",
    "Detection",
    "DeviceFacts",
    "LoadPlan",
    "AutopipeError",
    "UnsupportedModelError",
    "UnsupportedTaskError",
    "InvalidModelError",
    "ModelNotFoundError",
    "PluginError",
    "UnsafeCheckpointError",
    "UntrustedCodeError",
    "IgnoredArgumentWarning",
    "__version__",
]
