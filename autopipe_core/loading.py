"""Loading a resolved pipeline the way its family wants on this machine.

The family's loading code (the ``autopipe_load_plan`` hook) decides dtype,
weight variant and placement from the checkpoint's facts and the device's;
this module asks it, and applies the answer. Keyword arguments the caller
gives explicitly always win over the plan.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Mapping

from . import guard, planning
from .collector import survivors_frozen
from .errors import InvalidModelError, ModelNotFoundError, PlacementError, PluginError
from .load_lock import LOAD_LOCK
from .options import hub_options
from .switch import PLAN, keep_dropped, signature
from .registry import Registry, get_registry
from .resolve import Resolution
from .planning import family_plan  # noqa: F401 - its name here before it moved to planning
from .specs import DeviceFacts, Identity, LoadPlan, device_type, import_class
from .toolkit.single_file import default_load
from .units import parse_memory



def detect(device: str | None = None) -> DeviceFacts:
    """Read the device's facts from torch (the only function here that imports it); None: the best one there is.

    Raises PlacementError, before anything loads, for a name that is no device autopipe places on
    (:func:`autopipe_core.specs.device_type`) and for one torch does not find here: CUDA in a CPU-only build or on
    a machine without a GPU, an index past the last device, MPS off Apple silicon.
    """
    if device is not None:
        kind = device_type(device)
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
        kind = device
    missing = unavailable(device, kind, torch)
    if missing is not None:
        raise PlacementError(f"{missing}: pass device='cpu', or no device for the best one there is")
    dev = torch.device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        free, total = torch.cuda.mem_get_info(index)
        return DeviceFacts("cuda", torch.cuda.device_count(), free, total, torch.cuda.is_bf16_supported())
    if dev.type == "cpu":
        return DeviceFacts("cpu", 0)
    return DeviceFacts(dev.type, 1)


def unavailable(device: str, kind: str, torch: Any) -> str | None:
    """Why torch cannot use `device` (of type `kind`) here, or None: it finds none of that type, or fewer than its index."""
    if kind == "cpu":
        return None
    module = torch.backends.mps if kind == "mps" else getattr(torch, kind, None)
    if module is None or not module.is_available():
        build = " (a CPU-only build)" if kind == "cuda" and torch.version.cuda is None else ""
        return f"{device}: torch {torch.__version__}{build} finds no {kind.upper()} device on this machine"
    index = device.partition(":")[2]
    count = getattr(module, "device_count", lambda: 1)()  # torch.cuda's, torch.xpu's; MPS is one device
    if index and int(index) >= count:
        names = ", ".join(f"{kind}:{i}" for i in range(count))
        return f"{device}: torch finds {count} {kind.upper()} device{'s' if count != 1 else ''} ({names})"
    return None


def plan(resolution: Resolution, device: DeviceFacts, registry: Registry | None = None, width: int | None = None, height: int | None = None) -> LoadPlan:
    """The LoadPlan to apply: the family's dtype and variant, the placement planned from the weights' headers.

    See :mod:`autopipe_core.placement` for the order (family, counted bytes,
    the family's activation allowance, the rules, the family's override) and
    :func:`autopipe_core.placement.plan` for the figures behind it.
    """
    return planning.plan(resolution, device, width, height, registry=registry).plan


def device_facts(device: str | None = None, memory: int | str | None = None) -> DeviceFacts:
    """The facts of `device` (torch's), with `memory` (bytes or "8GiB") as the budget instead of what torch reports free."""
    budget = parse_memory(memory) if memory is not None else None  # checked before torch is imported
    facts = detect(device)
    return replace(facts, free_bytes=budget) if budget is not None else facts


def load_kwargs(load_plan: LoadPlan, kwargs: dict[str, Any], max_memory: Mapping[int, int] | None = None) -> dict[str, Any]:
    """from_pretrained keywords for the plan; the caller's own keywords win.

    "balanced" hands diffusers ``device_map="balanced"`` and, where the plan
    has one, ``max_memory`` (each GPU's budget less the activation allowance),
    unless the caller chose a device_map of their own. Each component the plan
    skips is handed as ``name=None`` (diffusers then loads no weights for it),
    and the plan's `extra` keywords are added, unless the caller gave that
    keyword themselves.
    """
    import torch

    out = dict(kwargs)
    dtype = getattr(torch, load_plan.dtype)
    if load_plan.component_dtypes:
        dtype = {"default": dtype, **{name: getattr(torch, d) for name, d in load_plan.component_dtypes.items()}}
    if "dtype" not in kwargs and "torch_dtype" not in kwargs:
        out[dtype_keyword()] = dtype
    if load_plan.variant is not None:
        out.setdefault("variant", load_plan.variant)
    for name in sorted(load_plan.skip):
        out.setdefault(name, None)
    for key, value in load_plan.extra.items():
        out.setdefault(key, value)
    if load_plan.placement == "balanced" and "device_map" not in kwargs:
        out["device_map"] = "balanced"
        if max_memory is not None:
            out.setdefault("max_memory", dict(max_memory))
    return out


def dtype_keyword() -> str:
    """The name from_pretrained takes the dtype by: ``dtype`` from diffusers 0.40 (which deprecates ``torch_dtype``,
    following transformers), ``torch_dtype`` before. Read from the installed distribution's version."""
    from importlib.metadata import version

    parts = version("diffusers").split(".")
    return "dtype" if (int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)) >= (0, 40) else "torch_dtype"


