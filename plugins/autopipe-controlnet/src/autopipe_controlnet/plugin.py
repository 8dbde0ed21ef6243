"""autopipe-controlnet's registrations: the ControlNet rows of SD and SDXL and the hooks, each a lazy reference.

The module the ``autopipe.plugins`` entry point names. Everything here is
data and lazy references: importing it imports no torch or diffusers. The
detection code is imported when the first single file is inspected, the
loading code when :func:`from_single_file`, the plugin's public loader, is
called. It re-exports the ControlNet modifier's names from the core
(``choose``, ``fits``, ``CONTROLNET``, ``UNION``). The package
(``autopipe_controlnet.from_single_file``, ``autopipe_controlnet.choose``, ...)
gives all of these from here.
"""

from __future__ import annotations

from typing import Any

from autopipe_core import PipelineRow, Task, hookimpl, serialized
from autopipe_core.builtin import CONTROLNET, UNION, choose_controlnet as choose, controlnet_fits as fits  # noqa: F401 - their names here before they moved to the core
from autopipe_core.toolkit.rows import lazy_hooks, row

from . import DETECT_KEYS

_NO_PAG = "diffusers has no PAG ControlNet pipeline for this task; leave out enable_pag or controlnet"


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    sd, sdxl = "stable-diffusion", "stable-diffusion-xl"
    return [
        row(
            sd,
            modifiers={CONTROLNET},
            text2img="diffusers:StableDiffusionControlNetPipeline",
            img2img="diffusers:StableDiffusionControlNetImg2ImgPipeline",
            inpaint="diffusers:StableDiffusionControlNetInpaintPipeline",
        ),
        row(
            sd,
            modifiers={CONTROLNET, "pag"},
            missing={Task.IMG2IMG: _NO_PAG},
            text2img="diffusers:StableDiffusionControlNetPAGPipeline",
            inpaint="diffusers:StableDiffusionControlNetPAGInpaintPipeline",
        ),
        row(
            sd,
            modifiers={UNION},
            missing={t: "ControlNet Union models are SDXL models; use a ControlNetModel with Stable Diffusion 1.x/2.x" for t in Task},
        ),
        row(
            sdxl,
            modifiers={CONTROLNET},
            text2img="diffusers:StableDiffusionXLControlNetPipeline",
            img2img="diffusers:StableDiffusionXLControlNetImg2ImgPipeline",
            inpaint="diffusers:StableDiffusionXLControlNetInpaintPipeline",
        ),
        row(
            sdxl,
            modifiers={CONTROLNET, "pag"},
            missing={Task.INPAINT: _NO_PAG},
            text2img="diffusers:StableDiffusionXLControlNetPAGPipeline",
            img2img="diffusers:StableDiffusionXLControlNetPAGImg2ImgPipeline",
        ),
        row(
            sdxl,
            modifiers={UNION},
            text2img="diffusers:StableDiffusionXLControlNetUnionPipeline",
            img2img="diffusers:StableDiffusionXLControlNetUnionImg2ImgPipeline",
            inpaint="diffusers:StableDiffusionXLControlNetUnionInpaintPipeline",
        ),
    ]


@hookimpl
def autopipe_detect_keys() -> tuple[str, ...]:
    return DETECT_KEYS


# ControlNet files (original or diffusers layout, for SD 1.x, 2.x or SDXL): recognised as a component to pass as controlnet=.
# The detection code is imported when the first single file is inspected.
globals().update(lazy_hooks(__package__, autopipe_detect=".single_file:detect"))


@serialized
def from_single_file(path: str, **kwargs: Any) -> Any:
    """A ControlNetModel from a single file, offline, with the config shipped for the variant its header shows.

    Takes autopipe's process-wide load lock, as every load does (``autopipe_core.LOAD_LOCK``).
    """
    from .single_file import from_single_file as load

    return load(path, **kwargs)
