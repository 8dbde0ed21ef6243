"""How PixArt-α, PixArt-Σ, Sana and Sana Sprint load on each kind of device, and what a call needs besides the weights.

PixArt-α and PixArt-Σ (:func:`pixart_plan`): float16 on an accelerator, as
they are published and as diffusers' documentation loads them, from fp16
files where the checkpoint has some; float32 on a CPU. Every component in
float16, the VAE included, although PixArt-Σ's is SDXL's, which can overflow
in float16 at 1024 px: a VAE in another dtype than the transformer breaks
PixArtAlphaPipeline and PixArtSigmaPAGPipeline, which hand the VAE the
latents in the transformer's dtype (diffusers 0.42.1; only
PixArtSigmaPipeline casts them). tests/test_pixart_loading.py checks that
this is still so.

The T5-XXL text encoder is 4.76 B of PixArt's 5.4 B parameters (about 9.5 GB
in float16, plus 2 GB because transformers keeps its ``wo`` layers in
float32: :data:`PIXART_ALLOWANCE` counts them). Nothing is left out: unlike
SD3, whose CLIP encoders can do without its T5, PixArt has no other text
encoder, so leaving T5 out would leave no way to encode a prompt. Placement
is the core's, from the headers: the whole pipeline on the device when it
fits, else model offload, which holds T5 on the GPU only while it encodes
the prompt (T5 with the allowance needs about 13 GiB), else sequential
offload.

Sana and Sana Sprint (:func:`sana_plan`), following diffusers' Sana
documentation: "The text encoder and VAE weights must stay in
torch.bfloat16 or torch.float32 for the model to work correctly"; the
transformer's recommended dtype is float16 for the releases published with
fp16 weight files and bfloat16 for those trained in it (the ``_BF16``
releases, 2K and 4K, Sana Sprint). So on an accelerator:

- with bfloat16: everything in bfloat16, except a transformer published in
  float16 (fp16 weight files and no bf16 ones), which loads in float16 from
  those files with the text encoder and the VAE in bfloat16;
- without bfloat16 (a T4, a V100): the text encoder and the VAE in float32,
  the transformer in float16 unless it was trained in bfloat16, whose
  weights overflow float16: then float32 (:func:`bfloat16_trained` says why).

Every Sana pipeline casts the prompt embeddings to the transformer's dtype
and the latents to the VAE's, so the mixed dtypes run (checked on the tiny
checkpoints).
"""

from __future__ import annotations

from dataclasses import replace

from autopipe_core import DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.sizes import config_int
from autopipe_core.specs import MAX_IMAGE_SIDE
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import CPU_REASON, half_precision_plan, weight_files

from . import PIXART_ALPHA, PIXART_SIGMA, SANA, SANA_SPRINT

#: Pixels per latent pixel: PixArt's VAEs (SD's and SDXL's) downsample 8x, Sana's DC-AE 32x.
PIXART_VAE_SCALE = 8
SANA_VAE_SCALE = 32

#: The side the allowances are stated at: PixArt's and Sana's usual 1024 px.
REFERENCE = 1024

#: The components diffusers' Sana documentation says must stay bfloat16 or float32.
SANA_NOT_FLOAT16 = ("text_encoder", "vae")

#: Sana transformers with a latent side of this or more are the 2K and 4K models, published in bfloat16 only.
SANA_2K_SAMPLE_SIZE = 64

#: transformers' T5 keeps its feed-forward output layers in float32 under float16 (T5PreTrainedModel._keep_in_fp32_modules).
T5_KEEP_FLOAT32 = ("wo",)

#: PixArt at 1024x1024 in float16: the VAE decode peaks highest (SD's or SDXL's decoder: 128-channel feature maps
#: at the image's size, 256 MiB each in float16, several alive at once), the transformer's 4,096 tokens at batch 2
#: and T5 over 120 or 300 tokens stay below it. The same figure as SDXL's decode in float16 (autopipe-sdxl). An
#: estimate from the shapes, not a measurement on a GPU (docs/pixart.md). Plus 0.5 GiB of cuBLAS workspace and slack.
PIXART_ALLOWANCE = Allowance(
    at=3 * GiB // 2, reference=REFERENCE, fixed=GiB // 2, native=("transformer", "sample_size", PIXART_VAE_SCALE),
    what="the VAE decode and the transformer at batch 2", float32_modules={"text_encoder": T5_KEEP_FLOAT32},
)

