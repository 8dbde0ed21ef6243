"""Combined pipelines: a decoder checkpoint whose model card names its prior, loaded and planned as one pipeline.

diffusers' combined pipelines (``_load_connected_pipes = True``: Kandinsky
2.1 and 2.2, Würstchen, Stable Cascade) find the prior through the decoder's
model card: the YAML front matter of its README.md has a key ``prior:``, a
list whose first entry is a hub repo id or a path (diffusers 0.42.1,
``pipeline_loading_utils.CONNECTED_PIPES_KEYS`` and
``_update_init_kwargs_with_connected_pipeline``). The combined pipeline then
takes each component of the prior pipeline as ``prior_<name>``.
kandinsky-community/kandinsky-2-2-decoder's card says ``prior:
[kandinsky-community/kandinsky-2-2-prior]``; stabilityai/stable-cascade's
names stabilityai/stable-cascade-prior, warp-ai/wuerstchen's warp-ai/wuerstchen-prior.

A family declares its combined pipelines once, as a :class:`Connection`, and
its ``autopipe_from_pretrained`` is :func:`from_pretrained`; its planning
hooks use :func:`with_prior` (the prior's weights in the footprint) and
:func:`not_balanced` (diffusers cannot split a connected pipeline over GPUs).
This module does what diffusers does for a decoder folder on disk, with these
differences:

- a relative path in the card is taken relative to the decoder folder, so it
  works whatever the working directory (diffusers hands the path as written
  to ``DiffusionPipeline.from_pretrained``, which resolves it against the
  current directory and fails anywhere else);
- prior components passed explicitly (``prior_prior=``, ``prior_text_encoder=``,
  ...) are used as they are; when every prior component is passed, no model
  card is needed at all (diffusers' combined ``from_pretrained`` cannot build
  the pipeline from a decoder folder without a card even then);
- the prior the card names is another checkpoint: it is checked by the guard
  exactly as the decoder was (:func:`autopipe_core.guard.checked`) before
  diffusers sees it;
- a family whose checkpoints diffusers cannot load by their own
  ``model_index.json`` gives ``load=`` (see :func:`from_pretrained`), and
  then hub repos are assembled here too, the card read through the hub cache.

Importing this module imports no torch, diffusers or transformers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from .. import guard, sources
from ..errors import ModelNotFoundError, UnsupportedModelError
from ..options import HUB_OPTIONS
from ..planning import choose, count_folder, count_hub
from ..specs import ComponentBytes, DeviceFacts, Footprint, Identity, LoadPlan, class_name, import_class
from ..switch import signature

__all__ = [
    "CARD_KEY",
    "PREFIX",
    "NOT_BALANCED",
    "Connection",
    "Loader",
    "card_priors",
    "count_prior",
    "default_load",
    "find_prior",
    "from_pretrained",
    "index_class",
    "local_folder",
    "loads_combined",
    "not_balanced",
    "prior_source",
    "resolve_prior",
    "split_kwargs",
    "with_prior",
]

#: The model card key diffusers reads the connected prior from (diffusers' CONNECTED_PIPES_KEYS, its only key).
CARD_KEY = "prior"
#: How a combined pipeline names each component of its prior: ``prior_<name>``.
PREFIX = CARD_KEY + "_"

#: Keywords that concern the decoder's own checkpoint, not the prior's.
_DECODER_ONLY_OPTIONS = frozenset({"revision", "subfolder"})
#: The dtype keywords of from_pretrained (diffusers 0.40 renamed torch_dtype to dtype; both are accepted).
_DTYPE_KEYWORDS = ("dtype", "torch_dtype")

#: How a family loads one pipeline checkpoint: ``load(cls, reference, kwargs)`` -> the pipeline (an instance of `cls`,
#: or, for ``DiffusionPipeline``, of the class its model_index.json names). The default is ``cls.from_pretrained``.
Loader = Callable[[type, Any, dict], Any]


@dataclass(frozen=True)
class Connection:
    """One family's combined pipelines and the checkpoints they are assembled from.

    `combined`: the class names of the combined pipelines (diffusers' text2img,
    img2img and inpaint ones, those the family registers). `decoders`: the class
    names a decoder checkpoint's model_index.json gives (what loads as a combined
    pipeline). `prior_class`: the prior pipeline class, ``"module:Class"``.
    `prior_components`: the prior pipeline's components, each taken by the
    combined pipeline as ``prior_<name>``. `title`: how messages name the family
    ("Kandinsky 2.2"). `example`: a card entry shown in the error for a decoder
    whose card names no prior ("kandinsky-community/kandinsky-2-2-prior").
    """

    title: str
    combined: frozenset[str]
    decoders: frozenset[str]
    prior_class: str
    prior_components: tuple[str, ...]
    example: str
    #: The family's FamilySpec.loads_itself: entries of the prior's model_index.json its loading code builds itself.
    loads_itself: frozenset[tuple[str, str]] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "combined", frozenset(class_name(c) for c in self.combined))
        object.__setattr__(self, "decoders", frozenset(class_name(c) for c in self.decoders))
        object.__setattr__(self, "prior_components", tuple(self.prior_components))
        if not self.combined or not self.decoders or not self.prior_components:
            raise ValueError("a Connection names at least one combined class, one decoder class and one prior component")
        if ":" not in self.prior_class:
            raise ValueError(f"prior_class must be a class reference 'module:Class', not {self.prior_class!r}")

    @property
    def prior_keywords(self) -> tuple[str, ...]:
        """The combined pipeline's keywords of the prior's components: ``prior_prior``, ``prior_text_encoder``, ..."""
        return tuple(PREFIX + c for c in self.prior_components)


def local_folder(model: Any) -> Path | None:
    """`model` as a folder when it is a path to one, else None (a hub repo id, a file, an object)."""
    if isinstance(model, (str, os.PathLike)) and Path(model).is_dir():
        return Path(model)
    return None


def index_class(folder: Path) -> str | None:
    """The ``_class_name`` of ``folder/model_index.json``, or None when it cannot be read."""
    try:
        return sources.read_json(folder / sources.MODEL_INDEX, sources.MODEL_INDEX).get("_class_name")
    except (OSError, ValueError):  # FileNotFoundError, and the typed errors (InvalidModelError is a ValueError)
        return None


def card_priors(folder: Path) -> list[str]:
    """The prior references the README.md front matter in `folder` names under ``prior:``, in order (empty if none).

    Read capped and without blocking (:func:`autopipe_core.sources.card_data`:
    an oversized or non-regular README.md is an ``InvalidModelError``).
    """
    value = sources.card_data(folder).get(CARD_KEY)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def resolve_prior(folder: Path, reference: str) -> str:
    """A card's prior reference: a path relative to the decoder folder first, then as written (a path or a repo id)."""
    candidate = Path(reference).expanduser()
    if not candidate.is_absolute() and (folder / candidate).is_dir():
        return str((folder / candidate).resolve())
    return str(candidate) if candidate.is_dir() else reference


