"""autopipe-hidream's registrations: the family, its pipelines and refusals, and the hooks, each a lazy reference.

The module the ``autopipe.plugins`` entry point names. Everything here is
data and lazy references: importing it imports no torch, diffusers or
transformers. The loading code (:mod:`.loading`), the tiny builder
(:mod:`.tiny`) and the single-file code (:mod:`.single_file`) import them
when their hooks are asked.

**Full, Dev and Fast are one family, not Variants.** An autopipe Variant is a
kind of checkpoint that can do fewer tasks (SD's inpainting UNet); these three
have the same transformer config and tensors and the same one task. They
differ by training (Dev and Fast are guidance-distilled) and so by how they
are called: HiDream-ai's own inference.py (github.com/HiDream-ai/HiDream-I1)
runs Full at 50 steps, guidance 5.0, flow shift 3.0; Dev at 28 steps,
guidance 0.0, shift 6.0; Fast at 16 steps, guidance 0.0, shift 3.0 — settings
each repository's scheduler config and the caller's arguments carry, which
resolution does not need (docs/hidream.md).

**Text to image only.** diffusers 0.42.1 has exactly one HiDream pipeline,
``HiDreamImagePipeline`` (no Img2Img, Inpaint, Edit, PAG or ControlNet class
takes a HiDream transformer; HiDream-E1, HiDream.ai's editing model, ships
its own pipeline code outside diffusers), and no key in its AutoPipeline
tables: ``diffusers.AutoPipelineForText2Image`` refuses a HiDream checkpoint,
and autopipe serves it as a class beyond the tables. Image-to-image,
inpainting, PAG and ControlNet are refused before any weight is read, saying
what to use instead.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET
from autopipe_core.toolkit.missing import no_controlnet, no_pag, unsupported
from autopipe_core.toolkit.rows import PAG, lazy_hooks, rows

from . import DETECT_KEYS, EXAMPLE, HIDREAM, HIDREAM_CLASS

NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for HiDream-I1 (it ships HiDreamImagePipeline, text to image, alone, and HiDream "
    "edits with HiDream-E1, whose pipeline is not in diffusers); for image-to-image use a family that has one, such as FLUX.1 "
    "(FluxImg2ImgPipeline, autopipe-flux), whose VAE HiDream-I1 shares, or SD 3.5 (StableDiffusion3Img2ImgPipeline, autopipe-sd3)"
)
NO_INPAINT = (
    "diffusers has no inpainting pipeline for HiDream-I1; inpaint with a family that has one, such as FLUX.1 Fill "
    "(FluxFillPipeline, autopipe-flux) or SD 3.5 (StableDiffusion3InpaintPipeline, autopipe-sd3)"
)
NO_PAG = no_pag("HiDream-I1")
NO_CONTROLNET = no_controlnet("HiDream-I1")


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=HIDREAM,
            example=EXAMPLE,
            description=(
                "HiDream-I1 (Full, Dev, Fast): HiDream.ai's 17B mixture-of-experts DiT under two CLIPs, T5-XXL and Llama 3.1 8B, "
                "with FLUX.1's VAE, 1024 px (HiDreamImagePipeline, text2img)"
            ),
            configs=("vae",),  # the allowance reads the VAE's levels: HiDreamImagePipeline draws 128 latents x its factor a side
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(HIDREAM, text2img=f"diffusers:{HIDREAM_CLASS}", missing={Task.IMG2IMG: NO_IMG2IMG, Task.INPAINT: NO_INPAINT}),
        unsupported(HIDREAM, PAG, NO_PAG),
        unsupported(HIDREAM, CONTROLNET, NO_CONTROLNET),
    ]


@hookimpl
def autopipe_detect_keys() -> tuple[str, ...]:
    return DETECT_KEYS


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __package__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:footprint",
    autopipe_detect=".single_file:detect",
    autopipe_from_single_file=".single_file:load",
    autopipe_build_tiny=".tiny:build",
))
