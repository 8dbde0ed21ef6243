"""autopipe plugin for BRIA AI's models in diffusers: BRIA 3.x (BriaPipeline) and FIBO (BriaFiboPipeline, BriaFiboEditPipeline).

Everything here is data and lazy references: importing this module imports
no torch, diffusers or transformers. The loading code (:mod:`.loading`) and
the tiny builders (:mod:`.tiny`) import them when their hooks are asked.

diffusers 0.42.1's AutoPipeline tables have no key for any BRIA class, so
diffusers' ``AutoPipelineFor*`` refuse these checkpoints; autopipe serves
them beyond the tables, with the classes their model cards load. Two
families, which share no component (so a checkpoint of one can never load as
the other):

**bria**: BRIA 3.1 and 3.2 (briaai/BRIA-3.1, briaai/BRIA-3.2), a FLUX-like
rectified-flow MMDiT (``BriaTransformer2DModel``: 8 joint blocks then 28
single-stream ones, 24 heads of 96, about 3.8 B parameters) under T5-XXL's
encoder (``T5EncoderModel``, ``T5TokenizerFast``) with SDXL's 4-channel VAE,
at 1024x1024. BriaPipeline also takes an optional ``image_encoder``
(``CLIPVisionModelWithProjection``) and ``feature_extractor``, which the
released checkpoints do not ship. Text to image only: diffusers has no
image-to-image, inpainting, PAG or ControlNet class that takes
``BriaTransformer2DModel`` (a test reads its sources to keep that true).

**bria-fibo**: FIBO (briaai/FIBO), an 8 B MMDiT (``BriaFiboTransformer2DModel``)
under SmolLM3-3B (``SmolLM3ForCausalLM``, its last two hidden states) with
Wan 2.2's 16x VAE (``AutoencoderKLWan``), prompted with structured JSON
captions. Its plain row is ``BriaFiboPipeline``, text to image. FIBO Edit
(briaai/Fibo-Edit, Fibo-Edit-1.5-base and -turbo) is a checkpoint of its own
with the same components, saved as ``BriaFiboEditPipeline``, which edits a
source image from a JSON prompt holding an ``edit_instruction``, repaints what
an optional ``mask=`` covers, and draws from scratch without an image: its
class name selects the row with modifier ``edit`` (no keyword does), which
serves text2img, img2img and inpaint with that one class. A FIBO checkpoint
asked to edit is refused, saying to load FIBO Edit.

Not served: FIBO 2 (``BriaFibo2Pipeline``: ``BriaFibo2Transformer2DModel``
under Qwen3-VL with FLUX.2's VAE, one class for generation, editing and
inpainting), whose pipeline needs a ``Qwen3VLProcessor`` that transformers 5
builds only with torchvision, so no tiny FIBO 2 can run where this plugin is
tested (docs/bria.md). The FIBO family recognises its class
(``FamilySpec.recognised``): a FIBO 2 checkpoint is refused for every task
with :data:`FIBO2_NOT_SERVED`, which says how to load it with diffusers.
PAG and ControlNet are refused for both families: diffusers has no such class
for either transformer.

Loading: BRIA-3.2's and BRIA-3.1's published model_index.json name the
transformer ``["transformer_bria", "BriaTransformer2DModel"]``, a library
diffusers 0.42.1 cannot resolve; the family declares that entry as loaded by
itself (:data:`PUBLISHED_TRANSFORMER`, ``FamilySpec.loads_itself``) and its
``autopipe_from_pretrained`` loads it with diffusers' own class through the
core toolkit (:func:`.loading.from_pretrained`); every other checkpoint is left
to diffusers' own loading.

Single files: none. diffusers' ``single_file_utils`` (0.42.1) has no
checkpoint key names, converter or pipeline mapping for any BRIA model, no
BRIA pipeline has ``from_single_file``, and the transformers' (inherited from
``FromOriginalModelMixin``) refuse: they are not in ``SINGLE_FILE_LOADABLE_CLASSES``.
"""

from __future__ import annotations

from autopipe_core import FamilySpec, PipelineRow, Task, hookimpl
from autopipe_core.builtin import CONTROLNET
from autopipe_core.toolkit.missing import no_controlnet, no_pag, unsupported
from autopipe_core.toolkit.rows import PAG, lazy_hooks, row, rows

BRIA = "bria"
FIBO = "bria-fibo"
FAMILIES = (BRIA, FIBO)
BRIA_CLASS = "BriaPipeline"
FIBO_CLASS = "BriaFiboPipeline"
FIBO_EDIT_CLASS = "BriaFiboEditPipeline"
#: The modifier of FIBO Edit's row, selected by the class name BriaFiboEditPipeline (no keyword selects it).
EDIT = "edit"

