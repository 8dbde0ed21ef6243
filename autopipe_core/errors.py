"""Typed errors. Each message says what was found, what was expected and what to do.

They subclass the built-in exception a diffusers user already catches
(ValueError for a checkpoint that does not fit, OSError for a file problem), so
code written against diffusers' AutoPipeline keeps working.
"""

from __future__ import annotations


class AutopipeError(Exception):
    """Base class of every error autopipe raises on purpose."""


class UnsupportedModelError(AutopipeError, ValueError):
    """No installed plugin can load this checkpoint, or not with these options."""


class UnsupportedTaskError(UnsupportedModelError):
    """The checkpoint is understood but cannot serve the task asked for (e.g. an inpainting-only UNet asked for text2img)."""


class InvalidModelError(AutopipeError, ValueError):
    """The checkpoint's own files are malformed: model_index.json, a component config."""


class ModelNotFoundError(AutopipeError, OSError):
    """The path does not exist, or the hub repo or file cannot be had (offline, missing, gated)."""


class UntrustedCodeError(AutopipeError, ValueError):
    """The checkpoint would make diffusers import or run code it chose (a library named in model_index.json, a
    custom component file) and the caller did not opt in with ``trust_remote_code=True`` or ``custom_pipeline=``."""


class PluginError(AutopipeError, RuntimeError):
    """A plugin failed to import, raised in a hook, or registered something malformed."""


class UnsafeCheckpointError(UnsupportedModelError):
    """A pickle checkpoint (.ckpt, .bin, .pt, .pth): loading it runs whatever code it carries, so it is not opened unless the caller opts in."""


class PlacementError(AutopipeError, ValueError):
    """A placement request that cannot be planned: an unknown placement, a malformed memory budget."""
