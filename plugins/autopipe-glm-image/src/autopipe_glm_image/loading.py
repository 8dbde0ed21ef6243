"""How GLM-Image loads on each kind of device, and what a call needs besides the weights.

The weights, counted with transformers' and diffusers' own classes on the
meta device at their default settings (there is no network here to read
zai-org/GLM-Image's headers; docs/glm-image.md), in bfloat16:

- ``vision_language_encoder``: GlmImageForConditionalGeneration, 10.11 B
  parameters (18.8 GiB), its vision tower 1.16 B of them;
- ``transformer``: GlmImageTransformer2DModel, 2.90 B (5.4 GiB);
- ``text_encoder``: a ByT5-small-shaped T5 encoder (1472 wide, the
  transformer's ``text_embed_dim``), 0.22 B (0.4 GiB);
- ``vae``: an 8x AutoencoderKL, about 84 M.

About 25 GiB in all. The planner counts the real files' headers, never these figures.

- **dtype**: float32 on a CPU; bfloat16 on an accelerator that has it
  (diffusers' docstring loads GLM-Image in bfloat16); float32, not float16,
  on one that has not (:data:`NO_FLOAT16`). The weight variant follows the
  files present.
- **Float32 modules**: transformers keeps T5's ``wo`` projections in float32
  under float16 (``T5EncoderModel._keep_in_fp32_modules``); :data:`ALLOWANCE`
  counts them so where a plan is float16. GlmImageForConditionalGeneration,
  GlmImageTransformer2DModel and AutoencoderKL keep none.
- **The memory saver**: the core's rules (model offload where the whole does
  not fit but the largest model with the allowance does: the autoregressive
  model runs first, then the transformer, then the VAE).
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import CPU_REASON, bfloat16_plan

#: Why an accelerator without bfloat16 gets float32 (said in the plan's reason).
NO_FLOAT16 = (
    "float32, not float16: GLM-Image is loaded in bfloat16 by diffusers' own example and its GLM autoregressive model is "
    "published in bfloat16; no float16 run of it is published; pass torch_dtype=torch.float16 to try it"
)

#: What a float32 load takes in RAM, for the CPU plan's reason: the parameters above x 4 bytes.
CPU_RAM = "GLM-Image then needs about 53 GB of RAM: a 10.1B autoregressive model and a 2.9B transformer"

#: GlmImageTransformer2DModel's sample_size is in latents of the VAE's 8 pixels (its docstring: 128 x 8 = 1024).
VAE_SCALE = 8

#: Besides the weights, a 1024x1024 call in bfloat16: the transformer 2560 wide over 4,096 image tokens and the glyph
#: tokens, the prompt and the negative prompt as two passes (classifier-free guidance at the default guidance_scale 1.5),
#: under 1 GiB; the autoregressive model's prefill and cache over about 1,300 tokens (the 16 x 16 preview and the 32 x 32
#: grid) well under that; the VAE decode at full resolution (128 to 512 channels at 1024x1024), about 1.5 GiB, after the
#: transformer. An estimate from those shapes, not measured on a GPU (none was at hand): 2 GiB at 1024x1024, plus 0.5 GiB
#: fixed for cuBLAS workspace and allocator slack.
AT_NATIVE = 2 * GiB
FIXED = GiB // 2
NATIVE = 1024

ALLOWANCE = Allowance(
    at=AT_NATIVE, reference=NATIVE, fixed=FIXED, native=("transformer", "sample_size", VAE_SCALE),
    what="the autoregressive model's prior tokens, the transformer with classifier-free guidance and the VAE decode at full resolution",
    float32_modules={"text_encoder": ("wo",)},
)


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """float32 on a CPU, bfloat16 on an accelerator that has it, float32 on one that has not; the variant from the files.

    Placement "device": the core plans the real one from the weights' sizes and :data:`ALLOWANCE`.
    """
    return bfloat16_plan(identity, device, NO_FLOAT16, on_cpu=f"{CPU_REASON} ({CPU_RAM})")
