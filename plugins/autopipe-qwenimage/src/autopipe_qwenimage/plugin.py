"""autopipe-qwenimage's registrations: the families, their pipelines and requirements, and the hooks, each a lazy reference.

The module the ``autopipe.plugins`` entry point names. Everything here is
data and lazy references: importing it imports no torch, diffusers or
transformers. The loading code, the single-file reading and the tiny builder
import them when their hooks are asked.

Five families, one for each architecture or way of use diffusers 0.42.1 gives
a key of its AutoPipeline tables (``qwenimage``, ``qwenimage-edit``,
``qwenimage-edit-plus``, ``qwenimage-layered``, ``qwenimage21``; the
``qwenimage-controlnet`` key is the ``controlnet`` modifier of ``qwenimage``).
A checkpoint is told by what its ``model_index.json`` names, as diffusers
tells it: an Edit checkpoint's transformer has the base's very config
(Qwen/Qwen-Image-Edit and Qwen/Qwen-Image ship the same
``transformer/config.json``), so the class name and the ``processor``
component the Edit classes need are all that differ. ``from_pipe`` stays
within a family: an Edit pipeline's weights never become a text-to-image
pipeline, nor the base's an edit pipeline.

The component configs add two facts, checked as requirements before any
weight is read:

- Qwen-Image-Layered's transformer takes one more timestep condition
  (``use_additional_t_cond: true``, its ``time_text_embed.addition_t_embedding``:
  RGB or RGBA layers) and its VAE reads 4 channels; under any other Qwen-Image
  class the first denoising step fails ("When additional_t_cond is True,
  addition_t_cond must be provided"), so such a transformer is refused there
  with what to load instead, and a Layered checkpoint needs it;
- Qwen-Image 2.1 is another architecture (QwenImage21Transformer2DModel, a
  Qwen3-VL text encoder, AutoencoderKLQwenImage21), registered under its own
  class names only.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Requirement, Task
from autopipe_core import hookimpl
from autopipe_core.toolkit.rows import lazy_hooks, row

from . import DETECT_KEYS, EDIT, EDIT_PLUS, FAMILY, LAYERED, QWENIMAGE21

#: The families whose pipelines take a ``processor`` (a Qwen2-VL or Qwen3-VL processor: the text encoder sees the images).
VISION_FAMILIES = (EDIT, EDIT_PLUS, LAYERED, QWENIMAGE21)

#: The modifier of diffusers' ``qwenimage-controlnet`` key: the core's ``controlnet=`` keyword selects it.
CONTROLNET = "controlnet"

#: The transformer config key only Qwen-Image-Layered sets: an embedding of whether the layers are RGB or RGBA.
LAYER_KEY = "use_additional_t_cond"

_LAYERED_INSTEAD = (
    "its transformer takes an extra timestep condition ({key} true, with an addition_t_embedding: whether the layers are RGB "
    "or RGBA), which only QwenImageLayeredPipeline gives it: it is Qwen-Image-Layered (Qwen/Qwen-Image-Layered); load it "
    "with AutoPipelineForImage2Image, which picks QwenImageLayeredPipeline"
).format(key=LAYER_KEY)

#: Every Qwen-Image class but Layered's: a Layered transformer fails at its first step there.
NOT_LAYERED = Requirement(component="transformer", key=LAYER_KEY, values=frozenset({None, False}), otherwise=_LAYERED_INSTEAD)

#: QwenImageLayeredPipeline always passes the RGB/RGBA condition, which a transformer without the embedding refuses.
IS_LAYERED = Requirement(
    component="transformer",
    key=LAYER_KEY,
    values=frozenset({True}),
    otherwise=(
        f"its transformer has no extra timestep condition ({LAYER_KEY} is {{value}}), which QwenImageLayeredPipeline passes at "
        "every step: it is a Qwen-Image or Qwen-Image-Edit transformer under the Layered class name. Correct _class_name in "
        "model_index.json (QwenImagePipeline, or QwenImageEditPipeline for an Edit checkpoint)"
    ),
)

_BASE = "AutoPipelineForText2Image.from_pretrained('Qwen/Qwen-Image')"

#: Why an Edit checkpoint has no text-to-image pipeline (the reason a user reads).
EDIT_NO_TEXT2IMG = (
    "Qwen-Image-Edit is trained to change an input image: its transformer denoises next to the input image's latents and "
    "its Qwen2.5-VL encoder reads the image with the instruction, so diffusers has no text-to-image pipeline for it (its "
    "AutoPipeline tables map qwenimage-edit to img2img and inpaint only). For text to image load the base model, which has "
    f"the same text encoder and VAE: {_BASE}"
)
EDIT_PLUS_NO_TEXT2IMG = EDIT_NO_TEXT2IMG.replace("Qwen-Image-Edit is", "Qwen-Image-Edit-2509 (and 2511) is").replace(
    "maps qwenimage-edit to img2img and inpaint only", "map qwenimage-edit-plus to img2img only"
)
EDIT_PLUS_NO_INPAINT = (
    "diffusers has no inpainting pipeline for Qwen-Image-Edit-2509/2511, whose pipeline edits one to three input images "
    "together; inpaint with the first Qwen-Image-Edit (Qwen/Qwen-Image-Edit, QwenImageEditInpaintPipeline) or the base "
    "model (Qwen/Qwen-Image, QwenImageInpaintPipeline)"
)
LAYERED_NO = (
    "Qwen-Image-Layered decomposes an input image into RGBA layers (QwenImageLayeredPipeline returns a list of layers per "
    "prompt): it makes no image from text alone and repaints no mask. Use Qwen/Qwen-Image for text to image and inpainting"
)
QWENIMAGE21_NO_IMG2IMG = (
    "diffusers maps Qwen-Image 2.1 to text2img only: QwenImage21Pipeline itself takes condition images, so call the "
    "text-to-image pipeline with image=... (the images go to its Qwen3-VL encoder and its transformer, as in editing)"
)
QWENIMAGE21_NO_INPAINT = "diffusers has no inpainting pipeline for Qwen-Image 2.1; inpaint with Qwen/Qwen-Image (QwenImageInpaintPipeline)"
CONTROLNET_NO_IMG2IMG = (
    "diffusers has no ControlNet img2img pipeline for Qwen-Image: load without controlnet= for img2img, or use the ControlNet "
    "with text2img (QwenImageControlNetPipeline)"
)


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=FAMILY,
            example="Qwen/Qwen-Image",
            description="Qwen-Image: a 20B MMDiT with a Qwen2.5-VL-7B text encoder and a 16-channel VAE (text2img, img2img, inpaint, ControlNet)",
            requires=(NOT_LAYERED,),
        ),
        FamilySpec(
            name=EDIT,
            example="Qwen/Qwen-Image-Edit",
            description="Qwen-Image-Edit: instruction editing of one image (img2img, inpaint); the base's architecture with a VL processor",
            requires=(NOT_LAYERED,),
        ),
        FamilySpec(
            name=EDIT_PLUS,
            example="Qwen/Qwen-Image-Edit-2509",
            description="Qwen-Image-Edit-2509 and 2511: instruction editing of one to three images (img2img)",
            requires=(NOT_LAYERED,),
        ),
        FamilySpec(
            name=LAYERED,
            example="Qwen/Qwen-Image-Layered",
            description="Qwen-Image-Layered: an image decomposed into RGBA layers (img2img)",
            requires=(IS_LAYERED,),
        ),
        FamilySpec(
            name=QWENIMAGE21,
            example="Qwen/Qwen-Image-2.1",
            description="Qwen-Image 2.1: a single-stream transformer over a Qwen3-VL encoder and a 64-channel, 16x VAE (text2img, image-conditioned)",
        ),
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        row(
            FAMILY,
            text2img="diffusers:QwenImagePipeline",
            img2img="diffusers:QwenImageImg2ImgPipeline",
            inpaint="diffusers:QwenImageInpaintPipeline",
        ),
        # diffusers' qwenimage-controlnet key has text2img only; its ControlNet inpainting class (for inpainting
        # ControlNets such as InstantX/Qwen-Image-ControlNet-Inpainting) is served beyond its tables.
        row(
            FAMILY,
            text2img="diffusers:QwenImageControlNetPipeline",
            inpaint="diffusers:QwenImageControlNetInpaintPipeline",
            modifiers={CONTROLNET},
            missing={Task.IMG2IMG: CONTROLNET_NO_IMG2IMG},
        ),
        row(
            EDIT,
            img2img="diffusers:QwenImageEditPipeline",
            inpaint="diffusers:QwenImageEditInpaintPipeline",
            missing={Task.TEXT2IMG: EDIT_NO_TEXT2IMG},
        ),
        row(EDIT_PLUS, img2img="diffusers:QwenImageEditPlusPipeline", missing={Task.TEXT2IMG: EDIT_PLUS_NO_TEXT2IMG, Task.INPAINT: EDIT_PLUS_NO_INPAINT}),
        row(LAYERED, img2img="diffusers:QwenImageLayeredPipeline", missing={Task.TEXT2IMG: LAYERED_NO, Task.INPAINT: LAYERED_NO}),
        row(
            QWENIMAGE21,
            text2img="diffusers:QwenImage21Pipeline",
            missing={Task.IMG2IMG: QWENIMAGE21_NO_IMG2IMG, Task.INPAINT: QWENIMAGE21_NO_INPAINT},
        ),
    ]


@hookimpl
def autopipe_detect_keys() -> tuple[str, ...]:
    return DETECT_KEYS


# The code behind these hooks imports torch, diffusers or transformers (or reads shipped files): each module is
# imported when its hook is first asked, never at registration.
globals().update(lazy_hooks(
    __package__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:footprint",
    autopipe_detect=".single_file:detect",
    autopipe_from_single_file=".single_file:load",
    autopipe_build_tiny=".tiny:build",
))
