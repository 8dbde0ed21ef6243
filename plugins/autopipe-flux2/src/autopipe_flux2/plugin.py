"""autopipe-flux2's registrations: the FLUX.2 [dev] and [klein] families, their pipelines, and the hooks, each a lazy reference.

The module the ``autopipe.plugins`` entry point names. Everything here is
data and lazy references: importing it imports no torch, diffusers or
transformers. The loading code, the single-file detection and the tiny
builder import them when their hooks are asked.

FLUX.2 is not FLUX.1 (autopipe-flux, a separate distribution this one does
not need): one ``Flux2Transformer2DModel`` (modulation shared by all blocks,
no biases, fused single-block projections, 4-axis rotary positions) over one
instruction-tuned language model's stacked hidden states, and its own
32-channel VAE (``AutoencoderKLFlux2``). Two families, as diffusers 0.42.1's
AutoPipeline tables have them (keys ``flux2`` and ``flux2-klein``):

**flux2** (FLUX.2 [dev]: a 32.2 B transformer over Mistral Small 3.x, 24 B,
``Mistral3ForConditionalGeneration``; its tokenizer a ``PixtralProcessor``).
``Flux2Pipeline`` does text2img, and img2img as diffusers' tables map it:
the input image is a *reference* the transformer attends to (up to 10 of
them), not a starting point noised by a strength. diffusers has no FLUX.2
[dev] inpainting pipeline: refused with :data:`NO_DEV_INPAINT`.

**flux2-klein** (FLUX.2 [klein] 4B and 9B: 3.9 B and 9.1 B transformers over
Qwen3-4B and Qwen3-8B, ``Qwen3ForCausalLM``). ``Flux2KleinPipeline`` does
text2img and reference img2img; ``Flux2KleinInpaintPipeline``, which
diffusers ships but its tables omit, inpaints. The step-distilled checkpoints
(4 steps, no classifier-free guidance) and the base ones (50 steps, CFG) share
the classes: model_index.json's ``is_distilled`` tells them apart, at call
time. FLUX.2 [klein] 9B KV names ``Flux2KleinKVPipeline`` (the 9B weights
tuned to cache the reference images' keys and values at the first step):
its row (modifiers {"kv"}, selected by that class name, as FLUX.1's Kontext
row is) does text2img and img2img; inpainting is refused with how to do it
(:data:`NO_KV_INPAINT`), since one class cannot sit in two rows of a family.

What tells FLUX.2 from FLUX.1 and [dev] from [klein] is read from the
configs, not from names: :data:`FLUX2_TRANSFORMER` (a config key every
``Flux2Transformer2DModel`` has and FLUX.1's transformer has not), the
transformer's guidance embedding ([dev] is guidance-distilled, [klein] is
not: :data:`GUIDED_TRANSFORMER`, :data:`UNGUIDED_TRANSFORMER`) and [klein]'s
text encoder's ``model_type`` (:data:`QWEN3_TEXT_ENCODER`). Single files: the header's
``single_stream_modulation.lin.weight`` (diffusers' own ``flux2`` key; FLUX.1
modulates each block) and the widths of ``img_in`` and ``txt_in``
(single_file.py). Sources: diffusers 0.42.1 (pipelines/flux2,
models/transformers/transformer_flux2.py, loaders/single_file_utils.py).
"""

from __future__ import annotations

import inspect
from typing import Any

from autopipe_core import PRESENT, FamilySpec, PipelineRow, Requirement, Task, hookimpl
from autopipe_core.toolkit.requirements import flag, model_type
from autopipe_core.toolkit.rows import lazy_hooks, row, rows

from . import DETECT_KEYS, FLUX2, KLEIN, KV

NO_DEV_INPAINT = (
    "diffusers 0.42.1 has no FLUX.2 [dev] inpainting pipeline (its Flux2KleinInpaintPipeline encodes prompts with Qwen3, "
    "where [dev] has Mistral Small); inpaint with FLUX.2 [klein] (AutoPipelineForInpainting of black-forest-labs/FLUX.2-klein-4B "
    "or -9B: Flux2KleinInpaintPipeline), or edit with FLUX.2 [dev] through AutoPipelineForImage2Image (Flux2Pipeline takes the "
    "image as a reference and the prompt says what to change)"
)
NO_KV_INPAINT = (
    "diffusers 0.42.1 has no KV-cache inpainting pipeline. These are FLUX.2 [klein] 9B's step-distilled weights, which "
    "Flux2KleinInpaintPipeline runs: call diffusers.Flux2KleinInpaintPipeline.from_pipe(pipe, is_distilled=True) on this "
    "pipeline (without is_distilled=True, from_pipe reads it as False, since Flux2KleinKVPipeline keeps it nowhere, and turns on "
    "classifier-free guidance), or load black-forest-labs/FLUX.2-klein-9B with AutoPipelineForInpainting"
)

#: Every Flux2Transformer2DModel config carries timestep_guidance_channels (its timestep and guidance embeddings' width,
#: 256); FLUX.1's FluxTransformer2DModel has no such argument. Read from transformer/config.json, or a live pipeline's config.
FLUX2_TRANSFORMER = Requirement(
    component="transformer",
    key="timestep_guidance_channels",
    values=frozenset({PRESENT}),
    otherwise=(
        "its transformer config has no timestep_guidance_channels, which every FLUX.2 transformer (Flux2Transformer2DModel) has: "
        "it is another architecture (a FLUX.1 transformer loads with FluxPipeline, through autopipe-flux); load it with the "
        "pipeline class its model card names"
    ),
)

