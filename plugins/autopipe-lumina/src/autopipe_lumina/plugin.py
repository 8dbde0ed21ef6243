"""autopipe-lumina's registrations: the two families, their pipelines and refusals, and the hooks, each a lazy reference.

The module the ``autopipe.plugins`` entry point names. Everything here is
data and lazy references: importing it imports no torch, diffusers or
transformers. The loading code (:mod:`.loading`), the tiny builder
(:mod:`.tiny`) and the single-file code (:mod:`.single_file`) import them
when their hooks are asked.

Text to image only: diffusers 0.42.1 has no image-to-image, inpainting,
PAG or ControlNet pipeline for either (its tables list them for text2img
alone, and no other class of diffusers takes their transformers), so those
are refused before any weight is read, saying what to use instead.

Telling them apart from configs. A checkpoint's class name says its family,
but names drift: Lumina-Next's diffusers release was saved as
``LuminaText2ImgPipeline`` and Lumina-Image 2.0's first as
``Lumina2Text2ImgPipeline``, the names of diffusers 0.30 to 0.34, which
diffusers 0.42.1 no longer has (its AutoPipeline refuses such a folder,
although LuminaPipeline and Lumina2Pipeline load it). The text encoder
settles it: transformers writes ``model_type`` in every config, "gemma" for
Lumina-Next's and "gemma2" for Lumina 2's (:data:`GEMMA`, :data:`GEMMA2`).
Each family requires its own, and claims the other names
(``FamilySpec.also_named``) for the checkpoints whose text encoder is its
own, so an old name, or a folder saved under the other family's class,
resolves to the class that runs it.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET
from autopipe_core.toolkit.missing import IMG2IMG_ELSEWHERE, INPAINT_ELSEWHERE, unsupported
from autopipe_core.toolkit.requirements import model_type
from autopipe_core.toolkit.rows import PAG, lazy_hooks, rows

from . import DETECT_KEYS, LUMINA, LUMINA2, LUMINA2_CLASS

#: diffusers' class for Lumina-Next (0.42.1; Lumina 2's, LUMINA2_CLASS, is the package's), and the names earlier
#: releases saved checkpoints under (0.30 to 0.34).
LUMINA_CLASS = "LuminaPipeline"
LUMINA_OLD_CLASS = "LuminaText2ImgPipeline"
LUMINA2_OLD_CLASS = "Lumina2Text2ImgPipeline"

# What to use where diffusers has no class: each sentence ends up in the user's error.
LUMINA_NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for Lumina-Next (its AutoPipeline tables list LuminaPipeline for text2img only); "
    + IMG2IMG_ELSEWHERE
)
LUMINA_NO_INPAINT = "diffusers has no inpainting pipeline for Lumina-Next; " + INPAINT_ELSEWHERE
LUMINA2_NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for Lumina-Image 2.0 (its AutoPipeline tables list Lumina2Pipeline for text2img only); "
    + IMG2IMG_ELSEWHERE
)
LUMINA2_NO_INPAINT = "diffusers has no inpainting pipeline for Lumina-Image 2.0; " + INPAINT_ELSEWHERE
NO_PAG = "diffusers has no PAG pipeline for {what} (no PAG class takes its transformer); leave out enable_pag"
NO_CONTROLNET = "diffusers has no ControlNet pipeline or ControlNet model for {what}; leave out controlnet="
LUMINA_WHAT = "Lumina-Next"
LUMINA2_WHAT = "Lumina-Image 2.0"

#: Lumina-Next encodes prompts with Gemma (gemma-2b): its text encoder's config says model_type "gemma".
GEMMA = model_type(
    "text_encoder", "gemma",
    "its text_encoder is a {value} model, where Lumina-Next (LuminaPipeline) encodes prompts with Gemma (model_type gemma); "
    "a Gemma 2 text encoder (gemma2) is Lumina-Image 2.0's, which autopipe resolves as lumina2 whatever class name the "
    "checkpoint gives: load anything else with the pipeline class its model card names",
)

#: Lumina-Image 2.0 encodes prompts with Gemma 2 (gemma-2-2b): model_type "gemma2".
GEMMA2 = model_type(
    "text_encoder", "gemma2",
    "its text_encoder is a {value} model, where Lumina-Image 2.0 (Lumina2Pipeline) encodes prompts with Gemma 2 (model_type "
    "gemma2); a Gemma text encoder (gemma) is Lumina-Next's, which autopipe resolves as lumina whatever class name the "
    "checkpoint gives: load anything else with the pipeline class its model card names",
)


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=LUMINA,
            example="Alpha-VLLM/Lumina-Next-SFT-diffusers",
            description="Lumina-Next: a 2B Next-DiT under Gemma-2B with SDXL's VAE, 1024 px (LuminaPipeline, text2img)",
            configs=("transformer",),  # the allowance reads the native side from sample_size
            requires=(GEMMA,),
            also_named=frozenset({LUMINA_OLD_CLASS, LUMINA2_CLASS, LUMINA2_OLD_CLASS}),
        ),
        FamilySpec(
            name=LUMINA2,
            example="Alpha-VLLM/Lumina-Image-2.0",
            description="Lumina-Image 2.0: a 2.6B unified DiT under Gemma-2-2B with FLUX.1's VAE, 1024 px (Lumina2Pipeline, text2img)",
            configs=("transformer",),
            requires=(GEMMA2,),
            also_named=frozenset({LUMINA2_OLD_CLASS, LUMINA_CLASS, LUMINA_OLD_CLASS}),
        ),
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(LUMINA, text2img=f"diffusers:{LUMINA_CLASS}", missing={Task.IMG2IMG: LUMINA_NO_IMG2IMG, Task.INPAINT: LUMINA_NO_INPAINT}),
        unsupported(LUMINA, PAG, NO_PAG.format(what=LUMINA_WHAT)),
        unsupported(LUMINA, CONTROLNET, NO_CONTROLNET.format(what=LUMINA_WHAT)),
        *rows(LUMINA2, text2img=f"diffusers:{LUMINA2_CLASS}", missing={Task.IMG2IMG: LUMINA2_NO_IMG2IMG, Task.INPAINT: LUMINA2_NO_INPAINT}),
        unsupported(LUMINA2, PAG, NO_PAG.format(what=LUMINA2_WHAT)),
        unsupported(LUMINA2, CONTROLNET, NO_CONTROLNET.format(what=LUMINA2_WHAT)),
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