def place(pipeline: Any, load_plan: LoadPlan) -> Any:
    """Put a loaded pipeline where the plan says ("balanced" was placed by diffusers while loading), and record the plan.

    The plan is kept on the pipeline (``switch.PLAN``) so that from_pipe gives the next pipeline the same placement.
    """
    if load_plan.placement == "device":
        pipeline.to(load_plan.device)
    elif load_plan.placement == "model_cpu_offload":
        pipeline.enable_model_cpu_offload(device=load_plan.device)
    elif load_plan.placement == "sequential_cpu_offload":
        pipeline.enable_sequential_cpu_offload(device=load_plan.device)
    setattr(pipeline, PLAN, load_plan)
    return pipeline


def load(model: Any, task: Any, device: str | DeviceFacts | None = None, **kwargs: Any) -> tuple[Any, Resolution, LoadPlan]:
    """Resolve, plan and load: the pipeline placed as its family's loading code says.

    Returns (pipeline, resolution, plan). Explicit keywords (torch_dtype,
    variant, ...) win over the plan; modifier keywords pick the class as in
    from_pretrained.
    """
    from .resolve import class_kwargs, identify, resolve_identity

    registry = get_registry()
    hub = hub_options(kwargs)
    allow_pickle = bool(kwargs.pop("allow_pickle", False))
    resolution = resolve_identity(identify(model, registry, allow_pickle, passed=kwargs, **hub), task, kwargs, registry)
    check(resolution, kwargs, registry)  # before torch is imported to probe the device
    facts = device if isinstance(device, DeviceFacts) else detect(device)
    placed = planning.plan(resolution, facts, kwargs=kwargs, registry=registry, device_name=device if isinstance(device, str) else None, allow_pickle=allow_pickle)
    load_plan = placed.plan
    pipeline = from_pretrained(resolution, model, load_kwargs(load_plan, class_kwargs(registry, kwargs), placed.max_memory), registry, checked=True)
    return place(pipeline, load_plan), resolution, load_plan


def from_pretrained_placed(
    resolution: Resolution,
    model: Any,
    kwargs: dict[str, Any],
    placement: str,
    device: str | DeviceFacts | None = None,
    memory: int | str | None = None,
    registry: Registry | None = None,
    allow_pickle: bool = False,
) -> Any:
    """from_pretrained(..., placement=) : plan (placement.py), load with the plan's keywords, place.

    `placement` is "auto" (the plan's) or a placement name to force; `device`
    a device name or injected DeviceFacts; `memory` the budget per device
    (default: what torch reports free). The caller's torch_dtype, variant
    and device_map win over the plan; with their own device_map the pipeline
    is left where diffusers put it.
    """
    if placement not in planning.CHOICES:
        raise PlacementError(f"placement={placement!r} is not one of {', '.join(repr(c) for c in planning.CHOICES)}")
    registry = registry or get_registry()
    check(resolution, kwargs, registry)  # before torch is imported to probe the device
    if isinstance(device, DeviceFacts):
        facts = replace(device, free_bytes=parse_memory(memory)) if memory is not None else device
        name = None
    else:
        facts, name = device_facts(device, memory), device
    placed = planning.plan(resolution, facts, kwargs=kwargs, force=placement, registry=registry, device_name=name, allow_pickle=allow_pickle)
    pipeline = from_pretrained(resolution, model, load_kwargs(placed.plan, kwargs, placed.max_memory), registry, checked=True)
    if "device_map" in kwargs:  # the caller's own map: diffusers placed it
        setattr(pipeline, PLAN, replace(placed.plan, placement="balanced", reason=f"device_map={kwargs['device_map']!r} as the caller asked"))
        return pipeline
    return place(pipeline, placed.plan)


