"""How Stable Diffusion 1.x/2.x loads: dtype and weight variant here, placement planned by the core from the weights' headers.

- CPU: float32 (float16 kernels there are slow or missing).
- An accelerator: float16, from the fp16 weight files when the checkpoint has them.
- Placement: the core counts each component's bytes in that dtype (UNet,
  text encoder, VAE, safety checker) and adds the allowance below; see
  docs/placement.md for what SD 1.5 gets on each size of GPU.
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, Identity, LoadPlan, sizes
from autopipe_core.planning import GiB, Activation, Footprint, scaled

#: Latent pixels per UNet sample: the VAE downsamples by 8.
VAE_SCALE = 8

#: The side the allowance below is stated at; it scales with the pixels of the call (the default: the checkpoint's native size).
REFERENCE = 512

#: Besides the weights, at 512x512 in float16:
#: the UNet's activations at batch 2 (classifier-free guidance) with PyTorch's scaled-dot-product
#: attention, then the VAE decode, whose 512x512x128 feature maps peak at about 1 GiB; plus a fixed
#: 0.5 GiB for cuBLAS workspace and allocator slack. SD 1.5's ~2.6 GiB of float16 weights + 1.5 GiB is
#: the ~4 GiB a 512x512 call is commonly measured at.
ACTIVATION_AT_NATIVE = 1 * GiB
FIXED = GiB // 2


def _files(identity: Identity, has_fp16: bool) -> str:
    if has_fp16:
        return "its fp16 weight files"
    if identity.files is not None:
        return "its full-precision files (no fp16 variant found)"
    return "its default files (file list unknown)"


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """dtype and weight variant; placement "device" (the core plans the real one from the weights' sizes)."""
    if not device.accelerated:
        return LoadPlan("float32", None, "device", "cpu", "on the CPU float32: float16 kernels there are slow or missing")
    has_fp16 = identity.has_weight_variant("fp16")
    return LoadPlan("float16", "fp16" if has_fp16 else None, "device", device.type, f"float16 from {_files(identity, has_fp16)}")


def native_size(identity: Identity, default: int = 512) -> int:
    """The image side the checkpoint was trained at: the UNet's sample_size x 8 (512 for SD 1.x, 768 for SD 2.x-768)."""
    return sizes.native_size(identity, default, scale=VAE_SCALE)


def footprint(identity: Identity, plan: LoadPlan, fp: Footprint, width: int | None, height: int | None) -> Footprint:
    """The activation allowance at width x height (default: the checkpoint's native size)."""
    native = native_size(identity)
    w, h = width or native, height or native
    nbytes = scaled(ACTIVATION_AT_NATIVE, FIXED, w, h, REFERENCE, plan.dtype)
    return fp.with_activation(Activation(
        nbytes, w, h, f"UNet activations at batch 2 and the VAE decode at {w}x{h} in {plan.dtype}, plus 0.5 GiB workspace",
    ))
