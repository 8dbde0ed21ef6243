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
from typing import Any, Callable, Mapping

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


#: Where a pipeline keeps constructor values its class did not take (from a PAG pipeline to a plain one:
#: pag_applied_layers), so that a later switch to a class that takes them gives them back. An attribute,
#: not a config entry: the config stays exactly what diffusers would write.
KEPT = "_autopipe_kept"

#: Where autopipe records the LoadPlan it applied to a pipeline (placement="auto", generate, demo).
PLAN = "_autopipe_plan"

Readers = Mapping[str, Callable[[Any], Any]]


class PlacementWarning(UserWarning):
    """from_pipe could not give the new pipeline the placement of the one it came from."""


def signature(cls: type) -> tuple[set[str], set[str], set[str]]:
    """(components, optional components, other constructor arguments) of a diffusers pipeline class.

    Through diffusers' own ``_get_signature_keys`` and ``_optional_components``
    (private names of diffusers, wrapped here once so that nothing else relies on them).
    """
    expected, optional = cls._get_signature_keys(cls)
    return set(expected), set(getattr(cls, "_optional_components", None) or ()), set(optional)


def live_state(pipeline: Any, readers: Readers = {}) -> dict[str, Any]:
    """The constructor arguments `pipeline` keeps outside its config, read back from the live object.

    For each argument of its class that is neither a component nor recorded in
    ``pipeline.config``: the family's reader (``FamilySpec.init_readers``: SDXL's
    ``add_watermarker`` is ``pipeline.watermark is not None``), else the instance
    attribute of the same name (PAG's ``pag_applied_layers``), plus what an
    earlier switch kept aside (:data:`KEPT`).
    """
    _, _, arguments = signature(type(pipeline))
    state = dict(getattr(pipeline, KEPT, None) or {})
    attributes = vars(pipeline)
    for name in arguments:
        if name in pipeline.config:
            continue
        if name in readers:
            state[name] = readers[name](pipeline)
        elif name in attributes:
            state[name] = attributes[name]
    return state


def keep_dropped(pipeline: Any, given: Mapping[str, Any], readers: Readers = {}) -> None:
    """Record in `pipeline`'s config, as ``_name``, each constructor value in `given` its class took and kept nowhere.

    A class may take an argument and record it neither in its config nor as an attribute (diffusers' LCM img2img
    drops ``requires_safety_checker``): kept aside like an unused config entry, the next switch gives it back
    instead of the default. Values the family reads back another way (`readers`) are left alone.
    """
    _, _, arguments = signature(type(pipeline))
    attributes = vars(pipeline)
    dropped = {f"_{k}": v for k, v in given.items() if k in arguments and k not in pipeline.config and k not in attributes and k not in readers}
    if dropped:
        pipeline.register_to_config(**dropped)


def switch(pipeline: Any, target: type, kwargs: dict[str, Any], readers: Readers = {}, components: Mapping[str, Any] | None = None) -> Any:
    """Build `target` from `pipeline`'s components, config and state; `kwargs` override components and config.

    The new pipeline takes the same component objects, every config entry its
    class takes, every constructor value the source keeps outside its config
    (:func:`live_state`), and the source's placement (:func:`carry_placement`).
    `components` is ``pipeline.components`` where the caller read it already
    (diffusers' property inspects the class's signature on every read).
    """
    kwargs = dict(kwargs)
    original = dict(pipeline.config)
    name_or_path = original.pop("_name_or_path", None)
    expected, optional_components, arguments = signature(target)
    state = live_state(pipeline, readers)

    passed_components = {k: kwargs.pop(k) for k in expected if k in kwargs}
    source = pipeline.components if components is None else components
    kept_components = {k: v for k, v in source.items() if k in expected and k not in passed_components}
    passed_config = {k: kwargs.pop(k) for k in arguments if k in kwargs}
    kept_config = {k: v for k, v in original.items() if k in arguments and k not in passed_config}
    for key in [k for k in original if k.startswith("_") and k[1:] in arguments]:
        kept = original.pop(key)  # a value kept aside: given back, unless the caller passes a new one (then it is stale)
        if key[1:] not in passed_config:
            kept_config[key[1:]] = kept
    kept_state = {k: v for k, v in state.items() if k in arguments and k not in passed_config and k not in kept_config}

    init = {**passed_components, **kept_components, **passed_config, **kept_config, **kept_state}
    unused = {(k if k.startswith("_") else f"_{k}"): v for k, v in original.items() if k not in init}
    missing = sorted(expected - optional_components - set(init))
    if missing:
        raise UnsupportedModelError(
            f"{target.__name__} needs {', '.join(missing)}, which {type(pipeline).__name__} does not have. "
            f"Pass {'them' if len(missing) > 1 else 'it'}: from_pipe(pipe, {', '.join(f'{m}=...' for m in missing)})."
        )
    if kwargs:
        warn_ignored(kwargs, target)

    new = target(**init)
    new.register_to_config(_name_or_path=name_or_path)
    new.register_to_config(**unused)
    keep_dropped(new, {**passed_config, **kept_config})
    aside = {k: v for k, v in state.items() if k not in arguments}
    if aside:
        setattr(new, KEPT, aside)
    carry_placement(pipeline, new)
    return new


def _pipelines_within(pipeline: Any) -> list[Any]:
    """`pipeline` and the pipelines it holds as attributes (a combined pipeline's prior_pipe and decoder_pipe)."""
    inner = [v for v in vars(pipeline).values() if v is not pipeline and hasattr(v, "components") and hasattr(v, "register_to_config")]
    return [pipeline, *inner]


def carry_placement(source: Any, new: Any) -> None:
    """Give `new` (built on `source`'s components) the placement `source` has.

    - model CPU offload (diffusers' ``_all_hooks``, on the pipeline or on its
      inner pipelines): re-applied to `new` on the same device, so that `new`
      manages the hooks of the modules it shares and frees them after a call;
    - sequential CPU offload: the hooks live on the shared modules and keep
      working; `new` gets the offload device diffusers records;
    - a device map (``device_map="balanced"``): ``hf_device_map`` is carried;
    - the LoadPlan autopipe recorded (:data:`PLAN`) is carried.
    A placement `new` cannot take (its class has no ``model_cpu_offload_seq``)
    is a PlacementWarning, not silence.
    """
    plan = getattr(source, PLAN, None)
    if plan is not None:
        setattr(new, PLAN, plan)
    device_map = getattr(source, "hf_device_map", None)
    if device_map is not None:
        new.hf_device_map = device_map
    offloaded = next((p for p in _pipelines_within(source) if getattr(p, "_all_hooks", None)), None)
    if offloaded is not None:
        device = getattr(offloaded, "_offload_device", None)
        if getattr(new, "model_cpu_offload_seq", None) is None and not any(getattr(type(p), "model_cpu_offload_seq", None) for p in _pipelines_within(new)[1:]):
            warnings.warn(
                f"{type(source).__name__} had model CPU offload, which {type(new).__name__} cannot take (no model_cpu_offload_seq): "
                "its modules stay where the last call left them",
                PlacementWarning,
                stacklevel=4,
            )
            return
        new.enable_model_cpu_offload(device=device)
        return
    sequential = getattr(source, "_offload_device", None)
    if sequential is not None or (plan is not None and plan.placement == "sequential_cpu_offload"):
        for name in ("_offload_device", "_offload_gpu_id"):
            if hasattr(source, name):
                setattr(new, name, getattr(source, name))
