"""AutoPipelineForText2Image, AutoPipelineForImage2Image, AutoPipelineForInpainting.

Drop-in for diffusers' classes of the same names: the same methods, the same
arguments, plain diffusers pipelines returned. What differs is how the class
is chosen (tables registered by plugins, see resolve.py) and that a checkpoint
which cannot serve the task fails here, before any weight is read.
"""

from __future__ import annotations

from typing import Any, ClassVar

from . import sources
from .registry import get_registry
from .resolve import class_kwargs, identify, resolve_identity
from .switch import switch
from .tasks import Task


class _AutoPipeline:
    task: ClassVar[Task]
    config_name = "model_index.json"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        name = type(self).__name__
        raise EnvironmentError(
            f"{name} is not instantiated directly: use {name}.from_pretrained(pretrained_model_or_path) "
            f"or {name}.from_pipe(pipeline)."
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_or_path: Any, **kwargs: Any) -> Any:
        """Load the class that does this task for this checkpoint; every keyword goes to its from_pretrained.

        Modifier keywords (``enable_pag``) pick the class and are then removed;
        ``controlnet`` picks the class and is passed on as a component.
        """
        if hasattr(pretrained_model_or_path, "components"):
            raise TypeError(f"{cls.__name__}.from_pretrained takes a path or repo id; for a loaded pipeline use {cls.__name__}.from_pipe(pipeline)")
        hub = {k: kwargs[k] for k in sources.HUB_OPTIONS if k in kwargs}
        pipeline_class, kwargs = cls._resolve(pretrained_model_or_path, kwargs, hub)
        return pipeline_class.from_pretrained(pretrained_model_or_path, **kwargs)

    @classmethod
    def from_pipe(cls, pipeline: Any, **kwargs: Any) -> Any:
        """The pipeline for this task on the same component objects: nothing is copied or cast.

        Keywords override components and config entries; modifier keywords
        change the class (``enable_pag=False`` goes back to the plain one).
        A keyword the new pipeline does not take raises an
        IgnoredArgumentWarning that says where it belongs.
        """
        pipeline_class, kwargs = cls._resolve(pipeline, kwargs, {})
        return switch(pipeline, pipeline_class, kwargs)

    @classmethod
    def _resolve(cls, model: Any, kwargs: dict[str, Any], hub: dict[str, Any]) -> tuple[type, dict[str, Any]]:
        """The class for this task, and the keywords left once modifiers that are not arguments are taken out."""
        registry = get_registry()
        resolution = resolve_identity(identify(model, registry, **hub), cls.task, kwargs, registry)
        return resolution.load_class(), class_kwargs(registry, kwargs)


class AutoPipelineForText2Image(_AutoPipeline):
    task = Task.TEXT2IMG


class AutoPipelineForImage2Image(_AutoPipeline):
    task = Task.IMG2IMG


class AutoPipelineForInpainting(_AutoPipeline):
    task = Task.INPAINT


AUTO_CLASSES: dict[Task, type[_AutoPipeline]] = {c.task: c for c in (AutoPipelineForText2Image, AutoPipelineForImage2Image, AutoPipelineForInpainting)}
