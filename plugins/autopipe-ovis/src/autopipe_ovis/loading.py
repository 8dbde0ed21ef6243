"""How Ovis-Image loads on each kind of device, and what a call needs besides the weights.

The weights (AIDC-AI/Ovis-Image-7B), counted with diffusers' and transformers'
own classes on the meta device, not read from the repository (there is no
network here; docs/ovis.md): the transformer at OvisImageTransformer2DModel's
default settings, which are Ovis-Image-7B's (3072 wide, 6 double-stream and
27 single-stream blocks), 7.37 B parameters (13.7 GiB in bfloat16); the text
encoder, Ovis2.5-2B's language model (a Qwen3 2048 wide, which the
transformer's ``joint_attention_dim`` 2048 takes; Qwen3-1.7B's shape assumed),
about 1.72 B (3.2 GiB); the 16-channel VAE about 84 M if it is FLUX.1's, as
its 16 latent channels and 2 x 2 packing say: about 17 GiB in bfloat16. The planner counts the real files' headers, never these figures.

- **CPU**: float32 (the toolkit's plan: half-precision kernels there are slow
  or missing); about 37 GB of RAM.
- **An accelerator with bfloat16** (``DeviceFacts.bf16``): bfloat16, the
  dtype diffusers' OvisImagePipeline example loads it in
  (``torch_dtype=torch.bfloat16``), from ``bf16`` weight files where the
  checkpoint has some, else its plain files.
- **An accelerator without bfloat16** (a T4, a V100): float32, not float16
  (:data:`NO_FLOAT16`). Ovis-Image's transformer is FLUX.1's double- and
  single-stream design, whose activations overflow float16 (NaN latents,
  black images: diffusers issue 9096), no float16 run of Ovis-Image is
  published, and OvisImagePipeline draws its latents in the text encoder's
  output dtype and hands them to the transformer uncast, so the whole
  pipeline has one dtype: the planner offloads what does not fit.
- **No float32 modules**: neither transformers' Qwen3 nor diffusers'
  OvisImageTransformer2DModel keeps modules in float32
  (``_keep_in_fp32_modules`` is None; tests/test_ovis_plugin.py checks it).
- **The memory saver**: the core's rules. The Qwen3 encoder (3.2 GiB) runs
  once per prompt before the transformer (13.7 GiB) denoises, so where the
  whole pipeline does not fit but the transformer with the allowance does
  (a 16 GiB GPU) the rules plan ``model_cpu_offload``, which is that saver;
  the pipeline cannot run without its encoder, so nothing is left out.

Nothing here imports torch: plans are made from the checkpoint's JSON and
weight-file headers and the device's facts.
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import CPU_REASON, bfloat16_plan

#: Why a device without bfloat16 gets float32 (said in the plan's reason).
NO_FLOAT16 = (
    "float32, not float16: Ovis-Image's transformer is FLUX.1's double- and single-stream MMDiT, which overflows in float16 "
    "(NaN latents, black images: diffusers#9096), and OvisImagePipeline runs the transformer in the text encoder's dtype"
)
#: What a float32 load takes in RAM, for the CPU plan's reason: about 9.2 B parameters x 4 bytes.
CPU_RAM = "Ovis-Image-7B then needs about 37 GB of RAM"

#: OvisImagePipeline's default side: its ``default_sample_size`` 128 latents x the VAE's 8 (diffusers 0.42.1).
NATIVE = 1024

#: Besides the weights, a 1024x1024 call in bfloat16. The VAE decode peaks highest: FLUX.1's decoder (128 to 512 channels)
#: works at full resolution on 256- and then 128-channel maps (512 and 256 MiB each in 16 bits, two or three alive at once),
#: about 1.25 GiB. The transformer runs twice a step (the prompt and the negative prompt, one after the other, not as a batch)
#: over 4,096 image and 256 text tokens, 3072 wide: 25 MiB a hidden state, the single-stream blocks' 12,288-wide MLP and
#: q, k, v well under 0.5 GiB. The Qwen3 encoder reads 284 tokens (256 + the 28 of the template it drops). An estimate
#: from those shapes, not measured on a GPU (none was at hand): 1.5 GiB, and 0.5 GiB fixed for cuBLAS workspace and slack.
ACTIVATION_AT_NATIVE = 3 * GiB // 2
FIXED = GiB // 2

#: The family's autopipe_footprint: the allowance at 1024x1024 unless the call says, scaled by its pixels and the dtype.
ALLOWANCE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=NATIVE, fixed=FIXED, default=NATIVE,
    what="the VAE decode at full resolution and the MMDiT over 4096 image and 256 text tokens",
)


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The ``autopipe_load_plan`` hook: float32 on a CPU, bfloat16 on an accelerator that has it, float32 on one that has not.

    Placement "device": the core plans the real one from the weights' sizes and :data:`ALLOWANCE`.
    """
    return bfloat16_plan(identity, device, NO_FLOAT16, on_cpu=f"{CPU_REASON} ({CPU_RAM})")
