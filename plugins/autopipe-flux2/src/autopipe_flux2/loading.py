"""How FLUX.2 [dev] and [klein] load on each kind of device, and what a call needs besides the weights.

The weights decide it. In bfloat16 (the official repositories store bfloat16
as their plain files; parameter counts from the configs this plugin ships,
built with diffusers' and transformers' own classes):

- FLUX.2 [dev]: the transformer 32.22 B (60.0 GiB), Mistral Small 3.x
  (``Mistral3ForConditionalGeneration``, its vision tower and LM head
  included) 24.01 B (44.7 GiB), the VAE 84 M: 104.9 GiB in all;
- FLUX.2 [klein] 4B: the transformer 3.88 B (7.2 GiB), Qwen3-4B 4.02 B
  (7.5 GiB); [klein] 9B: 9.08 B (16.9 GiB) and Qwen3-8B 8.19 B (15.3 GiB).

- **dtype**: bfloat16 where the device has it (FLUX.2 is trained and shipped
  in bfloat16); float32 on a CPU; and float32, not float16, on an
  accelerator without bfloat16 (:data:`NO_FLOAT16`): FLUX.1's transformer,
  FLUX.2's ancestor, turns its latents to NaN in float16 (diffusers issue
  9096), no float16 run of FLUX.2 has been published, and FLUX.2's pipelines
  hand the text encoder's dtype to the transformer's inputs. The weight
  variant follows the files present (``half_precision_plan``).
- **No float32 modules**: neither transformers' Mistral3 nor Qwen3 keeps
  modules in float32 (``_keep_in_fp32_modules`` is None), nor do diffusers'
  Flux2Transformer2DModel and AutoencoderKLFlux2 (tests/test_flux2_plugin.py
  checks it), so the core's header counts are the loaded bytes.
- **The memory saver, decided**: offloading the text encoder, through the
  core's rules. The prompt is encoded once, before the transformer denoises;
  when the whole pipeline does not fit but the transformer with the
  allowance does, the rules plan ``model_cpu_offload`` (FLUX.2 [dev] on one
  80 GiB GPU: Mistral comes to the GPU to encode and goes back before the
  60 GiB transformer comes), and on two GPUs that can each hold one model,
  ``device_map="balanced"`` (the transformer on one, Mistral on the other).
  No component-aware override beats it: keeping the transformer resident
  (diffusers' ``_exclude_from_cpu_offload``) would put Mistral beside it while
  it encodes, the whole pipeline again at the peak. Diffusers' other saver,
  the *remote* text encoder (prompt embeddings computed elsewhere, the
  pipeline loaded with ``text_encoder=None`` and called with
  ``prompt_embeds=``), cannot be planned for the caller: a pipeline without
  its encoder cannot take ``prompt=``, which every AutoPipeline call passes.
  It stays the caller's choice, and the planner honours it: ``text_encoder=None``
  is not counted (docs/flux2.md). Quantisation (4-bit, to fit 24 GiB) is the
  caller's too (``quantization_config=``).
"""

from __future__ import annotations

from types import MappingProxyType

from autopipe_core import DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import CPU_REASON, bfloat16_plan

from . import FLUX2, KLEIN

#: Why an accelerator without bfloat16 gets float32 (said in the plan's reason).
NO_FLOAT16 = (
    "float32, not float16: FLUX.2 is trained and shipped in bfloat16, FLUX.1's transformer turns its latents to NaN in float16 "
    "(huggingface/diffusers#9096) and no float16 run of FLUX.2 is published; pass torch_dtype=torch.float16 to try it"
)

#: What a float32 load takes in RAM, for the CPU plan's reason: parameters x 4 bytes.
_CPU_RAM = MappingProxyType({
    FLUX2: "FLUX.2 [dev] then needs about 225 GB of RAM",
    KLEIN: "FLUX.2 [klein] 4B then needs about 32 GB of RAM, 9B about 69 GB",
})

#: Flux2Pipeline and the Klein pipelines draw 1024x1024 unless told (default_sample_size 128 latents x the VAE's factor 8),
#: a size written in no config: the allowance's native side.
NATIVE = 1024

#: Besides the weights, a 1024x1024 call in bfloat16 with one 1024x1024 reference image, FLUX.2 [dev]: the transformer
#: runs over 4096 image + 4096 reference + 512 text tokens, 6144 wide. A single block's fused projection is 55,296 wide
#: (q, k, v and the 2 x 18,432 SwiGLU input): 917 MiB over 8,704 tokens, with the rotary embedding's float32 copies of q
#: and k (410 MiB), the SwiGLU output (306 MiB) and the 24,576-wide concatenation (408 MiB): about 2 GiB at the peak, half
#: that without a reference. The VAE decode (FLUX.1's decoder widths, 128 to 512 channels) peaks at about 1.25 GiB, after
#: the transformer; Mistral's pass over 512 tokens (41 hidden states of 5120 kept) below 0.5 GiB. Estimated from those
#: shapes, not measured on a GPU (docs/flux2.md says so); each further reference image adds about 1 GiB.
DEV_ACTIVATION = 2 * GiB
#: FLUX.2 [klein]: the same VAE decode (1.25 GiB) and a narrower transformer (3072 wide for 4B, 4096 for 9B: about
#: 1.1 and 1.5 GiB with one reference); the base models' classifier-free guidance is a second transformer call, not a
#: batch of two. Estimated, not measured.
KLEIN_ACTIVATION = 3 * GiB // 2
#: cuBLAS workspace and allocator slack, whatever the size.
FIXED = GiB // 2

_WHAT = "the transformer over 4096 image, 4096 reference and 512 text tokens, and the VAE decode at full resolution"

ALLOWANCES = MappingProxyType({
    FLUX2: Allowance(at=DEV_ACTIVATION, reference=NATIVE, fixed=FIXED, default=NATIVE, what=_WHAT),
    KLEIN: Allowance(at=KLEIN_ACTIVATION, reference=NATIVE, fixed=FIXED, default=NATIVE, what=_WHAT),
})


def plan(family: str, identity: Identity, device: DeviceFacts) -> LoadPlan:
    """bfloat16 where the device has it, float32 on a CPU and on an accelerator without bfloat16; the variant from the files.

    Placement "device": the core plans the real one from the weights' sizes and :data:`ALLOWANCES` (the module's docstring).
    """
    return bfloat16_plan(identity, device, NO_FLOAT16, on_cpu=f"{CPU_REASON} ({_CPU_RAM[family]})")


def footprint(family: str, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The activation allowance at width x height (None: 1024x1024), in the plan's dtype."""
    return ALLOWANCES[family].footprint(identity, plan, footprint, width, height)
