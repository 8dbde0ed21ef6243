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
this is still so). :func:`load` loads each of them itself through the core
toolkit's :mod:`autopipe_core.toolkit.own_components`, with the class of this
module's fixed table (:data:`ENTRIES`, built from :data:`CLASSES` under
either library; the checkpoint's entry only selects among them, nothing it
names is imported), hands diffusers ``name=None`` for it (diffusers then
loads the rest) and builds the pipeline with the loaded models in place.

The core's guard refuses a library diffusers would look up in ``sys.modules``,
such as ``wuerstchen``, before any loading code runs; both families declare
the three ``["wuerstchen", ...]`` entries as loaded by themselves
(``FamilySpec.loads_itself``, :data:`autopipe_cascade.plugin.OLD_ENTRIES`), so for
their checkpoints exactly those entries pass, and this module loads them as
above, importing nothing the checkpoint chose. Any other library is refused.
"""

from __future__ import annotations

from typing import Any, Mapping

from autopipe_core.toolkit import own_components
from autopipe_core.toolkit.own_components import MODEL_OPTIONS, model_kwargs  # noqa: F401 - this module's public names

#: Würstchen's model classes, by the class name a model_index.json gives, and where diffusers 0.42.1 keeps them.
CLASSES: Mapping[str, str] = {
    name: f"diffusers.pipelines.deprecated.wuerstchen:{name}" for name in ("PaellaVQModel", "WuerstchenDiffNeXt", "WuerstchenPrior")
}
#: The libraries checkpoints name them with: Würstchen's pipeline module before the move, the top package after.
LIBRARIES = frozenset({"wuerstchen", "diffusers"})
#: The toolkit's table: each (library, class name) entry a checkpoint gives them -> the class this plugin loads.
ENTRIES: Mapping[tuple[str, str], str] = {(library, name): ref for library in sorted(LIBRARIES) for name, ref in CLASSES.items()}


def stranded(components: Mapping[str, tuple[str | None, str | None]]) -> dict[str, str]:
    """component -> class name, for each model_index.json entry naming a Würstchen model class diffusers 0.42.1 cannot find."""
    return {name: ref.partition(":")[2] for name, ref in own_components.stranded(components, ENTRIES).items()}


def load(cls: type, reference: Any, kwargs: dict[str, Any]) -> Any:
    """``cls.from_pretrained(reference, **kwargs)``, with the Würstchen model components loaded here (see the module).

    `cls` is a pipeline class, or ``DiffusionPipeline`` (the class
    model_index.json names). A stranded component the caller passes is
    used as passed (None leaves it out). Reads the checkpoint's
    model_index.json (a folder, or a hub repo through the hub cache); raises
    what diffusers raises for the rest (:func:`autopipe_core.toolkit.own_components.load`).
    """
    return own_components.load(ENTRIES, cls, reference, kwargs)
