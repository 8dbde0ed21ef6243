"""What a replica does with a checkpoint: load it once, derive every task it serves, run one request. No ray here.

A checkpoint is loaded by the AutoPipeline of the first task it serves
(text2img where it can) with ``placement="auto"``, which plans dtype, weight
variant and placement from the weight files' headers; the other tasks come
from it by ``from_pipe``, on the same component objects and with the same
placement, so three tasks cost one set of weights. The benchmark's direct
baseline calls the same two functions without Ray.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import Any, Mapping

from ..outputs import first_image
from ..tasks import Task
from .catalog import ModelEntry
from .protocol import GenerationRequest, RequestError


@dataclass(frozen=True)
class LoadedModel:
    """A checkpoint in memory: a pipeline per task it serves (sharing one set of weights), and how long loading took."""

    entry: ModelEntry
    pipelines: Mapping[Task, Any]
    seconds: float
    placement: str
    dtype: str


def load_model(model: ModelEntry, budget: int | None = None) -> LoadedModel:
    """Load `model` with placement="auto" (within `budget` bytes of device memory where given) and derive its other tasks.

    Raises what from_pretrained raises: a typed autopipe error for a
    checkpoint that turned out unusable, OSError for files that cannot be read.
    """
    from ..auto import AUTO_CLASSES
    from ..switch import PLAN

    start = time.perf_counter()
    kwargs: dict[str, Any] = {"placement": "auto"}
    if budget is not None:
        kwargs["memory"] = budget
    first = AUTO_CLASSES[model.loads_with].from_pretrained(model.source, **kwargs)
    pipelines = {model.loads_with: first}
    for task in model.tasks:
        if task is not model.loads_with:
            pipelines[task] = AUTO_CLASSES[task].from_pipe(first)
    for pipeline in pipelines.values():
        if hasattr(pipeline, "set_progress_bar_config"):
            pipeline.set_progress_bar_config(disable=True)  # one bar per request in a server's log is noise
    plan = getattr(first, PLAN, None)
    return LoadedModel(model, pipelines, time.perf_counter() - start,
                       getattr(plan, "placement", "unplanned"), getattr(plan, "dtype", "unknown"))


def parameters(pipeline: Any) -> Mapping[str, inspect.Parameter]:
    return inspect.signature(type(pipeline).__call__).parameters


def default_strength(pipeline_class: type) -> float | None:
    """The `strength` a pipeline class uses when the call gives none (img2img and inpaint), else None."""
    parameter = inspect.signature(pipeline_class.__call__).parameters.get("strength")
    return float(parameter.default) if parameter is not None and isinstance(parameter.default, (int, float)) else None


def check_strength(request: GenerationRequest, pipeline_class: type) -> None:
    """img2img and inpaint run ``int(steps * strength)`` steps; fewer than one fails deep inside diffusers, so it is a 400 here."""
    strength = request.strength if request.strength is not None else default_strength(pipeline_class)
    if request.task is not Task.TEXT2IMG and strength is not None and int(request.steps * strength) < 1:
        import math

        raise RequestError(400, f"{pipeline_class.__name__} runs steps x strength = {request.steps} x {strength:g} steps, fewer than one: "
                                f"send \"steps\" of at least {math.ceil(1 / strength) if strength > 0 else 1}")


def call_arguments(pipeline: Any, request: GenerationRequest) -> dict[str, Any]:
    """The pipeline call's keywords for `request`.

    A pipeline that takes no height/width (SD's img2img makes the input
    image's size) gets the input image resized to the size asked, so that
    every answer has the size the request named.
    """
    import torch

    params = parameters(pipeline)
    call: dict[str, Any] = {"prompt": request.prompt, "num_inference_steps": request.steps,
                            "generator": torch.Generator("cpu").manual_seed(request.seed)}
    size = (request.width, request.height) if request.width is not None else None
    image, mask = request.image, request.mask
    if size is not None:
        if "height" in params and "width" in params:
            call.update(height=size[1], width=size[0])
        else:
            image = image.resize(size) if image is not None and image.size != size else image
            mask = mask.resize(size) if mask is not None and mask.size != size else mask
    if image is not None:
        call["image"] = image
    if mask is not None:
        call["mask_image"] = mask
    for name, value in (("strength", request.strength), ("guidance_scale", request.guidance_scale), ("negative_prompt", request.negative_prompt)):
        if value is not None:
            if name not in params:
                raise RequestError(400, f"{type(pipeline).__name__} takes no \"{name}\"; leave it out")
            call[name] = value
    return call


def generate(loaded: LoadedModel, request: GenerationRequest) -> Any:
    """Run `request` on the loaded checkpoint; the PIL image. Blocking: a replica runs it in a worker thread, one at a time."""
    pipeline = loaded.pipelines.get(request.task)
    if pipeline is None:
        raise RequestError(422, loaded.entry.refusal(request.task) or f"{loaded.entry.id} cannot do {request.task.value}", "UnsupportedTask")
    check_strength(request, type(pipeline))
    return first_image(pipeline(**call_arguments(pipeline, request)))
