"""How Lumina-Next and Lumina-Image 2.0 load on each kind of device, and what a call needs besides the weights.

**dtype.** Both are trained in bfloat16, and everything their authors and
diffusers publish about them runs them in it: diffusers' Lumina docs load
Alpha-VLLM/Lumina-Next-SFT-diffusers with ``torch_dtype=torch.bfloat16``, its
Lumina2Pipeline example and nightly test load Alpha-VLLM/Lumina-Image-2.0 in
bfloat16. So:

- a CPU: float32 (:data:`autopipe_core.toolkit.plans.CPU_REASON`);
- an accelerator with bfloat16 (``DeviceFacts.bf16``): bfloat16, every
  component, from bf16 weight files where the checkpoint has some, else from
  its plain ones (Lumina-Image 2.0 ships float32 files);
- an accelerator without it (a T4, a V100): float32. Neither family has a
  float16 release or a documented float16 run, and their Gemma text encoders
  are bfloat16 models (Google trained Gemma and Gemma 2 in bfloat16, whose
  range float16 lacks); autopipe does not guess that their activations fit
  float16. The core's placement then offloads what does not fit.

Both pipelines decode in the VAE's dtype without upcasting it (diffusers
0.42.1), which bfloat16's range makes safe for SDXL's and FLUX.1's VAEs.
Nothing is left out: each family has one text encoder, which its prompts
cannot do without.

**Activation allowance** (:data:`ALLOWANCE`), at the native side (the
transformer's ``sample_size`` x 8: 1024 px for both) unless the call says.
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import bfloat16_plan

#: Pixels per latent pixel: both pipelines hard-code an 8x VAE (``vae_scale_factor = 8``).
VAE_SCALE = 8
#: The side the allowance is stated at: both families' usual 1024x1024.
REFERENCE = 1024

#: Why no float16, for the reason of a plan on an accelerator without bfloat16.
NO_FLOAT16 = (
    "float32, every component: Lumina is trained and published in bfloat16 only (its Gemma text encoder too), and "
    "no float16 run of these weights is documented"
)

#: A 1024x1024 call in half precision, besides the weights. An estimate from the shapes, not a GPU measurement
#: (docs/lumina.md): the VAE decode peaks highest (SDXL's decoder under Lumina-Next, FLUX.1's under Lumina 2: 128
#: channels at the image's size in the last blocks, 256 MiB a feature map in 16 bits, several alive at once, as
#: autopipe-sdxl counts a float16-safe SDXL decode: 1.5 GiB); the transformer's 4,096 image tokens and 256 caption
#: tokens at batch 2 (classifier-free guidance), 2,304 wide with scaled-dot-product attention, stay below it. Plus
#: 0.5 GiB of cuBLAS workspace and allocator slack.
ALLOWANCE = Allowance(
    at=3 * GiB // 2, reference=REFERENCE, fixed=GiB // 2, native=("transformer", "sample_size", VAE_SCALE),
    what="the VAE decode and the transformer at batch 2",
)


def plan(family: str, identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The ``autopipe_load_plan`` hook: float32 on a CPU, bfloat16 where the device has it, else float32 (the module's docstring).

    Placement stays "device": the core plans the real one from the weights'
    headers and :data:`ALLOWANCE`. Decides from `identity` (its file list)
    and `device` alone.
    """
    return bfloat16_plan(identity, device, NO_FLOAT16, why="every component, as Lumina is trained and diffusers' docs load it")


def footprint(family: str, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The ``autopipe_footprint`` hook: :data:`ALLOWANCE` at width x height (None: the native side, from the transformer's config)."""
    return ALLOWANCE.footprint(identity, plan, footprint, width, height)
