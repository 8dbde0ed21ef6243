"""Checks that a task is refused before any weight is read, and that the refusal says what to do instead.

A family that cannot do a task (no diffusers class for it, no PAG or
ControlNet pipeline) refuses it with an ``UnsupportedTaskError`` whose text
names what to use; these checks run resolution on a checkpoint (a folder, a
hub id, a live pipeline) and read the sentence. Each raises AssertionError
when resolution does not refuse, or refuses without the words.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UnsupportedTaskError
from ..tasks import Task


def check_refused(model: Any, task: Task, *words: str, **hints: Any) -> UnsupportedTaskError:
    """Check that ``resolve(model, task, **hints)`` raises UnsupportedTaskError whose text contains each of `words`.

    Returns the error, for further checks of its text.
    """
    from ..resolve import resolve

    try:
        resolution = resolve(model, task, **hints)
    except UnsupportedTaskError as refusal:
        text = str(refusal)
        lacking = [w for w in words if w not in text]
        if lacking:
            raise AssertionError(f"the refusal of {task.value} does not say {lacking}: {text!r}") from refusal
        return refusal
    raise AssertionError(f"{task.value} with {hints or 'no hint'} resolves to {resolution.pipeline_class}, where a refusal was expected")


def check_no_pag_or_controlnet(model: Any, name: str, task: Task = Task.TEXT2IMG) -> tuple[UnsupportedTaskError, UnsupportedTaskError]:
    """Check that `model` refuses ``enable_pag=True`` saying "no PAG pipeline for <name> ... leave out enable_pag", and
    ``controlnet=`` saying "no ControlNet pipeline or ControlNet model for <name>", for `task`.

    `name` is the family's name as its refusals write it ("Krea 2"), or its
    start ("Lumina" for "Lumina-Next" and "Lumina 2"). Returns the two errors
    (PAG's, ControlNet's), for further checks of their text.
    """
    pag = check_refused(model, task, enable_pag=True)
    if not re.search(f"no PAG pipeline for {re.escape(name)}.*leave out enable_pag", str(pag)):
        raise AssertionError(f"the PAG refusal does not say 'no PAG pipeline for {name} ... leave out enable_pag': {str(pag)!r}")
    controlnet = check_refused(model, task, controlnet=object())
    if not re.search(f"no ControlNet pipeline or ControlNet model for {re.escape(name)}", str(controlnet)):
        raise AssertionError(f"the ControlNet refusal does not say 'no ControlNet pipeline or ControlNet model for {name}': {str(controlnet)!r}")
    return pag, controlnet


def pipelines_named(reason: str) -> list[str]:
    """The pipeline classes a reason names in parentheses, as refusals do: "(FluxFillPipeline, autopipe-flux)" ->
    ["FluxFillPipeline"]."""
    words = (w.strip("(,") for w in reason.split() if w.startswith("("))
    return [w for w in words if w.endswith("Pipeline")]


def check_named_pipelines_exist(*reasons: str) -> list[str]:
    """Check that each reason names at least one pipeline class in parentheses, and that diffusers has each one
    (an attribute of the ``diffusers`` package: imports diffusers). Returns the names, in order."""
    import diffusers

    if not reasons:
        raise ValueError("check_named_pipelines_exist needs the reasons to read")
    out: list[str] = []
    for reason in reasons:
        names = pipelines_named(reason)
        if not names:
            raise AssertionError(f"the reason names no pipeline class to use, as '(SomePipeline, autopipe-x)': {reason!r}")
        absent = [n for n in names if not hasattr(diffusers, n)]
        if absent:
            raise AssertionError(f"the reason names {absent}, which diffusers {diffusers.__version__} does not have: {reason!r}")
        out.extend(names)
    return out
