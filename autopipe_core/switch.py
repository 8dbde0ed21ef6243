"""from_pipe's engine: a pipeline of another class built on the same component objects.

It follows diffusers' AutoPipeline.from_pipe so configs round-trip the same way
(entries the new class does not take are kept as "_name" and given back when a
later switch takes them again), with two differences: nothing is cast (the
components keep their dtype: DiffusionPipeline.from_pipe casts to float32
unless told otherwise), and an argument that is neither a component nor a
config entry is not dropped in silence.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

from .errors import UnsupportedModelError
from .options import LOADING_OPTIONS



class IgnoredArgumentWarning(UserWarning):
    """from_pipe was given an argument the new pipeline does not take; it was not used."""


def _where_it_belongs(name: str, target: type) -> str:
    call = getattr(target, "__call__", None)
    if call is not None and name in inspect.signature(call).parameters:
        return f"it is an argument of {target.__name__}.__call__: pass it when you call the pipeline, pipe(..., {name}=...)"
    if name in LOADING_OPTIONS:
        return "it is a loading option: from_pipe reuses components already loaded, so use from_pretrained for it (or pipe.to() for the dtype or device)"
    return f"{target.__name__} has no component, config entry or call argument of that name"


def warn_ignored(kwargs: dict[str, Any], target: type) -> None:
    for name in sorted(kwargs):
        warnings.warn(
            f"from_pipe() did not use {name}={kwargs[name]!r}: {_where_it_belongs(name, target)}.",
            IgnoredArgumentWarning,
            stacklevel=4,
        )


def switch(pipeline: Any, target: type, kwargs: dict[str, Any]) -> Any:
    """Build `target` from `pipeline`'s components; `kwargs` override components and config."""
    kwargs = dict(kwargs)
    original = dict(pipeline.config)
    name_or_path = original.pop("_name_or_path", None)
    expected, optional = target._get_signature_keys(target)

    passed_components = {k: kwargs.pop(k) for k in expected if k in kwargs}
    kept_components = {k: v for k, v in pipeline.components.items() if k in expected and k not in passed_components}
    passed_config = {k: kwargs.pop(k) for k in optional if k in kwargs}
    kept_config = {k: v for k, v in original.items() if k in optional and k not in passed_config}
    for key in [k for k in original if k.startswith("_") and k[1:] in optional and k[1:] not in passed_config]:
        kept_config[key[1:]] = original.pop(key)

    init = {**passed_components, **kept_components, **passed_config, **kept_config}
    unused = {(k if k.startswith("_") else f"_{k}"): v for k, v in original.items() if k not in init}
    missing = sorted(set(expected) - set(target._optional_components) - set(init))
    if missing:
        raise UnsupportedModelError(
            f"{target.__name__} needs {', '.join(missing)}, which {type(pipeline).__name__} does not have. "
            f"Pass {'them' if len(missing) > 1 else 'it'}: from_pipe(pipe, {', '.join(f'{m}=...' for m in missing)})."
        )
    if kwargs:
        warn_ignored(kwargs, target)

    new = target(**init)
    # A class may take a config argument and not record it (diffusers' LCM img2img drops
    # requires_safety_checker): kept aside as "_name" like an unused entry, so that the next
    # switch gives it back instead of the default.
    dropped = {f"_{k}": v for k, v in {**passed_config, **kept_config}.items() if k not in new.config}
    new.register_to_config(_name_or_path=name_or_path)
    new.register_to_config(**unused, **dropped)
    return new