#: Sana at 1024x1024 in half precision: DC-AE's decoder ends with 128 channels at the image's size (256 MiB a map in
#: 16 bits, several alive at once, as in an SD VAE); linear attention keeps the transformer's 1,024 tokens cheap and
#: Gemma 2 reads about 300 tokens plus the instruction. An estimate from the shapes, not a GPU measurement. It grows
#: with the pixels: 24.5 GiB at 4096x4096, where diffusers' Sana docs decode with ``pipe.vae.enable_tiling()``.
SANA_ALLOWANCE = Allowance(
    at=3 * GiB // 2, reference=REFERENCE, fixed=GiB // 2, native=("transformer", "sample_size", SANA_VAE_SCALE),
    what="the DC-AE decode and the transformer at batch 2",
)

ALLOWANCES = {PIXART_ALPHA: PIXART_ALLOWANCE, PIXART_SIGMA: PIXART_ALLOWANCE, SANA: SANA_ALLOWANCE, SANA_SPRINT: SANA_ALLOWANCE}


def pixart_plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """PixArt's LoadPlan: float32 on a CPU, float16 on an accelerator from fp16 files where there are some; placement "device"."""
    plan = half_precision_plan(identity, device, on_cpu=f"{CPU_REASON} (PixArt's T5-XXL alone then needs about 19 GB of RAM)")
    if not device.accelerated:
        return plan
    return replace(plan, reason=f"{plan.reason}, every component (T5's wo layers kept in float32 by transformers)")


def bfloat16_trained(identity: Identity) -> str | None:
    """Why this Sana checkpoint's transformer must not run in float16 (it was trained and published in bfloat16), or None.

    From what the checkpoint shows: bf16 weight files (the ``_BF16``
    releases), a latent side of 64 or more (the 2K and 4K models, published
    in bfloat16 only), or a guidance embedding (Sana Sprint, whose documented
    dtype is bfloat16). Raises InvalidModelError for a corrupt sample_size.
    """
    if identity.has_weight_variant("bf16") and not identity.has_weight_variant("fp16"):
        return "it ships bf16 weight files (a release trained in bfloat16)"
    sample = config_int(identity, "transformer", "sample_size", 1, MAX_IMAGE_SIDE // SANA_VAE_SCALE)
    if sample is not None and sample >= SANA_2K_SAMPLE_SIZE:
        return f"its transformer draws at {sample * SANA_VAE_SCALE} px (sample_size {sample}): the 2K and 4K models are published in bfloat16 only"
    if (identity.configs.get("transformer") or {}).get("guidance_embeds") is True:
        return "it is Sana Sprint (guidance_embeds), documented in bfloat16"
    return None


def sana_plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """Sana's and Sana Sprint's LoadPlan (see the module's docstring); placement "device"."""
    if not device.accelerated:
        return half_precision_plan(identity, device)
    trained = bfloat16_trained(identity)
    fp16_release = trained is None and identity.has_weight_variant("fp16")
    if device.bf16 and not fp16_release:
        plan = half_precision_plan(identity, device, prefer="bfloat16")
        return replace(plan, reason=f"{plan.reason}, every component" + (f": {trained}" if trained else ""))
    if device.bf16:  # a float16 release: its transformer in float16, as published; the rest where Gemma 2 and DC-AE are safe
        plan = half_precision_plan(identity, device)
        kept = dict.fromkeys(SANA_NOT_FLOAT16, "bfloat16")
        why = "text_encoder and vae in bfloat16: diffusers' Sana docs say they must stay bfloat16 or float32"
        return replace(plan, component_dtypes=kept, reason=f"{plan.reason} for the transformer, as published; {why}")
    if trained is not None:
        variant, files = weight_files(identity, "float32")
        why = f"{device.type} has no bfloat16, and {trained}, so float16 would overflow"
        return LoadPlan("float32", variant, "device", device.type, f"float32 from {files}, every component: {why}")
    plan = half_precision_plan(identity, device)
    kept = dict.fromkeys(SANA_NOT_FLOAT16, "float32")
    why = f"text_encoder and vae in float32 ({device.type} has no bfloat16, and diffusers' Sana docs say they must stay bfloat16 or float32)"
    return replace(plan, component_dtypes=kept, reason=f"{plan.reason} for the transformer; {why}")


def plan(family: str, identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The ``autopipe_load_plan`` hook: dtype, weight variant and per-component dtypes for this checkpoint on this device."""
    return pixart_plan(identity, device) if family in (PIXART_ALPHA, PIXART_SIGMA) else sana_plan(identity, device)


def footprint(family: str, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The ``autopipe_footprint`` hook: the family's allowance at width x height (None: its native size, from the transformer's config)."""
    return ALLOWANCES[family].footprint(identity, plan, footprint, width, height)