NO_IMG2IMG = (
    "diffusers has no image-to-image pipeline for BRIA 3.x (BriaPipeline is text-to-image only, and diffusers' AutoPipeline "
    "tables have no BRIA key); for image-to-image use a family that has such a pipeline, such as FLUX.1 "
    "(FluxImg2ImgPipeline, autopipe-flux), the MMDiT BRIA 3.x follows, or SD 3.5 (StableDiffusion3Img2ImgPipeline, autopipe-sd3)"
)
NO_INPAINT = (
    "diffusers has no inpainting pipeline for BRIA 3.x; inpaint with a family that has one, such as FLUX.1 Fill "
    "(FluxFillPipeline, autopipe-flux) or SD 3.5 (StableDiffusion3InpaintPipeline, autopipe-sd3)"
)
NO_PAG = no_pag("BRIA 3.x", "BriaTransformer2DModel")
NO_CONTROLNET = (
    "diffusers has no ControlNet pipeline or ControlNet model for BRIA 3.x (BRIA's own ControlNets are custom code); "
    "leave out controlnet="
)
FIBO_NO_IMG2IMG = (
    "FIBO (BriaFiboPipeline) only generates: BRIA's editing model is FIBO Edit, a checkpoint of its own (briaai/Fibo-Edit, "
    "briaai/Fibo-Edit-1.5-base; BriaFiboEditPipeline, which autopipe serves for img2img and inpaint): load that one, "
    "with a JSON prompt holding an edit_instruction"
)
FIBO_NO_INPAINT = (
    "FIBO (BriaFiboPipeline) only generates: BRIA's editing model is FIBO Edit, a checkpoint of its own (briaai/Fibo-Edit, "
    "briaai/Fibo-Edit-1.5-base; BriaFiboEditPipeline, which repaints what its mask= covers): load that one"
)
FIBO2_CLASS = "BriaFibo2Pipeline"
FIBO2_NOT_SERVED = (
    "FIBO 2 is another architecture than FIBO (BriaFibo2Transformer2DModel under Qwen3-VL with FLUX.2's VAE), which autopipe-bria "
    "does not serve yet; load it with diffusers.BriaFibo2Pipeline.from_pretrained (one class draws, edits with image= and "
    "repaints with mask=). FIBO (BriaFiboPipeline) and FIBO Edit (BriaFiboEditPipeline) checkpoints are served"
)
FIBO_NO_PAG = no_pag("FIBO", "BriaFiboTransformer2DModel")
FIBO_NO_CONTROLNET = no_controlnet("FIBO")

#: The transformer entry briaai/BRIA-3.2's and BRIA-3.1's published model_index.json give: the module of BRIA's old
#: remote code, which diffusers 0.42.1 cannot resolve (it has the class itself). Declared as loaded by the family
#: (FamilySpec.loads_itself): :func:`.loading.from_pretrained` builds it with diffusers' class, importing nothing named
#: transformer_bria; a transformer/transformer_bria.py shipped in the folder is still refused by the core's guard.
PUBLISHED_TRANSFORMER = ("transformer_bria", "BriaTransformer2DModel")


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=BRIA,
            example="briaai/BRIA-3.2",
            description="BRIA 3.1/3.2: BRIA AI's 4B rectified-flow MMDiT under T5-XXL with SDXL's VAE, 1024 px (BriaPipeline, text2img)",
            loads_itself={PUBLISHED_TRANSFORMER},
        ),
        FamilySpec(
            name=FIBO,
            example="briaai/FIBO",
            description=(
                "BRIA FIBO: an 8B MMDiT under SmolLM3 with Wan 2.2's VAE, prompted with JSON captions, 1024 px "
                "(BriaFiboPipeline, text2img; FIBO Edit checkpoints: BriaFiboEditPipeline, img2img and inpaint)"
            ),
            recognised={FIBO2_CLASS: FIBO2_NOT_SERVED},
        ),
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    fibo_edit = f"diffusers:{FIBO_EDIT_CLASS}"
    return [
        *rows(BRIA, text2img=f"diffusers:{BRIA_CLASS}", missing={Task.IMG2IMG: NO_IMG2IMG, Task.INPAINT: NO_INPAINT}),
        unsupported(BRIA, PAG, NO_PAG),
        unsupported(BRIA, CONTROLNET, NO_CONTROLNET),
        *rows(FIBO, text2img=f"diffusers:{FIBO_CLASS}", missing={Task.IMG2IMG: FIBO_NO_IMG2IMG, Task.INPAINT: FIBO_NO_INPAINT}),
        row(FIBO, modifiers={EDIT}, text2img=fibo_edit, img2img=fibo_edit, inpaint=fibo_edit),
        unsupported(FIBO, PAG, FIBO_NO_PAG),
        unsupported(FIBO, CONTROLNET, FIBO_NO_CONTROLNET),
    ]


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan={BRIA: ".loading:plan", FIBO: ".loading:fibo_plan"},
    autopipe_footprint={BRIA: ".loading:ALLOWANCE.footprint", FIBO: ".loading:FIBO_ALLOWANCE.footprint"},
    autopipe_from_pretrained={BRIA: ".loading:from_pretrained"},
    autopipe_build_tiny=".tiny:build",
))
