"""autopipe-cascade's registrations: the families, their pipelines and refusals, and the hooks, each a lazy reference.

The module the ``autopipe.plugins`` entry point names. diffusers has three
kinds of pipeline for each family, and this plugin registers them as
Kandinsky's are:

- the combined pipelines (prior + decoder in one object), the families'
  plain rows: what a decoder checkpoint loads as, because the decoder's model
  card names its prior (``prior: [stabilityai/stable-cascade-prior]``;
  :mod:`autopipe_cascade.connected`, on the core's ``toolkit.connected``);
- the decoder-only pipelines, modifiers {"decoder"} with ``on_disk`` empty:
  a decoder folder read from disk resolves to the combined row, while
  from_pipe of a live decoder-only pipeline (no prior components) stays
  decoder-only, as diffusers' ``_AUTO_TEXT2IMAGE_DECODER_PIPELINES_MAPPING`` has them;
- the prior pipelines are recognised and refused with what to load instead.

diffusers 0.42.1's AutoPipeline tables list both families for text2img only
("wuerstchen": WuerstchenCombinedPipeline, "cascade":
StableCascadeCombinedPipeline); it has no image-to-image, inpainting, PAG or
ControlNet pipeline for either, so those are refused with what to use instead.

Everything here is data and lazy references: importing this module imports no
torch, diffusers or transformers.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.toolkit.missing import unsupported
from autopipe_core.toolkit.rows import PAG, lazy_hooks, row

from . import CASCADE, DETECT_KEYS, FAMILIES, WUERSTCHEN

#: The modifier of the decoder-only rows.
DECODER = "decoder"
#: The core's ControlNet modifier (``controlnet=``), refused for both families.
CONTROLNET = "controlnet"

#: What the decoder checkpoints load as for text2img: diffusers' AUTO_TEXT2IMAGE_PIPELINES_MAPPING.
COMBINED = {CASCADE: "diffusers:StableCascadeCombinedPipeline", WUERSTCHEN: "diffusers:WuerstchenCombinedPipeline"}
#: The decoder pipelines (model_index.json's class of a decoder checkpoint): diffusers' _AUTO_TEXT2IMAGE_DECODER_PIPELINES_MAPPING.
DECODER_ONLY = {CASCADE: "diffusers:StableCascadeDecoderPipeline", WUERSTCHEN: "diffusers:WuerstchenDecoderPipeline"}
#: The prior pipelines: what a combined pipeline's prior_* components come from.
PRIOR_CLASS = {CASCADE: "diffusers:StableCascadePriorPipeline", WUERSTCHEN: "diffusers:WuerstchenPriorPipeline"}
#: The components of each prior pipeline; a combined pipeline takes each as prior_<name>.
PRIOR_COMPONENTS = {
    CASCADE: ("prior", "text_encoder", "tokenizer", "scheduler", "feature_extractor", "image_encoder"),
    WUERSTCHEN: ("prior", "text_encoder", "tokenizer", "scheduler"),
}

TITLE = {CASCADE: "Stable Cascade", WUERSTCHEN: "Würstchen"}
#: The published decoder and prior of each family.
DECODER_REPO = {CASCADE: "stabilityai/stable-cascade", WUERSTCHEN: "warp-ai/wuerstchen"}
PRIOR_REPO = {CASCADE: "stabilityai/stable-cascade-prior", WUERSTCHEN: "warp-ai/wuerstchen-prior"}

# What to use where diffusers has no class: each sentence ends up in the user's error.
_ELSEWHERE_IMG2IMG = "for img2img use a family that has an image-to-image pipeline, such as SDXL (StableDiffusionXLImg2ImgPipeline, autopipe-sdxl)"
_ELSEWHERE_INPAINT = "inpaint with a family that has an inpainting pipeline, such as SDXL (StableDiffusionXLInpaintPipeline, autopipe-sdxl)"
NO_IMG2IMG = {
    CASCADE: (
        "diffusers has no image-to-image pipeline for Stable Cascade (its AutoPipeline tables list it for text2img only). "
        "To condition a picture on an image's content instead, pass images= to the text2img pipeline: the prior embeds them "
        f"with its CLIP image encoder, a variation rather than an edit; {_ELSEWHERE_IMG2IMG}"
    ),
    WUERSTCHEN: f"diffusers has no image-to-image pipeline for Würstchen (its AutoPipeline tables list it for text2img only); {_ELSEWHERE_IMG2IMG}",
}
NO_INPAINT = {
    family: f"diffusers has no inpainting pipeline for {TITLE[family]}; {_ELSEWHERE_INPAINT}" for family in FAMILIES
}
NO_PAG = {family: f"diffusers has no PAG pipeline for {TITLE[family]}; leave out enable_pag" for family in FAMILIES}
NO_CONTROLNET = {family: f"diffusers has no ControlNet pipeline for {TITLE[family]}; leave out controlnet=" for family in FAMILIES}


#: Würstchen's model classes as checkpoints saved before diffusers moved them name them (stabilityai/stable-cascade's
#: vqgan, every model of warp-ai/wuerstchen and warp-ai/wuerstchen-prior). :func:`.components.load` builds each from
#: its own table (diffusers 0.42.1 cannot), importing nothing the entry names, so the core's guard lets them pass.
OLD_ENTRIES = frozenset(("wuerstchen", name) for name in ("PaellaVQModel", "WuerstchenDiffNeXt", "WuerstchenPrior"))


def _prior_reason(family: str, what: str) -> str:
    components = ", ".join(f"prior_{c}=" for c in PRIOR_COMPONENTS[family])
    return (
        f"it is a {TITLE[family]} prior ({what}), which makes image embeddings, not pictures, so it cannot serve a task on "
        f"its own. Load the decoder instead ({DECODER_REPO[family]} style) with AutoPipelineForText2Image: its model card "
        f"names this prior and both load together as {COMBINED[family].split(':')[1]}. A decoder without a model card takes "
        f"the prior's components as {components}"
    )


RECOGNISED = {
    CASCADE: {"StableCascadePriorPipeline": _prior_reason(CASCADE, "Stage C: text to a 24x24 image embedding for 1024 px")},
    WUERSTCHEN: {"WuerstchenPriorPipeline": _prior_reason(WUERSTCHEN, "Stage C: text to a 24x24 image embedding for 1024 px")},
}


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=CASCADE,
            example=DECODER_REPO[CASCADE],
            description="Stable Cascade: a Würstchen v3 prior (Stage C) and decoder (Stage B) over the Paella VQGAN, trained in bfloat16",
            recognised=RECOGNISED[CASCADE],
            loads_itself=OLD_ENTRIES,
        ),
        FamilySpec(
            name=WUERSTCHEN,
            example=DECODER_REPO[WUERSTCHEN],
            description="Würstchen v2: a text-conditional prior, a DiffNeXt decoder and the Paella VQGAN, 42x compression",
            recognised=RECOGNISED[WUERSTCHEN],
            loads_itself=OLD_ENTRIES,
        ),
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    out = []
    for family in FAMILIES:
        missing = {Task.IMG2IMG: NO_IMG2IMG[family], Task.INPAINT: NO_INPAINT[family]}
        out += [
            row(family, text2img=COMBINED[family], missing=missing),
            row(family, text2img=DECODER_ONLY[family], modifiers={DECODER}, missing=missing, on_disk=frozenset()),
            unsupported(family, PAG, NO_PAG[family]),
            unsupported(family, CONTROLNET, NO_CONTROLNET[family]),
        ]
    return out


@hookimpl
def autopipe_detect_keys() -> tuple[str, ...]:
    return DETECT_KEYS


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __package__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:footprint",
    autopipe_placement=".loading:placement",
    autopipe_from_pretrained=".connected:from_pretrained",
    autopipe_detect=".single_file:detect",
    autopipe_build_tiny=".tiny:build",
))
