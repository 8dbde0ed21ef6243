"""Würstchen's own model classes, which diffusers 0.42.1 cannot load by the names checkpoints give them, loaded here.

diffusers moved Würstchen into ``diffusers.pipelines.deprecated.wuerstchen``.
Its three model classes, ``PaellaVQModel`` (the VQGAN, Stage A, of Würstchen
and of Stable Cascade), ``WuerstchenDiffNeXt`` (Würstchen's decoder) and
``WuerstchenPrior`` (Würstchen's prior), are exported neither by ``diffusers``
nor by ``diffusers.pipelines`` any more, and diffusers 0.42.1's loader finds a
component's class only there (``pipeline_loading_utils``:
``get_class_obj_and_candidates``, ``_get_library_or_raise``):

- a checkpoint saved before the move names them ``["wuerstchen", "PaellaVQModel"]``
  (stabilityai/stable-cascade's ``vqgan``; every model of warp-ai/wuerstchen
  and warp-ai/wuerstchen-prior): ``diffusers.pipelines`` has no
  ``wuerstchen`` now, so diffusers looks the name up in ``sys.modules`` and
  fails ("wuerstchen is not one of the libraries Diffusers can load
  components from ... and has not been imported");
- a checkpoint diffusers 0.42.1 saves itself names them
  ``["diffusers", "PaellaVQModel"]`` (``_fetch_class_library_tuple`` takes the
  top package), and ``diffusers`` has no such attribute ("`diffusers` has no
  class `PaellaVQModel`"), even when the model is passed as an object
  (``maybe_raise_or_warn`` looks the declared class up first).

So no pipeline with such a component loads through ``from_pretrained`` in
diffusers 0.42.1: a tiny StableCascadeDecoderPipeline saved with
``save_pretrained`` fails to load back (tests/test_components.py checks that
this is still so). :func:`load` loads each of them itself, with the class of
this module's fixed table (:data:`CLASSES`; the checkpoint's library string
only selects among them, nothing it names is imported), hands diffusers
``name=None`` for it (diffusers then loads the rest and builds the pipeline
with None there) and registers the loaded model in its place.

The core's guard refuses a library diffusers would look up in ``sys.modules``,
such as ``wuerstchen``, before any loading code runs; both families declare
the three ``["wuerstchen", ...]`` entries as loaded by themselves
(``FamilySpec.loads_itself``, :data:`autopipe_cascade.OLD_ENTRIES`), so for
their checkpoints exactly those entries pass, and this module loads them as
above, importing nothing the checkpoint chose. Any other library is refused.
"""

from __future__ import annotations

from typing import Any, Mapping

from autopipe_core import sources
from autopipe_core.options import hub_options
from autopipe_core.specs import import_class

#: Würstchen's model classes, by the class name a model_index.json gives, and where diffusers 0.42.1 keeps them.
CLASSES: Mapping[str, str] = {
    name: f"diffusers.pipelines.deprecated.wuerstchen:{name}" for name in ("PaellaVQModel", "WuerstchenDiffNeXt", "WuerstchenPrior")
}
#: The libraries checkpoints name them with: Würstchen's pipeline module before the move, the top package after.
LIBRARIES = frozenset({"wuerstchen", "diffusers"})

#: The from_pretrained keywords a model's own from_pretrained takes too (those diffusers' load_sub_model hands on
#: that concern files and memory). A device map is not among them: a component loaded here loads on the CPU.
MODEL_OPTIONS = (
    "cache_dir", "force_download", "proxies", "local_files_only", "token", "revision", "low_cpu_mem_usage",
    "use_safetensors", "disable_mmap",
)


def stranded(components: Mapping[str, tuple[str | None, str | None]]) -> dict[str, str]:
    """component -> class name, for each model_index.json entry naming a Würstchen model class diffusers 0.42.1 cannot find."""
    return {name: cls for name, (library, cls) in components.items() if library in LIBRARIES and cls in CLASSES}


def _dtype(kwargs: Mapping[str, Any], name: str) -> Any:
    value = kwargs.get("dtype", kwargs.get("torch_dtype"))
    if isinstance(value, Mapping):  # diffusers' per-component form: {"default": ..., name: ...}
        return value.get(name, value.get("default"))
    return value


def _has_variant(files: tuple[str, ...] | None, name: str, variant: str) -> bool:
    """Whether the component folder holds weight files of `variant` (unknown files: assume so, as the plan did)."""
    if files is None:
        return True
    return any(f.startswith(f"{name}/") and (f".{variant}." in f or f".{variant}-" in f) for f in files)


def model_kwargs(name: str, kwargs: Mapping[str, Any], files: tuple[str, ...] | None) -> dict[str, Any]:
    """The keywords component `name` is loaded with: the file and memory options, its dtype, and the weight variant
    where its folder has files of it (diffusers passes a variant only to components that have one)."""
    out = {k: kwargs[k] for k in MODEL_OPTIONS if k in kwargs}
    dtype = _dtype(kwargs, name)
    if dtype is not None:
        out["dtype"] = dtype
    variant = kwargs.get("variant")
    if variant is not None and _has_variant(files, name, variant):
        out["variant"] = variant
    return out


def load(cls: type, reference: Any, kwargs: dict[str, Any]) -> Any:
    """``cls.from_pretrained(reference, **kwargs)``, with the Würstchen model components loaded here (see the module).

    `cls` is a pipeline class, or ``DiffusionPipeline`` (the class
    model_index.json names). A stranded component the caller passes is
    used as passed (None leaves it out). Reads the checkpoint's
    model_index.json (a folder, or a hub repo through the hub cache); raises
    what diffusers raises for the rest.
    """
    identity = sources.with_files(sources.identify(reference, lambda names: (), **hub_options(kwargs)), hub_options(kwargs))
    stuck = stranded(identity.components)
    if not stuck:
        return cls.from_pretrained(reference, **kwargs)
    own = {}
    for name, class_name in stuck.items():
        if name in kwargs:
            own[name] = kwargs[name]
        else:
            model_class = import_class(CLASSES[class_name])
            own[name] = model_class.from_pretrained(reference, subfolder=name, **model_kwargs(name, kwargs, identity.files))
    pipeline = cls.from_pretrained(reference, **{**kwargs, **dict.fromkeys(stuck)})
    pipeline.register_modules(**own)
    return pipeline
