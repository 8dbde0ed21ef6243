"""autopipe plugin for Stable Diffusion 1.x and 2.x.

Everything here is data and lazy references: importing this module imports
no torch or diffusers. The loading code and the tiny builder import them when
they are called.
"""

from __future__ import annotations

from pathlib import Path

from autopipe_core import Detection, DeviceFacts, FamilySpec, Identity, LoadPlan, PipelineRow, Task, Variant, hookimpl
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: registering this plugin imports no placement code
    from autopipe_core.planning import Footprint
from autopipe_core.headers import SafetensorsHeader

FAMILY = "stable-diffusion"

INPAINTING = Variant(
    name="inpainting-only",
    component="unet",
    key="in_channels",
    value=9,
    tasks=frozenset({Task.INPAINT}),
    reason="its UNet takes 9 input channels, latents plus mask plus masked image, so it needs a mask at every step",
)

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
    return [
        PipelineRow(
            FAMILY,
            {
                Task.TEXT2IMG: "diffusers:StableDiffusionPipeline",
                Task.IMG2IMG: "diffusers:StableDiffusionImg2ImgPipeline",
                Task.INPAINT: "diffusers:StableDiffusionInpaintPipeline",
            },
        ),
        PipelineRow(
            FAMILY,
            {
                Task.TEXT2IMG: "diffusers:StableDiffusionPAGPipeline",
                Task.IMG2IMG: "diffusers:StableDiffusionPAGImg2ImgPipeline",
                Task.INPAINT: "diffusers:StableDiffusionPAGInpaintPipeline",
            },
            modifiers=frozenset({"pag"}),
        ),
    ]


@hookimpl
def autopipe_load_plan(family: str, identity: Identity, device: DeviceFacts) -> LoadPlan:
    from .loading import plan

    return plan(identity, device)


@hookimpl
def autopipe_footprint(family: str, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    from .loading import footprint as allowance

    return allowance(identity, plan, footprint, width, height)


@hookimpl
def autopipe_detect(header: SafetensorsHeader) -> list[Detection]:
    from .single_file import detect

    return detect(header)


@hookimpl
def autopipe_from_single_file(family: str, pipeline_class: type, path: str, detection: Detection, kwargs: dict) -> object:
    from .single_file import load

    return load(pipeline_class, path, detection, kwargs)


@hookimpl
def autopipe_build_tiny(family: str, path: Path, variant: str | None) -> None:
    from .tiny import build

    build(path, variant)
