"""How FLUX.1 and Chroma load on each kind of device, and what a call needs besides the weights.

The weights decide it. FLUX.1-dev in bfloat16 (its files are stored so):

- the transformer: 11.9 B parameters, 22.2 GiB;
- T5-v1.1-XXL's encoder (text_encoder_2): 4.76 B, 8.9 GiB;
- CLIP ViT-L's text model (text_encoder): 123 M, 0.23 GiB; the VAE: 84 M, 0.16 GiB.

Chroma1-HD has an 8.9 B transformer (16.6 GiB) and the same T5 and VAE.

- **dtype**: bfloat16 where the device has it (FLUX.1 and Chroma are trained
  and shipped in bfloat16), float16 elsewhere (a pre-Ampere GPU), float32 on a
  CPU: :func:`autopipe_core.toolkit.plans.half_precision_plan` with
  ``prefer="bfloat16"``. The weight variant follows the files present; the
  official repositories ship one set of files, in bfloat16, as the plain ones.
- **T5's wo layers**: under float16, transformers keeps T5's feed-forward
  output layers in float32 (``T5PreTrainedModel._keep_in_fp32_modules``,
  "wo": 1.0 B of T5-XXL's 4.76 B parameters, 1.9 GiB more); under bfloat16
  it does not. :data:`FLUX_ALLOWANCE` counts T5 again with them in float32
  when the plan is float16 (``Allowance.float32_modules``; not
  ``half_precision_plan(keep_float32=...)``, which would load the whole
  encoder in float32, 8.9 GiB more).
- **Placement, and the memory saver FLUX is known for**: model CPU offload,
  so that T5-XXL goes to the GPU only to encode the prompt and the
  transformer only to denoise. The core's rules choose it when the largest
  model fits with the activation allowance (``autopipe_core.planning.choose``):
  the whole pipeline when it fits; else, on several GPUs, diffusers'
  ``device_map="balanced"`` when it can put each model on one (the
  transformer on one GPU, T5 on another); else ``model_cpu_offload`` when the
  transformer fits with the allowance; else sequential offload. One thing the
  rules cannot know: the allowance is the VAE decode's, and under model
  offload the VAE decodes after the transformer has left the GPU. With the
  transformer resident the call needs only the transformer's own
  activations, :data:`TRANSFORMER_ALLOWANCE`. So :func:`placement` turns the
  rules' sequential offload into model offload when every model fits with
  what it needs while it runs: FLUX.1-dev's 22.2 GiB transformer with 1 GiB
  at 1024x1024 fits a 24 GiB GPU, where the rules would stream it layer by
  layer. A placement keeping the transformer resident and moving T5 alone does
  not exist in diffusers (``enable_model_cpu_offload`` moves every model; a
  per-component device map would leave T5 on the CPU).
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from autopipe_core import DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.units import gib
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import CPU_REASON, half_precision_plan

from . import CHROMA, FLUX

#: FluxPipeline and ChromaPipeline draw 1024x1024 unless told (default_sample_size 128 latents x the VAE's factor 8), a size
#: written in no config: the allowance's native side.
NATIVE = 1024

#: Besides the weights, a 1024x1024 call in bfloat16 (or float16) peaks at the VAE decode: the decoder's last two levels
#: work at full resolution on 256- and then 128-channel maps (512 and 256 MiB each in 16 bits, two or three alive at once,
#: plus the upsampler's output), about 1.25 GiB; the transformer's activations over 4096 image + 512 text tokens (3072 wide:
#: 28 MiB a tensor, the single blocks' 15360-wide concatenation 141 MiB, rotary embeddings applied in float32) stay below
#: 1 GiB, and FluxPipeline runs one image per transformer call (dev's guidance is an input, and true CFG, when asked, is a
#: second call, not a batch of two). Estimated from those shapes, not measured on a GPU (docs/flux.md says so).
ACTIVATION_AT_NATIVE = 3 * GiB // 2
#: The transformer's own activations at 1024x1024 in 16 bits, over 4096 image + 512 text tokens 3072 wide: a single block
#: holds its input and normalised input (28 MiB each), the 12288-wide MLP activation (113 MiB), q, k, v (28 MiB each) and
#: the rotary embedding's float32 temporaries (about 250 MiB), then the 15360-wide concatenation (141 MiB); the double
#: blocks' image MLP (100 MiB, twice) and attention over the joined 4608 tokens stay below that. Estimated, not measured.
TRANSFORMER_ACTIVATION_AT_NATIVE = GiB // 2
#: cuBLAS workspace and allocator slack, whatever the size.
FIXED = GiB // 2

#: The modules transformers' T5 keeps in float32 under torch_dtype=float16 (T5PreTrainedModel._keep_in_fp32_modules).
T5_KEEP_FLOAT32 = ("wo",)

_WHAT = "the VAE decode at full resolution and the transformer over 4096 + 512 tokens, one image a call"

#: FLUX's autopipe_footprint: the allowance at 1024x1024 unless the call says, T5 (text_encoder_2) counted with its float32 layers.
FLUX_ALLOWANCE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=NATIVE, fixed=FIXED, default=NATIVE, what=_WHAT,
    float32_modules={"text_encoder_2": T5_KEEP_FLOAT32},
)
#: Chroma's: the same, its T5 being text_encoder.
CHROMA_ALLOWANCE = replace(FLUX_ALLOWANCE, float32_modules={"text_encoder": T5_KEEP_FLOAT32})

ALLOWANCES = MappingProxyType({FLUX: FLUX_ALLOWANCE, CHROMA: CHROMA_ALLOWANCE})

#: What a call needs with only the transformer on the GPU (model offload: the VAE decodes after it has left).
TRANSFORMER_ALLOWANCE = Allowance(
    at=TRANSFORMER_ACTIVATION_AT_NATIVE, reference=NATIVE, fixed=FIXED, default=NATIVE,
    what="the transformer over 4096 + 512 tokens, one image a call",
)

#: What a float32 load takes in RAM, for the CPU plan's reason: parameters x 4 bytes (FLUX.1-dev 16.8 B, Chroma1-HD 13.7 B).
_CPU_RAM = MappingProxyType({FLUX: "FLUX.1-dev then needs about 68 GB of RAM", CHROMA: "Chroma1-HD then needs about 55 GB of RAM"})


def plan(family: str, identity: Identity, device: DeviceFacts) -> LoadPlan:
    """bfloat16 where the device has it, else float16, float32 on a CPU; the weight variant from the files present.

    Placement "device": the core plans the real one from the weights' sizes and :data:`ALLOWANCES` (see the module's docstring).
    """
    return half_precision_plan(identity, device, prefer="bfloat16", on_cpu=f"{CPU_REASON} ({_CPU_RAM[family]})")


def footprint(family: str, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The activation allowance at width x height (None: 1024x1024), T5 counted with its float32 layers under float16."""
    return ALLOWANCES[family].footprint(identity, plan, footprint, width, height)


