"""autopipe-pixart's registrations: the families, their pipelines and requirements, and the hooks, each a lazy reference.

The module the ``autopipe.plugins`` entry point names. Everything here is
data and lazy references: importing it imports no torch, diffusers or
transformers. The loading code (:mod:`.loading`), the tiny builder
(:mod:`.tiny`) and the single-file code (:mod:`.single_file`) import them
when their hooks are asked.

Four families, one per pipeline table diffusers keeps apart:

- ``pixart-alpha``: PixArtAlphaPipeline (diffusers' key "pixart-alpha").
- ``pixart-sigma``: PixArtSigmaPipeline, PixArtSigmaPAGPipeline ("pixart-sigma", "pixart-sigma-pag").
- ``sana``: SanaPipeline, SanaPAGPipeline ("sana", "sana-pag") and SanaControlNetPipeline (``controlnet=``).
- ``sana-sprint``: SanaSprintPipeline and SanaSprintImg2ImgPipeline (in no AutoPipeline table of diffusers).

Why PixArt-α and PixArt-Σ are two families, not one: both run a
PixArtTransformer2DModel under a T5-XXL encoder, but they are different
checkpoints that diffusers serves with different classes, and a family's
row maps each task to one class. The classes are not interchangeable: at
1024 px PixArt-α's transformer is conditioned on the image's resolution and
aspect ratio (``use_additional_conditions``, which PixArtAlphaPipeline
feeds and PixArtSigmaPipeline never does), PixArt-α reads 120 T5 tokens where
PixArt-Σ was trained on 300, and their VAEs differ (SD's, scaling factor
0.18215, against SDXL's, 0.13025). The class name in model_index.json
says which one a checkpoint is, and that is what resolution reads.

Why Sana Sprint is a family of its own: its checkpoints share Sana's
transformer class but embed the guidance scale (``guidance_embeds: true``)
and run a consistency schedule (SCMScheduler) in 1 to 4 steps, with other
pipelines for the same tasks. The transformer's config tells them apart
(:data:`IS_SPRINT`, :data:`NOT_SPRINT`), so a Sprint checkpoint saved under
Sana's class name resolves to Sprint's pipelines and a plain Sana one saved
under Sprint's to Sana's (``FamilySpec.also_named``).
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.toolkit.missing import unsupported
from autopipe_core.toolkit.requirements import flag
from autopipe_core.toolkit.rows import PAG, lazy_hooks, row, rows

from . import DETECT_KEYS, PIXART_ALPHA, PIXART_SIGMA, SANA, SANA_SPRINT

#: The core's ControlNet modifier (``controlnet=``), which SanaControlNetPipeline's row carries.
CONTROLNET = "controlnet"

# What to use where diffusers has no class: each sentence ends up in the user's error.
_EDIT_ELSEWHERE = (
    "for img2img, use a family that has an image-to-image pipeline: Sana Sprint (SanaSprintImg2ImgPipeline, this plugin) "
    "or SDXL (StableDiffusionXLImg2ImgPipeline, autopipe-sdxl)"
)
_INPAINT_ELSEWHERE = "inpaint with a family that has an inpainting pipeline, such as SDXL (StableDiffusionXLInpaintPipeline, autopipe-sdxl)"
PIXART_NO_IMG2IMG = "diffusers has no image-to-image pipeline for PixArt (its AutoPipeline tables list PixArt for text2img only); " + _EDIT_ELSEWHERE
PIXART_NO_INPAINT = "diffusers has no inpainting pipeline for PixArt; " + _INPAINT_ELSEWHERE
SANA_NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for Sana (its AutoPipeline tables list Sana for text2img only); "
    "SanaSprintImg2ImgPipeline does img2img, but only with a Sana Sprint checkpoint (e.g. Efficient-Large-Model/Sana_Sprint_1.6B_1024px_diffusers), "
    "which this plugin serves as sana-sprint"
)
SANA_NO_INPAINT = "diffusers has no inpainting pipeline for Sana or Sana Sprint; " + _INPAINT_ELSEWHERE
SPRINT_NO_INPAINT = "diffusers has no inpainting pipeline for Sana Sprint (it has text2img and img2img); " + _INPAINT_ELSEWHERE
ALPHA_NO_PAG = (
    "diffusers has no PAG pipeline for PixArt-α: PixArtSigmaPAGPipeline is PixArt-Σ's, and it never feeds the resolution and "
    "aspect-ratio conditions PixArt-α's 1024 px transformer takes; leave out enable_pag, or use a PixArt-Σ checkpoint"
)
SPRINT_NO_PAG = (
    "diffusers has no PAG pipeline for Sana Sprint: SanaPAGPipeline runs Sana's flow-matching schedule with classifier-free "
    "guidance, and Sprint's consistency steps take the guidance scale as an embedding instead; leave out enable_pag"
)
SPRINT_NO_CONTROLNET = (
    "diffusers has no ControlNet pipeline for Sana Sprint: SanaControlNetPipeline runs Sana's flow-matching schedule, "
    "not Sprint's consistency steps; use a Sana checkpoint with controlnet="
)
CONTROLNET_TEXT2IMG_ONLY = "diffusers' SanaControlNetPipeline does text2img only; leave out controlnet= for this task"

#: A transformer that embeds the guidance scale is Sana Sprint's: Sana's pipelines would leave that embedding unfed.
NOT_SPRINT = flag(
    "transformer", "guidance_embeds", False, default=False,
    otherwise=(
        "its transformer embeds the guidance scale (guidance_embeds {value}): it is a Sana Sprint checkpoint, a few-step "
        "distillation that SanaSprintPipeline and SanaSprintImg2ImgPipeline run (autopipe resolves it as sana-sprint when its "
        "model_index.json names SanaPipeline); diffusers has no PAG or ControlNet pipeline for Sana Sprint"
    ),
)

#: Sana Sprint's pipelines feed a guidance embedding at every step: a transformer without one is plain Sana's.
IS_SPRINT = flag(
    "transformer", "guidance_embeds", True, default=False,
    otherwise=(
        "its transformer embeds no guidance scale (guidance_embeds {value}), which Sana Sprint's pipelines feed at every "
        "step: it is a plain Sana checkpoint; load it with SanaPipeline (autopipe resolves it as sana when its "
        "model_index.json names a Sana Sprint class)"
    ),
)

_SANA_VIDEO = {
    "SanaVideoPipeline": "it is Sana-Video, a text-to-video model: load it with diffusers.SanaVideoPipeline",
    "SanaImageToVideoPipeline": "it is Sana-Video's image-to-video pipeline: load it with diffusers.SanaImageToVideoPipeline",
}


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=PIXART_ALPHA,
            example="PixArt-alpha/PixArt-XL-2-1024-MS",
            description="PixArt-α: a DiT (PixArtTransformer2DModel) under T5-XXL, 512 and 1024 px, and its LCM and DMD distillations",
            configs=("transformer",),  # the loading code reads sample_size, the native side
        ),
        FamilySpec(
            name=PIXART_SIGMA,
            example="PixArt-alpha/PixArt-Sigma-XL-2-1024-MS",
            description="PixArt-Σ: PixArt-α's architecture with SDXL's VAE and 300 T5 tokens, 512 to 2048 px; PAG",
            configs=("transformer",),
        ),
        FamilySpec(
            name=SANA,
            example="Efficient-Large-Model/Sana_1600M_1024px_diffusers",
            description="Sana and SANA 1.5: a linear-attention DiT under Gemma 2 with a 32x DC-AE, 512 px to 4K; PAG, ControlNet",
            requires=(NOT_SPRINT,),
            also_named=frozenset({"SanaSprintPipeline", "SanaSprintImg2ImgPipeline"}),
            recognised=_SANA_VIDEO,
        ),
        FamilySpec(
            name=SANA_SPRINT,
            example="Efficient-Large-Model/Sana_Sprint_1.6B_1024px_diffusers",
            description="Sana Sprint: Sana distilled to 1-4 consistency steps, the guidance scale embedded (text2img, img2img)",
            requires=(IS_SPRINT,),
            also_named=frozenset({"SanaPipeline"}),
        ),
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(PIXART_ALPHA, text2img="diffusers:PixArtAlphaPipeline", missing={Task.IMG2IMG: PIXART_NO_IMG2IMG, Task.INPAINT: PIXART_NO_INPAINT}),
        unsupported(PIXART_ALPHA, PAG, ALPHA_NO_PAG),
        *rows(
            PIXART_SIGMA,
            text2img="diffusers:PixArtSigmaPipeline",
            missing={Task.IMG2IMG: PIXART_NO_IMG2IMG, Task.INPAINT: PIXART_NO_INPAINT},
            pag=("diffusers:PixArtSigmaPAGPipeline", None, None),
        ),
        *rows(
            SANA,
            text2img="diffusers:SanaPipeline",
            missing={Task.IMG2IMG: SANA_NO_IMG2IMG, Task.INPAINT: SANA_NO_INPAINT},
            pag=("diffusers:SanaPAGPipeline", None, None),
        ),
        row(
            SANA, text2img="diffusers:SanaControlNetPipeline", modifiers={CONTROLNET},
            missing=dict.fromkeys((Task.IMG2IMG, Task.INPAINT), CONTROLNET_TEXT2IMG_ONLY),
        ),
        *rows(
            SANA_SPRINT,
            text2img="diffusers:SanaSprintPipeline",
            img2img="diffusers:SanaSprintImg2ImgPipeline",
            missing={Task.INPAINT: SPRINT_NO_INPAINT},
        ),
        unsupported(SANA_SPRINT, PAG, SPRINT_NO_PAG),
        unsupported(SANA_SPRINT, CONTROLNET, SPRINT_NO_CONTROLNET),
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
