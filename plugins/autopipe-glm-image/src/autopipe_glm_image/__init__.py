"""autopipe plugin for Z.ai's GLM-Image: GlmImagePipeline (diffusers' key "glm_image"), text to image.

Everything here is data and lazy references: importing this module imports
no torch, diffusers or transformers. The loading code (:mod:`.loading`) and
the tiny builder (:mod:`.tiny`) import them when their hooks are asked.

One family, ``glm-image``: GlmImagePipeline (diffusers 0.42.1), in two stages:

- ``vision_language_encoder``: transformers' GlmImageForConditionalGeneration,
  an autoregressive model (10.1 B parameters at transformers' defaults: a
  40-layer GLM text model 4096 wide, a 40-block vision tower, a VQ quantiser)
  that draws the image's prior tokens, a 16 x 16 preview grid then one token
  per 32 x 32 pixels, from a chat-formatted prompt its ``processor``
  (GlmImageProcessor: a tokenizer, a chat template, an image processor) builds;
- ``text_encoder`` and ``tokenizer``: a ByT5 encoder (T5EncoderModel with a
  ByT5Tokenizer) over the quoted text of the prompt (glyphs to render);
- ``transformer``: GlmImageTransformer2DModel (2.9 B at diffusers' defaults)
  denoising FLUX-style latents of ``vae`` (AutoencoderKL, 8x) conditioned on
  the prior tokens, flow-match Euler.

Checkpoint: zai-org/GLM-Image (the example of diffusers' docstring).

Text to image only. diffusers 0.42.1 has no image-to-image or inpainting
class for GLM-Image in its tables, and no other class takes
GlmImageTransformer2DModel. GlmImagePipeline itself takes reference images
(``image=``) for editing, but that path fails with the transformers 5 this
plugin requires (:data:`NO_IMG2IMG` says why; tests/test_glm_image_plugin.py
shows it on the tiny checkpoint and fails the day it runs, so that it gets
served). Inpainting, PAG and ControlNet have no class at all. Each is refused
before any weight is read, saying what to use instead.

No single files: diffusers' ``from_single_file`` knows no GLM-Image layout
(``CHECKPOINT_KEY_NAMES`` has no GLM-Image key, GlmImagePipeline has no
``from_single_file``, and GlmImageTransformer2DModel is not among
``SINGLE_FILE_LOADABLE_CLASSES``); this plugin claims none.

No torchvision needed: transformers 5 builds and loads GLM-Image's processor
with its PIL image processor where torchvision is missing (as here), so the
tiny checkpoint and the text-to-image path run without it.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET
from autopipe_core.toolkit.missing import no_controlnet, no_pag, unsupported
from autopipe_core.toolkit.rows import PAG, lazy_hooks, rows

GLM_IMAGE = "glm-image"
FAMILIES = (GLM_IMAGE,)
GLM_IMAGE_CLASS = "GlmImagePipeline"
#: The example checkpoint: the one diffusers' GlmImagePipeline docstring loads (0.42.1).
EXAMPLE = "zai-org/GLM-Image"

NO_IMG2IMG = (
    "diffusers 0.42.1 has no image-to-image pipeline for GLM-Image in its tables, and GlmImagePipeline's own editing path "
    "(image=) fails with transformers 5: it concatenates the per-image features transformers' get_image_features returns "
    "into one tensor, which GlmImageForConditionalGeneration.get_image_tokens then walks channel by channel; for image "
    "editing use Qwen-Image Edit (QwenImageEditPipeline, autopipe-qwenimage) or FLUX.2 (Flux2Pipeline, autopipe-flux2)"
)
NO_INPAINT = (
    "diffusers 0.42.1 has no inpainting pipeline for GLM-Image; inpaint with FLUX.1 Fill (FluxFillPipeline, autopipe-flux) "
    "or SDXL (StableDiffusionXLInpaintPipeline, autopipe-sdxl)"
)
NO_PAG = no_pag("GLM-Image", "GlmImageTransformer2DModel")
NO_CONTROLNET = no_controlnet("GLM-Image")


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=GLM_IMAGE,
            example=EXAMPLE,
            description=(
                "GLM-Image: an autoregressive GLM-Image model drawing prior tokens, then a diffusion transformer with a ByT5 "
                "glyph encoder and an 8x VAE, 1024 px (GlmImagePipeline, text2img)"
            ),
            configs=("transformer",),  # the allowance reads the native side from its sample_size
        ),
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(GLM_IMAGE, text2img=f"diffusers:{GLM_IMAGE_CLASS}", missing={Task.IMG2IMG: NO_IMG2IMG, Task.INPAINT: NO_INPAINT}),
        unsupported(GLM_IMAGE, PAG, NO_PAG),
        unsupported(GLM_IMAGE, CONTROLNET, NO_CONTROLNET),
    ]


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:ALLOWANCE.footprint",
    autopipe_build_tiny=".tiny:build",
))
