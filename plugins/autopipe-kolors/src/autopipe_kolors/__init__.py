"""autopipe plugin for Kolors (Kwai-Kolors): an SDXL-architecture UNet conditioned on a ChatGLM3-6B text encoder.

Everything here is data and lazy references: importing this module imports
no torch, diffusers or transformers. The loading code and the tiny builder
import them when they are called.

Kolors comes in two layouts, both served by diffusers' Kolors classes:

- ``Kwai-Kolors/Kolors-diffusers``: model_index.json names ``KolorsPipeline``;
- ``Kwai-Kolors/Kolors``, the original repository: model_index.json names
  ``StableDiffusionXLPipeline`` (the authors ran it with a modified copy of
  diffusers' SDXL pipeline), with the text encoder and tokenizer declared
  from the library ``"kolors"``, which is diffusers' own
  ``diffusers.pipelines.kolors`` subpackage (so the core's guard lets it
  through, and diffusers loads ``ChatGLMModel`` and ``ChatGLMTokenizer``
  from there). diffusers' AutoPipeline takes the class name at its word and
  builds SDXL pipelines, which cannot load it. This family claims that class
  name (``FamilySpec.also_named``) for the checkpoints its requirements fit
  and autopipe-sdxl's do not: a UNet that projects its text embeddings
  (``encoder_hid_dim``, 4096 in Kolors) and a ChatGLM text encoder. A real
  SDXL checkpoint has neither and stays SDXL.

The numbers (from the original repository's unet/ and text_encoder/ configs):
ChatGLM3's hidden states are ``CHATGLM_HIDDEN`` (4096) wide; the UNet
projects them to its cross-attention width (2048, SDXL's) with
``encoder_hid_dim_type="text_proj"``, and its addition embedding takes the
last token's hidden state as the pooled embedding plus SDXL's 6
micro-conditioning numbers of ``ADD_TIME_EMBED_DIM`` (256) values each:
``projection_class_embeddings_input_dim`` = 4096 + 6 x 256 = 5632.
"""

from __future__ import annotations

from autopipe_core import PRESENT, FamilySpec, PipelineRow, Requirement, Task, hookimpl
from autopipe_core.toolkit.requirements import model_type
from autopipe_core.toolkit.rows import lazy_hooks, rows

FAMILY = "kolors"

#: Width of ChatGLM3-6B's hidden states, which Kolors' pipelines take as prompt embeddings (the second to last layer's)
#: and as the pooled embedding (the last layer's state of the last token).
CHATGLM_HIDDEN = 4096
#: Width each of the UNet's micro-conditioning numbers is embedded in (``addition_time_embed_dim``), as in SDXL.
ADD_TIME_EMBED_DIM = 256
#: The micro-conditioning numbers: original size, crop corner, target size (two each), as SDXL's base.
TIME_IDS = 6
#: The UNet's ``projection_class_embeddings_input_dim`` in Kolors: the pooled ChatGLM state and the time ids.
ADD_EMBED_DIM = CHATGLM_HIDDEN + TIME_IDS * ADD_TIME_EMBED_DIM  # 5632

#: The class name the original Kwai-Kolors/Kolors repository writes in its model_index.json.
ORIGINAL_CLASS = "StableDiffusionXLPipeline"
#: The tiny builder's name for a checkpoint laid out as that repository is (not a Variant: it restricts no task).
ORIGINAL_LAYOUT = "original-layout"

#: A Kolors UNet projects the text encoder's hidden states to its cross-attention width: ``encoder_hid_dim`` is set
#: (4096, ChatGLM3's width). SDXL's attends to its CLIP encoders' states directly: autopipe-sdxl requires it unset,
#: so one config value tells the two apart under the same class name. ``encoder_hid_dim_type`` would not do: diffusers
#: rewrites it to "ip_image_proj" on a live UNet once an IP-Adapter is loaded, where ``encoder_hid_dim`` stays.
PROJECTS_TEXT = Requirement(
    component="unet",
    key="encoder_hid_dim",
    values=frozenset({PRESENT}),
    otherwise=(
        "its UNet has no encoder_hid_dim: it attends to its text encoders' states directly, as Stable Diffusion XL's does, "
        f"where Kolors' projects ChatGLM's {CHATGLM_HIDDEN}-wide embeddings. A Stable Diffusion XL checkpoint loads with "
        "autopipe's SDXL plugin (pip install ./plugins/autopipe-sdxl from the autopipe repository)"
    ),
)

#: Kolors' pipelines encode prompts with ChatGLM (transformers ``model_type`` "chatglm", diffusers' ChatGLMModel): a
#: UNet with a text projection under an SDXL or Kolors class name but another text encoder is some other model.
CHATGLM = model_type(
    "text_encoder", "chatglm",
    "its text encoder's config says model_type {value}, where Kolors' pipelines encode prompts with ChatGLM "
    "(model_type chatglm, diffusers' ChatGLMModel)",
    absent_ok=False,
)

NO_INPAINT = (
    "diffusers 0.42.1 has no Kolors inpainting pipeline (its Kolors classes are KolorsPipeline, KolorsImg2ImgPipeline "
    "and KolorsPAGPipeline, and its AutoPipeline tables map kolors to text2img and img2img only). Repaint the whole "
    "image with img2img, or inpaint with a Stable Diffusion XL inpainting checkpoint (autopipe's SDXL plugin); "
    "Kwai-Kolors/Kolors-Inpainting runs only with the Kolors repository's own pipeline code, which diffusers does not ship"
)


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=FAMILY,
            example="Kwai-Kolors/Kolors-diffusers",
            description="Kolors (Kwai-Kolors): an SDXL-architecture UNet with a ChatGLM3-6B text encoder; the diffusers-format and the original repository",
            requires=(PROJECTS_TEXT, CHATGLM),
            also_named=frozenset({ORIGINAL_CLASS}),
            configs=("vae",),  # the loading code reads force_upcast
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return rows(
        FAMILY,
        text2img="diffusers:KolorsPipeline",
        img2img="diffusers:KolorsImg2ImgPipeline",
        missing={Task.INPAINT: NO_INPAINT},
        pag=("diffusers:KolorsPAGPipeline", None, None),
    )


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
# No autopipe_detect: diffusers' from_single_file has no Kolors format (no Kolors pipeline takes FromSingleFileMixin,
# and its single-file key tables name no Kolors or ChatGLM checkpoint), so no single file is recognised as Kolors.
globals().update(lazy_hooks(
    __name__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:footprint",
    autopipe_from_pretrained=".loading:from_pretrained",
    autopipe_build_tiny=".tiny:build",
))
