"""autopipe-sd3's registrations: the family, its pipelines and variant, and the hooks, each a lazy reference.

The module the ``autopipe.plugins`` entry point names. Everything here is
data and lazy references: importing it imports no torch, diffusers or
transformers. The loading code, the single-file detection and the tiny
builder import what they need when they are asked.

The rows are diffusers 0.42.1's AutoPipeline tables for the keys
``stable-diffusion-3``, ``stable-diffusion-3-pag`` and
``stable-diffusion-3-controlnet`` (diffusers' ``pipelines/auto_pipeline.py``),
each task's class as diffusers names it. Where those tables have no class
for a task, the row says why, and resolution refuses with that sentence
before any weight is read.

One kind of checkpoint within the family is told apart from the
transformer's config (``transformer/config.json``, never a weight): a
transformer that takes 33 input channels (16 latent channels, the mask, the
16 channels of the masked image's latents) inpaints only.
``StableDiffusion3InpaintPipeline`` feeds such a transformer those 33
channels; the text2img and img2img pipelines would feed it 16 and fail at
the first step. Stability AI released no such transformer (SD 3, 3.5 medium,
large and large-turbo all take 16 channels; diffusers issue #9339); the
Variant is there for fine-tunes made for that pipeline layout.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET, UNION
from autopipe_core.toolkit.missing import unsupported
from autopipe_core.toolkit.rows import PAG, inpainting_only, lazy_hooks, row, rows

from . import DETECT_KEYS, FAMILY, LATENT_CHANNELS

#: A transformer taking latents, mask and masked-image latents: 16 + 1 + 16 input channels.
INPAINTING = inpainting_only(component="transformer", channels=2 * LATENT_CHANNELS + 1, what="transformer")

VARIANTS = (INPAINTING,)

#: Why the ControlNet row has no img2img class: diffusers' AUTO_IMAGE2IMAGE_PIPELINES_MAPPING has no
#: "stable-diffusion-3-controlnet" key, and diffusers has no SD3 ControlNet img2img pipeline at all.
NO_CONTROLNET_IMG2IMG = (
    "diffusers has no SD3 ControlNet img2img pipeline; use AutoPipelineForText2Image with controlnet= (the control image "
    "steers the layout), or AutoPipelineForImage2Image without controlnet"
)
NO_CONTROLNET_PAG = "diffusers has no PAG ControlNet pipeline for SD3; leave out enable_pag or controlnet"
NO_UNION = (
    "ControlNet Union models are SDXL models; SD3 takes an SD3ControlNetModel (or several in an SD3MultiControlNetModel) as controlnet="
)


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=FAMILY,
            example="stabilityai/stable-diffusion-3.5-large",
            description="Stable Diffusion 3 medium and 3.5 medium, large and large-turbo (MMDiT, three text encoders, flow matching)",
            variants=VARIANTS,
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(
            FAMILY,
            text2img="diffusers:StableDiffusion3Pipeline",
            img2img="diffusers:StableDiffusion3Img2ImgPipeline",
            inpaint="diffusers:StableDiffusion3InpaintPipeline",
            pag=("diffusers:StableDiffusion3PAGPipeline", "diffusers:StableDiffusion3PAGImg2ImgPipeline", None),
        ),
        row(
            FAMILY,
            modifiers={CONTROLNET},
            text2img="diffusers:StableDiffusion3ControlNetPipeline",
            inpaint="diffusers:StableDiffusion3ControlNetInpaintingPipeline",
            missing={Task.IMG2IMG: NO_CONTROLNET_IMG2IMG},
        ),
        row(FAMILY, modifiers={CONTROLNET, PAG}, missing=dict.fromkeys(Task, NO_CONTROLNET_PAG)),
        unsupported(FAMILY, UNION, NO_UNION),
    ]


@hookimpl
def autopipe_detect_keys() -> tuple[str, ...]:
    return DETECT_KEYS


# The code behind these hooks imports torch or diffusers, or reads files: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __package__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:ALLOWANCE.footprint",
    autopipe_detect=".single_file:detect",
    autopipe_from_single_file=".single_file:load",
    autopipe_build_tiny=".tiny:build",
))
