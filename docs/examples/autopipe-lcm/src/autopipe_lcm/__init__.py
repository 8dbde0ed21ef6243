"""autopipe plugin for latent consistency models (LCM): the example of docs/plugin-guide.md.

An LCM checkpoint (SimianLuo/LCM_Dreamshaper_v7 style) is a Stable Diffusion
architecture whose UNet was distilled to denoise in 2-8 steps, with the
guidance scale fed in as an embedding (the UNet's ``time_cond_proj_dim``) and
an LCMScheduler. diffusers loads it with LatentConsistencyModelPipeline
(text2img) and LatentConsistencyModelImg2ImgPipeline (img2img); it has no
inpainting pipeline for it, so that task is declared missing, with what to
use instead.

This module is data and lazy class references only: importing it imports no
torch, diffusers or transformers, so that ``autopipe plugins`` and resolution
stay instant. The loading code and the tiny builder import what they need
when they are called.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl, toolkit

__version__ = "0.1.0"

FAMILY = "latent-consistency"

CLASSES = {
    Task.TEXT2IMG: "diffusers:LatentConsistencyModelPipeline",
    Task.IMG2IMG: "diffusers:LatentConsistencyModelImg2ImgPipeline",
}

NO_INPAINT = (
    "diffusers has no inpainting pipeline for latent consistency models. Inpaint with a Stable Diffusion "
    "inpainting checkpoint (autopipe's SD plugin: pip install ./plugins/autopipe-sd from its repository), or load an SD inpainting checkpoint with the LCM-LoRA "
    "(latent-consistency/lcm-lora-sdv1-5) and an LCMScheduler for the same few-step speed"
)


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [FamilySpec(name=FAMILY, description="Latent consistency models: SD-architecture UNets distilled to 2-8 steps")]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [PipelineRow(FAMILY, CLASSES, missing={Task.INPAINT: NO_INPAINT})]


# Hooks whose code needs torch or diffusers: each module is imported when its hook is first asked, never at registration.
globals().update(toolkit.rows.lazy_hooks(__name__, autopipe_load_plan=".loading:plan", autopipe_build_tiny=".tiny:build"))
