"""How Helios and Helios Pyramid load on each kind of device, and what a call needs besides the weights.

The weights of a Helios checkpoint (BestWishYsh/Helios-Base, -Mid,
-Distilled: one architecture), counted with diffusers' and transformers' own
classes on the meta device at Helios's sizes (there is no network here to
read the repositories' headers; docs/helios.md): the transformer (Wan 2.1
14B's shape: 40 blocks 5120 wide, plus Helios's memory patches) 14.31 B
parameters, UMT5-XXL's encoder 5.68 B, Wan's VAE 0.13 B: 37.8 GiB in
bfloat16 (the VAE and the transformer's float32-kept modules in float32). The planner counts the real files' headers,
never these figures.

- **CPU**: float32 (the toolkit's plan: half-precision kernels there are slow
  or missing).
- **An accelerator with bfloat16**: bfloat16, from ``bf16`` weight files
  where the checkpoint has some, else its plain files; the VAE in float32
  (:data:`VAE_FLOAT32`), as diffusers' HeliosPipeline and
  HeliosPyramidPipeline examples load it (``AutoencoderKLWan.from_pretrained(...,
  torch_dtype=torch.float32)`` beside ``torch_dtype=torch.bfloat16``). Both
  pipelines cast latents to the VAE's own dtype before decoding and the
  prompt embeddings to the transformer's, so mixed dtypes run.
- **An accelerator without bfloat16** (a T4, a V100): float16, the VAE in
  float32. A decision, not a measurement: the transformer is Wan 2.1's, which
  is run in float16 elsewhere, diffusers keeps its norms, time embedding and
  modulation tables in float32 in any half dtype, and transformers keeps
  UMT5's ``wo`` projections in float32 under float16 (the overflow T5 is
  known for).
- **Modules kept in float32**: diffusers loads HeliosTransformer3DModel's
  ``time_embedder``, ``scale_shift_table``, ``norm1``, ``norm2``, ``norm3``
  and ``history_key_scale`` in float32 whatever ``torch_dtype`` says
  (``_keep_in_fp32_modules``, applied for bfloat16 as for float16);
  transformers keeps UMT5's ``wo`` in float32 under float16 only.
  :func:`footprint` counts both so (tests/test_helios_plugin.py loads the tiny
  checkpoint and compares).
- **The memory saver**: the core's rules. The UMT5 encoder runs once per
  prompt before the transformer denoises (``model_cpu_offload_seq`` is
  text_encoder -> transformer -> vae), so where the whole pipeline does not
  fit but the transformer with the allowance does, the rules plan
  ``model_cpu_offload``; nothing is left out (neither class can encode a
  prompt without its encoder).

Nothing here imports torch: plans are made from the checkpoint's JSON and
weight-file headers and the device's facts.
"""

from __future__ import annotations

from autopipe_core import Activation, DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.toolkit.plans import half_precision_plan

#: Why the VAE loads in float32 on an accelerator (said in the plan's reason).
VAE_FLOAT32 = "diffusers' Helios examples load Wan's VAE in float32 beside a bfloat16 transformer"

#: diffusers' HeliosTransformer3DModel._keep_in_fp32_modules (0.42.1): module names whose weights load in float32.
TRANSFORMER_KEEP_FLOAT32 = ("time_embedder", "scale_shift_table", "norm1", "norm2", "norm3", "history_key_scale")
#: transformers' UMT5EncoderModel._keep_in_fp32_modules (5.x), honoured under float16 only.
TEXT_ENCODER_KEEP_FLOAT32 = ("wo",)

#: HeliosPipeline's and HeliosPyramidPipeline's default width and height (diffusers 0.42.1: 640 x 384).
NATIVE_WIDTH, NATIVE_HEIGHT = 640, 384

#: Besides the weights, a 640x384 call in a 16-bit dtype, one chunk at a time (33 frames, 9 latent frames), estimated
#: from the shapes, not measured on a GPU (none was at hand). The transformer reads the chunk's 9 x 24 x 40 = 8,640 tokens
#: plus the history's (short 2 x 960, mid 240, long 240): about 11,000 tokens 5120 wide, 110 MiB a hidden state and
#: about 300 MiB in its 13,824-wide feed-forward, guidance run as a second call; about 1 GiB. Wan's VAE decodes each chunk
#: in float32 frame by frame with a cache per causal convolution, its last blocks at full resolution 96 channels wide:
#: about 2 GiB. The decoded frames accumulate on the device (132 frames x 3 x 640 x 384 in float32: 0.36 GiB by default).
ACTIVATION_AT_NATIVE = 3 * GiB
#: cuBLAS workspace and allocator slack, whatever the size.
FIXED = GiB
ITEMSIZE = {"float32": 4, "float16": 2, "bfloat16": 2}
WHAT = "one 33-frame chunk through the transformer with its history, and Wan's VAE decoding it in float32"


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The ``autopipe_load_plan`` hook: float32 on a CPU; bfloat16 (float16 without it) on an accelerator, the VAE in float32.

    Placement "device": the core plans the real one from the weights' sizes and :func:`footprint`.
    """
    return half_precision_plan(identity, device, prefer="bfloat16", keep_float32={"vae": VAE_FLOAT32})


def activation(dtype: str, width: int | None = None, height: int | None = None) -> Activation:
    """The allowance at `width` x `height` pixels (None: 640 x 384) in `dtype`: :data:`FIXED` plus
    :data:`ACTIVATION_AT_NATIVE` scaled by the pixels and by the dtype's itemsize over 2 (float32 doubles it)."""
    w, h = width or NATIVE_WIDTH, height or NATIVE_HEIGHT
    nbytes = FIXED + ACTIVATION_AT_NATIVE * (w * h) // (NATIVE_WIDTH * NATIVE_HEIGHT) * ITEMSIZE[dtype] // 2
    return Activation(nbytes, w, h, f"{WHAT} at {w}x{h} in {dtype}, plus 1 GiB workspace (an estimate from the shapes, not measured)")


def footprint(identity: Identity, plan: LoadPlan, footprint: Footprint, width: int | None, height: int | None) -> Footprint:
    """The ``autopipe_footprint`` hook: the float32-kept modules counted, and :func:`activation` at width x height.

    The transformer's :data:`TRANSFORMER_KEEP_FLOAT32` in any half dtype, the
    text encoder's :data:`TEXT_ENCODER_KEEP_FLOAT32` in float16, each counted
    again from its safetensors headers; the rest as the core counted it.
    """
    from autopipe_core.planning import recount

    for name, modules, dtypes in (
        ("transformer", TRANSFORMER_KEEP_FLOAT32, ("float16", "bfloat16")),
        ("text_encoder", TEXT_ENCODER_KEEP_FLOAT32, ("float16",)),
    ):
        counted = footprint.component(name)
        if counted is not None and counted.dtype in dtypes:
            footprint = footprint.with_component(recount(identity, counted, modules))
    return footprint.with_activation(activation(plan.dtype, width, height))
