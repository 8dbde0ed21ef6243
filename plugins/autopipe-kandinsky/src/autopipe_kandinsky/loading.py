"""How Kandinsky loads on each kind of device.

- CPU: float32 (float16 kernels there are slow or missing).
- An accelerator: float16, from the fp16 weight files when the checkpoint has
  them (kandinsky-community's decoders and priors ship ``.fp16.`` files).
- Placement: planned by the core from the weights' headers, the decoder's
  and the prior's: a decoder folder loads as the combined pipeline, whose
  prior lives in the folder or repo its model card names, so
  :func:`footprint` counts that one too (as ``prior_<component>``), from
  its folder or, for a hub repo id, its headers through huggingface_hub. A
  prior passed as objects (``prior_prior=`` ...) is counted by the core.
- Several GPUs: diffusers cannot place a connected (combined) pipeline with
  ``device_map="balanced"`` ("device_map is not yet supported for connected
  pipelines"), so :func:`placement` replaces "balanced" by the one-GPU rule.

The activation allowance: about 2 GiB for a 768x768 call in float16 (UNet
attention at batch 2 and the MoVQ decode), of which 0.5 GiB is fixed
(cuBLAS workspace, allocator slack); the prior's are small.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from autopipe_core import ComponentBytes, DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.planning import choose, count_folder, count_hub
from autopipe_core.specs import class_name
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import half_precision_plan

from . import COMBINED, DECODER_ONLY, PRIOR_COMPONENTS

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


def _prior_source(identity: Identity) -> str | None:
    """The prior the decoder's model card names: a local folder or a hub repo id; None without a card entry.

    A decoder on the hub has its card (README.md, a few KiB) fetched through
    the hub cache, as diffusers does when it loads the combined pipeline.
    """
    from .connected import card_priors, resolve_prior

    if identity.origin == "folder":
        priors = card_priors(Path(identity.reference))
        return resolve_prior(Path(identity.reference), priors[0]) if priors else None
    if identity.origin == "hub":
        from huggingface_hub import hf_hub_download

        card = Path(hf_hub_download(identity.reference, "README.md"))
        priors = card_priors(card.parent)
        return priors[0] if priors else None
    return None


def _count_prior(identity: Identity, plan: LoadPlan, missing: list[str]) -> list[ComponentBytes]:
    """The prior's components, as prior_<name>, from the folder or hub repo the card names; one unknown entry if it cannot be read."""
    try:
        source = _prior_source(identity)
    except Exception as exc:  # offline, no card in the cache
        return [ComponentBytes("prior", None, None, plan.dtype, f"unknown: the decoder's model card could not be read ({type(exc).__name__}: {exc})")]
    if source is None:
        return [ComponentBytes("prior", None, None, plan.dtype, "unknown: the decoder's model card names no prior")]
    if Path(source).is_dir():
        return count_folder(source, plan, missing, label_prefix="prior_")
    try:
        return count_hub(source, plan, missing, label_prefix="prior_")
    except Exception as exc:  # offline, gated
        return [ComponentBytes("prior", None, None, plan.dtype, f"unknown: the prior {source} could not be read from the hub ({type(exc).__name__}: {exc})")]


def loads_combined(family: str, identity: Identity) -> bool:
    """Whether the checkpoint loads as a combined pipeline whose prior is not in its own model_index.json."""
    decoders = {class_name(ref) for ref in DECODER_ONLY[family].values()}
    return identity.class_name in decoders


def footprint(family: str, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The prior's weights (from the folder the card names) and the activation allowance at width x height."""
    if loads_combined(family, identity):
        missing = [c for c in PRIOR_COMPONENTS if footprint.component(f"prior_{c}") is None]
        if missing and not any(c.name.startswith("prior_") for c in footprint.components):  # none passed as objects
            for c in _count_prior(identity, plan, missing):
                footprint = footprint.with_component(c)
    return ALLOWANCE.footprint(identity, plan, footprint, width, height)


def placement(family: str, identity: Identity, device: DeviceFacts, footprint: Footprint, plan: LoadPlan) -> LoadPlan | None:
    """A combined pipeline cannot be balanced by diffusers: the one-GPU rule instead."""
    combined = {class_name(ref) for ref in COMBINED[family].values()}
    if plan.placement != "balanced" or not (loads_combined(family, identity) or identity.class_name in combined):
        return None
    single = choose(footprint, replace(device, count=1))
    return replace(plan, placement=single.placement, reason=(
        f"{plan.reason.split('; ')[0]}; {single.reason}; not balanced over {device.count} GPUs: "
        "diffusers does not support device_map for connected (combined) pipelines"
    ))
