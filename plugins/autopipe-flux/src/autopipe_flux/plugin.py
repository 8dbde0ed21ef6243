"""autopipe-flux's registrations: the FLUX.1 and Chroma families, their pipelines, and the hooks, each a lazy reference.

The module the ``autopipe.plugins`` entry point names. Everything here is
data and lazy references: importing it imports no torch, diffusers or
transformers. The loading code, the single-file detection and the tiny
builder import them when their hooks are asked.

**flux** (Black Forest Labs' FLUX.1: a 12 B transformer over CLIP ViT-L's
pooled prompt and T5-XXL's token embeddings, a 16-channel VAE). Its kinds of
checkpoint are told apart by the class their model_index.json names, each
with its own row:

- ``FluxPipeline``: FLUX.1-dev and -schnell, and their fine-tunes (the plain
  row: text2img, img2img, inpaint). dev and schnell are the same classes;
  what differs is in their configs and at call time (docs/flux.md);
- ``FluxControlPipeline``: FLUX.1-Canny-dev and -Depth-dev, whose transformer
  takes the control image's latents beside the noisy ones (128 input
  channels): modifiers {"control"};
- ``FluxFillPipeline``: FLUX.1-Fill-dev, whose transformer takes the masked
  image's latents and the mask (384 input channels): inpaint only,
  modifiers {"fill"};
- ``FluxKontextPipeline``: FLUX.1-Kontext-dev, the same transformer shape as
  dev, trained to edit: text2img and img2img by the one class, inpaint by
  ``FluxKontextInpaintPipeline``: modifiers {"kontext"};
- ``controlnet=`` (the core's modifier) over the plain row: the FLUX
  ControlNet pipelines.

A checkpoint's kind is a property of its weights, which a live pipeline and
its folder share, so both resolve alike: none of these rows needs
``PipelineRow.on_disk`` (Kandinsky needs it because its folder can find a
prior a live decoder-only pipeline does not hold).

**chroma** (lodestones' Chroma: FLUX.1-schnell's design, 8.9 B, its
modulation computed by a small network instead of from CLIP, so T5-XXL is its
only text encoder). Some Chroma folders name ``FluxPipeline`` (Forge's own
config folder does); their text encoder says which they are. FLUX's
``text_encoder`` is CLIP (``model_type`` "clip_text_model"), Chroma's is T5
("t5"): :data:`CLIP_TEXT_ENCODER` is FLUX's requirement, and Chroma claims
``FluxPipeline`` (``FamilySpec.also_named``) for the checkpoints whose
``text_encoder`` is T5. diffusers' answer for such a folder, FluxPipeline,
cannot load it (no ``text_encoder_2``, a transformer FluxPipeline cannot
drive); autopipe's is ChromaPipeline.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET
from autopipe_core.toolkit.requirements import model_type
from autopipe_core.toolkit.rows import lazy_hooks, row, rows

from . import CHROMA, CONTROL, DETECT_KEYS, FILL, FILL_CHANNELS, FLUX, KONTEXT

NO_FILL_TEXT2IMG = (
    f"FLUX.1 Fill's transformer takes {FILL_CHANNELS} input channels (the noisy latents, the masked image's latents and the mask), "
    "so it needs an image and a mask at every step; generate with FLUX.1-dev or -schnell"
)
NO_FILL_IMG2IMG = (
    f"FLUX.1 Fill's transformer takes {FILL_CHANNELS} input channels (the noisy latents, the masked image's latents and the mask), "
    "so it repaints only where a mask says; for image-to-image use FLUX.1-dev (FluxImg2ImgPipeline) or Kontext for edits"
)

#: FLUX encodes prompts with CLIP ViT-L (text_encoder, its pooled output) and T5-XXL (text_encoder_2). Read from
#: text_encoder/config.json's model_type, which every transformers config carries, on disk and in a live pipeline alike.
CLIP_TEXT_ENCODER = model_type(
    "text_encoder", "clip_text_model",
    "its text_encoder is a {value} model where FLUX.1 has CLIP ViT-L (and T5-XXL as text_encoder_2), and it is not Chroma "
    "either (T5-XXL alone, as text_encoder): load it with the pipeline class its model card names",
)

#: Chroma encodes prompts with T5-XXL alone, as text_encoder.
T5_TEXT_ENCODER = model_type("text_encoder", "t5", "its text_encoder is a {value} model, where Chroma encodes prompts with T5-XXL alone")

REDUX = (
    "it is FLUX.1 Redux, an image-variation prior (a SigLIP image encoder and a projection into T5's space) that makes prompt "
    "embeddings from an image and serves no AutoPipeline task: run diffusers.FluxPriorReduxPipeline on the image and pass its "
    "prompt_embeds and pooled_prompt_embeds to a FluxPipeline of FLUX.1-dev (loaded with text_encoder=None, text_encoder_2=None)"
)


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=FLUX,
            example="black-forest-labs/FLUX.1-dev",
            description="FLUX.1 dev and schnell, Fill, Canny/Depth Control, Kontext, FLUX ControlNets, and checkpoints of the same architecture",
            requires=(CLIP_TEXT_ENCODER,),
            recognised={"FluxPriorReduxPipeline": REDUX},
        ),
        FamilySpec(
            name=CHROMA,
            example="lodestones/Chroma1-HD",
            description="Chroma: FLUX.1-schnell's design with T5-XXL as its only text encoder (Chroma1-HD, Chroma1-Base)",
            requires=(T5_TEXT_ENCODER,),
            also_named=frozenset({"FluxPipeline"}),
        ),
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(FLUX, text2img="diffusers:FluxPipeline", img2img="diffusers:FluxImg2ImgPipeline", inpaint="diffusers:FluxInpaintPipeline"),
        row(
            FLUX, modifiers={CONTROL},
            text2img="diffusers:FluxControlPipeline", img2img="diffusers:FluxControlImg2ImgPipeline", inpaint="diffusers:FluxControlInpaintPipeline",
        ),
        row(FLUX, modifiers={FILL}, inpaint="diffusers:FluxFillPipeline", missing={Task.TEXT2IMG: NO_FILL_TEXT2IMG, Task.IMG2IMG: NO_FILL_IMG2IMG}),
        row(
            FLUX, modifiers={KONTEXT},
            text2img="diffusers:FluxKontextPipeline", img2img="diffusers:FluxKontextPipeline", inpaint="diffusers:FluxKontextInpaintPipeline",
        ),
        row(
            FLUX, modifiers={CONTROLNET},
            text2img="diffusers:FluxControlNetPipeline", img2img="diffusers:FluxControlNetImg2ImgPipeline", inpaint="diffusers:FluxControlNetInpaintPipeline",
        ),
        *rows(CHROMA, text2img="diffusers:ChromaPipeline", img2img="diffusers:ChromaImg2ImgPipeline", inpaint="diffusers:ChromaInpaintPipeline"),
    ]


@hookimpl
def autopipe_detect_keys() -> tuple[str, ...]:
    return DETECT_KEYS


# The code behind these hooks imports torch or diffusers, or reads files: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __package__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:footprint",
    autopipe_placement=".loading:placement",
    autopipe_detect=".single_file:detect",
    autopipe_from_single_file=".single_file:load",
    autopipe_build_tiny=".tiny:build",
))
