"""How Stable Diffusion XL loads on each kind of device.

- CPU: float32 everywhere (float16 kernels there are slow or missing).
- An accelerator: float16, from the fp16 weight files when the checkpoint has
  them (half the download and the disk reads), else from the full files.
- The VAE: SDXL's original VAE overflows in float16 (NaNs, so black images);
  its config says so with ``force_upcast: true``, and diffusers' SDXL
  pipelines then move it to float32 around each encode and decode. The plan
  loads it in float16 and leaves that to diffusers (see FLOAT32_VAE for why
  not float32 from the start). A VAE whose config says ``force_upcast:
  false`` (a float16-safe one such as madebyollin/sdxl-vae-fp16-fix) stays
  float16 throughout. The reason says which.
- Placement: planned by the core from the weights' headers (UNet, both
  text encoders, VAE) plus the allowance below; see docs/placement.md.
"""

from __future__ import annotations

from dataclasses import replace

from autopipe_core import DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import half_precision_plan

#: Latent pixels per UNet sample: the VAE downsamples by 8 (sample_size 128 -> 1024x1024).
VAE_SCALE = 8

#: The side the allowances below are stated at; they scale with the pixels of the call.
REFERENCE = 1024

#: Besides the weights, a 1024x1024 call in float16 peaks at the VAE decode: diffusers upcasts a
#: force_upcast VAE to float32 for it, and its 1024x1024x128 float32 feature maps (512 MiB each, a few
#: alive at once) reach about 2.5 GiB; the UNet's activations at batch 2 with scaled-dot-product
#: attention stay below that. Plus a fixed 0.5 GiB for cuBLAS workspace and allocator slack.
ACTIVATION_AT_NATIVE = 5 * GiB // 2
#: A float16-safe VAE (force_upcast false) decodes in float16: half the peak.
ACTIVATION_AT_NATIVE_FP16_VAE = 3 * GiB // 2
FIXED = GiB // 2


# Whether a VAE whose config says force_upcast true is loaded in float32
# (LoadPlan.component_dtypes) rather than in float16 and left to diffusers,
# whose SDXL pipelines move such a VAE to float32 around every encode and
# decode and back. False while diffusers cannot run text2img with a float32
# VAE under a float16 UNet: StableDiffusionXLPipeline hands the VAE the
# float16 latents as they are, except on MPS, and the decode fails with
# "Input type (c10::Half) and bias type (float) should be the same"
# (as of diffusers 0.42.1; a fix was proposed in huggingface/diffusers#12847). The img2img and
# inpaint pipelines would also cast such a VAE back to float16 after their
# first encode. tests/test_sdxl_plugin.py checks that this is still so.
FLOAT32_VAE = False


def vae_force_upcast(identity: Identity) -> bool | None:
    """The VAE config's force_upcast (AutoencoderKL's default, True, when the key is absent); None if the config was not read."""
    config = identity.configs.get("vae")
    if config is None:
        return None
    return config.get("force_upcast", True) is not False


def _vae(identity: Identity, float32_vae: bool) -> tuple[dict[str, str], str]:
    """component_dtypes for the VAE, and the words that say why."""
    upcast = vae_force_upcast(identity)
    if upcast is False:
        return {}, "VAE in float16 too: its config says force_upcast false (a float16-safe VAE)"
    said = "its config says force_upcast true" if upcast else "its config was not read"
    if float32_vae:
        return {"vae": "float32"}, f"VAE in float32: {said}, and SDXL's original VAE overflows in float16 (black images)"
    return {}, (
        f"VAE loaded in float16 but {said}: diffusers moves a force_upcast VAE to float32 around each encode and decode, "
        "so it does not overflow (loading it in float32 instead breaks text2img in diffusers 0.42.1, huggingface/diffusers#12847)"
    )


def plan(identity: Identity, device: DeviceFacts, float32_vae: bool | None = None) -> LoadPlan:
    """The LoadPlan for this checkpoint on this device; `float32_vae` None means FLOAT32_VAE."""
    half = half_precision_plan(identity, device)
    if not device.accelerated:
        return half
    component_dtypes, vae_reason = _vae(identity, FLOAT32_VAE if float32_vae is None else float32_vae)
    return replace(half, reason=f"{half.reason}; {vae_reason}", component_dtypes=component_dtypes)


_WHAT = "UNet activations at batch 2 and {decode}"
#: The allowance with a VAE decoded in float32 (force_upcast), and with a float16-safe one; at the native size unless the
#: call says (the UNet's sample_size x 8: 1024 for SDXL base and refiner).
UPCAST_VAE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=REFERENCE, fixed=FIXED, native=("unet", "sample_size", VAE_SCALE),
    what=_WHAT.format(decode="the VAE decode upcast to float32 (force_upcast)"),
)
FP16_VAE = replace(UPCAST_VAE, at=ACTIVATION_AT_NATIVE_FP16_VAE, what=_WHAT.format(decode="the VAE decode"))


def footprint(identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The activation allowance at width x height (default: the native size), smaller with a float16-safe VAE."""
    safe = vae_force_upcast(identity) is False or plan.dtype == "float32"
    return (FP16_VAE if safe else UPCAST_VAE).footprint(identity, plan, footprint, width, height)
