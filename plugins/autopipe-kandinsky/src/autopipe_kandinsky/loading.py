"""How Kandinsky loads on each kind of device.

- CPU: float32 (float16 kernels there are slow or missing).
- An accelerator: float16, from the fp16 weight files when the checkpoint has
  them (kandinsky-community's decoders and priors ship ``.fp16.`` files).
- Placement: planned by the core from the weights' headers, the decoder's
  and the prior's: a decoder folder loads as the combined pipeline, whose
  prior lives in the folder or repo its model card names, so
  :func:`footprint` counts that one too (as ``prior_<component>``), from
  its folder or, for a hub repo id, its headers through huggingface_hub
  (the core toolkit's ``connected.with_prior``). A prior passed as objects
  (``prior_prior=`` ...) is counted by the core.
- Several GPUs: diffusers cannot place a connected (combined) pipeline with
  ``device_map="balanced"`` ("device_map is not yet supported for connected
  pipelines"), so :func:`placement` replaces "balanced" by the one-GPU rule.

The activation allowance: about 2 GiB for a 768x768 call in float16 (UNet
attention at batch 2 and the MoVQ decode), of which 0.5 GiB is fixed
(cuBLAS workspace, allocator slack); the prior's are small.
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.toolkit import connected
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import half_precision_plan

from .connected import CONNECTIONS

#: Latent pixels per UNet sample: MoVQ downsamples by 8 (sample_size 96 -> 768x768).
MOVQ_SCALE = 8
#: The side the allowance is stated at; it scales with the pixels of the call.
REFERENCE = 768
ACTIVATION_AT_NATIVE = 3 * GiB // 2
FIXED = GiB // 2


#: The decoder's allowance, at the native size unless the call says (the UNet's sample_size x 8: 768).
ALLOWANCE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=REFERENCE, fixed=FIXED, native=("unet", "sample_size", MOVQ_SCALE),
    what="decoder UNet at batch 2 and the MoVQ decode",
)


def plan(family: str, identity: Identity, device: DeviceFacts) -> LoadPlan:
    """dtype and weight variant, the same for both families; placement "device" (the core plans it from the weights' sizes)."""
    return half_precision_plan(identity, device)


def footprint(family: str, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The prior's weights (from the folder the card names) and the activation allowance at width x height."""
    return ALLOWANCE.footprint(identity, plan, connected.with_prior(CONNECTIONS[family], identity, plan, footprint), width, height)


def placement(family: str, identity: Identity, device: DeviceFacts, footprint: Footprint, plan: LoadPlan) -> LoadPlan | None:
    """A combined pipeline cannot be balanced by diffusers: the one-GPU rule instead."""
    return connected.not_balanced(CONNECTIONS[family], identity, device, footprint, plan)
