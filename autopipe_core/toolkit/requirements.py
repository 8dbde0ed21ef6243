"""Requirements for the facts most families check in a component config: the text encoder's model type, a flag the class defaults.

A :class:`~autopipe_core.specs.Requirement` is data: the component, the config
key, the values that pass, and the sentence for a checkpoint that fails. Two
shapes recur across families, each with a rule that is easy to get wrong by
hand:

- :func:`model_type`: transformers writes ``model_type`` in every config, but
  a live pipeline's config read back, or a config trimmed by hand, may lack
  it; absent passes (a requirement refuses on evidence only);
- :func:`flag`: a boolean the model class defaults (``guidance_embeds``):
  absent means the class's default, so absent passes exactly when the default
  is the value asked for.

Importing this module imports no torch, diffusers or transformers.
"""

from __future__ import annotations

from ..specs import Requirement

__all__ = ["flag", "model_type"]


def model_type(component: str, accepted: str, otherwise: str, *, absent_ok: bool = True) -> Requirement:
    """`component`'s config.json says ``model_type`` `accepted` ("qwen3", "clip_text_model"); `otherwise` says what a
    checkpoint that fails is instead, with ``{value}`` for the type it has.

    With `absent_ok` (the default) a config without ``model_type`` passes;
    without it, only `accepted` does. ValueError for an empty `accepted` or
    `component`, or an `otherwise` with no sentence.
    """
    if not accepted or not component or not otherwise.strip():
        raise ValueError(f"model_type needs a component, a model type and a sentence; got {component!r}, {accepted!r}, {otherwise!r}")
    return Requirement(component, "model_type", frozenset({accepted, None} if absent_ok else {accepted}), otherwise)


def flag(component: str, key: str, value: bool, *, default: bool, otherwise: str) -> Requirement:
    """`component`'s config has the boolean `key` equal to `value`, where a config without it means the class's `default`.

    So absent (or null) passes when `default` is `value`, and fails
    otherwise: FLUX.2 [klein] requires ``guidance_embeds`` false, and
    Flux2Transformer2DModel's default is true, so a config without the key is
    [dev]'s. `otherwise` says what a failing checkpoint is, with ``{value}``.
    TypeError for a `value` or `default` that is not a bool; ValueError for
    an empty `component` or `key`.
    """
    if not isinstance(value, bool) or not isinstance(default, bool):
        raise TypeError(f"flag takes a bool value and default (the config's true or false); got {value!r} and {default!r}")
    if not component or not key:
        raise ValueError(f"flag needs a component and a config key; got {component!r}, {key!r}")
    return Requirement(component, key, frozenset({value, None} if value == default else {value}), otherwise)
