"""autopipe plugin for Helios: HeliosPipeline (diffusers' key "helios") and HeliosPyramidPipeline ("helios-pyramid").

Everything here is data and lazy references: importing this module imports
no torch, diffusers or transformers. The loading code (:mod:`.loading`) and
the tiny builder (:mod:`.tiny`) import them when their hooks are asked.

Helios (BestWishYsh/Helios-Base, -Mid, -Distilled) is a video model: a
HeliosTransformer3DModel (Wan 2.1 14B's shape at its defaults: 40 blocks
5120 wide) over UMT5-XXL's encoder (``UMT5EncoderModel``, a
``T5TokenizerFast``) and Wan's 3D VAE (``AutoencoderKLWan``, 8x spatial, 4x
temporal, 16 latent channels), generating a video chunk by chunk (33 frames a
chunk, each conditioned on the chunks before it). diffusers 0.42.1 lists both
classes in its text-to-image AutoPipeline table only, and their output is
``HeliosPipelineOutput.frames`` (a list of frame lists per prompt), not
``.images``; a call with ``num_frames=1`` draws one frame, the picture.

Two families, one per diffusers key, because diffusers' own classes make two
(tests/test_helios_plugin.py reads these facts from diffusers):

- the classes take different calls: HeliosPipeline samples each chunk in
  ``num_inference_steps`` steps of one schedule (its scheduler must have
  ``stages=1``); HeliosPyramidPipeline has no ``num_inference_steps`` and
  samples each chunk coarse to fine in ``pyramid_num_inference_steps_list``
  stages (a 3-stage scheduler), with CFG-Zero* (``is_cfg_zero_star``) or DMD
  step distillation (``is_distilled``, HeliosDMDScheduler) as its own
  constructor values, which it records in its config (so from_pipe carries
  them with no reader);
- the checkpoints are trained for one sampler each (Base for the plain one;
  Mid and Distilled for the pyramid), and nothing in a component config tells
  them apart (the transformer, text encoder and VAE configs are alike, and
  HeliosPyramidPipeline takes Base's scheduler class too, ``HeliosScheduler |
  HeliosDMDScheduler``): only model_index.json's
  ``_class_name`` does, which is what resolution already keys on. A Variant
  (one config value) cannot say it, and a modifier would need a keyword
  diffusers has no counterpart for.

Text to image only, as diffusers' tables map them. Helios's image-to-video
(``image=``) and video-to-video (``video=``) are arguments of the same
classes, not image-to-image: AutoPipelineForImage2Image and
AutoPipelineForInpainting are refused before any weight is read, saying to
pass ``image=`` to the text2img pipeline for a video from a picture and which
families edit pictures. No PAG or ControlNet class takes a
HeliosTransformer3DModel: refused too.

No single files: diffusers' ``from_single_file`` knows no Helios layout
(neither pipeline class has ``from_single_file``, ``CHECKPOINT_KEY_NAMES`` has
no Helios key, and HeliosTransformer3DModel is not among the single-file
loadable models); this plugin claims none.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET
from autopipe_core.toolkit.missing import INPAINT_ELSEWHERE, no_controlnet, no_pag, unsupported
from autopipe_core.toolkit.rows import PAG, lazy_hooks, rows

HELIOS = "helios"
PYRAMID = "helios-pyramid"
FAMILIES = (HELIOS, PYRAMID)
HELIOS_CLASS = "HeliosPipeline"
PYRAMID_CLASS = "HeliosPyramidPipeline"
CLASSES = {HELIOS: HELIOS_CLASS, PYRAMID: PYRAMID_CLASS}
#: The example checkpoints: those diffusers' docstrings name (0.42.1: "Available models: BestWishYsh/Helios-Base,
#: BestWishYsh/Helios-Mid, BestWishYsh/Helios-Distilled").
EXAMPLES = {HELIOS: "BestWishYsh/Helios-Base", PYRAMID: "BestWishYsh/Helios-Distilled"}

_FROM_A_PICTURE = (
    "for a video that starts from a picture, load it with AutoPipelineForText2Image and pass the picture as image= "
    "(Helios's image-to-video); for a picture edited from a picture use a family with an image-to-image pipeline, such as "
    "FLUX.1 (FluxImg2ImgPipeline, autopipe-flux) or SDXL (StableDiffusionXLImg2ImgPipeline, autopipe-sdxl)"
)
NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for Helios (its AutoPipeline tables list HeliosPipeline and "
    f"HeliosPyramidPipeline for text2img only, and no other class takes HeliosTransformer3DModel); {_FROM_A_PICTURE}"
)
NO_INPAINT = f"diffusers has no inpainting pipeline for Helios (no class takes a mask with HeliosTransformer3DModel); {INPAINT_ELSEWHERE}"
NO_PAG = no_pag("Helios", "HeliosTransformer3DModel")
NO_CONTROLNET = no_controlnet("Helios")


#: The command line's calls of the tiny checkpoints: one frame (a picture) from one latent frame a chunk, prompts padded to
#: 16 tokens (the pipelines' defaults draw 132 frames).
TINY_CALL = {"num_frames": 1, "num_latent_frames_per_chunk": 1, "max_sequence_length": 16}


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=HELIOS,
            example=EXAMPLES[HELIOS],
            description=(
                "Helios: a 14B video transformer over UMT5-XXL and Wan's VAE, chunked long videos at 384x640 "
                "(HeliosPipeline, listed by diffusers under text2img; one frame is a picture)"
            ),
            tiny_call=TINY_CALL,
        ),
        FamilySpec(
            name=PYRAMID,
            example=EXAMPLES[PYRAMID],
            description=(
                "Helios Pyramid: Helios's Mid and Distilled checkpoints, sampled coarse to fine in pyramid stages "
                "(HeliosPyramidPipeline: CFG-Zero* or DMD-distilled, listed by diffusers under text2img)"
            ),
            tiny_call={**TINY_CALL, "pyramid_num_inference_steps_list": [1, 1, 1]},  # one step in each of the tiny's 3 stages
        ),
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *(r for family in FAMILIES for r in rows(family, text2img=f"diffusers:{CLASSES[family]}", missing={Task.IMG2IMG: NO_IMG2IMG, Task.INPAINT: NO_INPAINT})),
        *(unsupported(family, PAG, NO_PAG) for family in FAMILIES),
        *(unsupported(family, CONTROLNET, NO_CONTROLNET) for family in FAMILIES),
    ]


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:footprint",
    autopipe_build_tiny=".tiny:build",
))
