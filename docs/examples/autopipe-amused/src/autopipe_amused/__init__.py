"""autopipe plugin for aMUSEd: the example of docs/plugin-guide.md.

aMUSEd (amused/amused-256, amused/amused-512) draws an image as a grid of
tokens rather than by denoising latents: a VQ-GAN (diffusers' VQModel,
8192 codebook entries) turns 16x16 pixels into one token, and a transformer
(UVit2DModel), conditioned on a CLIP text encoder with projection, predicts
the masked tokens of the grid, unmasking more at each of about 12 steps as
its AmusedScheduler decides. diffusers 0.42.1 loads it with AmusedPipeline
(text2img), AmusedImg2ImgPipeline and AmusedInpaintPipeline, but its
AutoPipeline tables have no entry for it (AutoPipelineForText2Image refuses
amused/amused-256 with a ValueError); with this plugin installed,
autopipe's AutoPipelineFor* serve all three tasks and switch between them
with from_pipe.

This module is data and lazy class references only: importing it imports no
torch, diffusers or transformers, so that ``autopipe plugins`` and resolution
stay instant. The loading code and the tiny builder import what they need
when they are called.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl, toolkit

__version__ = "0.1.0"

FAMILY = "amused"

CLASSES = {
    Task.TEXT2IMG: "diffusers:AmusedPipeline",
    Task.IMG2IMG: "diffusers:AmusedImg2ImgPipeline",
    Task.INPAINT: "diffusers:AmusedInpaintPipeline",
}


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=FAMILY,
            description="aMUSEd: a transformer that unmasks VQ-GAN image tokens in about 12 steps, at 256 or 512 pixels",
            example="amused/amused-256",
            configs=("transformer",),  # the memory allowance reads the native size from its sample_size
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [PipelineRow(FAMILY, CLASSES)]


# Hooks whose code needs torch or diffusers: each module is imported when its hook is first asked, never at registration.
globals().update(toolkit.rows.lazy_hooks(
    __name__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:ALLOWANCE.footprint",
    autopipe_build_tiny=".tiny:build",
))
