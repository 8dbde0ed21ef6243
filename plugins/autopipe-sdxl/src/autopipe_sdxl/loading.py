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
- CUDA with less than MIN_FREE_FOR_DEVICE free: model-by-model CPU offload.
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, Identity, LoadPlan

GiB = 1 << 30

# SDXL base in float16 is about 6.9 GB of weights (UNet 5.1 GB, text encoders
# 1.6 GB, VAE 0.2 GB, 0.3 GB in float32); a 1024x1024 image needs about 3 GB
# more at its peak (UNet attention, then the float32 VAE decode). Below this
# much free device memory the models are moved to the GPU one at a time.
MIN_FREE_FOR_DEVICE = 10 * GiB


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
    if not device.accelerated:
        return LoadPlan("float32", None, "device", "cpu", "on the CPU float32: float16 kernels there are slow or missing")
    has_fp16 = identity.has_weight_variant("fp16")
    variant = "fp16" if has_fp16 else None
    if has_fp16:
        files = "its fp16 weight files"
    elif identity.files is not None:
        files = "its full-precision files (no fp16 variant found)"
    else:
        files = "its default files (file list unknown)"
    component_dtypes, vae_reason = _vae(identity, FLOAT32_VAE if float32_vae is None else float32_vae)
    if device.type == "cuda" and device.free_bytes is not None and device.free_bytes < MIN_FREE_FOR_DEVICE:
        gib = device.free_bytes / GiB
        return LoadPlan(
            "float16",
            variant,
            "model_cpu_offload",
            device.type,
            f"float16 from {files}; {vae_reason}; only {gib:.1f} GiB free (SDXL wants {MIN_FREE_FOR_DEVICE // GiB}), "
            "so models are moved to the GPU one at a time",
            component_dtypes,
        )
    return LoadPlan(
        "float16", variant, "device", device.type, f"float16 from {files}; {vae_reason}; whole pipeline on {device.type}", component_dtypes
    )
