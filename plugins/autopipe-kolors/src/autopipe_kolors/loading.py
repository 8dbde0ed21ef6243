"""How Kolors loads: dtype and weight files per device, its memory allowance, and two defaults diffusers gets wrong.

- CPU: float32 everywhere (float16 kernels there are slow or missing).
- An accelerator: float16, from the fp16 weight files where the checkpoint
  has them (``toolkit.plans.half_precision_plan``), and float16 rather than
  bfloat16 even where the device has bfloat16: Kolors ships float16 weights
  (the original repository's UNet as ``diffusion_pytorch_model.fp16.safetensors``,
  its ChatGLM3 config saying ``torch_dtype: float16``; Kolors-diffusers as
  fp16 files), its authors run it in float16 (scripts/sample.py of
  Kwai-Kolors/Kolors calls ``.half()`` on every model) and so do diffusers'
  docs (``torch_dtype=torch.float16, variant="fp16"``). Casting float16
  weights to bfloat16 drops three bits of every mantissa for nothing.
- ChatGLM keeps nothing in float32: diffusers' ChatGLMModel declares no
  ``_keep_in_fp32_modules``; its RMSNorm computes the variance in float32
  and its attention the softmax in float32 (``attention_softmax_in_fp32``)
  on the activations themselves, so the weights all load in float16.
- The VAE is SDXL's (scaling factor 0.13025), which overflows in float16;
  its config asks for ``force_upcast`` (the original repository's says
  nothing, and AutoencoderKL's default is true), and diffusers' Kolors
  pipelines then move it to float32 around each encode and decode, as the
  SDXL ones do. The plan loads it in float16 and says so.
- Placement: planned by the core from the weights' headers plus
  :data:`UPCAST_VAE` (or :data:`FP16_VAE`); see docs/placement.md.
- Every from_pretrained (:func:`from_pretrained`, the family's
  ``autopipe_from_pretrained``): ``force_zeros_for_empty_prompt=False``, for a
  failure of diffusers 0.42.1 with Kolors that its docstring gives. (float32
  where the caller names no dtype, which ChatGLM3's float16 config needs under
  transformers 5, is the core's default for every family.) See docs/kolors.md.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from autopipe_core import ComponentBytes, DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import half_precision_plan

#: Latent pixels per UNet sample: the VAE downsamples by 8 (sample_size 128 -> 1024x1024).
VAE_SCALE = 8
#: The side the allowances are stated at: Kolors' native 1024x1024.
REFERENCE = 1024

#: Besides the weights, a 1024x1024 float16 call peaks at the VAE decode, upcast to float32 for a force_upcast VAE
#: (1024x1024x128 float32 feature maps, 512 MiB each, a few alive at once: about 2.5 GiB); the UNet at batch 2
#: (classifier-free guidance) is SDXL's, with 256 text tokens to attend to instead of 77, which next to the 4096
#: latent tokens' self-attention adds little. ChatGLM encodes 256 tokens at batch 1, twice (the prompt, then the
#: negative prompt), keeping its 29 hidden states of 256 x 4096: under 0.1 GiB, inside the fixed part.
ACTIVATION_AT_NATIVE = 5 * GiB // 2
#: A float16-safe VAE (force_upcast false) decodes in float16: the UNet's activations peak instead.
ACTIVATION_AT_NATIVE_FP16_VAE = 3 * GiB // 2
#: cuBLAS workspace and allocator slack, whatever the size.
FIXED = GiB // 2

_WHAT = "ChatGLM's 256-token encode, UNet activations at batch 2 and {decode}"
UPCAST_VAE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=REFERENCE, fixed=FIXED, native=("unet", "sample_size", VAE_SCALE),
    what=_WHAT.format(decode="the VAE decode upcast to float32 (force_upcast)"),
)
FP16_VAE = replace(UPCAST_VAE, at=ACTIVATION_AT_NATIVE_FP16_VAE, what=_WHAT.format(decode="the VAE decode"))

DTYPE_REASON = "float16 rather than bfloat16: Kolors ships float16 weights, and its authors and diffusers run it in float16"


def vae_force_upcast(identity: Identity) -> bool | None:
    """The VAE config's force_upcast (AutoencoderKL's default, True, where the key is absent); None if the config was not read."""
    config = identity.configs.get("vae")
    if config is None:
        return None
    return config.get("force_upcast", True) is not False


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The LoadPlan for this checkpoint on this device: ``half_precision_plan``'s, with why float16 and what becomes of the VAE."""
    half = half_precision_plan(identity, device)
    if not device.accelerated:
        return half
    upcast = vae_force_upcast(identity)
    if upcast is False:
        vae = "VAE in float16 too: its config says force_upcast false (a float16-safe VAE)"
    else:
        said = "its config asks for force_upcast" if upcast else "its config was not read"
        vae = f"VAE loaded in float16, {said}: diffusers' Kolors pipelines move it to float32 around each encode and decode"
    return replace(half, reason=f"{half.reason}; {DTYPE_REASON}; {vae}")


