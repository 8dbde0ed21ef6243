"""How Z-Image and Z-Image-Omni load on each kind of device, and what a call needs besides the weights.

The weights (Tongyi-MAI/Z-Image-Turbo; :mod:`autopipe_zimage.architectures`):
the transformer 6.15 B parameters (11.46 GiB in bfloat16; its repository
ships it in float32, 24.6 GB), the Qwen3-4B text encoder 4.02 B (7.49 GiB;
shipped in bfloat16), FLUX.1's VAE 84 M (0.16 GiB): 19.1 GiB in bfloat16.

- **CPU**: float32 (the toolkit's plan: half-precision kernels there are slow
  or missing); about 41 GB of RAM for Z-Image-Turbo.
- **An accelerator with bfloat16** (``DeviceFacts.bf16``): bfloat16, the
  dtype Z-Image is trained in (the model card loads it so), from ``bf16``
  weight files where a checkpoint has them, else its plain files.
- **An accelerator without bfloat16** (a T4, a V100, an RTX 20xx): float32,
  not float16. Z-Image's transformer overflows in float16: its latents turn
  to NaN and the image comes out black in diffusers as in ComfyUI
  (Tongyi-MAI/Z-Image issues 14 and 15; ComfyUI and SD.Next run it in
  float16 only with clamping patches of their own). diffusers' Z-Image
  pipelines hand the text encoder's output to the transformer without a cast
  (``cap_embedder`` takes it as it is), so a float32 transformer under a
  float16 text encoder fails with a dtype mismatch: the whole pipeline is
  float32, and the planner offloads what does not fit.
- **The memory saver**: Z-Image's one text encoder (Qwen3-4B, 7.5 GiB) runs
  once per prompt, before the transformer (11.5 GiB) denoises. The core's
  rules plan ``model_cpu_offload`` when the whole pipeline does not fit but
  the transformer with the allowance does (a 16 GiB GPU: what Tongyi-MAI
  means by "fits comfortably within 16G VRAM"), which is that saver; the
  pipeline cannot run without its encoder (pass ``prompt_embeds`` yourself
  for that). So this plugin has no ``autopipe_placement``.

Nothing here imports torch: plans are made from the checkpoint's JSON and
weight-file headers and the device's facts.
"""

from __future__ import annotations

from dataclasses import replace

from autopipe_core import DeviceFacts, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import CPU_REASON, bfloat16_plan

#: Why a device without bfloat16 gets float32 (said in the plan's reason).
NO_FLOAT16 = (
    "float32, not float16: Z-Image's transformer overflows in float16 (NaN latents, black images: Tongyi-MAI/Z-Image#14), "
    "and its pipelines cannot run a float32 transformer under a float16 text encoder"
)
#: What a float32 load takes in RAM, for the CPU plan's reason: 10.26 B parameters x 4 bytes.
CPU_RAM = "Z-Image-Turbo then needs about 41 GB of RAM"


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The LoadPlan: float32 on a CPU, bfloat16 on an accelerator that has it, float32 on one that has not.

    Placement "device": the core plans the real one from the weights' sizes
    and :data:`ALLOWANCE`. ZImageOmniPipeline encodes condition images in
    bfloat16 whatever the VAE's dtype (``image.bfloat16()``), so under float32
    its image conditioning fails; the reason says so for an Omni checkpoint.
    """
    omni = identity.class_name == "ZImageOmniPipeline"
    half = bfloat16_plan(identity, device, NO_FLOAT16, on_cpu=f"{CPU_REASON} ({CPU_RAM})")
    if omni and half.dtype == "float32":
        half = replace(half, reason=half.reason + f"; {OMNI_FLOAT32}")
    return half


#: What float32 costs Z-Image-Omni (said in its plan's reason).
OMNI_FLOAT32 = (
    "ZImageOmniPipeline encodes condition images in bfloat16 whatever the VAE's dtype, so with image= it needs "
    "torch_dtype=torch.bfloat16 (text to image works in float32)"
)

#: The side diffusers draws at when the call gives none: the Z-Image pipelines' default height and width (1024).
NATIVE = 1024

#: Besides the weights, a 1024x1024 call in bfloat16 peaks at the VAE decode: FLUX.1's decoder (SD's, 128 to 512 channels)
#: works at full resolution on 256- and then 128-channel maps (512 and 256 MiB each in 16 bits, two or three alive at
#: once, plus the upsampler's output), about 1.25 GiB, and the Z-Image pipelines decode in the VAE's dtype. The
#: transformer's activations over 4,096 image tokens and up to 512 caption tokens (a single stream 3,840 wide: 36 MiB a
#: tensor, the 10,240-wide SwiGLU's three 96 MiB tensors, q, k and v) stay below 0.5 GiB at one image a call (Turbo runs
#: without guidance), about 1 GiB with guidance (Z-Image base: positive and negative in one batch). The Qwen3 encoder keeps
#: its 37 hidden states over the 512 padded tokens (2,560 wide: 90 MiB). Estimated from those shapes, not measured on a
#: GPU (none was at hand): 1.5 GiB, and 0.5 GiB fixed for cuBLAS workspace and allocator slack.
ACTIVATION_AT_NATIVE = 3 * GiB // 2
FIXED = GiB // 2

#: The family's autopipe_footprint: the allowance at 1024x1024 unless the call says, scaled by its pixels and the dtype.
ALLOWANCE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=NATIVE, fixed=FIXED, default=NATIVE,
    what="the VAE decode at full resolution and the single-stream transformer over 4096 + 512 tokens",
)
