"""autopipe plugin: ControlNet as a modifier over other plugins' families.

It owns no family. The core registers the ``controlnet=`` keyword (which picks
the ControlNet class, or the ControlNet Union class for a ControlNetUnionModel,
and with None goes back to the plain class); this plugin registers the
ControlNet rows of SD and SDXL, and recognises ControlNet single files. Rows for
a family whose plugin is not installed are simply unused.
"""

from __future__ import annotations

from typing import Any

from autopipe_core import PipelineRow, Task, hookimpl, serialized
from autopipe_core.toolkit.rows import lazy_hooks, row

from autopipe_core.builtin import CONTROLNET, UNION, choose_controlnet as choose, controlnet_fits as fits  # noqa: F401 - their names here before they moved to the core

_NO_PAG = "diffusers has no PAG ControlNet pipeline for this task; leave out enable_pag or controlnet"

#: The two layouts single_file.detect recognises, by the tensor each is told by: the original one's hint encoder (under
#: lllyasviel's prefix, or bare as in some SD 2.1 ControlNets, thibaud's), diffusers' own by its conditioning embedding.
#: Here, not there, so that registering the keys below imports no detection code; single_file.py takes them from this module.
LDM_PREFIXES = ("control_model.", "")
LDM_HINT = "input_hint_block.0.weight"
DIFFUSERS_KEY = "controlnet_cond_embedding.conv_in.weight"
#: autopipe_detect_keys, mirroring detect's first checks: a file with no LDM_HINT under one of LDM_PREFIXES and no
#: DIFFUSERS_KEY is not claimed, so every ControlNet file it claims holds one of these.
DETECT_KEYS: tuple[str, ...] = (*(prefix + LDM_HINT for prefix in LDM_PREFIXES), DIFFUSERS_KEY)


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
globals().update(lazy_hooks(__name__, autopipe_detect=".single_file:detect"))


@serialized
def from_single_file(path: str, **kwargs: Any) -> Any:
    """A ControlNetModel from a single file, offline, with the config shipped for the variant its header shows.

    Takes autopipe's process-wide load lock, as every load does (``autopipe_core.LOAD_LOCK``).
    """
    from .single_file import from_single_file as load

    return load(path, **kwargs)
