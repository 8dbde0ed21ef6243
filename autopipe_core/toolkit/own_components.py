"""Components a family loads itself, for checkpoints whose model_index.json names a library diffusers cannot resolve.

model_index.json gives each component a ``[library, class]`` entry, and
diffusers 0.42.1's ``from_pretrained`` finds the class through that library
only (``pipeline_loading_utils.get_class_obj_and_candidates`` and
``_get_library_or_raise``; ``maybe_raise_or_warn`` looks the entry up even
for a component passed as an object). Some published checkpoints name a
library diffusers cannot resolve for a class the family can build itself:

- briaai/BRIA-3.2 and BRIA-3.1 name their transformer
  ``["transformer_bria", "BriaTransformer2DModel"]``, the module of BRIA's
  old remote code, while diffusers has ``BriaTransformer2DModel`` itself;
- Würstchen's and Stable Cascade's checkpoints name ``["wuerstchen",
  "PaellaVQModel"]`` (saved before diffusers moved Würstchen into
  ``diffusers.pipelines.deprecated``) or ``["diffusers", "PaellaVQModel"]``
  (saved by diffusers 0.42.1 itself), neither of which it can load back.

The core's guard refuses such an entry before any loading code runs
(autopipe_core/guard.py), unless the family declares it in
:attr:`~autopipe_core.specs.FamilySpec.loads_itself`; this module is the
loading code that declaration promises. The family gives a fixed table of its
own, ``{(library, class name): "module:Class"}`` (:data:`Classes`); for each
component whose entry is a key of it, :func:`load` builds the table's class
with its ``from_pretrained`` (the component's subfolder, the caller's dtype,
weight variant and file options), hands diffusers ``name=None`` for it, so
that diffusers loads the rest and never resolves the entry, and builds the
pipeline again with the loaded models in place (so that what its
``__init__`` derives from a component, such as SD's ``vae_scale_factor``,
is derived from the real one). The entry only selects a row of the table:
nothing it names is imported. A component the caller passes is used as
passed.

Pair the two: a family that declares an entry in ``loads_itself`` must load
every checkpoint carrying it through this module (or code of its own), and
the table here should hold exactly the entries declared. Importing this module
imports no torch, diffusers or transformers.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

from .. import sources
from ..options import hub_options
from ..specs import Identity, import_class
from .plans import asked_dtype

__all__ = ["MODEL_OPTIONS", "Classes", "check_classes", "from_pretrained", "load", "loader", "model_kwargs", "stranded"]

#: A family's table: (library, class name) as model_index.json gives them -> the class that loads it, "module:Class".
Classes = Mapping[tuple[str, str], str]

#: The from_pretrained keywords a model's own from_pretrained takes too (those diffusers' load_sub_model hands on
#: that concern files and memory). A device map is not among them: a component loaded here loads on the CPU.
MODEL_OPTIONS = (
    "cache_dir", "force_download", "proxies", "local_files_only", "token", "revision", "low_cpu_mem_usage",
    "use_safetensors", "disable_mmap",
)


def check_classes(classes: Classes) -> dict[tuple[str, str], str]:
    """`classes` as a dict, after checking its shape: keys (library, class name) pairs of strings, values "module:Class".

    Raises ValueError naming the first entry that is not so (a list key is not hashable: pass tuples).
    """
    out = {}
    for key, ref in classes.items():
        if not (isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) and k for k in key)):
            raise ValueError(f"own_components: a key is a (library, class name) pair of strings, not {key!r}")
        module, sep, name = ref.partition(":") if isinstance(ref, str) else ("", "", "")
        if not (module and sep and name):
            raise ValueError(f"own_components: {key!r} must map to a 'module:Class' reference, not {ref!r}")
        out[key] = ref
    return out


def stranded(components: Mapping[str, tuple[str | None, str | None]], classes: Classes) -> dict[str, str]:
    """component -> "module:Class", for each model_index.json entry that is a key of `classes`.

    `components` is :attr:`Identity.components <autopipe_core.specs.Identity.components>`: component ->
    (library, class name), (None, None) for a null entry. Any other entry, and a class of `classes` under
    another library, is not stranded (diffusers handles it, or the guard has refused it).
    """
    table = check_classes(classes)
    return {name: table[(library, cls)] for name, (library, cls) in components.items() if (library, cls) in table}


def _has_variant(files: tuple[str, ...] | None, name: str, variant: str) -> bool:
    """Whether the component folder holds weight files of `variant` (unknown files: assume so, as the plan did)."""
    if files is None:
        return True
    return any(f.startswith(f"{name}/") and (f".{variant}." in f or f".{variant}-" in f) for f in files)


def model_kwargs(name: str, kwargs: Mapping[str, Any], files: tuple[str, ...] | None) -> dict[str, Any]:
    """The keywords component `name` is loaded with: the file and memory options (:data:`MODEL_OPTIONS`), its dtype,
    and the weight variant where its folder has files of it (diffusers passes a variant only to components that
    have one). `files`: the checkpoint's files, relative to it (None: unknown, the variant is passed as asked)."""
    out = {k: kwargs[k] for k in MODEL_OPTIONS if k in kwargs}
    dtype = asked_dtype(kwargs, name)
    if dtype is not None:
        out["dtype"] = dtype
    variant = kwargs.get("variant")
    if variant is not None and _has_variant(files, name, variant):
        out["variant"] = variant
    return out


