"""How Krea 2 loads on each kind of device, and what a call needs besides the weights.

- **CPU**: float32 (the toolkit's plan: half-precision kernels there are slow or missing).
- **An accelerator with bfloat16** (``DeviceFacts.bf16``): bfloat16, the dtype
  diffusers' Krea2Pipeline example loads Krea 2 in (``torch_dtype=torch.bfloat16``),
  from ``bf16`` weight files where the checkpoint has some, else its plain files.
- **An accelerator without bfloat16** (a T4, a V100): float32, not float16
  (:data:`NO_FLOAT16`). A decision, not a measurement: no float16 run of
  Krea 2 is documented anywhere this plugin could read, its transformer is
  built to keep its RMSNorms in float32 (``_keep_in_fp32_modules``), and
  Krea2Pipeline draws its latents in the text encoder's output dtype and
  hands them to the transformer uncast, so the pipeline has one dtype; the
  planner offloads what does not fit.
- **Modules kept in float32**: diffusers loads Krea2Transformer2DModel's
  ``norm``, ``norm1``, ``norm2``, ``norm_q`` and ``norm_k`` weights in float32
  whatever ``torch_dtype`` says (``_keep_in_fp32_modules``, applied for
  bfloat16 as for float16): :func:`footprint` counts them so (the toolkit's
  Allowance recounts under float16 only). transformers' Qwen3-VL keeps nothing in float32.
- **The memory saver**: the core's rules. The Qwen3-VL encoder runs once per
  prompt before the transformer denoises, so where the whole pipeline does not
  fit but the transformer with the allowance does, the rules plan
  ``model_cpu_offload`` (Krea2Pipeline's ``model_cpu_offload_seq`` is
  text_encoder -> transformer -> vae); the pipeline cannot run without its
  encoder, so nothing is left out.

Nothing here imports torch: plans are made from the checkpoint's JSON and
weight-file headers and the device's facts.
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import bfloat16_plan

#: Why a device without bfloat16 gets float32 (said in the plan's reason).
NO_FLOAT16 = (
    "float32, not float16: Krea 2 is published and run in bfloat16 (diffusers' Krea2Pipeline example), no float16 run of it is "
    "documented, and Krea2Pipeline runs the transformer in the text encoder's dtype, so the whole pipeline has one dtype"
)

#: diffusers' Krea2Transformer2DModel._keep_in_fp32_modules (0.42.1): module names whose weights load in float32.
TRANSFORMER_KEEP_FLOAT32 = ("norm", "norm1", "norm2", "norm_q", "norm_k")

#: Krea2Pipeline's default height and width (diffusers 0.42.1).
NATIVE = 1024

#: Besides the weights, a 1024x1024 call in bfloat16. The VAE decode peaks highest: Krea 2's VAE is Qwen-Image's
#: (AutoencoderKLQwenImage), whose decoder runs its last blocks at full resolution 96 channels wide with a cached frame
#: per causal convolution: about 3.5 GiB, as autopipe-qwenimage counts the same decode. The transformer (6144 wide, 4,096
#: image and about 512 text tokens, run twice a step for guidance, one after the other) holds 54 MiB a hidden state and
#: about 0.45 GiB in its 16,384-wide SwiGLU; its attention repeats the key/value heads so that memory-efficient kernels
#: take the text mask (no 48 x 4,608^2 matrix). The Qwen3-VL encoder reads about 550 tokens. An estimate from those shapes,
#: not measured on a GPU (none was at hand): 4 GiB, and 1 GiB fixed for cuBLAS workspace and allocator slack.
ACTIVATION_AT_NATIVE = 4 * GiB
FIXED = GiB

#: The family's activation allowance: at 1024x1024 unless the call says, scaled by its pixels and the dtype.
ALLOWANCE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=NATIVE, fixed=FIXED, default=NATIVE,
    what="the Qwen-Image VAE decode at full resolution and the MMDiT over 4096 image and about 512 text tokens",
)


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The ``autopipe_load_plan`` hook: float32 on a CPU, bfloat16 on an accelerator that has it, float32 on one that has not.

    Placement "device": the core plans the real one from the weights' sizes and :func:`footprint`.
    """
    return bfloat16_plan(identity, device, NO_FLOAT16)


def footprint(identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The ``autopipe_footprint`` hook: the transformer's float32 norms counted, and :data:`ALLOWANCE` at width x height (None: 1024)."""
    from autopipe_core.planning import recount

    counted = footprint.component("transformer")
    if counted is not None and counted.dtype in ("float16", "bfloat16"):
        footprint = footprint.with_component(recount(identity, counted, TRANSFORMER_KEEP_FLOAT32))
    return ALLOWANCE.footprint(identity, plan, footprint, width, height)
