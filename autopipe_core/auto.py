"""AutoPipelineForText2Image, AutoPipelineForImage2Image, AutoPipelineForInpainting.

Drop-in for diffusers' classes of the same names: the same methods, the same
arguments, plain diffusers pipelines returned. What differs is how the class
is chosen (tables registered by plugins, see resolve.py) and that a checkpoint
which cannot serve the task fails here, before any weight is read.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from . import loading
from .errors import ModelNotFoundError
from .options import hub_options
from .registry import Registry
from .resolve import Resolution, class_kwargs, identify, identify_pipeline, resolve_identity
from .scope import folder_class, resolving
from .sources import is_pipeline, live_components
from .switch import switch
from .tasks import Task


def _config_mixin(name: str) -> Any:
    """A class method diffusers' AutoPipeline classes get from ConfigMixin (``load_config``), answered by diffusers' class
    for the same task: the same behaviour by construction. diffusers is imported on the first call, not with autopipe."""

    def method(cls: Any, *args: Any, **kwargs: Any) -> Any:
        import diffusers

        return getattr(getattr(diffusers, cls.task.auto_class), name)(*args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"diffusers' ``{name}`` of the AutoPipeline class for this task (ConfigMixin, config_name model_index.json)."
    return classmethod(method)


class _AutoPipeline:
    task: ClassVar[Task]
    config_name = "model_index.json"
    ignore_for_config: ClassVar[list[str]] = []

    load_config = _config_mixin("load_config")
    extract_init_dict = _config_mixin("extract_init_dict")

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

        ``placement="auto"`` plans dtype, variant and placement from the
        weights' headers and the budget (``device=``, ``memory=`` such as
        "8GiB"; default: what torch reports free) and applies them; a
        placement name ("model_cpu_offload", ...) forces that one. The
        caller's torch_dtype, variant and device_map win over the plan.
        Without ``placement`` nothing is changed: diffusers' own behaviour.
        """
        if hasattr(pretrained_model_or_path, "components"):
            raise TypeError(f"{cls.__name__}.from_pretrained takes a path or repo id; for a loaded pipeline use {cls.__name__}.from_pipe(pipeline)")
        placement, device, memory = (kwargs.pop(key, None) for key in ("placement", "device", "memory"))
        if placement is None and (device is not None or memory is not None):
            raise TypeError(f"{cls.__name__}.from_pretrained: device= and memory= are autopipe's placement options; pass them with placement='auto'")
        hub = hub_options(kwargs)
        allow_pickle = bool(kwargs.pop("allow_pickle", False))
        resolution, registry = resolving(  # a local folder imports only the plugins its load reads (scope.py)
            folder_class(pretrained_model_or_path),
            lambda registry: resolve_identity(identify(pretrained_model_or_path, registry, allow_pickle, passed=kwargs, **hub), cls.task, kwargs, registry),
        )
        if placement is not None:
            return loading.from_pretrained_placed(resolution, pretrained_model_or_path, class_kwargs(registry, kwargs), placement, device, memory, registry, allow_pickle)
        return loading.from_pretrained(resolution, pretrained_model_or_path, class_kwargs(registry, kwargs), registry)

    @classmethod
    def from_single_file(cls, pretrained_model_link_or_path: Any, **kwargs: Any) -> Any:
        """Load a single-file checkpoint (.safetensors) without being told its family, fully offline.

        The file's header alone says which family and variant it is (each
        plugin recognises its own); the class for this task is resolved as
        for a folder, and loaded with diffusers' ``from_single_file`` over the
        component configs the plugin ships for that variant. Pickle files
        (.ckpt, .bin, .pt) are refused unless ``allow_pickle=True``. Every
        other keyword goes to diffusers' ``from_single_file``.
        """
        path = os.fspath(pretrained_model_link_or_path) if isinstance(pretrained_model_link_or_path, (str, os.PathLike)) else None
        if path is not None and path.startswith(("http://", "https://")):
            raise ModelNotFoundError(
                f"{cls.__name__}.from_single_file reads a checkpoint file on disk, and {path!r} is a URL: download it first "
                "(huggingface_hub.hf_hub_download(repo_id, filename) for a hub file) and pass the local path."
            )
        if path is None or not os.path.isfile(os.path.expanduser(path)):
            raise ModelNotFoundError(
                f"{cls.__name__}.from_single_file takes the path of a checkpoint file (.safetensors); {pretrained_model_link_or_path!r} is not a file. "
                f"For a diffusers folder or a hub repo id use {cls.__name__}.from_pretrained."
            )
        return cls.from_pretrained(os.path.expanduser(path), **kwargs)

    @classmethod
    def from_pipe(cls, pipeline: Any, **kwargs: Any) -> Any:
        """The pipeline for this task on the same component objects: nothing is copied or cast.

        Keywords override components and config entries; modifier keywords
        change the class (``enable_pag=False`` goes back to the plain one).
        A keyword the new pipeline does not take raises an
        IgnoredArgumentWarning that says where it belongs.
        """
        if isinstance(pipeline, type):
            raise TypeError(f"{cls.__name__}.from_pipe takes a loaded pipeline (an object with components and config), not the class {pipeline.__name__}; load it first")
        if not is_pipeline(pipeline):
            raise TypeError(
                f"{cls.__name__}.from_pipe takes a loaded pipeline (an object with components and config), not {type(pipeline).__name__}; "
                f"for a path or repo id use {cls.__name__}.from_pretrained"
            )
        components = live_components(pipeline)  # read once: diffusers' property inspects the class's signature each time

        def step(registry: Registry) -> Resolution:
            identity = identify(pipeline, registry) if components is None else identify_pipeline(pipeline, registry, components)
            return resolve_identity(identity, cls.task, kwargs, registry)

        resolution, registry = resolving(tuple(c.__name__ for c in type(pipeline).__mro__), step)  # scope.py
        identity = resolution.identity
        source = registry.identify(identity.bases or (identity.class_name,))
        readers = {**registry.families[source.family][0].init_readers, **registry.families[resolution.family][0].init_readers} if source else {}
        return switch(pipeline, resolution.load_class(), class_kwargs(registry, kwargs), readers, components)


class AutoPipelineForText2Image(_AutoPipeline):
    task = Task.TEXT2IMG


class AutoPipelineForImage2Image(_AutoPipeline):
    task = Task.IMG2IMG


class AutoPipelineForInpainting(_AutoPipeline):
    task = Task.INPAINT


AUTO_CLASSES: dict[Task, type[_AutoPipeline]] = {c.task: c for c in (AutoPipelineForText2Image, AutoPipelineForImage2Image, AutoPipelineForInpainting)}