def placement(device: DeviceFacts, footprint: Footprint, plan: LoadPlan) -> LoadPlan | None:
    """Model offload where the rules chose sequential offload but each model fits with what it needs while it runs.

    Under ``enable_model_cpu_offload`` one model is on the GPU at a time: the
    transformer with its own activations (:data:`TRANSFORMER_ALLOWANCE` at the
    call's size), the VAE with the decode (the family's whole allowance), a
    text encoder with the fixed part. None (the rules' choice stands) for any
    other placement, or where a size is unknown or one of them does not fit.
    """
    if plan.placement != "sequential_cpu_offload":
        return None
    budget = device.free_bytes if device.free_bytes is not None else device.total_bytes
    act = footprint.activation
    if budget is None or footprint.unknown or not act.width or not act.height:
        return None
    own = {"transformer": TRANSFORMER_ALLOWANCE.nbytes(act.width, act.height, plan.dtype), "vae": act.nbytes}
    needs = {c.name: (c.nbytes or 0) + own.get(c.name, FIXED) for c in footprint.components}
    largest = max(needs, key=needs.__getitem__, default=None)
    if largest is None or needs[largest] > budget:
        return None
    from autopipe_core.planning import choose

    rules = choose(footprint, device)  # the plan's reason ends with the rules' reason for sequential offload: say ours instead
    loading = plan.reason.removesuffix(f"; {rules.reason}")
    with_what = {"transformer": "its own activations", "vae": "the decode"}.get(largest, "the fixed allowance")
    return replace(plan, placement="model_cpu_offload", reason=(
        f"{loading}; weights {gib(footprint.weights)} + activations {gib(act.nbytes)} at {act.width}x{act.height} exceed {gib(budget)}, "
        f"but one model at a time fits: the allowance is the VAE decode's, which under model offload runs after the transformer has "
        f"left the GPU, and the most any model needs while it runs is {largest}'s {gib(needs[largest])} (its weights with {with_what}): "
        "models go to the GPU one at a time"
    ))
