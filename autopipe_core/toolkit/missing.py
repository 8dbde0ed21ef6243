"""What diffusers lacks for a family, in the words every plugin uses: the sentences of a refused task or modifier, and its row.

A family whose pipelines have no PAG or ControlNet class, or no image-to-image
or inpainting one, declares so in its rows, so that the user is told why and
what to do instead (docs/plugin-guide.md, "The data"). The sentences below are
the ones the shipped plugins give, with the family's own name and class put
in; :func:`unsupported` is the row that refuses a modifier for every task.

Importing this module imports no torch, diffusers or transformers.
"""

from __future__ import annotations

from ..specs import PipelineRow, Task
from .rows import row

__all__ = ["IMG2IMG_ELSEWHERE", "INPAINT_ELSEWHERE", "no_controlnet", "no_pag", "unsupported"]

#: Where to go for image-to-image when a family has no such pipeline: two families that have one, and their plugins.
IMG2IMG_ELSEWHERE = (
    "for image-to-image use a family that has such a pipeline, such as FLUX.1 (FluxImg2ImgPipeline, autopipe-flux) "
    "or SDXL (StableDiffusionXLImg2ImgPipeline, autopipe-sdxl)"
)
#: Where to go for inpainting when a family has no such pipeline.
INPAINT_ELSEWHERE = (
    "inpaint with a family that has an inpainting pipeline, such as FLUX.1 Fill (FluxFillPipeline, autopipe-flux) "
    "or SDXL (StableDiffusionXLInpaintPipeline, autopipe-sdxl)"
)


def _named(what: str, role: str) -> str:
    if not what or not what.strip():
        raise ValueError(f"{role} names the model in words (\"Krea 2\"); got {what!r}")
    return what


def no_pag(what: str, taker: str = "its transformer") -> str:
    """"diffusers has no PAG pipeline for {what} (no PAG class takes {taker}); leave out enable_pag".

    `what` is the model's name as users know it ("Krea 2"); `taker` the
    denoiser diffusers' PAG classes would have to take (a class name, or
    "its transformer"). ValueError for an empty `what`.
    """
    return f"diffusers has no PAG pipeline for {_named(what, 'no_pag')} (no PAG class takes {taker}); leave out enable_pag"


def no_controlnet(what: str) -> str:
    """"diffusers has no ControlNet pipeline or ControlNet model for {what}; leave out controlnet=". ValueError for an empty `what`."""
    return f"diffusers has no ControlNet pipeline or ControlNet model for {_named(what, 'no_controlnet')}; leave out controlnet="


def unsupported(family: str, modifier: str, why: str) -> PipelineRow:
    """The row that refuses `modifier` ("pag", "controlnet") for every task of `family`, with `why` (no_pag's, no_controlnet's).

    ValueError as :func:`~autopipe_core.toolkit.rows.row` raises it (a bad
    family or modifier name), or for an empty `why`: a refusal must say why.
    """
    if not why or not why.strip():
        raise ValueError(f"a refused modifier says why; got {why!r} for {family}'s {modifier!r}")
    return row(family, modifiers={modifier}, missing=dict.fromkeys(Task, why))
