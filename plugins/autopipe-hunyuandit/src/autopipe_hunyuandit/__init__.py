"""autopipe plugin for HunyuanDiT (Tencent Hunyuan's bilingual diffusion transformer, v1.0 to v1.2): text2img, PAG, ControlNet.

Everything here is data and lazy references: importing this module imports
no torch, diffusers or transformers. The loading code (:mod:`.loading`) and
the tiny builder (:mod:`.tiny`) import what they need when their hooks are
asked.

The rows are diffusers 0.42.1's AutoPipeline tables for the keys
``hunyuan`` (HunyuanDiTPipeline) and ``hunyuan-pag``
(HunyuanDiTPAGPipeline), both text2img only (``pipelines/auto_pipeline.py``),
plus HunyuanDiTControlNetPipeline through the core's ``controlnet=``
modifier: it takes a HunyuanDiT2DControlNetModel, or several (a list, or a
HunyuanDiT2DMultiControlNetModel), both already in the core's
``CONTROLNET_CLASSES``. diffusers has no image-to-image or inpainting
pipeline for HunyuanDiT, no PAG ControlNet pipeline, and no union ControlNet
for it: each of those is refused before any weight is read, with what to use
instead.

HunyuanDiT v1.0, v1.1 and v1.2 are one family: the same
HunyuanDiT2DModel (1.5 B parameters), Chinese CLIP's text tower as a
BertModel (``text_encoder``), mT5-XL's encoder (``text_encoder_2``) and
SDXL's float16-safe VAE, all served by the same classes for the same task;
v1.2 drops the style and image-size conditions
(``use_style_cond_and_image_meta_size: false`` in its transformer config),
which the same pipeline handles. The distilled releases differ only in
their weights. So there are no variants.

Single files: diffusers 0.42.1 has none for HunyuanDiT (no
HunyuanDiT entry in ``loaders/single_file_utils.py``'s
``CHECKPOINT_KEY_NAMES``, and neither HunyuanDiT2DModel nor any HunyuanDiT
pipeline has ``from_single_file``), so this plugin reads none.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET, UNION
from autopipe_core.toolkit.missing import unsupported
from autopipe_core.toolkit.rows import PAG, lazy_hooks, row, rows

FAMILY = "hunyuandit"

#: The ControlNet model classes HunyuanDiTControlNetPipeline takes as ``controlnet=`` (the core must list them in
#: ``autopipe_core.builtin.CONTROLNET_CLASSES`` so that a folder holding one is told to pass it so; it does).
CONTROLNET_MODELS = ("HunyuanDiT2DControlNetModel", "HunyuanDiT2DMultiControlNetModel")

# What to use where diffusers has no class: each sentence ends up in the user's error.
NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for HunyuanDiT (its AutoPipeline tables list 'hunyuan' and 'hunyuan-pag' for "
    "text2img only); to keep an image's layout, pass a HunyuanDiT ControlNet (HunyuanDiT2DControlNetModel, e.g. "
    "Tencent-Hunyuan/HunyuanDiT-v1.1-ControlNet-Diffusers-Canny) as controlnet= with AutoPipelineForText2Image; to redraw "
    "an image, use a family with an image-to-image pipeline, such as SDXL (StableDiffusionXLImg2ImgPipeline, autopipe-sdxl) "
    "or SD3 (StableDiffusion3Img2ImgPipeline, autopipe-sd3)"
)
NO_INPAINT = (
    "diffusers has no inpainting pipeline for HunyuanDiT; inpaint with a family that has one, such as SDXL "
    "(StableDiffusionXLInpaintPipeline, autopipe-sdxl) or SD3 (StableDiffusion3InpaintPipeline, autopipe-sd3)"
)
CONTROLNET_TEXT2IMG_ONLY = (
    "diffusers' HunyuanDiTControlNetPipeline does text2img only (HunyuanDiT has no image-to-image or inpainting pipeline); "
    "use AutoPipelineForText2Image with controlnet="
)
NO_CONTROLNET_PAG = "diffusers has no PAG ControlNet pipeline for HunyuanDiT; leave out enable_pag or controlnet"
NO_UNION = (
    "ControlNet Union models are SDXL models; HunyuanDiT takes a HunyuanDiT2DControlNetModel (or several, in a list or a "
    "HunyuanDiT2DMultiControlNetModel) as controlnet="
)


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=FAMILY,
            example="Tencent-Hunyuan/HunyuanDiT-v1.2-Diffusers",
            description="HunyuanDiT v1.0-v1.2: a 1.5B bilingual (Chinese/English) DiT under a BERT-style CLIP and mT5-XL; PAG, ControlNet",
            configs=("transformer",),  # the allowance reads sample_size, the native side (128 latents: 1024 px)
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(
            FAMILY,
            text2img="diffusers:HunyuanDiTPipeline",
            missing={Task.IMG2IMG: NO_IMG2IMG, Task.INPAINT: NO_INPAINT},
            pag=("diffusers:HunyuanDiTPAGPipeline", None, None),
        ),
        row(
            FAMILY, text2img="diffusers:HunyuanDiTControlNetPipeline", modifiers={CONTROLNET},
            missing=dict.fromkeys((Task.IMG2IMG, Task.INPAINT), CONTROLNET_TEXT2IMG_ONLY),
        ),
        row(FAMILY, modifiers={CONTROLNET, PAG}, missing=dict.fromkeys(Task, NO_CONTROLNET_PAG)),
        unsupported(FAMILY, UNION, NO_UNION),
    ]


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:ALLOWANCE.footprint",
    autopipe_build_tiny=".tiny:build",
))
