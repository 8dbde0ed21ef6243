"""Loading a resolved pipeline the way its family wants on this machine.

The family's loading code (the ``autopipe_load_plan`` hook) decides dtype,
weight variant and placement from the checkpoint's facts and the device's;
this module asks it, and applies the answer. Keyword arguments the caller
gives explicitly always win over the plan.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .errors import PluginError
from .registry import Registry, get_registry
from .resolve import Resolution
from .specs import DeviceFacts, Identity, LoadPlan


def detect(device: str | None = None) -> DeviceFacts:
    """Read the device's facts from torch (the only function here that imports it)."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        free, total = torch.cuda.mem_get_info(index)
        return DeviceFacts("cuda", torch.cuda.device_count(), free, total, torch.cuda.is_bf16_supported())
    if dev.type == "cpu":
        return DeviceFacts("cpu", 0)
    return DeviceFacts(dev.type, 1)


def _with_files(identity: Identity) -> Identity:
    """Hub checkpoints: list the repo's files (a metadata call, no download) so the plan can see fp16 variants."""
    if identity.files is not None or identity.origin != "hub":
        return identity
    try:
        from huggingface_hub import list_repo_files

        return replace(identity, files=tuple(list_repo_files(identity.reference)))
    except Exception:  # offline, gated: the plan then says it could not see the files
        return identity


def plan(resolution: Resolution, device: DeviceFacts, registry: Registry | None = None) -> LoadPlan:
    """The family's LoadPlan for this checkpoint on this device (float32 on the device if it has none)."""
    registry = registry or get_registry()
    identity = _with_files(resolution.identity) if resolution.identity else Identity("unknown", "", resolution.pipeline_class)
    owner = registry.families[resolution.family][1]
    try:
        result = registry.call(owner, "autopipe_load_plan", family=resolution.family, identity=identity, device=device)
    except Exception as exc:
        raise PluginError(f"{owner}'s loading code for {resolution.family} raised {type(exc).__name__}: {exc}") from exc
    if result is None:
        return LoadPlan("float32", None, "device", device.type, f"{owner} gives no loading code for {resolution.family}: float32 on {device.type}")
    if not isinstance(result, LoadPlan):
        raise PluginError(f"{owner}'s autopipe_load_plan returned {type(result).__name__}, not a LoadPlan")
    return result


def load_kwargs(load_plan: LoadPlan, kwargs: dict[str, Any]) -> dict[str, Any]:
    """from_pretrained keywords for the plan; the caller's own keywords win."""
    import torch

    out = dict(kwargs)
    dtype = getattr(torch, load_plan.dtype)
    if load_plan.component_dtypes:
        dtype = {"default": dtype, **{name: getattr(torch, d) for name, d in load_plan.component_dtypes.items()}}
    out.setdefault("torch_dtype", dtype)
    if load_plan.variant is not None:
        out.setdefault("variant", load_plan.variant)
    if load_plan.placement == "balanced":
        out.setdefault("device_map", "balanced")
    return out


def place(pipeline: Any, load_plan: LoadPlan) -> Any:
    """Put a loaded pipeline where the plan says."""
    if load_plan.placement == "device":
        pipeline.to(load_plan.device)
    elif load_plan.placement == "model_cpu_offload":
        pipeline.enable_model_cpu_offload(device=load_plan.device)
    elif load_plan.placement == "sequential_cpu_offload":
        pipeline.enable_sequential_cpu_offload(device=load_plan.device)
    return pipeline


def load(model: Any, task: Any, device: str | DeviceFacts | None = None, **kwargs: Any) -> tuple[Any, Resolution, LoadPlan]:
    """Resolve, plan and load: the pipeline placed as its family's loading code says.

    Returns (pipeline, resolution, plan). Explicit keywords (torch_dtype,
    variant, ...) win over the plan; modifier keywords pick the class as in
    from_pretrained.
    """
    from . import sources
    from .resolve import class_kwargs, identify, resolve_identity

    registry = get_registry()
    facts = device if isinstance(device, DeviceFacts) else detect(device)
    hub = {k: kwargs[k] for k in sources.HUB_OPTIONS if k in kwargs}
    allow_pickle = bool(kwargs.pop("allow_pickle", False))
    resolution = resolve_identity(identify(model, registry, allow_pickle, **hub), task, kwargs, registry)
    load_plan = plan(resolution, facts, registry)
    if isinstance(device, str) and load_plan.device != device:
        load_plan = replace(load_plan, device=device)
    pipeline = from_pretrained(resolution, model, load_kwargs(load_plan, class_kwargs(registry, kwargs)), registry)
    return place(pipeline, load_plan), resolution, load_plan


def from_pretrained(resolution: Resolution, model: Any, kwargs: dict[str, Any], registry: Registry | None = None) -> Any:
    """The family's own loading code if it has some (``autopipe_from_pretrained``), else the class's from_pretrained."""
    if resolution.identity is not None and resolution.identity.origin == "file":
        return from_single_file(resolution, model, kwargs, registry)
    registry = registry or get_registry()
    pipeline_class = resolution.load_class()
    owner = registry.families[resolution.family][1]
    pipeline = registry.call(owner, "autopipe_from_pretrained", family=resolution.family, pipeline_class=pipeline_class, model=model, kwargs=dict(kwargs))
    return pipeline if pipeline is not None else pipeline_class.from_pretrained(model, **kwargs)


def from_single_file(resolution: Resolution, path: Any, kwargs: dict[str, Any], registry: Registry | None = None) -> Any:
    """Load a detected single-file checkpoint offline: the detecting plugin's loading code, else diffusers' from_single_file.

    The default is ``pipeline_class.from_single_file(path, config=<the folder
    the plugin ships for the detected variant>, local_files_only=True)``: the
    component configs come from that folder, the weights from the file, and
    nothing from the hub. The caller's own ``config=`` or
    ``local_files_only=`` win.
    """
    registry = registry or get_registry()
    identity = resolution.identity
    detection = identity.detection if identity is not None else None
    if detection is None:
        raise PluginError(f"{path} resolved as a single file but carries no detection; this is a bug in autopipe")
    pipeline_class = resolution.load_class()
    kwargs = dict(kwargs)
    if detection.config is not None:
        kwargs.setdefault("config", detection.config)
    kwargs.setdefault("local_files_only", True)
    pipeline = registry.call(
        detection.plugin, "autopipe_from_single_file",
        family=resolution.family, pipeline_class=pipeline_class, path=str(path), detection=detection, kwargs=dict(kwargs),
    )
    return pipeline if pipeline is not None else pipeline_class.from_single_file(str(path), **kwargs)
