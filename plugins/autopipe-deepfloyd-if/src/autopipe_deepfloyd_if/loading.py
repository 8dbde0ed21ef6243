"""How DeepFloyd IF stage I loads on each kind of device.

The weights are what decide it. In float16, the largest stage I checkpoint,
IF-I-XL, holds:

- the T5-v1.1-XXL text encoder: about 4.76 B parameters, 9.5 GB (8.9 GiB);
- the UNet: 4.3 B parameters, 8.6 GB (8.0 GiB).

A call at 64x64 (batch 2 with classifier-free guidance) needs little on top:
well under 1 GiB of activations, plus cuBLAS workspace and allocator slack,
which we budget at 2 GiB. Placement is planned by the core from the weights'
headers with that allowance (docs/placement.md): IF-I-XL whole needs about
20 GiB; T5-XXL alone does not fit in 12 GiB, so below that the weights are
streamed layer by layer.

One thing the core cannot know: transformers keeps T5's feed-forward output
layers (``wo``, ``_keep_in_fp32_modules``) in float32 when the rest loads in
float16, 1.0 B of T5-XXL's 4.76 B parameters, so 2 GB more than the dtype
says. :func:`footprint` counts the text encoder again with them in float32.
"""

from __future__ import annotations

from autopipe_core import DeviceFacts, Identity, LoadPlan
from autopipe_core.planning import GiB, Activation, Footprint, recount, scaled

#: Stage I makes 64x64 images.
NATIVE = 64

#: Activations of a 64x64 call at batch 2: small next to the weights.
ACTIVATION_AT_NATIVE = GiB // 2
#: cuBLAS workspace, allocator slack, and T5's attention over 77 tokens in float32 layers.
FIXED = 3 * GiB // 2

#: The modules transformers' T5 keeps in float32 under torch_dtype=float16 (T5PreTrainedModel._keep_in_fp32_modules).
T5_KEEP_FLOAT32 = ("wo",)


def _files(identity: Identity, has_fp16: bool) -> str:
    if has_fp16:
        return "its fp16 weight files"
    if identity.files is not None:
        return "its full-precision files (no fp16 variant found)"
    return "its default files (file list unknown)"


def plan(identity: Identity, device: DeviceFacts) -> LoadPlan:
    """dtype and weight variant; placement "device" (the core plans the real one from the weights' sizes)."""
    if not device.accelerated:
        return LoadPlan(
            "float32", None, "device", "cpu",
            "on the CPU float32: float16 kernels there are slow or missing (IF-I-XL then needs about 36 GB of RAM)",
        )
    has_fp16 = identity.has_weight_variant("fp16")
    return LoadPlan("float16", "fp16" if has_fp16 else None, "device", device.type, f"float16 from {_files(identity, has_fp16)}")


def footprint(identity: Identity, plan: LoadPlan, fp: Footprint, width: int | None, height: int | None) -> Footprint:
    """The activation allowance, and T5 counted with its float32 layers when the rest is float16."""
    text = fp.component("text_encoder")
    if text is not None and text.dtype == "float16":
        fp = fp.with_component(recount(identity, text, T5_KEEP_FLOAT32))
    w, h = width or NATIVE, height or NATIVE
    nbytes = scaled(ACTIVATION_AT_NATIVE, FIXED, w, h, NATIVE, plan.dtype)
    return fp.with_activation(Activation(nbytes, w, h, f"the UNet at batch 2 at {w}x{h} and T5 over 77 tokens, plus 1.5 GiB workspace"))
