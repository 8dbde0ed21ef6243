"""How HunyuanDiT loads on each kind of device, and what a call needs besides the weights.

- **dtype.** A CPU: float32. An accelerator: float16, every component, from
  fp16 weight files where the checkpoint has them
  (:func:`autopipe_core.toolkit.plans.half_precision_plan`). float16 is what
  diffusers' HunyuanDiT documentation and every example of its pipelines load
  with (``torch_dtype=torch.float16``), and the dtype Tencent's own inference
  code runs in; nothing says HunyuanDiT was trained in bfloat16, so a GPU
  with bfloat16 gets float16 too. The VAE is SDXL's float16-safe one
  (``sdxl-vae-fp16-fix``, ``force_upcast: false`` in every HunyuanDiT
  release), so it stays float16; the pipelines decode in the VAE's dtype.
- **mT5's float32 layers.** ``text_encoder_2`` is mT5-XL's encoder, a
  transformers T5EncoderModel, which keeps its feed-forward output layers
  (``wo``, ``T5PreTrainedModel._keep_in_fp32_modules``) in float32 under
  float16: 252 M of its 1.67 B parameters, 0.47 GiB more than float16 says.
  :data:`ALLOWANCE` counts them (``float32_modules``).
- **No component is left out.** Unlike SD3, whose pipelines encode prompts
  with their CLIP encoders alone when T5 is dropped, every HunyuanDiT
  pipeline tokenizes and encodes the prompt with ``tokenizer_2`` and
  ``text_encoder_2`` at every call (``encode_prompt(..., text_encoder_index=1)``),
  and the transformer takes the mT5 states in its cross-attention and its
  pooled condition: a pipeline without them fails at the first call unless
  the caller passes ``prompt_embeds_2`` and its masks
  (tests/test_hunyuandit_plugin.py checks this). So the family's memory
  saver is placement: where the whole pipeline does not fit, the core's
  rules choose model offload (one component on the GPU at a time: mT5, then
  the transformer, then the VAE) and then sequential offload. diffusers'
  own low-memory recipe (its HunyuanDiT page, "Memory optimization") loads
  mT5 in 8 bits with bitsandbytes, encodes the prompts, frees the encoders
  and then loads the transformer: that needs bitsandbytes and a CUDA GPU, and
  is the caller's to do (``text_encoder_2=`` an 8-bit model is counted as
  given).
- **The activation allowance**, at the transformer's native side
  (``sample_size`` 128 latents x 8 = 1024 px): see :data:`ALLOWANCE`.

Nothing here imports torch: plans are made from the checkpoint's JSON and
weight-file headers and the device's facts.
"""

from __future__ import annotations

from dataclasses import replace

from autopipe_core import DeviceFacts, GiB, Identity, LoadPlan
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import CPU_REASON, half_precision_plan

#: Pixels per latent pixel: HunyuanDiT's VAE (SDXL's) downsamples 8x, and its pipelines assume it (``height // 8``).
VAE_SCALE = 8
#: The side the allowance is stated at: HunyuanDiT draws at 1024x1024 by default (resolution binning maps every call
#: to its 1024 and 1280 px sizes).
REFERENCE = 1024
#: The component whose float32 layers transformers keeps under float16, and those layers.
MT5 = "text_encoder_2"
T5_KEEP_FLOAT32 = ("wo",)

#: Besides the weights, a 1024x1024 call in float16. An estimate from the shapes, not a measurement on a GPU
#: (docs/hunyuandit.md):
#:
#: - the VAE decode peaks highest: SDXL's decoder runs 128- to 512-channel feature maps up to the image's size
#:   (1024x1024x128, 256 MiB a map in float16, several alive at once), in float16 since HunyuanDiT's VAE is the
#:   float16-safe one: the 1.5 GiB autopipe-sdxl gives a float16-safe SDXL VAE;
#: - the transformer at batch 2 (classifier-free guidance) over 4,096 patches 1,408 wide and 333 text tokens
#:   (77 + 256): a block's activations are about 0.1 GiB with scaled-dot-product attention, plus the 19 long skip
#:   connections it keeps (2 x 4,096 x 1,408 each, 0.4 GiB together), freed before the decode;
#: - mT5 over 256 tokens and the BERT encoder over 77: small.
#:
#: Plus 0.5 GiB of cuBLAS workspace and allocator slack, whatever the size.
ACTIVATION_AT_NATIVE = 3 * GiB // 2
FIXED = GiB // 2

#: The family's ``autopipe_footprint``: the allowance at the native size unless the call says, mT5's wo layers counted
#: in float32 under float16.
ALLOWANCE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=REFERENCE, fixed=FIXED, native=("transformer", "sample_size", VAE_SCALE),
    what="the VAE decode and the transformer at batch 2", float32_modules={MT5: T5_KEEP_FLOAT32},
)

#: What the plan says on an accelerator, after the dtype and the files.
ACCELERATOR_NOTE = "every component (mT5's wo layers kept in float32 by transformers), as diffusers' HunyuanDiT docs load it"


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The ``autopipe_load_plan`` hook: float32 on a CPU, float16 on an accelerator from fp16 files where there are some.

    Placement stays "device": the core plans the real one from the weights'
    headers and :data:`ALLOWANCE`. Nothing is skipped (the module's docstring
    says why).
    """
    half = half_precision_plan(identity, device, on_cpu=f"{CPU_REASON} (a full-size HunyuanDiT then holds about 14 GB of weights in RAM)")
    if not device.accelerated:
        return half
    return replace(half, reason=f"{half.reason}, {ACCELERATOR_NOTE}")
