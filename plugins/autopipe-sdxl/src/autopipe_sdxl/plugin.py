"""autopipe-sdxl's registrations: the family, its pipelines and variants, and the hooks, each a lazy reference.

The module the ``autopipe.plugins`` entry point names. Everything here is
data and lazy references: importing it imports no torch, diffusers or
transformers. The loading code, the detection and the tiny builder import
them when they are called.

How the checkpoints are told apart (all from the UNet's and the VAE's
config.json, never from weights):

- the refiner's UNet is conditioned on 5 micro-conditioning numbers (original
  size, crop corner, aesthetic score) where the base's takes 6 (original size,
  crop corner, target size); each is embedded in ``ADD_TIME_EMBED_DIM``
  values and joined to the pooled text embedding of ``POOLED_DIM`` values, so
  its ``projection_class_embeddings_input_dim`` is 1280 + 5 x 256 = 2560
  against the base's 1280 + 6 x 256 = 2816;
- an inpainting-only UNet takes 9 input channels;
- a VAE whose config says ``force_upcast: false`` is safe in float16.
"""

from __future__ import annotations

from autopipe_core import PRESENT, FamilySpec, PipelineRow, Requirement, Task, Variant, hookimpl
from autopipe_core.toolkit.rows import inpainting_only, lazy_hooks, rows

from . import BASE_ADD_EMBED_DIM, DETECT_KEYS, FAMILY, REFINER_ADD_EMBED_DIM

REFINER = Variant(
    name="refiner",
    component="unet",
    key="projection_class_embeddings_input_dim",
    value=REFINER_ADD_EMBED_DIM,
    tasks=frozenset({Task.IMG2IMG, Task.INPAINT}),
    reason=(
        f"its UNet takes an aesthetic score where the base's takes a target size, projection_class_embeddings_input_dim "
        f"{REFINER_ADD_EMBED_DIM} against the base's {BASE_ADD_EMBED_DIM}, and it was trained only on the last, low-noise steps, "
        "so from pure noise it makes no picture: generate with the SDXL base model, then refine that image with this one"
    ),
)

INPAINTING = inpainting_only()

#: Playground v2.5 and its kind: an SDXL UNet with a VAE that normalises latents (latents_mean, latents_std).
LATENTS_NORMALISED = Variant(
    name="latents-normalised",
    component="vae",
    key="latents_mean",
    value=PRESENT,
    tasks=frozenset({Task.TEXT2IMG, Task.IMG2IMG}),
    reason=(
        "its VAE normalises latents with latents_mean and latents_std (Playground v2.5, trained with an EDM schedule), which "
        "diffusers' SDXL inpainting pipeline does not apply when it encodes the image to keep (diffusers issue #7484): the kept "
        "area would come back in the wrong colours"
    ),
)

#: SDXL's UNet takes the text encoders' hidden states directly; one that projects them (encoder_hid_dim) is another model
#: under an SDXL class name: the original Kolors repo's, whose ChatGLM encoder gives 4096-wide embeddings.
NOT_KOLORS = Requirement(
    component="unet",
    key="encoder_hid_dim",
    values=frozenset({None}),
    otherwise=(
        "its UNet projects {value}-wide text embeddings (encoder_hid_dim), which no SDXL text encoder gives: it is Kolors "
        "(a ChatGLM text encoder) or a model like it. Kolors loads with diffusers' KolorsPipeline from the Kwai-Kolors/Kolors-diffusers "
        "repo, or with autopipe's Kolors plugin where it is installed"
    ),
)

#: The tiny builder's name for a checkpoint whose VAE says force_upcast false (not a Variant: it restricts no task).
FP16_SAFE_VAE = "fp16-safe-vae"

VARIANTS = (REFINER, INPAINTING, LATENTS_NORMALISED)


def _has_watermarker(pipeline: object) -> bool:
    """SDXL pipelines keep add_watermarker as their watermark object, not in their config: read it back for from_pipe."""
    return getattr(pipeline, "watermark", None) is not None


@hookimpl
def autopipe_families() -> list[FamilySpec]:
    return [
        FamilySpec(
            name=FAMILY,
            example="stabilityai/stable-diffusion-xl-base-1.0",
            init_readers={"add_watermarker": _has_watermarker},
            description="Stable Diffusion XL 1.0 and 0.9: base, refiner, inpainting, and checkpoints of the same architecture",
            variants=VARIANTS,
            requires=(NOT_KOLORS,),
            configs=("vae",),  # the loading code reads force_upcast
            recognised={
                "StableDiffusionXLInstructPix2PixPipeline": (
                    "it is an SDXL InstructPix2Pix model (8 UNet input channels: latents and the image to edit), which edits an "
                    "image by an instruction and serves no AutoPipeline task: load it with diffusers.StableDiffusionXLInstructPix2PixPipeline"
                ),
            },
        )
    ]


@hookimpl
def autopipe_pipelines() -> list[PipelineRow]:
    return rows(
        FAMILY,
        text2img="diffusers:StableDiffusionXLPipeline",
        img2img="diffusers:StableDiffusionXLImg2ImgPipeline",
        inpaint="diffusers:StableDiffusionXLInpaintPipeline",
        pag=("diffusers:StableDiffusionXLPAGPipeline", "diffusers:StableDiffusionXLPAGImg2ImgPipeline", "diffusers:StableDiffusionXLPAGInpaintPipeline"),
    )


@hookimpl
def autopipe_detect_keys() -> tuple[str, ...]:
    return DETECT_KEYS


# The code behind these hooks imports torch or diffusers: each module is imported when its hook is first asked.
globals().update(lazy_hooks(
    __package__,
    autopipe_load_plan=".loading:plan",
    autopipe_footprint=".loading:footprint",
    autopipe_detect=".single_file:detect",
    autopipe_build_tiny=".tiny:build",
))
