"""autopipe plugin for BRIA AI's BRIA 3.x text-to-image models: BriaPipeline, served beyond diffusers' AutoPipeline tables.

Everything here is data and lazy references: importing this module imports
no torch, diffusers or transformers. The loading code (:mod:`.loading`) and
the tiny builder (:mod:`.tiny`) import them when their hooks are asked.

One family, ``bria``: BRIA 3.1 and 3.2 (briaai/BRIA-3.1, briaai/BRIA-3.2), a
FLUX-like rectified-flow MMDiT (``BriaTransformer2DModel``: 8 joint blocks
then 28 single-stream ones, 24 heads of 96, about 3.8 B parameters) under
T5-XXL's encoder (``T5EncoderModel`` with ``T5TokenizerFast``) and SDXL's
4-channel VAE, drawing at 1024x1024. The pipeline also takes an optional
``image_encoder`` (``CLIPVisionModelWithProjection``) and
``feature_extractor``, which the released checkpoints do not ship.

diffusers 0.42.1 has no AutoPipeline key for BRIA (its tables do not list
BriaPipeline), so diffusers' ``AutoPipelineForText2Image`` refuses these
checkpoints; autopipe serves them beyond the tables, as their model cards
load them (``BriaPipeline.from_pretrained``). Text to image only: diffusers
has no image-to-image, inpainting, PAG or ControlNet class that takes
``BriaTransformer2DModel`` (a test reads its sources to keep that true), so
those are refused before any weight is read, saying what to use instead.

BRIA's other families in diffusers 0.42.1 are different architectures under
other class names, and are not served here: FIBO (``BriaFiboPipeline`` and
``BriaFiboEditPipeline``: ``BriaFiboTransformer2DModel`` under SmolLM3 with
Wan's VAE, prompted with structured JSON) and FIBO 2 (``BriaFibo2Pipeline``:
``BriaFibo2Transformer2DModel`` under Qwen3-VL with FLUX.2's VAE). Neither
shares a component with BriaPipeline. Their checkpoints are not recognised
by this plugin (the core reports them as unserved).

Single files: none. diffusers' ``single_file_utils`` (0.42.1) has no
checkpoint key names, converter or pipeline mapping for BRIA, and
``BriaPipeline``/``BriaTransformer2DModel`` have no ``from_single_file``.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET
from autopipe_core.toolkit.rows import PAG, lazy_hooks, row, rows

BRIA = "bria"
FAMILIES = (BRIA,)
BRIA_CLASS = "BriaPipeline"

NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for BRIA 3.x (BriaPipeline is text-to-image only, and diffusers' AutoPipeline "
    "tables have no BRIA key); for image-to-image use a family that has such a pipeline, such as FLUX.1 "
    "(FluxImg2ImgPipeline, autopipe-flux), the MMDiT BRIA 3.x follows, or SD 3.5 (StableDiffusion3Img2ImgPipeline, autopipe-sd3)"
)
NO_INPAINT = (
    "diffusers has no inpainting pipeline for BRIA 3.x; inpaint with a family that has one, such as FLUX.1 Fill "
    "(FluxFillPipeline, autopipe-flux) or SD 3.5 (StableDiffusion3InpaintPipeline, autopipe-sd3)"
)
NO_PAG = "diffusers has no PAG pipeline for BRIA 3.x (no PAG class takes BriaTransformer2DModel); leave out enable_pag"
NO_CONTROLNET = (
    "diffusers has no ControlNet pipeline or ControlNet model for BRIA 3.x (BRIA's own ControlNets are custom code); "
    "leave out controlnet="
)


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=BRIA,
            example="briaai/BRIA-3.2",
            description="BRIA 3.1/3.2: BRIA AI's 4B rectified-flow MMDiT under T5-XXL with SDXL's VAE, 1024 px (BriaPipeline, text2img)",
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(BRIA, text2img=f"diffusers:{BRIA_CLASS}", missing={Task.IMG2IMG: NO_IMG2IMG, Task.INPAINT: NO_INPAINT}),
        row(BRIA, modifiers={PAG}, missing=dict.fromkeys(Task, NO_PAG)),
        row(BRIA, modifiers={CONTROLNET}, missing=dict.fromkeys(Task, NO_CONTROLNET)),
    ]


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:ALLOWANCE.footprint",
    autopipe_build_tiny=".tiny:build",
))
