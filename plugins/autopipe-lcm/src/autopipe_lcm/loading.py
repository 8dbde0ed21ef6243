"""How a latent consistency model loads: dtype and weight variant here, placement planned by the core from the weights' headers.

An LCM checkpoint is Stable Diffusion 1.x's size (LCM_Dreamshaper_v7: an
860M-parameter UNet, a CLIP ViT-L/14 text encoder, SD's VAE and its safety
checker; about 2 GiB in float16), so the choices are SD's:

- CPU: float32 (float16 kernels there are slow or missing).
- An accelerator: float16, from the fp16 weight files when the checkpoint has
  them (``autopipe_core.toolkit.plans.half_precision_plan``). SD's VAE is
  safe in float16, so no component is kept in float32.
- Placement: the core counts each component's bytes in that dtype from the
  safetensors headers and adds :data:`ALLOWANCE`; see docs/placement.md and
  docs/lcm.md.
"""

from __future__ import annotations

from autopipe_core import GiB
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import half_precision_plan as plan  # noqa: F401 - the family's autopipe_load_plan

#: Latent pixels per UNet sample: SD's VAE downsamples by 8 (LCM_Dreamshaper_v7's sample_size 96 -> 768x768).
VAE_SCALE = 8

#: The side the allowance below is stated at: LCM_Dreamshaper_v7's native size. It scales with the pixels of the
#: call; without a size, the checkpoint's own native side (sample_size x 8) is used.
REFERENCE = 768

#: Besides the weights, at 768x768 in float16: an estimate, not a measurement (no GPU was at hand). The peak is
#: the VAE decode, SD's VAE at 768x768 (feature maps of 768x768x128 values, 144 MiB each in float16, several alive
#: at once). It is autopipe-sd's figure, 1 GiB at 512x512, scaled by the pixels (x 2.25): that figure also covers
#: SD's UNet at batch 2 (classifier-free guidance), while LCM's UNet runs at batch 1 (the guidance scale is an
#: embedding), so it errs on the safe side. Plus a fixed 0.5 GiB for cuBLAS workspace and allocator slack.
ACTIVATION_AT_NATIVE = 9 * GiB // 4
FIXED = GiB // 2

#: The family's autopipe_footprint: at the checkpoint's native size unless the call says (768 for LCM_Dreamshaper_v7).
ALLOWANCE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=REFERENCE, fixed=FIXED, native=("unet", "sample_size", VAE_SCALE),
    what="UNet activations at batch 1 (guidance is an embedding, not a second batch) and the VAE decode",
)
