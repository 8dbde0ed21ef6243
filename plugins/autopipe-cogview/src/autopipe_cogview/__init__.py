"""autopipe plugin for Zhipu AI / Tsinghua's CogView3-Plus and CogView4 (diffusers' keys "cogview3", "cogview4", "cogview4-control").

Everything here is data and lazy references: importing this module imports
no torch, diffusers or transformers. The loading code (:mod:`.loading`) and
the tiny builder (:mod:`.tiny`) import them when their hooks are asked.

Two families, as diffusers 0.42.1's AutoPipeline tables map them (text2img only):

- ``cogview3``: CogView3-Plus (THUDM/CogView3-Plus-3B), a 3 B DiT
  (``CogView3PlusTransformer2DModel``, 30 blocks, 2560 wide) under T5-XXL
  (``T5EncoderModel``) with a 16-channel 8x VAE, sampled by a CogVideoX
  scheduler: ``CogView3PlusPipeline``;
- ``cogview4``: CogView4 (THUDM/CogView4-6B), a 6 B DiT
  (``CogView4Transformer2DModel``, 28 blocks, 4096 wide) under GLM-4-9B
  (``GlmModel``) with the same kind of VAE, flow matching:
  ``CogView4Pipeline``; and CogView4 Control (THUDM/CogView4-6B-Control),
  whose transformer takes the control image's latents beside the noisy ones
  (:data:`CONTROL_CHANNELS` input channels): ``CogView4ControlPipeline``.

**CogView4 Control is a modifier of cogview4, not a family or a Variant**,
as autopipe-flux serves FLUX.1 Canny/Depth (``FluxControlPipeline``,
modifiers {"control"}): the same components (GLM-4, the VAE, the same
transformer class) with a transformer of twice the input channels, and a
class of its own that its ``model_index.json`` names. The class name decides
(``CogView4ControlPipeline`` -> the row with modifiers {"control"}); no
keyword selects it, since a plain CogView4 transformer cannot take a control
image (diffusers has no keyword for it either: "cogview4-control" is a key
of its own, looked up by the class name). A Variant told apart by
``in_channels`` would not do: a Variant only refuses tasks and cannot change
the class, and the Control checkpoint needs another class for the very task
(text2img) the plain one does. Its ``in_channels`` (32, twice the VAE's 16
latent channels) is what ``CogView4ControlPipeline`` itself reads
(``latent_channels = in_channels // 2``).

Every other task is refused before any weight is read, saying what to use:
diffusers 0.42.1 has no image-to-image, inpainting, PAG or ControlNet class
for either family (no other pipeline class takes their transformers;
``tests/test_cogview_plugin.py`` reads diffusers' sources to keep that true).
No single files: diffusers' ``from_single_file`` knows neither family
(``single_file_utils.CHECKPOINT_KEY_NAMES`` has no CogView key, and neither
pipeline nor transformer class has ``from_single_file``), so the plugin
detects none.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET
from autopipe_core.toolkit.missing import IMG2IMG_ELSEWHERE, INPAINT_ELSEWHERE, unsupported
from autopipe_core.toolkit.rows import PAG, lazy_hooks, row, rows

COGVIEW3 = "cogview3"
COGVIEW4 = "cogview4"
FAMILIES = (COGVIEW3, COGVIEW4)

#: The modifier of CogView4 Control's row; no keyword selects it: a checkpoint's class name (or a live pipeline's) does.
CONTROL = "control"

#: diffusers' classes (0.42.1).
COGVIEW3_CLASS = "CogView3PlusPipeline"
COGVIEW4_CLASS = "CogView4Pipeline"
CONTROL_CLASS = "CogView4ControlPipeline"

#: Latent channels of CogView's VAE (diffusers' CogView3/CogView4 converters: latent_channels 16), which a plain
#: transformer takes; CogView4 Control's takes the control image's latents too, concatenated on the channels.
LATENT_CHANNELS = 16
CONTROL_CHANNELS = 2 * LATENT_CHANNELS  # 32

COGVIEW3_WHAT = "CogView3-Plus"
COGVIEW4_WHAT = "CogView4"

# What to use where diffusers has no class: each sentence ends up in the user's error.
COGVIEW3_NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for CogView3-Plus (its AutoPipeline tables list CogView3PlusPipeline for "
    "text2img only); " + IMG2IMG_ELSEWHERE
)
COGVIEW3_NO_INPAINT = "diffusers has no inpainting pipeline for CogView3-Plus; " + INPAINT_ELSEWHERE
COGVIEW4_NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for CogView4 (its AutoPipeline tables list CogView4Pipeline for text2img "
    "only); to draw after the edges or depth of an image use CogView4 Control (THUDM/CogView4-6B-Control, "
    "CogView4ControlPipeline: AutoPipelineForText2Image with control_image=), or " + IMG2IMG_ELSEWHERE
)
COGVIEW4_NO_INPAINT = "diffusers has no inpainting pipeline for CogView4; " + INPAINT_ELSEWHERE
CONTROL_NO_IMG2IMG = (
    "CogView4 Control draws a new image from a prompt and a control image (text2img, the image passed as control_image=), "
    "and diffusers has no image-to-image pipeline for it: use AutoPipelineForText2Image with control_image=, or, to start "
    "from the image itself, FLUX.1 Canny/Depth (FluxControlImg2ImgPipeline, autopipe-flux)"
)
CONTROL_NO_INPAINT = (
    "diffusers has no inpainting pipeline for CogView4 Control; inpaint under a control image with FLUX.1 Canny/Depth "
    "(FluxControlInpaintPipeline, autopipe-flux), or " + INPAINT_ELSEWHERE
)
NO_PAG = "diffusers has no PAG pipeline for {what} (no PAG class takes its transformer); leave out enable_pag"
NO_CONTROLNET = "diffusers has no ControlNet pipeline or ControlNet model for {what}; leave out controlnet="
#: CogView4's refusal of controlnet= names the Control checkpoint, which takes a control image itself.
COGVIEW4_NO_CONTROLNET = (
    NO_CONTROLNET.format(what=COGVIEW4_WHAT)
    + ", and for a control image (edges, depth) load CogView4 Control (THUDM/CogView4-6B-Control) and pass control_image="
)


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=COGVIEW3,
            example="THUDM/CogView3-Plus-3B",
            description="CogView3-Plus: a 3B DiT under T5-XXL with a 16-channel VAE, 1024 px (CogView3PlusPipeline, text2img)",
            configs=("transformer",),  # the allowance reads the native side from sample_size
        ),
        FamilySpec(
            name=COGVIEW4,
            example="THUDM/CogView4-6B",
            description=(
                "CogView4: a 6B DiT under GLM-4-9B with a 16-channel VAE, 1024 px (CogView4Pipeline, text2img), "
                "and CogView4 Control (CogView4ControlPipeline, a control image)"
            ),
            configs=("transformer",),
        ),
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(COGVIEW3, text2img=f"diffusers:{COGVIEW3_CLASS}", missing={Task.IMG2IMG: COGVIEW3_NO_IMG2IMG, Task.INPAINT: COGVIEW3_NO_INPAINT}),
        unsupported(COGVIEW3, PAG, NO_PAG.format(what=COGVIEW3_WHAT)),
        unsupported(COGVIEW3, CONTROLNET, NO_CONTROLNET.format(what=COGVIEW3_WHAT)),
        *rows(COGVIEW4, text2img=f"diffusers:{COGVIEW4_CLASS}", missing={Task.IMG2IMG: COGVIEW4_NO_IMG2IMG, Task.INPAINT: COGVIEW4_NO_INPAINT}),
        row(COGVIEW4, modifiers={CONTROL}, text2img=f"diffusers:{CONTROL_CLASS}", missing={Task.IMG2IMG: CONTROL_NO_IMG2IMG, Task.INPAINT: CONTROL_NO_INPAINT}),
        unsupported(COGVIEW4, PAG, NO_PAG.format(what=COGVIEW4_WHAT)),
        unsupported(COGVIEW4, CONTROLNET, COGVIEW4_NO_CONTROLNET),
    ]


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:footprint",
    autopipe_build_tiny=".tiny:build",
))