def _identity(reference: Any, kwargs: Mapping[str, Any]) -> Identity:
    """The checkpoint's model_index.json entries and files (a folder, or a hub repo through the hub cache)."""
    hub = hub_options(kwargs)
    return sources.with_files(sources.identify(reference, lambda names: (), **hub), hub)


def _is_entry(value: Any) -> bool:
    """Whether a pipeline config value is a component's (library, class name) entry."""
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(v is None or isinstance(v, str) for v in value)


def _rebuilt(pipeline: Any, own: Mapping[str, Any], kwargs: Mapping[str, Any]) -> Any:
    """The pipeline built again by its class with `own` in place of the None it was built with.

    Every other argument of its ``__init__`` as the first build had it: the loaded components, the caller's
    keywords, then the pipeline's config (``requires_safety_checker``); where from_pretrained put the pipeline
    (``_name_or_path``, ``hf_device_map``, ``quantization_config``) is carried over.
    """
    cls = type(pipeline)
    config = pipeline.config
    init: dict[str, Any] = {}
    for param in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        name = param.name
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name in own:
            init[name] = own[name]
        elif _is_entry(config.get(name)):  # a component: (library, class name)
            init[name] = getattr(pipeline, name, None)
        elif name in kwargs:
            init[name] = kwargs[name]
        elif name in config:
            init[name] = config[name]
    out = cls(**init)
    out.register_to_config(_name_or_path=config.get("_name_or_path"))
    for attr in ("hf_device_map", "quantization_config"):
        if attr in vars(pipeline):
            setattr(out, attr, getattr(pipeline, attr))
    return out


def from_pretrained(classes: Classes, pipeline_class: type, model: Any, kwargs: Mapping[str, Any]) -> Any | None:
    """A complete ``autopipe_from_pretrained`` for a family that loads the entries of `classes` itself.

    None (the core then calls diffusers' own ``pipeline_class.from_pretrained``) when the checkpoint's
    model_index.json has no entry of `classes`. Otherwise ``pipeline_class.from_pretrained(model, **kwargs)``
    with each such component loaded here (see the module): its class from `classes`, from its subfolder,
    with :func:`model_kwargs`, on the CPU; a component passed in `kwargs` is used as passed (None leaves it
    out). Returns the pipeline, built with the loaded components.

    Raises what :func:`autopipe_core.sources.identify` raises for a checkpoint it cannot read, ValueError for a
    malformed `classes`, and what diffusers raises loading the rest.
    """
    identity = _identity(model, kwargs)
    stuck = stranded(identity.components, classes)
    if not stuck:
        return None
    own: dict[str, Any] = {}
    for name, ref in stuck.items():
        if name in kwargs:
            own[name] = kwargs[name]
        else:
            own[name] = import_class(ref).from_pretrained(model, subfolder=name, **model_kwargs(name, kwargs, identity.files))
    pipeline = pipeline_class.from_pretrained(model, **{**kwargs, **dict.fromkeys(stuck)})
    return _rebuilt(pipeline, own, kwargs)


def load(classes: Classes, pipeline_class: type, reference: Any, kwargs: Mapping[str, Any]) -> Any:
    """``pipeline_class.from_pretrained(reference, **kwargs)``, with the entries of `classes` loaded here.

    As :func:`from_pretrained`, but a checkpoint without such an entry is loaded by diffusers right away
    (never None). `pipeline_class` is a pipeline class, or ``DiffusionPipeline`` (the class model_index.json
    names).
    """
    pipeline = from_pretrained(classes, pipeline_class, reference, kwargs)
    return pipeline_class.from_pretrained(reference, **kwargs) if pipeline is None else pipeline


def loader(classes: Classes) -> Callable[[type, Any, dict[str, Any]], Any]:
    """:func:`load` with `classes` fixed: ``load(cls, reference, kwargs)``, the ``load=`` that
    :func:`autopipe_core.toolkit.connected.from_pretrained` takes for a family diffusers cannot load alone.
    `classes` is checked now (ValueError)."""
    table = check_classes(classes)

    def load_own(pipeline_class: type, reference: Any, kwargs: dict[str, Any]) -> Any:
        return load(table, pipeline_class, reference, kwargs)

    return load_own
