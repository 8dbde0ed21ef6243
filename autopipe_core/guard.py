"""What a checkpoint may make diffusers import: checked before diffusers is called.

model_index.json names a ``[library, class]`` pair for each component, and
diffusers' ``from_pretrained`` finds each component's class through that
library (``pipeline_loading_utils.get_class_obj_and_candidates``): a name in
its ``LOADABLE_CLASSES`` is imported, a subpackage of ``diffusers.pipelines``
is taken from there, a ``<component>/<library>.py`` shipped in the checkpoint
is remote code, and any other name is looked up in ``sys.modules`` (diffusers
0.42.1) or imported outright (older releases). Either
way the checkpoint, not the caller, would choose what runs: ``["os",
"system"]`` is in ``sys.modules`` in every process, and a module on sys.path
with import side effects would run them.

Every pipeline folder diffusers loads is also searched for ``None.py``:
diffusers looks for ``f"{custom_pipeline}.py"`` even when no custom pipeline
is asked for, and runs the file it finds.

So before a checkpoint is handed to diffusers, :func:`check` refuses every
component whose library is not one autopipe families load from: ``diffusers``,
``transformers``, a null entry, or a pipeline subpackage that diffusers ships
and maps itself (Kandinsky 2.1's ``["kandinsky", "MultilingualCLIP"]``, SD's
``["stable_diffusion", "StableDiffusionSafetyChecker"]``). The pipeline
subpackages are found on disk, next to diffusers, without importing it, so a
refused checkpoint has imported nothing at all. The (library, class) entries a
family declares it builds itself (``FamilySpec.loads_itself``) pass too, for
that family's checkpoints alone: diffusers is never handed them by name. The caller opts in to the
checkpoint's own code only explicitly, with ``trust_remote_code=True`` or
``custom_pipeline=``, which autopipe never adds itself and passes on unchanged.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from pathlib import Path
from typing import Any, Mapping

from . import sources
from .errors import InvalidModelError, ModelNotFoundError, UntrustedCodeError
from .options import REMOTE_CODE_KWARGS, hub_options  # noqa: F401 - REMOTE_CODE_KWARGS re-exported
from .specs import Identity

#: The libraries every family's components come from; diffusers imports these for a checkpoint anyway.
ALLOWED_LIBRARIES = frozenset({"diffusers", "transformers"})


_MODULE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")  # \Z: "$" also matches before a final newline
#: (library, class name) entries a family's loading code builds itself (FamilySpec.loads_itself).
Own = frozenset[tuple[str, str]]


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


#: How many refused components an error lists by name (a hostile model_index.json can list thousands).
SHOWN = 10

#: The file diffusers takes for a custom pipeline in every pipeline folder it loads when the caller names none:
#: ``_resolve_custom_pipeline_and_cls`` looks for ``f"{custom_pipeline}.py"`` with custom_pipeline None.
CUSTOM_NONE = "None.py"

#: How deep pipelines nested in pipelines are followed (diffusers loads a component whose folder holds a
#: model_index.json with DiffusionPipeline.from_pretrained, which reads that file in turn). Real checkpoints
#: nest at most one level (a combined pipeline's prior); deeper is refused rather than followed forever.
MAX_NESTING = 3


def _declared(library: str | None, cls: str | None, component: str, files: set[str], own: Own = frozenset()) -> str | None:
    """Why a component entry would make diffusers import or run something the checkpoint chose, or None.

    An entry in `own` (the family's :attr:`~autopipe_core.specs.FamilySpec.loads_itself`) is never handed to
    diffusers by name: the family's loading code builds it from its own classes.
    """
    if not allowed(library) and (library, cls) not in own:
        return f"[{library!r}, {cls!r}] names the library {library!r}"
    if library is not None and f"{component}/{library}.py" in files:
        return f"ships {component}/{library}.py, code diffusers would run in place of {library}.{cls}"
    return None


def foreign_in(folder: Path, prefix: str = "", depth: int = 0, own: Own = frozenset()) -> dict[str, str]:
    """component path -> why, for every component of the pipeline folder `folder` and of the pipelines nested in it.

    A component whose folder holds its own model_index.json is a pipeline
    that diffusers loads with ``DiffusionPipeline.from_pretrained``, reading
    that file and importing what it names in turn: it is checked the same
    way, to MAX_NESTING levels. Its ``_class_name`` must be a class name
    (a list there is a custom pipeline: code from the checkpoint). A folder
    reached again through a link is checked once, its findings named by the
    first path that reached it. Raises the typed errors of
    :func:`autopipe_core.sources.read_json`; InvalidModelError for a nested
    pipeline that is a link back to a pipeline it is inside (diffusers would
    load it without end); ModelNotFoundError for a pipeline folder that
    cannot be listed.
    """
    out: dict[str, str] = {}
    _walk(folder, prefix, depth, own, out, {}, {}, folder)
    return out


def _walk(folder: Path, prefix: str, depth: int, own: Own, out: dict[str, str], seen: dict[str, str], inside: dict[str, Path], top: Path) -> None:
    """:func:`foreign_in`'s walk: `seen` the real folders checked (each once), `inside` the pipelines above this one."""
    real = os.path.realpath(folder)
    seen[real] = prefix
    index = sources.read_json(folder / sources.MODEL_INDEX, f"{prefix}{sources.MODEL_INDEX}")
    if depth > 0:
        name = index.get("_class_name")
        if not (isinstance(name, str) and _MODULE.match(name)):
            out[prefix.rstrip("/")] = (
                f"is a pipeline whose model_index.json names the class {str(name)[:80]!r}: "
                "a list there is a custom pipeline, code from the checkpoint that diffusers would run"
            )
    components = sources.components(index, f"{prefix}{sources.MODEL_INDEX}")
    try:
        files = set(sources.list_folder(folder, {c for c, (library, _) in components.items() if library is not None}))
    except OSError as exc:
        raise ModelNotFoundError(f"cannot list {exc.filename or folder} ({exc.strerror or exc}): make it readable, or check the path") from None
    if CUSTOM_NONE in files:
        out[prefix + CUSTOM_NONE] = (
            f"ships {CUSTOM_NONE}, which diffusers loads as a custom pipeline when none is asked for "
            "(it looks for '<custom_pipeline>.py', and custom_pipeline is None)"
        )
    inside = {**inside, real: folder}
    for component, (library, cls) in components.items():
        why = _declared(library, cls, component, files, own)
        if why is not None:
            out[prefix + component] = why
        if f"{component}/{sources.MODEL_INDEX}" in files:
            nested = os.path.realpath(folder / component)
            if nested in inside:
                raise InvalidModelError(
                    f"{top}: the component {prefix}{component} is the pipeline folder {inside[nested]} itself (a link back to it): "
                    "diffusers would load the pipeline inside itself without end. Remove the link, or point it at the component's own folder."
                )
            if nested in seen:
                continue  # checked already, its findings under the path that first reached it
            if depth + 1 > MAX_NESTING:
                out[prefix + component] = f"is a pipeline nested more than {MAX_NESTING} levels deep; autopipe does not follow it"
            else:
                _walk(folder / component, f"{prefix}{component}/", depth + 1, own, out, seen, inside, top)


def foreign(identity: Identity, hub: Mapping[str, Any] | None = None, own: Own = frozenset()) -> dict[str, str]:
    """component -> the reason it would make diffusers import or run something the checkpoint chose.

    A folder is walked on disk with its nested pipelines (:func:`foreign_in`);
    a hub repo through the snapshot of the commit that was read (its JSON and
    Python files only, fetched with huggingface_hub); other origins by what
    the Identity lists.
    """
    if identity.origin == "folder":
        return foreign_in(Path(identity.reference), own=own)
    if identity.origin == "hub" and identity.commit is not None:
        return foreign_in(sources.hub_snapshot(identity.reference, identity.commit, **(hub or {})), own=own)
    files = set(identity.files or ())
    out = {}
    for component, (library, cls) in identity.components.items():
        why = _declared(library, cls, component, files, own)
        if why is not None:
            out[component] = why
    return out


def check(identity: Identity | None, kwargs: Mapping[str, Any], own: Own = frozenset()) -> None:
    """Refuse, before anything is imported, a checkpoint whose components would run code it chose.

    Checks exactly what diffusers will load: the canonical folder, or the hub
    commit that was read (loading pins diffusers to it), with every pipeline
    nested in it. Raises :class:`~autopipe_core.errors.UntrustedCodeError`
    unless the caller passed ``trust_remote_code=True`` or ``custom_pipeline=``. `own`: the resolved family's
    :attr:`~autopipe_core.specs.FamilySpec.loads_itself`, entries its loading code builds itself.
    """
    if identity is None or identity.origin in ("pipeline", "file") or opted_in(kwargs):
        return
    bad = foreign(identity, hub_options(kwargs), own)
    if bad:
        shown = sorted(bad.items())[:SHOWN]
        listed = "; ".join(f"{component}: {why}" for component, why in shown) + (f"; and {len(bad) - SHOWN} more" if len(bad) > SHOWN else "")
        raise UntrustedCodeError(
            f"{identity.reference}: model_index.json would make diffusers import or run code the checkpoint chose ({listed}). "
            f"autopipe loads components only from {', '.join(sorted(ALLOWED_LIBRARIES))} and diffusers' own pipeline modules. "
            "If the entry is a mistake, correct it in model_index.json (e.g. [\"diffusers\", \"UNet2DConditionModel\"]); "
            "if you trust this checkpoint and its code, pass trust_remote_code=True (and import your own module before loading)."
        )


def checked(model: Any, kwargs: Mapping[str, Any], own: Own = frozenset()) -> tuple[Any, dict[str, Any]]:
    """:func:`check` for a checkpoint a plugin loads besides the one resolved (Kandinsky's prior, named by a model card).

    Reads its model_index.json (a folder, or a hub repo id through the hub
    cache), checks it as :func:`check` does, and returns what to hand diffusers
    and the keywords to hand with it: the canonical path, or the repo id with
    ``revision`` pinned to the commit that was checked.
    """
    identity = sources.identify(model, lambda names: (), **hub_options(kwargs))
    check(identity, kwargs, own)
    kwargs = dict(kwargs)
    if identity.origin == "folder":
        return identity.reference, kwargs
    if identity.origin == "hub" and identity.commit is not None:
        kwargs["revision"] = identity.commit
        return identity.reference, kwargs
    return model, kwargs


def check_model(model: Any, kwargs: Mapping[str, Any]) -> None:
    """:func:`checked`, for callers that hand diffusers the reference themselves (kept for plugins written against it)."""
    checked(model, kwargs)
