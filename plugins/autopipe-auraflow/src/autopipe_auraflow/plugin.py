"""autopipe-auraflow's registrations: the family, its pipeline and refusals, and the hooks, each a lazy reference.

The module the ``autopipe.plugins`` entry point names. Everything here is
data and lazy references: importing it imports no torch, diffusers or
transformers. The loading code (:mod:`.loading`), the tiny builder
(:mod:`.tiny`) and the single-file code (:mod:`.single_file`) import them
when their hooks are asked.

Text to image only: diffusers 0.42.1 has no image-to-image, inpainting, PAG
or ControlNet pipeline for AuraFlow (its tables list AuraFlowPipeline for
text2img alone, and no other class of diffusers takes its transformer), so
those are refused before any weight is read, saying what to use instead.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET
from autopipe_core.toolkit.missing import no_controlnet, no_pag, unsupported
from autopipe_core.toolkit.rows import PAG, lazy_hooks, rows

from . import AURAFLOW, AURAFLOW_CLASS, DETECT_KEYS

NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for AuraFlow (its AutoPipeline tables list AuraFlowPipeline for text2img only); "
    "for image-to-image use a family that has such a pipeline, such as SD 3.5 (StableDiffusion3Img2ImgPipeline, autopipe-sd3), "
    "the MMDiT AuraFlow follows, or FLUX.1 (FluxImg2ImgPipeline, autopipe-flux)"
)
NO_INPAINT = (
    "diffusers has no inpainting pipeline for AuraFlow; inpaint with a family that has one, such as SD 3.5 "
    "(StableDiffusion3InpaintPipeline, autopipe-sd3) or FLUX.1 Fill (FluxFillPipeline, autopipe-flux)"
)
NO_PAG = no_pag("AuraFlow")
NO_CONTROLNET = no_controlnet("AuraFlow")


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=AURAFLOW,
            example="fal/AuraFlow-v0.3",
            description="AuraFlow: fal's 6.8B MMDiT under Pile-T5-XL (UMT5) with SDXL's VAE, 1024 px (AuraFlowPipeline, text2img)",
            configs=("vae",),  # the loading code reads force_upcast: SDXL's VAE overflows in float16
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(AURAFLOW, text2img=f"diffusers:{AURAFLOW_CLASS}", missing={Task.IMG2IMG: NO_IMG2IMG, Task.INPAINT: NO_INPAINT}),
        unsupported(AURAFLOW, PAG, NO_PAG),
        unsupported(AURAFLOW, CONTROLNET, NO_CONTROLNET),
    ]


@hookimpl
def autopipe_detect_keys() -> tuple[str, ...]:
    return DETECT_KEYS


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __package__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:footprint",
    autopipe_detect=".single_file:detect",
    autopipe_from_single_file=".single_file:load",
    autopipe_build_tiny=".tiny:build",
))
