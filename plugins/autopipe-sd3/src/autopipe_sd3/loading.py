"""How Stable Diffusion 3 and 3.5 load on each kind of device.

- **dtype.** A CPU: float32. An accelerator: bfloat16 where it has it
  (``DeviceFacts.bf16``), the dtype Stability AI trained SD 3.5 in and ships
  its transformer weights in, else float16;
  :func:`autopipe_core.toolkit.plans.half_precision_plan` with
  ``prefer="bfloat16"``. The weight variant from the files the checkpoint
  has: its ``bf16`` (or ``fp16``) files where it ships them, else the plain
  ones (Stability AI's SD3 repos ship plain files only, already in half
  precision).
- **T5 left out when that is what makes it fit.** T5-v1.1-XXL
  (``text_encoder_3``, 4.76 B parameters, 8.9 GiB in half precision) is the
  second largest component and the one SD3 can do without: diffusers' SD3
  pipelines then give zeros for T5's embeddings and encode prompts with the
  two CLIP encoders (Stability AI's SD3 release notes and diffusers' SD3
  docs, "Dropping the T5 Text Encoder during Inference"), at some cost in
  prompt following and in text drawn in the image. So on an accelerator
  whose budget is known, where the whole pipeline with its activations does
  not fit but fits without T5, the plan leaves ``text_encoder_3`` out
  (``LoadPlan.skip``: diffusers is handed ``text_encoder_3=None``; the
  planner then counts what is left), and says why. Where the pipeline fits
  with T5, or the rules would spread it over several GPUs with it, or it
  does not fit even without T5 (then model or layer offload keeps T5), T5
  stays. The caller's own ``text_encoder_3=`` (a model, or None) wins: the
  core takes it off the plan's skip list.
- **T5's float32 layers.** transformers keeps T5's feed-forward output
  layers (``wo``, ``T5PreTrainedModel._keep_in_fp32_modules``) in float32
  under float16, not under bfloat16: 1.0 B of T5-XXL's 4.76 B parameters,
  1.9 GiB more than float16 says. :data:`ALLOWANCE` counts ``text_encoder_3``
  again from its headers with them in float32 when the plan is float16.
- **The activation allowance**, at 1024x1024 (the native size: the
  transformer's ``sample_size`` 128 latents x 8), scaled by the pixels of
  the call and the dtype's itemsize: see :data:`ACTIVATION_AT_NATIVE`.

Nothing here imports torch: plans are made from the checkpoint's JSON and
weight-file headers and the device's facts.
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, Footprint, GiB, Identity, LoadPlan
from autopipe_core.errors import AutopipeError
from autopipe_core.toolkit.allowance import Allowance
from autopipe_core.toolkit.plans import half_precision_plan, leave_out

#: The component SD3 can run without, and what the plan says about it.
T5 = "text_encoder_3"

#: Latent pixels per transformer sample: the VAE downsamples by 8 (sample_size 128 -> 1024x1024).
VAE_SCALE = 8
#: The side the allowance is stated at: SD 3 and 3.5 are trained at 1024x1024 (about a megapixel).
REFERENCE = 1024

#: Besides the weights, a 1024x1024 call in half precision. An estimate from the architecture, not yet
#: measured on a GPU (docs/sd3.md, docs/placement.md):
#:
#: - the transformer at batch 2 (classifier-free guidance) over 4,096 image patches and 333 text tokens
#:   (77 CLIP + 256 T5): for SD 3.5 Large (2,432 wide, MLP 9,728) a block's q, k, v, attention output
#:   and MLP activations are about 0.6 GiB with scaled-dot-product attention, which never holds the
#:   4,429 x 4,429 score matrix;
#: - the VAE decode: SD3's VAE has SDXL's decoder (128 to 512 channels, up to 1024x1024x128 feature maps)
#:   and diffusers' SD3 pipelines decode in the pipeline's dtype (they do not upcast it as the SDXL ones
#:   do), so it peaks where autopipe-sdxl puts a float16-safe SDXL VAE: 1.5 GiB. This is the peak.
ACTIVATION_AT_NATIVE = 3 * GiB // 2
#: cuBLAS workspace and allocator slack, whatever the size.
FIXED = GiB // 2

#: The modules transformers' T5 keeps in float32 under torch_dtype=float16 (T5PreTrainedModel._keep_in_fp32_modules).
T5_KEEP_FLOAT32 = ("wo",)

#: The family's autopipe_footprint: the allowance at the native size unless the call says, and T5 counted with its
#: float32 layers under float16.
ALLOWANCE = Allowance(
    at=ACTIVATION_AT_NATIVE, reference=REFERENCE, fixed=FIXED, native=("transformer", "sample_size", VAE_SCALE),
    what="the transformer at batch 2 and the VAE decode in the pipeline's dtype",
    float32_modules={T5: T5_KEEP_FLOAT32},
)

#: What leaving T5 out costs, for the reason.
WITHOUT_T5 = (
    "SD3 then encodes prompts with its two CLIP encoders alone (T5's embeddings are zeros), which follows long prompts "
    "and draws text less well; pass text_encoder_3= to keep it"
)


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """The LoadPlan for this checkpoint on this device: dtype, weight variant, and T5 left out where that makes it fit.

    Placement stays "device": the core plans the real one from the weights'
    headers and :data:`ALLOWANCE`, for what this plan loads. Reads the
    checkpoint's weight-file headers (never its data) to decide about T5.
    """
    half = half_precision_plan(identity, device, prefer="bfloat16")
    if not device.accelerated:
        return half
    return without_t5_where_that_fits(identity, device, half)


def without_t5_where_that_fits(identity: Identity, device: DeviceFacts, half: LoadPlan) -> LoadPlan:
    """`half` with ``text_encoder_3`` in its skip set when the core's rules put the pipeline on the device without T5
    and offload it with T5; `half` unchanged otherwise (it fits, it spreads over GPUs, it does not fit either way,
    the budget or a component's size is unknown, or the checkpoint has no T5).

    The figures are the core's own (:func:`autopipe_core.planning.footprint` from the weight-file headers,
    :data:`ALLOWANCE` at the native size, :func:`autopipe_core.planning.choose`), so the plan the core then makes
    agrees with the decision: the pipeline without T5 goes on the device.
    """
    from autopipe_core.planning import choose, footprint, gib

    if T5 not in identity.components or identity.components[T5][1] is None:
        return half
    try:
        counted = footprint(identity, half, hub={"revision": identity.commit} if identity.commit else {})
    except (AutopipeError, OSError):  # a header that cannot be read: the core's own plan says so; T5 stays
        return half
    whole = ALLOWANCE.footprint(identity, half, counted, None, None)
    t5 = whole.component(T5)
    if t5 is None or t5.nbytes is None or choose(whole, device).placement in ("device", "balanced"):
        return half
    rest = Footprint(tuple(c for c in whole.components if c.name != T5), whole.activation)
    if choose(rest, device).placement != "device":
        return half
    budget = device.free_bytes if device.free_bytes is not None else device.total_bytes
    act = whole.activation
    why = (
        f"the whole pipeline needs {gib(whole.weights + act.nbytes)} with activations at {act.width}x{act.height}, more than the "
        f"{gib(budget)} free, and {gib(rest.weights + act.nbytes)} without T5-XXL ({gib(t5.nbytes)}): {WITHOUT_T5}"
    )
    return leave_out(half, [T5], why)

