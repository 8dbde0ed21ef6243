"""How AuraFlow loads on each kind of device, and what a call needs besides the weights.

**dtype: float16, as published.** fal publishes AuraFlow's weights as
float32 files with float16 ones beside them (``variant="fp16"``, "to speedup
loading and relax memory constraints"), and both fal's model cards and
diffusers' AuraFlowPipeline example load it with ``torch_dtype=torch.float16``
(``variant="fp16"``). There is no bfloat16 release, and none of them
documents a bfloat16 run, so unlike the families trained and published in
bfloat16 (SD 3.5, FLUX.1, Lumina) AuraFlow loads in float16 on every
accelerator, bfloat16 or not:

- a CPU: float32 (:data:`autopipe_core.toolkit.plans.CPU_REASON`);
- an accelerator: float16, from the fp16 files where the checkpoint has them
  (half the download of the float32 ones);
- the VAE in float32 when its config says ``force_upcast`` (SDXL's VAE,
  AuraFlow's, overflows in float16: black images). diffusers' AuraFlowPipeline
  would otherwise move it to float32 itself at the first decode and keep it
  there (its deprecated ``upcast_vae``), with a warning at every call and 0.16
  GiB the plan did not count; loaded in float32 it decodes the latents it
  casts to the VAE's dtype, and nothing moves;
- transformers keeps Pile-T5-XL's feed-forward output layers (``wo``,
  ``UMT5PreTrainedModel._keep_in_fp32_modules``) in float32 under float16:
  :data:`UPCAST_VAE` counts the text encoder again with them in float32.

Nothing is left out: Pile-T5-XL is AuraFlow's only text encoder.

**Activation allowance**, at 1024x1024 (AuraFlowPipeline's default size,
whatever the transformer's ``sample_size`` of 64 says): see :data:`UPCAST_VAE`.
"""

from __future__ import annotations

from dataclasses import replace

from autopipe_core import DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import half_precision_plan

#: AuraFlowPipeline's default height and width (diffusers 0.42.1), and what AuraFlow is trained at.
REFERENCE = 1024

#: transformers' UMT5 keeps these in float32 under float16 (UMT5PreTrainedModel._keep_in_fp32_modules).
UMT5_KEEP_FLOAT32 = ("wo",)

_WHAT = "the transformer at batch 2 and {decode}"

#: A 1024x1024 call in float16, besides the weights, with the VAE decoding in float32 (force_upcast). An estimate
#: from the shapes, not a GPU measurement (docs/auraflow.md): SDXL's decoder in float32 has 1024x1024x128 feature
#: maps of 512 MiB, a few alive at once: about 2.5 GiB, as autopipe-sdxl counts the same decode. The transformer
#: (3072 wide, 4,096 image, 256 text and 8 register tokens at batch 2 for classifier-free guidance, an 8192-wide
#: feed-forward network, scaled-dot-product attention) stays below 1 GiB. Plus 0.5 GiB of cuBLAS workspace and slack.
UPCAST_VAE = Allowance(
    at=5 * GiB // 2, reference=REFERENCE, fixed=GiB // 2, default=REFERENCE,
    what=_WHAT.format(decode="the VAE decode in float32 (force_upcast)"), float32_modules={"text_encoder": UMT5_KEEP_FLOAT32},
)
#: A VAE that decodes in the pipeline's dtype (a float16-safe one, or a float32 or bfloat16 plan): half the decode's peak.
SAME_DTYPE_VAE = replace(UPCAST_VAE, at=3 * GiB // 2, what=_WHAT.format(decode="the VAE decode"))


def vae_force_upcast(identity: Identity) -> bool | None:
    """The VAE config's force_upcast (AutoencoderKL's default, True, when the key is absent); None if the config was not read."""
    config = identity.configs.get("vae")
    if config is None:
        return None
    return config.get("force_upcast", True) is not False


def plan(family: str, identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The ``autopipe_load_plan`` hook: float32 on a CPU, float16 on any accelerator (the module's docstring); placement "device".

    The VAE stays float32 unless its config says ``force_upcast: false``
    (a config that was not read counts as SDXL's, which says true).
    """
    half = half_precision_plan(identity, device)
    if not device.accelerated:
        return half
    published = "as fal publishes AuraFlow (fp16 files) and diffusers' AuraFlowPipeline example loads it, bfloat16 or not"
    if vae_force_upcast(identity) is False:
        return replace(half, reason=f"{half.reason}, every component, {published}")
    said = "its config says force_upcast" if vae_force_upcast(identity) else "its config was not read; SDXL's says force_upcast"
    why = f"VAE in float32: {said}, and SDXL's VAE overflows in float16 (black images)"
    return replace(half, component_dtypes={"vae": "float32"}, reason=f"{half.reason}, {published}; {why}")


def footprint(family: str, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The ``autopipe_footprint`` hook: the allowance at width x height (None: 1024), smaller when the VAE decodes in the plan's dtype."""
    upcast = plan.dtype == "float16" and plan.component_dtypes.get("vae") == "float32"
    return (UPCAST_VAE if upcast else SAME_DTYPE_VAE).footprint(identity, plan, footprint, width, height)