#: FLUX.2 [dev] is guidance-distilled: its transformer embeds the guidance scale (guidance_embeds true, the class's default).
#: This, not the text encoder's model_type ("mistral3"), is what tells [dev] from [klein] here, because the conformance
#: kit compares a composite transformers config (Mistral3's text_config and vision_config) whole against config.json,
#: where transformers' live sub-configs carry every default: the core should compare the entries config.json has,
#: recursively; then :data:`MISTRAL_TEXT_ENCODER` can join [dev]'s requirements (docs/flux2.md).
GUIDED_TRANSFORMER = flag(
    "transformer", "guidance_embeds", True, default=True,
    otherwise=(
        "its transformer embeds no guidance scale (guidance_embeds {value}), where FLUX.2 [dev] is guidance-distilled: an unguided "
        "FLUX.2 transformer is [klein]'s, which loads with Flux2KleinPipeline and a Qwen3 text encoder"
    ),
)
#: FLUX.2 [klein]'s transformers embed no guidance scale (guidance_embeds false; absent means the class's default, true).
UNGUIDED_TRANSFORMER = flag(
    "transformer", "guidance_embeds", False, default=True,
    otherwise=(
        "its transformer embeds a guidance scale (guidance_embeds {value}, or absent: Flux2Transformer2DModel's default is true), "
        "where FLUX.2 [klein]'s do not: a guided FLUX.2 transformer is [dev]'s, which loads with Flux2Pipeline and Mistral Small"
    ),
)

#: FLUX.2 [dev] encodes prompts with Mistral Small 3.x (model_type "mistral3"), read from text_encoder/config.json. Not yet
#: among [dev]'s requirements: see :data:`GUIDED_TRANSFORMER`.
MISTRAL_TEXT_ENCODER = model_type(
    "text_encoder", "mistral3",
    "its text_encoder is a {value} model where FLUX.2 [dev] has Mistral Small (mistral3): FLUX.2 [klein] has Qwen3 and "
    "loads with Flux2KleinPipeline, FLUX.1 has CLIP and T5 and loads with FluxPipeline",
)

#: FLUX.2 [klein] encodes prompts with Qwen3-4B or Qwen3-8B (model_type "qwen3").
QWEN3_TEXT_ENCODER = model_type(
    "text_encoder", "qwen3",
    "its text_encoder is a {value} model where FLUX.2 [klein] has Qwen3: FLUX.2 [dev] has Mistral Small (mistral3) and "
    "loads with Flux2Pipeline",
)


def is_distilled(pipeline: Any) -> Any:
    """``is_distilled`` of a live FLUX.2 [klein] pipeline whose config lacks it: the value its class defaults to.

    Flux2KleinPipeline and Flux2KleinInpaintPipeline record it in their config
    (so this reader is not asked for them); Flux2KleinKVPipeline takes it and
    keeps it nowhere. Its default, True, is what the only KV checkpoint
    (FLUX.2 [klein] 9B KV, step-distilled) is; without this reader a switch
    from a KV pipeline would hand the next class its own default, False, and
    turn classifier-free guidance on (diffusers' from_pipe does). Raises
    nothing: a class without the argument gives None.
    """
    parameter = inspect.signature(type(pipeline).__init__).parameters.get("is_distilled")
    return None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=FLUX2,
            example="black-forest-labs/FLUX.2-dev",
            description="FLUX.2 [dev]: a 32 B transformer over Mistral Small 3.x, text2img and editing with reference images",
            requires=(FLUX2_TRANSFORMER, GUIDED_TRANSFORMER),
        ),
        FamilySpec(
            name=KLEIN,
            example="black-forest-labs/FLUX.2-klein-4B",
            description="FLUX.2 [klein] 4B and 9B (distilled and base, and 9B KV) over Qwen3: text2img, reference img2img, inpainting",
            requires=(FLUX2_TRANSFORMER, UNGUIDED_TRANSFORMER, QWEN3_TEXT_ENCODER),
            init_readers={"is_distilled": is_distilled},
        ),
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return [
        *rows(FLUX2, text2img="diffusers:Flux2Pipeline", img2img="diffusers:Flux2Pipeline", missing={Task.INPAINT: NO_DEV_INPAINT}),
        *rows(KLEIN, text2img="diffusers:Flux2KleinPipeline", img2img="diffusers:Flux2KleinPipeline", inpaint="diffusers:Flux2KleinInpaintPipeline"),
        row(
            KLEIN, modifiers={KV}, text2img="diffusers:Flux2KleinKVPipeline", img2img="diffusers:Flux2KleinKVPipeline",
            missing={Task.INPAINT: NO_KV_INPAINT},
        ),
    ]


@hookimpl
def autopipe_detect_keys() -> tuple[str, ...]:
    return DETECT_KEYS


# The code behind these hooks imports torch or diffusers, or reads files: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __package__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:footprint",
    autopipe_detect=".single_file:detect",
    autopipe_from_single_file=".single_file:load",
    autopipe_build_tiny=".tiny:build",
))
