"""autopipe plugin for latent consistency models (LCM): SimianLuo/LCM_Dreamshaper_v7 and checkpoints of its kind.

An LCM checkpoint is a Stable Diffusion 1.x architecture whose UNet was
distilled to denoise in 2-8 steps. The guidance scale is not a second batch
(classifier-free guidance) but an embedding the UNet takes beside the
timestep: its config's ``time_cond_proj_dim`` (256 in LCM_Dreamshaper_v7) is
the width of that embedding. The scheduler is an LCMScheduler. diffusers
0.42.1 loads such a checkpoint with LatentConsistencyModelPipeline (text2img)
and LatentConsistencyModelImg2ImgPipeline (img2img), the ``"lcm"`` entries of
its AutoPipeline tables; its inpainting table has no ``"lcm"`` entry and it
has no LCM inpainting pipeline, so that task is declared missing here with
what to use instead.

Everything here is data and lazy references: importing this module imports
no torch, diffusers or transformers. The loading code and the tiny builder
import them when they are called.

Single files: none are detected. diffusers' ``from_single_file`` does not
know LCM (``infer_diffusers_model_type`` has no LCM model type, and its
conversion of an original-layout UNet carries no guidance embedding,
``time_embedding.cond_proj``), so there is no file diffusers could load as
an LCM for this plugin to recognise; see docs/lcm.md.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.toolkit.rows import lazy_hooks, rows

FAMILY = "latent-consistency"

#: Why AutoPipelineForInpainting refuses an LCM checkpoint, and what to do instead.
NO_INPAINT = (
    "diffusers has no inpainting pipeline for latent consistency models (nor an 'lcm' entry in its AutoPipeline inpainting table). "
    "Inpaint with a Stable Diffusion inpainting checkpoint (autopipe's SD plugin: pip install ./plugins/autopipe-sd from a clone "
    "of the autopipe repository), and for the same few-step speed load the LCM-LoRA into it (latent-consistency/lcm-lora-sdv1-5, "
    "pipe.load_lora_weights) with an LCMScheduler"
)


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=FAMILY,
            example="SimianLuo/LCM_Dreamshaper_v7",
            description="Latent consistency models: Stable Diffusion UNets distilled to 2-8 steps, guidance as an embedding",
            configs=("unet",),  # the footprint reads the native size from the UNet's sample_size (96 in LCM_Dreamshaper_v7: 768)
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return rows(
        FAMILY,
        text2img="diffusers:LatentConsistencyModelPipeline",
        img2img="diffusers:LatentConsistencyModelImg2ImgPipeline",
        missing={Task.INPAINT: NO_INPAINT},
    )


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:ALLOWANCE.footprint",
    autopipe_build_tiny=".tiny:build",
))
