"""How the Qwen-Image families load on each kind of device, and what a call needs besides the weights.

- CPU: float32 (the toolkit's plan: half-precision kernels there are slow or missing).
- An accelerator with bfloat16: bfloat16, the dtype Qwen-Image is trained and
  shipped in (Qwen/Qwen-Image's files hold BF16 tensors), from ``bf16`` weight
  files where a checkpoint has them, else its plain files.
- An accelerator without bfloat16 (a T4, a V100, an older MPS): float32, not
  float16. Qwen-Image's transformer overflows in float16 (its latents turn to
  NaN and the image comes out black: Comfy-Org/ComfyUI issue 10751), which is
  why ComfyUI runs the model only in bfloat16 or float32; diffusers' Qwen
  pipelines hand the text encoder's dtype to the transformer's inputs, so a
  float32 transformer under a float16 text encoder fails with a dtype
  mismatch. The whole pipeline is then float32, and the planner offloads what
  does not fit.
- The memory saver: Qwen-Image's Qwen2.5-VL-7B text encoder (8.3 B parameters,
  15.4 GiB in bfloat16) runs once per prompt, before the 20 B transformer
  (38 GiB) denoises. The core's rules plan ``model_cpu_offload`` when the whole
  pipeline does not fit but the transformer and the allowance do (a 48 GiB
  GPU), which is exactly the saver: the text encoder comes to the GPU to
  encode, goes back to the CPU, and only then the transformer comes. No
  component-aware override beats it: keeping the transformer resident with
  diffusers' ``_exclude_from_cpu_offload`` would put the text encoder on the
  GPU beside it while it encodes (the whole pipeline again at the peak), and
  the pipeline cannot leave the encoder out (no second encoder; pass
  ``prompt_embeds`` and ``text_encoder=None`` yourself to do without it).
  So this plugin has no ``autopipe_placement``; see docs/qwenimage.md.
"""

from __future__ import annotations

from dataclasses import replace

from autopipe_core import DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import bfloat16_plan

from . import QWENIMAGE21

#: Why a device without bfloat16 gets float32 (said in the plan's reason).
NO_FLOAT16 = (
    "float32, not float16: Qwen-Image's transformer overflows in float16 (NaN latents, black images: Comfy-Org/ComfyUI#10751), "
    "and its pipelines cannot run a float32 transformer under a float16 text encoder"
)


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The LoadPlan: float32 on a CPU, bfloat16 on an accelerator that has it, float32 on one that has not."""
    return bfloat16_plan(identity, device, NO_FLOAT16)


#: The side diffusers draws at when the call gives none: QwenImagePipeline's default_sample_size (128) times its VAE's
#: 8x compression, and QwenImage21Pipeline's output_resolution. (Qwen's own recommended 1:1 size is 1328x1328: pass it.)
NATIVE = 1024

#: Besides the weights, a 1024x1024 call in bfloat16: the VAE decode peaks highest. Qwen-Image's decoder (the Wan 2.1 VAE
#: layout, AutoencoderKLQwenImage) runs its last blocks at full resolution, 96 channels wide (192 before the last
#: upsampling), where each feature map is 1024 x 1024 x 96 x 2 bytes = 192 MiB, and its causal convolutions keep a cached
#: frame of each of their inputs: about 7 full-resolution convolutions' caches (1.3 GiB) and the 512x512 stage's (0.7 GiB)
#: are alive with the working maps at the peak, about 3.5 GiB. The transformer's activations at 4,096 image tokens
#: (64 x 64 patches of 2 x 2 latents) and 3,072 wide stay below 1 GiB with scaled-dot-product attention; the text
#: encoder's, over a few hundred tokens, are negligible. An estimate from the architecture, not a measurement (no GPU
#: was at hand): 4 GiB, and 1 GiB fixed for cuBLAS workspace and allocator slack beside 40 GiB of weights.
ACTIVATION_AT_NATIVE = 4 * GiB
FIXED = GiB

#: Qwen-Image 2.1's VAE decoder is 144 channels wide at full resolution where Qwen-Image's is 96 (decoder_base_dim): half
#: as much again for the decode.
ACTIVATION_AT_NATIVE_21 = 6 * GiB

ALLOWANCE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=NATIVE, fixed=FIXED, default=NATIVE,
    what="the VAE decode's full-resolution feature maps and causal-convolution caches, and the transformer's activations",
)
ALLOWANCE_21 = replace(ALLOWANCE, at=ACTIVATION_AT_NATIVE_21)


def footprint(family: str, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The activation allowance at width x height (default: 1024 x 1024), in the plan's dtype."""
    allowance = ALLOWANCE_21 if family == QWENIMAGE21 else ALLOWANCE
    return allowance.footprint(identity, plan, footprint, width, height)
