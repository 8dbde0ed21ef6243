"""How CogView3-Plus and CogView4 load on each kind of device, and what a call needs besides the weights.

**dtype: bfloat16, as trained and published.** diffusers' converters for both
families save in bfloat16 by default "because CogView3/CogView4 uses bfloat16
for Training" (scripts/convert_cogview3_to_diffusers.py and
scripts/convert_cogview4_to_diffusers.py), and the example of each of
CogView3PlusPipeline, CogView4Pipeline and CogView4ControlPipeline loads
THUDM's checkpoint with ``torch_dtype=torch.bfloat16``. CogView4's text
encoder is GLM-4-9B, a bfloat16 language model. So:

- a CPU: float32 (:data:`autopipe_core.toolkit.plans.CPU_REASON`);
- an accelerator with bfloat16 (``DeviceFacts.bf16``): bfloat16, every
  component, from bf16 weight files where the checkpoint has some, else from
  its plain ones;
- an accelerator without it (a T4, a V100): float32. Neither family
  documents a float16 run (no float16 release, no float16 example), and
  autopipe does not guess that GLM-4's or the DiTs' activations fit float16's
  range. The core's placement then offloads what does not fit. (T5's ``wo``
  layers, which transformers keeps in float32 under float16 only, are never
  in play: no plan here loads float16.)

Both pipelines decode in the VAE's dtype without upcasting it (diffusers
0.42.1), as diffusers' own examples run them in bfloat16. Nothing is left
out: each family has one text encoder, which its prompts cannot do without.
The memory saver THUDM's model cards give, model CPU offload (with VAE
slicing and tiling), is the core's placement: it is chosen when the weights
and the allowance do not fit.

**Activation allowance** (:data:`ALLOWANCE`), at the native side (the
transformer's ``sample_size`` x 8: 1024 px for THUDM's checkpoints) unless the
call says.
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import bfloat16_plan

#: Pixels per latent pixel: CogView's VAE has four levels (three 2x downsamplings), as both pipelines compute it.
VAE_SCALE = 8
#: The side the allowance is stated at: both families' usual 1024x1024 (sample_size 128 x 8).
REFERENCE = 1024

#: Why no float16, for the reason of a plan on an accelerator without bfloat16.
NO_FLOAT16 = (
    "float32, every component: CogView is trained and published in bfloat16 (diffusers' converters and examples), and "
    "no float16 run of these weights is documented"
)

#: A 1024x1024 call in half precision, besides the weights. An estimate from the shapes, not a GPU measurement (no GPU
#: was available; docs/cogview.md): the VAE decode peaks highest (CogView's decoder has 128 channels at the image's size
#: in its last level, 256 MiB a feature map in 16 bits, several alive at once: 1.5 GiB, as autopipe-sdxl counts a
#: float16-safe SDXL decode); the transformer, 4,096 image tokens at 1024 px with scaled-dot-product attention, stays
#: below it: CogView4's (4096 wide) runs the prompt and the negative prompt one after the other at batch 1 with at most
#: 1,024 text tokens, CogView3-Plus's (2560 wide) both at batch 2 with 224: a few hundred MiB either way. Plus 0.5 GiB
#: of cuBLAS workspace and allocator slack.
ALLOWANCE = Allowance(
    at=3 * GiB // 2, reference=REFERENCE, fixed=GiB // 2, native=("transformer", "sample_size", VAE_SCALE),
    what="the VAE decode and the transformer",
)


def plan(family: str, identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The ``autopipe_load_plan`` hook: float32 on a CPU, bfloat16 where the device has it, else float32 (the module's docstring).

    Placement stays "device": the core plans the real one from the weights'
    headers and :data:`ALLOWANCE`. Decides from `identity` (its file list)
    and `device` alone.
    """
    return bfloat16_plan(identity, device, NO_FLOAT16, why="every component, as CogView is trained and diffusers' examples load it")


def footprint(family: str, identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The ``autopipe_footprint`` hook: :data:`ALLOWANCE` at width x height (None: the native side, from the transformer's config)."""
    return ALLOWANCE.footprint(identity, plan, footprint, width, height)
