"""autopipe plugin for DeepFloyd IF, stage I.

DeepFloyd IF is a cascade in pixel space: stage I (IF-I-XL/L/M) makes a 64x64
image from a T5-XXL text embedding, stage II (IF-II-L/M) upscales it to
256x256, and stage III is Stable Diffusion's x4 upscaler. Only stage I does the
three tasks: its classes are the family's table. The stage II classes are
recognised, so that a stage II checkpoint is refused with what to load instead
rather than reported as unknown. diffusers has no PAG pipelines for IF, so
there are no PAG rows.

Everything here is data and lazy references: importing this module imports
no torch, diffusers or transformers. The loading code and the tiny builder
import them when they are called.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.toolkit.rows import lazy_hooks

FAMILY = "if"

STAGE_I = {
    Task.TEXT2IMG: "diffusers:IFPipeline",
    Task.IMG2IMG: "diffusers:IFImg2ImgPipeline",
    Task.INPAINT: "diffusers:IFInpaintingPipeline",
}


def _stage_ii(does: str, auto_class: str, diffusers_class: str, inputs: str) -> str:
    return (
        f"it is a DeepFloyd IF stage II super-resolution checkpoint (IF-II-L/M style): it {does}, "
        "so it cannot serve a task on its own. "
        f"Load stage I (a DeepFloyd/IF-I-XL-v1.0 style checkpoint) with {auto_class}, "
        f"then run stage II with diffusers' class directly: diffusers.{diffusers_class}.from_pretrained(...), {inputs}"
    )


#: Stage II classes: recognised as this family, refused with what to load instead.
STAGE_II = {
    "IFSuperResolutionPipeline": _stage_ii(
        "upscales a 64x64 stage I image to 256x256, guided by the prompt",
        "AutoPipelineForText2Image",
        "IFSuperResolutionPipeline",
        "called with image= set to stage I's output.",
    ),
    "IFImg2ImgSuperResolutionPipeline": _stage_ii(
        "upscales the 64x64 result of stage I image-to-image to 256x256, guided by the prompt and the original picture",
        "AutoPipelineForImage2Image",
        "IFImg2ImgSuperResolutionPipeline",
        "called with image= set to stage I's output and original_image= to your picture.",
    ),
    "IFInpaintingSuperResolutionPipeline": _stage_ii(
        "upscales the 64x64 result of stage I inpainting to 256x256, guided by the prompt, the original picture and the mask",
        "AutoPipelineForInpainting",
        "IFInpaintingSuperResolutionPipeline",
        "called with image= set to stage I's output, original_image= to your picture and mask_image= to your mask.",
    ),
}


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=FAMILY,
            example="DeepFloyd/IF-I-XL-v1.0",
            description="DeepFloyd IF stage I (IF-I-XL/L/M: T5-XXL text encoder, 64x64 pixel-space UNet)",
            recognised=STAGE_II,
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [PipelineRow(FAMILY, STAGE_I)]


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:ALLOWANCE.footprint",
    autopipe_build_tiny=".tiny:build",
))
