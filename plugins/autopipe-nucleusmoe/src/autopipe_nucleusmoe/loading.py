"""How NucleusMoE-Image loads on each kind of device, and what a call needs besides the weights.

- **CPU**: float32 (the toolkit's plan: half-precision kernels there are slow or missing).
- **An accelerator with bfloat16** (``DeviceFacts.bf16``): bfloat16, the dtype
  diffusers' NucleusMoEImagePipeline example loads it in
  (``torch_dtype=torch.bfloat16``), from ``bf16`` weight files where the
  checkpoint has some, else its plain files.
- **An accelerator without bfloat16** (a T4, a V100): float32, not float16
  (:data:`NO_FLOAT16`). A decision, not a measurement: no float16 run of
  NucleusMoE-Image is documented, and the pipeline draws its latents in the
  text encoder's output dtype and hands them to the transformer uncast, so
  the pipeline has one dtype; the planner offloads what does not fit.
- **No float32 modules**: neither diffusers' NucleusMoEImageTransformer2DModel
  nor transformers' Qwen3-VL keeps modules in float32 (no
  ``_keep_in_fp32_modules``: tests/test_nucleusmoe_plugin.py checks it).
- **The memory saver**: the core's rules (model offload where the transformer
  and the allowance fit but the whole pipeline does not: the Qwen3-VL encoder
  runs once per prompt, before the transformer denoises).

Nothing here imports torch.
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import bfloat16_plan

#: Why a device without bfloat16 gets float32 (said in the plan's reason).
NO_FLOAT16 = (
    "float32, not float16: NucleusMoE-Image is published and run in bfloat16 (diffusers' NucleusMoEImagePipeline example), no "
    "float16 run of it is documented, and its pipeline runs the transformer in the text encoder's dtype, so the whole pipeline "
    "has one dtype"
)

#: NucleusMoEImagePipeline's default side: its default_sample_size (128 latents) x the VAE's 8 (diffusers 0.42.1).
NATIVE = 1024

#: Besides the weights, a 1024x1024 call in bfloat16. The VAE decode peaks highest: its VAE is Qwen-Image's
#: (AutoencoderKLQwenImage), about 3.5 GiB at full resolution as autopipe-qwenimage counts it. The transformer (2048 wide,
#: 4,096 image tokens and up to 1,024 text tokens, guidance as two passes) stays under 1 GiB; its expert-choice MoE
#: layers route a capacity of tokens to each of 128 experts of 1,344 wide, small beside the decode. An estimate from the
#: shapes, not measured on a GPU (none was at hand): 4 GiB, and 1 GiB fixed for cuBLAS workspace and allocator slack.
ACTIVATION_AT_NATIVE = 4 * GiB
FIXED = GiB

#: The family's activation allowance: at 1024x1024 unless the call says, scaled by its pixels and the dtype.
ALLOWANCE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=NATIVE, fixed=FIXED, default=NATIVE,
    what="the Qwen-Image VAE decode at full resolution and the MoE transformer over 4096 image and up to 1024 text tokens",
)


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The ``autopipe_load_plan`` hook: float32 on a CPU, bfloat16 on an accelerator that has it, float32 on one that has not."""
    return bfloat16_plan(identity, device, NO_FLOAT16)
