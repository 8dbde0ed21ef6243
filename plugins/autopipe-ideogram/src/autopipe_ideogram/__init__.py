"""autopipe plugin for Ideogram 4: Ideogram4Pipeline (diffusers' key "ideogram4"), text to image.

Everything here is data and lazy references: importing this module imports
no torch, diffusers or transformers. The loading code (:mod:`.loading`) and
the tiny builder (:mod:`.tiny`) import them when their hooks are asked.

One family, ``ideogram4``: Ideogram4Pipeline (diffusers 0.42.1), a
flow-matching model trained with asymmetric classifier-free guidance:

- ``transformer`` and ``unconditional_transformer``: two
  Ideogram4Transformer2DModel (9.28 B parameters each at diffusers' default
  settings: 34 blocks, 4608 wide); the first sees the prompt, the second
  denoises with zeroed text features, and their velocities are blended each
  step by a per-step guidance schedule;
- ``text_encoder``: a head-less Qwen3-VL (``Qwen3VLModel``, 8.14 B with its
  vision tower at Qwen3-VL-8B's shape) whose decoder layers 0, 3, ..., 33, 35
  are read and concatenated (13 x 4096 = 53,248 features a token, the
  transformer's ``llm_features_dim``), with its Qwen2 tokenizer
  (``AutoTokenizer``) and chat template;
- ``vae``: FLUX.2's AutoencoderKLFlux2 (8x, 32 latent channels patchified
  2 x 2 into the transformer's 128);
- ``prompt_enhancer_head``: optional (``Ideogram4PromptEnhancerHead``, an LM
  head that makes the text encoder generative for ``prompt_upsampling=True``).

Checkpoint: ideogram-ai/ideogram-v4 (the example of diffusers' docstring).

Text to image only: diffusers 0.42.1 has no image-to-image, inpainting, PAG
or ControlNet pipeline for Ideogram 4 (its tables list Ideogram4Pipeline for
text2img alone, and no other class takes Ideogram4Transformer2DModel:
tests/test_ideogram_plugin.py reads that from diffusers' sources), so those
are refused before any weight is read, saying what to use instead.

No single files: diffusers' ``from_single_file`` knows no Ideogram layout
(``CHECKPOINT_KEY_NAMES`` has no Ideogram key, Ideogram4Pipeline has no
``from_single_file``, and Ideogram4Transformer2DModel, though it inherits
``FromOriginalModelMixin``, is not among ``SINGLE_FILE_LOADABLE_CLASSES``);
this plugin claims none.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET
from autopipe_core.toolkit.missing import no_controlnet, no_pag, unsupported
from autopipe_core.toolkit.rows import PAG, lazy_hooks, rows

IDEOGRAM4 = "ideogram4"
FAMILIES = (IDEOGRAM4,)
IDEOGRAM4_CLASS = "Ideogram4Pipeline"
#: The example checkpoint: the one diffusers' Ideogram4Pipeline docstring loads (0.42.1).
EXAMPLE = "ideogram-ai/ideogram-v4"

NO_IMG2IMG = (
    "diffusers 0.42.1 has no image-to-image pipeline for Ideogram 4 (its AutoPipeline tables list Ideogram4Pipeline for "
    "text2img only, and no other class takes Ideogram4Transformer2DModel); for image-to-image use FLUX.2 (Flux2Pipeline, "
    "autopipe-flux2), which edits from reference images through the same AutoencoderKLFlux2, or SDXL "
    "(StableDiffusionXLImg2ImgPipeline, autopipe-sdxl)"
)
NO_INPAINT = (
    "diffusers 0.42.1 has no inpainting pipeline for Ideogram 4; inpaint with FLUX.1 Fill (FluxFillPipeline, autopipe-flux) "
    "or SDXL (StableDiffusionXLInpaintPipeline, autopipe-sdxl)"
)
NO_PAG = no_pag("Ideogram 4", "Ideogram4Transformer2DModel")
NO_CONTROLNET = no_controlnet("Ideogram 4")


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=IDEOGRAM4,
            example=EXAMPLE,
            description=(
                "Ideogram 4: two 9.3B flow-matching transformers (conditional and unconditional, asymmetric guidance) under a "
                "Qwen3-VL text encoder with FLUX.2's VAE, 2048 px (Ideogram4Pipeline, text2img)"
            ),
            # The default 48-entry guidance schedule fits 48 steps only: the command line's tiny calls (2 steps) guide at a
            # constant scale, as diffusers' docstring shows for other step counts.
            tiny_call={"guidance_schedule": None, "guidance_scale": 4.0},
        ),
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(IDEOGRAM4, text2img=f"diffusers:{IDEOGRAM4_CLASS}", missing={Task.IMG2IMG: NO_IMG2IMG, Task.INPAINT: NO_INPAINT}),
        unsupported(IDEOGRAM4, PAG, NO_PAG),
        unsupported(IDEOGRAM4, CONTROLNET, NO_CONTROLNET),
    ]


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:ALLOWANCE.footprint",
    autopipe_placement=".loading:placement",
    autopipe_build_tiny=".tiny:build",
))