def source(identity: Identity | None, model: Any, kwargs: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """What diffusers is handed for `model`: exactly what was read and checked.

    A folder or a file: its canonical path (``~`` expanded, links resolved),
    never the string as typed. A hub repo: the repo id with ``revision`` pinned
    to the commit whose files were read, so a push between the check and the
    download cannot change what loads. Anything else as it is.
    """
    kwargs = dict(kwargs)
    if identity is None:
        return model, kwargs
    if identity.origin in ("folder", "file"):
        try:
            identity.reference.encode("utf-8")
        except UnicodeEncodeError:  # a name of bytes that are no UTF-8, kept by Python as surrogates
            raise ModelNotFoundError(
                f"{identity.reference!r}: a name on this path is not valid UTF-8, and safetensors, which reads the weights, "
                "opens UTF-8 paths only. Rename it (resolve and plan read it; loading cannot)."
            ) from None
        return identity.reference, kwargs
    if identity.origin == "hub" and identity.commit is not None:
        kwargs["revision"] = identity.commit
        return identity.reference, kwargs
    return model, kwargs


def _as_given(pipeline: Any, model: Any) -> Any:
    """diffusers records the reference it was handed as ``_name_or_path``; record the caller's own, as diffusers would."""
    if isinstance(model, (str, os.PathLike)) and hasattr(pipeline, "register_to_config"):
        pipeline.register_to_config(_name_or_path=model)  # as given: a str stays a str, a Path a Path
    return pipeline


def check(resolution: Resolution, kwargs: Mapping[str, Any], registry: Registry) -> None:
    """The guard (guard.py) on what `resolution` names, with the entries its family builds itself: a single file has no
    model_index.json to check (pickles are refused by single_file.py)."""
    if resolution.identity is not None and resolution.identity.origin != "file":
        guard.check(resolution.identity, kwargs, registry.families[resolution.family][0].loads_itself)


def from_pretrained(resolution: Resolution, model: Any, kwargs: dict[str, Any], registry: Registry | None = None, checked: bool = False) -> Any:
    """The family's own loading code if it has some (``autopipe_from_pretrained``), else the class's from_pretrained.

    Refuses first, before diffusers is imported, a checkpoint whose model_index.json (or a pipeline nested in
    it) would make diffusers import a library it chose (guard.py) unless the caller opted in (`checked`: the
    caller ran :func:`check` already, before planning); then hands diffusers exactly what was checked (:func:`source`).
    """
    if resolution.identity is not None and resolution.identity.origin == "file":
        return from_single_file(resolution, model, kwargs, registry)
    registry = registry or get_registry()
    if not checked:
        check(resolution, kwargs, registry)  # before torch is imported
    with survivors_frozen():  # the class's import and the load: collector.py says why
        return _load_folder(resolution, model, kwargs, registry)


def _load_folder(resolution: Resolution, model: Any, kwargs: dict[str, Any], registry: Registry) -> Any:
    """from_pretrained's load, after its checks: the class imported, its components checked, then loaded."""
    target, kwargs = source(resolution.identity, model, kwargs)
    pipeline_class = resolution.load_class()
    kwargs = with_default_dtype(pipeline_class, kwargs)
    check_components(resolution, pipeline_class, kwargs, registry)
    owner = registry.families[resolution.family][1]
    with LOAD_LOCK:
        pipeline = registry.ask(owner, "autopipe_from_pretrained", family=resolution.family, pipeline_class=pipeline_class, model=target, kwargs=dict(kwargs))
        if pipeline is None:
            pipeline = pipeline_class.from_pretrained(target, **kwargs)
    if hasattr(pipeline, "register_to_config"):  # what the class took and kept nowhere, for from_pipe to give back
        keep_dropped(pipeline, kwargs, registry.families[resolution.family][0].init_readers)
    return _as_given(pipeline, model)


def with_default_dtype(pipeline_class: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` with ``dtype=torch.float32`` where the caller named no dtype (none, or None) for a diffusers pipeline.

    diffusers documents float32 as the default, but hands transformers ``dtype=None``, which transformers 5 reads
    as the config's dtype: real SD, SDXL and SD3 text encoders say float16, and would load so beside a float32 UNet,
    failing the first call. A dtype the caller names, under either keyword, is passed as it is; a class that is
    not a diffusers pipeline (a plugin's own) gets the keywords as given.
    """
    import torch
    from diffusers import DiffusionPipeline

    if not (isinstance(pipeline_class, type) and issubclass(pipeline_class, DiffusionPipeline)):
        return dict(kwargs)
    out = dict(kwargs)
    if out.get("dtype") is None and out.get("torch_dtype") is None:
        out.pop("dtype", None)
        out.pop("torch_dtype", None)
        out[dtype_keyword()] = torch.float32
    return out


def _needs(pipeline_class: type) -> set[str]:
    """The components `pipeline_class` cannot do without, less those a connected pipeline brings from its own
    checkpoint (a combined Kandinsky pipeline's ``prior_*``: diffusers' CONNECTED_PIPES_KEYS, found through the card)."""
    expected, optional, _ = signature(pipeline_class)
    needed = expected - optional
    if getattr(pipeline_class, "_load_connected_pipes", False):
        from diffusers.pipelines.pipeline_utils import CONNECTED_PIPES_KEYS

        needed = {n for n in needed if not any(n.startswith(f"{key}_") for key in CONNECTED_PIPES_KEYS)}
    return needed


def check_components(resolution: Resolution, pipeline_class: type, kwargs: Mapping[str, Any], registry: Registry) -> None:
    """Before any weight is read: the components the checkpoint lists (and has on disk) plus those the caller
    passes must be what `pipeline_class` needs; what is missing is named, with the class of the family it fits.

    diffusers finds out one component at a time, after loading the others (or not at all, and the call fails).
    """
    identity = resolution.identity
    if identity is None or identity.origin not in ("folder", "hub") or not hasattr(pipeline_class, "_get_signature_keys"):
        return  # nothing read to check, or a class that is no diffusers pipeline (a plugin's own)
    files = set(identity.files) if identity.files is not None else None
    present = {
        name for name, (library, cls) in identity.components.items()
        if library is not None and cls is not None and (files is None or any(f.startswith(name + "/") for f in files))
    }
    expected = signature(pipeline_class)[0]
    present |= {k for k, v in kwargs.items() if v is not None and k in expected}  # components passed, not dtype= and the like
    missing = sorted(_needs(pipeline_class) - present)
    if not missing:
        return
    listed = sorted(n for n, (lib, cls) in identity.components.items() if lib is not None and cls is not None)
    absent = [m for m in missing if m in identity.components and identity.components[m][1] is not None]
    what = (
        f"lists {', '.join(absent)} but has no folder for {'them' if len(absent) > 1 else 'it'}" if absent and len(absent) == len(missing)
        else f"has no {', '.join(missing)}"
    )
    fits = _fitting_class(resolution.family, pipeline_class, present, registry)
    hint = f" Its components ({', '.join(listed)}) are those of {fits[0]}: {fits[1]}" if fits else ""
    raise InvalidModelError(
        f"{identity.reference} {what}, which {pipeline_class.__name__} needs.{hint} "
        f"Complete the checkpoint, or pass {', '.join(f'{m}=...' for m in missing)} to from_pretrained."
    )


def _fitting_class(family: str, wrong: type, present: set[str], registry: Registry) -> tuple[str, str] | None:
    """(class name, what to do) of another class of the family whose components are exactly those present, if any."""
    candidates: dict[str, str] = {}
    for (fam, _), tasks in registry.table.items():
        if fam == family:
            for task, (ref, _) in tasks.items():
                candidates.setdefault(ref, f"load it for {task.value} with autopipe, and correct _class_name in model_index.json")
    for name, reason in registry.families[family][0].recognised.items():
        candidates.setdefault(f"diffusers:{name}", reason)
    for ref, advice in candidates.items():
        try:
            cls = import_class(ref)
            if cls is wrong:
                continue
            expected, optional, _ = signature(cls)
        except Exception:  # noqa: BLE001 - gone from this diffusers, or a stand-in for a missing backend (onnxruntime)
            continue
        if expected - optional <= present <= expected:
            return cls.__name__, advice
    return None


def from_single_file(resolution: Resolution, path: Any, kwargs: dict[str, Any], registry: Registry | None = None) -> Any:
    """Load a detected single-file checkpoint offline: the detecting plugin's loading code, else diffusers' from_single_file.

    The default is ``pipeline_class.from_single_file(path, config=<the folder
    the plugin ships for the detected variant>, local_files_only=True)``: the
    component configs come from that folder, the weights from the file, and
    nothing from the hub. The caller's own ``config=`` or
    ``local_files_only=`` win. The default also builds the CLIP tokenizers
    the folder names but carries no vocabulary for (only their
    tokenizer_config.json), from the CLIP merges the core ships, and turns a
    component the file lacks into an UnsupportedModelError that says what to
    pass (:func:`autopipe_core.toolkit.single_file.default_load`).
    """
    registry = registry or get_registry()
    identity = resolution.identity
    detection = identity.detection if identity is not None else None
    if detection is None:
        raise PluginError(f"{path} resolved as a single file but carries no detection; this is a bug in autopipe")
    with survivors_frozen():  # the class's import and the load: collector.py says why
        return _load_file(resolution, path, kwargs, registry, detection)


def _load_file(resolution: Resolution, path: Any, kwargs: dict[str, Any], registry: Registry, detection: Any) -> Any:
    """from_single_file's load, after its checks: the class imported, the plugin's loading code or the default."""
    identity = resolution.identity
    pipeline_class = resolution.load_class()
    target, kwargs = source(identity, path, with_default_dtype(pipeline_class, kwargs))
    if detection.config is not None:
        kwargs.setdefault("config", detection.config)
    kwargs.setdefault("local_files_only", True)
    with LOAD_LOCK:
        pipeline = registry.ask(
            detection.plugin, "autopipe_from_single_file",
            family=resolution.family, pipeline_class=pipeline_class, path=str(target), detection=detection, kwargs=dict(kwargs),
        )
        if pipeline is None:
            pipeline = default_load(pipeline_class, str(target), detection, kwargs)
    return with_scheduler_facts(pipeline, detection.scheduler, kwargs)


def with_scheduler_facts(pipeline: Any, facts: Mapping[str, Any], kwargs: Mapping[str, Any]) -> Any:
    """The pipeline with its scheduler configured as the file says (``Detection.scheduler``: prediction_type, zero terminal SNR).

    The caller's own scheduler, or their own value of any of these entries, wins: nothing is changed then.
    Schedulers that do not take an entry keep their config (diffusers' from_config ignores what a class does not know).
    """
    scheduler = getattr(pipeline, "scheduler", None)
    if not facts or scheduler is None or "scheduler" in kwargs or any(k in kwargs for k in facts):
        return pipeline
    if all(scheduler.config.get(k) == v for k, v in facts.items()):
        return pipeline
    pipeline.scheduler = type(scheduler).from_config(scheduler.config, **facts)
    ignored = sorted(k for k, v in facts.items() if pipeline.scheduler.config.get(k) != v)
    if ignored:  # diffusers drops entries a scheduler class does not take, silently: say so
        import warnings

        warnings.warn(
            f"the file says {', '.join(f'{k}={facts[k]!r}' for k in ignored)}, which {type(scheduler).__name__} does not take: "
            "pass a scheduler that does (e.g. DDIMScheduler.from_config(pipe.scheduler.config, ...)) for this checkpoint's images to come out right",
            UserWarning,
            stacklevel=3,
        )
    return pipeline
