"""autopipe plugin for Photoroom's PRX: PRXPipeline (diffusers' key "prx") and PRXPixelPipeline, text to image.

Everything here is data and lazy references: importing this module imports
no torch, diffusers or transformers. The loading code (:mod:`.loading`) and
the tiny builder (:mod:`.tiny`) import them when their hooks are asked.

Two families, one per pipeline class diffusers 0.42.1 ships for PRX:

- ``prx``: PRXPipeline, diffusers' AutoPipeline key "prx" (text2img table):
  a PRXTransformer2DModel (1.17 B at its default settings: 1792 wide, 16
  blocks) under T5Gemma's encoder (``T5GemmaEncoder``, t5gemma-2b's, 2304
  wide, with a Gemma tokenizer) and either FLUX.1's 16-channel AutoencoderKL
  (8x) or a DC-AE (``AutoencoderDC``, 32x), or none (then it returns
  latents only). Checkpoints: Photoroom/prx-512-t2i-sft (the example of
  diffusers' PRXPipeline docstring) and its 256 and 1024 px siblings.
- ``prx-pixel``: PRXPixelPipeline, a class diffusers ships whose tables do
  not list it: PRXPixel, a 7 B PRXTransformer2DModel denoising RGB directly
  (no VAE: ``in_channels=3``, a bottleneck patch embedding, resolution
  embeddings) under a Qwen3-VL text backbone with a Qwen2 tokenizer, at
  1024 px. Checkpoint: Photoroom/prxpixel-t2i (its docstring's example).
  Served because a folder of that class is a PRX checkpoint diffusers can
  run, and ``AutoPipelineForText2Image`` there would otherwise refuse it.

Text to image only: diffusers has no image-to-image, inpainting, PAG or
ControlNet pipeline for either (no other class takes a PRXTransformer2DModel:
tests/test_prx_plugin.py reads that from diffusers' sources), so those are
refused before any weight is read, saying what to use instead.

No single files: diffusers' ``from_single_file`` knows no PRX layout.
PRXPipeline inherits ``FromSingleFileMixin``, but ``CHECKPOINT_KEY_NAMES``
has no PRX key and PRXTransformer2DModel is not a single-file-loadable class
(it has no ``from_single_file``), so no PRX file can be loaded that way; this
plugin claims none.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET
from autopipe_core.toolkit.missing import IMG2IMG_ELSEWHERE, INPAINT_ELSEWHERE, no_controlnet, no_pag, unsupported
from autopipe_core.toolkit.rows import PAG, lazy_hooks, rows

PRX = "prx"
PIXEL = "prx-pixel"
FAMILIES = (PRX, PIXEL)
PRX_CLASS = "PRXPipeline"
PIXEL_CLASS = "PRXPixelPipeline"
#: The example checkpoints: those diffusers' docstrings load (0.42.1).
EXAMPLES = {PRX: "Photoroom/prx-512-t2i-sft", PIXEL: "Photoroom/prxpixel-t2i"}

NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for PRX (its AutoPipeline tables list PRXPipeline for text2img only, "
    f"and no other class takes PRXTransformer2DModel); {IMG2IMG_ELSEWHERE}"
)
NO_INPAINT = f"diffusers has no inpainting pipeline for PRX; {INPAINT_ELSEWHERE}"
PIXEL_NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for PRXPixel (PRXPixelPipeline draws from noise only, and no other class "
    f"takes PRXTransformer2DModel); {IMG2IMG_ELSEWHERE}"
)
PIXEL_NO_INPAINT = f"diffusers has no inpainting pipeline for PRXPixel; {INPAINT_ELSEWHERE}"
NO_PAG = no_pag("PRX or PRXPixel", "PRXTransformer2DModel")
NO_CONTROLNET = no_controlnet("PRX or PRXPixel")


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=PRX,
            example=EXAMPLES[PRX],
            description=(
                "PRX: Photoroom's 1.2B transformer under T5Gemma's encoder with FLUX.1's VAE or a DC-AE, 256 to 1024 px "
                "(PRXPipeline, text2img)"
            ),
        ),
        FamilySpec(
            name=PIXEL,
            example=EXAMPLES[PIXEL],
            description="PRXPixel: Photoroom's 7B pixel-space PRX transformer under a Qwen3-VL text backbone, no VAE, 1024 px (PRXPixelPipeline, text2img)",
        ),
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(PRX, text2img=f"diffusers:{PRX_CLASS}", missing={Task.IMG2IMG: NO_IMG2IMG, Task.INPAINT: NO_INPAINT}),
        *rows(PIXEL, text2img=f"diffusers:{PIXEL_CLASS}", missing={Task.IMG2IMG: PIXEL_NO_IMG2IMG, Task.INPAINT: PIXEL_NO_INPAINT}),
        *(unsupported(family, PAG, NO_PAG) for family in FAMILIES),
        *(unsupported(family, CONTROLNET, NO_CONTROLNET) for family in FAMILIES),
    ]


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:footprint",
    autopipe_from_pretrained={PRX: ".loading:from_pretrained"},
    autopipe_build_tiny=".tiny:build",
))
