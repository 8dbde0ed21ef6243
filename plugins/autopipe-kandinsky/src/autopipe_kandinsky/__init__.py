"""autopipe plugin for Kandinsky 2.1 ("kandinsky"), Kandinsky 2.2 ("kandinsky22") and Kandinsky 3 ("kandinsky3").

Kandinsky 3 is a single-stage model with code of its own: :mod:`autopipe_kandinsky.kandinsky3`.
What follows is about Kandinsky 2.x.

Kandinsky is two checkpoints: a prior (text -> CLIP image embedding) and a
decoder (image embedding -> picture, through a MoVQ latent space). diffusers
has three kinds of pipeline for it, and this plugin registers two of them:

- the combined pipelines (prior + decoder in one object), the family's plain
  rows (modifiers {}): what a decoder checkpoint loads as, because the
  decoder's model card names its prior (see :mod:`autopipe_kandinsky.connected`);
- the decoder-only pipelines, modifiers {"decoder"} with ``on_disk`` empty:
  a decoder folder read from disk resolves to the combined row, while
  from_pipe of a live decoder-only pipeline (which has no prior components)
  stays decoder-only;
- the prior pipelines are recognised and refused with what to load instead.

A decoder UNet with 4 input channels does text2img and img2img; the
inpainting decoder's takes 9 (latents + mask + masked image) and does inpaint
only. Both are Variants, so the wrong task fails before any weight is read.

Everything here is data and lazy references: importing this module imports no
torch, diffusers or transformers.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, Variant, hookimpl
from autopipe_core.toolkit.rows import inpainting_only, lazy_hooks

from . import kandinsky3

KANDINSKY21 = "kandinsky"
KANDINSKY22 = "kandinsky22"
FAMILIES = (KANDINSKY21, KANDINSKY22)

#: The modifier of the decoder-only rows.
DECODER = "decoder"

COMBINED = {
    KANDINSKY21: {
        Task.TEXT2IMG: "diffusers:KandinskyCombinedPipeline",
        Task.IMG2IMG: "diffusers:KandinskyImg2ImgCombinedPipeline",
        Task.INPAINT: "diffusers:KandinskyInpaintCombinedPipeline",
    },
    KANDINSKY22: {
        Task.TEXT2IMG: "diffusers:KandinskyV22CombinedPipeline",
        Task.IMG2IMG: "diffusers:KandinskyV22Img2ImgCombinedPipeline",
        Task.INPAINT: "diffusers:KandinskyV22InpaintCombinedPipeline",
    },
}

DECODER_ONLY = {
    KANDINSKY21: {
        Task.TEXT2IMG: "diffusers:KandinskyPipeline",
        Task.IMG2IMG: "diffusers:KandinskyImg2ImgPipeline",
        Task.INPAINT: "diffusers:KandinskyInpaintPipeline",
    },
    KANDINSKY22: {
        Task.TEXT2IMG: "diffusers:KandinskyV22Pipeline",
        Task.IMG2IMG: "diffusers:KandinskyV22Img2ImgPipeline",
        Task.INPAINT: "diffusers:KandinskyV22InpaintPipeline",
    },
}

#: The prior pipeline class of each family: what a combined pipeline's prior_* components come from.
PRIOR_CLASS = {KANDINSKY21: "diffusers:KandinskyPriorPipeline", KANDINSKY22: "diffusers:KandinskyV22PriorPipeline"}

#: The components of a prior pipeline; a combined pipeline takes each as prior_<name>.
PRIOR_COMPONENTS = ("prior", "text_encoder", "image_encoder", "tokenizer", "scheduler", "image_processor")

_DECODER_REPO = {
    KANDINSKY21: ("kandinsky-community/kandinsky-2-1", "kandinsky-community/kandinsky-2-1-inpaint"),
    KANDINSKY22: ("kandinsky-community/kandinsky-2-2-decoder", "kandinsky-community/kandinsky-2-2-decoder-inpaint"),
}


def _prior_reason(family: str, what: str) -> str:
    text, inpaint = _DECODER_REPO[family]
    return (
        f"it is a Kandinsky {'2.2' if family == KANDINSKY22 else '2.1'} prior ({what}), which makes CLIP image embeddings, "
        "not pictures, so it cannot serve a task on its own. Load the decoder instead "
        f"({text} style for text2img and img2img, {inpaint} style for inpaint) with the AutoPipeline of your task: "
        "its model card names this prior and both load together as the combined pipeline. "
        "A decoder without a model card takes the prior's components as prior_prior=, prior_text_encoder=, "
        "prior_image_encoder=, prior_tokenizer=, prior_scheduler=, prior_image_processor=."
    )


RECOGNISED = {
    KANDINSKY21: {"KandinskyPriorPipeline": _prior_reason(KANDINSKY21, "text to image embedding")},
    KANDINSKY22: {
        "KandinskyV22PriorPipeline": _prior_reason(KANDINSKY22, "text to image embedding"),
        "KandinskyV22PriorEmb2EmbPipeline": _prior_reason(KANDINSKY22, "image embedding to image embedding"),
        **dict.fromkeys(
            ("KandinskyV22ControlnetPipeline", "KandinskyV22ControlnetImg2ImgPipeline"),
            "it is Kandinsky 2.2's ControlNet decoder (a depth hint joins the latents: 8 UNet input channels), which serves "
            "no AutoPipeline task: load it with diffusers.KandinskyV22ControlnetPipeline (or ...ControlnetImg2ImgPipeline) "
            "and its prior, KandinskyV22PriorPipeline",
        ),
    },
}

#: UNet input channels of an inpainting decoder: latents (4) + mask (1) + masked image latents (4).
INPAINT_CHANNELS = 9
TEXT_CHANNELS = 4

TEXT_DECODER = Variant(
    name="text-to-image",
    component="unet",
    key="in_channels",
    value=TEXT_CHANNELS,
    tasks=frozenset({Task.TEXT2IMG, Task.IMG2IMG}),
    reason=(
        f"its decoder UNet takes {TEXT_CHANNELS} input channels, the latents alone; inpainting needs the inpainting decoder, "
        f"whose UNet takes {INPAINT_CHANNELS} (latents, mask and masked image)"
    ),
)

INPAINTING = inpainting_only(channels=INPAINT_CHANNELS, what="decoder UNet")

VARIANTS = (TEXT_DECODER, INPAINTING)


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=KANDINSKY21,
            example="kandinsky-community/kandinsky-2-1",
            description="Kandinsky 2.1: CLIP ViT-L/14 prior, MultilingualCLIP text encoder and MoVQ decoder",
            variants=VARIANTS,
            recognised=RECOGNISED[KANDINSKY21],
        ),
        FamilySpec(
            name=KANDINSKY22,
            example="kandinsky-community/kandinsky-2-2-decoder",
            description="Kandinsky 2.2: CLIP ViT-bigG/14 prior and an image-embedding-conditioned MoVQ decoder",
            variants=VARIANTS,
            recognised=RECOGNISED[KANDINSKY22],
        ),
        kandinsky3.FAMILY,
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    rows = []
    for family in FAMILIES:
        rows.append(PipelineRow(family, COMBINED[family]))
        rows.append(PipelineRow(family, DECODER_ONLY[family], modifiers=frozenset({DECODER}), on_disk=frozenset()))
    return rows + list(kandinsky3.ROWS)


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
# Kandinsky 3 has code of its own (kandinsky3.TARGETS); the 2.x families share theirs.
globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan={**dict.fromkeys(FAMILIES, ".loading:plan"), kandinsky3.KANDINSKY3: kandinsky3.TARGETS["autopipe_load_plan"]},
    autopipe_footprint={**dict.fromkeys(FAMILIES, ".loading:footprint"), kandinsky3.KANDINSKY3: kandinsky3.TARGETS["autopipe_footprint"]},
    autopipe_placement=dict.fromkeys(FAMILIES, ".loading:placement"),
    autopipe_from_pretrained=dict.fromkeys(FAMILIES, ".connected:from_pretrained"),
    autopipe_build_tiny={**dict.fromkeys(FAMILIES, ".tiny:build"), kandinsky3.KANDINSKY3: kandinsky3.TARGETS["autopipe_build_tiny"]},
))
