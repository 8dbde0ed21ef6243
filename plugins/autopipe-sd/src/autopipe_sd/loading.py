"""How Stable Diffusion 1.x/2.x loads: dtype and weight variant here, placement planned by the core from the weights' headers.

- CPU: float32 (float16 kernels there are slow or missing).
- An accelerator: float16, from the fp16 weight files when the checkpoint has them
  (``autopipe_core.toolkit.plans.half_precision_plan``).
- Placement: the core counts each component's bytes in that dtype (UNet,
  text encoder, VAE, safety checker) and adds the allowance below; see
  docs/placement.md for what SD 1.5 gets on each size of GPU.
"""

from __future__ import annotations

from autopipe_core import GiB
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import half_precision_plan as plan  # noqa: F401 - the family's autopipe_load_plan

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

#: The family's autopipe_footprint: at the checkpoint's native size unless the call says (512 for SD 1.x, 768 for SD 2.x-768).
ALLOWANCE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=REFERENCE, fixed=FIXED, native=("unet", "sample_size", VAE_SCALE),
    what="UNet activations at batch 2 and the VAE decode",
)
