"""How DeepFloyd IF stage I loads on each kind of device.

The weights are what decide it. In float16, the largest stage I checkpoint,
IF-I-XL, holds:

- the T5-v1.1-XXL text encoder: about 4.76 B parameters, 9.5 GB (8.9 GiB);
- the UNet: 4.3 B parameters, 8.6 GB (8.0 GiB).

A call at 64x64 (batch 2 with classifier-free guidance) needs little on top:
well under 1 GiB of activations, plus cuBLAS workspace and allocator slack,
which we budget at 2 GiB. Placement is planned by the core from the weights'
headers with that allowance (docs/placement.md): IF-I-XL whole needs about
20 GiB; T5-XXL alone does not fit in 12 GiB, so below that the weights are
streamed layer by layer.

One thing the core cannot know: transformers keeps T5's feed-forward output
layers (``wo``, ``_keep_in_fp32_modules``) in float32 when the rest loads in
float16, 1.0 B of T5-XXL's 4.76 B parameters, so 2 GB more than the dtype
says. :data:`ALLOWANCE` counts the text encoder again with them in float32.
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import CPU_REASON, half_precision_plan

#: Stage I makes 64x64 images.
NATIVE = 64

#: Activations of a 64x64 call at batch 2: small next to the weights.
ACTIVATION_AT_NATIVE = GiB // 2
#: cuBLAS workspace, allocator slack, and T5's attention over 77 tokens in float32 layers.
FIXED = 3 * GiB // 2

#: The modules transformers' T5 keeps in float32 under torch_dtype=float16 (T5PreTrainedModel._keep_in_fp32_modules).
T5_KEEP_FLOAT32 = ("wo",)

#: The family's autopipe_footprint: the allowance at 64x64 unless the call says, and T5 counted with its float32 layers.
ALLOWANCE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=NATIVE, fixed=FIXED, what="the UNet at batch 2 and T5 over 77 tokens",
    float32_modules={"text_encoder": T5_KEEP_FLOAT32},
)


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """dtype and weight variant; placement "device" (the core plans the real one from the weights' sizes)."""
    return half_precision_plan(identity, device, on_cpu=f"{CPU_REASON} (IF-I-XL then needs about 36 GB of RAM)")