def find_prior(connection: Connection, folder: Path, model: Any, pipeline_name: str) -> str:
    """The prior the card in `folder` names first, resolved (:func:`resolve_prior`).

    Raises ``UnsupportedModelError`` saying what to pass, or what to add to the
    card, when it names none.
    """
    priors = card_priors(folder)
    if not priors:
        passing = ", ".join(f"{k}=" for k in connection.prior_keywords)
        raise UnsupportedModelError(
            f"{model} is a {connection.title} decoder; {pipeline_name} needs its prior too, and the decoder's README.md names none "
            f"(the model card's front matter key {CARD_KEY!r}, e.g. '{CARD_KEY}: [{connection.example}]'). "
            f"Pass the prior's components, {passing} (those of a loaded prior pipeline), or add the key to the card."
        )
    return resolve_prior(folder, priors[0])


def _split_dtype(value: Any, prior: bool) -> Any:
    """A per-component dtype mapping ({"default": d, "prior_prior": d2, "decoder": d3}) cut to one side's own names."""
    if not isinstance(value, Mapping):
        return value
    if prior:
        out = {k[len(PREFIX):]: v for k, v in value.items() if k.startswith(PREFIX)}
    else:
        out = {k: v for k, v in value.items() if not k.startswith(PREFIX)}
    if "default" in value:
        out["default"] = value["default"]
    return out