#: Bytes an element of each dtype a plan loads in, or a transformers config names as the one its weights were saved in.
_ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4}


def _pickled_text_encoder(identity: Identity, footprint: Footprint) -> ComponentBytes | None:
    """The text encoder counted again where the core sized it from pickle files as 32-bit but its config says 16-bit.

    The original Kwai-Kolors/Kolors repository ships ChatGLM3 as ``pytorch_model-0000N-of-00007.bin`` shards
    saved in float16 (its config: ``torch_dtype: float16``). The core never opens a pickle file and assumes 32-bit
    elements for one not named ``.fp16.``, which counts 6.2 billion parameters as 3.1: half the 11.6 GiB that
    load. The config says how they were saved; the file sizes then give the parameters. None when nothing is to
    correct (safetensors, whose headers the core read, or a config that says float32 or nothing).
    """
    counted = footprint.component("text_encoder")
    config = identity.configs.get("text_encoder") or {}
    saved = _ITEMSIZE.get(str(config.get("torch_dtype") or config.get("dtype")))
    if counted is None or counted.nbytes is None or counted.parameters is None or saved is None or saved == 4:
        return None
    if not counted.files or not all(f.endswith(".bin") and ".fp16." not in f and ".bf16." not in f for f in counted.files):
        return None
    parameters = counted.parameters * 4 // saved  # the core divided the files' bytes by 4
    return ComponentBytes(
        counted.name, parameters * _ITEMSIZE.get(counted.dtype, 4), parameters, counted.dtype,
        f"estimated from the size of pickle weights (.bin, not opened), {saved * 8}-bit as its config's torch_dtype says",
        counted.files,
    )


def footprint(identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The activation allowance at width x height (default: 1024x1024, the UNet's sample_size x 8), smaller with a
    float16-safe VAE; and the original repository's float16 pickle text encoder counted at its real size."""
    safe = vae_force_upcast(identity) is False or plan.dtype == "float32"
    out = (FP16_VAE if safe else UPCAST_VAE).footprint(identity, plan, footprint, width, height)
    corrected = _pickled_text_encoder(identity, out)
    return out if corrected is None else out.with_component(corrected)


def from_pretrained(pipeline_class: type, model: Any, kwargs: dict[str, Any]) -> Any:
    """``pipeline_class.from_pretrained(model, **kwargs)`` with ``force_zeros_for_empty_prompt=False`` unless the caller
    set it (then None: the core calls exactly what was asked).

    diffusers 0.42.1's Kolors pipelines (KolorsPipeline,
    KolorsImg2ImgPipeline, KolorsPAGPipeline) with it true zero the negative
    prompt's embeddings but never set its pooled embedding, then fail on it
    (``AttributeError: 'NoneType' object has no attribute 'repeat'``) in every
    call with guidance and no negative prompt (huggingface/diffusers#13612,
    open). The original Kwai-Kolors/Kolors repository's model_index.json says
    true (kept from SDXL's), and its authors build their pipeline with
    ``force_zeros_for_empty_prompt=False`` (scripts/sample.py): the empty
    prompt is encoded, as in their own sampling. With a negative prompt, or
    without guidance, the value changes nothing.
    """
    if "force_zeros_for_empty_prompt" in kwargs:
        return None
    return pipeline_class.from_pretrained(model, **kwargs, force_zeros_for_empty_prompt=False)
