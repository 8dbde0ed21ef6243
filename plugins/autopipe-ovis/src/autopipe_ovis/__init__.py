"""autopipe plugin for AIDC-AI's Ovis-Image: OvisImagePipeline (diffusers' key "ovis"), text to image.

Everything here is data and lazy references: importing this module imports
no torch, diffusers or transformers. The loading code (:mod:`.loading`) and
the tiny builder (:mod:`.tiny`) import them when their hooks are asked.

One family, ``ovis``: a FLUX-style MMDiT (OvisImageTransformer2DModel: 6
double-stream and 27 single-stream blocks, 3072 wide, 2 x 2 packed latents)
under a Qwen3 text encoder (``Qwen3Model``, Ovis2.5's language model, with a
``Qwen2TokenizerFast`` and Qwen's chat template) and a 16-channel
AutoencoderKL. Checkpoint: AIDC-AI/Ovis-Image-7B (the example of diffusers'
OvisImagePipeline docstring).

Text to image only: diffusers 0.42.1 has no image-to-image, inpainting, PAG
or ControlNet pipeline for Ovis-Image (its AutoPipeline tables list
OvisImagePipeline for text2img alone, and no other class of diffusers takes
OvisImageTransformer2DModel: tests/test_ovis_plugin.py reads that from
diffusers' sources), so those are refused before any weight is read, saying
what to use instead.

No single files: diffusers' ``from_single_file`` knows no Ovis-Image layout
(``CHECKPOINT_KEY_NAMES`` has no key for it, OvisImagePipeline has no
``from_single_file`` and OvisImageTransformer2DModel, although it inherits
``FromOriginalModelMixin``, is not among ``SINGLE_FILE_LOADABLE_CLASSES``, so
its ``from_single_file`` refuses every file), so this plugin claims none.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET
from autopipe_core.toolkit.missing import no_controlnet, no_pag, unsupported
from autopipe_core.toolkit.rows import PAG, lazy_hooks, rows

OVIS = "ovis"
FAMILIES = (OVIS,)
OVIS_CLASS = "OvisImagePipeline"
#: The example checkpoint: the one diffusers' OvisImagePipeline docstring loads (0.42.1).
EXAMPLE = "AIDC-AI/Ovis-Image-7B"

NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for Ovis-Image (its AutoPipeline tables list OvisImagePipeline for text2img only, "
    "and no other class takes OvisImageTransformer2DModel); for image-to-image use a family that has one, such as FLUX.1 "
    "(FluxImg2ImgPipeline, autopipe-flux), whose double- and single-stream MMDiT Ovis-Image follows, or Qwen-Image "
    "(QwenImageImg2ImgPipeline, autopipe-qwenimage)"
)
NO_INPAINT = (
    "diffusers has no inpainting pipeline for Ovis-Image; inpaint with a family that has one, such as FLUX.1 Fill "
    "(FluxFillPipeline, autopipe-flux) or Qwen-Image (QwenImageInpaintPipeline, autopipe-qwenimage)"
)
NO_PAG = no_pag("Ovis-Image")
NO_CONTROLNET = no_controlnet("Ovis-Image")


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=OVIS,
            example=EXAMPLE,
            description=(
                "Ovis-Image: AIDC-AI's 7B FLUX-style MMDiT under a Qwen3 text encoder (Ovis2.5's) with a 16-channel VAE, "
                "1024 px, text rendering (OvisImagePipeline, text2img)"
            ),
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(OVIS, text2img=f"diffusers:{OVIS_CLASS}", missing={Task.IMG2IMG: NO_IMG2IMG, Task.INPAINT: NO_INPAINT}),
        unsupported(OVIS, PAG, NO_PAG),
        unsupported(OVIS, CONTROLNET, NO_CONTROLNET),
    ]


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:ALLOWANCE.footprint",
    autopipe_build_tiny=".tiny:build",
))
