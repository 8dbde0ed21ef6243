"""autopipe plugin for NucleusMoE-Image: NucleusMoEImagePipeline (diffusers' key "nucleusmoe-image"), text to image.

Everything here is data and lazy references: importing this module imports
no torch, diffusers or transformers. The loading code (:mod:`.loading`) and
the tiny builder (:mod:`.tiny`) import them when their hooks are asked.

One family, ``nucleusmoe-image``: a mixture-of-experts MMDiT
(NucleusMoEImageTransformer2DModel: 24 blocks 2048 wide at the class's
defaults, 128 experts in the MoE blocks with expert-choice routing) under a
Qwen3-VL text encoder (``Qwen3VLForConditionalGeneration``, with a
``Qwen3VLProcessor`` that writes the chat template and tokenizes) and
Qwen-Image's VAE (AutoencoderKLQwenImage). Checkpoint:
NucleusAI/NucleusMoE-Image (the example of diffusers' pipeline docstring).

Text to image only: diffusers 0.42.1 has no image-to-image, inpainting, PAG
or ControlNet pipeline for it (its AutoPipeline tables list
NucleusMoEImagePipeline for text2img alone, and no other class takes its
transformer), so those are refused before any weight is read, saying what to
use instead. No single files: diffusers' ``from_single_file`` knows no
NucleusMoE-Image layout (``CHECKPOINT_KEY_NAMES`` has no key for it).

The processor: transformers 5 builds a ``Qwen3VLProcessor`` only with
torchvision (its video processor); without it, loading any checkpoint of the
family fails in transformers. The plugin's extra ``processor`` installs it.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET
from autopipe_core.toolkit.missing import no_controlnet, no_pag, unsupported
from autopipe_core.toolkit.rows import PAG, lazy_hooks, rows

NUCLEUSMOE = "nucleusmoe-image"
FAMILIES = (NUCLEUSMOE,)
NUCLEUSMOE_CLASS = "NucleusMoEImagePipeline"
#: The example checkpoint: the one diffusers' NucleusMoEImagePipeline docstring loads (0.42.1).
EXAMPLE = "NucleusAI/NucleusMoE-Image"

NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for NucleusMoE-Image (its AutoPipeline tables list NucleusMoEImagePipeline for "
    "text2img only, and no other class takes NucleusMoEImageTransformer2DModel); for image-to-image use a family that has one, "
    "such as Qwen-Image (QwenImageImg2ImgPipeline, autopipe-qwenimage), whose VAE it shares, or FLUX.1 (FluxImg2ImgPipeline, autopipe-flux)"
)
NO_INPAINT = (
    "diffusers has no inpainting pipeline for NucleusMoE-Image; inpaint with a family that has one, such as Qwen-Image "
    "(QwenImageInpaintPipeline, autopipe-qwenimage) or FLUX.1 Fill (FluxFillPipeline, autopipe-flux)"
)
NO_PAG = no_pag("NucleusMoE-Image")
NO_CONTROLNET = no_controlnet("NucleusMoE-Image")


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=NUCLEUSMOE,
            example=EXAMPLE,
            description=(
                "NucleusMoE-Image: a mixture-of-experts MMDiT under Qwen3-VL with Qwen-Image's VAE, 1024 px "
                "(NucleusMoEImagePipeline, text2img; its Qwen3VLProcessor needs torchvision)"
            ),
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(NUCLEUSMOE, text2img=f"diffusers:{NUCLEUSMOE_CLASS}", missing={Task.IMG2IMG: NO_IMG2IMG, Task.INPAINT: NO_INPAINT}),
        unsupported(NUCLEUSMOE, PAG, NO_PAG),
        unsupported(NUCLEUSMOE, CONTROLNET, NO_CONTROLNET),
    ]


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:ALLOWANCE.footprint",
    autopipe_build_tiny=".tiny:build",
))
