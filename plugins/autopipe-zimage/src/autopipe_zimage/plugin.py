"""autopipe-zimage's registrations: the families, their pipelines and requirements, and the hooks, each a lazy reference.

The module the ``autopipe.plugins`` entry point names. Everything here is
data and lazy references: importing it imports no torch, diffusers or
transformers. The loading code, the single-file reading and the tiny builder
import them when their hooks are asked.

The rows are diffusers 0.42.1's AutoPipeline tables (``pipelines/auto_pipeline.py``)
for the keys ``z-image`` (text2img, img2img, inpaint), ``z-image-controlnet``
(text2img), ``z-image-controlnet-inpaint`` (text2img) and ``z-image-omni``
(text2img), with one deliberate difference:

- diffusers files ``ZImageControlNetInpaintPipeline`` under its *text2img*
  table (key ``z-image-controlnet-inpaint``), and in no inpainting table. The
  class is an inpainting pipeline: its ``__call__`` encodes ``image`` and
  ``mask_image`` and fails without them (``prepare_image(None)``), so
  "text to image" with it is a crash, and diffusers' AutoPipelineForInpainting
  never reaches it (``ZImagePipeline`` + ``controlnet=`` becomes
  ``ZImageControlNetPipeline``, whose key has no inpainting class). Here it is
  the *inpaint* task of the ``controlnet`` row: ``AutoPipelineForInpainting``
  with ``controlnet=`` gives it, and a checkpoint saved as it resolves to
  ``ZImageControlNetPipeline`` for text2img (the same components: the
  ControlNet, the transformer, the Qwen3 encoder, the VAE). docs/zimage.md
  lists this; the repository's parity allow-list should name it.

Two families, told apart by the class ``model_index.json`` names, as diffusers
tells them: ``z-image`` (``ZImagePipeline``, the class of Tongyi-MAI/Z-Image-Turbo
and Tongyi-MAI/Z-Image) and ``z-image-omni`` (``ZImageOmniPipeline``, whose
transformer also reads SigLIP2 image features, with ``siglip`` and
``siglip_processor`` components). The ``z-image-controlnet`` key is the
core's ``controlnet=`` modifier on ``z-image`` (``ZImageControlNetModel`` is
in the core's ``CONTROLNET_CLASSES``).
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Requirement, Task, hookimpl
from autopipe_core.specs import PRESENT
from autopipe_core.builtin import CONTROLNET, UNION
from autopipe_core.toolkit.missing import unsupported
from autopipe_core.toolkit.rows import PAG, lazy_hooks, row

from . import DETECT_KEYS, FAMILY, OMNI

#: The transformer config key only Z-Image-Omni's transformer sets: the width of the SigLIP2 features it embeds.
SIGLIP_KEY = "siglip_feat_dim"

_TURBO = "Tongyi-MAI/Z-Image-Turbo"

#: Why the ControlNet row has no img2img class.
NO_CONTROLNET_IMG2IMG = (
    "diffusers has no Z-Image ControlNet img2img pipeline (its tables map z-image-controlnet to text2img only): use "
    "AutoPipelineForText2Image with controlnet= (the control image steers the layout), AutoPipelineForInpainting with "
    "controlnet= (ZImageControlNetInpaintPipeline), or AutoPipelineForImage2Image without controlnet"
)
NO_PAG = "diffusers has no PAG pipeline for Z-Image; leave out enable_pag"
NO_CONTROLNET_PAG = "diffusers has no PAG ControlNet pipeline for Z-Image; leave out enable_pag or controlnet"
NO_UNION = (
    "diffusers' ControlNetUnionModel is SDXL's; Z-Image's Union ControlNets (alibaba-pai/Z-Image-Turbo-Fun-Controlnet-Union, "
    "-2.0, -2.1) load as ZImageControlNetModel and are passed as controlnet="
)
OMNI_NO_IMG2IMG = (
    "diffusers maps Z-Image-Omni to text2img only: ZImageOmniPipeline itself takes condition images, so call the "
    "text-to-image pipeline with image=[...] (they go to its SigLIP2 encoder and, as latents, to its transformer). For "
    f"img2img with a strength, load Z-Image-Turbo ({_TURBO}: ZImageImg2ImgPipeline)"
)
OMNI_NO_INPAINT = f"diffusers has no inpainting pipeline for Z-Image-Omni; inpaint with Z-Image-Turbo ({_TURBO}: ZImageInpaintPipeline)"
OMNI_NO_CONTROLNET = (
    f"diffusers has no ControlNet pipeline for Z-Image-Omni; the Z-Image ControlNets were trained for Z-Image-Turbo: load {_TURBO} "
    "with controlnet="
)
OMNI_NO_PAG = "diffusers has no PAG pipeline for Z-Image-Omni; leave out enable_pag"

#: ZImageOmniPipeline hands its transformer SigLIP2 features of the condition images, which a transformer without the
#: SigLIP embedder (Z-Image-Turbo's, Z-Image's) has nothing to embed with.
IS_OMNI = Requirement(
    component="transformer",
    key=SIGLIP_KEY,
    values=frozenset({PRESENT}),
    otherwise=(
        f"its transformer has no SigLIP embedder ({SIGLIP_KEY} is {{value}}), which ZImageOmniPipeline feeds the condition "
        f"images' features to: it is a Z-Image or Z-Image-Turbo transformer under the Omni class name. Correct _class_name in "
        "model_index.json to ZImagePipeline (and drop the siglip components)"
    ),
)


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=FAMILY,
            example=_TURBO,
            description=(
                "Z-Image-Turbo and Z-Image: a 6.15B single-stream DiT over a Qwen3-4B text encoder and FLUX.1's 16-channel VAE "
                "(text2img, img2img, inpaint, ControlNet, ControlNet inpainting)"
            ),
        ),
        FamilySpec(
            name=OMNI,
            # No example: diffusers has the class (its PR names Z-Image-Omni-Base), but Tongyi-MAI has not published the
            # weights (Tongyi-MAI/Z-Image issues 163 and 166 ask when, in 2026).
            description=(
                "Z-Image-Omni: Z-Image's transformer with SigLIP2 image features, generation and editing in one pipeline "
                "(text2img; Omni-Base's weights are not yet published)"
            ),
            requires=(IS_OMNI,),
        ),
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        row(
            FAMILY,
            text2img="diffusers:ZImagePipeline",
            img2img="diffusers:ZImageImg2ImgPipeline",
            inpaint="diffusers:ZImageInpaintPipeline",
        ),
        # z-image-controlnet (text2img) and z-image-controlnet-inpaint, served as inpaint (see the module's docstring).
        row(
            FAMILY,
            modifiers={CONTROLNET},
            text2img="diffusers:ZImageControlNetPipeline",
            inpaint="diffusers:ZImageControlNetInpaintPipeline",
            missing={Task.IMG2IMG: NO_CONTROLNET_IMG2IMG},
        ),
        unsupported(FAMILY, PAG, NO_PAG),
        row(FAMILY, modifiers={CONTROLNET, PAG}, missing=dict.fromkeys(Task, NO_CONTROLNET_PAG)),
        unsupported(FAMILY, UNION, NO_UNION),
        row(OMNI, text2img="diffusers:ZImageOmniPipeline", missing={Task.IMG2IMG: OMNI_NO_IMG2IMG, Task.INPAINT: OMNI_NO_INPAINT}),
        unsupported(OMNI, CONTROLNET, OMNI_NO_CONTROLNET),
        unsupported(OMNI, PAG, OMNI_NO_PAG),
    ]


@hookimpl
def autopipe_detect_keys() -> tuple[str, ...]:
    return DETECT_KEYS


# The code behind these hooks imports torch, diffusers or transformers (or reads shipped files): each module is
# imported when its hook is first asked, never at registration.
globals().update(lazy_hooks(
    __package__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:ALLOWANCE.footprint",
    autopipe_detect=".single_file:detect",
    autopipe_from_single_file=".single_file:load",
    autopipe_build_tiny=".tiny:build",
))