def split_kwargs(pipeline_class: type, kwargs: Mapping[str, Any], prior_components: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(prior components passed, by their prior-pipeline names; the decoder's keywords; the prior's loading keywords).

    As diffusers hands them: the prior gets the loading options, less the
    decoder's components, its scheduler options and the options that concern
    the decoder's own checkpoint (``revision``, ``subfolder``). A
    per-component dtype mapping is split too: ``prior_<name>`` entries go to
    the prior as ``<name>``, the others (and ``"default"``) to the decoder.
    """
    expected, _, _ = signature(pipeline_class)

    def is_prior(key: str) -> bool:
        return key.startswith(PREFIX) and key[len(PREFIX):] in prior_components

    passed_prior = {k[len(PREFIX):]: v for k, v in kwargs.items() if is_prior(k)}
    decoder = {k: (_split_dtype(v, prior=False) if k in _DTYPE_KEYWORDS else v) for k, v in kwargs.items() if not is_prior(k)}
    decoder_components = set(expected) - {PREFIX + c for c in prior_components}
    prior = {
        k: (_split_dtype(kwargs[k], prior=True) if k in _DTYPE_KEYWORDS else v)
        for k, v in decoder.items()
        if k not in decoder_components and k not in _DECODER_ONLY_OPTIONS and k not in prior_components and "scheduler" not in k
    }
    return passed_prior, decoder, prior


def default_load(cls: type, reference: Any, kwargs: dict[str, Any]) -> Any:
    """What diffusers does: ``cls.from_pretrained(reference, **kwargs)``."""
    return cls.from_pretrained(reference, **kwargs)


def _hub_card_folder(model: str, kwargs: Mapping[str, Any]) -> Path | None:
    """The folder of a hub repo's README.md, fetched through the hub cache (at the pinned revision), or None without one."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    options = {k: kwargs[k] for k in HUB_OPTIONS if kwargs.get(k) is not None}
    try:
        return Path(hf_hub_download(model, "README.md", **options)).parent
    except LocalEntryNotFoundError as exc:  # before EntryNotFoundError: a subclass. Offline, and not in the cache
        raise ModelNotFoundError(
            f"{model}'s README.md, whose model card names the prior, is not in the hub cache and cannot be downloaded "
            "(offline, or local_files_only=True). Connect once to download it, or pass the prior's components."
        ) from exc
    except EntryNotFoundError:  # the repo has none
        return None


def from_pretrained(
    connection: Connection, pipeline_class: type, model: Any, kwargs: dict[str, Any], load: Loader | None = None
) -> Any:
    """The combined pipeline from a decoder checkpoint and its prior; None where diffusers' own loading does it.

    `pipeline_class` is the class resolution chose. A combined class on a
    decoder folder: the prior the card names is found (:func:`find_prior`),
    checked by the guard, loaded with the prior's share of `kwargs`
    (:func:`split_kwargs`) and the prior components passed, the decoder loaded
    with the rest, and the two put together. Without a card the prior's
    components must be passed (``UnsupportedModelError`` otherwise): all
    those the combined class does not list as optional; passed so, the card
    is not read and the optional ones not passed are None.

    `load` (a :data:`Loader`) is how the family loads one checkpoint, for a
    family whose checkpoints diffusers cannot load by their model_index.json
    alone. Without it this returns None for what diffusers loads by itself (a
    class that is not combined, a folder already saved as a combined
    pipeline, a hub repo without every prior component passed: diffusers
    reads the card from the snapshot). With it those are loaded through
    `load`, and a hub repo's card is fetched through the hub cache (a repo
    without README.md is a decoder without card).
    """
    if pipeline_class.__name__ not in connection.combined:
        return None if load is None else load(pipeline_class, model, kwargs)
    folder = local_folder(model)
    index = index_class(folder) if folder is not None else None
    passed_prior, decoder_kwargs, prior_kwargs = split_kwargs(pipeline_class, kwargs, connection.prior_components)
    _, optional, _ = signature(pipeline_class)
    # Every prior component the combined class cannot do without (Stable Cascade's image encoder is optional): no card read.
    every_prior_component = {c for c in connection.prior_components if PREFIX + c not in optional} <= set(passed_prior)
    if folder is None and load is not None and isinstance(model, str) and sources.is_repo_id(model):
        index = sources.identify(model, lambda names: (), **{k: kwargs[k] for k in HUB_OPTIONS if k in kwargs}).class_name
        if index in connection.decoders and not every_prior_component:
            folder = _hub_card_folder(model, kwargs)  # the card's folder in the hub cache; None: the repo has no card
    if index not in connection.decoders and not (index is None and every_prior_component):
        # A combined checkpoint folder, or a hub repo id without the whole prior passed: the class's own loading.
        return None if load is None else load(pipeline_class, model, kwargs)

    import torch  # noqa: F401 - diffusers needs it; imported here so the error is torch's own
    from diffusers import DiffusionPipeline

    load = load or default_load
    prior_components = dict(passed_prior)
    if not every_prior_component:
        if folder is None:  # a hub decoder without README.md, and not every prior component passed
            passing = ", ".join(f"{k}=" for k in connection.prior_keywords)
            raise UnsupportedModelError(
                f"{model} is a {connection.title} decoder; {pipeline_class.__name__} needs its prior too, and the repo has no "
                f"README.md whose front matter names it ({CARD_KEY!r}). Pass the prior's components, {passing} "
                "(those of a loaded prior pipeline)."
            )
        reference = find_prior(connection, folder, model, pipeline_class.__name__)
        # The card names another checkpoint: it is checked as the decoder was, and diffusers gets exactly what was checked.
        reference, prior_kwargs = guard.checked(reference, prior_kwargs, connection.loads_itself)
        prior_pipe = load(import_class(connection.prior_class), reference, {**prior_kwargs, **passed_prior})
        prior_components = {name: prior_components.get(name, component) for name, component in prior_pipe.components.items()}

    decoder = load(DiffusionPipeline, model, decoder_kwargs)
    expected, optional, _ = signature(pipeline_class)
    init = {name: component for name, component in decoder.components.items() if name in expected}
    init.update({PREFIX + name: component for name, component in prior_components.items() if PREFIX + name in expected})
    missing = sorted(expected - set(init) - optional)
    if missing:
        raise UnsupportedModelError(
            f"{model} ({type(decoder).__name__}) cannot be loaded as {pipeline_class.__name__}: it lacks {', '.join(missing)}."
        )
    pipeline = pipeline_class(**init)
    pipeline.register_to_config(_name_or_path=decoder.config.get("_name_or_path", str(model)))
    return pipeline


# -- planning -------------------------------------------------------------------------------------------------------


def loads_combined(connection: Connection, identity: Identity) -> bool:
    """Whether the checkpoint loads as a combined pipeline whose prior is not in its own model_index.json (a decoder)."""
    return identity.class_name in connection.decoders


def prior_source(identity: Identity) -> str | None:
    """The prior the decoder's model card names: a local folder or a hub repo id; None without a card entry.

    A decoder on the hub has its card (README.md, a few KiB) fetched through
    the hub cache, as diffusers does when it loads the combined pipeline;
    what huggingface_hub raises (offline, no such file) is raised.
    """
    if identity.origin == "folder":
        priors = card_priors(Path(identity.reference))
        return resolve_prior(Path(identity.reference), priors[0]) if priors else None
    if identity.origin == "hub":
        from huggingface_hub import hf_hub_download

        card = Path(hf_hub_download(identity.reference, "README.md", **({"revision": identity.commit} if identity.commit else {})))
        priors = card_priors(card.parent)
        return priors[0] if priors else None
    return None


def count_prior(identity: Identity, plan: LoadPlan, components: tuple[str, ...] | list[str]) -> list[ComponentBytes]:
    """The prior's `components` as ``prior_<name>``, from the folder or hub repo the card names; one unknown entry
    (named "prior", with why) when the card or the prior cannot be read."""
    try:
        source = prior_source(identity)
    except Exception as exc:  # offline, no card in the cache, an unreadable card
        return [ComponentBytes(CARD_KEY, None, None, plan.dtype, f"unknown: the decoder's model card could not be read ({type(exc).__name__}: {exc})")]
    if source is None:
        return [ComponentBytes(CARD_KEY, None, None, plan.dtype, "unknown: the decoder's model card names no prior")]
    if Path(source).is_dir():
        return count_folder(source, plan, components, label_prefix=PREFIX)
    try:
        return count_hub(source, plan, components, label_prefix=PREFIX)
    except Exception as exc:  # offline, gated
        return [ComponentBytes(CARD_KEY, None, None, plan.dtype, f"unknown: the prior {source} could not be read from the hub ({type(exc).__name__}: {exc})")]


def with_prior(connection: Connection, identity: Identity, plan: LoadPlan, footprint: Footprint) -> Footprint:
    """`footprint` with the prior's weights added, for a decoder checkpoint, unless prior components were passed as
    objects (the core counted those; the rest then come from the card, as loading takes them)."""
    if not loads_combined(connection, identity):
        return footprint
    if any(c.name.startswith(PREFIX) for c in footprint.components):
        return footprint
    missing = [c for c in connection.prior_components if footprint.component(PREFIX + c) is None]
    for c in count_prior(identity, plan, missing):
        footprint = footprint.with_component(c)
    return footprint


#: Why a combined pipeline is never balanced: diffusers refuses device_map for it.
NOT_BALANCED = "diffusers does not support device_map for connected (combined) pipelines"


def not_balanced(connection: Connection, identity: Identity, device: DeviceFacts, footprint: Footprint, plan: LoadPlan) -> LoadPlan | None:
    """A combined pipeline cannot be split over GPUs by diffusers: where the rules chose "balanced", the one-GPU rule
    instead, the reason saying why; None (the rules' choice kept) otherwise. A complete ``autopipe_placement``."""
    if plan.placement != "balanced" or not (loads_combined(connection, identity) or identity.class_name in connection.combined):
        return None
    single = choose(footprint, replace(device, count=1))
    return replace(plan, placement=single.placement, reason=(
        f"{plan.reason.split('; ')[0]}; {single.reason}; not balanced over {device.count} GPUs: {NOT_BALANCED}"
    ))
