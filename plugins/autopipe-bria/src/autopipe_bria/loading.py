"""How BRIA 3.x and FIBO load on each kind of device, and what a call needs besides the weights.

BRIA 3.x (:func:`plan`, :data:`ALLOWANCE`)
------------------------------------------

**dtype: bfloat16 where the device has it.** BRIA's model cards (BRIA-3.1,
BRIA-3.2) and diffusers' BriaPipeline example load it with
``torch_dtype=torch.bfloat16``; the transformer is published as float32
files (BRIA-3.2's transformer index: 15,142,677,568 bytes, about 3.79 B
parameters) and the T5 encoder as float16 with its ``wo`` layers in float32
(11,537,887,232 bytes), with no fp16 or bf16 weight variant beside them. So:

- a CPU: float32 (:data:`autopipe_core.toolkit.plans.CPU_REASON`);
- an accelerator with bfloat16: bfloat16, from the files the checkpoint has;
- one without (a T4, a V100): float16, the only half precision it has. transformers then keeps T5's feed-forward
  output layers (``wo``, ``T5PreTrainedModel._keep_in_fp32_modules``) in float32, which :data:`ALLOWANCE` counts;
  under bfloat16 transformers keeps nothing in float32 (``_keep_in_fp32_modules`` applies to float16 only), as the
  model cards load it. (diffusers' BriaPipeline docstring goes further and moves ``wo`` to float32 by hand under
  bfloat16; the model cards do not, and neither does this plan: a caller who wants it does it after loading.)
- the VAE in float32 on every accelerator: BriaPipeline's constructor moves a VAE whose config has no
  ``shift_factor`` (BRIA's: ``null``) to float32 itself (diffusers 0.42.1, ``BriaPipeline.__init__``), and
  diffusers' example says BRIA's VAE "is not supported in mixed precision". Loading it in float32 makes the plan
  count what the pipeline holds (0.31 GiB for SDXL's VAE) and moves nothing after loading.

Nothing is left out: T5-XXL is BRIA's only text encoder (no CLIP to fall back on).

**Activation allowance**, at 1024x1024, BriaPipeline's default size
(``default_sample_size`` 64 x ``vae_scale_factor`` 16) and BRIA's training
resolution (its cards: "resolution should overall consist approximately
1024*1024"): see :data:`ALLOWANCE`. An estimate from the shapes, not a GPU
measurement.

BRIA-3.2's published transformer entry (:func:`from_pretrained`, :data:`OWN`)
---------------------------------------------------------------------------

briaai/BRIA-3.2's and BRIA-3.1's model_index.json name the transformer
``["transformer_bria", "BriaTransformer2DModel"]``, the module of BRIA's old
remote code (``transformer_bria.py`` at the repository's root). diffusers
0.42.1 cannot load that entry ("transformer_bria is not one of the libraries
Diffusers can load components from", even with ``transformer=`` passed), but
it has ``BriaTransformer2DModel`` itself, and the weights and
``transformer/config.json`` are that class's. So the family declares the
entry as loaded by itself (``FamilySpec.loads_itself``) and loads it with
diffusers' class through :mod:`autopipe_core.toolkit.own_components`; nothing
named ``transformer_bria`` is imported. A checkpoint without the entry (one
saved by diffusers: ``["diffusers", "BriaTransformer2DModel"]``) is left to
diffusers' own loading.

FIBO and FIBO Edit (:func:`fibo_plan`, :data:`FIBO_ALLOWANCE`)
-------------------------------------------------------------

bfloat16 where the device has it (float16 elsewhere, float32 on a CPU), every
component alike, as diffusers' BriaFiboPipeline and BriaFiboEditPipeline
examples and BRIA's FIBO cards load them (``torch_dtype=torch.bfloat16``).
Nothing is kept in float32: both pipelines hand Wan's VAE latents in the
transformer's dtype (BriaFiboPipeline decodes ``latents`` as they are), so a
float32 VAE beside a bfloat16 transformer would fail at the decode, and
transformers keeps no SmolLM3 module in float32. Nothing is left out: SmolLM3
is FIBO's only text encoder. The activation allowance is at 1024x1024, the
pipelines' default (``default_sample_size`` 64 x ``vae_scale_factor`` 16): see
:data:`FIBO_ALLOWANCE`, an estimate (no GPU here).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from autopipe_core import DeviceFacts, GiB, Identity, LoadPlan
from autopipe_core.toolkit import own_components
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import half_precision_plan

from . import PUBLISHED_TRANSFORMER

#: The entry the family loads itself (its FamilySpec.loads_itself) -> the class that loads it: diffusers' own.
OWN = {PUBLISHED_TRANSFORMER: "diffusers:BriaTransformer2DModel"}


def from_pretrained(pipeline_class: type, model: Any, kwargs: dict[str, Any]) -> Any:
    """The ``autopipe_from_pretrained`` hook of BRIA 3.x: a checkpoint with BRIA-3.2's published transformer entry
    loaded with diffusers' BriaTransformer2DModel (see the module), the pipeline returned; None for any other
    checkpoint (diffusers' own loading). Raises what diffusers raises loading the rest."""
    return own_components.from_pretrained(OWN, pipeline_class, model, kwargs)

#: BriaPipeline's default height and width (diffusers 0.42.1), BRIA's training resolution.
REFERENCE = 1024

#: transformers' T5 keeps these in float32 under float16 (T5PreTrainedModel._keep_in_fp32_modules).
T5_KEEP_FLOAT32 = ("wo",)

#: Why the plan loads the VAE in float32 on an accelerator.
VAE_IN_FLOAT32 = (
    "BriaPipeline moves a VAE whose config has no shift_factor (BRIA's) to float32 when it is built, and diffusers' "
    "BriaPipeline example keeps BRIA's VAE in float32 ('not supported in mixed precision')"
)

#: A 1024x1024 call in bfloat16 or float16, besides the weights. The VAE decodes in float32: SDXL's decoder there has
#: 1024x1024x128 feature maps of 512 MiB, a few alive at once, about 2.5 GiB (as autopipe-sdxl and autopipe-auraflow
#: count the same decode). The transformer (2,304 wide, 4,096 image and 128 text tokens at batch 2 for classifier-free
#: guidance, a 4x feed-forward network, scaled-dot-product attention) stays well below 1 GiB and is freed before the
#: decode. Plus 0.5 GiB of cuBLAS workspace and allocator slack. An estimate, not a measurement (no GPU here).
ALLOWANCE = Allowance(
    at=5 * GiB // 2, reference=REFERENCE, fixed=GiB // 2, default=REFERENCE,
    what="the transformer at batch 2 (classifier-free guidance) and the VAE decode in float32",
    float32_modules={"text_encoder": T5_KEEP_FLOAT32},
)


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The ``autopipe_load_plan`` hook: float32 on a CPU; bfloat16 (else float16) on an accelerator, the VAE in float32.

    The weight variant is the dtype's own where the checkpoint has such files
    (:func:`autopipe_core.toolkit.plans.weight_files`), else the plain ones;
    the placement is "device", which the core replaces with the one it plans.
    """
    half = half_precision_plan(identity, device, prefer="bfloat16", keep_float32={"vae": VAE_IN_FLOAT32})
    if not device.accelerated:
        return half
    return replace(half, reason=f"{half.reason}; bfloat16 where the device has it, as BRIA's model cards load it")


#: A 1024x1024 FIBO call in bfloat16, besides the weights. An estimate from the shapes, not a measurement: Wan 2.2's
#: decoder (a 256-wide base, causal 3D convolutions with their caches) at 1024x1024 has feature maps of 512 MiB in
#: bfloat16, several alive at once: about 2.5 GiB. The transformer sees 4,096 image tokens (16x VAE, patch 1) beside a
#: JSON prompt of up to 3,000 SmolLM3 tokens, at batch 2 for classifier-free guidance, and SmolLM3 keeps every hidden
#: state of the prompt for the transformer's per-layer text input: about 1 GiB more. Plus 0.5 GiB of workspace and slack.
FIBO_ALLOWANCE = Allowance(
    at=7 * GiB // 2, reference=REFERENCE, fixed=GiB // 2, default=REFERENCE,
    what="the transformer at batch 2 with a long JSON prompt, SmolLM3's hidden states and Wan's VAE decode",
)


def fibo_plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The ``autopipe_load_plan`` hook of FIBO: float32 on a CPU; bfloat16 (else float16) on an accelerator, every component alike.

    The weight variant is the dtype's own where the checkpoint has such files,
    else the plain ones; the placement is "device", which the core replaces.
    """
    half = half_precision_plan(identity, device, prefer="bfloat16")
    if not device.accelerated:
        return half
    return replace(half, reason=(
        f"{half.reason}; bfloat16 where the device has it, as BRIA's FIBO cards load it; "
        "the VAE in the same dtype: the pipelines hand it latents in the transformer's dtype"
    ))
