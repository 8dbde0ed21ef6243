"""autopipe-sd's registrations: the family, its pipelines and variants, and the hooks, each a lazy reference.

The module the ``autopipe.plugins`` entry point names. Everything here is
data and lazy references: importing it imports no torch or diffusers. The
loading code, the detection and the tiny builder are imported when their
hook is first asked.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, hookimpl
from autopipe_core.toolkit.rows import inpainting_only, lazy_hooks, rows

from . import DETECT_KEYS, FAMILY

INPAINTING = inpainting_only()

_OTHER_SD_PIPELINES = {
    "StableDiffusionUpscalePipeline": "it is the x4 upscaler, not a text-to-image model: load it with diffusers.StableDiffusionUpscalePipeline",
    "StableDiffusionLatentUpscalePipeline": "it is the x2 latent upscaler: load it with diffusers.StableDiffusionLatentUpscalePipeline",
    "StableDiffusionDepth2ImgPipeline": "it is a depth-conditioned model (5 input channels): load it with diffusers.StableDiffusionDepth2ImgPipeline",
    "StableDiffusionImageVariationPipeline": "it makes variations of an image from CLIP image embeddings: load it with diffusers.StableDiffusionImageVariationPipeline",
    "StableDiffusionInstructPix2PixPipeline": (
        "it is an InstructPix2Pix model (8 UNet input channels: latents and the image to edit), which edits an image by an "
        "instruction and serves no AutoPipeline task: load it with diffusers.StableDiffusionInstructPix2PixPipeline"
    ),
    **dict.fromkeys(
        ("OnnxStableDiffusionPipeline", "OnnxStableDiffusionImg2ImgPipeline", "OnnxStableDiffusionInpaintPipeline", "StableDiffusionOnnxPipeline"),
        "it is an ONNX export (OnnxRuntimeModel components run by onnxruntime), and autopipe loads PyTorch weights: "
        "load it with diffusers.OnnxStableDiffusionPipeline, or use the PyTorch checkpoint it was exported from",
    ),
}


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=FAMILY,
            example="stable-diffusion-v1-5/stable-diffusion-v1-5",
            description="Stable Diffusion 1.x and 2.x",
            variants=(INPAINTING,),
            recognised=_OTHER_SD_PIPELINES,
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return rows(
        FAMILY,
        text2img="diffusers:StableDiffusionPipeline",
        img2img="diffusers:StableDiffusionImg2ImgPipeline",
        inpaint="diffusers:StableDiffusionInpaintPipeline",
        pag=("diffusers:StableDiffusionPAGPipeline", "diffusers:StableDiffusionPAGImg2ImgPipeline", "diffusers:StableDiffusionPAGInpaintPipeline"),
    )


@hookimpl
def autopipe_detect_keys() -> tuple[str, ...]:
    return DETECT_KEYS


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __package__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:ALLOWANCE.footprint",
    autopipe_detect=".single_file:detect",
    autopipe_from_single_file=".single_file:load",
    autopipe_build_tiny=".tiny:build",
))
