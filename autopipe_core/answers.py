"""What each hook must return: the checks the core applies to every answer a plugin gives.

One table, one rule per hook, applied by :func:`autopipe_core.registry.ask`
wherever a hook is called, so that a malformed answer is refused the same way
at registration, at detection and at load time, and is pinned on the plugin
that gave it. A check returns the answer in its normal form (a list for the
registration hooks) or raises :class:`TypeError` saying what was wrong.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from .answer_lists import MAX_ITEMS, detections, many  # MAX_ITEMS: its name here too, where it was defined before
from .specs import FamilySpec, Footprint, LoadPlan, ModifierSpec, PipelineRow


def whole_tensor_names(answer: Any, kwargs: Mapping[str, Any]) -> list[str]:
    """``autopipe_detect_keys``' answer: whole tensor names. An empty name or one ending in "." is a prefix given by
    mistake, which no file holds as a name: the plugin would silently recognise nothing."""
    names = many(str)(answer, kwargs)
    for name in names:
        if not name or name.endswith("."):
            raise TypeError(
                f"returned {name!r}, which is a prefix, not a tensor name: a file is shown to autopipe_detect only when it "
                "holds one of the names exactly; give whole names, e.g. 'model.diffusion_model.input_blocks.0.0.weight'"
            )
    return names


def optional(kind: type) -> Callable[[Any, Mapping[str, Any]], Any]:
    """An answer that is a `kind` or None."""

    def check(answer: Any, kwargs: Mapping[str, Any]) -> Any:
        if answer is not None and not isinstance(answer, kind):
            raise TypeError(f"returned {type(answer).__name__}, not a {kind.__name__} or None")
        return answer

    return check


def pipeline_or_none(answer: Any, kwargs: Mapping[str, Any]) -> Any:
    """A loading hook's answer: a pipeline of the class it was asked to load, or None for the core's default."""
    expected = kwargs.get("pipeline_class")
    if answer is not None and isinstance(expected, type) and not isinstance(answer, expected):
        raise TypeError(f"returned {type(answer).__name__}, not a {expected.__name__} (the class resolved) or None")
    return answer


def ignored(answer: Any, kwargs: Mapping[str, Any]) -> None:
    """A hook whose effect is what it does (``autopipe_build_tiny`` writes a folder), not what it returns."""
    return None


#: hook name -> the check of its answer. Every hook of hookspecs.HOOKS has one (a test keeps it so).
CHECKS: Mapping[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "autopipe_families": many(FamilySpec),
    "autopipe_pipelines": many(PipelineRow),
    "autopipe_modifiers": many(ModifierSpec),
    "autopipe_load_plan": optional(LoadPlan),
    "autopipe_footprint": optional(Footprint),
    "autopipe_placement": optional(LoadPlan),
    "autopipe_from_pretrained": pipeline_or_none,
    "autopipe_detect": detections,
    "autopipe_detect_keys": whole_tensor_names,
    "autopipe_from_single_file": pipeline_or_none,
    "autopipe_build_tiny": ignored,
}

#: Hooks that load weights through diffusers: their OSError and ValueError are diffusers' own (a missing
#: file, a config that does not fit) and reach the caller unchanged, with a note naming the plugin.
LOADING_HOOKS = frozenset({"autopipe_from_pretrained", "autopipe_from_single_file"})
