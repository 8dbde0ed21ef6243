"""How Stable Cascade and Würstchen load on each kind of device.

Stable Cascade (trained in bfloat16; stabilityai/stable-cascade and
stable-cascade-prior ship ``.bf16.`` weight files beside the float32 ones):

- CPU: float32 (half-precision kernels there are slow or missing).
- An accelerator with bfloat16 (``DeviceFacts.bf16``): bfloat16 for both
  stages, from the bf16 files where the checkpoint has them. diffusers' docs
  (api/pipelines/stable_cascade.md): "The official checkpoints for the
  StableCascadePriorPipeline do not support the torch.float16 data type.
  Please use torch.bfloat16 instead", and StableCascadeCombinedPipeline's own
  example loads ``variant="bf16", torch_dtype=torch.bfloat16``.
- An accelerator without bfloat16 (NVIDIA before Ampere): float32 for both
  stages. The prior cannot run in float16, and the combined pipeline hands
  the prior's image embedding to the decoder as it comes
  (StableCascadeDecoderPipeline feeds it to the decoder as ``effnet``, uncast),
  so the two must share a dtype: a float32 prior beside a half-precision
  decoder fails at the decoder's first step (checked on the tiny checkpoint:
  "mat1 and mat2 must have the same dtype"). diffusers' docs' alternative (a
  float16 decoder pipeline on its own, the embeddings cast by hand) is not
  the combined pipeline an AutoPipeline gives.

Würstchen: float16 on an accelerator (diffusers' docs load
warp-ai/wuerstchen with ``torch_dtype=torch.float16``), from fp16 files where
present; float32 on the CPU.

Placement is planned by the core from the weights' headers, the decoder's and
the prior's: a decoder folder loads as the combined pipeline, whose prior
lives in the folder or repo its model card names, so :func:`footprint` counts
it too (``toolkit.connected.with_prior``: ``prior_<component>``). diffusers
cannot place a connected pipeline with ``device_map="balanced"``, so
:func:`placement` replaces "balanced" by the one-GPU rule. Neither family has
a memory saver of its own beyond the core's offloading.

The activation allowance is an estimate from the shapes, not a measurement
(no GPU was available to measure it): at 1024x1024, the size both families
are used at (the pipelines' own default call is 512x512), the decoder runs
on 256x256x4 latents (128x128 tokens of 320 channels after its 2x2 patches,
attention only at 32x32 and 16x16), the prior on 24x24, and the Paella
VQGAN's decode holds a few 512x512 maps of 192 channels and one of 768 in
its residual blocks' MLP (about 0.4 GiB in half precision): 1.5 GiB in half
precision at 1024x1024, scaling with the pixels and the dtype, plus 0.5 GiB
of cuBLAS workspace and allocator slack. Neither library keeps weights of
these models in float32 when the rest loads in half precision (no
``_keep_in_fp32_modules`` in StableCascadeUNet, the Würstchen models or CLIP).
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.toolkit import connected
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import CPU_REASON, half_precision_plan, weight_files

from . import CASCADE
from .connected import CONNECTIONS

#: The side both families are used at; the allowance is stated there.
NATIVE = 1024

ALLOWANCE = Allowance(
    at=3 * GiB // 2, reference=NATIVE, fixed=GiB // 2, default=NATIVE,
    what="the decoder's activations and the VQGAN decode (an estimate from the shapes, not measured)",
)

#: Why Stable Cascade loads in float32 on an accelerator without bfloat16.
NO_BFLOAT16 = (
    "Stable Cascade's prior does not run in float16 (diffusers' docs) and the combined pipeline hands its output to the "
    "decoder uncast, so both stages load in float32"
)


def plan(family: str, identity: Identity, device: DeviceFacts) -> LoadPlan:
    """dtype and weight variant for this checkpoint on this device (see the module); placement "device" (the core plans it)."""
    if family != CASCADE:
        return half_precision_plan(identity, device)
    if not device.accelerated:
        return LoadPlan("float32", None, "device", "cpu", CPU_REASON)
    if device.bf16:
        return half_precision_plan(identity, device, prefer="bfloat16")
    variant, files = weight_files(identity, "float32")
    return LoadPlan("float32", variant, "device", device.type, f"float32 ({device.type} has no bfloat16) from {files}: {NO_BFLOAT16}")


def footprint(family: str, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The prior's weights (from the folder or repo the decoder's card names) and the activation allowance at width x height."""
    return ALLOWANCE.footprint(identity, plan, connected.with_prior(CONNECTIONS[family], identity, plan, footprint), width, height)


def placement(family: str, identity: Identity, device: DeviceFacts, footprint: Footprint, plan: LoadPlan) -> LoadPlan | None:
    """A combined pipeline cannot be balanced by diffusers: the one-GPU rule instead (None: the rules' choice kept)."""
    return connected.not_balanced(CONNECTIONS[family], identity, device, footprint, plan)
