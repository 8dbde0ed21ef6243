"""What resolution says when a checkpoint cannot do a task: the sentences, in one place.

Two readers build them: :func:`autopipe_core.resolve.resolve_identity` from
the registry, and the cold command line's :mod:`autopipe_core.quick` from the
registration snapshot. Both call these functions, so the two can never word
a refusal differently. This module imports nothing but the task names.
"""

from __future__ import annotations

from .tasks import Task


def article(word: str) -> str:
    """"a" or "an" before `word`, by its first letter (the variant names plugins give are plain words)."""
    return "an" if word[:1].lower() in "aeio" else "a"


def label(family: str, modifiers: frozenset[str] | tuple[str, ...]) -> str:
    """A row's name in messages: the family, then its modifiers sorted (``stable-diffusion + pag``)."""
    return " + ".join([family, *sorted(modifiers)])


def instead(can: list[Task], task: Task | None = None) -> str:
    """What the checkpoint does instead, as advice: only tasks it can really do."""
    other = f", or pick a checkpoint made for {task.value}" if task is not None else ""
    if not can:
        return f"With these options it does no task: change the options{other}."
    return f"It does {', '.join(t.value for t in can)}: use {' or '.join(t.auto_class for t in can)}{other}."


def no_pipeline(row_label: str, task: Task, why: str | None, can: list[Task]) -> str:
    """The row has no class for the task (a family with no inpainting pipeline); `why` is the plugin's reason, if it gave one."""
    return f"{row_label} has no {task.value} pipeline{': ' + why if why else ''}. {instead(can)}"


def variant_cannot(reference: str, variant: str, reason: str, family: str, task: Task, can: list[Task]) -> str:
    """The checkpoint is a variant of its family that cannot do the task (an inpainting-only UNet asked for text2img)."""
    return f"{reference} is {article(variant)} {variant} {family} checkpoint ({reason}), so it cannot do {task.value}. {instead(can, task)}"
