"""autopipe-krea2's registrations: the family, its pipelines and refusals, and the hooks, each a lazy reference.

The module the ``autopipe.plugins`` entry point names. Everything here is
data and lazy references: importing it imports no torch, diffusers or
transformers. The loading code (:mod:`.loading`), the tiny builder
(:mod:`.tiny`) and the single-file code (:mod:`.single_file`) import them
when their hooks are asked.

The pipeline's constructor values ``text_encoder_select_layers``,
``is_distilled`` and ``patch_size`` are all recorded in its config
(``register_to_config``), so from_pipe carries them with no reader
(``FamilySpec.init_readers`` is for values a class keeps elsewhere).

Text to image only: diffusers 0.42.1 has no image-to-image, inpainting, PAG
or ControlNet pipeline for Krea 2 (its AutoPipeline tables list
Krea2Pipeline for text2img alone, and no other pipeline class takes
Krea2Transformer2DModel; diffusers' modular Krea 2 blocks are no
DiffusionPipeline), so those are refused before any weight is read, saying
what to use instead.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET
from autopipe_core.toolkit.missing import no_controlnet, no_pag, unsupported
from autopipe_core.toolkit.rows import PAG, lazy_hooks, rows

from . import DETECT_KEYS, EXAMPLE, KREA2, KREA2_CLASS

NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for Krea 2 (its AutoPipeline tables list Krea2Pipeline for text2img only, and no "
    "other class takes Krea2Transformer2DModel); for image-to-image use a family that has one, such as Qwen-Image "
    "(QwenImageImg2ImgPipeline, autopipe-qwenimage), whose VAE Krea 2 shares, or FLUX.1 (FluxImg2ImgPipeline, autopipe-flux)"
)
NO_INPAINT = (
    "diffusers has no inpainting pipeline for Krea 2; inpaint with a family that has one, such as Qwen-Image "
    "(QwenImageInpaintPipeline, autopipe-qwenimage) or FLUX.1 Fill (FluxFillPipeline, autopipe-flux)"
)
NO_PAG = no_pag("Krea 2")
NO_CONTROLNET = no_controlnet("Krea 2")


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=KREA2,
            example=EXAMPLE,
            description=(
                "Krea 2: Krea's single-stream MMDiT over 12 tapped layers of Qwen3-VL-4B, with Qwen-Image's VAE, 1024 px; "
                "base and few-step distilled (Krea2Pipeline, text2img)"
            ),
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(KREA2, text2img=f"diffusers:{KREA2_CLASS}", missing={Task.IMG2IMG: NO_IMG2IMG, Task.INPAINT: NO_INPAINT}),
        unsupported(KREA2, PAG, NO_PAG),
        unsupported(KREA2, CONTROLNET, NO_CONTROLNET),
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
