"""How Ideogram 4 loads on each kind of device, what a call needs besides the weights, and the one placement it cannot take.

The weights, counted with diffusers' and transformers' own classes on the
meta device (there is no network here to read ideogram-ai/ideogram-v4's
headers; docs/ideogram.md), in bfloat16:

- ``transformer``: Ideogram4Transformer2DModel at diffusers' defaults (34
  blocks, 18 heads of 256, an MLP 12,288 wide, text features 53,248 wide),
  9.28 B parameters, 17.3 GiB; ``unconditional_transformer`` the same class,
  17.3 GiB again if it has the same settings;
- ``text_encoder``: Qwen3-VL-8B's ``Qwen3VLModel`` (36 layers 4096 wide, which
  the pipeline's tapped layers and ``llm_features_dim`` = 13 x 4096 imply, and
  its 27-block vision tower), 8.14 B, 15.2 GiB;
- ``vae``: AutoencoderKLFlux2 at its defaults, 84 M.

About 50 GiB in all. The planner counts the real files' headers, never these
figures.

- **dtype**: float32 on a CPU; bfloat16 on an accelerator that has it
  (diffusers' docstring loads Ideogram 4 in bfloat16, and Qwen3-VL is
  published in bfloat16); float32, not float16, on one that has not
  (:data:`NO_FLOAT16`). The weight variant follows the files present.
- **No float32 modules**: neither transformers' Qwen3VLModel nor diffusers'
  Ideogram4Transformer2DModel and AutoencoderKLFlux2 keep modules in float32
  (``_keep_in_fp32_modules`` is None; tests/test_ideogram_plugin.py checks
  it), so the core's header counts are the loaded bytes.
- **The memory saver**: model offload, through the core's rules (the text
  encoder runs once, then the two transformers alternate each step, then the
  VAE). Never sequential offload (:func:`placement`): Ideogram4Pipeline's
  ``encode_prompt`` calls the text encoder's layers itself and moves its
  inputs to ``text_encoder.device``, which sequential offload reports as
  ``meta``, so the call fails (diffusers' own tests skip sequential offload
  for this pipeline for that reason).
"""

from __future__ import annotations

from dataclasses import replace

from autopipe_core import DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.units import gib
from autopipe_core.toolkit.plans import CPU_REASON, bfloat16_plan

#: Why an accelerator without bfloat16 gets float32 (said in the plan's reason).
NO_FLOAT16 = (
    "float32, not float16: Ideogram 4 is loaded in bfloat16 by diffusers' own example and its Qwen3-VL text encoder is "
    "published in bfloat16; no float16 run of either is published, and the pipeline hands the text features to both "
    "transformers in their dtype; pass torch_dtype=torch.float16 to try it"
)

#: What a float32 load takes in RAM, for the CPU plan's reason: the parameters above x 4 bytes.
CPU_RAM = "Ideogram 4 then needs about 107 GB of RAM: two 9.3B transformers and an 8.1B text encoder"

#: Ideogram4Pipeline draws 2048x2048 unless told (its __call__'s defaults), a size written in no config.
NATIVE = 2048
#: Text tokens a call pads every prompt to (Ideogram4Pipeline's max_sequence_length default).
TEXT_TOKENS = 2048
#: The text features' width (Ideogram4Transformer2DModel's llm_features_dim default: 13 tapped layers x 4096).
FEATURES = 53248

#: Besides the weights, a 2048x2048 call in bfloat16, most of it the 53,248-wide text features, which the pipeline keeps
#: for every token of the packed sequence (16,384 image tokens at 16 pixels a token, after 2,048 text tokens) and which
#: the conditional transformer's first RMSNorm takes to float32: per image token, the zeroed unconditional features and
#: the conditional ones in bfloat16 (2 + 2 bytes a feature), their masked copy (2) and the norm's float32 copy and square
#: (4 + 4): 14 x 53,248 bytes, 11.4 GiB at 16,384 tokens; the transformer's own activations over 18,432 tokens 4608 wide
#: (its SwiGLU 12,288 wide, q, k, v, the boolean block mask) about 1.5 GiB; the VAE decode at 2048x2048 (FLUX.2's
#: decoder, after the transformers) less than that. Estimated from diffusers' code and those shapes, not measured on a
#: GPU (none was at hand): 13 GiB at 2048x2048, growing with the pixels.
AT_NATIVE = 13 * GiB
#: The text tokens' share of the same, whatever the image size (12 bytes a feature for each of the 2,048: 1.22 GiB), and
#: 0.5 GiB of cuBLAS workspace and allocator slack.
FIXED = 12 * TEXT_TOKENS * FEATURES + GiB // 2

ALLOWANCE = Allowance(
    at=AT_NATIVE, reference=NATIVE, fixed=FIXED, default=NATIVE,
    what="the 53,248-wide text features kept for every token of the packed sequence, the transformers over 2,048 text and the image's tokens, and the VAE decode",
)

#: Why sequential offload is replaced (said in the plan's reason).
NO_SEQUENTIAL = (
    "model offload, not sequential offload: Ideogram4Pipeline's encode_prompt moves its inputs to text_encoder.device, which "
    "sequential offload reports as meta, so the call would fail (diffusers' own tests skip sequential offload for this "
    "pipeline); one model at a time may still not fit this device: quantise the transformers (quantization_config=) "
    "or use a larger GPU"
)


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """float32 on a CPU, bfloat16 on an accelerator that has it, float32 on one that has not; the variant from the files.

    Placement "device": the core plans the real one from the weights' sizes and :data:`ALLOWANCE`.
    """
    return bfloat16_plan(identity, device, NO_FLOAT16, on_cpu=f"{CPU_REASON} ({CPU_RAM})")


def placement(device: DeviceFacts, footprint: Footprint, plan: LoadPlan) -> LoadPlan | None:
    """Model offload where the rules chose sequential offload (:data:`NO_SEQUENTIAL`); None (the rules' choice) otherwise."""
    if plan.placement != "sequential_cpu_offload":
        return None
    from autopipe_core.planning import choose

    rules = choose(footprint, device)  # the plan's reason ends with the rules' reason for sequential offload: say ours instead
    loading = plan.reason.removesuffix(f"; {rules.reason}")
    act = footprint.activation
    return replace(plan, placement="model_cpu_offload", reason=(
        f"{loading}; weights {gib(footprint.weights)} + activations {gib(act.nbytes)} at {act.width}x{act.height} do not fit "
        f"{device.type}, nor does the largest component with the activations: {NO_SEQUENTIAL}"
    ))
