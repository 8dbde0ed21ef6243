"""What a checkpoint may make diffusers import: checked before diffusers is called.

model_index.json names a ``[library, class]`` pair for each component, and
diffusers' ``from_pretrained`` finds each component's class through that
library (``pipeline_loading_utils.get_class_obj_and_candidates``): a name in
its ``LOADABLE_CLASSES`` is imported, a subpackage of ``diffusers.pipelines``
is taken from there, a ``<component>/<library>.py`` shipped in the checkpoint
is remote code, and any other name is looked up in ``sys.modules`` (diffusers
0.42) or imported outright (older releases autopipe also supports). Either
way the checkpoint, not the caller, would choose what runs: ``["os",
"system"]`` is in ``sys.modules`` in every process, and a module on sys.path
with import side effects would run them.

So before a checkpoint is handed to diffusers, :func:`check` refuses every
component whose library is not one autopipe families load from: ``diffusers``,
``transformers``, a null entry, or a pipeline subpackage that diffusers ships
and maps itself (Kandinsky 2.1's ``["kandinsky", "MultilingualCLIP"]``, SD's
``["stable_diffusion", "StableDiffusionSafetyChecker"]``). The pipeline
subpackages are found on disk, next to diffusers, without importing it, so a
refused checkpoint has imported nothing at all. The caller opts in to the
checkpoint's own code only explicitly, with ``trust_remote_code=True`` or
``custom_pipeline=``, which autopipe never adds itself and passes on unchanged.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from typing import Any, Mapping

from .errors import UntrustedCodeError
from .specs import Identity

#: The libraries every family's components come from; diffusers imports these for a checkpoint anyway.
ALLOWED_LIBRARIES = frozenset({"diffusers", "transformers"})

#: The from_pretrained keywords with which a caller says "run this checkpoint's code". Never added by autopipe.
REMOTE_CODE_KWARGS = ("trust_remote_code", "custom_pipeline")

_MODULE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def opted_in(kwargs: Mapping[str, Any]) -> bool:
    """Whether the caller asked, explicitly, for the checkpoint's own code to be trusted."""
    return kwargs.get("trust_remote_code") is True or kwargs.get("custom_pipeline") is not None


@functools.lru_cache(maxsize=1)
def _diffusers_pipelines() -> Path | None:
    """diffusers' ``pipelines`` folder, found by the import system without importing diffusers."""
    try:
        spec = importlib.util.find_spec("diffusers")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pipelines"


@functools.lru_cache(maxsize=256)
def is_pipeline_module(library: str) -> bool:
    """Whether `library` names a subpackage diffusers ships in ``diffusers.pipelines`` (and maps itself)."""
    if not _MODULE.match(library):
        return False
    root = _diffusers_pipelines()
    return root is not None and (root / library / "__init__.py").is_file()


def allowed(library: str | None) -> bool:
    """Whether diffusers may be handed a component declared with this library."""
    return library is None or library in ALLOWED_LIBRARIES or is_pipeline_module(library)


def foreign(identity: Identity) -> dict[str, str]:
    """component -> the reason it would make diffusers import or run something the checkpoint chose."""
    out = {}
    files = set(identity.files or ())
    for component, (library, cls) in identity.components.items():
        if not allowed(library):
            out[component] = f"[{library!r}, {cls!r}] names the library {library!r}"
        elif library is not None and f"{component}/{library}.py" in files:
            out[component] = f"ships {component}/{library}.py, code diffusers would run in place of {library}.{cls}"
    return out


def check(identity: Identity | None, kwargs: Mapping[str, Any]) -> None:
    """Refuse, before anything is imported, a checkpoint whose components would run code it chose.

    Raises :class:`~autopipe_core.errors.UntrustedCodeError` unless the caller
    passed ``trust_remote_code=True`` or ``custom_pipeline=``.
    """
    if identity is None or identity.origin == "pipeline" or opted_in(kwargs):
        return
    bad = foreign(identity)
    if bad:
        listed = "; ".join(f"{component}: {why}" for component, why in sorted(bad.items()))
        raise UntrustedCodeError(
            f"{identity.reference}: model_index.json would make diffusers import or run code the checkpoint chose ({listed}). "
            f"autopipe loads components only from {', '.join(sorted(ALLOWED_LIBRARIES))} and diffusers' own pipeline modules. "
            "If the entry is a mistake, correct it in model_index.json (e.g. [\"diffusers\", \"UNet2DConditionModel\"]); "
            "if you trust this checkpoint and its code, pass trust_remote_code=True (and import your own module before loading)."
        )


def check_model(model: Any, kwargs: Mapping[str, Any]) -> None:
    """:func:`check` for a checkpoint a plugin loads besides the one resolved (Kandinsky's prior, named by a model card).

    Reads its model_index.json (a folder, or a hub repo id through the hub
    cache) and nothing else; call it before handing the checkpoint to diffusers.
    """
    if opted_in(kwargs):
        return
    from . import sources

    hub = {k: v for k, v in kwargs.items() if k in sources.HUB_OPTIONS}
    check(sources.identify(model, lambda names: (), **hub), kwargs)
