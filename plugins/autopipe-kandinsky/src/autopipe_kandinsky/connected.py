"""Loading a Kandinsky decoder as the combined pipeline: finding its prior and putting the two together.

diffusers' combined pipelines (``_load_connected_pipes = True``) find the
prior through the decoder's model card: the YAML front matter of its
README.md has a key ``prior:``, a list whose first entry is a hub repo id or
a path (diffusers' ``_update_init_kwargs_with_connected_pipeline``, CONNECTED_PIPES_KEYS).
kandinsky-community/kandinsky-2-2-decoder's card says ``prior:
[kandinsky-community/kandinsky-2-2-prior]``.

This module does the same for a decoder folder on disk, with two differences:

- a relative path in the card is taken relative to the decoder folder, so it
  works whatever the working directory (diffusers hands the path as written to
  ``DiffusionPipeline.from_pretrained``, which resolves it against the current
  directory and fails anywhere else);
- prior components passed explicitly (``prior_prior=``, ``prior_text_encoder=``,
  ``prior_image_encoder=``, ``prior_tokenizer=``, ``prior_scheduler=``,
  ``prior_image_processor=``) are used as they are; when all six are passed,
  no model card is needed at all (diffusers' combined from_pretrained cannot
  build the pipeline from a decoder folder without a card even then).

A hub repo id is left to diffusers, which downloads the card with the
snapshot; a folder that already holds a combined pipeline (model_index.json
names a Combined class) is loaded by the class's own from_pretrained.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from autopipe_core import UnsupportedModelError, guard, sources
from autopipe_core.specs import class_name
from autopipe_core.switch import signature

from . import COMBINED, DECODER_ONLY, PRIOR_CLASS, PRIOR_COMPONENTS

#: The model card key diffusers reads the connected prior from (diffusers' CONNECTED_PIPES_KEYS).
CARD_KEY = "prior"

#: Keywords that concern the decoder's own checkpoint, not the prior's.
_DECODER_ONLY_OPTIONS = frozenset({"revision", "subfolder"})


def _local_folder(model: Any) -> Path | None:
    if isinstance(model, (str, os.PathLike)) and Path(model).is_dir():
        return Path(model)
    return None


def _index_class(folder: Path) -> str | None:
    try:
        return sources.read_json(folder / sources.MODEL_INDEX, sources.MODEL_INDEX).get("_class_name")
    except (OSError, ValueError):  # FileNotFoundError, and the typed errors (InvalidModelError is a ValueError)
        return None


def card_priors(folder: Path) -> list[str]:
    """The prior references the decoder's README.md front matter names, in order (empty if none)."""
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


def find_prior(folder: Path, model: Any, pipeline_name: str) -> str:
    priors = card_priors(folder)
    if not priors:
        raise UnsupportedModelError(
            f"{model} is a Kandinsky decoder; {pipeline_name} needs its prior too, and the decoder's README.md names none "
            f"(the model card's front matter key {CARD_KEY!r}, e.g. 'prior: [kandinsky-community/kandinsky-2-2-prior]'). "
            "Pass the prior's components, prior_prior=, prior_text_encoder=, prior_image_encoder=, prior_tokenizer=, "
            "prior_scheduler=, prior_image_processor= (those of a loaded prior pipeline), or add the key to the card."
        )
    return resolve_prior(folder, priors[0])


def split_kwargs(pipeline_class: type, kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(prior components passed, decoder keywords, prior loading keywords)."""
    expected, _, _ = signature(pipeline_class)
    passed_prior = {k[len("prior_"):]: v for k, v in kwargs.items() if k.startswith("prior_") and k[len("prior_"):] in PRIOR_COMPONENTS}
    decoder = {k: v for k, v in kwargs.items() if not (k.startswith("prior_") and k[len("prior_"):] in PRIOR_COMPONENTS)}
    decoder_components = set(expected) - {f"prior_{c}" for c in PRIOR_COMPONENTS}
    # As diffusers: the prior gets the loading options, less the decoder's components and scheduler options.
    prior = {k: v for k, v in decoder.items() if k not in decoder_components and k not in _DECODER_ONLY_OPTIONS
             and k not in PRIOR_COMPONENTS and "scheduler" not in k}
    return passed_prior, decoder, prior


def from_pretrained(family: str, pipeline_class: type, model: Any, kwargs: dict[str, Any]) -> Any:
    """The combined pipeline from a decoder folder and its prior; None where the class's own from_pretrained does it."""
    combined = {class_name(ref) for ref in COMBINED[family].values()}
    if pipeline_class.__name__ not in combined:
        return None  # a decoder-only class: its own from_pretrained
    folder = _local_folder(model)
    index_class = _index_class(folder) if folder is not None else None
    decoders = {class_name(ref) for ref in DECODER_ONLY[family].values()}
    passed_prior, decoder_kwargs, prior_kwargs = split_kwargs(pipeline_class, kwargs)
    every_prior_component = set(PRIOR_COMPONENTS) <= set(passed_prior)
    if index_class not in decoders and not (index_class is None and every_prior_component):
        # A combined checkpoint folder, or a hub repo id without the whole prior passed: diffusers' own loading.
        return None

    import torch  # noqa: F401 - diffusers needs it; imported here so the error is torch's own

    from autopipe_core.resolve import import_class
    from diffusers import DiffusionPipeline

    prior_components = dict(passed_prior)
    if not every_prior_component:
        assert folder is not None
        reference = find_prior(folder, model, pipeline_class.__name__)
        # The card names another checkpoint: it is checked as the decoder was, and diffusers gets exactly what was checked.
        reference, prior_kwargs = guard.checked(reference, prior_kwargs)
        prior_pipe = import_class(PRIOR_CLASS[family]).from_pretrained(reference, **prior_kwargs, **passed_prior)
        prior_components = {name: prior_components.get(name, component) for name, component in prior_pipe.components.items()}

    decoder = DiffusionPipeline.from_pretrained(model, **decoder_kwargs)
    expected, optional, _ = signature(pipeline_class)
    init = {name: component for name, component in decoder.components.items() if name in expected}
    init.update({f"prior_{name}": component for name, component in prior_components.items() if f"prior_{name}" in expected})
    missing = sorted(expected - set(init) - optional)
    if missing:
        raise UnsupportedModelError(
            f"{model} ({type(decoder).__name__}) cannot be loaded as {pipeline_class.__name__}: it lacks {', '.join(missing)}."
        )
    pipeline = pipeline_class(**init)
    pipeline.register_to_config(_name_or_path=decoder.config.get("_name_or_path", str(model)))
    return pipeline
